package ntlm_test

import (
	"context"
	"testing"

	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/sspi"
	"github.com/gossp/gossp/sspi/sspitest"
)

func acquire(t testing.TB, p *ntlm.Package, req sspi.CredentialRequest) sspi.Credential {
	t.Helper()
	c, err := p.AcquireCredentials(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var testUsers = ntlm.Users{{Domain: "TESTDOM", User: "alice", NTHash: ntlm.NTHash("AlicePassw0rd!")}}

func TestConformance(t *testing.T) {
	p := ntlm.New(ntlm.Config{})
	ini := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
		Identity: &sspi.Identity{User: "alice", Domain: "TESTDOM", Password: "AlicePassw0rd!"}})
	bad := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
		Identity: &sspi.Identity{User: "alice", Domain: "TESTDOM", Password: "wrong"}})
	acc := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: testUsers})
	sspitest.Run(t, sspitest.Config{
		Initiator:          ini,
		Acceptor:           acc,
		BadInitiator:       bad,
		Target:             "HTTP/server.testdom.test",
		ExpectedClientName: `TESTDOM\alice`,
		ChannelBindings:    true,
	})
}
