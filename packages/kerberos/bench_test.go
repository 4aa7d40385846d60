package kerberos_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gossp/gossp/negotiate"
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

// cachedTicket is a TicketSource holding one service ticket, as a credential cache does
// after the TGS exchange: the AP exchange without the KDC's work.
type cachedTicket struct {
	minter
	tkt messages.Ticket
	key types.EncryptionKey
}

func newCachedTicket(b *testing.B, kt *keytab.Keytab, etype int32) *cachedTicket {
	m := minter{kt: kt, etype: etype}
	tkt, key, err := m.ServiceTicket(context.Background(), testSPN)
	if err != nil {
		b.Fatal(err)
	}
	return &cachedTicket{minter: m, tkt: tkt, key: key}
}

func (c *cachedTicket) ServiceTicket(context.Context, string) (messages.Ticket, types.EncryptionKey, error) {
	return c.tkt, c.key, nil
}

// BenchmarkHandshakeSPNEGO: the Kerberos AP exchange through Negotiate, both sides
// (mutual authentication, mechListMIC both ways), memory keytab, the service ticket
// in memory as a credential cache holds it, no replay cache: the design's "Kerberos AP
// exchange through SPNEGO". BenchmarkMint is what a KDC adds per new ticket.
func BenchmarkHandshakeSPNEGO(b *testing.B) {
	p := kerberos.New(kerberos.Config{DisableReplayCache: true})
	n, err := negotiate.New(negotiate.Config{Packages: []sspi.Package{p}})
	if err != nil {
		b.Fatal(err)
	}
	kt := serviceKeytab(b, "service-secret")
	ini := acquire(b, n, sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
		Material: negotiate.Options{Material: map[string]any{"Kerberos": newCachedTicket(b, kt, 18)}}})
	acc := acquire(b, n, sspi.CredentialRequest{Use: sspi.CredentialsInbound,
		Material: negotiate.Options{Material: map[string]any{"Kerberos": kerberos.Keytab{Keytab: kt}}}})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := handshake(b, ini, acc, sspi.ContextConfig{Target: testSPN, Flags: protectFlags}, sspi.ContextConfig{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMint: what the test ticket source costs per handshake (a KDC's work).
func BenchmarkMint(b *testing.B) {
	m := minter{kt: serviceKeytab(b, "service-secret"), etype: 18}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := m.ServiceTicket(context.Background(), testSPN); err != nil {
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
