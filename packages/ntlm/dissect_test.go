package ntlm_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"testing"

	"github.com/gossp/gossp/internal/interop/dissect"
	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/sspi"
)

// Every NTLM message we emit must be dissected cleanly by Wireshark's ntlmssp dissector,
// which must read back what we meant to say: the message types, the names, the flags,
// the NTLMv2 response's AV pairs and the MIC.

// ntlmExchange runs a whole in-process handshake and returns NEGOTIATE, CHALLENGE and
// AUTHENTICATE with the two contexts.
func ntlmExchange(t *testing.T, ini sspi.Initiator, acc sspi.Acceptor) [][]byte {
	t.Helper()
	ctx := context.Background()
	neg, st, err := ini.InitializeContext(ctx, nil)
	if err != nil || st != sspi.StatusContinueNeeded {
		t.Fatalf("NEGOTIATE: %v, %v", st, err)
	}
	chal, st, err := acc.AcceptContext(ctx, neg)
	if err != nil || st != sspi.StatusContinueNeeded {
		t.Fatalf("CHALLENGE: %v, %v", st, err)
	}
	auth, st, err := ini.InitializeContext(ctx, chal)
	if err != nil || st != sspi.StatusOK {
		t.Fatalf("AUTHENTICATE: %v, %v", st, err)
	}
	if out, st, err := acc.AcceptContext(ctx, auth); err != nil || st != sspi.StatusOK || len(out) != 0 {
		t.Fatalf("accepting AUTHENTICATE: %v, %v, %d bytes", st, err, len(out))
	}
	return [][]byte{neg, chal, auth}
}

func hexFlags(f ntlm.NegotiateFlags) string { return fmt.Sprintf("0x%08x", uint32(f)) }

