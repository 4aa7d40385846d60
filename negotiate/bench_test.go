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

// BenchmarkHandshakeNTLMSigned is bare NTLM plus what the mechListMIC makes NTLM do —
// one signature made and checked each way, RC4 re-keyed — so that the difference to
// BenchmarkHandshakeSPNEGONTLM is SPNEGO's own cost. Its contexts are configured as
// run configures the others' (the target name goes into NTLM's AUTHENTICATE message).
func BenchmarkHandshakeNTLMSigned(b *testing.B) {
	p := ntlm.New(ntlm.Config{})
	ini := acquire(b, p, sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
		Identity: &sspi.Identity{User: user, Domain: domain, Password: password}})
	acc := acquire(b, p, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: users})
	ctx := context.Background()
	list := []byte("0\x0c\x06\x0a+\x06\x01\x04\x01\x827\x02\x02\x0a")
	b.ReportAllocs()
	for b.Loop() {
		c, _ := ini.NewInitiator(sspi.ContextConfig{Target: "HTTP/server", Flags: benchFlags})
		s, _ := acc.NewAcceptor(sspi.ContextConfig{Flags: benchFlags})
		neg, _, _ := c.InitializeContext(ctx, nil)
		ch, _, _ := s.AcceptContext(ctx, neg)
		auth, _, _ := c.InitializeContext(ctx, ch)
		if _, _, err := s.AcceptContext(ctx, auth); err != nil {
			b.Fatal(err)
		}
		for _, pair := range [][2]sspi.SecurityContext{{c, s}, {s, c}} {
			sig, _ := pair[0].MakeSignature(list)
			pair[0].(interface{ ResetCipher() error }).ResetCipher()
			if err := pair[1].VerifySignature(list, sig); err != nil {
				b.Fatal(err)
			}
			pair[1].(interface{ ResetCipher() error }).ResetCipher()
		}
		c.Close()
		s.Close()
	}
}
