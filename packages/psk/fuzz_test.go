package psk

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/gossp/gossp/sspi"
)

// The fuzz targets run real PSK contexts whose nonces come from fixed ChaCha8 streams,
// so that tokens captured from one handshake in the setup are valid again in every
// fuzz iteration: the seeds then reach the success paths (proof verified, context
// established, message opened) and the fuzzer mutates from there.
var (
	fuzzKey      = []byte("fuzz key: 0123456789abcdef012345")
	fuzzIdentity = "alice"
	iniSeed      = [32]byte{'i', 'n', 'i'}
	accSeed      = [32]byte{'a', 'c', 'c'}
	fuzzTarget   = "host/server.test"
	fuzzMessage  = []byte("a message protected with the fuzz context")
	fuzzBindings = &sspi.ChannelBindings{ApplicationData: []byte("tls-server-end-point:fuzz")}
)

func fuzzInitiator(tb testing.TB, cfg sspi.ContextConfig) sspi.Initiator {
	tb.Helper()
	p := New(Config{Rand: rand.NewChaCha8(iniSeed)})
	cred, err := p.AcquireCredentials(context.Background(), sspi.CredentialRequest{
		Use: sspi.CredentialsOutbound, Material: ClientKey{Identity: fuzzIdentity, Key: fuzzKey}})
	if err != nil {
		tb.Fatal(err)
	}
	ini, err := cred.NewInitiator(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return ini
}

func fuzzAcceptor(tb testing.TB, cfg sspi.ContextConfig) sspi.Acceptor {
	tb.Helper()
	p := New(Config{Rand: rand.NewChaCha8(accSeed)})
	cred, err := p.AcquireCredentials(context.Background(), sspi.CredentialRequest{
		Use: sspi.CredentialsInbound, Principal: fuzzTarget, Material: Keys{fuzzIdentity: fuzzKey}})
	if err != nil {
		tb.Fatal(err)
	}
	acc, err := cred.NewAcceptor(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return acc
}

// captured holds the tokens of one real handshake and of the first messages protected
// with its contexts.
type captured struct {
	cfg                                sspi.ContextConfig
	negotiate, challenge, authenticate []byte
	sealed, signature                  []byte // initiator to acceptor, sequence 0
}

// capture runs a deterministic handshake with cfg on both sides and returns its tokens.
func capture(tb testing.TB, cfg sspi.ContextConfig) captured {
	tb.Helper()
	ctx := context.Background()
	ini, acc := fuzzInitiator(tb, cfg), fuzzAcceptor(tb, cfg)
	defer ini.Close()
	defer acc.Close()
	c := captured{cfg: cfg}
	var err error
	var st sspi.Status
	if c.negotiate, st, err = ini.InitializeContext(ctx, nil); err != nil || st != sspi.StatusContinueNeeded {
		tb.Fatalf("leg 1: %v %v", st, err)
	}
	if c.challenge, st, err = acc.AcceptContext(ctx, c.negotiate); err != nil || st != sspi.StatusContinueNeeded {
		tb.Fatalf("leg 2: %v %v", st, err)
	}
	if c.authenticate, st, err = ini.InitializeContext(ctx, c.challenge); err != nil || st != sspi.StatusOK {
		tb.Fatalf("leg 3: %v %v", st, err)
	}
	if out, st, err := acc.AcceptContext(ctx, c.authenticate); err != nil || st != sspi.StatusOK || len(out) != 0 {
		tb.Fatalf("leg 4: %x %v %v", out, st, err)
	}
	if c.sealed, err = ini.EncryptMessage(fuzzMessage); err != nil {
		tb.Fatal(err)
	}
	if c.signature, err = ini.MakeSignature(fuzzMessage); err != nil {
		tb.Fatal(err)
	}
	return c
}

// handshakes are the configurations whose tokens seed the corpora.
func handshakes(tb testing.TB) []captured {
	return []captured{
		capture(tb, sspi.ContextConfig{Target: fuzzTarget, Flags: sspi.FlagMutualAuth | sspi.FlagIntegrity}),
		capture(tb, sspi.ContextConfig{Target: fuzzTarget, Flags: sspi.FlagConfidentiality | sspi.FlagIntegrity | sspi.FlagDelegate}),
		capture(tb, sspi.ContextConfig{Target: fuzzTarget, Flags: sspi.FlagConfidentiality, ChannelBindings: fuzzBindings}),
	}
}

// checkStep checks what a handshake call returned: an error carries an SSPI failure
// status equal to the returned status; success is continue-needed or OK.
func checkStep(t *testing.T, what string, st sspi.Status, err error) {
	t.Helper()
	if err != nil {
		checkFailure(t, what, err)
		if st != sspi.StatusOf(err) {
			t.Fatalf("%s: returned status %v but the error carries %v", what, st, sspi.StatusOf(err))
		}
		return
	}
	if st != sspi.StatusOK && st != sspi.StatusContinueNeeded {
		t.Fatalf("%s: status %v without an error", what, st)
	}
}

// checkFailure checks that err carries an SSPI failure status.
func checkFailure(t *testing.T, what string, err error) {
	t.Helper()
	var se *sspi.Error
	var s sspi.Status
	if !errors.As(err, &se) && !errors.As(err, &s) {
		t.Fatalf("%s: error %q carries no SSPI status", what, err)
	}
	if !sspi.StatusOf(err).IsFailure() {
		t.Fatalf("%s: error %q carries the non-failure status %v", what, err, sspi.StatusOf(err))
	}
}

// checkDead checks that a context whose handshake failed is unusable.
func checkDead(t *testing.T, c sspi.SecurityContext) {
	t.Helper()
	if st := c.Attributes().State; st != sspi.NegotiationFailed {
		t.Fatalf("state after a failed step = %v, want failed", st)
	}
	if c.Attributes().Established {
		t.Fatal("established after a failed step")
	}
	if _, err := c.EncryptMessage([]byte("x")); !errors.Is(err, sspi.ErrNoContext) {
		t.Fatalf("EncryptMessage after a failed handshake: %v, want ErrNoContext", err)
	}
	if _, err := c.SessionKey(); err == nil {
		t.Fatal("SessionKey after a failed handshake succeeded")
	}
}

func FuzzParseNegotiate(f *testing.F) {
	for _, c := range handshakes(f) {
		f.Add(c.negotiate)
		f.Add(c.challenge)
	}
	long := &negotiateMsg{identity: string(bytes.Repeat([]byte("é"), maxIdentityLen/2))}
	f.Add(long.marshal())
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseNegotiate(b)
		if err != nil {
			if m != nil || !errors.Is(err, sspi.ErrInvalidToken) {
				t.Fatalf("parseNegotiate: %v, %v; want nil and ErrInvalidToken", m, err)
			}
			checkFailure(t, "parseNegotiate", err)
			return
		}
		// The format has a single encoding: what parses marshals back byte for byte.
		if got := m.marshal(); !bytes.Equal(got, b) {
			t.Fatalf("marshal(parse(b)) = %x, want %x", got, b)
		}
		if m.identity == "" || len(m.identity) > maxIdentityLen {
			t.Fatalf("accepted identity of %d bytes", len(m.identity))
		}
	})
}

