package negoex

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/gossp/gossp/sspi"
)

// conversation runs a two-hop negoextest conversation and returns the tokens, so the
// tests below can replay them with one thing changed.
func conversation(t *testing.T) [][]byte {
	t.Helper()
	p, _ := New(Config{Schemes: mitSchemes(2, false)})
	cred, _ := p.AcquireCredentials(context.Background(), sspi.CredentialRequest{Use: sspi.CredentialsBoth})
	ini, _ := cred.NewInitiator(sspi.ContextConfig{})
	acc, _ := cred.NewAcceptor(sspi.ContextConfig{})
	ctx := context.Background()
	var toks [][]byte
	var in []byte
	for range 5 {
		out, st, err := ini.InitializeContext(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) > 0 {
			toks = append(toks, out)
		}
		if st == sspi.StatusOK {
			break
		}
		back, _, err := acc.AcceptContext(ctx, out)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, back)
		in = back
	}
	return toks
}

// acceptorAfter feeds the acceptor the tokens up to i (exclusive, initiator tokens only)
// and then bad, returning the error.
func replayAcceptor(t *testing.T, toks [][]byte, bad []byte, at int) error {
	t.Helper()
	p, _ := New(Config{Schemes: mitSchemes(2, false)})
	cred, _ := p.AcquireCredentials(context.Background(), sspi.CredentialRequest{Use: sspi.CredentialsBoth})
	acc, _ := cred.NewAcceptor(sspi.ContextConfig{})
	for i := 0; i < at; i += 2 {
		if _, _, err := acc.AcceptContext(context.Background(), toks[i]); err != nil {
			t.Fatalf("good token %d: %v", i, err)
		}
	}
	_, _, err := acc.AcceptContext(context.Background(), bad)
	return err
}

func TestHostileMessages(t *testing.T) {
	toks := conversation(t)
	if len(toks) != 3 {
		t.Fatalf("%d tokens", len(toks))
	}
	reencode := func(ms []*Message) []byte {
		var b []byte
		for _, m := range ms {
			b = m.Append(b)
		}
		return b
	}
	clone := func() []*Message {
		ms, _ := ParseMessages(toks[0])
		return ms
	}
	type hostile struct {
		tok  []byte
		at   int // how many tokens of the good conversation come before it
		want sspi.Status
	}
	cases := map[string]hostile{}
	// A critical extension nobody understands is fatal.
	ms := clone()
	ms[0].Extensions = []Extension{{Type: 0x80000001, Value: []byte{1}}}
	cases["critical extension"] = hostile{reencode(ms), 0, sspi.ErrUnsupportedFunction}
	// A non-critical one is skipped.
	ms = clone()
	ms[0].Extensions = []Extension{{Type: 1, Value: []byte{1}}}
	if err := replayAcceptor(t, toks, reencode(ms), 0); err != nil {
		t.Errorf("non-critical extension: %v", err)
	}
	// Sequence numbers must follow on.
	ms = clone()
	ms[1].Seq = 7
	cases["sequence gap"] = hostile{reencode(ms), 0, sspi.ErrInvalidToken}
	// One conversation only.
	ms = clone()
	ms[1].ConversationID[0] ^= 1
	cases["second conversation"] = hostile{reencode(ms), 0, sspi.ErrInvalidToken}
	// The initiator's final VERIFY, altered.
	bad := bytes.Clone(toks[2])
	bad[len(bad)-1] ^= 1
	cases["altered VERIFY"] = hostile{bad, 2, sspi.ErrMessageAltered}
	// A replayed first token in the second leg.
	cases["replayed NEGO"] = hostile{toks[0], 2, sspi.ErrInvalidToken}
	// Protocol version other than 0.
	ms = clone()
	ms[0].ProtocolVersion = 1
	cases["protocol version"] = hostile{reencode(ms), 0, sspi.ErrInvalidToken}
	for name, c := range cases {
		err := replayAcceptor(t, toks, c.tok, c.at)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

// A scheme that completes without keys cannot complete NegoEx.
func TestNoVerifyKey(t *testing.T) {
	p, _ := New(Config{Schemes: []Scheme{{Package: keyless{&mitScheme{name: "keyless", guid: sspi.MustParseGUID("00000000-0000-0000-0000-000000000001"), oid: []byte{1}, hops: 1}}}}})
	cred, _ := p.AcquireCredentials(context.Background(), sspi.CredentialRequest{Use: sspi.CredentialsBoth})
	ini, _ := cred.NewInitiator(sspi.ContextConfig{})
	_, _, err := ini.InitializeContext(context.Background(), nil)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("without a key")) {
		t.Fatalf("keyless scheme: %v", err)
	}
}

type keyless struct{ *mitScheme }

func (k keyless) AcquireCredentials(ctx context.Context, req sspi.CredentialRequest) (sspi.Credential, error) {
	return keylessCred{&mitCred{k.mitScheme}}, nil
}

type keylessCred struct{ *mitCred }

func (c keylessCred) NewInitiator(cfg sspi.ContextConfig) (sspi.Initiator, error) {
	i, _ := c.mitCred.NewInitiator(cfg)
	return keylessCtx{i.(*mitCtx)}, nil
}

// keylessCtx hides VerifyKeys.
type keylessCtx struct{ c *mitCtx }

func (k keylessCtx) InitializeContext(ctx context.Context, in []byte) ([]byte, sspi.Status, error) {
	return k.c.InitializeContext(ctx, in)
}
func (k keylessCtx) Attributes() sspi.ContextAttributes      { return k.c.Attributes() }
func (k keylessCtx) SessionKey() ([]byte, error)             { return k.c.SessionKey() }
func (k keylessCtx) MakeSignature(m []byte) ([]byte, error)  { return k.c.MakeSignature(m) }
func (k keylessCtx) VerifySignature(m, s []byte) error       { return k.c.VerifySignature(m, s) }
func (k keylessCtx) EncryptMessage(m []byte) ([]byte, error) { return k.c.EncryptMessage(m) }
func (k keylessCtx) DecryptMessage(m []byte) ([]byte, error) { return k.c.DecryptMessage(m) }
func (k keylessCtx) Close() error                            { return nil }
