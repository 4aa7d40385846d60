package negotiate_test

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/gossp/gossp/internal/interop/gsspeer"
	"github.com/gossp/gossp/internal/interop/ntlmpeer"
	"github.com/gossp/gossp/internal/interop/record"
	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/sspi"
)

// Recorded conversations with real SPNEGO peers, replayed in every plain `go test` so
// the bytes stay checked where no peer is installed: MIT's SPNEGO (gss-ntlmssp inside)
// both ways and in the fall-back, Samba's gss-spnego-client and impacket's spnego
// module. Refresh them while the peers are installed:
//
//	GOSSP_INTEROP=1 go test ./negotiate -run Replay -update
//
// Negotiate has no randomness of its own; replay gives NTLM (and PSK, which the
// fall-back offers first) the recorded randomness and clock, so every token we produce
// must match the recording byte for byte, and every token the peer produced, its
// mechListMICs included, must still be accepted.

var update = flag.Bool("update", false, "re-record the conversations in testdata/ with live peers (needs GOSSP_INTEROP=1)")

var replayMessages = [][]byte{[]byte("gossp negotiate replay"), bytes.Repeat([]byte{0x5A}, 700)}

// replayCase is one recorded conversation.
type replayCase struct {
	peer     string // "mit", "samba" or "impacket"
	role     string // ours
	fallback bool   // our initiator offers PSK first
	// micFrom is the index of the peer's token with its mechListMIC; 0 for none.
	micFrom int
}

var replayCases = []replayCase{
	{peer: "mit", role: "initiator", micFrom: 3},                 // (1)
	{peer: "mit", role: "acceptor", micFrom: 2},                  // (2)
	{peer: "mit", role: "initiator", fallback: true, micFrom: 5}, // (3)
	{peer: "samba", role: "acceptor", micFrom: 2},                // (4), with signing
	{peer: "impacket", role: "acceptor"},                         // (5), no MIC at all
}

func (c replayCase) name() string {
	n := c.peer + "-spnego-ours-" + c.role
	if c.fallback {
		n += "-fallback"
	}
	return n
}

func (c replayCase) path() string { return filepath.Join("testdata", c.name()+".json") }

// side makes our side of the conversation with the given randomness and clock.
func (c replayCase) side(t *testing.T, rand io.Reader, now time.Time) (sspi.SecurityContext, record.Step) {
	t.Helper()
	cfg := ntlm.Config{Rand: rand, Now: func() time.Time { return now }}
	if c.role == "initiator" {
		cfg.Workstation = ourWorkstation
		ini := ourInitiator(t, cfg, password, protectFlags, c.fallback)
		return ini, func(in []byte) ([]byte, sspi.Status, error) { return ini.InitializeContext(t.Context(), in) }
	}
	acc := ourAcceptor(t, cfg)
	return acc, func(in []byte) ([]byte, sspi.Status, error) { return acc.AcceptContext(t.Context(), in) }
}

// impacketProtector gives impacket's sealing and signing the shape of a GSS peer's.
type impacketProtector struct{ *ntlmpeer.Peer }

func (p impacketProtector) Wrap(msg []byte, _ bool) ([]byte, error) { return p.Seal(msg) }
func (p impacketProtector) Unwrap(tok []byte) ([]byte, bool, error) {
	msg, err := p.Unseal(tok)
	return msg, true, err
}
func (p impacketProtector) MIC(msg []byte) ([]byte, error) { return p.Sign(msg) }

// record runs the conversation live and writes it.
func (c replayCase) record(t *testing.T) {
	rr := &record.Rand{}
	now := time.Now().UTC().Truncate(time.Second)
	conv := &record.Conversation{OurRole: c.role, Now: now}
	var peer record.Peer
	var protector record.Protector // nil: the peer has no message protection
	switch c.peer {
	case "mit":
		env := gsspeer.NTLMSSPEnv(t, peerUserFile)
		conv.Peer = "MIT GSS-API 1.20 SPNEGO, gss-ntlmssp 1.2.0"
		var p *gsspeer.Peer
		if c.role == "initiator" {
			p = mitAcceptor(t, env)
		} else {
			p = mitInitiator(t, env, password)
		}
		peer, protector = p, p
	case "samba":
		conv.Peer = "Samba 4.17 ntlm_auth --helper-protocol=gss-spnego-client, NTLMSSP_FEATURE_SIGN and SEAL"
		peer = ntlmpeer.Start(t, ntlmpeer.Options{Role: ntlmpeer.SambaSpnegoClient, Domain: domain, User: user,
			Password: password, Workstation: peerWorkstation, Features: []string{ntlmpeer.FeatureSign, ntlmpeer.FeatureSeal}})
	case "impacket":
		conv.Peer = "impacket 0.10 spnego and ntlm (NTLMv2), impacket's SEAL and SIGN"
		p := ntlmpeer.Start(t, ntlmpeer.Options{Role: ntlmpeer.ImpacketSpnegoClient, Domain: domain, User: user,
			Password: password, Workstation: peerWorkstation})
		peer, protector = p, impacketProtector{p}
	}
	ours, step := c.side(t, rr, now)
	if err := conv.Handshake(step, peer); err != nil {
		t.Fatal(err)
	}
	conv.Client = ours.Attributes().ClientName
	if protector != nil {
		if err := conv.Protect(ours, protector, replayMessages); err != nil {
			t.Fatal(err)
		}
	}
	conv.Rand = rr.Bytes()
	if err := conv.Save(c.path()); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %s", c.path())
}

func (c replayCase) load(t *testing.T) *record.Conversation {
	t.Helper()
	conv, err := record.Load(c.path())
	if err != nil {
		t.Fatalf("%v (record it with GOSSP_INTEROP=1 go test ./negotiate -run Replay -update)", err)
	}
	return conv
}

func TestReplay(t *testing.T) {
	for _, c := range replayCases {
		t.Run(c.name(), func(t *testing.T) {
			if *update {
				c.record(t)
			}
			conv := c.load(t)
			// The recorded wire: a MIC each way where the peer's NTLM signs (with MIT's
			// request-mic in the fall-back), none from impacket.
			toks := make([][]byte, len(conv.Tokens))
			for i, tok := range conv.Tokens {
				toks[i] = tok
			}
			legs := parseWire(t, toks)
			wantMICs(t, legs, c.micFrom != 0, c.micFrom != 0)
			if c.fallback {
				checkFallbackWire(t, legs)
			}
			ours, step := c.side(t, bytes.NewReader(conv.Rand), conv.Now)
			if err := conv.Replay(ours, step); err != nil {
				t.Fatal(err)
			}
			wantNTLM(t, ours)
		})
	}
}

// The peers' recorded mechListMICs are checked, not just carried: altered by one bit,
// the replay fails as a downgrade.
func TestReplayAlteredPeerMIC(t *testing.T) {
	for _, c := range replayCases {
		if c.micFrom == 0 {
			continue
		}
		t.Run(c.name(), func(t *testing.T) {
			conv := c.load(t)
			conv.Tokens[c.micFrom] = flipMIC(t, c.micFrom)(c.micFrom, bytes.Clone(conv.Tokens[c.micFrom]))
			ours, step := c.side(t, bytes.NewReader(conv.Rand), conv.Now)
			if err := conv.Replay(ours, step); !errors.Is(err, sspi.ErrDowngradeDetected) {
				t.Fatalf("replay with the peer's mechListMIC altered: %v, want SEC_E_DOWNGRADE_DETECTED", err)
			}
		})
	}
}
