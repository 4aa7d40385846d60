package decode

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/gossp/gossp/internal/gssframe"
	"github.com/gossp/gossp/internal/pkinit"
	"github.com/gossp/gossp/negoex"
	"github.com/gossp/gossp/packages/pku2u"
	"github.com/gossp/gossp/sspi"
)

// spanEndsWith requires node name's bytes (its span in tok) to end with value, so its
// offset and length are right.
func spanEndsWith(t *testing.T, tok []byte, n *Node, name string, value []byte) {
	t.Helper()
	f := n.Find(name)
	if f == nil {
		t.Errorf("no %s in\n%s", name, n.Tree())
		return
	}
	if span := tok[f.Offset : f.Offset+f.Length]; !bytes.HasSuffix(span, value) {
		t.Errorf("%s at %d+%d: % x does not end with % x", name, f.Offset, f.Length, span, value)
	}
}

// hexValue reads the hex of a value shown as "<hex> (N bytes)".
func hexValue(t *testing.T, n *Node, name string) []byte {
	t.Helper()
	f := n.Find(name)
	if f == nil {
		t.Fatalf("no %s in\n%s", name, n.Tree())
	}
	b, err := hex.DecodeString(before(f.Value))
	if err != nil {
		t.Fatalf("%s: %q", name, f.Value)
	}
	return b
}

// Windows' PA-PK-AS-REQ and PA-PK-AS-REP (internal/pkinit/testdata), in an AS-REQ and
// an AS-REP, framed as PKU2U context tokens, with and without the GSS-API framing.
func TestPKINITWindowsCaptures(t *testing.T) {
	req, rep := windowsPKINIT(t)
	paReq, err := os.ReadFile("../internal/pkinit/testdata/pa_pk_as_req.der")
	if err != nil {
		t.Fatal(err)
	}
	paRep, err := os.ReadFile("../internal/pkinit/testdata/pa_pk_as_rep.der")
	if err != nil {
		t.Fatal(err)
	}
	oid := gssframe.OIDBytes(pku2u.OID)
	for _, tok := range [][]byte{gssframe.Frame(oid, 0x0500, req), append([]byte{5, 0}, req...)} {
		n := mustDecode(t, tok)
		want(t, n, "TOK_ID", "05 00 (KRB_AS_REQ (PKU2U))")
		if tok[0] == 0x60 {
			want(t, n, "thisMech", "1.3.6.1.5.2.7 (PKU2U)")
		}
		want(t, n, "PA-DATA", "PA-PK-AS-REQ (16)")
		spanEndsWith(t, tok, n, "padata-value", paReq)
		want(t, n, "signedAuthPack", "SignedData (bare, without a ContentInfo, as Windows sends it)")
		want(t, n, "eContentType", "1.3.6.1.5.2.3.1 (id-pkinit-authData)")
		want(t, n, "DigestAlgorithmIdentifier", "1.3.14.3.2.26 (sha1)")
		want(t, n, "signatureAlgorithm", "1.2.840.113549.1.1.1 (rsaEncryption)")
		want(t, n, "SignerInfo", "CN=mamoreau@downhillpro.xyz,CN=S-1-12-1-155238298-1303054274-2503517313-3646878765,DC=4c5a5ec1-9ac5-4612-9b4c-6bed178bb65a")
		want(t, n, "identity", "mamoreau@downhillpro.xyz")
		want(t, n, "issuer", "CN=MS-Organization-P2P-Access [2021]")
		// The AuthPack as internal/pkinit's tests of the capture describe it.
		want(t, n, "cusec", "449531")
		want(t, n, "ctime", "20220517202559Z")
		want(t, n, "nonce", "0")
		if c := hexValue(t, n, "paChecksum"); len(c) != 20 {
			t.Errorf("paChecksum of %d bytes", len(c))
		}
		spanEndsWith(t, tok, n, "paChecksum", hexValue(t, n, "paChecksum"))
		want(t, n, "clientPublicValue", "MODP group 2 (RFC 2409, 1024-bit)")
		want(t, n, "p", "1024-bit")
		want(t, n, "g", "2")
		want(t, n, "subjectPublicKey", "128-byte public value (1024 bits)")
		if c := hexValue(t, n, "clientDHNonce"); len(c) != 32 {
			t.Errorf("clientDHNonce of %d bytes", len(c))
		}
		spanEndsWith(t, tok, n, "clientDHNonce", hexValue(t, n, "clientDHNonce"))
		// The req-body around it.
		want(t, n, "kdc-options", "40810010")
		want(t, n, "cname", `AzureAD\MS-Organization-P2P-Access [2021]\S-1-12-1-1 (name-type -128)`)
		want(t, n, "ENCTYPE", "aes256-cts-hmac-sha1-96 (18)")
		want(t, n, "HostAddress", "netbios WIN10-1")
	}

	tok := gssframe.Frame(oid, 0x0600, rep)
	n := mustDecode(t, tok)
	want(t, n, "TOK_ID", "06 00 (KRB_AS_REP (PKU2U))")
	want(t, n, "PA-DATA", "PA-PK-AS-REP (17)")
	spanEndsWith(t, tok, n, "padata-value", paRep)
	want(t, n, "PA-PK-AS-REP", "dhInfo")
	want(t, n, "dhSignedData", "SignedData (bare, without a ContentInfo, as Windows sends it)")
	want(t, n, "eContentType", "1.3.6.1.5.2.3.2 (id-pkinit-DHKeyData)")
	want(t, n, "SignerInfo", "CN=cc3d96b4-0a0d-4a5d-8bfb-8d6ea8d955d2,DC=4c5a5ec1-9ac5-4612-9b4c-6bed178bb65a")
	want(t, n, "identity", "AZRDOWN-W10")
	want(t, n, "subjectPublicKey", "128-byte public value (1024 bits)")
	want(t, n.Find("KDCDHKeyInfo"), "nonce", "0")
	if c := hexValue(t, n, "serverDHNonce"); len(c) != 32 {
		t.Errorf("serverDHNonce of %d bytes", len(c))
	}
	spanEndsWith(t, tok, n, "serverDHNonce", hexValue(t, n, "serverDHNonce"))
	if n.Find("kdf") != nil {
		t.Error("a kdf Windows does not send")
	}
}

