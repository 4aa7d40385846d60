package dissect

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/gossp/gossp/internal/interop"
	"github.com/gossp/gossp/negotiate"
)

// The fixtures are tokens gossp produced (and tshark 4.0.17 dissected cleanly):
//
//	testdata/ntlm.hex           raw NTLM NEGOTIATE, CHALLENGE, AUTHENTICATE (sealing asked for)
//	testdata/spnego-ntlm.hex    SPNEGO NegTokenInit(NTLM NEGOTIATE), NegTokenResp(CHALLENGE),
//	                            NegTokenResp(AUTHENTICATE + mechListMIC), NegTokenResp(mechListMIC)
//	testdata/negtokeninit2.hex  the acceptor-first NegTokenInit2
//	testdata/spnego-negoex.hex  Negotiate choosing NegoEx (PSK scheme, integrity): NegTokenInit
//	                            (INITIATOR_NEGO, AP_REQUEST), NegTokenResp(ACCEPTOR_NEGO,
//	                            CHALLENGE, VERIFY), NegTokenResp(AP_REQUEST, VERIFY +
//	                            mechListMIC), NegTokenResp(mechListMIC)
//
// The tests below break them in the ways an encoder can and require the harness to say so.

var update = flag.Bool("update", false, "rewrite testdata/verdicts.pdml.gz by running tshark")

func load(t testing.TB, name string) [][]byte {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		b, err := hex.DecodeString(strings.TrimSpace(sc.Text()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// edit returns a copy of b with f applied.
func edit(b []byte, f func(b []byte)) []byte {
	b = bytes.Clone(b)
	f(b)
	return b
}

// brokenCase is an exchange whose last token the harness must refuse, with the kind of
// problem it must report.
type brokenCase struct {
	name          string
	toks          [][]byte // the exchange; the last token is the broken one
	kind          string
	acceptorFirst bool
}

// broken breaks the fixtures in the ways an encoder can.
func broken(t testing.TB) []brokenCase {
	n := load(t, "ntlm.hex")
	s := load(t, "spnego-ntlm.hex")
	h := load(t, "negtokeninit2.hex")[0]
	le := binary.LittleEndian
	return []brokenCase{
		{"NTLM AUTHENTICATE cut short", [][]byte{n[2][:len(n[2])-40]}, Malformed, false},
		{"NTLM AUTHENTICATE cut in the fixed part", [][]byte{n[2][:60]}, Malformed, false},
		{"NTLM NEGOTIATE cut short", [][]byte{n[0][:20]}, Malformed, false},
		{"NTLM CHALLENGE target info past the end", [][]byte{edit(n[1], func(b []byte) { le.PutUint32(b[44:], 0xff) })}, Malformed, false},
		{"NTLM NEGOTIATE with trailing bytes", [][]byte{join(n[0], []byte{1, 2, 3, 4})}, Undissected, false},
		{"SPNEGO NegTokenInit cut short", [][]byte{s[0][:40]}, Malformed, false},
		{"SPNEGO NegTokenInit mechTypes longer than its field", [][]byte{edit(s[0], func(b []byte) { b[17] += 4 })}, Expert, false},
		{"SPNEGO NegTokenInit with trailing bytes", [][]byte{join(s[0], []byte{0, 0, 0})}, Undissected, false},
		{"SPNEGO NegTokenResp cut short", [][]byte{s[3][:20]}, Malformed, false},
		{"SPNEGO NegTokenResp with trailing bytes", [][]byte{join(s[3], []byte{0xde, 0xad})}, Undissected, false},
		{"SPNEGO NegTokenResp with an unknown field", [][]byte{join([]byte{0xa1, 0x1f, 0x30, 0x1d}, s[3][4:], []byte{0xa5, 0x02, 0x05, 0x00})}, Expert, false},
		{"SPNEGO NegTokenResp length not in DER", [][]byte{join([]byte{0xa1, 0x81}, s[3][1:])}, NotDER, false},
		// Whole BER around a broken NTLMSSP message: the spnego dissector hands the
		// responseToken to ntlmssp because the earlier tokens chose NTLM.
		{"SPNEGO NegTokenResp carrying a cut AUTHENTICATE", [][]byte{s[0], s[1], negTokenResp(n[2][:len(n[2])-40])}, Malformed, false},
		{"NegTokenInit2 with trailing bytes", [][]byte{join(h, []byte{0})}, Undissected, true},
	}
}

// negTokenResp is NegTokenResp { responseToken } in DER.
func negTokenResp(responseToken []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.Tag(1).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.Tag(2).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				b.AddASN1OctetString(responseToken)
			})
		})
	})
	return b.BytesOrPanic()
}

