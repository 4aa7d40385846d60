package kerberos_test

import (
	"testing"

	"github.com/gossp/gossp/packages/kerberos"
	"github.com/gossp/gossp/sspi"
)

// FuzzParseFrame: the GSS framing parser must never panic, and whatever it accepts
// must have a Kerberos OID.
func FuzzParseFrame(f *testing.F) {
	f.Add([]byte{0x60, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x01, 0x00})
	f.Add([]byte{0x60, 0x81})
	f.Add([]byte{0x60, 0x84, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		kerberos.ParseFrame(b)
	})
}

// FuzzUnwrap feeds arbitrary wrap and MIC tokens to an established acceptor.
func FuzzUnwrap(f *testing.F) {
	p := kerberos.New(kerberos.Config{})
	ini, acc, _ := creds(f, p, 18)
	i, a, err := handshake(f, ini, acc, sspi.ContextConfig{Target: testSPN, Flags: protectFlags}, sspi.ContextConfig{})
	if err != nil {
		f.Fatal(err)
	}
	for _, conf := range []bool{true, false} {
		tok, _ := i.(*kerberos.Initiator).Wrap([]byte("seed message"), conf)
		f.Add(tok)
	}
	mic, _ := i.MakeSignature([]byte("seed message"))
	f.Add(mic)
	f.Fuzz(func(t *testing.T, tok []byte) {
		kerberos.ParsePerMessage(tok)
		a.DecryptMessage(tok)
		a.VerifySignature([]byte("seed message"), tok)
	})
}
