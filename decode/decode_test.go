package decode

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// recording is a handshake recorded with a real peer (packages/ntlm/testdata,
// negotiate/testdata): its tokens in wire order, the initiator's first.
type recording struct {
	Peer    string
	Role    string `json:"our_role"`
	Tokens  []string
	Name    string `json:"-"`
	decoded [][]byte
}

func loadRecording(t testing.TB, path string) *recording {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := &recording{Name: path}
	if err := json.Unmarshal(data, r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for i, h := range r.Tokens {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatalf("%s token %d: %v", path, i, err)
		}
		r.decoded = append(r.decoded, b)
	}
	return r
}

var recordings = []string{
	"../packages/ntlm/testdata/gss-ntlmssp-ours-acceptor.json",
	"../packages/ntlm/testdata/gss-ntlmssp-ours-initiator.json",
	"../negotiate/testdata/impacket-spnego-ours-acceptor.json",
	"../negotiate/testdata/mit-spnego-ours-acceptor.json",
	"../negotiate/testdata/mit-spnego-ours-initiator-fallback.json",
	"../negotiate/testdata/mit-spnego-ours-initiator.json",
	"../negotiate/testdata/samba-spnego-ours-acceptor.json",
}

// hexLines reads a file of tokens, one a line, hex in the last field; '#' comments.
func hexLines(t testing.TB, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		fields := strings.Fields(l)
		if b, err := hex.DecodeString(fields[len(fields)-1]); err == nil && len(b) > 8 {
			out = append(out, b)
		}
	}
	return out
}