// TestBrokenTokens proves the harness fails what it must: each broken token is
// reported, with the expected kind of problem, and the intact tokens before it are not.
func TestBrokenTokens(t *testing.T) {
	interop.Command(t, "tshark")
	// One tshark run for all, each case in a conversation of its own.
	cases := broken(t)
	var exchanges []exchange
	for _, c := range cases {
		exchanges = append(exchanges, exchange{c.toks, c.acceptorFirst})
	}
	rs := Options{}.dissectAll(t, exchanges...)
	for i, c := range cases {
		r := rs[i]
		last := r.Tokens[len(r.Tokens)-1]
		if last.Clean() || !last.hasProblem(c.kind) {
			t.Errorf("%s: not reported as %s: problems %v\n%s", c.name, c.kind, last.Problems, last.Report())
		}
		for _, tok := range r.Tokens[:len(r.Tokens)-1] {
			if !tok.Clean() {
				t.Errorf("%s: intact token %d reported: %v", c.name, tok.Index, tok.Problems)
			}
		}
	}
}

// failRecorder is a testing.TB whose Errorf records instead of failing.
type failRecorder struct {
	testing.TB
	errs []string
}

func (f *failRecorder) Errorf(format string, args ...any) {
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}

// TestCheckFails proves Check fails the test, and with what a reader needs: the
// problem, tshark's dissection and the token.
func TestCheckFails(t *testing.T) {
	n := load(t, "ntlm.hex")
	rec := &failRecorder{TB: t}
	Check(rec, n[0], n[1], n[2][:len(n[2])-40])
	if len(rec.errs) != 1 {
		t.Fatalf("Check reported %d failures for one broken token: %q", len(rec.errs), rec.errs)
	}
	for _, want := range []string{"token 3", "malformed", "Malformed Packet: NTLMSSP", "NTLMSSP_AUTH", "4e 54 4c 4d 53 53 50 00"} {
		if !strings.Contains(rec.errs[0], want) {
			t.Errorf("failure message lacks %q:\n%s", want, rec.errs[0])
		}
	}
	rec = &failRecorder{TB: t}
	Check(rec, n...)
	if len(rec.errs) != 0 {
		t.Errorf("Check failed an intact exchange: %q", rec.errs)
	}
}

// TestCleanExchanges checks the fixtures dissect cleanly and what tshark reads back.
func TestCleanExchanges(t *testing.T) {
	r := Check(t, load(t, "ntlm.hex")...)
	for i, want := range []uint64{1, 2, 3} {
		if got, _ := r.Tokens[i].Uint("ntlmssp.messagetype"); got != want {
			t.Errorf("raw NTLM token %d: message type %d, want %d", i+1, got, want)
		}
	}
	auth := r.Tokens[2]
	if auth.Field("ntlmssp.auth.username") != "alice" || auth.Field("ntlmssp.auth.domain") != "TESTDOM" {
		t.Errorf("AUTHENTICATE user %q domain %q", auth.Field("ntlmssp.auth.username"), auth.Field("ntlmssp.auth.domain"))
	}
	if f, _ := auth.Uint("ntlmssp.negotiateflags"); f != uint64(binary.LittleEndian.Uint32(auth.Bytes[60:])) {
		t.Errorf("AUTHENTICATE flags %#x, token says %#x", f, binary.LittleEndian.Uint32(auth.Bytes[60:]))
	}

	r = Check(t, load(t, "spnego-ntlm.hex")...)
	var types, states []string
	for _, tok := range r.Tokens {
		types = append(types, tok.Field("ntlmssp.messagetype"))
		states = append(states, tok.Field("spnego.negResult"))
	}
	if want := []string{"0x00000001", "0x00000002", "0x00000003", ""}; !slices.Equal(types, want) {
		t.Errorf("NTLM message types %q, want %q", types, want)
	}
	if want := []string{"", "1", "", "0"}; !slices.Equal(states, want) {
		t.Errorf("negStates %q, want %q", states, want)
	}
	for _, i := range []int{2, 3} {
		if mic := r.Tokens[i].FieldBytes("spnego.mechListMIC"); len(mic) != 16 || r.Tokens[i].Field("ntlmssp.verf.vers") != "1" {
			t.Errorf("token %d: mechListMIC %x, NTLMSSP verifier version %q", i+1, mic, r.Tokens[i].Field("ntlmssp.verf.vers"))
		}
	}
}

