// Package sspitest is a conformance suite for gossp security packages, in the spirit of
// testing/fstest and nettest.TestConn: give it credentials for both sides and it drives
// real handshakes leg by leg, then checks what every package must do — agreement on keys
// and flags, names, message protection that refuses tampered, replayed, reordered and
// reflected messages, errors with SSPI statuses (and no panics or hangs) for garbage,
// truncated and oversized tokens at every leg, safety under concurrent use, and no
// leaked goroutines.
//
// A package's test runs it in a few lines:
//
//	func TestConformance(t *testing.T) {
//		sspitest.Run(t, sspitest.Config{
//			Initiator: clientCred,
//			Acceptor:  serverCred,
//			Target:    "HTTP/server.example.test",
//		})
//	}
//
// Check runs the same checks without a *testing.T and returns every failure as one
// error, for harnesses that are not go test (and for proving the suite can fail).
package sspitest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gossp/gossp/sspi"
)

// Config describes the package under test.
type Config struct {
	// Initiator and Acceptor are credentials for the two sides. They are used for every
	// context the suite makes, many of them concurrently. Required.
	Initiator sspi.Credential
	Acceptor  sspi.Credential

	// Target is the service principal name the initiator names.
	Target string

	// Flags are requested on both sides. Zero means MutualAuth, ReplayDetect,
	// SequenceDetect, Integrity and Confidentiality.
	Flags sspi.ContextFlags

	// BadInitiator, if set, is an initiator credential that the acceptor must refuse
	// (a wrong password or key). The handshake must fail on one side or the other.
	BadInitiator sspi.Credential

	// ExpectedClientName, if set, is the name the acceptor must report for the client.
	ExpectedClientName string

	// ChannelBindings says the package supports channel bindings: the suite checks that
	// matching bindings succeed and that mismatched or missing ones are refused with
	// ErrBadBindings.
	ChannelBindings bool

	// ReplayableHandshake says the acceptor may accept a replayed handshake token in a
	// new context (a Kerberos acceptor without a replay cache). By default the suite
	// demands that initiator tokens from one handshake fail in another.
	ReplayableHandshake bool

	// AcceptorFirst says the acceptor answers an empty first token with a token of its
	// own instead of an error, as SPNEGO's acceptor does with NegTokenInit2 for SMB.
	AcceptorFirst bool

	// ConcatenatedMessages says a token is a run of self-delimiting messages (NegoEx):
	// a token cut at a message boundary is a valid shorter token, so truncated tokens
	// need only fail somewhere (or not at all) without panics or hangs.
	ConcatenatedMessages bool

	// MaxLegs bounds a handshake; zero means 10.
	MaxLegs int

	// Timeout bounds each call into the package; zero means 10 seconds. A call that
	// takes longer is reported as a hang.
	Timeout time.Duration

	// Concurrency is how many handshakes run at once in the concurrency check; zero
	// means 8.
	Concurrency int

	// SkipLeakCheck turns off the goroutine leak check, for packages whose credentials
	// keep background goroutines (a plugin host) that the test closes later.
	SkipLeakCheck bool
}

func (c *Config) defaults() {
	if c.Flags == 0 {
		c.Flags = sspi.FlagMutualAuth | sspi.FlagReplayDetect | sspi.FlagSequenceDetect |
			sspi.FlagIntegrity | sspi.FlagConfidentiality
	}
	if c.MaxLegs == 0 {
		c.MaxLegs = 10
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Concurrency == 0 {
		c.Concurrency = 8
	}
}

// check is one named conformance check.
type check struct {
	name string
	run  func(s *suite)
}

var checks = []check{
	{"Handshake", (*suite).checkHandshake},
	{"Attributes", (*suite).checkAttributes},
	{"IncompleteContext", (*suite).checkIncomplete},
	{"Signatures", (*suite).checkSignatures},
	{"Encryption", (*suite).checkEncryption},
	{"HostileTokens", (*suite).checkHostileTokens},
	{"OutOfOrderTokens", (*suite).checkOutOfOrder},
	{"HandshakeReplay", (*suite).checkHandshakeReplay},
	{"WrongCredentials", (*suite).checkWrongCredentials},
	{"ChannelBindings", (*suite).checkChannelBindings},
	{"CredentialUse", (*suite).checkCredentialUse},
	{"Close", (*suite).checkClose},
	{"Concurrency", (*suite).checkConcurrency},
}

// Names lists the checks in the order they run; each is a subtest name of Run.
func Names() []string {
	names := make([]string, 0, len(checks)+1)
	for _, c := range checks {
		names = append(names, c.name)
	}
	return append(names, "Leaks")
}

// Run runs every check as a subtest of t.
func Run(t *testing.T, cfg Config) {
	t.Helper()
	if cfg.Initiator == nil || cfg.Acceptor == nil {
		t.Fatal("sspitest: Config needs Initiator and Acceptor credentials")
	}
	cfg.defaults()
	opts := goleak.IgnoreCurrent()
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			s := &suite{cfg: cfg}
			c.run(s)
			for _, e := range s.errs {
				t.Error(e)
			}
			if s.skip != "" && len(s.errs) == 0 {
				t.Skip(s.skip)
			}
		})
	}
	if !cfg.SkipLeakCheck {
		t.Run("Leaks", func(t *testing.T) {
			if err := goleak.Find(opts); err != nil {
				t.Error(err)
			}
		})
	}
}

