package decode

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math/big"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/gossp/gossp/internal/cms"
	"github.com/gossp/gossp/internal/gssframe"
	"github.com/gossp/gossp/internal/interop"
	"github.com/gossp/gossp/internal/interop/dissect"
	"github.com/gossp/gossp/internal/pki"
	"github.com/gossp/gossp/internal/pkinit"
	"github.com/gossp/gossp/negoex"
	"github.com/gossp/gossp/negotiate"
	"github.com/gossp/gossp/packages/pku2u"
	"github.com/gossp/gossp/sspi"
)

// PKU2U through tshark. A real conversation, Negotiate -> NegoEx -> PKU2U between a
// user and a device certificate, goes through Wireshark's dissectors in three passes,
// because no dissector of tshark 4.0 follows it all the way:
//
//  1. spnego: the SPNEGO tokens as sent, through gssapi, spnego and negoex (the
//     harness's own choice by first byte). tshark reads the NegoEx messages, but shows
//     a scheme's exchange only as bytes ("Exchange Bytes"): it knows no auth scheme,
//     and no dissector of PKU2U's OID 1.3.6.1.5.2.7 either, so it cannot go on to the
//     Kerberos message inside.
//  2. kerberos: so each PKU2U context token's Kerberos message — exactly the bytes after
//     the GSS-API framing and TOK_ID, extracted with gossp's parsers — is handed to the
//     kerberos dissector as a UDP datagram to port 88 (dissect.KerberosUDP, a decode-as
//     through the udp.port table). Every AS-REQ, AS-REP, AP-REQ, AP-REP and KRB-ERROR
//     dissects cleanly there but for one thing: the PKINIT pre-authentication data.
//     tshark's pkinit dissector reads signedAuthPack and dhSignedData as a ContentInfo
//     only (RFC 4556's form), and its PA-PK-AS-REP is the draft's dhSignedData
//     [0] ContentInfo, without RFC 4556's DHRepInfo (and so without serverDHNonce).
//     PKU2U, like Windows, sends a bare SignedData and a DHRepInfo, so tshark reports
//     "Wrong field in SEQUENCE" inside those padata values. Exactly those reports —
//     BER errors and malformed marks at offsets inside the padata-value of a
//     PA-PK-AS-REQ or PA-PK-AS-REP — are accepted in this pass, nothing else.
//  3. pkinit-view: the AS-REQ and AS-REP again, their PKINIT padata rewritten into the
//     forms tshark reads (pkinitView): the SignedData wrapped in a ContentInfo, and the
//     DHRepInfo replaced by the draft's [0] ContentInfo (serverDHNonce dropped, as
//     tshark 4.0 has no field for it). The SignedData — its certificates, signer info
//     and the signed AuthPack or KDCDHKeyInfo — is byte for byte what was sent; the
//     rest of the message too. This pass must be entirely clean, and shows every
//     PKINIT field: signedAuthPack, eContentType, AuthPack, pkAuthenticator (cusec,
//     ctime, nonce, paChecksum), clientPublicValue (dhpublicnumber, p, g, q, the public
//     value), clientDHNonce; dhSignedData, KDCDHKeyInfo (subjectPublicKey, nonce).
//
// A refused exchange (an initiator whose certificate the acceptor does not trust:
// AS-REQ, then KRB-ERROR with TD-TRUSTED-CERTIFIERS, bare PKU2U tokens as the package
// sends them) and Windows' captured PA-PK-AS-REQ and PA-PK-AS-REP (internal/pkinit/
// testdata, put in an AS-REQ and an AS-REP built here, since the capture holds only
// the padata) go through passes 2 and 3.
//
// In every pass gossp decode and tshark must agree on every field both show (the
// mappings below and the SPNEGO and NegoEx ones of interop_test.go).
//
// GOSSP_INTEROP=1 runs a fresh conversation through tshark. With -update it also
// records the conversation (testdata/pku2u-negoex.json, testdata/pku2u-refused.json)
// and tshark's verdicts and field values (testdata/pku2u-tshark.json), which every
// plain `go test` replays: the same judgement and agreement, against tshark's recorded
// output, without tshark:
//
//	GOSSP_INTEROP=1 go test ./decode -run TestPKU2UTShark -update

var update = flag.Bool("update", false, "re-record testdata/pku2u-*.json with a fresh PKU2U conversation and tshark (needs GOSSP_INTEROP=1)")

const (
	pku2uNegoExFile  = "testdata/pku2u-negoex.json"
	pku2uRefusedFile = "testdata/pku2u-refused.json"
	pku2uGoldenFile  = "testdata/pku2u-tshark.json"
)

// pku2uPeers are the certificates of a conversation: a CA, a user and a device (RSA,
// as Windows issues them), and a user of another CA.
type pku2uPeers struct {
	ca, user, dev, stranger *pki.Credential
	root, otherRoot         *x509.Certificate
}

