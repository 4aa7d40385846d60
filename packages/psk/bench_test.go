package psk_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/gossp/gossp/sspi"
)

// benchFlags are what an application protecting its traffic asks for.
const benchFlags = sspi.FlagMutualAuth | sspi.FlagReplayDetect | sspi.FlagSequenceDetect |
	sspi.FlagIntegrity | sspi.FlagConfidentiality

// establish runs the three-leg handshake between fresh contexts of ini and acc.
func establish(tb testing.TB, ini, acc sspi.Credential) (sspi.Initiator, sspi.Acceptor) {
	ctx := context.Background()
	c, err := ini.NewInitiator(sspi.ContextConfig{Target: "host/server.test", Flags: benchFlags})
	if err != nil {
		tb.Fatal(err)
	}
	s, err := acc.NewAcceptor(sspi.ContextConfig{Flags: benchFlags})
	if err != nil {
		tb.Fatal(err)
	}
	tok, _, err := c.InitializeContext(ctx, nil) // NEGOTIATE
	if err != nil {
		tb.Fatal(err)
	}
	if tok, _, err = s.AcceptContext(ctx, tok); err != nil { // CHALLENGE
		tb.Fatal(err)
	}
	if tok, _, err = c.InitializeContext(ctx, tok); err != nil { // AUTHENTICATE
		tb.Fatal(err)
	}
	if _, st, err := s.AcceptContext(ctx, tok); err != nil || st != sspi.StatusOK {
		tb.Fatalf("final leg: %v %v", st, err)
	}
	return c, s
}

// BenchmarkHandshake measures a complete handshake, both sides, including making and
// closing the contexts: the per-connection cost of authenticating with PSK.
func BenchmarkHandshake(b *testing.B) {
	ini, acc := credentials(b, testKey)
	b.ReportAllocs()
	for b.Loop() {
		c, s := establish(b, ini, acc)
		c.Close()
		s.Close()
	}
}

// BenchmarkEncryptDecrypt1KiB measures EncryptMessage on one side and DecryptMessage of
// its token on the other, for a 1 KiB message.
func BenchmarkEncryptDecrypt1KiB(b *testing.B) {
	ini, acc := credentials(b, testKey)
	c, s := establish(b, ini, acc)
	defer c.Close()
	defer s.Close()
	msg := bytes.Repeat([]byte{0x5a}, 1024)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		tok, err := c.EncryptMessage(msg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.DecryptMessage(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignVerify1KiB measures MakeSignature and VerifySignature over a 1 KiB
// message.
func BenchmarkSignVerify1KiB(b *testing.B) {
	ini, acc := credentials(b, testKey)
	c, s := establish(b, ini, acc)
	defer c.Close()
	defer s.Close()
	msg := bytes.Repeat([]byte{0xa5}, 1024)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		sig, err := c.MakeSignature(msg)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.VerifySignature(msg, sig); err != nil {
			b.Fatal(err)
		}
	}
}
