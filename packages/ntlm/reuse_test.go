package ntlm_test

import (
	"context"
	"testing"

	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/sspi"
)

// TestCallerReusesBuffers: a caller may overwrite a token's buffer once the call that
// took it returns, as SSPI callers do with their input buffers; the MIC, which covers
// every message, must still check.
func TestCallerReusesBuffers(t *testing.T) {
	ctx := context.Background()
	p := ntlm.New(ntlm.Config{})
	ini := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
		Identity: &sspi.Identity{User: "alice", Domain: "TESTDOM", Password: "AlicePassw0rd!"}})
	acc := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: testUsers})
	c, _ := ini.NewInitiator(sspi.ContextConfig{Target: "HTTP/server", Flags: sspi.FlagIntegrity})
	s, _ := acc.NewAcceptor(sspi.ContextConfig{})
	defer c.Close()
	defer s.Close()
	scribble := func(b []byte) {
		for i := range b {
			b[i] = 0xA5
		}
	}
	var in []byte
	for leg := 0; leg < 4; leg++ {
		out, st, err := c.InitializeContext(ctx, in)
		if err != nil {
			t.Fatalf("initiator: %v", err)
		}
		scribble(in)
		if len(out) == 0 {
			break
		}
		buf := append([]byte(nil), out...)
		back, ast, err := s.AcceptContext(ctx, buf)
		if err != nil {
			t.Fatalf("acceptor: %v", err)
		}
		scribble(buf)
		if st == sspi.StatusOK && ast == sspi.StatusOK {
			break
		}
		in = append([]byte(nil), back...)
	}
	if !c.Attributes().Established || !s.Attributes().Established {
		t.Fatal("not established")
	}
}
