package pki_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/gossp/gossp/internal/pki"
)

// A CA issues a user (initiator) and a device (acceptor) certificate shaped like
// Windows' PKU2U certificates; each side verifies the other's chain for its role.
func ExampleVerify() {
	ca, err := pki.NewCA(pki.CAOptions{CommonName: "Example P2P CA", KeyType: pki.KeyECDSA})
	if err != nil {
		log.Fatal(err)
	}
	user, err := ca.Issue(pki.IssueOptions{UPN: "alice@example.test", KeyType: pki.KeyECDSA})
	if err != nil {
		log.Fatal(err)
	}
	device, err := ca.Issue(pki.IssueOptions{CommonName: "cc3d96b4-0a0d-4a5d-8bfb-8d6ea8d955d2",
		DNSNames: []string{"pc1.example.test"}, Role: pki.RoleAcceptor, KeyType: pki.KeyECDSA})
	if err != nil {
		log.Fatal(err)
	}

	// The acceptor checks the initiator's chain...
	peer, err := pki.Verify(user.Chain, pki.VerifyOptions{Roots: ca.Pool(), Role: pki.RoleInitiator})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("initiator:", peer.Name, "issued by", peer.Issuer)

	// ...and the initiator the acceptor's.
	peer, err = pki.Verify(device.Chain, pki.VerifyOptions{Roots: ca.Pool(), Role: pki.RoleAcceptor})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("acceptor:", peer.Name)

	// A certificate presented for the wrong role, or out of date, is refused with an
	// error a caller maps to an SSPI status.
	_, err = pki.Verify(device.Chain, pki.VerifyOptions{Roots: ca.Pool(), Role: pki.RoleInitiator})
	fmt.Println(errors.Is(err, pki.ErrWrongUsage))
	_, err = pki.Verify(user.Chain, pki.VerifyOptions{Roots: ca.Pool(), CurrentTime: time.Now().AddDate(2, 0, 0)})
	fmt.Println(errors.Is(err, pki.ErrExpired))
	// Output:
	// initiator: alice@example.test issued by CN=Example P2P CA
	// acceptor: pc1.example.test
	// true
	// true
}

// A peer loads its credential and trust anchors from PEM files, and picks the
// credential that leads to an issuer the other side named in its NegoEx meta-data.
func ExampleLoadCredential() {
	dir, err := os.MkdirTemp("", "pki-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ca, err := pki.NewCA(pki.CAOptions{KeyType: pki.KeyECDSA})
	if err != nil {
		log.Fatal(err)
	}
	caFile, _, err := ca.WriteFiles(dir)
	if err != nil {
		log.Fatal(err)
	}
	issued, err := ca.Issue(pki.IssueOptions{UPN: "alice@example.test", KeyType: pki.KeyECDSA})
	if err != nil {
		log.Fatal(err)
	}
	certFile, keyFile, err := issued.WriteFiles(dir, "alice")
	if err != nil {
		log.Fatal(err)
	}

	cred, err := pki.LoadCredential(certFile, keyFile)
	if err != nil {
		log.Fatal(err)
	}
	_, anchors, err := pki.LoadPool(caFile)
	if err != nil {
		log.Fatal(err)
	}
	// The other side trusts the same CA and says so in its meta-data.
	chosen := pki.SelectCredential([]*pki.Credential{cred}, pki.TrustedIssuers(anchors))
	id, err := chosen.Identity()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(filepath.Base(certFile), filepath.Base(keyFile), id.Name)
	// Output: alice.pem alice.key alice@example.test
}