func TestDissect(t *testing.T) {
	cb := &sspi.ChannelBindings{ApplicationData: []byte("tls-server-end-point:0123456789abcdef0123456789abcdef")}
	cases := []struct {
		name        string
		cfg         ntlm.Config
		flags       sspi.ContextFlags
		bindings    *sspi.ChannelBindings
		target      string
		anonymous   bool
		workstation string // tshark's ntlmssp.auth.hostname
	}{
		{name: "integrity", flags: sspi.FlagIntegrity, target: "HTTP/server.testdom.test", workstation: "NULL"},
		{name: "confidentiality, workstation, bindings", flags: sspi.FlagConfidentiality | sspi.FlagIntegrity,
			cfg:      ntlm.Config{Workstation: "WS01", NetBIOSDomain: "TESTDOM", NetBIOSComputer: "SERVER", DNSDomain: "testdom.test"},
			bindings: cb, target: "cifs/server.testdom.test", workstation: "WS01"},
		{name: "no protection, no target", workstation: "NULL"},
		{name: "anonymous", cfg: ntlm.Config{AllowAnonymous: true}, anonymous: true, workstation: "NULL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := ntlm.New(c.cfg)
			req := sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
				Identity: &sspi.Identity{User: "alice", Domain: "TESTDOM", Password: "AlicePassw0rd!"}}
			if c.anonymous {
				req = sspi.CredentialRequest{Use: sspi.CredentialsOutbound, Material: ntlm.Anonymous{}}
			}
			ini, err := acquire(t, p, req).NewInitiator(sspi.ContextConfig{Flags: c.flags, Target: c.target, ChannelBindings: c.bindings})
			if err != nil {
				t.Fatal(err)
			}
			acc, err := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: testUsers}).
				NewAcceptor(sspi.ContextConfig{ChannelBindings: c.bindings})
			if err != nil {
				t.Fatal(err)
			}
			toks := ntlmExchange(t, ini, acc)
			r := dissect.Check(t, toks...)
			neg, chal, auth := r.Tokens[0], r.Tokens[1], r.Tokens[2]

			for i, want := range []string{"0x00000001", "0x00000002", "0x00000003"} {
				if got := r.Tokens[i].Field("ntlmssp.messagetype"); got != want {
					t.Errorf("message %d: tshark reads type %q, want %q", i+1, got, want)
				}
			}

			// Flags: each message's as the contexts know them, bit by bit as tshark names them.
			negMsg, err := ntlm.ParseNegotiate(toks[0])
			if err != nil {
				t.Fatal(err)
			}
			chalMsg, err := ntlm.ParseChallenge(toks[1])
			if err != nil {
				t.Fatal(err)
			}
			final := ini.(*ntlm.Initiator).NegotiatedFlags()
			if got := acc.(*ntlm.Acceptor).NegotiatedFlags(); got != final&^ntlm.FlagAnonymous && got != final {
				t.Errorf("the contexts disagree on the flags: initiator %v, acceptor %v", final, got)
			}
			for _, m := range []struct {
				tok   *dissect.Token
				flags ntlm.NegotiateFlags
			}{{neg, negMsg.Flags}, {chal, chalMsg.Flags}, {auth, final}} {
				if got := m.tok.Field("ntlmssp.negotiateflags"); got != hexFlags(m.flags) {
					t.Errorf("message %d: tshark reads flags %s, we sent %s (%v)", m.tok.Index, got, hexFlags(m.flags), m.flags)
				}
			}
			bits := map[string]bool{
				"ntlmssp.negotiateunicode":    true,
				"ntlmssp.negotiatentlm":       true,
				"ntlmssp.negotiatentlm2":      true, // extended session security
				"ntlmssp.negotiateversion":    true,
				"ntlmssp.negotiatesign":       c.flags&(sspi.FlagIntegrity|sspi.FlagConfidentiality) != 0,
				"ntlmssp.negotiateseal":       c.flags&sspi.FlagConfidentiality != 0,
				"ntlmssp.negotiatekeyexch":    c.flags&(sspi.FlagIntegrity|sspi.FlagConfidentiality) != 0,
				"ntlmssp.negotiateanonymous":  c.anonymous,
				"ntlmssp.negotiatelmkey":      false,
				"ntlmssp.negotiateoem":        false,
				"ntlmssp.negotiatetargetinfo": true,
			}
			for field, want := range bits {
				if got := auth.Field(field) == "1"; got != want {
					t.Errorf("AUTHENTICATE %s: tshark reads %q, want set=%v", field, auth.Field(field), want)
				}
			}
			if got, want := neg.Field("ntlmssp.negotiateoem"), "1"; got != want {
				t.Errorf("NEGOTIATE offers OEM: tshark reads %q", got)
			}

			// VERSION in all three.
			for _, tok := range r.Tokens {
				v := []string{tok.Field("ntlmssp.version.major"), tok.Field("ntlmssp.version.minor"),
					tok.Field("ntlmssp.version.build_number"), tok.Field("ntlmssp.version.ntlm_current_revision")}
				if fmt.Sprint(v) != "[10 0 20348 15]" {
					t.Errorf("message %d: version %v", tok.Index, v)
				}
			}

			// CHALLENGE: the challenge and the target.
			if got := chal.FieldBytes("ntlmssp.ntlmserverchallenge"); !bytes.Equal(got, chalMsg.ServerChallenge[:]) {
				t.Errorf("server challenge: tshark %x, we %x", got, chalMsg.ServerChallenge)
			}
			domain, computer := "WORKGROUP", "GOSSP"
			if c.cfg.NetBIOSDomain != "" {
				domain, computer = c.cfg.NetBIOSDomain, c.cfg.NetBIOSComputer
			}
			if got := chal.Field("ntlmssp.challenge.target_name"); got != domain {
				t.Errorf("target name %q, want %q", got, domain)
			}
			if got := chal.Field("ntlmssp.challenge.target_info.nb_domain_name"); got != domain {
				t.Errorf("target info NetBIOS domain %q, want %q", got, domain)
			}
			if got := chal.Field("ntlmssp.challenge.target_info.nb_computer_name"); got != computer {
				t.Errorf("target info NetBIOS computer %q, want %q", got, computer)
			}
			if got := chal.Field("ntlmssp.challenge.target_info.dns_domain_name"); got != c.cfg.DNSDomain {
				t.Errorf("target info DNS domain %q, want %q", got, c.cfg.DNSDomain)
			}
			if !chal.Has("ntlmssp.challenge.target_info.timestamp") {
				t.Error("no timestamp in the target info")
			}

			// AUTHENTICATE: who, from where, and the NTLMv2 response's pairs.
			if got := auth.Field("ntlmssp.auth.hostname"); got != c.workstation {
				t.Errorf("workstation %q, want %q", got, c.workstation)
			}
			if c.anonymous {
				if auth.Field("ntlmssp.auth.username") != "NULL" || auth.Has("ntlmssp.ntlmv2_response") {
					t.Errorf("anonymous AUTHENTICATE: user %q, NTLMv2 response %v", auth.Field("ntlmssp.auth.username"), auth.Has("ntlmssp.ntlmv2_response"))
				}
				return
			}
			if auth.Field("ntlmssp.auth.username") != "alice" || auth.Field("ntlmssp.auth.domain") != "TESTDOM" {
				t.Errorf("user %q domain %q", auth.Field("ntlmssp.auth.username"), auth.Field("ntlmssp.auth.domain"))
			}
			if got := len(auth.FieldBytes("ntlmssp.ntlmv2_response.ntproofstr")); got != 16 {
				t.Errorf("NTProofStr of %d bytes", got)
			}
			if got := auth.Field("ntlmssp.ntlmv2_response.flags"); got != "0x00000002" {
				t.Errorf("MsvAvFlags %q, want MIC present", got)
			}
			if mic := auth.FieldBytes("ntlmssp.authenticate.mic"); !bytes.Equal(mic, toks[2][72:88]) || bytes.Equal(mic, make([]byte, 16)) {
				t.Errorf("MIC: tshark %x, token %x", mic, toks[2][72:88])
			}
			wantCB := make([]byte, 16)
			if c.bindings != nil {
				h := md5.Sum(c.bindings.Marshal())
				wantCB = h[:]
			}
			if got := auth.FieldBytes("ntlmssp.ntlmv2_response.channel_bindings"); !bytes.Equal(got, wantCB) {
				t.Errorf("channel bindings %x, want %x", got, wantCB)
			}
			if got := auth.Field("ntlmssp.ntlmv2_response.target_name"); got != c.target && !(c.target == "" && !auth.Has("ntlmssp.ntlmv2_response.target_name")) {
				t.Errorf("target name %q, want %q", got, c.target)
			}
			if got := auth.Values("ntlmssp.ntlmv2_response.nb_domain_name"); len(got) != 1 || got[0] != domain {
				t.Errorf("the echoed target info's NetBIOS domain: %q", got)
			}
			sessKey := auth.FieldBytes("ntlmssp.auth.sesskey")
			if final.Has(ntlm.FlagKeyExch) != (len(sessKey) == 16) {
				t.Errorf("KEY_EXCH %v, encrypted session key %x", final.Has(ntlm.FlagKeyExch), sessKey)
			}
			// LmChallengeResponse is Z(24) beside a timestamp (MS-NLMP 3.1.5.1.2).
			if got := auth.FieldBytes("ntlmssp.auth.lmresponse"); !bytes.Equal(got, make([]byte, 24)) {
				t.Errorf("LM response %x", got)
			}
		})
	}
}
