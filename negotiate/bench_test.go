package negotiate_test

import (
	"context"
	"testing"

	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/sspi"
)

// What the negotiation layer costs: an SPNEGO-wrapped NTLM handshake (with the
// mechListMIC exchange) beside bare NTLM, in the same run.
//
//	go test -run '^$' -bench . -benchmem ./negotiate

const benchFlags = sspi.FlagIntegrity | sspi.FlagConfidentiality | sspi.FlagReplayDetect | sspi.FlagSequenceDetect

func run(b *testing.B, ini, acc sspi.Credential) {
	ctx := context.Background()
	c, _ := ini.NewInitiator(sspi.ContextConfig{Target: "HTTP/server", Flags: benchFlags})
	s, _ := acc.NewAcceptor(sspi.ContextConfig{Flags: benchFlags})
	defer c.Close()
	defer s.Close()
	var in []byte
	for {
		out, st, err := c.InitializeContext(ctx, in)
		if err != nil {
			b.Fatal(err)
		}
		if len(out) == 0 {
			return
		}
		back, ast, err := s.AcceptContext(ctx, out)
		if err != nil {
			b.Fatal(err)
		}
		if st == sspi.StatusOK && ast == sspi.StatusOK {
			return
		}
		in = back
	}
}

func BenchmarkHandshakeNTLM(b *testing.B) {
	p := ntlm.New(ntlm.Config{})
	ini := acquire(b, p, sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
		Identity: &sspi.Identity{User: user, Domain: domain, Password: password}})
	acc := acquire(b, p, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: users})
	b.ReportAllocs()
	for b.Loop() {
		run(b, ini, acc)
	}
}

func BenchmarkHandshakeSPNEGONTLM(b *testing.B) {
	n := newNegotiate(b, "", ntlm.New(ntlm.Config{}))
	ini := acquire(b, n, clientReq(password))
	acc := acquire(b, n, serverReq())
	b.ReportAllocs()
	for b.Loop() {
		run(b, ini, acc)
	}
}