func FuzzParseChallenge(f *testing.F) {
	for _, c := range handshakes(f) {
		f.Add(c.challenge)
		f.Add(c.authenticate)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseChallenge(b)
		if err != nil {
			if m != nil || !errors.Is(err, sspi.ErrInvalidToken) {
				t.Fatalf("parseChallenge: %v, %v; want nil and ErrInvalidToken", m, err)
			}
			checkFailure(t, "parseChallenge", err)
			return
		}
		if got := append(m.marshalUnsigned(), m.proof[:]...); !bytes.Equal(got, b) {
			t.Fatalf("marshal(parse(b)) = %x, want %x", got, b)
		}
	})
}

func FuzzParseAuthenticate(f *testing.F) {
	for _, c := range handshakes(f) {
		f.Add(c.authenticate)
		f.Add(c.negotiate)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseAuthenticate(b)
		if err != nil {
			if m != nil || !errors.Is(err, sspi.ErrInvalidToken) {
				t.Fatalf("parseAuthenticate: %v, %v; want nil and ErrInvalidToken", m, err)
			}
			checkFailure(t, "parseAuthenticate", err)
			return
		}
		if got := append(m.marshalUnsigned(), m.proof[:]...); !bytes.Equal(got, b) {
			t.Fatalf("marshal(parse(b)) = %x, want %x", got, b)
		}
	})
}

