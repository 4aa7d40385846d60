package kerberos_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	gasn1 "github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
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

// BenchmarkHandshakeCached: both sides of a mutual AP exchange, bare Kerberos, the
// service ticket cached as in BenchmarkHandshakeSPNEGO; BenchmarkAPExchangeGokrb5 is the
// same exchange done with gokrb5's functions, the baseline.
func BenchmarkHandshakeCached(b *testing.B) {
	p := kerberos.New(kerberos.Config{DisableReplayCache: true})
	kt := serviceKeytab(b, "service-secret")
	ini := acquire(b, p, sspi.CredentialRequest{Use: sspi.CredentialsOutbound, Material: newCachedTicket(b, kt, 18)})
	acc := acquire(b, p, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: kerberos.Keytab{Keytab: kt}})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := handshake(b, ini, acc, sspi.ContextConfig{Target: testSPN, Flags: protectFlags}, sspi.ContextConfig{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAPExchangeGokrb5 is the AP exchange as gokrb5 offers it, the baseline for
// BenchmarkHandshakeCached: NewAPReq and Marshal; Unmarshal, ticket and authenticator
// decryption; the AP-REP encrypted, encoded, decoded and decrypted. No GSS layer, no
// checks beyond decryption.
func BenchmarkAPExchangeGokrb5(b *testing.B) {
	kt := serviceKeytab(b, "service-secret")
	src := newCachedTicket(b, kt, 18)
	cname, crealm := src.Client()
	svcKey, _, err := kt.GetEncryptionKey(src.tkt.SName, testRealm, 1, 18)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		now := time.Now().UTC()
		auth := types.Authenticator{AVNO: 5, CRealm: crealm, CName: cname, Cusec: now.Nanosecond() / 1000, CTime: now.Truncate(time.Second),
			Cksum: types.Checksum{CksumType: 0x8003, Checksum: make([]byte, 24)}, SubKey: src.key, SeqNumber: 12345}
		req, err := messages.NewAPReq(src.tkt, src.key, auth)
		if err != nil {
			b.Fatal(err)
		}
		tok, err := req.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		var got messages.APReq
		if err := got.Unmarshal(tok); err != nil {
			b.Fatal(err)
		}
		if err := got.Ticket.Decrypt(svcKey); err != nil {
			b.Fatal(err)
		}
		if err := got.DecryptAuthenticator(got.Ticket.DecryptedEncPart.Key); err != nil {
			b.Fatal(err)
		}
		enc, err := gasn1.Marshal(messages.EncAPRepPart{CTime: got.Authenticator.CTime, Cusec: got.Authenticator.Cusec, Subkey: src.key, SequenceNumber: 6789})
		if err != nil {
			b.Fatal(err)
		}
		ed, err := crypto.GetEncryptedData(asn1tools.AddASNAppTag(enc, asnAppTag.EncAPRepPart), got.Ticket.DecryptedEncPart.Key, keyusage.AP_REP_ENCPART, 0)
		if err != nil {
			b.Fatal(err)
		}
		rb, err := gasn1.Marshal(messages.APRep{PVNO: 5, MsgType: 15, EncPart: ed})
		if err != nil {
			b.Fatal(err)
		}
		var rep messages.APRep
		if err := rep.Unmarshal(asn1tools.AddASNAppTag(rb, asnAppTag.APREP)); err != nil {
			b.Fatal(err)
		}
		pt, err := crypto.DecryptEncPart(rep.EncPart, src.key, keyusage.AP_REP_ENCPART)
		if err != nil {
			b.Fatal(err)
		}
		var part messages.EncAPRepPart
		if err := part.Unmarshal(pt); err != nil {
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
