package negotiate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gossp/gossp/internal/interop/gsspeer"
	"github.com/gossp/gossp/internal/interop/ntlmpeer"
	"github.com/gossp/gossp/internal/interop/record"
	"github.com/gossp/gossp/negotiate"
	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/packages/psk"
	"github.com/gossp/gossp/sspi"
)

// Interop of Negotiate (SPNEGO around NTLM) with three independent SPNEGO
// implementations: MIT GSS-API 1.20 with gss-ntlmssp 1.2.0 as its NTLM (both directions,
// and the fall-back from a mechanism MIT lacks), Samba 4.17's ntlm_auth (its
// gss-spnego-client, and its gss-spnego acceptor), and impacket 0.10's spnego module.
// Every test parses the tokens with ParseToken to check where a mechListMIC travelled
// (and alters one to see it checked), crosses message protection both ways where the
// peer can protect messages (or compares session keys where it cannot), and has a
// wrong password refused. Run them with GOSSP_INTEROP=1; they skip without it.

const (
	peerUserFile    = domain + ":" + user + ":" + password + "\n"
	ourTarget       = "HTTP/localhost" // SPN form, for our initiator
	peerTarget      = "HTTP@localhost" // GSS host-based form, for MIT's initiator
	peerWorkstation = "PEERWS"
	ourWorkstation  = "GOSSPTEST"
)

var protectFlags = sspi.FlagIntegrity | sspi.FlagConfidentiality | sspi.FlagReplayDetect | sspi.FlagSequenceDetect

// protectMessages are exchanged both ways after each handshake. None is empty:
// gss-ntlmssp refuses to wrap an empty message.
var protectMessages = [][]byte{[]byte("gossp negotiate interop"), bytes.Repeat([]byte{0xA5}, 1000), {0}}

// tamperFunc may rewrite token i (in wire order, the initiator's at even indexes) on its
// way to the other side.
type tamperFunc func(i int, tok []byte) []byte

// drive configures a handshake between our context and a peer.
type drive struct {
	tamper tamperFunc // nil leaves every token alone
	// acceptorFirst starts with the acceptor's NegTokenInit2 (as SMB2 does), which the
	// initiator takes as its first input.
	acceptorFirst bool
}

// conversation is what a handshake left.
type conversation struct {
	hint []byte   // the acceptor's NegTokenInit2 when it went first
	toks [][]byte // every other token as delivered, in wire order
	err  error    // the first failure, ours or the peer's
	// peerErr is the peer's verdict on the reject our acceptor answered a failure
	// with (acceptFrom only).
	peerErr error
}

func (c *conversation) deliver(d drive, tok []byte) []byte {
	if d.tamper != nil {
		tok = d.tamper(len(c.toks), bytes.Clone(tok))
	}
	c.toks = append(c.toks, tok)
	return tok
}

// initiateTo runs our initiator against a peer acceptor.
func initiateTo(ini sspi.Initiator, peer record.Peer, d drive) *conversation {
	c := &conversation{}
	var in []byte
	if d.acceptorFirst {
		if c.hint, _, c.err = peer.Step(nil); c.err != nil {
			return c
		}
		in = c.hint
	}
	peerDone := false
	for range 6 {
		out, st, err := ini.InitializeContext(context.Background(), in)
		if err != nil {
			c.err = err
			return c
		}
		in = nil
		if len(out) > 0 {
			back, done, err := peer.Step(c.deliver(d, out))
			if err != nil {
				c.err = err
				return c
			}
			if len(back) > 0 {
				back = c.deliver(d, back)
			}
			in, peerDone = back, done
		}
		if st == sspi.StatusOK {
			if !peerDone || len(in) > 0 {
				c.err = errors.New("we completed but the peer did not")
			}
			return c
		}
		if len(out) == 0 {
			c.err = errors.New("we need more but produced no token")
			return c
		}
	}
	c.err = errors.New("the handshake did not finish")
	return c
}

