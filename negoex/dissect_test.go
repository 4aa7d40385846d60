package negoex_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gossp/gossp/internal/interop/dissect"
	"github.com/gossp/gossp/negoex"
	"github.com/gossp/gossp/negotiate"
	"github.com/gossp/gossp/packages/psk"
	"github.com/gossp/gossp/sspi"
)

// Every NegoEx token we emit must be dissected cleanly by Wireshark's negoex dissector,
// which must read back every message as we meant it: its type, sequence number, lengths
// and conversation ID, the auth schemes, the exchanges, VERIFY's checksum (scheme, type,
// length, bytes) and ALERT's error code and alerts. MIT's recorded tokens go through the
// same checks, as a control. Inside SPNEGO, through Negotiate, the same holds, and
// tshark must read the SPNEGO around them as we meant it too.
//
// What tshark 4.0 does not do, and so is not asserted through it:
//   - It decodes an ALERT no further than its auth scheme and error code; the alert
//     vector and the alerts are one opaque negoex.data item ("The rest of the alert
//     message"). The test decodes the ALERT_PULSE from the bytes tshark reports.
//   - It hands the mechListMIC of a NegoEx exchange to the negoex dissector, which
//     calls it malformed: dissect.Options.NegoExMechListMIC waives exactly that.
//   - It misreads NEGO extensions (it looks for their values after the extension
//     vector's header, not at its ExtensionArrayOffset); we send none, and the test
//     requires tshark to read a count of zero.

// converse runs a handshake to its end and returns every token in wire order, the
// initiator's first.
func converse(t *testing.T, ini sspi.Initiator, acc sspi.Acceptor) [][]byte {
	t.Helper()
	ctx := context.Background()
	var wire [][]byte
	var in []byte
	for range 8 {
		out, st, err := ini.InitializeContext(ctx, in)
		if err != nil {
			t.Fatalf("initiator after %d tokens: %v", len(wire), err)
		}
		if len(out) == 0 {
			break
		}
		wire = append(wire, out)
		back, ast, err := acc.AcceptContext(ctx, out)
		if err != nil {
			t.Fatalf("acceptor after %d tokens: %v", len(wire), err)
		}
		if len(back) > 0 {
			wire = append(wire, back)
		}
		if ast == sspi.StatusOK && (st == sspi.StatusOK || len(back) == 0) {
			break
		}
		in = back
	}
	if !ini.Attributes().Established || !acc.Attributes().Established {
		t.Fatalf("the handshake ended unestablished after %d tokens", len(wire))
	}
	return wire
}