// The recorded conversation (TestPKU2UTShark): PKU2U inside NegoEx inside SPNEGO.
func TestPKU2URecordedConversation(t *testing.T) {
	toks := loadRecording(t, pku2uNegoExFile).decoded
	if len(toks) != 4 {
		t.Fatalf("%d tokens", len(toks))
	}
	first := mustDecode(t, toks[0])
	im := first.Find("PKU2U INITIATOR_META_DATA")
	if im == nil {
		t.Fatalf("no PKU2U meta-data in\n%s", first.Tree())
	}
	want(t, im, "ExternalPrincipalIdentifier", "CN=gossp test P2P CA")
	want(t, im, "target", "host/server.contoso.test@WELLKNOWN:PKU2U")
	want(t, im, "realm", "WELLKNOWN:PKU2U")
	want(t, first, "TOK_ID", "05 00 (KRB_AS_REQ (PKU2U))")
	want(t, first, "signedAuthPack", "SignedData (bare, without a ContentInfo, as Windows sends it)")
	want(t, first, "clientPublicValue", "MODP group 14 (RFC 3526, 2048-bit)")
	want(t, first, "SignerInfo", "CN=alice@contoso.test")
	want(t, first, "sname", "host/server.contoso.test (name-type 3)")
	// The GSS-API token inside the NegoEx AP_REQUEST starts where the node says.
	g := first.Find("AP_REQUEST").Find("GSS-API InitialContextToken")
	if !bytes.HasPrefix(toks[0][g.Offset:], []byte{0x60, 0x82}) || !bytes.Equal(toks[0][g.Offset+4:g.Offset+12], gssframe.OIDBytes(pku2u.OID)) {
		t.Errorf("the PKU2U token at %d: % x", g.Offset, toks[0][g.Offset:g.Offset+12])
	}
	spanEndsWith(t, toks[0], first, "clientDHNonce", hexValue(t, first, "clientDHNonce"))
	spanEndsWith(t, toks[0], first, "paChecksum", hexValue(t, first, "paChecksum"))

	second := mustDecode(t, toks[1])
	want(t, second.Find("PKU2U ACCEPTOR_META_DATA"), "ExternalPrincipalIdentifier", "CN=gossp test P2P CA")
	want(t, second, "TOK_ID", "06 00 (KRB_AS_REP (PKU2U))")
	want(t, second, "SignerInfo", "CN=server.contoso.test")
	// The acceptor echoes the initiator's PKAuthenticator nonce in its KDCDHKeyInfo.
	if a, b := first.Find("pkAuthenticator").Find("nonce"), second.Find("KDCDHKeyInfo").Find("nonce"); a == nil || b == nil || a.Value != b.Value {
		t.Errorf("nonces %v and %v", a, b)
	}
	spanEndsWith(t, toks[1], second, "serverDHNonce", hexValue(t, second, "serverDHNonce"))
	want(t, mustDecode(t, toks[2]), "TOK_ID", "01 00 (KRB_AP_REQ)")
	want(t, mustDecode(t, toks[2]), "ap-options", "20000000")
	want(t, mustDecode(t, toks[3]), "TOK_ID", "02 00 (KRB_AP_REP)")

	// The AS-REQ with its signedAuthPack in a ContentInfo (RFC 4556's form) shows the
	// same AuthPack.
	pdu := pku2uMessages(t, toks)[0].pdu
	view, _ := pkinitView(t, pdu)
	v := mustDecode(t, view)
	want(t, v, "signedAuthPack", "SignedData in a ContentInfo")
	want(t, v, "contentType", "1.2.840.113549.1.7.2 (id-signedData)")
	for _, name := range []string{"cusec", "ctime", "paChecksum", "clientDHNonce", "subjectPublicKey", "SignerInfo"} {
		want(t, v, name, first.Find(name).Value)
	}
}

