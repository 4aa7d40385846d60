// Package record keeps conversations with real peers (handshake tokens and protected
// messages, with the randomness and clock our side used) as JSON files, so every plain
// `go test` replays them byte for byte where no peer is installed.
//
// Recording runs our side against a live peer with a random source that remembers what
// it gave (Rand) and a fixed clock; replaying runs our side again with that randomness
// and clock, so every token we produce must equal the recorded one and every token the
// peer produced must still be accepted.
package record

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/gossp/gossp/sspi"
)

// Conversation is one recorded exchange between our context and a peer.
type Conversation struct {
	Peer     string       `json:"peer"`
	OurRole  string       `json:"our_role"` // "initiator" or "acceptor"
	Rand     Hex          `json:"rand"`     // what our side read from its random source
	Now      time.Time    `json:"now"`
	Tokens   []Hex        `json:"tokens"` // handshake tokens in wire order, initiator's first
	Messages []Protection `json:"messages"`
	Client   string       `json:"client"` // the client name our context reported
}

// Protection is one message-protection exchange, in the order it happened.
type Protection struct {
	From  string `json:"from"` // "gossp" or "peer"
	Kind  string `json:"kind"` // "wrap" or "mic"
	Plain Hex    `json:"plain"`
	Token Hex    `json:"token"`
}

// Hex is bytes that travel in JSON as hex.
type Hex []byte

// MarshalText implements encoding.TextMarshaler.
func (h Hex) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *Hex) UnmarshalText(b []byte) error {
	v, err := hex.DecodeString(string(b))
	*h = v
	return err
}

// Rand is crypto/rand that remembers what it gave, for the recording.
type Rand struct {
	mu  sync.Mutex
	got []byte
}

// Read implements io.Reader.
func (r *Rand) Read(p []byte) (int, error) {
	n, err := rand.Read(p)
	r.mu.Lock()
	r.got = append(r.got, p[:n]...)
	r.mu.Unlock()
	return n, err
}

// Bytes returns everything read so far.
func (r *Rand) Bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.got)
}

