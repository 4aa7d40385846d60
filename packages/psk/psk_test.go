package psk_test

import (
	"context"
	"testing"

	"github.com/gossp/gossp/packages/psk"
	"github.com/gossp/gossp/sspi"
	"github.com/gossp/gossp/sspi/sspitest"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func credentials(t testing.TB, key []byte) (ini, acc sspi.Credential) {
	t.Helper()
	p := psk.New(psk.Config{})
	ctx := context.Background()
	ini, err := p.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
		Material: psk.ClientKey{Identity: "alice", Key: key}})
	if err != nil {
		t.Fatal(err)
	}
	acc, err = p.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsInbound,
		Principal: "host/server.test", Material: psk.Keys{"alice": testKey}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ini.Close(); acc.Close() })
	return ini, acc
}

func TestConformance(t *testing.T) {
	ini, acc := credentials(t, testKey)
	bad, _ := credentials(t, []byte("a wrong key of at least 16 bytes"))
	sspitest.Run(t, sspitest.Config{
		Initiator:          ini,
		Acceptor:           acc,
		BadInitiator:       bad,
		Target:             "host/server.test",
		ExpectedClientName: "alice",
		ChannelBindings:    true,
	})
}