// FuzzAcceptContext feeds an acceptor two arbitrary tokens in turn. With the seeds'
// NEGOTIATE and AUTHENTICATE the context is established; mutations must fail cleanly.
func FuzzAcceptContext(f *testing.F) {
	hs := handshakes(f)
	for i, c := range hs {
		f.Add(uint8(i), c.negotiate, c.authenticate)
		f.Add(uint8(i), c.negotiate, c.negotiate)
		f.Add(uint8(i), c.authenticate, c.authenticate)
	}
	f.Add(uint8(0), []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, cfgIndex uint8, first, second []byte) {
		ctx := context.Background()
		cfg := hs[int(cfgIndex)%len(hs)].cfg
		acc := fuzzAcceptor(t, cfg)
		defer acc.Close()

		out, st, err := acc.AcceptContext(ctx, first)
		checkStep(t, "AcceptContext(first)", st, err)
		if err != nil {
			checkDead(t, acc)
			if _, _, err := acc.AcceptContext(ctx, second); err == nil {
				t.Fatal("a failed acceptor accepted another token")
			}
			return
		}
		if st != sspi.StatusContinueNeeded {
			t.Fatalf("first leg completed the context (status %v)", st)
		}
		if _, err := parseChallenge(out); err != nil {
			t.Fatalf("acceptor produced a CHALLENGE it cannot parse: %v", err)
		}

		out, st, err = acc.AcceptContext(ctx, second)
		checkStep(t, "AcceptContext(second)", st, err)
		if err != nil {
			checkDead(t, acc)
			return
		}
		if st != sspi.StatusOK || len(out) != 0 {
			t.Fatalf("second leg: status %v, %d-byte token; want OK and none", st, len(out))
		}
		a := acc.Attributes()
		if !a.Established || a.State != sspi.NegotiationComplete || a.ClientName != fuzzIdentity {
			t.Fatalf("established acceptor attributes: %+v", a)
		}
		if _, _, err := acc.AcceptContext(ctx, second); !errors.Is(err, sspi.ErrInvalidToken) {
			t.Fatalf("token after completion: %v, want ErrInvalidToken", err)
		}
	})
}

// FuzzInitializeContext feeds an initiator an arbitrary first input (which must be
// refused unless empty) and an arbitrary CHALLENGE. With the seeds' CHALLENGE the
// context is established.
func FuzzInitializeContext(f *testing.F) {
	hs := handshakes(f)
	for i, c := range hs {
		f.Add(uint8(i), []byte{}, c.challenge)
		f.Add(uint8(i), []byte{}, c.negotiate)
		f.Add(uint8(i), c.challenge, c.challenge)
	}
	f.Fuzz(func(t *testing.T, cfgIndex uint8, first, challenge []byte) {
		ctx := context.Background()
		cfg := hs[int(cfgIndex)%len(hs)].cfg
		ini := fuzzInitiator(t, cfg)
		defer ini.Close()

		out, st, err := ini.InitializeContext(ctx, first)
		checkStep(t, "InitializeContext(first)", st, err)
		if len(first) != 0 {
			if !errors.Is(err, sspi.ErrInvalidToken) {
				t.Fatalf("first call with input: %v, want ErrInvalidToken", err)
			}
			checkDead(t, ini)
			return
		}
		if err != nil || st != sspi.StatusContinueNeeded {
			t.Fatalf("first call: %v, %v", st, err)
		}
		if _, err := parseNegotiate(out); err != nil {
			t.Fatalf("initiator produced a NEGOTIATE it cannot parse: %v", err)
		}

		out, st, err = ini.InitializeContext(ctx, challenge)
		checkStep(t, "InitializeContext(challenge)", st, err)
		if err != nil {
			checkDead(t, ini)
			return
		}
		if st != sspi.StatusOK {
			t.Fatalf("second call: status %v, want OK", st)
		}
		if _, err := parseAuthenticate(out); err != nil {
			t.Fatalf("initiator produced an AUTHENTICATE it cannot parse: %v", err)
		}
		if a := ini.Attributes(); !a.Established || a.Flags&alwaysGranted != alwaysGranted {
			t.Fatalf("established initiator attributes: %+v", a)
		}
		if _, _, err := ini.InitializeContext(ctx, challenge); !errors.Is(err, sspi.ErrInvalidToken) {
			t.Fatalf("call after completion: %v, want ErrInvalidToken", err)
		}
	})
}

