package ntlm_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"path/filepath"
	"testing"
	"time"

	"github.com/gossp/gossp/internal/interop/gsspeer"
	"github.com/gossp/gossp/internal/interop/record"
	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/sspi"
)

// Recorded conversations with real peers, replayed in every plain `go test` so the bytes
// stay checked where no peer is installed. Refresh them while the peer is installed:
//
//	GOSSP_INTEROP=1 go test ./packages/ntlm -run Replay -update
//
// Replay makes our side deterministic (its randomness and clock come from the
// recording), so every token we produce must match the recorded bytes exactly, and every
// token the peer produced must still be accepted.

var update = flag.Bool("update", false, "re-record the conversations in testdata/ with live peers (needs GOSSP_INTEROP=1)")

var replayMessages = [][]byte{[]byte("gossp replay"), bytes.Repeat([]byte{0x5A}, 700)}

// replaySide builds our side of a conversation with package p.
func replaySide(t *testing.T, p *ntlm.Package, role string) (sspi.SecurityContext, record.Step) {
	t.Helper()
	if role == "initiator" {
		cred := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
			Identity: &sspi.Identity{User: peerUser, Domain: peerDomain, Password: peerPassword}})
		ini, err := cred.NewInitiator(sspi.ContextConfig{Target: "HTTP/localhost", Flags: protectFlags})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ini.Close() })
		return ini, func(in []byte) ([]byte, sspi.Status, error) { return ini.InitializeContext(context.Background(), in) }
	}
	users, err := ntlm.ParseUserFile([]byte(peerUserFile))
	if err != nil {
		t.Fatal(err)
	}
	cred := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: users})
	acc, err := cred.NewAcceptor(sspi.ContextConfig{Flags: protectFlags})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { acc.Close() })
	return acc, func(in []byte) ([]byte, sspi.Status, error) { return acc.AcceptContext(context.Background(), in) }
}

// recordGSSNTLMSSP runs a live conversation with gss-ntlmssp and writes it to path.
func recordGSSNTLMSSP(t *testing.T, role, path string) {
	env := gsspeer.NTLMSSPEnv(t, peerUserFile)
	rr := &record.Rand{}
	now := time.Now().UTC().Truncate(time.Second)
	p := ntlm.New(ntlm.Config{Rand: rr, Now: func() time.Time { return now }, Workstation: "GOSSPTEST"})
	conv := &record.Conversation{Peer: "gss-ntlmssp 1.2.0 (MIT GSS-API)", OurRole: role, Now: now}
	var peer *gsspeer.Peer
	if role == "initiator" {
		peer = gsspeer.Start(t, gsspeer.Options{Role: "acceptor", Mech: "ntlm", Env: env})
	} else {
		peer = gsspeer.Start(t, gsspeer.Options{Role: "initiator", Mech: "ntlm", Env: env,
			User: peerDomain + `\` + peerUser, Password: peerPassword, Target: "HTTP@localhost"})
	}
	ours, step := replaySide(t, p, role)
	if err := conv.Handshake(step, peer); err != nil {
		t.Fatal(err)
	}
	conv.Client = ours.Attributes().ClientName
	if err := conv.Protect(ours, peer, replayMessages); err != nil {
		t.Fatal(err)
	}
	conv.Rand = rr.Bytes()
	if err := conv.Save(path); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %s", path)
}

// replay runs our side of a recorded conversation and checks it byte for byte.
func replay(t *testing.T, conv *record.Conversation) {
	t.Helper()
	p := ntlm.New(ntlm.Config{Rand: bytes.NewReader(conv.Rand), Now: func() time.Time { return conv.Now }, Workstation: "GOSSPTEST"})
	ours, step := replaySide(t, p, conv.OurRole)
	if err := conv.Replay(ours, step); err != nil {
		t.Fatal(err)
	}
}

func TestReplayGSSNTLMSSP(t *testing.T) {
	for _, role := range []string{"initiator", "acceptor"} {
		t.Run("ours-"+role, func(t *testing.T) {
			path := filepath.Join("testdata", "gss-ntlmssp-ours-"+role+".json")
			if *update {
				recordGSSNTLMSSP(t, role, path)
			}
			conv, err := record.Load(path)
			if err != nil {
				t.Fatalf("%v (record it with GOSSP_INTEROP=1 go test -run Replay -update)", err)
			}
			replay(t, conv)
		})
	}
}

// A recording must not replay against an acceptor with a different challenge: the
// peer's AUTHENTICATE is bound to the recorded one.
func TestReplayIntoFreshAcceptorFails(t *testing.T) {
	conv, err := record.Load(filepath.Join("testdata", "gss-ntlmssp-ours-acceptor.json"))
	if err != nil {
		t.Skip("no recording")
	}
	users, _ := ntlm.ParseUserFile([]byte(peerUserFile))
	cred := acquire(t, ntlm.New(ntlm.Config{}), sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: users})
	acc, err := cred.NewAcceptor(sspi.ContextConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	if _, _, err := acc.AcceptContext(context.Background(), conv.Tokens[0]); err != nil {
		t.Fatal(err)
	}
	_, _, err = acc.AcceptContext(context.Background(), conv.Tokens[2])
	if !errors.Is(err, sspi.ErrLogonDenied) && !errors.Is(err, sspi.ErrMessageAltered) {
		t.Fatalf("a captured AUTHENTICATE replayed to a new context: %v, want it refused", err)
	}
}