// Load reads a conversation.
func Load(path string) (*Conversation, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Conversation
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

// Save writes the conversation as indented JSON.
func (c *Conversation) Save(path string) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// Step is one handshake call of our side: InitializeContext or AcceptContext.
type Step func(in []byte) ([]byte, sspi.Status, error)

// Peer is the live third-party side of a handshake: it takes a token (nil for an
// initiator's first step) and returns its answer and whether it is done.
type Peer interface {
	Step(in []byte) (out []byte, done bool, err error)
}

// Handshake runs our side (c.OurRole) against a live peer, appending every token to
// c.Tokens in wire order. It fails if either side errs or the peer is not done when
// our side is.
func (c *Conversation) Handshake(step Step, peer Peer) error {
	var toUs []byte
	peerDone := false
	if c.OurRole == "acceptor" {
		tok, done, err := peer.Step(nil)
		if err != nil {
			return fmt.Errorf("peer: %w", err)
		}
		toUs, peerDone = tok, done
		c.Tokens = append(c.Tokens, tok)
	}
	for range 10 {
		out, st, err := step(toUs)
		if err != nil {
			return fmt.Errorf("our %s: %w", c.OurRole, err)
		}
		toUs = nil // consumed
		if len(out) > 0 {
			c.Tokens = append(c.Tokens, out)
			back, done, err := peer.Step(out)
			if err != nil {
				return fmt.Errorf("peer: %w", err)
			}
			if len(back) > 0 {
				c.Tokens = append(c.Tokens, back)
			}
			toUs, peerDone = back, done
		}
		if st == sspi.StatusOK {
			if !peerDone || len(toUs) > 0 {
				return errors.New("our side completed but the peer did not")
			}
			return nil
		}
		if len(out) == 0 {
			return errors.New("our side needs more but produced no token")
		}
	}
	return errors.New("the handshake did not finish")
}

// Protector is a live peer's message protection (gsspeer.Peer's).
type Protector interface {
	Wrap(msg []byte, conf bool) ([]byte, error)
	Unwrap(tok []byte) ([]byte, bool, error)
	MIC(msg []byte) ([]byte, error)
	Verify(msg, mic []byte) error
}

// Protect exchanges each message both ways, sealed and signed, checking that each side
// opens or verifies the other's token, and appends the exchanges to c.Messages.
func (c *Conversation) Protect(ours sspi.SecurityContext, peer Protector, msgs [][]byte) error {
	for i, msg := range msgs {
		tok, err := ours.EncryptMessage(msg)
		if err != nil {
			return fmt.Errorf("our wrap %d: %w", i, err)
		}
		if got, encrypted, err := peer.Unwrap(tok); err != nil || !bytes.Equal(got, msg) || !encrypted {
			return fmt.Errorf("peer unwrap of our token %d: %q encrypted=%v: %v", i, got, encrypted, err)
		}
		c.Messages = append(c.Messages, Protection{"gossp", "wrap", msg, tok})
		ptok, err := peer.Wrap(msg, true)
		if err != nil {
			return fmt.Errorf("peer wrap %d: %w", i, err)
		}
		if got, err := ours.DecryptMessage(ptok); err != nil || !bytes.Equal(got, msg) {
			return fmt.Errorf("our unwrap of the peer's token %d: %q: %v", i, got, err)
		}
		c.Messages = append(c.Messages, Protection{"peer", "wrap", msg, ptok})
		sig, err := ours.MakeSignature(msg)
		if err != nil {
			return fmt.Errorf("our MIC %d: %w", i, err)
		}
		if err := peer.Verify(msg, sig); err != nil {
			return fmt.Errorf("the peer refuses our MIC %d: %w", i, err)
		}
		c.Messages = append(c.Messages, Protection{"gossp", "mic", msg, sig})
		psig, err := peer.MIC(msg)
		if err != nil {
			return fmt.Errorf("peer MIC %d: %w", i, err)
		}
		if err := ours.VerifySignature(msg, psig); err != nil {
			return fmt.Errorf("we refuse the peer's MIC %d: %w", i, err)
		}
		c.Messages = append(c.Messages, Protection{"peer", "mic", msg, psig})
	}
	return nil
}

// Replay runs our side of the conversation (made with c.Rand and c.Now) through step:
// every token ours must equal the recorded one, our side must complete exactly where it
// did, report the recorded client, and redo the message exchanges byte for byte.
func (c *Conversation) Replay(ours sspi.SecurityContext, step Step) error {
	// Our tokens sit at even indexes when we initiate, odd ones when we accept.
	first := 0
	if c.OurRole == "acceptor" {
		first = 1
	}
	completed := false
	var in []byte
	for i := first; i <= len(c.Tokens); i += 2 {
		in = nil
		if i > 0 {
			in = c.Tokens[i-1]
		}
		out, st, err := step(in)
		if err != nil {
			return fmt.Errorf("our token %d: %w", i, err)
		}
		var want []byte
		if i < len(c.Tokens) {
			want = c.Tokens[i]
		}
		if !bytes.Equal(out, want) {
			return fmt.Errorf("token %d differs from the recording:\n got %x\nwant %x", i, out, want)
		}
		if st == sspi.StatusOK {
			completed = i+1 >= len(c.Tokens)
			break
		}
	}
	if !completed {
		return errors.New("our side did not complete where the recording did")
	}
	a := ours.Attributes()
	if !a.Established || a.ClientName != c.Client {
		return fmt.Errorf("after replay: established %v, client %q (recorded %q)", a.Established, a.ClientName, c.Client)
	}
	for i, m := range c.Messages {
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
			return fmt.Errorf("message %d (%s %s): %w", i, m.From, m.Kind, err)
		}
	}
	return nil
}