// The recorded refusal: a bare AS-REQ and the acceptor's KRB-ERROR naming the issuer
// it trusts.
func TestPKU2URecordedRefusal(t *testing.T) {
	toks := loadRecording(t, pku2uRefusedFile).decoded
	req := mustDecode(t, toks[0])
	want(t, req, "thisMech", "1.3.6.1.5.2.7 (PKU2U)")
	want(t, req, "SignerInfo", "CN=mallory@elsewhere.test")
	want(t, req, "signatureAlgorithm", "1.2.840.10045.4.3.2 (ecdsa-with-SHA256)")
	n := mustDecode(t, toks[1])
	want(t, n, "TOK_ID", "03 00 (KRB_ERROR)")
	want(t, n, "error-code", "KDC_ERR_CLIENT_NOT_TRUSTED (62)")
	want(t, n, "TypedData", "TD-TRUSTED-CERTIFIERS (104)")
	want(t, n, "ExternalPrincipalIdentifier", "CN=gossp test P2P CA")
	want(t, n, "subjectName", "CN=gossp test P2P CA")
}

// A KRB-ERROR naming the DH groups the acceptor takes (TD-DH-PARAMETERS), as a PKU2U
// acceptor refuses group 2.
func TestDHParametersTypedData(t *testing.T) {
	var algs []pkix.AlgorithmIdentifier
	for _, g := range []*pkinit.Group{pkinit.Group14, pkinit.Group2} {
		a, err := g.AlgorithmIdentifier()
		if err != nil {
			t.Fatal(err)
		}
		algs = append(algs, a)
	}
	params, err := pkinit.MarshalDHParameters(algs)
	if err != nil {
		t.Fatal(err)
	}
	td := der(0x30, der(0x30, der(0xa0, der(0x02, []byte{109})), der(0xa1, der(0x04, params))))
	krbErr := func(edata []byte) []byte {
		return der(0x7e, der(0x30,
			der(0xa0, der(0x02, []byte{5})), der(0xa1, der(0x02, []byte{30})),
			der(0xa4, der(0x18, []byte("20261127003309Z"))), der(0xa5, der(0x02, []byte{0})),
			der(0xa6, der(0x02, []byte{65})), der(0xa9, der(0x1b, []byte("WELLKNOWN:PKU2U"))),
			der(0xac, der(0x04, edata))))
	}
	n := mustDecode(t, append([]byte{3, 0}, krbErr(td)...))
	want(t, n, "error-code", "KDC_ERR_DH_KEY_PARAMETERS_NOT_ACCEPTED (65)")
	want(t, n, "TypedData", "TD-DH-PARAMETERS (109)")
	var groups []string
	for _, a := range n.FindAll("AlgorithmIdentifier") {
		groups = append(groups, a.Value)
	}
	if strings.Join(groups, "; ") != pkinit.Group14.Name+"; "+pkinit.Group2.Name {
		t.Errorf("groups %q", groups)
	}
	// e-data that is neither TYPED-DATA nor METHOD-DATA stays bytes.
	m := mustDecode(t, krbErr(der(0x30, der(0x02, []byte{1}))))
	if e := m.Find("e-data"); e == nil || e.Value != "5 bytes" || len(e.Children) != 0 {
		t.Errorf("e-data %v", e)
	}
	// METHOD-DATA: a SEQUENCE OF PA-DATA.
	m = mustDecode(t, krbErr(der(0x30, der(0x30, der(0xa1, der(0x02, []byte{19})), der(0xa2, der(0x04, nil))))))
	want(t, m, "PA-DATA", "PA-ETYPE-INFO2 (19)")
}