// contexts makes an initiator and an acceptor of p.
func contexts(t *testing.T, p sspi.Package, m any, flags sspi.ContextFlags) (sspi.Initiator, sspi.Acceptor) {
	t.Helper()
	ic, ac := creds(t, p, m)
	ini, err := ic.NewInitiator(sspi.ContextConfig{Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := ac.NewAcceptor(sspi.ContextConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return ini, acc
}

// mitPackage is NegoEx with MIT's negoextest schemes (hops legs each, the initiator
// keyed from the start if initKeys), as in MIT's recordings.
func mitPackage(t *testing.T, hops int, initKeys, noOptimist bool) *negoex.Package {
	t.Helper()
	p, err := negoex.New(negoex.Config{Schemes: negoex.MITSchemes(hops, initKeys), NoOptimisticToken: noOptimist})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// MS-NEGOEX 2.2.6's header lengths, by message type (the C structs, padded to 8).
var headerLen = map[negoex.MessageType]int{
	negoex.InitiatorNego: 96, negoex.AcceptorNego: 96,
	negoex.InitiatorMetaData: 64, negoex.AcceptorMetaData: 64, negoex.Challenge: 64, negoex.APRequest: 64,
	negoex.Verify: 80, negoex.Alert: 72,
}

// colonHex is a bytes field as tshark shows it: "4e:45:47".
func colonHex(b []byte) string {
	var s strings.Builder
	for i, c := range b {
		if i > 0 {
			s.WriteByte(':')
		}
		fmt.Fprintf(&s, "%02x", c)
	}
	return s.String()
}

// negoexFields are the negoex dissector's fields the tests compare, in full.
var negoexFields = []string{
	"negoex.message.sig", "negoex.message.type", "negoex.message.seq_num", "negoex.header.len",
	"negoex.message.len", "negoex.message.conv_id", "negoex.message.random", "negoex.proto_version",
	"negoex.auth_scheme_array_count", "negoex.auth_scheme", "negoex.extension_array_count",
	"negoex.exchange_vec_byte_count", "negoex.exchange", "negoex.checksum_scheme",
	"negoex.checksum_type", "negoex.checksum_vec_count", "negoex.checksum", "negoex.errorcode",
	"negoex.data",
}

// wantFields is what tshark must read from a token's messages: every value of every
// field of negoexFields, in tree order. The header lengths are MS-NEGOEX's, not the
// token's.
func wantFields(msgs []*negoex.Message) map[string][]string {
	w := map[string][]string{}
	add := func(field string, v any) { w[field] = append(w[field], fmt.Sprint(v)) }
	for _, m := range msgs {
		add("negoex.message.sig", "NEGOEXTS")
		add("negoex.message.type", fmt.Sprintf("0x%08x", uint32(m.Type)))
		add("negoex.message.seq_num", m.Seq)
		add("negoex.header.len", headerLen[m.Type])
		add("negoex.message.len", len(m.Raw))
		add("negoex.message.conv_id", m.ConversationID)
		switch m.Type {
		case negoex.InitiatorNego, negoex.AcceptorNego:
			add("negoex.message.random", colonHex(m.Random[:]))
			add("negoex.proto_version", m.ProtocolVersion)
			add("negoex.auth_scheme_array_count", len(m.AuthSchemes))
			for _, g := range m.AuthSchemes {
				add("negoex.auth_scheme", g)
			}
			add("negoex.extension_array_count", len(m.Extensions))
		case negoex.InitiatorMetaData, negoex.AcceptorMetaData, negoex.Challenge, negoex.APRequest:
			add("negoex.auth_scheme", m.AuthScheme)
			add("negoex.exchange_vec_byte_count", len(m.Exchange))
			add("negoex.exchange", colonHex(m.Exchange))
		case negoex.Verify:
			add("negoex.auth_scheme", m.AuthScheme)
			add("negoex.header.len", 20) // the CHECKSUM struct's
			add("negoex.checksum_scheme", 1)
			add("negoex.checksum_type", m.ChecksumType)
			add("negoex.checksum_vec_count", len(m.Checksum))
			add("negoex.checksum", colonHex(m.Checksum))
		case negoex.Alert:
			add("negoex.auth_scheme", m.AuthScheme)
			add("negoex.errorcode", fmt.Sprintf("0x%08x", m.ErrorCode))
			add("negoex.data", colonHex(m.Raw[60:]))
		}
	}
	return w
}

// seen counts what tshark read across a conversation.
type seen struct {
	verifies, alerts, noKey int
}

// checkNegoEx compares what tshark read of one token's NegoEx messages with what we
// decode of inner, the NegoEx token (the token itself, or what SPNEGO carries).
func checkNegoEx(t *testing.T, tok *dissect.Token, inner []byte, s *seen) {
	t.Helper()
	msgs, err := negoex.ParseMessages(inner)
	if err != nil {
		t.Fatalf("token %d: %v", tok.Index, err)
	}
	want := wantFields(msgs)
	for _, f := range negoexFields {
		if got := tok.Values(f); !slices.Equal(got, want[f]) {
			t.Errorf("token %d: tshark reads %s %q, we sent %q\n%s", tok.Index, f, got, want[f], tok.Tree)
		}
	}
	for _, m := range msgs {
		switch m.Type {
		case negoex.Verify:
			// enctype 18's checksum, hmac-sha1-96-aes256, by both MIT's keys and PSK's.
			s.verifies++
			if m.ChecksumType != 16 || len(m.Checksum) != 12 {
				t.Errorf("token %d: VERIFY checksum type %d of %d bytes, want 16 of 12", tok.Index, m.ChecksumType, len(m.Checksum))
			}
		case negoex.Alert:
			s.alerts++
		}
	}
	// ALERT: the pulses in the bytes tshark reports, decoded by MS-NEGOEX 2.2.6.5.
	alerts := 0
	for _, v := range tok.Values("negoex.data") {
		data, err := hex.DecodeString(strings.ReplaceAll(v, ":", ""))
		if err != nil {
			t.Fatalf("token %d: negoex.data %q", tok.Index, v)
		}
		types, reasons, err := decodeAlerts(data)
		if err != nil {
			t.Errorf("token %d: the ALERT tshark reads: %v", tok.Index, err)
			continue
		}
		m := alertAt(msgs, alerts)
		alerts++
		if len(types) != len(m.Alerts) {
			t.Errorf("token %d: tshark's ALERT has %d alerts, ours %d", tok.Index, len(types), len(m.Alerts))
			continue
		}
		for i, a := range m.Alerts {
			if types[i] != a.Type {
				t.Errorf("token %d: alert %d of type %d, we sent %d", tok.Index, i, types[i], a.Type)
			}
		}
		if slices.Equal(types, []uint32{1}) && slices.Equal(reasons, []uint32{1}) { // ALERT_TYPE_PULSE, ALERT_VERIFY_NO_KEY
			s.noKey++
			if !m.VerifyNoKey() {
				t.Errorf("token %d: tshark's bytes say VERIFY_NO_KEY, our decoder does not", tok.Index)
			}
		}
	}
}

// alertAt is the n-th ALERT of msgs.
func alertAt(msgs []*negoex.Message, n int) *negoex.Message {
	for _, m := range msgs {
		if m.Type == negoex.Alert {
			if n == 0 {
				return m
			}
			n--
		}
	}
	return nil
}

// decodeAlerts reads an ALERT message's body after its error code (message offset 60,
// where tshark's negoex.data starts): ALERT_VECTOR, ALERTs, and the reason of each
// ALERT_PULSE (0 for other alert types). Offsets are from the message's start.
func decodeAlerts(data []byte) (types, reasons []uint32, err error) {
	const base = 60
	le := binary.LittleEndian
	at := func(off, n uint32) ([]byte, error) {
		if off < base || uint64(off-base)+uint64(n) > uint64(len(data)) {
			return nil, fmt.Errorf("%d bytes at %d outside the %d-byte message", n, off, base+len(data))
		}
		return data[off-base : off-base+n], nil
	}
	if len(data) < 8 {
		return nil, nil, fmt.Errorf("no ALERT_VECTOR in %d bytes", len(data))
	}
	vec, err := at(le.Uint32(data), 12*uint32(le.Uint16(data[4:])))
	if err != nil {
		return nil, nil, err
	}
	for ; len(vec) > 0; vec = vec[12:] {
		typ := le.Uint32(vec)
		v, err := at(le.Uint32(vec[4:]), le.Uint32(vec[8:]))
		if err != nil {
			return nil, nil, err
		}
		reason := uint32(0)
		if typ == 1 {
			if len(v) != 8 || le.Uint32(v) != 8 {
				return nil, nil, fmt.Errorf("ALERT_PULSE %x", v)
			}
			reason = le.Uint32(v[4:])
		}
		types, reasons = append(types, typ), append(reasons, reason)
	}
	return types, reasons, nil
}

// checkRaw dissects raw NegoEx tokens and checks every message of every token.
func checkRaw(t *testing.T, wire [][]byte) seen {
	t.Helper()
	var s seen
	r := dissect.Options{Dissector: dissect.NegoEx}.Check(t, wire...)
	for i, tok := range r.Tokens {
		if tok.Protocols != "exported_pdu:negoex" {
			t.Errorf("token %d: protocols %q", i+1, tok.Protocols)
		}
		checkNegoEx(t, tok, wire[i], &s)
	}
	if s.verifies < 2 {
		t.Errorf("tshark read %d VERIFY messages, want both sides'", s.verifies)
	}
	return s
}

func TestTSharkDissectsOurNegoEx(t *testing.T) {
	cases := []struct {
		name  string
		run   func(t *testing.T) [][]byte
		alert bool
	}{
		{"MIT scheme, one hop", func(t *testing.T) [][]byte {
			return mitWire(t, 1, false, false)
		}, false},
		{"MIT scheme, two hops", func(t *testing.T) [][]byte {
			return mitWire(t, 2, false, false)
		}, false},
		{"MIT scheme, VERIFY_NO_KEY alert", func(t *testing.T) [][]byte {
			return mitWire(t, 3, true, false)
		}, true},
		{"MIT scheme, no optimistic token", func(t *testing.T) [][]byte {
			return mitWire(t, 2, false, true)
		}, false},
		{"PSK", func(t *testing.T) [][]byte {
			ini, acc := contexts(t, pkg(t, negoex.Scheme{Package: psk.New(psk.Config{})}), material(psk.Name), 0)
			return converse(t, ini, acc)
		}, false},
		// The acceptor refuses the optimistic PSK-A for PSK-B: the initiator starts again.
		{"PSK, optimistic token refused", func(t *testing.T) [][]byte {
			ini, _ := creds(t, pkg(t, negoex.Scheme{Package: schemeA, Priority: 2}, negoex.Scheme{Package: schemeB, Priority: 1}), material("PSK-A", "PSK-B"))
			_, acc := creds(t, pkg(t, negoex.Scheme{Package: schemeB}), material("PSK-B"))
			ic, _ := ini.NewInitiator(sspi.ContextConfig{})
			ac, _ := acc.NewAcceptor(sspi.ContextConfig{})
			return converse(t, ic, ac)
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := checkRaw(t, c.run(t))
			if got := s.noKey > 0; got != c.alert || s.noKey != s.alerts {
				t.Errorf("tshark read %d ALERTs, %d of them VERIFY_NO_KEY pulses; want one: %v", s.alerts, s.noKey, c.alert)
			}
		})
	}
}

// mitWire runs a conversation of MIT's negoextest schemes (see mitPackage).
func mitWire(t *testing.T, hops int, initKeys, noOptimist bool) [][]byte {
	t.Helper()
	ini, acc := contexts(t, mitPackage(t, hops, initKeys, noOptimist), nil, 0)
	return converse(t, ini, acc)
}

// mitSPNEGO reads MIT's recorded SPNEGO tokens as they travelled, by conversation.
func mitSPNEGO(t *testing.T) map[string][][]byte {
	t.Helper()
	f, err := os.Open("testdata/mit-1.20.1-negoextest.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][][]byte{}
	name := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) >= 2 && fields[0] == "########":
			name = fields[1]
		case len(fields) == 3 && (fields[0] == "I->A" || fields[0] == "A->I"):
			b, err := hex.DecodeString(fields[2])
			if n, _ := strconv.Atoi(fields[1]); err != nil || n != len(b) {
				t.Fatalf("%s: a token of %d bytes said to be %s: %v", name, len(b), fields[1], err)
			}
			out[name] = append(out[name], b)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// MIT's own tokens, raw and in the SPNEGO they travelled in, as a control: tshark
// reads them as cleanly as ours.
func TestTSharkDissectsMITNegoEx(t *testing.T) {
	spnego := mitSPNEGO(t)
	for _, c := range negoex.LoadMIT(t) {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			for i, fromI := range c.FromInitiator {
				if fromI != (i%2 == 0) {
					t.Fatalf("MIT's token %d is not the %s's", i+1, map[bool]string{true: "acceptor", false: "initiator"}[fromI])
				}
			}
			s := checkRaw(t, c.Tokens)
			if alert := c.Name == "out_alert.txt"; (s.noKey > 0) != alert || s.noKey != s.alerts {
				t.Errorf("tshark read %d ALERTs, %d of them VERIFY_NO_KEY pulses", s.alerts, s.noKey)
			}
			if r := checkSPNEGO(t, dissect.Options{}, spnego[c.Name]); len(r.withMIC) != 0 {
				t.Errorf("MIT's tokens %v carry a mechListMIC", r.withMIC)
			}
		})
	}
}

// spnegoResult is what checkSPNEGO found.
type spnegoResult struct {
	*dissect.Result
	withMIC []int // the tokens with a mechListMIC, 1-based
	seen
}

// checkSPNEGO dissects SPNEGO tokens carrying NegoEx and checks what tshark reads of
// the SPNEGO (mechTypes, negState, supportedMech, mechListMIC) and of the NegoEx inside.
func checkSPNEGO(t *testing.T, o dissect.Options, wire [][]byte) spnegoResult {
	t.Helper()
	r := spnegoResult{Result: o.Check(t, wire...)}
	oidNegoEx := negotiate.OIDNegoEx.String()
	for i, tok := range r.Tokens {
		init, resp, err := negotiate.ParseToken(wire[i])
		if err != nil {
			t.Fatalf("token %d: %v", i+1, err)
		}
		var inner, mic []byte
		if init != nil {
			inner, mic = init.MechToken, init.MechListMIC
			if got := tok.Values("spnego.MechType"); len(got) == 0 || got[0] != oidNegoEx || tok.Field("gss-api.OID") != negotiate.OID.String() {
				t.Errorf("token %d: NegTokenInit of %s with mechTypes %q", i+1, tok.Field("gss-api.OID"), got)
			}
		} else {
			inner, mic = resp.ResponseToken, resp.MechListMIC
			if want := strconv.Itoa(int(resp.NegState)); resp.HasNegState && tok.Field("spnego.negResult") != want {
				t.Errorf("token %d: tshark reads negState %q, we sent %s", i+1, tok.Field("spnego.negResult"), want)
			}
			if want := resp.SupportedMech.String(); len(resp.SupportedMech) > 0 && (want != oidNegoEx || tok.Field("spnego.supportedMech") != want) {
				t.Errorf("token %d: tshark reads supportedMech %q, we sent %s", i+1, tok.Field("spnego.supportedMech"), want)
			}
		}
		if got := tok.FieldBytes("spnego.mechListMIC"); !bytes.Equal(got, mic) {
			t.Errorf("token %d: tshark reads mechListMIC %x, we sent %x", i+1, got, mic)
		}
		if mic != nil {
			r.withMIC = append(r.withMIC, i+1)
		} else if len(tok.Waived) > 0 {
			t.Errorf("token %d has no mechListMIC, yet tshark's reports on it were waived: %v", i+1, tok.Waived)
		}
		if len(inner) == 0 {
			if tok.Has("negoex.message.type") {
				t.Errorf("token %d carries no NegoEx, yet tshark reads NegoEx messages", i+1)
			}
			continue
		}
		checkNegoEx(t, tok, inner, &r.seen)
	}
	return r
}

// NegoEx inside SPNEGO, through Negotiate.
func TestTSharkDissectsNegoExInSPNEGO(t *testing.T) {
	// MIT's scheme signs nothing, so Negotiate sends no mechListMIC: every token must
	// be clean with nothing waived.
	t.Run("MIT scheme, no mechListMIC", func(t *testing.T) {
		t.Parallel()
		n, err := negotiate.New(negotiate.Config{Packages: []sspi.Package{mitPackage(t, 2, false, false)}})
		if err != nil {
			t.Fatal(err)
		}
		ini, acc := contexts(t, n, nil, 0)
		r := checkSPNEGO(t, dissect.Options{}, converse(t, ini, acc))
		if len(r.withMIC) != 0 || r.verifies < 2 {
			t.Errorf("mechListMIC in tokens %v, %d VERIFY messages", r.withMIC, r.verifies)
		}
	})
	// PSK signs: both sides send a mechListMIC, which tshark 4.0 hands to the negoex
	// dissector (see dissect.Options.NegoExMechListMIC). The tokens without one must be
	// clean as they are; those with one clean but for exactly that report.
	t.Run("PSK, mechListMIC", func(t *testing.T) {
		t.Parallel()
		n, err := negotiate.New(negotiate.Config{Packages: []sspi.Package{pkg(t, negoex.Scheme{Package: psk.New(psk.Config{})})}})
		if err != nil {
			t.Fatal(err)
		}
		m := negotiate.Options{Material: map[string]any{negoex.Name: material(psk.Name)}}
		ini, acc := contexts(t, n, m, sspi.FlagIntegrity)
		r := checkSPNEGO(t, dissect.Options{NegoExMechListMIC: true}, converse(t, ini, acc))
		if !slices.Equal(r.withMIC, []int{3, 4}) || r.verifies < 2 {
			t.Errorf("mechListMIC in tokens %v, want [3 4]; %d VERIFY messages", r.withMIC, r.verifies)
		}
		for _, i := range r.withMIC {
			if tok := r.Tokens[i-1]; len(tok.Waived) == 0 {
				t.Errorf("token %d: tshark no longer reports the mechListMIC: drop the waiver?\n%s", i, tok.Report())
			}
		}
	})
}