// FuzzMessageProtection feeds an established acceptor arbitrary wrap and signature
// tokens. Only the genuine tokens from the setup may succeed: anything else would be a
// forgery.
func FuzzMessageProtection(f *testing.F) {
	hs := handshakes(f)
	for i, c := range hs {
		f.Add(uint8(i), c.sealed, c.signature)
		f.Add(uint8(i), c.signature, c.sealed)
	}
	f.Fuzz(func(t *testing.T, cfgIndex uint8, token, sig []byte) {
		ctx := context.Background()
		c := hs[int(cfgIndex)%len(hs)]
		ini, acc := fuzzInitiator(t, c.cfg), fuzzAcceptor(t, c.cfg)
		defer ini.Close()
		defer acc.Close()
		in, _, err := ini.InitializeContext(ctx, nil)
		if err == nil {
			in, _, err = acc.AcceptContext(ctx, in)
		}
		if err == nil {
			in, _, err = ini.InitializeContext(ctx, in)
		}
		if err == nil {
			_, _, err = acc.AcceptContext(ctx, in)
		}
		if err != nil {
			t.Fatalf("deterministic handshake failed: %v", err)
		}

		msg, err := acc.DecryptMessage(token)
		if err != nil {
			checkFailure(t, "DecryptMessage", err)
		} else if !bytes.Equal(token, c.sealed) || !bytes.Equal(msg, fuzzMessage) {
			t.Fatalf("DecryptMessage accepted a token that was never sealed: %x -> %q", token, msg)
		}
		// The signature was made after the sealed message, with sequence number 1; it
		// verifies only if the sealed message was opened first.
		if err := acc.VerifySignature(fuzzMessage, sig); err != nil {
			checkFailure(t, "VerifySignature", err)
		} else if !bytes.Equal(sig, c.signature) {
			t.Fatalf("VerifySignature accepted a signature that was never made: %x", sig)
		}
	})
}

// TestFuzzSeedsReachSuccess guards the harness: if the deterministic handshake ever
// stopped replaying, the fuzz seeds would only exercise failure paths.
func TestFuzzSeedsReachSuccess(t *testing.T) {
	ctx := context.Background()
	for _, c := range handshakes(t) {
		acc := fuzzAcceptor(t, c.cfg)
		if _, st, err := acc.AcceptContext(ctx, c.negotiate); err != nil || st != sspi.StatusContinueNeeded {
			t.Fatalf("replayed NEGOTIATE: %v %v", st, err)
		}
		if _, st, err := acc.AcceptContext(ctx, c.authenticate); err != nil || st != sspi.StatusOK {
			t.Fatalf("replayed AUTHENTICATE: %v %v", st, err)
		}
		if msg, err := acc.DecryptMessage(c.sealed); err != nil || !bytes.Equal(msg, fuzzMessage) {
			t.Fatalf("replayed sealed message: %q %v", msg, err)
		}
		if err := acc.VerifySignature(fuzzMessage, c.signature); err != nil {
			t.Fatalf("replayed signature: %v", err)
		}
		acc.Close()

		ini := fuzzInitiator(t, c.cfg)
		if _, _, err := ini.InitializeContext(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if out, st, err := ini.InitializeContext(ctx, c.challenge); err != nil || st != sspi.StatusOK || !bytes.Equal(out, c.authenticate) {
			t.Fatalf("replayed CHALLENGE: %v %v", st, err)
		}
		ini.Close()
	}
}