// Broken PKINIT structures are refused with the offset of what is broken; inside
// NegoEx the exchange stays bytes, with the reason.
func TestPKINITMalformed(t *testing.T) {
	toks := loadRecording(t, pku2uNegoExFile).decoded
	pdu := pku2uMessages(t, toks)[0].pdu
	ap := mustDecode(t, pdu).Find("AuthPack")
	// The AuthPack's first field, [0] pkAuthenticator, retagged [7]: the AuthPack no
	// longer parses.
	at := ap.Offset + 4 // after the AuthPack's SEQUENCE header (a two-byte length)
	if pdu[ap.Offset+1] != 0x82 || pdu[at] != 0xa0 {
		t.Fatalf("AuthPack starts % x", pdu[ap.Offset:ap.Offset+6])
	}
	bad := bytes.Clone(pdu)
	bad[at] = 0xa7
	_, err := Decode(bad)
	var d *DecodeError
	if !errors.As(err, &d) || d.Offset != ap.Offset || !strings.Contains(d.Reason, "AuthPack") {
		t.Errorf("retagged pkAuthenticator: %v (AuthPack at %d)", err, ap.Offset)
	}

	tok := bytes.Clone(toks[0])
	i := bytes.Index(tok, pdu)
	tok[i+at] = 0xa7
	n := mustDecode(t, tok)
	x := n.Find("AP_REQUEST").Find("Exchange")
	if x.Find("ExchangeBytes") == nil || x.Find("error") == nil || !strings.Contains(x.Find("error").Value, "AuthPack") {
		t.Errorf("a broken PKU2U token in NegoEx:\n%s", x.Tree())
	}

	// A PA-PK-AS-REP whose choice is [5]: refused at the padata-value.
	rep := pku2uMessages(t, toks)[1].pdu
	v := mustDecode(t, rep).Find("padata-value")
	bad = bytes.Clone(rep)
	inner := v.Offset + 8 // [2] 82 LL LL, OCTET STRING 82 LL LL
	if bad[inner] != 0xa0 {
		t.Fatalf("PA-PK-AS-REP starts % x", bad[inner:inner+4])
	}
	bad[inner] = 0xa5
	if _, err := Decode(bad); !errors.As(err, &d) || d.Offset != inner || !strings.Contains(d.Reason, "PA-PK-AS-REP") {
		t.Errorf("PA-PK-AS-REP [5]: %v (at %d)", err, inner)
	}
}

