package pku2u_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"testing"

	"github.com/gossp/gossp/internal/pki"
	"github.com/gossp/gossp/negoex"
	"github.com/gossp/gossp/packages/pku2u"
	"github.com/gossp/gossp/sspi"
	"github.com/gossp/gossp/sspi/sspitest"
)

func TestInfo(t *testing.T) {
	info := pku2u.New(pku2u.Config{}).Info()
	if info.Name != "pku2u" || info.AuthScheme.String() != "0d53335c-f9ea-4d0d-b2ec-4ae3786ec308" || !info.MechOID.Equal(pku2u.OID) {
		t.Fatalf("info %+v", info)
	}
}

func TestConformance(t *testing.T) {
	p := pku2u.New(pku2u.Config{})
	ini, acc := pair(t, p)
	f := fixtures(t)
	sspitest.Run(t, sspitest.Config{
		Initiator:          ini,
		Acceptor:           acc,
		BadInitiator:       acquire(t, p, sspi.CredentialsOutbound, material(f.stranger, f.ca.Root())),
		Target:             "host/" + testHost,
		ExpectedClientName: testUPN,
		ChannelBindings:    true,
	})
}

func TestHandshake(t *testing.T) {
	ctx := context.Background()
	p := pku2u.New(pku2u.Config{})
	ini, acc := pair(t, p)
	i, a, err := handshake(ctx, ini, acc, sspi.ContextConfig{Target: "host/" + testHost})
	if err != nil {
		t.Fatal(err)
	}
	ia, aa := i.Attributes(), a.Attributes()
	if !ia.Established || !aa.Established {
		t.Fatalf("not established: %+v %+v", ia, aa)
	}
	if aa.ClientName != testUPN || ia.ServerName != "host/"+testHost || ia.ClientName != testUPN {
		t.Fatalf("names: initiator %q/%q, acceptor %q/%q", ia.ClientName, ia.ServerName, aa.ClientName, aa.ServerName)
	}
	ik, _ := i.SessionKey()
	ak, _ := a.SessionKey()
	if len(ik) == 0 || !bytes.Equal(ik, ak) {
		t.Fatal("session keys differ")
	}
	sealed, err := i.EncryptMessage([]byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if msg, err := a.DecryptMessage(sealed); err != nil || string(msg) != "hello" {
		t.Fatalf("DecryptMessage: %q %v", msg, err)
	}
	c, ok := sspi.ContextAs[pku2u.Context](a)
	if !ok || len(c.PeerCertificates()) == 0 || c.PeerCertificates()[0].Subject.CommonName != testUPN {
		t.Fatalf("peer certificates (%v)", ok)
	}
}

// TestCertificateSelection: an acceptor with two certificates presents the one whose
// issuer the initiator named in its NegoEx meta-data; without meta-data (PKU2U called
// directly) it presents its first, which this initiator cannot validate.
func TestCertificateSelection(t *testing.T) {
	ctx := context.Background()
	f := fixtures(t)
	otherDev, err := f.other.Issue(pki.IssueOptions{DNSNames: []string{testHost}, Role: pki.RoleAcceptor, KeyType: pki.KeyECDSA})
	if err != nil {
		t.Fatal(err)
	}
	p := pku2u.New(pku2u.Config{})
	accM := pku2u.Credentials{
		Certificates: []pku2u.Certificate{{Chain: otherDev.Chain, Key: otherDev.Key}, {Chain: f.dev.Chain, Key: f.dev.Key}},
		Trust:        []*x509.Certificate{f.ca.Root(), f.other.Root()},
	}
	iniM := material(f.user, f.ca.Root())

	_, _, err = handshake(ctx, acquire(t, p, sspi.CredentialsOutbound, iniM), acquire(t, p, sspi.CredentialsInbound, accM), sspi.ContextConfig{Target: "host/" + testHost})
	if !errors.Is(err, sspi.ErrUntrustedRoot) {
		t.Fatalf("direct, first certificate presented: %v, want SEC_E_UNTRUSTED_ROOT", err)
	}

	nx, err := negoex.New(negoex.Config{Schemes: []negoex.Scheme{{Package: p}}})
	if err != nil {
		t.Fatal(err)
	}
	cred := func(use sspi.CredentialUse, m pku2u.Credentials) sspi.Credential {
		c, err := nx.AcquireCredentials(ctx, sspi.CredentialRequest{Use: use, Material: negoex.Options{Material: map[string]any{pku2u.Name: m}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	i, _, err := handshake(ctx, cred(sspi.CredentialsOutbound, iniM), cred(sspi.CredentialsInbound, accM), sspi.ContextConfig{Target: "host/" + testHost})
	if err != nil {
		t.Fatalf("through NegoEx with meta-data: %v", err)
	}
	c, _ := sspi.ContextAs[pku2u.Context](i)
	if got := c.PeerCertificates()[0]; !got.Equal(f.dev.Chain[0]) {
		t.Fatalf("the acceptor presented %s", got.Subject)
	}
}
