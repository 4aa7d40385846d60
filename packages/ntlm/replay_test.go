package ntlm_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"

	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gossp/gossp/internal/interop/gsspeer"
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

// conversation is one recorded exchange between our context and a peer.
type conversation struct {
	Peer     string       `json:"peer"`
	OurRole  string       `json:"our_role"` // "initiator" or "acceptor"
	Rand     hexBytes     `json:"rand"`     // what our side read from its random source
	Now      time.Time    `json:"now"`
	Tokens   []hexBytes   `json:"tokens"` // handshake tokens in wire order, initiator's first
	Messages []protection `json:"messages"`
	Client   string       `json:"client"` // the client name the acceptor reported
}

// protection is one message-protection exchange, in the order it happened.
type protection struct {
	From  string   `json:"from"` // "gossp" or "peer"
	Kind  string   `json:"kind"` // "wrap" or "mic"
	Plain hexBytes `json:"plain"`
	Token hexBytes `json:"token"`
}

type hexBytes []byte

func (h hexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }
func (h *hexBytes) UnmarshalText(b []byte) error {
	v, err := hex.DecodeString(string(b))
	*h = v
	return err
}

// recordingRand tees what it reads, so the run can be replayed.
type recordingRand struct{ got []byte }

func (r *recordingRand) Read(p []byte) (int, error) {
	n, err := rand.Read(p)
	r.got = append(r.got, p[:n]...)
	return n, err
}

var replayMessages = [][]byte{[]byte("gossp replay"), bytes.Repeat([]byte{0x5A}, 700)}

// ourStep is one handshake call of our side.
type ourStep func(in []byte) ([]byte, sspi.Status, error)

