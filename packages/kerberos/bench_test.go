package kerberos_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/gossp/gossp/packages/kerberos"
	"github.com/gossp/gossp/sspi"
)

// BenchmarkAcceptAPReq: acceptor-side verification of one AP-REQ (ticket decryption,
// authenticator, checksum, AP-REP), in-memory keytab, no replay cache.
func BenchmarkAcceptAPReq(b *testing.B) {
	p := kerberos.New(kerberos.Config{DisableReplayCache: true})
	ini, acc, _ := creds(b, p, 18)
	i, _ := ini.NewInitiator(sspi.ContextConfig{Target: testSPN, Flags: protectFlags})
	tok, _, err := i.InitializeContext(context.Background(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		a, _ := acc.NewAcceptor(sspi.ContextConfig{})
		if _, _, err := a.AcceptContext(context.Background(), tok); err != nil {
			b.Fatal(err)
		}
		a.Close()
	}
}

// BenchmarkHandshake: both sides of a mutual AP exchange (ticket minted in memory).
func BenchmarkHandshake(b *testing.B) {
	p := kerberos.New(kerberos.Config{DisableReplayCache: true})
	ini, acc, _ := creds(b, p, 18)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := handshake(b, ini, acc, sspi.ContextConfig{Target: testSPN, Flags: protectFlags}, sspi.ContextConfig{}); err != nil {
			b.Fatal(err)
		}
	}
}

func benchWrap(b *testing.B, n int) {
	p := kerberos.New(kerberos.Config{})
	ini, acc, _ := creds(b, p, 18)
	i, a, err := handshake(b, ini, acc, sspi.ContextConfig{Target: testSPN, Flags: protectFlags}, sspi.ContextConfig{})
	if err != nil {
		b.Fatal(err)
	}
	msg := bytes.Repeat([]byte{0x42}, n)
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		tok, err := i.EncryptMessage(msg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := a.DecryptMessage(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWrapUnwrap1K(b *testing.B)  { benchWrap(b, 1024) }
func BenchmarkWrapUnwrap64K(b *testing.B) { benchWrap(b, 64*1024) }
