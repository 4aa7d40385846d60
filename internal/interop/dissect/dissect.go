// Package dissect runs tokens through Wireshark's dissectors (tshark's gssapi, spnego,
// ntlmssp, negoex and spnego-krb5) and reports what they make of them, so that a test
// can require every token we emit to be dissected cleanly: not malformed, no expert info
// of severity Warning or worse, no bytes left undissected. It also hands back every
// field tshark decoded (spnego.negResult, which is negState, ntlmssp.messagetype,
// ntlmssp.negotiateflags, ...) for the test to assert what a third-party decoder saw.
//
// The tokens of one exchange go in wire order into one capture, as the packets of one
// TCP conversation, so the dissectors keep their state (a NegTokenResp's responseToken
// is decoded as NTLMSSP only because an earlier token chose NTLM) and know who sent
// what (the spnego dissector reads a NegTokenInit2 only from the server). Tokens
// alternate between initiator and acceptor, the initiator's first unless
// Options.AcceptorFirst. Each packet names the dissector for its token, picked from its
// first bytes (see Options.Dissector).
//
// Beyond tshark's own verdicts the harness checks, from the tag and length items of
// ber.show_internals, that no BER length runs past the end of the token (tshark's BER
// dissector silently cuts such a field short) and that every length is in DER's
// minimal form, and it reports bytes after the last item tshark decoded (trailing
// garbage, which the BER and NTLMSSP dissectors ignore without a word).
//
// It needs tshark only (the capture is written here, not by text2pcap), and is gated
// like every interop test: without GOSSP_INTEROP=1 and no tshark the test skips.
package dissect

import (
	"bytes"
	"context"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gossp/gossp/internal/interop"
	"github.com/gossp/gossp/negotiate"
)

// DefaultTimeout bounds one tshark run.
const DefaultTimeout = 30 * time.Second

// Options adjust a check. The zero value is the strict default.
type Options struct {
	// AcceptorFirst says the first token is the acceptor's (an acceptor-first
	// NegTokenInit2, as in SMB2); tokens alternate from there.
	AcceptorFirst bool
	// NegTokenInit2 accepts tshark's report on the negHints of a NegTokenInit2 it read
	// as a NegTokenInit, for tokens that are well-formed NegTokenInit2s and only that
	// report at the negHints offset (see negHintsOffset). With the token's direction
	// right (AcceptorFirst) tshark reads NegTokenInit2 as such and this is not needed.
	NegTokenInit2 bool
	// NegoExMechListMIC accepts tshark 4.0's report on the mechListMIC of a NegTokenResp
	// in an exchange whose selected mechanism is NegoEx: tshark hands those bytes to the
	// negoex dissector, which finds no NegoEx message in a checksum and calls the
	// packet malformed. Only that report is waived, at exactly the MIC (see
	// waiveNegoExMIC); the NegoEx messages of the responseToken beside it, and
	// everything else about the token, are still judged.
	NegoExMechListMIC bool
	// Dissector forces one dissector (GSSAPI, SPNEGO, NTLMSSP, NegoEx, Kerberos) for
	// every token instead of choosing by the first bytes: "NTLMSSP\0" goes to ntlmssp,
	// "NEGOEXTS" to negoex, 0x60 to gssapi, 0xa0/0xa1 to spnego, Kerberos messages and
	// per-message tokens to spnego-krb5, anything else to gssapi.
	Dissector string
	// Timeout bounds the tshark run; zero means DefaultTimeout.
	Timeout time.Duration
}

// Token is what tshark made of one token.
type Token struct {
	Index        int // 1-based, in the order given
	Bytes        []byte
	Dissector    string // the dissector the token was given to
	FromAcceptor bool   // the token was sent by the acceptor
	Protocols    string // frame.protocols: the dissectors that ran ("exported_pdu:gss-api:spnego:ntlmssp")
	// Fields holds every named field's displayed values ("show"), in tree order, by
	// field name; protocols appear with empty values. Integer fields read as tshark
	// shows them: spnego.negResult (negState) "1", ntlmssp.messagetype "0x00000001",
	// ntlmssp.negotiateflags "0xe2888215", ntlmssp.negotiatesign "1".
	Fields map[string][]string
	// Tree is the dissection tree as tshark displays it (tshark -V), without the
	// frame: the part every failure message shows.
	Tree string
	// Problems are the reasons the token is not clean; Waived what Options accepted.
	Problems []Problem
	Waived   []Problem

	conv   int    // the exchange's number in a run of several
	protos []span // where tshark ran each dissector on the token
	end    int    // where the last item tshark decoded ends
}

// span is the bytes of the token a dissector ran on.
type span struct {
	name      string
	pos, size int
}