// negoexExchanges reads the SPNEGO tokens of MIT's negoextest runs, one exchange per
// "########" section, in wire order.
func negoexExchanges(t testing.TB) [][][]byte {
	t.Helper()
	data, err := os.ReadFile("../negoex/testdata/mit-1.20.1-negoextest.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out [][][]byte
	for _, sec := range strings.Split(string(data), "########")[1:] {
		var ex [][]byte
		for _, l := range strings.Split(sec, "\n") {
			f := strings.Fields(l)
			if len(f) == 3 && (f[0] == "I->A" || f[0] == "A->I") {
				b, err := hex.DecodeString(f[2])
				if err != nil {
					t.Fatal(err)
				}
				ex = append(ex, b)
			}
		}
		if len(ex) > 0 {
			out = append(out, ex)
		}
	}
	return out
}

// The MS-NLMP 4.2 messages (packages/ntlm/vectors_test.go).
var nlmpV2Challenge = "4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef00000000000000002400240044000000060070170000000f53006500720076006500720002000c0044006f006d00610069006e0001000c0053006500720076006500720000000000"
var nlmpV2Authenticate = "4e544c4d5353500003000000180018006c00000054005400840000000c000c00480000000800080054000000100010005c00000010001000d8000000358288e20501280a0000000f44006f006d00610069006e00550073006500720043004f004d005000550054004500520086c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa68cd0ab851e51c96aabc927bebef6a1c01010000000000000000000000000000aaaaaaaaaaaaaaaa0000000002000c0044006f006d00610069006e0001000c005300650072007600650072000000000000000000c5dad2544fc9799094ce1ce90bc9d03e"
var nlmpV1Authenticate = "4e544c4d5353500003000000180018006c00000018001800840000000c000c00480000000800080054000000100010005c000000100010009c000000358280e20501280a0000000f44006f006d00610069006e00550073006500720043004f004d005000550054004500520098def7b87f88aa5dafe2df779688a172def11c7d5ccdef1367c43011f30298a2ad35ece64f16331c44bdbed927841f94518822b1b3f350c8958682ecbb3e3cb7"

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustDecode(t testing.TB, b []byte) *Node {
	t.Helper()
	n, err := Decode(b)
	if err != nil {
		t.Fatalf("Decode: %v\n%s", err, hex.Dump(b))
	}
	checkSpans(t, n, len(b))
	return n
}

// checkSpans requires every node to lie inside the input.
func checkSpans(t testing.TB, n *Node, size int) {
	t.Helper()
	if n.Offset < 0 || n.Length < 0 || n.Offset+n.Length > size {
		t.Errorf("%s at %d+%d outside the %d-byte input", n.Name, n.Offset, n.Length, size)
	}
	for _, c := range n.Children {
		checkSpans(t, c, size)
	}
}

// want asserts the value of the first node named name under n.
func want(t testing.TB, n *Node, name, value string) {
	t.Helper()
	f := n.Find(name)
	if f == nil {
		t.Errorf("no %q in\n%s", name, n.Tree())
		return
	}
	if f.Value != value {
		t.Errorf("%s = %q, want %q", name, f.Value, value)
	}
}

func TestGSSNTLMSSPRecording(t *testing.T) {
	r := loadRecording(t, "../packages/ntlm/testdata/gss-ntlmssp-ours-acceptor.json")
	neg := mustDecode(t, r.decoded[0])
	want(t, neg, "NTLM Message Type", "NTLMSSP_NEGOTIATE (0x00000001)")
	want(t, neg, "Negotiate Flags", "0xe2088237")
	if f := neg.Find("Negotiate Flags"); f.Find("KEY_EXCH") == nil || f.Find("SIGN") == nil || f.Find("TARGET_INFO") != nil {
		t.Errorf("flag names:\n%s", f.Tree())
	}
	want(t, neg, "Version", "6.2.0 (NTLM revision 15)")

	ch := mustDecode(t, r.decoded[1])
	want(t, ch, "Target Name", "WORKGROUP")
	want(t, ch, "NTLM Server Challenge", "42d336099f8401b5")
	want(t, ch, "MsvAvNbComputerName", "GOSSP")
	want(t, ch, "MsvAvDnsComputerName", "gossp")
	want(t, ch, "MsvAvTimestamp", "2026-11-27T00:19:11Z")
	if f := ch.Find("NTLM Server Challenge"); f.Offset != 24 || f.Length != 8 {
		t.Errorf("ServerChallenge at %d+%d, want 24+8", f.Offset, f.Length)
	}
	if f := ch.Find("Target Name"); f.Offset != 56 || f.Length != 18 {
		t.Errorf("TargetName at %d+%d, want 56+18", f.Offset, f.Length)
	}

	au := mustDecode(t, r.decoded[2])
	want(t, au, "User name", "alice")
	want(t, au, "Domain name", "TESTDOM")
	want(t, au, "Host name", "VM")
	want(t, au, "NTLM Response", "154 bytes (NTLMv2)")
	want(t, au, "MsvAvFlags", "0x00000000")
	want(t, au, "MsvAvTargetName", "HTTP/localhost")
	want(t, au, "NTLMv2 Client Challenge", "1f5501ad2bee9501")
}

func TestSPNEGORecordings(t *testing.T) {
	r := loadRecording(t, "../negotiate/testdata/mit-spnego-ours-initiator.json")
	init := mustDecode(t, r.decoded[0])
	want(t, init, "thisMech", "1.3.6.1.5.5.2 (SPNEGO)")
	want(t, init, "MechType", "1.3.6.1.4.1.311.2.2.10 (NTLMSSP)")
	want(t, init, "NTLM Message Type", "NTLMSSP_NEGOTIATE (0x00000001)")
	if f := init.Find("thisMech"); f.Offset != 2 || f.Length != 8 {
		t.Errorf("thisMech at %d+%d", f.Offset, f.Length)
	}
	resp := mustDecode(t, r.decoded[1])
	want(t, resp, "negState", "accept-incomplete (1)")
	want(t, resp, "supportedMech", "1.3.6.1.4.1.311.2.2.10 (NTLMSSP)")
	want(t, resp, "NTLM Message Type", "NTLMSSP_CHALLENGE (0x00000002)")
	auth := mustDecode(t, r.decoded[2])
	want(t, auth, "User name", "alice")
	want(t, auth, "MsvAvFlags", "0x00000002")
	if f := auth.Find("MsvAvFlags"); f.Find("MIC present") == nil {
		t.Error("MIC present flag not named")
	}
	if f := auth.Find("MIC"); f == nil || !strings.HasSuffix(f.Value, "(MsvAvFlags: MIC present)") {
		t.Errorf("MIC: %v", f)
	}
	want(t, auth, "SeqNum", "0")
	fin := mustDecode(t, r.decoded[3])
	want(t, fin, "negState", "accept-completed (0)")
	want(t, fin, "Checksum", "23c6d481e4ea9ebc")

	// The fallback: our NegTokenInit offers two mechanisms; MIT asks for a MIC.
	r = loadRecording(t, "../negotiate/testdata/mit-spnego-ours-initiator-fallback.json")
	init = mustDecode(t, r.decoded[0])
	if ms := init.FindAll("MechType"); len(ms) != 2 || ms[1].Value != "1.3.6.1.4.1.311.2.2.10 (NTLMSSP)" {
		t.Errorf("mechTypes %v", ms)
	}
	want(t, mustDecode(t, r.decoded[1]), "negState", "request-mic (3)")

	// impacket's exchange.
	r = loadRecording(t, "../negotiate/testdata/impacket-spnego-ours-acceptor.json")
	want(t, mustDecode(t, r.decoded[0]), "NTLM Message Type", "NTLMSSP_NEGOTIATE (0x00000001)")
	want(t, mustDecode(t, r.decoded[2]), "User name", "alice")
}

func TestEveryRecordingDecodes(t *testing.T) {
	for _, p := range recordings {
		r := loadRecording(t, p)
		for i, b := range r.decoded {
			n, err := Decode(b)
			if err != nil {
				t.Errorf("%s token %d: %v", p, i, err)
				continue
			}
			checkSpans(t, n, len(b))
		}
	}
	for _, p := range []string{"../negotiate/testdata/mit-spnego-ntlm.txt", "../internal/interop/dissect/testdata/spnego-ntlm.hex",
		"../internal/interop/dissect/testdata/spnego-negoex.hex", "../internal/interop/dissect/testdata/ntlm.hex",
		"../internal/interop/dissect/testdata/negtokeninit2.hex"} {
		for i, b := range hexLines(t, p) {
			if _, err := Decode(b); err != nil {
				t.Errorf("%s token %d: %v", p, i, err)
			}
		}
	}
}

func TestNegTokenInit2(t *testing.T) {
	toks := hexLines(t, "../internal/interop/dissect/testdata/negtokeninit2.hex")
	n := mustDecode(t, toks[0])
	if n.Find("negTokenInit2") == nil {
		t.Fatalf("not a NegTokenInit2:\n%s", n.Tree())
	}
	want(t, n, "hintName", "not_defined_in_RFC4178@please_ignore")
}

func TestNegoExExchanges(t *testing.T) {
	exs := negoexExchanges(t)
	if len(exs) < 4 {
		t.Fatalf("%d exchanges", len(exs))
	}
	first := mustDecode(t, exs[0][0])
	var types []string
	for _, m := range first.Find("NEGOEX").Children {
		types = append(types, m.Name+" "+m.Value)
	}
	if got := strings.Join(types, ","); got != "INITIATOR_NEGO seq 0,INITIATOR_META_DATA seq 1,INITIATOR_META_DATA seq 2,AP_REQUEST seq 3,VERIFY seq 4" {
		t.Errorf("messages: %s", got)
	}
	want(t, first, "thisMech", "1.3.6.1.5.5.2 (SPNEGO)")
	want(t, first, "MechType", "1.3.6.1.4.1.311.2.2.30 (NegoEx)")
	want(t, first, "ConversationId", "2ea0c895-ab11-1f7b-9f8f-b735d0262745")
	want(t, first, "AuthScheme", "c0a28569-66ac-0000-0000-000000000000")
	want(t, first, "ChecksumType", "16 (hmac-sha1-96-aes256)")
	want(t, first, "ChecksumValue", "429ec14f770739b8634414d3")
	// The second message starts at 128 in the NegoEx token, which starts after the
	// GSS-API and SPNEGO headers.
	nego := first.Find("NEGOEX")
	if m := nego.Children[1]; m.Offset != nego.Offset+128 || m.Length != 65 {
		t.Errorf("INITIATOR_META_DATA at %d+%d, NegoEx at %d", m.Offset, m.Length, nego.Offset)
	}
	// The alert exchange: an ALERT with the VERIFY_NO_KEY pulse.
	var alert *Node
	for _, ex := range exs {
		for _, b := range ex {
			if n := mustDecode(t, b); n.Find("ALERT") != nil {
				alert = n
			}
		}
	}
	if alert == nil {
		t.Fatal("no ALERT in the recordings")
	}
	want(t, alert, "Reason", "ALERT_VERIFY_NO_KEY (1)")
	want(t, alert, "Alert", "ALERT_TYPE_PULSE, 8 bytes")
	want(t, alert, "supportedMech", "1.3.6.1.4.1.311.2.2.30 (NegoEx)")
}

func TestNLMPVectors(t *testing.T) {
	ch := mustDecode(t, mustHex(t, nlmpV2Challenge))
	want(t, ch, "Target Name", "Server")
	want(t, ch, "NTLM Server Challenge", "0123456789abcdef")
	want(t, ch, "Version", "6.0.6000 (NTLM revision 15)")
	want(t, ch, "MsvAvNbDomainName", "Domain")
	want(t, ch, "MsvAvNbComputerName", "Server")
	want(t, ch, "Negotiate Flags", "0xe28a8233")

	au := mustDecode(t, mustHex(t, nlmpV2Authenticate))
	want(t, au, "User name", "User")
	want(t, au, "Domain name", "Domain")
	want(t, au, "Host name", "COMPUTER")
	want(t, au, "Version", "5.1.2600 (NTLM revision 15)")
	want(t, au, "NTProofStr", "68cd0ab851e51c96aabc927bebef6a1c")
	want(t, au, "NTLMv2 Client Challenge", "aaaaaaaaaaaaaaaa")
	want(t, au, "Time", "1601-01-01T00:00:00Z")
	want(t, au, "LMv2 Client Challenge", "aaaaaaaaaaaaaaaa")
	want(t, au, "Session Key", "c5dad2544fc9799094ce1ce90bc9d03e")
	if au.Find("MIC") != nil {
		t.Error("MIC shown for a message whose payload starts at 72")
	}
	if f := au.Find("User name"); f.Offset != 0x54 || f.Length != 8 || f.Find("Offset").Offset != 40 {
		t.Errorf("User name at %d+%d", f.Offset, f.Length)
	}
	v1 := mustDecode(t, mustHex(t, nlmpV1Authenticate))
	want(t, v1, "NTLM Response", "24 bytes (NTLMv1)")
}

func TestKerberosOutlines(t *testing.T) {
	// A minimal AP-REQ inside GSS-API framing: pvno 5, msg-type 14, ap-options, a
	// Ticket for HTTP/host@EXAMPLE.COM, an authenticator.
	apreq := der(0x6e, der(0x30,
		der(0xa0, der(0x02, []byte{5})),
		der(0xa1, der(0x02, []byte{14})),
		der(0xa2, der(0x03, []byte{0, 0x20, 0, 0, 0})),
		der(0xa3, der(0x61, der(0x30,
			der(0xa0, der(0x02, []byte{5})),
			der(0xa1, der(0x1b, []byte("EXAMPLE.COM"))),
			der(0xa2, der(0x30, der(0xa0, der(0x02, []byte{2})), der(0xa1, der(0x30, der(0x1b, []byte("HTTP")), der(0x1b, []byte("host")))))),
			der(0xa3, der(0x30, der(0xa0, der(0x02, []byte{18})), der(0xa1, der(0x02, []byte{2})), der(0xa2, der(0x04, make([]byte, 20)))))))),
		der(0xa4, der(0x30, der(0xa0, der(0x02, []byte{18})), der(0xa2, der(0x04, make([]byte, 30))))),
	))
	krb5 := mustHex(t, "06092a864886f712010202")
	tok := der(0x60, krb5, []byte{1, 0}, apreq)
	n := mustDecode(t, tok)
	want(t, n, "thisMech", "1.2.840.113554.1.2.2 (Kerberos 5)")
	want(t, n, "TOK_ID", "01 00 (KRB_AP_REQ)")
	want(t, n, "AP-REQ", "krb-ap-req (14)")
	want(t, n, "pvno", "5")
	want(t, n, "realm", "EXAMPLE.COM")
	want(t, n, "sname", "HTTP/host (name-type 2)")
	want(t, n, "enc-part", "etype 18, kvno 2, cipher 20 bytes")
	want(t, n, "authenticator", "etype 18, cipher 30 bytes")

	krbErr := der(0x7e, der(0x30,
		der(0xa0, der(0x02, []byte{5})), der(0xa1, der(0x02, []byte{30})),
		der(0xa4, der(0x18, []byte("20261127003309Z"))), der(0xa5, der(0x02, []byte{0})),
		der(0xa6, der(0x02, []byte{25})), der(0xa9, der(0x1b, []byte("EXAMPLE.COM")))))
	n = mustDecode(t, krbErr)
	want(t, n, "KRB-ERROR", "krb-error (30)")
	want(t, n, "error-code", "KDC_ERR_PREAUTH_REQUIRED (25)")
	want(t, n, "stime", "20261127003309Z")
	n = mustDecode(t, append([]byte{3, 0}, krbErr...))
	want(t, n, "Kerberos", "KRB_ERROR")

	asReq := der(0x6a, der(0x30, der(0xa1, der(0x02, []byte{5})), der(0xa2, der(0x02, []byte{10})),
		der(0xa4, der(0x30, der(0xa2, der(0x1b, []byte("EXAMPLE.COM")))))))
	n = mustDecode(t, asReq)
	want(t, n, "AS-REQ", "krb-as-req (10)")
	want(t, n, "realm", "EXAMPLE.COM")

	mic := mustHex(t, "040401ffffffffff00000000000000071122334455667788990011aa")
	n = mustDecode(t, mic)
	want(t, n, "Kerberos", "MIC token (RFC 4121)")
	want(t, n, "SND_SEQ", "7")
	if n.Find("Flags").Find("SentByAcceptor") == nil {
		t.Errorf("flags: %s", n.Tree())
	}
	wrap := mustHex(t, "050406ff0010001c000000000000002a"+"00112233")
	n = mustDecode(t, wrap)
	want(t, n, "Kerberos", "Wrap token (RFC 4121)")
	want(t, n, "EC", "16")
	want(t, n, "RRC", "28")
	want(t, n, "SND_SEQ", "42")
}

// der builds a DER element.
func der(tag byte, parts ...[]byte) []byte {
	body := []byte{}
	for _, p := range parts {
		body = append(body, p...)
	}
	out := []byte{tag}
	switch n := len(body); {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	default:
		out = append(out, 0x82, byte(n>>8), byte(n))
	}
	return append(out, body...)
}

func TestNTLMSignature(t *testing.T) {
	// A wrap token gossp sent gss-ntlmssp (packages/ntlm/testdata).
	n := mustDecode(t, mustHex(t, "01000000f4c7f5e605c92d3c000000001f46911806baccec34315a2c"))
	want(t, n, "NTLMSSP wrap token", "")
	want(t, n, "Checksum", "f4c7f5e605c92d3c")
	want(t, n, "Sealed data", "12 bytes")
}

func TestParseForms(t *testing.T) {
	want := []byte{0xa1, 0x07, 0x30, 0x05}
	for _, in := range []string{"a1073005", "a1 07 30 05", "A1:07:30:05", "oQcwBQ==", "oQcwBQ", "Negotiate oQcwBQ==",
		"NTLM oQcwBQ==", "Authorization: Negotiate oQcwBQ==", "WWW-Authenticate: Negotiate oQcwBQ==",
		"proxy-authorization: negotiate oQcwBQ==\r\n", "a1073005\n"} {
		got, err := Parse(in)
		if err != nil || string(got) != string(want) {
			t.Errorf("Parse(%q) = %x, %v", in, got, err)
		}
	}
	// URL-safe base64.
	if got, err := Parse("-_8"); err != nil || hex.EncodeToString(got) != "fbff" {
		t.Errorf("URL base64: %x %v", got, err)
	}
	for _, in := range []string{"", "Negotiate", "not a token!"} {
		if _, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) succeeded", in)
		}
	}
	// A real header from a recording decodes end to end.
	r := loadRecording(t, "../negotiate/testdata/samba-spnego-ours-acceptor.json")
	b, err := Parse("Authorization: Negotiate " + b64(r.decoded[0]))
	if err != nil {
		t.Fatal(err)
	}
	if n := mustDecode(t, b); n.Find("NTLMSSP") == nil {
		t.Errorf("no NTLMSSP in\n%s", n.Tree())
	}
}