func newPKU2UPeers(t testing.TB) *pku2uPeers {
	t.Helper()
	ca, err := pki.NewCA(pki.CAOptions{CommonName: "gossp test P2P CA", KeyType: pki.KeyRSA})
	if err != nil {
		t.Fatal(err)
	}
	other, err := pki.NewCA(pki.CAOptions{CommonName: "someone else's CA", KeyType: pki.KeyECDSA})
	if err != nil {
		t.Fatal(err)
	}
	p := &pku2uPeers{root: ca.Root(), otherRoot: other.Root()}
	if p.user, err = ca.Issue(pki.IssueOptions{UPN: "alice@contoso.test", Role: pki.RoleInitiator, KeyType: pki.KeyRSA}); err != nil {
		t.Fatal(err)
	}
	if p.dev, err = ca.Issue(pki.IssueOptions{DNSNames: []string{"server.contoso.test"}, Role: pki.RoleAcceptor, KeyType: pki.KeyRSA}); err != nil {
		t.Fatal(err)
	}
	if p.stranger, err = other.Issue(pki.IssueOptions{UPN: "mallory@elsewhere.test", Role: pki.RoleInitiator, KeyType: pki.KeyECDSA}); err != nil {
		t.Fatal(err)
	}
	return p
}

func pku2uMaterial(c *pki.Credential, trust ...*x509.Certificate) pku2u.Credentials {
	return pku2u.Credentials{Certificates: []pku2u.Certificate{{Chain: c.Chain, Key: c.Key}}, Trust: trust}
}

