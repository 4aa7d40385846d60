package negotiate_test

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/gossp/gossp/internal/interop/dissect"
	"github.com/gossp/gossp/negotiate"
	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/packages/psk"
	"github.com/gossp/gossp/sspi"
)

// Every SPNEGO token we emit must be dissected cleanly by Wireshark's gssapi, spnego and
// ntlmssp dissectors, which must read back the negState, supportedMech and mechListMIC
// we meant and find the NTLM messages inside.
//
// tshark 4.0 names negState spnego.negResult and knows only RFC 2478's three values:
// request-mic (3) is shown as "Unknown (3)", which is no error.

// dissectWire runs a handshake to its end and returns every token in wire order.
func dissectWire(t *testing.T, ini sspi.Initiator, acc sspi.Acceptor) [][]byte {
	t.Helper()
	var wire [][]byte
	if err := handshake(t, ini, acc, func(_ int, tok []byte) []byte {
		wire = append(wire, tok)
		return tok
	}); err != nil {
		t.Fatal(err)
	}
	if !ini.Attributes().Established || !acc.Attributes().Established {
		t.Fatal("the handshake ended unestablished")
	}
	return wire
}

// dissectAcceptorFirst runs the SMB2-style exchange: the acceptor's NegTokenInit2 first.
func dissectAcceptorFirst(t *testing.T, ini sspi.Initiator, acc sspi.Acceptor) [][]byte {
	t.Helper()
	ctx := context.Background()
	hint, st, err := acc.AcceptContext(ctx, nil)
	if err != nil || st != sspi.StatusContinueNeeded {
		t.Fatalf("NegTokenInit2: %v, %v", st, err)
	}
	wire := [][]byte{hint}
	in := hint
	for range 6 {
		out, ist, err := ini.InitializeContext(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) == 0 {
			break
		}
		wire = append(wire, out)
		back, ast, err := acc.AcceptContext(ctx, out)
		if err != nil {
			t.Fatal(err)
		}
		if len(back) == 0 {
			break
		}
		wire = append(wire, back)
		if ist == sspi.StatusOK && ast == sspi.StatusOK {
			break
		}
		in = back
	}
	if !ini.Attributes().Established || !acc.Attributes().Established {
		t.Fatal("the acceptor-first handshake ended unestablished")
	}
	return wire
}

// column returns one field of every token, "" where tshark did not report it.
func column(r *dissect.Result, field string) []string {
	var out []string
	for _, tok := range r.Tokens {
		out = append(out, tok.Field(field))
	}
	return out
}

// sameMICs checks that tshark found a mechListMIC exactly where ParseToken does, with
// the same bytes, and that NTLM's are NTLMSSP verifiers (version 1, 16 bytes).
func sameMICs(t *testing.T, r *dissect.Result, ntlmMIC bool) (withMIC []int) {
	t.Helper()
	for i, tok := range r.Tokens {
		init, resp, err := negotiate.ParseToken(tok.Bytes)
		if err != nil {
			t.Fatalf("token %d: %v", i+1, err)
		}
		var ours []byte
		if init != nil {
			ours = init.MechListMIC
		} else {
			ours = resp.MechListMIC
		}
		theirs := tok.FieldBytes("spnego.mechListMIC")
		if !bytes.Equal(ours, theirs) {
			t.Errorf("token %d: tshark reads mechListMIC %x, we sent %x", i+1, theirs, ours)
		}
		if ours == nil {
			continue
		}
		withMIC = append(withMIC, i+1)
		if ntlmMIC && (len(ours) != 16 || tok.Field("ntlmssp.verf.vers") != "1") {
			t.Errorf("token %d: mechListMIC %x is not an NTLMSSP verifier to tshark (version %q)", i+1, ours, tok.Field("ntlmssp.verf.vers"))
		}
	}
	return withMIC
}

func wantColumn(t *testing.T, r *dissect.Result, field string, want ...string) {
	t.Helper()
	if got := column(r, field); !slices.Equal(got, want) {
		t.Errorf("%s per token: tshark reads %q, want %q", field, got, want)
	}
}

const oidNTLM = "1.3.6.1.4.1.311.2.2.10"