func TestMalformed(t *testing.T) {
	r := loadRecording(t, "../negotiate/testdata/mit-spnego-ours-initiator.json")
	auth := r.decoded[2]
	cut := func(b []byte, n int) []byte { return append([]byte(nil), b[:n]...) }
	edit := func(b []byte, at int, v ...byte) []byte {
		c := append([]byte(nil), b...)
		copy(c[at:], v)
		return c
	}
	ntlmAuth := loadRecording(t, "../packages/ntlm/testdata/gss-ntlmssp-ours-initiator.json").decoded[2]
	nego := negoexExchanges(t)[0][1]
	first := bytes.Index(nego, []byte("NEGOEXTS"))
	second := first + 8 + bytes.Index(nego[first+8:], []byte("NEGOEXTS"))
	for _, c := range []struct {
		name   string
		b      []byte
		offset int
		reason string
	}{
		{"empty", []byte{}, 0, "empty token"},
		{"unknown", []byte{0x42}, 0, "unknown token"},
		{"truncated NTLM", []byte("NTLMSSP\x00\x03\x00"), 10, "cut short"},
		{"NTLM type", []byte("NTLMSSP\x00\x09\x00\x00\x00"), 8, "unknown NTLMSSP message type 9"},
		{"NTLM descriptor", edit(ntlmAuth, 36+4, 0xff, 0xff), 36, "User name (offset"},
		{"GSS framing", []byte{0x60, 0x50, 0x06}, 0, "runs"},
		{"SPNEGO cut", cut(auth, 100), 0, "runs"},
		{"GSS trailing", append(append([]byte(nil), r.decoded[0]...), 0), len(r.decoded[0]), "after the GSS-API token"},
		{"NegoEx signature", edit(nego, second+7, 'X'), second, "no NEGOEXTS signature"},
		{"bad NegoEx", []byte("NEGOEXTS\x00\x00"), 0, "header cut short"},
		{"indefinite length", []byte{0xa1, 0x80, 0, 0}, 1, "indefinite"},
	} {
		_, err := Decode(c.b)
		var d *DecodeError
		if !errors.As(err, &d) {
			t.Errorf("%s: %v, want a DecodeError", c.name, err)
			continue
		}
		if d.Offset != c.offset || !strings.Contains(d.Reason, c.reason) {
			t.Errorf("%s: %v, want offset %d and %q", c.name, err, c.offset, c.reason)
		}
		if !strings.HasPrefix(err.Error(), "offset ") {
			t.Errorf("%s: %q", c.name, err)
		}
	}
}

