package negoex

import (
	"context"
	"testing"

	"github.com/gossp/gossp/sspi"
)

// BenchmarkHandshake is a two-hop NegoEx conversation with a trivial in-process
// scheme (the negoextest clone): what NegoEx itself costs — framing, the transcript,
// meta-data for two schemes, and AES VERIFY checksums both ways. Per leg, divide by the
// four legs it takes.
//
//	go test -run '^$' -bench . -benchmem ./negoex
func BenchmarkHandshake(b *testing.B) {
	p, _ := New(Config{Schemes: mitSchemes(2, false)})
	cred, _ := p.AcquireCredentials(context.Background(), sspi.CredentialRequest{Use: sspi.CredentialsBoth})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		ini, _ := cred.NewInitiator(sspi.ContextConfig{})
		acc, _ := cred.NewAcceptor(sspi.ContextConfig{})
		var in []byte
		for {
			out, st, err := ini.InitializeContext(ctx, in)
			if err != nil {
				b.Fatal(err)
			}
			if st == sspi.StatusOK && len(out) == 0 {
				break
			}
			back, ast, err := acc.AcceptContext(ctx, out)
			if err != nil {
				b.Fatal(err)
			}
			if ast == sspi.StatusOK && st == sspi.StatusOK {
				break
			}
			in = back
		}
	}
}

// BenchmarkVerifyChecksum is the baseline: one AES-256 VERIFY checksum over a
// typical 700-byte transcript.
func BenchmarkVerifyChecksum(b *testing.B) {
	data := make([]byte, 700)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := makeChecksum(mitInitiatorKey, usageInitiatorVerify, data); err != nil {
			b.Fatal(err)
		}
	}
}