// Windows-shaped PKU2U meta-data (the encodings picky-rs, which interoperates with
// Windows, expects; internal/pkinit's tests hold them): issuers named in BMPString, and
// the initiator's TERMSRV target.
func TestPKU2UMetaDataWindows(t *testing.T) {
	initiator := mustHex(t, "3081e6a081a93081a63051804f304d314b304906035504031e42004d0053002d004f007200670061006e0069007a006100740069006f006e002d005000320050002d0041006300630065007300730020005b0032003000320031005d3051804f304d314b304906035504031e42004d0053002d004f007200670061006e0069007a006100740069006f006e002d005000320050002d0041006300630065007300730020005b0032003000320031005da1383036a0111b0f57454c4c4b4e4f574e3a504b553255a121301fa003020102a11830161b075445524d5352561b0b415a52444f574e2d573130")
	acceptor := mustHex(t, "308180a07e307c3051804f304d314b304906035504031e42004d0053002d004f007200670061006e0069007a006100740069006f006e002d005000320050002d0041006300630065007300730020005b0032003000320031005d3027802530233121301f06035504031318546f6b656e205369676e696e67205075626c6963204b6579")
	conv := sspi.MustParseGUID("2919e2ef-430c-0728-ea25-13b1040a90e1")
	var tok []byte
	for i, md := range []struct {
		typ negoex.MessageType
		b   []byte
	}{{negoex.InitiatorMetaData, initiator}, {negoex.AcceptorMetaData, acceptor}} {
		m := negoex.Message{Type: md.typ, Seq: uint32(i), ConversationID: conv, AuthScheme: pku2u.AuthScheme, Exchange: md.b}
		tok = m.Append(tok)
	}
	n := mustDecode(t, tok)
	im, am := n.Find("PKU2U INITIATOR_META_DATA"), n.Find("PKU2U ACCEPTOR_META_DATA")
	if im == nil || am == nil {
		t.Fatalf("meta-data not dissected:\n%s", n.Tree())
	}
	var issuers []string
	for _, e := range n.FindAll("ExternalPrincipalIdentifier") {
		issuers = append(issuers, e.Value)
	}
	if got := strings.Join(issuers, "; "); got != "CN=MS-Organization-P2P-Access [2021]; CN=MS-Organization-P2P-Access [2021]; "+
		"CN=MS-Organization-P2P-Access [2021]; CN=Token Signing Public Key" {
		t.Errorf("issuers %s", got)
	}
	want(t, im, "target", "TERMSRV/AZRDOWN-W10@WELLKNOWN:PKU2U")
	want(t, im, "principalName", "TERMSRV/AZRDOWN-W10 (name-type 2)")
	if am.Find("target") != nil {
		t.Error("a target in the acceptor's meta-data")
	}
	// Each identifier's span is its DER in the meta-data.
	first := im.Find("ExternalPrincipalIdentifier")
	if !bytes.Equal(tok[first.Offset:first.Offset+first.Length], initiator[9:9+0x53]) {
		t.Errorf("first issuer at %d+%d: % x", first.Offset, first.Length, tok[first.Offset:first.Offset+8])
	}
	// Meta-data PKU2U cannot parse stays bytes, with the reason.
	bad := negoex.Message{Type: negoex.InitiatorMetaData, ConversationID: conv, AuthScheme: pku2u.AuthScheme, Exchange: []byte{0x30, 0x03, 0x02, 0x01, 0x00}}
	n = mustDecode(t, bad.Append(nil))
	if n.Find("ExchangeBytes") == nil || n.Find("error") == nil {
		t.Errorf("unparsable meta-data:\n%s", n.Tree())
	}
}