// pku2uNegoEx runs a PKU2U handshake in process, Negotiate -> NegoEx -> PKU2U, and
// returns its SPNEGO tokens in wire order.
func pku2uNegoEx(t testing.TB, peers *pku2uPeers) [][]byte {
	t.Helper()
	ctx := context.Background()
	nx, err := negoex.New(negoex.Config{Schemes: []negoex.Scheme{{Package: pku2u.New(pku2u.Config{})}}})
	if err != nil {
		t.Fatal(err)
	}
	neg, err := negotiate.New(negotiate.Config{Packages: []sspi.Package{nx}})
	if err != nil {
		t.Fatal(err)
	}
	acquire := func(use sspi.CredentialUse, c *pki.Credential) sspi.Credential {
		cr, err := neg.AcquireCredentials(ctx, sspi.CredentialRequest{Use: use, Material: negotiate.Options{
			Material: map[string]any{negoex.Name: negoex.Options{Material: map[string]any{pku2u.Name: pku2uMaterial(c, peers.root)}}}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cr.Close() })
		return cr
	}
	ini, acc := acquire(sspi.CredentialsOutbound, peers.user), acquire(sspi.CredentialsInbound, peers.dev)
	flags := sspi.FlagMutualAuth | sspi.FlagReplayDetect | sspi.FlagSequenceDetect | sspi.FlagIntegrity | sspi.FlagConfidentiality
	i, err := ini.NewInitiator(sspi.ContextConfig{Target: "host/server.contoso.test", Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	defer i.Close()
	a, err := acc.NewAcceptor(sspi.ContextConfig{Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var toks [][]byte
	var in []byte
	for range 6 {
		out, st, err := i.InitializeContext(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) == 0 {
			break
		}
		toks = append(toks, out)
		back, ast, err := a.AcceptContext(ctx, out)
		if err != nil {
			t.Fatal(err)
		}
		if len(back) > 0 {
			toks = append(toks, back)
		}
		if st == sspi.StatusOK && ast == sspi.StatusOK {
			break
		}
		in = back
	}
	if !i.Attributes().Established || !a.Attributes().Established {
		t.Fatalf("the handshake did not complete after %d tokens", len(toks))
	}
	return toks
}

// pku2uRefused runs the PKU2U package alone (bare PKU2U tokens) with an initiator
// the acceptor does not trust, and returns the AS-REQ and the acceptor's KRB-ERROR.
func pku2uRefused(t testing.TB, peers *pku2uPeers) [][]byte {
	t.Helper()
	ctx := context.Background()
	p := pku2u.New(pku2u.Config{})
	acquire := func(use sspi.CredentialUse, m pku2u.Credentials) sspi.Credential {
		cr, err := p.AcquireCredentials(ctx, sspi.CredentialRequest{Use: use, Material: m})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cr.Close() })
		return cr
	}
	ini := acquire(sspi.CredentialsOutbound, pku2uMaterial(peers.stranger, peers.root, peers.otherRoot))
	acc := acquire(sspi.CredentialsInbound, pku2uMaterial(peers.dev, peers.root))
	i, err := ini.NewInitiator(sspi.ContextConfig{Target: "host/server.contoso.test", Flags: sspi.FlagMutualAuth})
	if err != nil {
		t.Fatal(err)
	}
	defer i.Close()
	a, err := acc.NewAcceptor(sspi.ContextConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	req, _, err := i.InitializeContext(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	krbErr, _, err := a.AcceptContext(ctx, req)
	if sspi.StatusOf(err) != sspi.ErrUntrustedRoot || len(krbErr) == 0 {
		t.Fatalf("AcceptContext of an untrusted initiator: %d-byte token, %v", len(krbErr), err)
	}
	return [][]byte{req, krbErr}
}

// pku2uMessage is the Kerberos message of a PKU2U context token of an exchange.
type pku2uMessage struct {
	token int    // the token (0-based) that carried it
	tokID uint16 // its TOK_ID
	pdu   []byte // the Kerberos message after the TOK_ID
}

// pku2uMessages extracts the PKU2U context tokens of an exchange with gossp's parsers:
// a token is a bare PKU2U token, or a SPNEGO token whose mechToken or responseToken
// holds NegoEx AP_REQUEST and CHALLENGE messages of the PKU2U auth scheme.
func pku2uMessages(t testing.TB, toks [][]byte) []pku2uMessage {
	t.Helper()
	var out []pku2uMessage
	add := func(n int, framed []byte) {
		oid, id, pdu, err := gssframe.Parse(framed)
		if err != nil || !oid.Equal(pku2u.OID) {
			t.Fatalf("token %d: not a PKU2U context token (%v, OID %v)", n+1, err, oid)
		}
		out = append(out, pku2uMessage{token: n, tokID: id, pdu: pdu})
	}
	for n, tok := range toks {
		if oid, _, _, err := gssframe.Parse(tok); err == nil && oid.Equal(pku2u.OID) {
			add(n, tok)
			continue
		}
		init, resp, err := negotiate.ParseToken(tok)
		if err != nil {
			t.Fatalf("token %d: %v", n+1, err)
		}
		mech := mechTokenOf(init, resp)
		if len(mech) == 0 {
			continue
		}
		msgs, err := negoex.ParseMessages(mech)
		if err != nil {
			t.Fatalf("token %d: %v", n+1, err)
		}
		for _, m := range msgs {
			if (m.Type == negoex.APRequest || m.Type == negoex.Challenge) && m.AuthScheme == pku2u.AuthScheme {
				add(n, m.Exchange)
			}
		}
	}
	return out
}

// mechTokenOf is the mechanism token a SPNEGO token carries.
func mechTokenOf(init *negotiate.NegTokenInit, resp *negotiate.NegTokenResp) []byte {
	if init != nil {
		return init.MechToken
	}
	return resp.ResponseToken
}

// contentInfo wraps a bare SignedData in a ContentInfo (id-signedData).
func contentInfo(t testing.TB, sd []byte) []byte {
	t.Helper()
	parsed, err := cms.Parse(sd)
	if err != nil {
		t.Fatal(err)
	}
	if len(parsed.Raw) != len(sd) {
		return sd // a ContentInfo already
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(cms.OIDSignedData)
		b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) { b.AddBytes(sd) })
	})
	return b.BytesOrPanic()
}

// pkinitView returns an AS-REQ or AS-REP with its PKINIT padata in the forms tshark
// 4.0 reads (see pkinitValue), every other byte as sent; ok is false for other
// messages.
func pkinitView(t testing.TB, pdu []byte) (view []byte, ok bool) {
	t.Helper()
	s := cryptobyte.String(pdu)
	var body, seq cryptobyte.String
	var app cbasn1.Tag
	if !s.ReadAnyASN1(&body, &app) || !s.Empty() || !body.ReadASN1(&seq, cbasn1.SEQUENCE) || !body.Empty() {
		t.Fatalf("not a Kerberos message: % x", pdu[:min(len(pdu), 8)])
	}
	var padataTag cbasn1.Tag
	switch app {
	case 0x6a: // [APPLICATION 10] AS-REQ: padata [3]
		padataTag = cbasn1.Tag(3).ContextSpecific().Constructed()
	case 0x6b: // [APPLICATION 11] AS-REP: padata [2]
		padataTag = cbasn1.Tag(2).ContextSpecific().Constructed()
	default:
		return nil, false
	}
	ctx := func(n uint8) cbasn1.Tag { return cbasn1.Tag(n).ContextSpecific().Constructed() }
	var b cryptobyte.Builder
	b.AddASN1(app, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			for !seq.Empty() {
				var field, list cryptobyte.String
				var tag cbasn1.Tag
				if !seq.ReadAnyASN1Element(&field, &tag) {
					t.Fatal("malformed Kerberos field")
				}
				if tag != padataTag {
					b.AddBytes(field)
					continue
				}
				if !field.ReadASN1(&field, padataTag) || !field.ReadASN1(&list, cbasn1.SEQUENCE) {
					t.Fatal("malformed padata")
				}
				b.AddASN1(padataTag, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						for !list.Empty() {
							var pa, tf, vf cryptobyte.String
							var typ int64
							var val []byte
							if !list.ReadASN1(&pa, cbasn1.SEQUENCE) || !pa.ReadASN1(&tf, ctx(1)) || !tf.ReadASN1Integer(&typ) ||
								!pa.ReadASN1(&vf, ctx(2)) || !vf.ReadASN1Bytes(&val, cbasn1.OCTET_STRING) {
								t.Fatal("malformed PA-DATA")
							}
							val = pkinitValue(t, typ, val)
							b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
								b.AddASN1(ctx(1), func(b *cryptobyte.Builder) { b.AddASN1Int64(typ) })
								b.AddASN1(ctx(2), func(b *cryptobyte.Builder) { b.AddASN1OctetString(val) })
							})
						}
					})
				})
			}
		})
	})
	return b.BytesOrPanic(), true
}