// acceptFrom runs a peer initiator against our acceptor. When our acceptor fails, the
// reject it answers with is delivered to the peer too.
func acceptFrom(acc sspi.Acceptor, peer record.Peer, d drive) *conversation {
	c := &conversation{}
	var hint []byte
	if d.acceptorFirst {
		if c.hint, _, c.err = acc.AcceptContext(context.Background(), nil); c.err != nil {
			return c
		}
		hint = c.hint
	}
	tok, peerDone, err := peer.Step(hint)
	if err != nil {
		c.err = err
		return c
	}
	tok = c.deliver(d, tok)
	for range 6 {
		out, st, err := acc.AcceptContext(context.Background(), tok)
		tok = nil
		if err != nil {
			c.err = err
			if len(out) > 0 {
				_, _, c.peerErr = peer.Step(c.deliver(d, out))
			}
			return c
		}
		if len(out) > 0 {
			if tok, peerDone, err = peer.Step(c.deliver(d, out)); err != nil {
				c.err = err
				return c
			}
			if len(tok) > 0 {
				tok = c.deliver(d, tok)
			}
		}
		if st == sspi.StatusOK {
			if !peerDone || len(tok) > 0 {
				c.err = errors.New("we completed but the peer did not")
			}
			return c
		}
		if peerDone && len(tok) == 0 {
			c.err = errors.New("the peer completed but we did not")
			return c
		}
	}
	c.err = errors.New("the handshake did not finish")
	return c
}

// leg is one SPNEGO token as ParseToken reads it.
type leg struct {
	init *negotiate.NegTokenInit
	resp *negotiate.NegTokenResp
}

func (l leg) mic() []byte {
	if l.init != nil {
		return l.init.MechListMIC
	}
	return l.resp.MechListMIC
}

func (l leg) String() string {
	if l.init != nil {
		return fmt.Sprintf("NegTokenInit{mechTypes %v, mechToken %dB, mechListMIC %dB}", l.init.MechTypes, len(l.init.MechToken), len(l.init.MechListMIC))
	}
	r := l.resp
	var b strings.Builder
	b.WriteString("NegTokenResp{")
	if r.HasNegState {
		b.WriteString(r.NegState.String() + ", ")
	}
	if r.SupportedMech != nil {
		fmt.Fprintf(&b, "supportedMech %v, ", r.SupportedMech)
	}
	fmt.Fprintf(&b, "responseToken %dB, mechListMIC %dB}", len(r.ResponseToken), len(r.MechListMIC))
	return b.String()
}

// parseWire parses every token, checks the SPNEGO shape every conversation shares (a
// NegTokenInit, then NegTokenResps; the acceptor's first names the mechanism) and logs
// the conversation.
func parseWire(t *testing.T, toks [][]byte) []leg {
	t.Helper()
	legs := make([]leg, len(toks))
	for i, tok := range toks {
		init, resp, err := negotiate.ParseToken(tok)
		if err != nil {
			t.Fatalf("token %d does not parse: %v\n%x", i, err, tok)
		}
		legs[i] = leg{init, resp}
		dir := "initiator ->"
		if i%2 == 1 {
			dir = "<- acceptor"
		}
		t.Logf("%d %s %v", i, dir, legs[i])
		if (i == 0) != (init != nil) {
			t.Errorf("token %d: %v, want a NegTokenInit first and NegTokenResps after", i, legs[i])
		}
	}
	if len(legs) > 1 && legs[1].resp != nil && (!legs[1].resp.HasNegState || legs[1].resp.SupportedMech == nil) {
		t.Errorf("the acceptor's first token lacks negState or supportedMech: %v", legs[1])
	}
	return legs
}

// wantMICs checks which sides sent a mechListMIC, and that each sent at most one.
func wantMICs(t *testing.T, legs []leg, fromInitiator, fromAcceptor bool) {
	t.Helper()
	var n [2]int
	for i, l := range legs {
		if l.mic() != nil {
			n[i%2]++
		}
	}
	if n[0] > 1 || n[1] > 1 || (n[0] == 1) != fromInitiator || (n[1] == 1) != fromAcceptor {
		t.Errorf("mechListMICs: %d from the initiator, %d from the acceptor; want initiator %v, acceptor %v", n[0], n[1], fromInitiator, fromAcceptor)
	}
}

// flipMIC returns a tamperFunc that alters the mechListMIC's checksum in token at.
func flipMIC(t *testing.T, at int) tamperFunc {
	return func(i int, tok []byte) []byte {
		if i != at {
			return tok
		}
		_, resp, err := negotiate.ParseToken(tok)
		if err != nil || resp == nil || len(resp.MechListMIC) != 16 {
			t.Fatalf("token %d has no NTLM mechListMIC to alter (%v)", i, err)
		}
		// NTLM's signature: version (4 bytes), checksum (8), sequence number (4).
		off := bytes.LastIndex(tok, resp.MechListMIC)
		tok[off+4] ^= 1
		return tok
	}
}