// TestNegTokenInit2 checks that tshark reads our NegTokenInit2 as such when it comes
// from the acceptor, and that the negHints waiver for when it does not is narrow: needed
// for a real NegTokenInit2, and no help for a NegTokenInit whose [3] is a SEQUENCE but
// no negHints.
func TestNegTokenInit2(t *testing.T) {
	h := load(t, "negtokeninit2.hex")[0]
	at, ok := negHintsOffset(h)
	if !ok {
		t.Fatal("the fixture is not a NegTokenInit2")
	}
	r := Options{AcceptorFirst: true}.Check(t, h)
	if tok := r.Tokens[0]; tok.Field("spnego.hintName") != "not_defined_in_RFC4178@please_ignore" || len(tok.Waived) != 0 {
		t.Errorf("NegTokenInit2 from the acceptor: hintName %q, waived %v", tok.Field("spnego.hintName"), tok.Waived)
	}

	// From the initiator it is read as RFC 4178's NegTokenInit, and [3] as mechListMIC:
	// the waiver takes exactly that report. [3] { SEQUENCE { INTEGER 0 } } draws the
	// same report at the same place, but is no negHints: not waived. Nor is a
	// NegTokenInit2 with a byte too many.
	fake := append(bytes.Clone(h[:at]), 0x30, 0x03, 0x02, 0x01, 0x00)
	fake = fixLengths(fake, at)
	if _, ok := negHintsOffset(fake); ok {
		t.Fatal("negHintsOffset took a SEQUENCE of an INTEGER for negHints")
	}
	rs := Options{NegTokenInit2: true}.dissectAll(t, exchange{tokens: [][]byte{h}},
		exchange{tokens: [][]byte{fake}}, exchange{tokens: [][]byte{join(h, []byte{0})}})
	if tok := rs[0].Tokens[0]; !tok.Clean() || len(tok.Waived) != 2 || tok.Waived[0].Pos != at ||
		tok.Field("spnego.MechType") != "1.3.6.1.4.1.311.2.2.10" {
		t.Errorf("NegTokenInit2 from the initiator: problems %v, waived %v (negHints at %d), mechanism %q",
			tok.Problems, tok.Waived, at, tok.Field("spnego.MechType"))
	}
	for i, what := range []string{"a fake NegTokenInit2", "a NegTokenInit2 with a trailing byte"} {
		if tok := rs[i+1].Tokens[0]; tok.Clean() || len(tok.Waived) != 0 {
			t.Errorf("%s: problems %v, waived %v", what, tok.Problems, tok.Waived)
		}
	}
}

