package psk_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gossp/gossp/packages/psk"
	"github.com/gossp/gossp/sspi"
)

// TestAcquireCredentialsNilKeyStore is a regression test: inbound material that is a
// KeyStore only through a nil embedded KeyStore (Credentials without one, or a nil
// *Credentials) used to be accepted, and the acceptor then panicked on the first
// NEGOTIATE. It must be refused with ErrUnknownCredentials.
func TestAcquireCredentialsNilKeyStore(t *testing.T) {
	p := psk.New(psk.Config{})
	ctx := context.Background()
	for _, req := range []sspi.CredentialRequest{
		{Use: sspi.CredentialsBoth, Material: psk.Credentials{ClientKey: psk.ClientKey{Identity: "alice", Key: testKey}}},
		{Use: sspi.CredentialsInbound, Material: psk.Credentials{}},
		{Use: sspi.CredentialsInbound, Material: (*psk.Credentials)(nil)},
	} {
		_, err := p.AcquireCredentials(ctx, req)
		if !errors.Is(err, sspi.ErrUnknownCredentials) {
			t.Errorf("AcquireCredentials(%v, %T without a KeyStore) = %v, want ErrUnknownCredentials", req.Use, req.Material, err)
		}
	}
}