// Check runs every check and returns nil, or an error joining one error per failure,
// each prefixed with its check's name.
func Check(cfg Config) error {
	if cfg.Initiator == nil || cfg.Acceptor == nil {
		return errors.New("sspitest: Config needs Initiator and Acceptor credentials")
	}
	cfg.defaults()
	opts := goleak.IgnoreCurrent()
	var all []error
	for _, c := range checks {
		s := &suite{cfg: cfg}
		c.run(s)
		for _, e := range s.errs {
			all = append(all, fmt.Errorf("%s: %w", c.name, e))
		}
	}
	if !cfg.SkipLeakCheck {
		if err := goleak.Find(opts); err != nil {
			all = append(all, fmt.Errorf("Leaks: %w", err))
		}
	}
	return errors.Join(all...)
}

// suite is the state of one check.
type suite struct {
	cfg  Config
	errs []error
	skip string
}

func (s *suite) errorf(format string, a ...any) {
	s.errs = append(s.errs, fmt.Errorf(format, a...))
}

// failed reports whether the check has recorded failures; checks stop early on them
// where going on would only repeat the same complaint.
func (s *suite) failed() bool { return len(s.errs) > 0 }

// callResult is what one handshake step returned.
type callResult struct {
	out    []byte
	status sspi.Status
	err    error
}

// step runs one handshake call, turning a panic or a hang into a failure report.
func (s *suite) step(what string, f func(ctx context.Context) ([]byte, sspi.Status, error)) (res callResult, ok bool) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	done := make(chan callResult, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- callResult{err: fmt.Errorf("panic: %v", r), status: 0xFFFFFFFF}
			}
		}()
		out, st, err := f(ctx)
		done <- callResult{out, st, err}
	}()
	select {
	case r := <-done:
		if r.status == 0xFFFFFFFF {
			s.errorf("%s: %v", what, r.err)
			return r, false
		}
		return r, true
	case <-time.After(s.cfg.Timeout + min(s.cfg.Timeout, time.Second)):
		s.errorf("%s: no answer within %v (hang)", what, s.cfg.Timeout)
		return callResult{}, false
	}
}

// protect runs a message protection call, turning a panic into a failure report.
func (s *suite) protect(what string, f func() ([]byte, error)) (out []byte, err error, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			s.errorf("%s: panic: %v", what, r)
			ok = false
		}
	}()
	out, err = f()
	return out, err, true
}

// checkFailure verifies that err is a proper failure: non-nil, carrying a failure
// status, and (when want is non-empty) one of the wanted statuses.
func (s *suite) checkFailure(what string, err error, want ...sspi.Status) {
	if err == nil {
		s.errorf("%s: succeeded, want an error", what)
		return
	}
	var se *sspi.Error
	var st sspi.Status
	if !errors.As(err, &se) && !errors.As(err, &st) {
		s.errorf("%s: error %q carries no SSPI status", what, err)
		return
	}
	got := sspi.StatusOf(err)
	if !got.IsFailure() {
		s.errorf("%s: error %q carries the non-failure status %v", what, err, got)
		return
	}
	if len(want) == 0 {
		return
	}
	for _, w := range want {
		if errors.Is(err, w) {
			return
		}
	}
	names := make([]string, len(want))
	for i, w := range want {
		names[i] = w.Name()
	}
	s.errorf("%s: status %v, want %s (error: %v)", what, got, strings.Join(names, " or "), err)
}