// TestNegoExMechListMIC checks the waiver of tshark's report on the mechListMIC of a
// NegoEx exchange: the report is there without it; with it, it is waived exactly at the
// MIC and nowhere else; it hides neither a broken NegoEx message in the responseToken
// beside the MIC, nor a MIC that is a (broken) NegoEx message, and it needs the
// exchange's mechanism to be NegoEx.
func TestNegoExMechListMIC(t *testing.T) {
	x := load(t, "spnego-negoex.hex")
	var at [4]int
	for i, tok := range x {
		a, n, ok := mechListMICSpan(tok)
		if ok != (i >= 2) || ok && (n != 25 || a+n != len(tok)) {
			t.Fatalf("token %d: mechListMIC at %d (%d bytes), %v", i+1, a, n, ok)
		}
		at[i] = a
	}

	// A NegoEx message broken beside the MIC: the VERIFY's checksum vector pointing
	// outside it. Our decoder refuses it too.
	le := binary.LittleEndian
	verify := bytes.LastIndex(x[2], []byte("NEGOEXTS"))
	brokenVerify := edit(x[2], func(b []byte) { le.PutUint32(b[verify+68:], 0xff00) })
	// A MIC that is the start of a NegoEx message, which tshark is right to refuse.
	negoexMIC := edit(x[3], func(b []byte) { copy(b[at[3]:], "NEGOEXTS\x07\x00\x00\x00") })

	exchanges := []exchange{
		{tokens: x},
		{tokens: [][]byte{x[0], x[1], brokenVerify}},
		{tokens: [][]byte{x[0], x[1], x[2], negoexMIC}},
	}
	strict := Options{}.dissectAll(t, exchanges[0])[0]
	for i, tok := range strict.Tokens {
		if tok.Clean() != (i < 2) || len(tok.Waived) != 0 {
			t.Errorf("without the waiver, token %d: problems %v, waived %v", i+1, tok.Problems, tok.Waived)
		}
	}
	rs := Options{NegoExMechListMIC: true}.dissectAll(t, exchanges...)
	for i, tok := range rs[0].Tokens {
		if !tok.Clean() {
			t.Errorf("intact token %d: %s", i+1, tok.Report())
		}
		if i < 2 && len(tok.Waived) != 0 {
			t.Errorf("token %d has no mechListMIC, yet waived %v", i+1, tok.Waived)
		}
		if i >= 2 && (len(tok.Waived) != 3 || slices.ContainsFunc(tok.Waived, func(p Problem) bool { return p.Pos != at[i] })) {
			t.Errorf("token %d: waived %v, want tshark's 3 reports at the mechListMIC, offset %d", i+1, tok.Waived, at[i])
		}
	}
	tok := rs[1].Tokens[2]
	if tok.Clean() || !tok.hasProblem(Malformed) || len(tok.Waived) != 3 ||
		slices.ContainsFunc(tok.Problems, func(p Problem) bool { return p.Pos >= at[2] }) {
		t.Errorf("a broken VERIFY beside the mechListMIC: problems %v, waived %v\n%s", tok.Problems, tok.Waived, tok.Report())
	}
	if tok := rs[2].Tokens[3]; tok.Clean() || len(tok.Waived) != 0 {
		t.Errorf("a mechListMIC that is a broken NegoEx message: problems %v, waived %v", tok.Problems, tok.Waived)
	}
	// The mechanism must be NegoEx: the same report in an NTLM exchange, or one whose
	// mechanism the harness does not know, stays.
	for _, mech := range []asn1.ObjectIdentifier{negotiate.OIDNTLM, nil} {
		tok := strict.Tokens[3]
		tok.Problems, tok.Waived = slices.Clone(tok.Problems), nil
		waiveNegoExMIC(tok, mech)
		if tok.Clean() || len(tok.Waived) != 0 {
			t.Errorf("mechanism %v: problems %v, waived %v", mech, tok.Problems, tok.Waived)
		}
	}
}

func TestMechListMICSpan(t *testing.T) {
	for i, tok := range load(t, "spnego-ntlm.hex") {
		_, resp, err := negotiate.ParseToken(tok)
		if err != nil {
			t.Fatal(err)
		}
		at, n, ok := mechListMICSpan(tok)
		hasMIC := resp != nil && resp.MechListMIC != nil
		if ok != hasMIC || ok && !bytes.Equal(tok[at:at+n], resp.MechListMIC) {
			t.Errorf("spnego token %d: MIC at %d (%d bytes), %v; ParseToken's %x", i+1, at, n, ok, resp.MechListMIC)
		}
		if _, _, ok := mechListMICSpan(join(tok, []byte{0})); ok {
			t.Errorf("spnego token %d with a trailing byte taken for a NegTokenResp", i+1)
		}
	}
	for _, bad := range [][]byte{{0xa1, 0x00}, {0xa1, 0x02, 0x30, 0x00}, {0xa1, 0x06, 0x30, 0x04, 0xa3, 0x02, 0x04, 0x00}, nil} {
		if _, _, ok := mechListMICSpan(bad); ok {
			t.Errorf("%x taken for a NegTokenResp with a mechListMIC", bad)
		}
	}
}

