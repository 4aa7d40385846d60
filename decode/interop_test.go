package decode

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gossp/gossp/internal/interop/dissect"
)

// The agreement test of issue 9: for real peers' tokens (the recordings of gss-ntlmssp,
// MIT, Samba and impacket exchanges, and MIT's NegoEx test runs) decode and tshark must
// agree on every field they both show. Gated like every interop test (GOSSP_INTEROP=1,
// tshark installed); internal/interop/dissect runs tshark.

// colon writes hex as tshark shows bytes, "01:00:ab".
func colon(h string) string {
	var parts []string
	for i := 0; i+2 <= len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

var inParens = regexp.MustCompile(`\(([^()]*)\)\s*$`)

// paren returns what the last parentheses of a value hold: "accept-incomplete (1)" → "1".
func paren(s string) string {
	if m := inParens.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return s
}

// before returns a value up to its first space: "1.3.6.1.5.5.2 (SPNEGO)" → the OID.
func before(s string) string { s, _, _ = strings.Cut(s, " "); return s }

func nullIfEmpty(s string) string {
	if s == "" {
		return "NULL"
	}
	return s
}

// tsharkTime reads tshark's "Nov 27, 2026 00:33:09.852784000 UTC" as our RFC 3339.
func tsharkTime(s string) string {
	t, err := time.Parse("Jan 2, 2006 15:04:05.999999999 MST", strings.Join(strings.Fields(s), " "))
	if err != nil {
		return s
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// mapping says how one tshark field reads in our tree.
type mapping struct {
	field  string               // tshark's field
	ours   func(*Node) []string // our values, in tree order
	theirs func(string) string  // how to read tshark's value, nil for as-is
}

// values collects the values of every node named name, converted.
func values(name string, conv func(string) string) func(*Node) []string {
	return func(n *Node) []string {
		var out []string
		for _, f := range n.FindAll(name) {
			v := f.Value
			if conv != nil {
				v = conv(v)
			}
			out = append(out, v)
		}
		return out
	}
}

// under collects name's values below the first node named parent.
func under(parent, name string, conv func(string) string) func(*Node) []string {
	return func(n *Node) []string { return values(name, conv)(n.Find(parent)) }
}

func avField(msg, av string) []mapping {
	prefix := "ntlmssp.challenge.target_info."
	parent := "Target Info"
	if msg == "auth" {
		prefix, parent = "ntlmssp.ntlmv2_response.", "NTLMv2 Response"
	}
	conv := func(s string) string { return s }
	var theirs func(string) string
	switch av {
	case "MsvAvTimestamp":
		theirs = tsharkTime
	case "MsvAvChannelBindings":
		conv = func(s string) string { return colon(before(s)) }
	}
	names := map[string]string{"MsvAvNbComputerName": "nb_computer_name", "MsvAvNbDomainName": "nb_domain_name",
		"MsvAvDnsComputerName": "dns_computer_name", "MsvAvDnsDomainName": "dns_domain_name", "MsvAvDnsTreeName": "dns_tree_name",
		"MsvAvFlags": "flags", "MsvAvTimestamp": "timestamp", "MsvAvTargetName": "target_name", "MsvAvChannelBindings": "channel_bindings"}
	return []mapping{{prefix + names[av], under(parent, av, conv), theirs}}
}

var mappings = func() []mapping {
	ms := []mapping{
		// GSS-API and SPNEGO.
		// The outer framing only: tshark does not dissect a NegoEx scheme's own GSS token.
		{"gss-api.OID", func(n *Node) []string {
			if n.Name != "GSS-API InitialContextToken" {
				return nil
			}
			return []string{before(n.Children[0].Value)}
		}, nil},
		{"spnego.MechType", values("MechType", before), nil},
		{"spnego.mechTypes", values("mechTypes", nil), nil},
		{"spnego.negResult", values("negState", paren), nil},
		{"spnego.supportedMech", values("supportedMech", before), nil},
		{"spnego.mechListMIC", values("mechListMIC", colon), nil},
		{"spnego.hintName", values("hintName", nil), nil},
		{"spnego.mechToken", values("mechToken", before), byteCount},
		{"spnego.responseToken", values("responseToken", before), byteCount},
		// NTLMSSP.
		{"ntlmssp.identifier", values("NTLMSSP identifier", nil), nil},
		{"ntlmssp.messagetype", values("NTLM Message Type", paren), nil},
		{"ntlmssp.negotiateflags", values("Negotiate Flags", nil), nil},
		{"ntlmssp.negotiate.domain", values("Calling workstation domain", nullIfEmpty), nil},
		{"ntlmssp.negotiate.callingworkstation", values("Calling workstation name", nullIfEmpty), nil},
		{"ntlmssp.version.major", values("Major Version", nil), nil},
		{"ntlmssp.version.minor", values("Minor Version", nil), nil},
		{"ntlmssp.version.build_number", values("Build Number", nil), nil},
		{"ntlmssp.version.ntlm_current_revision", values("NTLM Current Revision", nil), nil},
		{"ntlmssp.challenge.target_name", values("Target Name", nullIfEmpty), nil},
		{"ntlmssp.ntlmserverchallenge", values("NTLM Server Challenge", colon), nil},
		{"ntlmssp.reserved", under("NTLMSSP", "Reserved", colon), nil},
		{"ntlmssp.challenge.target_info.length", under("Target Info", "Length", nil), nil},
		{"ntlmssp.challenge.target_info.offset", under("Target Info", "Offset", nil), nil},
		{"ntlmssp.auth.username", values("User name", nullIfEmpty), nil},
		{"ntlmssp.auth.domain", values("Domain name", nullIfEmpty), nil},
		{"ntlmssp.auth.hostname", values("Host name", nullIfEmpty), nil},
		// For an empty LmChallengeResponse tshark shows the descriptor's bytes instead.
		{"ntlmssp.auth.lmresponse", func(n *Node) []string {
			if f := n.Find("Lan Manager Response"); f != nil && f.Value != "" {
				return []string{colon(f.Value)}
			}
			return nil
		}, nil},
		{"ntlmssp.auth.sesskey", values("Session Key", colon), nil},
		{"ntlmssp.authenticate.mic", values("MIC", func(s string) string { return colon(before(s)) }), nil},
		{"ntlmssp.ntlmv2_response.ntproofstr", values("NTProofStr", colon), nil},
		{"ntlmssp.ntlmv2_response.rversion", values("Response Version", nil), nil},
		{"ntlmssp.ntlmv2_response.hirversion", values("Hi Response Version", nil), nil},
		{"ntlmssp.ntlmv2_response.time", values("Time", nil), tsharkTime},
		{"ntlmssp.ntlmv2_response.chal", values("NTLMv2 Client Challenge", colon), nil},
		{"ntlmssp.verf.vers", under("NTLMSSP Verifier", "Version", nil), nil},
		{"ntlmssp.verf.body", func(n *Node) []string {
			var out []string
			for _, v := range n.FindAll("NTLMSSP Verifier") {
				seq := v.Find("SeqNum")
				var b [4]byte
				var s uint32
				fmt.Sscan(seq.Value, &s)
				le.PutUint32(b[:], s)
				out = append(out, colon(v.Find("Checksum").Value+fmt.Sprintf("%x", b)))
			}
			return out
		}, nil},
		// NegoEx.
		{"negoex.message.sig", values("Signature", nil), nil},
		{"negoex.message.type", values("MessageType", func(s string) string {
			var v uint32
			fmt.Sscan(paren(s), &v)
			return fmt.Sprintf("0x%08x", v)
		}), nil},
		{"negoex.message.seq_num", values("SequenceNum", nil), nil},
		{"negoex.message.len", values("cbMessageLength", nil), nil},
		{"negoex.message.conv_id", values("ConversationId", nil), nil},
		{"negoex.message.random", values("Random", colon), nil},
		{"negoex.proto_version", values("ProtocolVersion", nil), nil},
		{"negoex.auth_scheme", values("AuthScheme", nil), nil},
		{"negoex.auth_scheme_array_count", values("AuthSchemes", nil), nil},
		{"negoex.extension_array_count", values("Extensions", nil), nil},
		{"negoex.exchange_vec_byte_count", values("Exchange", before), nil},
		{"negoex.checksum_scheme", values("ChecksumScheme", before), nil},
		{"negoex.checksum_type", values("ChecksumType", before), nil},
		{"negoex.checksum", values("ChecksumValue", colon), nil},
		{"negoex.checksum_vec_count", func(n *Node) []string {
			var out []string
			for _, c := range n.FindAll("ChecksumValue") {
				out = append(out, fmt.Sprint(c.Length))
			}
			return out
		}, nil},
	}
	for _, av := range []string{"MsvAvNbComputerName", "MsvAvNbDomainName", "MsvAvDnsComputerName", "MsvAvDnsDomainName",
		"MsvAvDnsTreeName", "MsvAvFlags", "MsvAvTimestamp"} {
		ms = append(ms, avField("challenge", av)...)
	}
	for _, av := range []string{"MsvAvNbComputerName", "MsvAvNbDomainName", "MsvAvDnsComputerName", "MsvAvDnsDomainName",
		"MsvAvDnsTreeName", "MsvAvFlags", "MsvAvTimestamp", "MsvAvTargetName", "MsvAvChannelBindings"} {
		ms = append(ms, avField("auth", av)...)
	}
	return ms
}()

// byteCount reads a tshark bytes value as its length.
func byteCount(s string) string { return fmt.Sprint(len(strings.Split(s, ":"))) }

// exchange is a handshake of real tokens, the initiator's first.
type exchange struct {
	name   string
	tokens [][]byte
	negoex bool
}

func realExchanges(t *testing.T) []exchange {
	var exs []exchange
	for _, p := range recordings {
		r := loadRecording(t, p)
		exs = append(exs, exchange{name: p + " (" + r.Peer + ")", tokens: r.decoded})
	}
	exs = append(exs, exchange{name: "mit-spnego-ntlm.txt", tokens: hexLines(t, "../negotiate/testdata/mit-spnego-ntlm.txt")})
	for i, ex := range negoexExchanges(t) {
		exs = append(exs, exchange{name: fmt.Sprintf("mit-1.20.1-negoextest.txt run %d", i+1), tokens: ex, negoex: true})
	}
	return exs
}

func TestAgreesWithTShark(t *testing.T) {
	compared := map[string]int{}
	ran := false
	for _, ex := range realExchanges(t) {
		t.Run(ex.name, func(t *testing.T) {
			r := dissect.Options{NegoExMechListMIC: ex.negoex}.Dissect(t, ex.tokens...) // skips without GOSSP_INTEROP=1
			ran = true
			for i, tok := range r.Tokens {
				ours := mustDecode(t, ex.tokens[i])
				n := 0
				for _, m := range mappings {
					theirs := tok.Values(m.field)
					mine := m.ours(ours)
					if len(theirs) == 0 || len(mine) == 0 {
						continue // not shown by both
					}
					if m.theirs != nil {
						conv := make([]string, len(theirs))
						for j, v := range theirs {
							conv[j] = m.theirs(v)
						}
						theirs = conv
					}
					if strings.Join(mine, "\x00") != strings.Join(theirs, "\x00") {
						t.Errorf("token %d: %s: decode %q, tshark (%s) %q\n%s", i+1, m.field, mine, r.Version, theirs, ours.Tree())
						continue
					}
					n++
					compared[m.field]++
				}
				if n == 0 {
					t.Errorf("token %d: no field compared\n%s", i+1, tok.Report())
				}
				// Every NTLM flag tshark shows set, decode names (and no other).
				if v, ok := tok.Uint("ntlmssp.negotiateflags"); ok {
					if f := ours.Find("Negotiate Flags"); f == nil || f.Value != fmt.Sprintf("0x%08x", v) {
						t.Errorf("token %d: flags %v, tshark 0x%08x", i+1, f, v)
					}
				}
			}
		})
	}
	if !ran {
		t.Skip("tshark did not run (GOSSP_INTEROP=1 runs it)")
	}
	// The comparison is not vacuous: the fields the proof names were compared.
	for _, f := range []string{"ntlmssp.negotiateflags", "ntlmssp.messagetype", "ntlmssp.ntlmserverchallenge",
		"ntlmssp.auth.username", "ntlmssp.auth.domain", "ntlmssp.challenge.target_name", "ntlmssp.version.major",
		"ntlmssp.challenge.target_info.timestamp", "ntlmssp.ntlmv2_response.ntproofstr", "ntlmssp.authenticate.mic",
		"ntlmssp.verf.body", "spnego.negResult", "spnego.supportedMech", "spnego.MechType", "gss-api.OID",
		"spnego.mechListMIC", "negoex.message.type", "negoex.message.seq_num", "negoex.message.conv_id",
		"negoex.auth_scheme", "negoex.checksum_type", "negoex.checksum"} {
		if compared[f] == 0 && !t.Failed() {
			t.Errorf("%s never compared", f)
		}
	}
	t.Logf("fields compared: %v", compared)
}