// recordGSSNTLMSSP runs a live conversation with gss-ntlmssp and writes it to path.
func recordGSSNTLMSSP(t *testing.T, role, path string) {
	env := gsspeer.NTLMSSPEnv(t, peerUserFile)
	rr := &recordingRand{}
	now := time.Now().UTC().Truncate(time.Second)
	p := ntlm.New(ntlm.Config{Rand: rr, Now: func() time.Time { return now }, Workstation: "GOSSPTEST"})
	conv := &conversation{Peer: "gss-ntlmssp 1.2.0 (MIT GSS-API)", OurRole: role, Now: now}

	var ours sspi.SecurityContext
	var step ourStep
	var peer *gsspeer.Peer
	if role == "initiator" {
		peer = gsspeer.Start(t, gsspeer.Options{Role: "acceptor", Mech: "ntlm", Env: env})
		cred := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
			Identity: &sspi.Identity{User: peerUser, Domain: peerDomain, Password: peerPassword}})
		ini, err := cred.NewInitiator(sspi.ContextConfig{Target: "HTTP/localhost", Flags: protectFlags})
		if err != nil {
			t.Fatal(err)
		}
		ours, step = ini, func(in []byte) ([]byte, sspi.Status, error) { return ini.InitializeContext(context.Background(), in) }
	} else {
		peer = gsspeer.Start(t, gsspeer.Options{Role: "initiator", Mech: "ntlm", Env: env,
			User: peerDomain + `\` + peerUser, Password: peerPassword, Target: "HTTP@localhost"})
		users, _ := ntlm.ParseUserFile([]byte(peerUserFile))
		cred := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: users})
		acc, err := cred.NewAcceptor(sspi.ContextConfig{Flags: protectFlags})
		if err != nil {
			t.Fatal(err)
		}
		ours, step = acc, func(in []byte) ([]byte, sspi.Status, error) { return acc.AcceptContext(context.Background(), in) }
	}
	defer ours.Close()

	// Handshake, our side and the peer's alternating.
	var toUs []byte
	if role == "acceptor" {
		tok, _, err := peer.Step(nil)
		if err != nil {
			t.Fatal(err)
		}
		toUs = tok
		conv.Tokens = append(conv.Tokens, tok)
	}
	for done := false; !done; {
		out, st, err := step(toUs)
		if err != nil {
			t.Fatalf("our %s: %v", role, err)
		}
		done = st == sspi.StatusOK
		if len(out) == 0 {
			break
		}
		conv.Tokens = append(conv.Tokens, out)
		back, _, err := peer.Step(out)
		if err != nil {
			t.Fatalf("peer: %v", err)
		}
		if len(back) > 0 {
			conv.Tokens = append(conv.Tokens, back)
		}
		toUs = back
	}
	conv.Client = ours.Attributes().ClientName

	for _, msg := range replayMessages {
		tok, err := ours.EncryptMessage(msg)
		if err != nil {
			t.Fatal(err)
		}
		if got, _, err := peer.Unwrap(tok); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("peer unwrap: %v", err)
		}
		conv.Messages = append(conv.Messages, protection{"gossp", "wrap", msg, tok})
		ptok, err := peer.Wrap(msg, true)
		if err != nil {
			t.Fatal(err)
		}
		conv.Messages = append(conv.Messages, protection{"peer", "wrap", msg, ptok})
		sig, err := ours.MakeSignature(msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := peer.Verify(msg, sig); err != nil {
			t.Fatal(err)
		}
		conv.Messages = append(conv.Messages, protection{"gossp", "mic", msg, sig})
		psig, err := peer.MIC(msg)
		if err != nil {
			t.Fatal(err)
		}
		conv.Messages = append(conv.Messages, protection{"peer", "mic", msg, psig})
	}
	conv.Rand = rr.got
	data, err := json.MarshalIndent(conv, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %s", path)
}

// replay runs our side of a recorded conversation and checks it byte for byte.
func replay(t *testing.T, conv *conversation) {
	t.Helper()
	p := ntlm.New(ntlm.Config{Rand: bytes.NewReader(conv.Rand), Now: func() time.Time { return conv.Now }, Workstation: "GOSSPTEST"})
	var ours sspi.SecurityContext
	var step ourStep
	if conv.OurRole == "initiator" {
		cred := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
			Identity: &sspi.Identity{User: peerUser, Domain: peerDomain, Password: peerPassword}})
		ini, err := cred.NewInitiator(sspi.ContextConfig{Target: "HTTP/localhost", Flags: protectFlags})
		if err != nil {
			t.Fatal(err)
		}
		ours, step = ini, func(in []byte) ([]byte, sspi.Status, error) { return ini.InitializeContext(context.Background(), in) }
	} else {
		users, _ := ntlm.ParseUserFile([]byte(peerUserFile))
		cred := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: users})
		acc, err := cred.NewAcceptor(sspi.ContextConfig{Flags: protectFlags})
		if err != nil {
			t.Fatal(err)
		}
		ours, step = acc, func(in []byte) ([]byte, sspi.Status, error) { return acc.AcceptContext(context.Background(), in) }
	}
	defer ours.Close()

	// Our tokens sit at even indexes when we initiate, odd ones when we accept.
	ourParity := 0
	if conv.OurRole == "acceptor" {
		ourParity = 1
	}
	var in []byte
	for i := ourParity; i <= len(conv.Tokens); i += 2 {
		if i > 0 {
			in = conv.Tokens[i-1]
		}
		out, st, err := step(in)
		if err != nil {
			t.Fatalf("our token %d: %v", i, err)
		}
		if i < len(conv.Tokens) && !bytes.Equal(out, conv.Tokens[i]) {
			t.Fatalf("token %d differs from the recording:\n got %x\nwant %x", i, out, []byte(conv.Tokens[i]))
		}
		if st == sspi.StatusOK {
			break
		}
	}
	a := ours.Attributes()
	if !a.Established || a.ClientName != conv.Client {
		t.Fatalf("after replay: established %v, client %q (recorded %q)", a.Established, a.ClientName, conv.Client)
	}
	for i, m := range conv.Messages {
		var err error
		var got []byte
		switch {
		case m.From == "gossp" && m.Kind == "wrap":
			got, err = ours.EncryptMessage(m.Plain)
			if err == nil && !bytes.Equal(got, m.Token) {
				err = errors.New("our wrap token differs from the recording")
			}
		case m.From == "gossp" && m.Kind == "mic":
			got, err = ours.MakeSignature(m.Plain)
			if err == nil && !bytes.Equal(got, m.Token) {
				err = errors.New("our MIC differs from the recording")
			}
		case m.Kind == "wrap":
			got, err = ours.DecryptMessage(m.Token)
			if err == nil && !bytes.Equal(got, m.Plain) {
				err = errors.New("the peer's wrap token opened to other bytes")
			}
		default:
			err = ours.VerifySignature(m.Plain, m.Token)
		}
		if err != nil {
			t.Fatalf("message %d (%s %s): %v", i, m.From, m.Kind, err)
		}
	}
}

func TestReplayGSSNTLMSSP(t *testing.T) {
	for _, role := range []string{"initiator", "acceptor"} {
		t.Run("ours-"+role, func(t *testing.T) {
			path := filepath.Join("testdata", "gss-ntlmssp-ours-"+role+".json")
			if *update {
				recordGSSNTLMSSP(t, role, path)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (record it with GOSSP_INTEROP=1 go test -run Replay -update)", err)
			}
			var conv conversation
			if err := json.Unmarshal(data, &conv); err != nil {
				t.Fatal(err)
			}
			replay(t, &conv)
		})
	}
}

// A recording must not replay against an acceptor with a different challenge: the
// peer's AUTHENTICATE is bound to the recorded one.
func TestReplayIntoFreshAcceptorFails(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "gss-ntlmssp-ours-acceptor.json"))
	if err != nil {
		t.Skip("no recording")
	}
	var conv conversation
	if err := json.Unmarshal(data, &conv); err != nil {
		t.Fatal(err)
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