func TestDissect(t *testing.T) {
	t.Run("NTLM", func(t *testing.T) {
		t.Parallel()
		n := newNegotiate(t, "", ntlm.New(ntlm.Config{}))
		ini, _ := acquire(t, n, clientReq(password)).NewInitiator(sspi.ContextConfig{Flags: sspi.FlagIntegrity, Target: "HTTP/server.testdom.test"})
		acc, _ := acquire(t, n, serverReq()).NewAcceptor(sspi.ContextConfig{})
		r := dissect.Check(t, dissectWire(t, ini, acc)...)

		wantColumn(t, r, "gss-api.OID", "1.3.6.1.5.5.2", "", "", "")
		wantColumn(t, r, "spnego.MechType", oidNTLM, "", "", "")
		wantColumn(t, r, "spnego.negResult", "", "1", "", "0")
		wantColumn(t, r, "spnego.supportedMech", "", oidNTLM, "", "")
		wantColumn(t, r, "ntlmssp.messagetype", "0x00000001", "0x00000002", "0x00000003", "")
		wantColumn(t, r, "ntlmssp.auth.username", "", "", user, "")
		wantColumn(t, r, "ntlmssp.auth.domain", "", "", domain, "")
		// Both MICs, the initiator's beside AUTHENTICATE and the acceptor's answer.
		if got := sameMICs(t, r, true); !slices.Equal(got, []int{3, 4}) {
			t.Errorf("mechListMIC in tokens %v, want [3 4]", got)
		}
	})

	// The initiator prefers a mechanism the acceptor lacks (PSK under a private OID,
	// with its optimistic token): the acceptor picks NTLM and demands the MIC exchange.
	t.Run("fall-back to a later mechanism", func(t *testing.T) {
		t.Parallel()
		client := newNegotiate(t, "", oidPSK{psk.New(psk.Config{})}, ntlm.New(ntlm.Config{}))
		server := newNegotiate(t, "", ntlm.New(ntlm.Config{}))
		ini, _ := acquire(t, client, clientReq(password)).NewInitiator(sspi.ContextConfig{})
		acc, _ := acquire(t, server, serverReq()).NewAcceptor(sspi.ContextConfig{})
		r := dissect.Check(t, dissectWire(t, ini, acc)...)

		if got := r.Tokens[0].Values("spnego.MechType"); !slices.Equal(got, []string{pskOID.String(), oidNTLM}) {
			t.Errorf("mechTypes %q", got)
		}
		if got := r.Tokens[0].FieldBytes("spnego.mechToken"); len(got) == 0 || r.Tokens[0].Has("ntlmssp") {
			t.Errorf("the optimistic PSK token: %x (NTLMSSP %v)", got, r.Tokens[0].Has("ntlmssp"))
		}
		wantColumn(t, r, "spnego.negResult", "", "3", "", "1", "", "0") // request-mic, then as usual
		wantColumn(t, r, "spnego.supportedMech", "", oidNTLM, "", "", "", "")
		wantColumn(t, r, "ntlmssp.messagetype", "", "", "0x00000001", "0x00000002", "0x00000003", "")
		if got := sameMICs(t, r, true); !slices.Equal(got, []int{5, 6}) {
			t.Errorf("mechListMIC in tokens %v, want [5 6]", got)
		}
	})

	// Both have PSK, the first choice: tshark knows nothing of PSK, but the SPNEGO
	// around its tokens must still be whole.
	t.Run("first choice, a mechanism tshark does not know", func(t *testing.T) {
		t.Parallel()
		n := newNegotiate(t, "", oidPSK{psk.New(psk.Config{})}, ntlm.New(ntlm.Config{}))
		ini, _ := acquire(t, n, clientReq(password)).NewInitiator(sspi.ContextConfig{Flags: sspi.FlagIntegrity})
		acc, _ := acquire(t, n, serverReq()).NewAcceptor(sspi.ContextConfig{})
		r := dissect.Check(t, dissectWire(t, ini, acc)...)
		if got := r.Tokens[1].Field("spnego.supportedMech"); got != pskOID.String() {
			t.Errorf("supportedMech %q", got)
		}
		for _, tok := range r.Tokens {
			if tok.Has("ntlmssp") {
				t.Errorf("token %d taken for NTLMSSP", tok.Index)
			}
		}
		sameMICs(t, r, false)
	})

	// SMB2's order: the acceptor's NegTokenInit2 first, negHints and all.
	t.Run("acceptor first, NegTokenInit2", func(t *testing.T) {
		t.Parallel()
		n := newNegotiate(t, "", ntlm.New(ntlm.Config{}))
		acc, _ := acquire(t, n, serverReq()).NewAcceptor(sspi.ContextConfig{})
		ini, _ := acquire(t, n, clientReq(password)).NewInitiator(sspi.ContextConfig{Flags: sspi.FlagIntegrity})
		r := dissect.Options{AcceptorFirst: true}.Check(t, dissectAcceptorFirst(t, ini, acc)...)

		hint := r.Tokens[0]
		if hint.Field("spnego.hintName") != "not_defined_in_RFC4178@please_ignore" || hint.Field("spnego.MechType") != oidNTLM {
			t.Errorf("NegTokenInit2: hintName %q, mechType %q", hint.Field("spnego.hintName"), hint.Field("spnego.MechType"))
		}
		wantColumn(t, r, "gss-api.OID", "1.3.6.1.5.5.2", "1.3.6.1.5.5.2", "", "", "")
		wantColumn(t, r, "spnego.negResult", "", "", "1", "", "0")
		wantColumn(t, r, "ntlmssp.messagetype", "", "0x00000001", "0x00000002", "0x00000003", "")
		if got := sameMICs(t, r, true); !slices.Equal(got, []int{4, 5}) {
			t.Errorf("mechListMIC in tokens %v, want [4 5]", got)
		}
	})

	// A wrong password: the acceptor's last word is a reject.
	t.Run("reject", func(t *testing.T) {
		t.Parallel()
		n := newNegotiate(t, "", ntlm.New(ntlm.Config{}))
		ini, _ := acquire(t, n, clientReq("wrong")).NewInitiator(sspi.ContextConfig{Flags: sspi.FlagIntegrity})
		acc, _ := acquire(t, n, serverReq()).NewAcceptor(sspi.ContextConfig{})
		ctx := context.Background()
		var wire [][]byte
		var in []byte
		for range 3 {
			out, _, err := ini.InitializeContext(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			wire = append(wire, out)
			back, _, err := acc.AcceptContext(ctx, out)
			wire = append(wire, back)
			if err != nil {
				break
			}
			in = back
		}
		r := dissect.Check(t, wire...)
		wantColumn(t, r, "spnego.negResult", "", "1", "", "2")
		wantColumn(t, r, "ntlmssp.messagetype", "0x00000001", "0x00000002", "0x00000003", "")
	})
}