func TestJSON(t *testing.T) {
	r := loadRecording(t, "../negotiate/testdata/mit-spnego-ours-acceptor.json")
	n := mustDecode(t, r.decoded[3])
	b, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	var back Node
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Find("negState").Value != "accept-completed (0)" || back.Find("SeqNum") == nil {
		t.Errorf("round trip lost fields: %s", b)
	}
	s := string(b)
	if !strings.HasPrefix(s, `{"name":"SPNEGO","offset":0,"length":29,"children":[`) || strings.Contains(s, `"value":""`) {
		t.Errorf("JSON: %s", s)
	}
}

func FuzzDecode(f *testing.F) {
	for _, p := range recordings {
		for _, b := range loadRecording(f, p).decoded {
			f.Add(b)
		}
	}
	for _, ex := range negoexExchanges(f) {
		for _, b := range ex {
			f.Add(b)
		}
	}
	// PKU2U: the recorded conversation and refusal, Windows' PKINIT captures in an
	// AS-REQ and an AS-REP, bare and framed.
	for _, p := range []string{pku2uNegoExFile, pku2uRefusedFile} {
		for _, b := range loadRecording(f, p).decoded {
			f.Add(b)
		}
	}
	req, rep := windowsPKINIT(f)
	f.Add(req)
	f.Add(append([]byte{6, 0}, rep...))
	f.Add(mustHex(f, nlmpV2Challenge))
	f.Add(mustHex(f, nlmpV2Authenticate))
	f.Add(mustHex(f, nlmpV1Authenticate))
	f.Add(mustHex(f, "050406ff0010001c000000000000002a00112233"))
	f.Add(der(0x60, mustHex(f, "06092a864886f712010202"), []byte{3, 0}, der(0x7e, der(0x30,
		der(0xa0, der(0x02, []byte{5})), der(0xa1, der(0x02, []byte{30})), der(0xa6, der(0x02, []byte{25})),
		der(0xaa, der(0x30, der(0xa0, der(0x02, []byte{2})), der(0xa1, der(0x30, der(0x1b, []byte("HTTP"))))))))))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := Decode(b)
		if err != nil {
			var d *DecodeError
			if !errors.As(err, &d) {
				t.Fatalf("error without an offset: %v", err)
			}
			if d.Offset < 0 || d.Offset > len(b) {
				t.Fatalf("error offset %d outside the %d-byte input: %v", d.Offset, len(b), err)
			}
			return
		}
		checkSpans(t, n, len(b))
		_ = n.Tree()
		if _, err := json.Marshal(n); err != nil {
			t.Fatal(err)
		}
	})
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