// fixLengths rewrites the short-form lengths of the elements enclosing offset at (the
// GSS-API framing's and NegTokenInit's, all of one byte here) after a change of
// length at the end of b.
func fixLengths(b []byte, at int) []byte {
	// 60 LL 06 06 <oid> a0 LL 30 LL a0 .. <mechTypes> a3 LL
	for _, p := range []int{1, 11, 13, at - 1} {
		b[p] = byte(len(b) - p - 1)
	}
	return b
}

// TestVerdictsFromPDML judges a recorded tshark run, so the analysis is tested where
// tshark is not installed. go test ./internal/interop/dissect -run TestVerdictsFromPDML
// -update re-records it.
func TestVerdictsFromPDML(t *testing.T) {
	// The intact exchange, then each broken case, then the NegTokenInit2 from the
	// acceptor (clean) and from the initiator (waived): each in its own conversation.
	var prepared []*Token
	var kinds []string
	add := func(acceptorFirst bool, toks [][]byte, kind string) {
		more, err := Options{}.prepare(exchange{toks, acceptorFirst}, len(kinds))
		if err != nil {
			t.Fatal(err)
		}
		prepared = append(prepared, more...)
		for range toks[1:] {
			kinds = append(kinds, "")
		}
		kinds = append(kinds, kind)
	}
	add(false, load(t, "spnego-ntlm.hex"), "")
	for _, c := range broken(t) {
		add(c.acceptorFirst, c.toks, c.kind)
	}
	h := load(t, "negtokeninit2.hex")[0]
	add(true, [][]byte{h}, "")
	add(false, [][]byte{h}, "")

	o := Options{NegTokenInit2: true}
	if *update {
		tshark, err := exec.LookPath("tshark")
		if err != nil {
			t.Fatal(err)
		}
		pdml, err := runTShark(t.Context(), tshark, t.TempDir(), prepared)
		if err != nil {
			t.Fatal(err)
		}
		var z bytes.Buffer
		w := gzip.NewWriter(&z)
		w.Write(pdml)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/verdicts.pdml.gz", z.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	z, err := os.ReadFile("testdata/verdicts.pdml.gz")
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	pdml, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := o.judge(pdml, prepared)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != len(broken(t))+3 || !strings.HasPrefix(rs[0].Version, "wireshark/") {
		t.Fatalf("%d results, version %q", len(rs), rs[0].Version)
	}
	for i, tok := range prepared {
		switch {
		case kinds[i] == "" && !tok.Clean():
			t.Errorf("token %d: %v", i+1, tok.Problems)
		case kinds[i] != "" && !tok.hasProblem(kinds[i]):
			t.Errorf("token %d: problems %v, want %s", i+1, tok.Problems, kinds[i])
		}
	}
	n := len(prepared)
	if tok := prepared[n-2]; len(tok.Waived) != 0 || tok.Field("spnego.hintName") == "" {
		t.Errorf("NegTokenInit2 from the acceptor: waived %v, hintName %q", tok.Waived, tok.Field("spnego.hintName"))
	}
	if tok := prepared[n-1]; len(tok.Waived) != 2 || tok.Tree == "" {
		t.Errorf("NegTokenInit2 from the initiator: waived %v, tree %q", tok.Waived, tok.Tree)
	}
}

func TestNegHintsOffset(t *testing.T) {
	h := load(t, "negtokeninit2.hex")[0]
	if at, ok := negHintsOffset(h); !ok || h[at] != 0x30 || h[at-2] != 0xa3 {
		t.Errorf("NegTokenInit2: %d, %v", at, ok)
	}
	for i, tok := range load(t, "spnego-ntlm.hex") {
		if _, ok := negHintsOffset(tok); ok {
			t.Errorf("spnego token %d taken for a NegTokenInit2", i+1)
		}
	}
	for _, bad := range [][]byte{h[:len(h)-1], join(h, []byte{0}), {0x60, 0x00}, nil} {
		if _, ok := negHintsOffset(bad); ok {
			t.Errorf("%x taken for a NegTokenInit2", bad)
		}
	}
}

func TestPickDissector(t *testing.T) {
	n := load(t, "ntlm.hex")
	s := load(t, "spnego-ntlm.hex")
	cases := []struct {
		tok  []byte
		want string
	}{
		{n[0], NTLMSSP}, {s[0], GSSAPI}, {s[1], SPNEGO}, {[]byte("NEGOEXTS\x00"), NegoEx},
		{[]byte{0x6e, 0x82}, Kerberos}, {[]byte{0x04, 0x04, 0x05}, Kerberos}, {[]byte{0xff}, GSSAPI},
	}
	for _, c := range cases {
		if got := pickDissector(c.tok); got != c.want {
			t.Errorf("pickDissector(%x...) = %s, want %s", c.tok[:min(len(c.tok), 8)], got, c.want)
		}
	}
}

func TestDERLengthOctets(t *testing.T) {
	for l, want := range map[int]int{0: 0, 127: 0, 128: 1, 255: 1, 256: 2, 65535: 2, 65536: 3} {
		if got := derLengthOctets(l); got != want {
			t.Errorf("derLengthOctets(%d) = %d, want %d", l, got, want)
		}
	}
}

// TestPcapng checks the capture's block structure and the packets' tags.
func TestPcapng(t *testing.T) {
	toks, err := Options{}.prepare(exchange{tokens: [][]byte{{0xa1, 0}, []byte("NTLMSSP\x00")}}, 3)
	if err != nil {
		t.Fatal(err)
	}
	b, err := pcapng(toks)
	if err != nil {
		t.Fatal(err)
	}
	le, be := binary.LittleEndian, binary.BigEndian
	var types []uint32
	var pkts [][]byte
	for len(b) > 0 {
		typ, n := le.Uint32(b), int(le.Uint32(b[4:]))
		if n%4 != 0 || n > len(b) || le.Uint32(b[n-4:]) != uint32(n) {
			t.Fatalf("block %#x of length %d", typ, n)
		}
		switch typ {
		case 1:
			if lt := le.Uint16(b[8:]); lt != linktypeUpperPDU {
				t.Errorf("link type %d", lt)
			}
		case 6:
			pkts = append(pkts, b[28:28+int(le.Uint32(b[20:]))])
		}
		types = append(types, typ)
		b = b[n:]
	}
	if !slices.Equal(types, []uint32{0x0A0D0D0A, 1, 6, 6}) {
		t.Fatalf("blocks %#x", types)
	}
	for i, p := range pkts {
		tags := map[uint16][]byte{}
		for off := 0; ; {
			tag, n := be.Uint16(p[off:]), int(be.Uint16(p[off+2:]))
			tags[tag] = p[off+4 : off+4+n]
			off += 4 + n
			if tag == tagEnd {
				if !bytes.Equal(p[off:], toks[i].Bytes) {
					t.Errorf("packet %d: after the tags %x", i, p[off:])
				}
				break
			}
		}
		sport, dport := be.Uint32(tags[tagSrcPort]), be.Uint32(tags[tagDstPort])
		if name := string(bytes.TrimRight(tags[tagDissectorName], "\x00")); name != toks[i].Dissector {
			t.Errorf("packet %d: dissector %q", i, name)
		}
		if sport+dport != acceptorPort+initiatorPort+3 || (sport == acceptorPort) != toks[i].FromAcceptor ||
			be.Uint32(tags[tagPortType]) != exportedPortTCP {
			t.Errorf("packet %d: ports %d to %d, from the acceptor %v", i, sport, dport, toks[i].FromAcceptor)
		}
	}
	if toks[0].FromAcceptor || !toks[1].FromAcceptor {
		t.Error("tokens do not alternate from the initiator")
	}
	if _, err := pduHeader("kerberos", false, 0); err == nil {
		t.Error("an unknown dissector name was accepted")
	}
}

// TestGate checks the harness skips without GOSSP_INTEROP when tshark is missing.
func TestGate(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv(interop.EnvVar, "")
	ran := false
	t.Run("gated", func(t *testing.T) {
		Check(t, []byte("NTLMSSP\x00"))
		ran = true
	})
	if ran {
		t.Error("Check went on without tshark")
	}
}