// wantReject checks that tok is a NegTokenResp with negState reject.
func wantReject(t *testing.T, tok []byte) {
	t.Helper()
	_, resp, err := negotiate.ParseToken(tok)
	if err != nil || resp == nil || !resp.HasNegState || resp.NegState != negotiate.Reject {
		t.Errorf("our acceptor's last token is not a reject: %x (%v)", tok, err)
	}
}

// crossProtect seals and signs messages both ways between our context and a GSS peer,
// then checks that an altered peer token is refused.
func crossProtect(t *testing.T, ours sspi.SecurityContext, peer *gsspeer.Peer) {
	t.Helper()
	if err := (&record.Conversation{}).Protect(ours, peer, protectMessages); err != nil {
		t.Fatal(err)
	}
	ptok, err := peer.Wrap([]byte("tamper"), true)
	if err != nil {
		t.Fatal(err)
	}
	ptok[len(ptok)-1] ^= 1
	if _, err := ours.DecryptMessage(ptok); !errors.Is(err, sspi.ErrMessageAltered) {
		t.Fatalf("altered peer token: %v, want SEC_E_MESSAGE_ALTERED", err)
	}
}

// wantNTLM checks that our context ended on NTLM under Negotiate.
func wantNTLM(t *testing.T, c sspi.SecurityContext) {
	t.Helper()
	a := c.Attributes()
	if !a.Established || a.Package.Name != ntlm.Name || !a.MechOID.Equal(negotiate.OIDNTLM) ||
		len(a.Path) != 2 || a.Path[0] != negotiate.Name || a.ClientName != domain+`\`+user {
		t.Errorf("attributes: established %v, package %q, mech %v, path %v, client %q",
			a.Established, a.Package.Name, a.MechOID, a.Path, a.ClientName)
	}
}

// wantPeerInitiator checks the name MIT's acceptor authenticated.
func wantPeerInitiator(t *testing.T, peer *gsspeer.Peer) {
	t.Helper()
	info, err := peer.Info()
	if err != nil {
		t.Fatal(err)
	}
	// gss-ntlmssp's display name carries its C string's NUL; MIT names the mechanism
	// SPNEGO chose ("<OID 1.3.6.1.4.1.311.2.2.10>").
	if got := strings.TrimRight(info.Initiator, "\x00"); got != domain+`\`+user || !strings.Contains(info.Mech, negotiate.OIDNTLM.String()+">") {
		t.Errorf("MIT accepted %q over %s", info.Initiator, info.Mech)
	}
}

// ourInitiator makes our Negotiate initiator over NTLM (and first PSK, with withPSK).
func ourInitiator(t *testing.T, ntlmCfg ntlm.Config, pw string, flags sspi.ContextFlags, withPSK bool) sspi.Initiator {
	t.Helper()
	var pkgs []sspi.Package
	if withPSK {
		pkgs = append(pkgs, oidPSK{psk.New(psk.Config{Rand: ntlmCfg.Rand})})
	}
	n := newNegotiate(t, "", append(pkgs, ntlm.New(ntlmCfg))...)
	ini, err := acquire(t, n, clientReq(pw)).NewInitiator(sspi.ContextConfig{Target: ourTarget, Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ini.Close() })
	return ini
}

// ourAcceptor makes our Negotiate acceptor over NTLM.
func ourAcceptor(t *testing.T, ntlmCfg ntlm.Config) sspi.Acceptor {
	t.Helper()
	acc, err := acquire(t, newNegotiate(t, "", ntlm.New(ntlmCfg)), serverReq()).NewAcceptor(sspi.ContextConfig{Flags: protectFlags})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { acc.Close() })
	return acc
}

func mitAcceptor(t *testing.T, env []string) *gsspeer.Peer {
	return gsspeer.Start(t, gsspeer.Options{Role: "acceptor", Mech: "spnego", SpnegoMechs: []string{"ntlm"}, Env: env})
}

func mitInitiator(t *testing.T, env []string, pw string) *gsspeer.Peer {
	return gsspeer.Start(t, gsspeer.Options{Role: "initiator", Mech: "spnego", SpnegoMechs: []string{"ntlm"}, Env: env,
		User: domain + `\` + user, Password: pw, Target: peerTarget})
}

// (1) Our Negotiate initiator -> MIT's SPNEGO acceptor with gss-ntlmssp.
func TestInteropMITAcceptor(t *testing.T) {
	env := gsspeer.NTLMSSPEnv(t, peerUserFile)
	cfg := ntlm.Config{Workstation: ourWorkstation}
	t.Run("right password", func(t *testing.T) {
		peer := mitAcceptor(t, env)
		ini := ourInitiator(t, cfg, password, protectFlags, false)
		c := initiateTo(ini, peer, drive{})
		legs := parseWire(t, c.toks)
		if c.err != nil {
			t.Fatal(c.err)
		}
		// NTLM was our first and only choice, so RFC 4178 leaves the MIC optional, but
		// our AUTHENTICATE carries NTLM's own MIC and gss-ntlmssp then has MIT require
		// the mechListMIC (as Windows does): ours travels with the AUTHENTICATE, MIT's
		// with accept-completed.
		wantMICs(t, legs, true, true)
		if len(legs) != 4 || legs[2].mic() == nil || legs[2].resp.ResponseToken == nil || legs[3].resp.NegState != negotiate.AcceptCompleted {
			t.Errorf("want NegTokenInit, CHALLENGE, AUTHENTICATE+MIC, accept-completed+MIC")
		}
		wantNTLM(t, ini)
		wantPeerInitiator(t, peer)
		// Both sides reset NTLM's RC4 state after the MICs (MS-SPNG 3.3.5.1): the first
		// sealed messages after them open on the other side.
		crossProtect(t, ini, peer)
	})
	t.Run("no integrity", func(t *testing.T) {
		// HTTP's Negotiate asks for no protection: NTLM then negotiates no signing, so
		// no side can make a mechListMIC and MIT expects none.
		peer := mitAcceptor(t, env)
		ini := ourInitiator(t, cfg, password, 0, false)
		c := initiateTo(ini, peer, drive{})
		legs := parseWire(t, c.toks)
		if c.err != nil {
			t.Fatal(c.err)
		}
		wantMICs(t, legs, false, false)
		wantNTLM(t, ini)
		wantPeerInitiator(t, peer)
	})
	t.Run("altered initiator MIC", func(t *testing.T) {
		peer := mitAcceptor(t, env)
		ini := ourInitiator(t, cfg, password, protectFlags, false)
		if c := initiateTo(ini, peer, drive{tamper: flipMIC(t, 2)}); !errors.Is(c.err, gsspeer.ErrPeer) {
			t.Fatalf("MIT took an altered mechListMIC of ours: %v", c.err)
		}
	})
	t.Run("altered acceptor MIC", func(t *testing.T) {
		peer := mitAcceptor(t, env)
		ini := ourInitiator(t, cfg, password, protectFlags, false)
		if c := initiateTo(ini, peer, drive{tamper: flipMIC(t, 3)}); !errors.Is(c.err, sspi.ErrDowngradeDetected) {
			t.Fatalf("an altered mechListMIC of MIT's: %v, want SEC_E_DOWNGRADE_DETECTED", c.err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		peer := mitAcceptor(t, env)
		ini := ourInitiator(t, cfg, "nope", protectFlags, false)
		if c := initiateTo(ini, peer, drive{}); !errors.Is(c.err, gsspeer.ErrPeer) {
			t.Fatalf("wrong password: %v, want MIT to refuse", c.err)
		}
	})
}

// (2) MIT's SPNEGO initiator with gss-ntlmssp -> our Negotiate acceptor.
func TestInteropMITInitiator(t *testing.T) {
	env := gsspeer.NTLMSSPEnv(t, peerUserFile)
	for _, d := range []struct {
		name string
		drive
	}{{"right password", drive{}}, {"right password, acceptor first", drive{acceptorFirst: true}}} {
		t.Run(d.name, func(t *testing.T) {
			peer := mitInitiator(t, env, password)
			acc := ourAcceptor(t, ntlm.Config{})
			c := acceptFrom(acc, peer, d.drive)
			legs := parseWire(t, c.toks)
			if c.err != nil {
				t.Fatal(c.err)
			}
			if d.acceptorFirst {
				// MIT takes our NegTokenInit2 on its first call, as Samba does.
				wantHint(t, c.hint)
			}
			// MIT sends its MIC with the AUTHENTICATE (and, unlike Windows, negState
			// accept-incomplete in that token); we verify it and answer accept-completed
			// with ours.
			wantMICs(t, legs, true, true)
			if len(legs) != 4 || legs[2].mic() == nil || legs[3].resp.NegState != negotiate.AcceptCompleted || legs[3].resp.ResponseToken != nil {
				t.Errorf("want NegTokenInit, CHALLENGE, AUTHENTICATE+MIC, accept-completed+MIC")
			}
			wantNTLM(t, acc)
			if acc.Attributes().Flags&sspi.FlagConfidentiality == 0 {
				t.Errorf("no confidentiality: %v", acc.Attributes().Flags)
			}
			crossProtect(t, acc, peer)
		})
	}
	t.Run("altered initiator MIC", func(t *testing.T) {
		peer := mitInitiator(t, env, password)
		acc := ourAcceptor(t, ntlm.Config{})
		c := acceptFrom(acc, peer, drive{tamper: flipMIC(t, 2)})
		if !errors.Is(c.err, sspi.ErrDowngradeDetected) {
			t.Fatalf("an altered mechListMIC of MIT's: %v, want SEC_E_DOWNGRADE_DETECTED", c.err)
		}
		wantReject(t, c.toks[len(c.toks)-1])
	})
	t.Run("altered acceptor MIC", func(t *testing.T) {
		peer := mitInitiator(t, env, password)
		acc := ourAcceptor(t, ntlm.Config{})
		if c := acceptFrom(acc, peer, drive{tamper: flipMIC(t, 3)}); !errors.Is(c.err, gsspeer.ErrPeer) {
			t.Fatalf("MIT took an altered mechListMIC of ours: %v", c.err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		peer := mitInitiator(t, env, "nope")
		acc := ourAcceptor(t, ntlm.Config{})
		c := acceptFrom(acc, peer, drive{})
		if !errors.Is(c.err, sspi.ErrLogonDenied) {
			t.Fatalf("wrong password: %v, want SEC_E_LOGON_DENIED", c.err)
		}
		wantReject(t, c.toks[len(c.toks)-1])
		if !errors.Is(c.peerErr, gsspeer.ErrPeer) {
			t.Errorf("MIT took our reject without an error: %v", c.peerErr)
		}
	})
}

// (3) The fall-back: our initiator prefers a mechanism MIT lacks (PSK under a private
// OID, sent with its optimistic token), then NTLM. MIT must pick NTLM with request-mic,
// and both MICs must travel and verify (RFC 4178 section 5: the choice was not the
// initiator's first).
func TestInteropMITFallback(t *testing.T) {
	env := gsspeer.NTLMSSPEnv(t, peerUserFile)
	cfg := ntlm.Config{Workstation: ourWorkstation}
	t.Run("right password", func(t *testing.T) {
		peer := mitAcceptor(t, env)
		ini := ourInitiator(t, cfg, password, protectFlags, true)
		c := initiateTo(ini, peer, drive{})
		legs := parseWire(t, c.toks)
		if c.err != nil {
			t.Fatal(c.err)
		}
		checkFallbackWire(t, legs)
		wantNTLM(t, ini)
		wantPeerInitiator(t, peer)
		crossProtect(t, ini, peer)
	})
	t.Run("no integrity", func(t *testing.T) {
		// The application asks for no protection (HTTP). MIT's request-mic is only
		// honoured when NTLM signs; without signing MIT completes with no MIC at all,
		// which our initiator must refuse as a downgrade. So the fall-back NTLM is
		// started with integrity whatever the application asked (the bug this found).
		peer := mitAcceptor(t, env)
		ini := ourInitiator(t, cfg, password, 0, true)
		c := initiateTo(ini, peer, drive{})
		legs := parseWire(t, c.toks)
		if c.err != nil {
			t.Fatal(c.err)
		}
		checkFallbackWire(t, legs)
		wantNTLM(t, ini)
	})
	t.Run("wrong password", func(t *testing.T) {
		peer := mitAcceptor(t, env)
		ini := ourInitiator(t, cfg, "nope", protectFlags, true)
		if c := initiateTo(ini, peer, drive{}); !errors.Is(c.err, gsspeer.ErrPeer) {
			t.Fatalf("wrong password: %v, want MIT to refuse", c.err)
		}
	})
	t.Run("altered acceptor MIC", func(t *testing.T) {
		peer := mitAcceptor(t, env)
		ini := ourInitiator(t, cfg, password, protectFlags, true)
		if c := initiateTo(ini, peer, drive{tamper: flipMIC(t, 5)}); !errors.Is(c.err, sspi.ErrDowngradeDetected) {
			t.Fatalf("an altered mechListMIC of MIT's: %v, want SEC_E_DOWNGRADE_DETECTED", c.err)
		}
	})
}

// checkFallbackWire checks the fall-back conversation's shape.
func checkFallbackWire(t *testing.T, legs []leg) {
	t.Helper()
	if len(legs) != 6 {
		t.Fatalf("%d tokens, want 6", len(legs))
	}
	if got := legs[0].init.MechTypes; len(got) != 2 || !got[0].Equal(pskOID) || !got[1].Equal(negotiate.OIDNTLM) || legs[0].init.MechToken == nil {
		t.Errorf("offered %v, want PSK (with its optimistic token) then NTLM", got)
	}
	r := legs[1].resp
	if r.NegState != negotiate.RequestMIC || !r.SupportedMech.Equal(negotiate.OIDNTLM) || r.ResponseToken != nil {
		t.Errorf("MIT's choice: %v, want request-mic, NTLM, no token", legs[1])
	}
	if tok := legs[2].resp.ResponseToken; !bytes.HasPrefix(tok, []byte("NTLMSSP\x00\x01")) {
		t.Errorf("our answer to MIT's choice is not an NTLM NEGOTIATE: %x", tok)
	}
	wantMICs(t, legs, true, true)
	if legs[4].mic() == nil || legs[5].mic() == nil || legs[5].resp.NegState != negotiate.AcceptCompleted {
		t.Errorf("want the MICs with the AUTHENTICATE and with accept-completed")
	}
}

// wantHint checks an acceptor's NegTokenInit2: NTLM offered, Windows' hint name.
func wantHint(t *testing.T, hint []byte) {
	t.Helper()
	init, _, err := negotiate.ParseToken(hint)
	if err != nil || init == nil || init.NegHints == nil || init.MechToken != nil ||
		!slices.ContainsFunc(init.MechTypes, negotiate.OIDNTLM.Equal) ||
		init.NegHints.HintName != "not_defined_in_RFC4178@please_ignore" {
		t.Errorf("acceptor's NegTokenInit2: %+v (%v)", init, err)
	}
}

// (4) Samba's ntlm_auth --helper-protocol=gss-spnego-client -> our acceptor. ntlm_auth
// has no message protection to cross; with signing it checks our mechListMIC, and its
// session key (GK) must be ours.
func TestInteropSambaSPNEGOClient(t *testing.T) {
	ntlmpeer.NtlmAuth(t) // gate the whole test, not each subtest
	start := func(t *testing.T, pw string, features ...string) *ntlmpeer.Peer {
		return ntlmpeer.Start(t, ntlmpeer.Options{Role: ntlmpeer.SambaSpnegoClient, Domain: domain,
			User: user, Password: pw, Workstation: peerWorkstation, Features: features})
	}
	signSeal := []string{ntlmpeer.FeatureSign, ntlmpeer.FeatureSeal}
	for _, d := range []struct {
		name string
		drive
	}{{"sign and seal", drive{}}, {"sign and seal, acceptor first", drive{acceptorFirst: true}}} {
		t.Run(d.name, func(t *testing.T) {
			peer := start(t, password, signSeal...)
			acc := ourAcceptor(t, ntlm.Config{})
			c := acceptFrom(acc, peer, d.drive)
			legs := parseWire(t, c.toks)
			if c.err != nil {
				t.Fatal(c.err)
			}
			if d.acceptorFirst {
				// Samba takes our NegTokenInit2 as SMB2's NEGOTIATE response carries it.
				wantHint(t, c.hint)
			}
			// Samba's NTLM signs, so its SPNEGO sends the MIC with the AUTHENTICATE and
			// requires ours with accept-completed: its AF vouches for our MIC.
			wantMICs(t, legs, true, true)
			wantNTLM(t, acc)
			if a, ok := sspi.ContextAs[*ntlm.Acceptor](acc); !ok || !a.NegotiatedFlags().Has(ntlm.FlagSign|ntlm.FlagSeal) {
				t.Errorf("NTLM did not negotiate signing and sealing")
			}
			sameKey(t, acc, peer)
		})
	}
	t.Run("no signing", func(t *testing.T) {
		// ntlm_auth's default: NTLM without SIGN or SEAL. No side can sign the
		// mechanism list, and NTLM was Samba's only choice: no MIC either way.
		peer := start(t, password)
		acc := ourAcceptor(t, ntlm.Config{})
		c := acceptFrom(acc, peer, drive{})
		legs := parseWire(t, c.toks)
		if c.err != nil {
			t.Fatal(c.err)
		}
		wantMICs(t, legs, false, false)
		wantNTLM(t, acc)
		sameKey(t, acc, peer)
	})
	t.Run("altered acceptor MIC", func(t *testing.T) {
		peer := start(t, password, signSeal...)
		acc := ourAcceptor(t, ntlm.Config{})
		if c := acceptFrom(acc, peer, drive{tamper: flipMIC(t, 3)}); !errors.Is(c.err, ntlmpeer.ErrPeer) {
			t.Fatalf("ntlm_auth took an altered mechListMIC of ours: %v", c.err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		peer := start(t, "nope", signSeal...)
		acc := ourAcceptor(t, ntlm.Config{})
		c := acceptFrom(acc, peer, drive{})
		if !errors.Is(c.err, sspi.ErrLogonDenied) {
			t.Fatalf("wrong password: %v, want SEC_E_LOGON_DENIED", c.err)
		}
		wantReject(t, c.toks[len(c.toks)-1])
		if !errors.Is(c.peerErr, ntlmpeer.ErrPeer) {
			t.Errorf("ntlm_auth took our reject without an error: %v", c.peerErr)
		}
	})
}

// Our initiator -> Samba's ntlm_auth --helper-protocol=gss-spnego (checking the password
// locally), SPNEGO's other independent acceptor here, started as a client does or from
// Samba's NegTokenInit2.
func TestInteropSambaSPNEGOServer(t *testing.T) {
	ntlmpeer.NtlmAuth(t) // gate the whole test, not each subtest
	start := func(t *testing.T) *ntlmpeer.Peer {
		return ntlmpeer.Start(t, ntlmpeer.Options{Role: ntlmpeer.SambaSpnegoServer, Domain: domain,
			User: user, Password: password})
	}
	cfg := ntlm.Config{Workstation: ourWorkstation}
	for _, d := range []struct {
		name string
		drive
	}{{"right password", drive{}}, {"right password, acceptor first", drive{acceptorFirst: true}}} {
		t.Run(d.name, func(t *testing.T) {
			peer := start(t)
			ini := ourInitiator(t, cfg, password, protectFlags, false)
			c := initiateTo(ini, peer, d.drive)
			legs := parseWire(t, c.toks)
			if c.err != nil {
				t.Fatal(c.err)
			}
			if d.acceptorFirst {
				wantHint(t, c.hint)
			}
			wantMICs(t, legs, true, true)
			wantNTLM(t, ini)
			if u, err := peer.User(); err != nil || u != domain+`\`+user {
				t.Errorf("Samba authenticated %q (%v)", u, err)
			}
			sameKey(t, ini, peer)
		})
	}
	for _, f := range []struct {
		name  string
		flags sspi.ContextFlags
	}{{"fall-back", protectFlags}, {"fall-back, no integrity", 0}} {
		t.Run(f.name, func(t *testing.T) {
			// PSK first, as against MIT: Samba must choose NTLM with request-mic the
			// same way, and (like MIT) completes without a MIC if NTLM cannot sign.
			peer := start(t)
			ini := ourInitiator(t, cfg, password, f.flags, true)
			c := initiateTo(ini, peer, drive{})
			legs := parseWire(t, c.toks)
			if c.err != nil {
				t.Fatal(c.err)
			}
			checkFallbackWire(t, legs)
			wantNTLM(t, ini)
			sameKey(t, ini, peer)
		})
	}
	t.Run("altered initiator MIC", func(t *testing.T) {
		peer := start(t)
		ini := ourInitiator(t, cfg, password, protectFlags, false)
		if c := initiateTo(ini, peer, drive{tamper: flipMIC(t, 2)}); !errors.Is(c.err, ntlmpeer.ErrPeer) {
			t.Fatalf("Samba took an altered mechListMIC of ours: %v", c.err)
		}
	})
	t.Run("altered acceptor MIC", func(t *testing.T) {
		peer := start(t)
		ini := ourInitiator(t, cfg, password, protectFlags, false)
		if c := initiateTo(ini, peer, drive{tamper: flipMIC(t, 3)}); !errors.Is(c.err, sspi.ErrDowngradeDetected) {
			t.Fatalf("an altered mechListMIC of Samba's: %v, want SEC_E_DOWNGRADE_DETECTED", c.err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		peer := start(t)
		ini := ourInitiator(t, cfg, "nope", protectFlags, false)
		if c := initiateTo(ini, peer, drive{}); !errors.Is(c.err, ntlmpeer.ErrDenied) {
			t.Fatalf("wrong password: %v, want Samba to refuse", c.err)
		}
	})
}

// sameKey checks that the peer exported our session key.
func sameKey(t *testing.T, ours sspi.SecurityContext, peer *ntlmpeer.Peer) {
	t.Helper()
	want, err := ours.SessionKey()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := peer.SessionKey(); err != nil || !bytes.Equal(got, want) || len(want) != 16 {
		t.Errorf("peer session key %x (%v), ours %x", got, err, want)
	}
}

// (5) impacket's SPNEGO wrapper around its NTLM -> our acceptor. impacket sends no
// mechListMIC; NTLM is its first and only mechanism, so RFC 4178 makes the MIC optional
// and we accept without one. Then sealing and signing both ways with impacket's own
// functions: with no MIC exchanged, neither side resets its RC4 state.
func TestInteropImpacketSPNEGOClient(t *testing.T) {
	ntlmpeer.Python(t, true) // gate the whole test, not each subtest
	start := func(t *testing.T, pw string) *ntlmpeer.Peer {
		return ntlmpeer.Start(t, ntlmpeer.Options{Role: ntlmpeer.ImpacketSpnegoClient, Domain: domain,
			User: user, Password: pw, Workstation: peerWorkstation})
	}
	t.Run("right password", func(t *testing.T) {
		peer := start(t, password)
		acc := ourAcceptor(t, ntlm.Config{})
		c := acceptFrom(acc, peer, drive{})
		legs := parseWire(t, c.toks)
		if c.err != nil {
			t.Fatal(c.err)
		}
		wantMICs(t, legs, false, false)
		if got := legs[0].init.MechTypes; len(got) != 1 || !got[0].Equal(negotiate.OIDNTLM) {
			t.Errorf("impacket offered %v, want NTLM alone", got)
		}
		if len(legs) != 4 || legs[3].resp.NegState != negotiate.AcceptCompleted {
			t.Errorf("want NegTokenInit, CHALLENGE, AUTHENTICATE, accept-completed")
		}
		wantNTLM(t, acc)
		sameKey(t, acc, peer)
		impacketProtect(t, acc, peer)
	})
	t.Run("wrong password", func(t *testing.T) {
		peer := start(t, "nope")
		acc := ourAcceptor(t, ntlm.Config{})
		c := acceptFrom(acc, peer, drive{})
		if !errors.Is(c.err, sspi.ErrLogonDenied) {
			t.Fatalf("wrong password: %v, want SEC_E_LOGON_DENIED", c.err)
		}
		wantReject(t, c.toks[len(c.toks)-1])
		if !errors.Is(c.peerErr, ntlmpeer.ErrDenied) {
			t.Errorf("impacket's verdict on our reject: %v, want denied", c.peerErr)
		}
	})
}

// impacketProtect seals and signs messages both ways between our acceptor and impacket.
func impacketProtect(t *testing.T, acc sspi.SecurityContext, peer *ntlmpeer.Peer) {
	t.Helper()
	for i, msg := range append(protectMessages, []byte{}) {
		ptok, err := peer.Seal(msg)
		if err != nil {
			t.Fatalf("impacket seal %d: %v", i, err)
		}
		if got, err := acc.DecryptMessage(ptok); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("DecryptMessage of impacket's token %d: %q %v", i, got, err)
		}
		psig, err := peer.Sign(msg)
		if err != nil {
			t.Fatalf("impacket sign %d: %v", i, err)
		}
		if err := acc.VerifySignature(msg, psig); err != nil {
			t.Fatalf("we refuse impacket's signature %d: %v", i, err)
		}
		tok, err := acc.EncryptMessage(msg)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := peer.Unseal(tok); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("impacket unseal of our token %d: %q %v", i, got, err)
		}
		sig, err := acc.MakeSignature(msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := peer.Verify(msg, sig); err != nil {
			t.Fatalf("impacket refuses our signature %d: %v", i, err)
		}
	}
	ptok, err := peer.Seal([]byte("tamper"))
	if err != nil {
		t.Fatal(err)
	}
	ptok[len(ptok)-1] ^= 1
	if _, err := acc.DecryptMessage(ptok); !errors.Is(err, sspi.ErrMessageAltered) {
		t.Fatalf("altered impacket token: %v, want SEC_E_MESSAGE_ALTERED", err)
	}
}