// pkinitValue rewrites a PA-PK-AS-REQ's signedAuthPack as a ContentInfo (RFC 4556's
// own form), and a PA-PK-AS-REP's DHRepInfo as the draft's dhSignedData [0]
// ContentInfo that tshark 4.0 knows, without serverDHNonce; other padata go as sent.
func pkinitValue(t testing.TB, typ int64, val []byte) []byte {
	t.Helper()
	switch typ {
	case pkinit.PADataPKASReq:
		var r pkinit.PAPKASReq
		if err := r.Unmarshal(val); err != nil {
			t.Fatal(err)
		}
		r.SignedAuthPack = contentInfo(t, r.SignedAuthPack)
		b, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	case pkinit.PADataPKASRep:
		var r pkinit.PAPKASRep
		if err := r.Unmarshal(val); err != nil || r.DHInfo == nil {
			t.Fatalf("PA-PK-AS-REP: %v", err)
		}
		b, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: contentInfo(t, r.DHInfo.DHSignedData)})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return val
}

// windowsPKINIT puts Windows' captured PA-PK-AS-REQ and PA-PK-AS-REP (internal/pkinit/
// testdata) in an AS-REQ and an AS-REP shaped like Windows' (KDC options 0x40810010,
// nonce 0, its etypes): the capture holds only the padata.
func windowsPKINIT(t testing.TB) (asReq, asRep []byte) {
	t.Helper()
	read := func(name string) []byte {
		b, err := os.ReadFile("../internal/pkinit/testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	i := func(v ...byte) []byte { return der(0x02, v) }
	gs := func(s string) []byte { return der(0x1b, []byte(s)) }
	name := func(typ byte, parts ...string) []byte {
		var ss [][]byte
		for _, p := range parts {
			ss = append(ss, gs(p))
		}
		return der(0x30, der(0xa0, i(typ)), der(0xa1, der(0x30, ss...)))
	}
	padata := func(typ byte, v []byte) []byte {
		return der(0x30, der(0x30, der(0xa1, i(typ)), der(0xa2, der(0x04, v))))
	}
	realm := gs("WELLKNOWN:PKU2U")
	cname := name(0x80, `AzureAD\MS-Organization-P2P-Access [2021]\S-1-12-1-1`) // KRB_NT_MS_PRINCIPAL, -128
	sname := name(0x80, "WIN10-2")
	asReq = der(0x6a, der(0x30,
		der(0xa1, i(5)), der(0xa2, i(10)),
		der(0xa3, padata(16, read("pa_pk_as_req.der"))),
		der(0xa4, der(0x30,
			der(0xa0, der(0x03, []byte{0, 0x40, 0x81, 0x00, 0x10})),
			der(0xa1, cname), der(0xa2, realm), der(0xa3, sname),
			der(0xa5, der(0x18, []byte("20370913024805Z"))),
			der(0xa7, i(0)),
			der(0xa8, der(0x30, i(18), i(17), i(23), i(24), i(0xff, 0x79))),
			der(0xa9, der(0x30, der(0x30, der(0xa0, i(20)), der(0xa1, der(0x04, []byte("WIN10-1         ")))))),
		))))
	encData := func(n int) []byte { return der(0x30, der(0xa0, i(18)), der(0xa2, der(0x04, make([]byte, n)))) }
	asRep = der(0x6b, der(0x30,
		der(0xa0, i(5)), der(0xa1, i(11)),
		der(0xa2, padata(17, read("pa_pk_as_rep.der"))),
		der(0xa3, realm), der(0xa4, cname),
		der(0xa5, der(0x61, der(0x30, der(0xa0, i(5)), der(0xa1, realm), der(0xa2, sname), der(0xa3, encData(64))))),
		der(0xa6, encData(48)),
	))
	return asReq, asRep
}

// pku2uPacket is what tshark made of one packet of a pass, as recorded in
// testdata/pku2u-tshark.json: its verdicts, the fields the checks read (Fields; a long
// value, whose presence alone is checked, is kept as its length), and tshark's values
// of the fields compared with our tree, read as the mappings read them (Compare).
type pku2uPacket struct {
	Exchange  string              `json:"exchange"` // "negoex", "refused" or "windows"
	Pass      string              `json:"pass"`     // "spnego", "kerberos" or "pkinit-view"
	Index     int                 `json:"index"`    // the packet's place in its pass, 0-based
	SHA256    string              `json:"sha256"`   // of the packet's bytes
	Dissector string              `json:"dissector"`
	Protocols string              `json:"protocols"`
	Problems  []dissect.Problem   `json:"problems,omitempty"`
	Waived    []dissect.Problem   `json:"waived,omitempty"`
	Fields    map[string][]string `json:"fields"`
	Compare   map[string][]string `json:"compare"`
}

type pku2uGolden struct {
	TShark  string         `json:"tshark"`
	Packets []*pku2uPacket `json:"packets"`
}

// pku2uExchange is an exchange and the packets of its passes.
type pku2uExchange struct {
	name   string
	tokens [][]byte // SPNEGO or bare PKU2U tokens; nil for the Windows captures
	pdus   [][]byte // the Kerberos messages
	views  [][]byte // the PKINIT views of the AS-REQ and AS-REP
}

func newPKU2UExchange(t testing.TB, name string, tokens [][]byte) *pku2uExchange {
	t.Helper()
	ex := &pku2uExchange{name: name, tokens: tokens}
	for _, m := range pku2uMessages(t, tokens) {
		ex.pdus = append(ex.pdus, m.pdu)
	}
	ex.addViews(t)
	return ex
}

func (ex *pku2uExchange) addViews(t testing.TB) {
	for _, p := range ex.pdus {
		if v, ok := pkinitView(t, p); ok {
			ex.views = append(ex.views, v)
		}
	}
}

// passes are the exchange's packets by pass.
func (ex *pku2uExchange) passes() map[string][][]byte {
	out := map[string][][]byte{"kerberos": ex.pdus, "pkinit-view": ex.views}
	if ex.name == "negoex" {
		out["spnego"] = ex.tokens
	}
	return out
}

var passOrder = []string{"spnego", "kerberos", "pkinit-view"}

// checkedFields are the tshark fields the checks read (besides the compared ones).
var checkedFields = []string{"spnego", "negoex.message.type", "kerberos.msg_type", "cms.eContentType",
	"pkinit.signedAuthPack_element", "pkinit.AuthPack_element", "pkinit.pkAuthenticator_element",
	"pkinit.clientPublicValue_element", "pkinit.clientDHNonce", "pkinit.dhSignedData_element",
	"pkinit.KDCDHKeyInfo_element", "pkinit.subjectPublicKey", "pkix1explicit.DomainParameters_element"}

// passMappings are the fields compared in a pass.
func passMappings(pass string) []mapping {
	switch pass {
	case "spnego":
		return mappings
	case "kerberos":
		return krbMappings
	}
	return pkinitMappings
}

// theirValues reads tshark's fields as the mappings compare them.
func theirValues(ms []mapping, fields map[string][]string) map[string][]string {
	out := map[string][]string{}
	for _, m := range ms {
		var vs []string
		for _, v := range fields[m.field] {
			if m.theirs != nil {
				v = m.theirs(v)
			}
			if v != notOurs {
				vs = append(vs, v)
			}
		}
		if len(vs) > 0 {
			out[m.field] = vs
		}
	}
	return out
}

// dissectPKU2U runs tshark over the exchanges' passes.
func dissectPKU2U(t *testing.T, exs []*pku2uExchange) *pku2uGolden {
	t.Helper()
	g := &pku2uGolden{}
	for _, ex := range exs {
		passes := ex.passes()
		for _, pass := range passOrder {
			pkts := passes[pass]
			if len(pkts) == 0 {
				continue
			}
			o := dissect.Options{Dissector: dissect.KerberosUDP}
			if pass == "spnego" {
				o = dissect.Options{NegoExMechListMIC: true}
			}
			r := o.Dissect(t, pkts...) // skips without GOSSP_INTEROP=1 and tshark
			g.TShark = r.Version
			for i, tok := range r.Tokens {
				p := &pku2uPacket{Exchange: ex.name, Pass: pass, Index: i, SHA256: sum(tok.Bytes), Dissector: tok.Dissector,
					Protocols: tok.Protocols, Problems: tok.Problems, Waived: tok.Waived, Fields: map[string][]string{},
					Compare: theirValues(passMappings(pass), tok.Fields)}
				for _, k := range checkedFields {
					for _, v := range tok.Values(k) {
						if len(v) > 64 {
							v = fmt.Sprintf("(%d characters)", len(v))
						}
						p.Fields[k] = append(p.Fields[k], v)
					}
				}
				g.Packets = append(g.Packets, p)
			}
		}
	}
	return g
}

func sum(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }

// TestPKU2UTShark runs a fresh PKU2U conversation, a refused one and Windows' PKINIT
// captures through tshark (GOSSP_INTEROP=1) and judges what it shows; -update records
// them for TestPKU2UTSharkReplay.
func TestPKU2UTShark(t *testing.T) {
	interop.Command(t, "tshark") // skips without GOSSP_INTEROP=1
	peers := newPKU2UPeers(t)
	exs := []*pku2uExchange{
		newPKU2UExchange(t, "negoex", pku2uNegoEx(t, peers)),
		newPKU2UExchange(t, "refused", pku2uRefused(t, peers)),
		windowsExchange(t),
	}
	g := dissectPKU2U(t, exs)
	judgePKU2U(t, exs, g)
	if *update && !t.Failed() {
		for _, f := range []struct {
			path string
			ex   *pku2uExchange
			peer string
		}{
			{pku2uNegoExFile, exs[0], "gossp PKU2U initiator and acceptor, Negotiate -> NegoEx -> pku2u in process (tshark " + g.TShark + " dissected it)"},
			{pku2uRefusedFile, exs[1], "gossp PKU2U package alone: an untrusted initiator's AS-REQ and the acceptor's KRB-ERROR (tshark " + g.TShark + " dissected it)"},
		} {
			rec := map[string]any{"peer": f.peer, "our_role": "both", "tokens": hexAll(f.ex.tokens)}
			writeJSON(t, f.path, rec)
		}
		writeJSON(t, pku2uGoldenFile, g)
	}
}

func windowsExchange(t testing.TB) *pku2uExchange {
	req, rep := windowsPKINIT(t)
	ex := &pku2uExchange{name: "windows", pdus: [][]byte{req, rep}}
	ex.addViews(t)
	return ex
}

func hexAll(toks [][]byte) []string {
	var out []string
	for _, b := range toks {
		out = append(out, hex.EncodeToString(b))
	}
	return out
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPKU2UTSharkReplay judges the recorded conversations against tshark's recorded
// output: the same checks as TestPKU2UTShark, without tshark.
func TestPKU2UTSharkReplay(t *testing.T) {
	exs := recordedPKU2U(t)
	data, err := os.ReadFile(pku2uGoldenFile)
	if err != nil {
		t.Fatal(err)
	}
	var g pku2uGolden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(g.TShark, "wireshark/") {
		t.Fatalf("recorded by %q", g.TShark)
	}
	judgePKU2U(t, exs, &g)
}

// recordedPKU2U loads the recorded exchanges.
func recordedPKU2U(t testing.TB) []*pku2uExchange {
	return []*pku2uExchange{
		newPKU2UExchange(t, "negoex", loadRecording(t, pku2uNegoExFile).decoded),
		newPKU2UExchange(t, "refused", loadRecording(t, pku2uRefusedFile).decoded),
		windowsExchange(t),
	}
}

// judgePKU2U checks tshark's verdicts and field values (live or recorded) for the
// exchanges, and that gossp decode agrees with them.
func judgePKU2U(t *testing.T, exs []*pku2uExchange, g *pku2uGolden) {
	t.Helper()
	byKey := map[string]*pku2uPacket{}
	for _, p := range g.Packets {
		byKey[fmt.Sprintf("%s/%s/%d", p.Exchange, p.Pass, p.Index)] = p
	}
	compared := map[string]int{}
	seen := map[string]bool{} // what tshark showed: message types, PKINIT structures
	for _, ex := range exs {
		passes := ex.passes()
		for _, pass := range passOrder {
			for i, b := range passes[pass] {
				key := fmt.Sprintf("%s/%s/%d", ex.name, pass, i)
				p := byKey[key]
				if p == nil {
					t.Errorf("%s: tshark's verdict is missing (re-record with -update)", key)
					continue
				}
				delete(byKey, key)
				if p.SHA256 != sum(b) {
					t.Errorf("%s: tshark's verdict is for other bytes (re-record with -update)", key)
					continue
				}
				judgePacket(t, key, pass, b, ex, i, p, compared, seen)
			}
		}
	}
	for k := range byKey {
		t.Errorf("%s: a verdict for no packet", k)
	}
	// What the proof names was seen and compared: not vacuous.
	for _, s := range []string{"spnego", "negoex type 0x00000000", "negoex type 0x00000001", "negoex type 0x00000002",
		"negoex type 0x00000003", "negoex type 0x00000004", "negoex type 0x00000005", "negoex type 0x00000006",
		"krb-as-req", "krb-as-rep", "krb-ap-req", "krb-ap-rep", "krb-error", "pkinit.signedAuthPack_element",
		"pkinit.AuthPack_element", "pkinit.pkAuthenticator_element", "pkinit.clientPublicValue_element",
		"pkinit.clientDHNonce", "pkinit.dhSignedData_element", "pkinit.KDCDHKeyInfo_element", "pkinit.subjectPublicKey"} {
		if !seen[s] && !t.Failed() {
			t.Errorf("tshark never showed %s", s)
		}
	}
	for _, f := range []string{"gss-api.OID", "spnego.MechType", "spnego.negResult", "spnego.supportedMech",
		"negoex.message.type", "negoex.auth_scheme", "negoex.exchange_vec_byte_count", "negoex.checksum",
		"kerberos.msg_type", "kerberos.padata_type", "kerberos.realm", "kerberos.crealm", "kerberos.CNameString",
		"kerberos.SNameString", "kerberos.name_type", "kerberos.ENCTYPE", "kerberos.etype", "kerberos.kvno",
		"kerberos.cipher", "kerberos.kdc_options", "kerberos.ap_options", "kerberos.till", "kerberos.nonce",
		"kerberos.error_code", "pkinit.cusec", "kerberos.ctime", "pkinit.nonce", "pkinit.paChecksum",
		"pkinit.clientDHNonce", "pkinit.subjectPublicKey", "x509af.subjectPublicKey", "ber.64bit_uint_as_bytes",
		"pkix1explicit.g", "cms.eContentType", "cms.version", "cms.serialNumber", "cms.certificates",
		"x509af.serialNumber"} {
		if compared[f] == 0 && !t.Failed() {
			t.Errorf("%s never compared", f)
		}
	}
	t.Logf("tshark %s; fields compared: %v", g.TShark, compared)
}

// judgePacket checks one packet's verdict and compares its fields with our decode.
func judgePacket(t *testing.T, key, pass string, b []byte, ex *pku2uExchange, i int, p *pku2uPacket, compared map[string]int, seen map[string]bool) {
	t.Helper()
	src := b
	if pass == "pkinit-view" {
		// Our decode of the message as sent; the view differs only in the padata's
		// wrapping of the SignedData.
		src = viewSource(t, ex, i)
	}
	ours := mustDecode(t, src)
	switch pass {
	case "spnego":
		if len(p.Problems) != 0 {
			t.Errorf("%s: tshark's problems %v", key, p.Problems)
		}
		if p.Fields["spnego"] != nil {
			seen["spnego"] = true
		}
		// tshark reads the NegoEx messages we parse, in order.
		init, resp, err := negotiate.ParseToken(b)
		if err != nil {
			t.Fatal(err)
		}
		mech := mechTokenOf(init, resp)
		var want []string
		if msgs, err := negoex.ParseMessages(mech); err == nil {
			for _, m := range msgs {
				want = append(want, fmt.Sprintf("0x%08x", uint32(m.Type)))
			}
		}
		if got := p.Fields["negoex.message.type"]; !slices.Equal(got, want) {
			t.Errorf("%s: tshark's NegoEx messages %v, ours %v", key, got, want)
		}
		for _, typ := range want {
			seen["negoex type "+typ] = true
		}
	case "kerberos":
		// Only tshark's misreading of the PKINIT padata is accepted (see the top).
		spans := pkinitSpans(ours)
		for _, pr := range p.Problems {
			inside := slices.ContainsFunc(spans, func(s [2]int) bool { return pr.Pos >= s[0] && pr.Pos < s[1] })
			berError := pr.Kind == dissect.Malformed || pr.Kind == dissect.Expert && strings.HasPrefix(pr.Field, "ber.error.")
			if !inside || !berError {
				t.Errorf("%s: tshark's problem %v is not its misreading of the PKINIT padata (at %v)", key, pr, spans)
			}
		}
		mt := p.Fields["kerberos.msg_type"]
		if len(mt) != 1 || mt[0] != paren(ours.Find("msg-type").Value) {
			t.Errorf("%s: tshark's msg-type %v, ours %s", key, mt, ours.Find("msg-type").Value)
		}
		if len(mt) == 1 {
			seen[msgTypes[mt[0]]] = true
		}
	case "pkinit-view":
		if len(p.Problems) != 0 {
			t.Errorf("%s: tshark's problems with the PKINIT view %v", key, p.Problems)
		}
		for f := range p.Fields {
			seen[f] = true
		}
		if v := p.Fields["cms.eContentType"]; len(v) != 1 || v[0] != before(ours.Find("eContentType").Value) {
			t.Errorf("%s: tshark's eContentType %v", key, v)
		}
	}
	n := 0
	for _, m := range passMappings(pass) {
		theirs := p.Compare[m.field]
		mine := m.ours(ours)
		if len(theirs) == 0 || len(mine) == 0 {
			continue // not shown by both
		}
		if !slices.Equal(mine, theirs) {
			t.Errorf("%s: %s: decode %q, tshark %q\n%s", key, m.field, mine, theirs, ours.Tree())
			continue
		}
		n++
		compared[m.field]++
	}
	if n == 0 {
		t.Errorf("%s: no field compared", key)
	}
}

// viewSource is the message a PKINIT view was made of: the i-th AS-REQ or AS-REP.
func viewSource(t *testing.T, ex *pku2uExchange, i int) []byte {
	t.Helper()
	var src [][]byte
	for _, p := range ex.pdus {
		if p[0] == 0x6a || p[0] == 0x6b {
			src = append(src, p)
		}
	}
	return src[i]
}

// pkinitSpans are where the padata-values of PA-PK-AS-REQ and PA-PK-AS-REP lie.
func pkinitSpans(n *Node) [][2]int {
	var out [][2]int
	for _, pa := range n.FindAll("PA-DATA") {
		if v := pa.Find("padata-value"); v != nil && (pa.Find("PA-PK-AS-REQ") != nil || pa.Find("PA-PK-AS-REP") != nil) {
			out = append(out, [2]int{v.Offset, v.Offset + v.Length})
		}
	}
	return out
}

// childValues collects the values of the children named child of every node named
// parent, in tree order.
func childValues(parent, child string, conv func(string) string) func(*Node) []string {
	return func(n *Node) []string {
		var out []string
		for _, p := range n.FindAll(parent) {
			for _, c := range p.Children {
				if c.Name == child {
					v := c.Value
					if conv != nil {
						v = conv(v)
					}
					out = append(out, v)
				}
			}
		}
		return out
	}
}

// krbTime reads a KerberosTime ("20261127125106Z") as RFC 3339, as tsharkTime does.
func krbTime(s string) string {
	tm, err := time.Parse("20060102150405Z", s)
	if err != nil {
		return s
	}
	return tm.UTC().Format(time.RFC3339Nano)
}

// notOurs is what a conversion of tshark's values returns for a value of the field
// our tree does not show (a certificate's RSA key beside a DH public value).
const notOurs = "\x00"

// dhFromDER reads tshark's bytes of a DH public value (a DER INTEGER) as ours shows it;
// other bytes (an RSA key) come out as notOurs.
func dhFromDER(s string) string {
	b, err := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
	if err != nil {
		return notOurs
	}
	y := new(big.Int)
	if rest, err := asn1.Unmarshal(b, &y); err != nil || len(rest) != 0 {
		return notOurs
	}
	return dhValue(y)
}

// bitLen reads tshark's bytes of an integer as ours shows p and q: "2048-bit".
func bitLen(s string) string {
	b, err := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
	if err != nil {
		return s
	}
	return fmt.Sprintf("%d-bit", new(big.Int).SetBytes(b).BitLen())
}

// krbMappings say how the kerberos dissector's fields read in our tree.
var krbMappings = []mapping{
	{"kerberos.pvno", values("pvno", nil), nil},
	{"kerberos.msg_type", values("msg-type", paren), nil},
	{"kerberos.padata_type", values("padata-type", paren), nil},
	{"kerberos.realm", values("realm", nil), nil},
	{"kerberos.crealm", values("crealm", nil), nil},
	{"kerberos.CNameString", childValues("cname", "name-string", nil), nil},
	{"kerberos.SNameString", childValues("sname", "name-string", nil), nil},
	{"kerberos.name_type", values("name-type", nil), nil},
	{"kerberos.ENCTYPE", values("ENCTYPE", paren), nil},
	{"kerberos.kdc-req-body.etype", under("req-body", "etype", nil), nil},
	// EncryptedData's etype, not req-body's list.
	{"kerberos.etype", func(n *Node) []string {
		var out []string
		var walk func(*Node)
		walk = func(m *Node) {
			for _, c := range m.Children {
				if c.Name == "etype" && (m.Name == "enc-part" || m.Name == "authenticator") {
					out = append(out, paren(c.Value))
				}
				walk(c)
			}
		}
		walk(n)
		return out
	}, nil},
	{"kerberos.kvno", values("kvno", nil), nil},
	{"kerberos.cipher", values("cipher", before), byteCount},
	{"kerberos.kdc_options", values("kdc-options", colon), nil},
	{"kerberos.ap_options", values("ap-options", colon), nil},
	{"kerberos.till", values("till", krbTime), tsharkTime},
	{"kerberos.stime", values("stime", krbTime), tsharkTime},
	{"kerberos.nonce", under("req-body", "nonce", nil), nil},
	{"kerberos.tkt_vno", values("tkt-vno", nil), nil},
	{"kerberos.error_code", values("error-code", paren), nil},
	{"kerberos.padata_value", values("padata-value", before), byteCount},
}

// pkinitMappings say how the pkinit, cms and x509 dissectors' fields read in our tree.
var pkinitMappings = []mapping{
	{"pkinit.cusec", values("cusec", nil), nil},
	{"kerberos.ctime", childValues("pkAuthenticator", "ctime", krbTime), tsharkTime},
	{"pkinit.nonce", func(n *Node) []string {
		return append(childValues("pkAuthenticator", "nonce", nil)(n), childValues("KDCDHKeyInfo", "nonce", nil)(n)...)
	}, nil},
	{"pkinit.paChecksum", values("paChecksum", func(s string) string { return colon(before(s)) }), nil},
	{"pkinit.clientDHNonce", values("clientDHNonce", func(s string) string { return colon(before(s)) }), nil},
	{"pkinit.subjectPublicKey", childValues("KDCDHKeyInfo", "subjectPublicKey", nil), dhFromDER},
	// The initiator's DH public value; tshark shows it with the certificates' keys.
	{"x509af.subjectPublicKey", childValues("clientPublicValue", "subjectPublicKey", nil), dhFromDER},
	// p and q, which tshark shows as bare big integers.
	{"ber.64bit_uint_as_bytes", func(n *Node) []string {
		return append(childValues("DomainParameters", "p", nil)(n), childValues("DomainParameters", "q", nil)(n)...)
	}, bitLen},
	{"pkix1explicit.g", childValues("DomainParameters", "g", nil), nil},
	{"cms.eContentType", values("eContentType", before), nil},
	{"cms.version", func(n *Node) []string {
		return append(childValues("SignedData", "version", nil)(n), childValues("SignerInfo", "version", nil)(n)...)
	}, nil},
	{"cms.digestAlgorithms", values("digestAlgorithms", nil), nil},
	{"cms.certificates", values("certificates", nil), nil},
	{"cms.signerInfos", values("signerInfos", nil), nil},
	{"cms.signedAttrs", values("signedAttrs", nil), nil},
	{"cms.attrType", values("Attribute", before), nil},
	{"cms.serialNumber", childValues("sid", "serialNumber", colon), nil},
	{"x509af.serialNumber", childValues("certificate", "serialNumber", colon), nil},
	{"cms.signature", values("signature", before), byteCount},
}