// Field returns the first value of a field, "" if tshark did not report it.
func (t *Token) Field(name string) string {
	if v := t.Fields[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Values returns every value of a field, in tree order.
func (t *Token) Values(name string) []string { return t.Fields[name] }

// Uint returns the first value of an integer field ("0xe2888215", "20348").
func (t *Token) Uint(name string) (uint64, bool) {
	v, err := strconv.ParseUint(t.Field(name), 0, 64)
	return v, err == nil
}

// FieldBytes returns the first value of a bytes field ("01:00:00:00:a3:11"), nil if
// tshark did not report it or it is not bytes.
func (t *Token) FieldBytes(name string) []byte {
	s := t.Field(name)
	if s == "" {
		return nil
	}
	b, err := hex.DecodeString(strings.ReplaceAll(s, ":", ""))
	if err != nil {
		return nil
	}
	return b
}

// Has reports whether tshark reported the field (or protocol) at all.
func (t *Token) Has(name string) bool { _, ok := t.Fields[name]; return ok }

// Clean reports whether the token has no problems.
func (t *Token) Clean() bool { return len(t.Problems) == 0 }

// Report describes the token for a failure message: its problems, its tree and its hex.
func (t *Token) Report() string {
	var b strings.Builder
	from := "initiator"
	if t.FromAcceptor {
		from = "acceptor"
	}
	fmt.Fprintf(&b, "token %d (%d bytes from the %s, dissector %s, protocols %s)", t.Index, len(t.Bytes), from, t.Dissector, t.Protocols)
	for _, p := range t.Problems {
		fmt.Fprintf(&b, "\n  problem: %s", p)
	}
	for _, p := range t.Waived {
		fmt.Fprintf(&b, "\n  waived: %s", p)
	}
	b.WriteString("\n  tshark's dissection:\n")
	for _, l := range strings.Split(strings.TrimRight(t.Tree, "\n"), "\n") {
		b.WriteString("    " + l + "\n")
	}
	b.WriteString("  token:\n")
	for _, l := range strings.Split(strings.TrimRight(hex.Dump(t.Bytes), "\n"), "\n") {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}

// Result is what tshark made of an exchange.
type Result struct {
	Tokens  []*Token
	Version string // who dissected: "wireshark/4.0.17"
}

// Clean reports whether every token is clean.
func (r *Result) Clean() bool {
	for _, t := range r.Tokens {
		if !t.Clean() {
			return false
		}
	}
	return true
}

// Check dissects the tokens of one exchange, in wire order, and fails t (Errorf) with
// the dissection of every token that is malformed, carries expert info of severity
// Warning or worse, or leaves bytes undissected. It skips or fails by interop's rules
// when tshark is missing, and fails (Fatalf) when tshark cannot run.
func Check(t testing.TB, tokens ...[]byte) *Result { return Options{}.Check(t, tokens...) }

// Check is Check with options.
func (o Options) Check(t testing.TB, tokens ...[]byte) *Result {
	t.Helper()
	r := o.Dissect(t, tokens...)
	for _, tok := range r.Tokens {
		if !tok.Clean() {
			t.Errorf("tshark (%s) does not dissect %s", r.Version, tok.Report())
		}
	}
	return r
}

// Dissect runs tshark over the tokens and returns its verdicts without judging them.
// It skips or fails t like Check when tshark is missing or cannot run.
func (o Options) Dissect(t testing.TB, tokens ...[]byte) *Result {
	t.Helper()
	return o.dissectAll(t, exchange{tokens, o.AcceptorFirst})[0]
}

// exchange is the tokens of one handshake, alternating between the two sides.
type exchange struct {
	tokens        [][]byte
	acceptorFirst bool
}

// dissectAll dissects independent exchanges in one tshark run, each in a TCP
// conversation of its own.
func (o Options) dissectAll(t testing.TB, exchanges ...exchange) []*Result {
	t.Helper()
	tshark := interop.Command(t, "tshark")
	rs, err := o.run(t, tshark, exchanges)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return rs
}

func (o Options) run(t testing.TB, tshark string, exchanges []exchange) ([]*Result, error) {
	var toks []*Token
	for i, ex := range exchanges {
		more, err := o.prepare(ex, i)
		if err != nil {
			return nil, err
		}
		toks = append(toks, more...)
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	pdml, err := runTShark(ctx, tshark, t.TempDir(), toks)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (timeout %v)", err, timeout)
		}
		return nil, err
	}
	return o.judge(pdml, toks)
}

// prepare makes the Tokens of exchange number conv and picks their dissectors.
func (o Options) prepare(ex exchange, conv int) ([]*Token, error) {
	tokens := ex.tokens
	if len(tokens) == 0 {
		return nil, fmt.Errorf("dissect: no tokens")
	}
	if conv < 0 || conv >= maxConversations {
		return nil, fmt.Errorf("dissect: %d exchanges in one run", conv+1)
	}
	var toks []*Token
	for i, b := range tokens {
		if len(b) == 0 {
			return nil, fmt.Errorf("dissect: token %d is empty", i+1)
		}
		name := o.Dissector
		if name == "" {
			name = pickDissector(b)
		}
		toks = append(toks, &Token{Index: i + 1, Bytes: bytes.Clone(b), Dissector: name,
			FromAcceptor: i%2 == 1 != ex.acceptorFirst, conv: conv})
	}
	return toks, nil
}

// tsharkArgs are tshark's arguments after the capture file's name.
func tsharkArgs() []string {
	return []string{"-n",
		// Tag and length items for every BER element: the lengths are checked against
		// the token (analyser.berLength); they are left out of Tree and Fields.
		"-o", "ber.show_internals:TRUE",
		// DER: no superfluous leading zero bytes in integers.
		"-o", "ber.warn_too_many_bytes:TRUE",
		// Every token is whole: a short GSS-API token is malformed, not the first
		// piece of one to reassemble with the next packet.
		"-o", "gss-api.gssapi_reassembly:FALSE",
		"-T", "pdml"}
}

// runTShark writes the capture of toks in dir and returns tshark's PDML for it.
func runTShark(ctx context.Context, tshark, dir string, toks []*Token) ([]byte, error) {
	capture, err := pcapng(toks)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(dir, "tokens.pcapng")
	if err := os.WriteFile(file, capture, 0o600); err != nil {
		return nil, err
	}
	// A configuration directory of our own, so no personal preference (a disabled
	// protocol, a changed BER option) changes the verdicts.
	conf := filepath.Join(dir, "wireshark")
	if err := os.Mkdir(conf, 0o700); err != nil {
		return nil, err
	}
	args := append([]string{"-r", file}, tsharkArgs()...)
	cmd := exec.CommandContext(ctx, tshark, args...)
	cmd.Env = append(os.Environ(), "WIRESHARK_CONFIG_DIR="+conf, "LC_ALL=C")
	cmd.WaitDelay = time.Second
	var stdout bytes.Buffer
	var stderr interop.Output
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("dissect: %s %s: %w\n%s", tshark, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// judge reads tshark's PDML for toks into one Result per exchange.
func (o Options) judge(pdml []byte, toks []*Token) ([]*Result, error) {
	pkts, creator, err := parsePDML(bytes.NewReader(pdml))
	if err != nil {
		return nil, err
	}
	if len(pkts) != len(toks) {
		return nil, fmt.Errorf("dissect: tshark reported %d packets for %d tokens", len(pkts), len(toks))
	}
	var rs []*Result
	mechs := map[int]asn1.ObjectIdentifier{} // per exchange: the acceptor's supportedMech
	for i, t := range toks {
		t.analyse(&pkts[i])
		if _, resp, err := negotiate.ParseToken(t.Bytes); err == nil && resp != nil && t.FromAcceptor && len(resp.SupportedMech) > 0 {
			mechs[t.conv] = resp.SupportedMech
		}
		o.waive(t, mechs[t.conv])
		if i == 0 || t.conv != toks[i-1].conv {
			rs = append(rs, &Result{Version: creator})
		}
		rs[len(rs)-1].Tokens = append(rs[len(rs)-1].Tokens, t)
	}
	return rs, nil
}

// waive moves the problems Options accept from Problems to Waived. mech is the
// mechanism the acceptor selected in the token's exchange so far, nil if none.
func (o Options) waive(t *Token, mech asn1.ObjectIdentifier) {
	if o.NegTokenInit2 {
		waiveNegHints(t)
	}
	if o.NegoExMechListMIC {
		waiveNegoExMIC(t, mech)
	}
}

// waiveNegHints waives tshark's report on the negHints of a NegTokenInit2 it read as a
// NegTokenInit (see neghints.go).
func waiveNegHints(t *Token) {
	at, ok := negHintsOffset(t.Bytes)
	if !ok {
		return
	}
	misread := func(p Problem) bool {
		return p.Kind == Expert && p.Pos == at && p.Field == "ber.error.expected.octet_string" &&
			strings.Contains(p.Message, "OctetString expected but class:UNIVERSAL(0) Constructed tag:16")
	}
	if !slices.ContainsFunc(t.Problems, misread) {
		return
	}
	// The misreading, and the malformed mark tshark puts beside it.
	var keep []Problem
	for _, p := range t.Problems {
		if misread(p) || p.Kind == Malformed && p.Pos == at {
			t.Waived = append(t.Waived, p)
		} else {
			keep = append(keep, p)
		}
	}
	t.Problems = keep
}
