package psk_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/gossp/gossp/packages/psk"
	"github.com/gossp/gossp/sspi"
)

// The initiator's credential carries its identity and key; the acceptor's, a KeyStore
// that finds the key of any identity that connects. Keys must be random secrets of at
// least psk.MinKeyLen bytes, not passwords.
func ExamplePackage_AcquireCredentials() {
	ctx := context.Background()
	key := []byte("0123456789abcdef0123456789abcdef")
	pkg := psk.New(psk.Config{})

	client, err := pkg.AcquireCredentials(ctx, sspi.CredentialRequest{
		Use:      sspi.CredentialsOutbound,
		Material: psk.ClientKey{Identity: "alice", Key: key},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	server, err := pkg.AcquireCredentials(ctx, sspi.CredentialRequest{
		Use:       sspi.CredentialsInbound,
		Principal: "host/server.example.test",
		Material:  psk.Keys{"alice": key, "bob": []byte("fedcba9876543210fedcba9876543210")},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()

	for _, c := range []sspi.Credential{client, server} {
		a := c.Attributes()
		fmt.Printf("%s %s credential for %s\n", a.Package, a.Use, a.Principal)
	}

	// A key shorter than MinKeyLen is refused.
	_, err = pkg.AcquireCredentials(ctx, sspi.CredentialRequest{
		Use:      sspi.CredentialsOutbound,
		Material: psk.ClientKey{Identity: "alice", Key: []byte("short")},
	})
	fmt.Println(errors.Is(err, sspi.ErrUnknownCredentials))
	// Output:
	// PSK outbound credential for alice
	// PSK inbound credential for host/server.example.test
	// true
}
