package sspitest_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gossp/gossp/packages/psk"
	"github.com/gossp/gossp/sspi"
	"github.com/gossp/gossp/sspi/sspitest"
)

var key = []byte("0123456789abcdef0123456789abcdef")

func pskCredentials(t *testing.T) (ini, acc sspi.Credential) {
	t.Helper()
	p := psk.New(psk.Config{})
	ctx := context.Background()
	ini, err := p.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
		Material: psk.ClientKey{Identity: "alice", Key: key}})
	if err != nil {
		t.Fatal(err)
	}
	acc, err = p.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsInbound,
		Material: psk.Keys{"alice": key}})
	if err != nil {
		t.Fatal(err)
	}
	return ini, acc
}

// The suite passes a correct package; the tests below break it one way at a time.
func TestCorrectPackagePasses(t *testing.T) {
	ini, acc := pskCredentials(t)
	if err := sspitest.Check(sspitest.Config{Initiator: ini, Acceptor: acc, ChannelBindings: true}); err != nil {
		t.Fatalf("Check of a correct package: %v", err)
	}
}

// brokenCred wraps a credential and lets a test replace what its contexts do.
type brokenCred struct {
	sspi.Credential
	wrapIni func(sspi.Initiator) sspi.Initiator
	wrapAcc func(sspi.Acceptor) sspi.Acceptor
	accCfg  func(sspi.ContextConfig) sspi.ContextConfig
}

func (b *brokenCred) NewInitiator(cfg sspi.ContextConfig) (sspi.Initiator, error) {
	c, err := b.Credential.NewInitiator(cfg)
	if err != nil || b.wrapIni == nil {
		return c, err
	}
	return b.wrapIni(c), nil
}

func (b *brokenCred) NewAcceptor(cfg sspi.ContextConfig) (sspi.Acceptor, error) {
	if b.accCfg != nil {
		cfg = b.accCfg(cfg)
	}
	c, err := b.Credential.NewAcceptor(cfg)
	if err != nil || b.wrapAcc == nil {
		return c, err
	}
	return b.wrapAcc(c), nil
}

// acceptorFuncs overrides single methods of an acceptor.
type acceptorFuncs struct {
	sspi.Acceptor
	accept     func(ctx context.Context, in []byte) ([]byte, sspi.Status, error)
	verify     func(msg, sig []byte) error
	sessionKey func() ([]byte, error)
	encrypt    func(msg []byte) ([]byte, error)
	decrypt    func(tok []byte) ([]byte, error)
	closeFn    func() error
}

func (a *acceptorFuncs) AcceptContext(ctx context.Context, in []byte) ([]byte, sspi.Status, error) {
	if a.accept != nil {
		return a.accept(ctx, in)
	}
	return a.Acceptor.AcceptContext(ctx, in)
}

func (a *acceptorFuncs) VerifySignature(msg, sig []byte) error {
	if a.verify != nil {
		return a.verify(msg, sig)
	}
	return a.Acceptor.VerifySignature(msg, sig)
}

func (a *acceptorFuncs) SessionKey() ([]byte, error) {
	if a.sessionKey != nil {
		return a.sessionKey()
	}
	return a.Acceptor.SessionKey()
}

func (a *acceptorFuncs) EncryptMessage(msg []byte) ([]byte, error) {
	if a.encrypt != nil {
		return a.encrypt(msg)
	}
	return a.Acceptor.EncryptMessage(msg)
}

func (a *acceptorFuncs) DecryptMessage(tok []byte) ([]byte, error) {
	if a.decrypt != nil {
		return a.decrypt(tok)
	}
	return a.Acceptor.DecryptMessage(tok)
}

func (a *acceptorFuncs) Close() error {
	if a.closeFn != nil {
		return a.closeFn()
	}
	return a.Acceptor.Close()
}

func TestBrokenPackagesFail(t *testing.T) {
	leaked := make(chan struct{})
	t.Cleanup(func() { close(leaked) })
	var leakOnce sync.Once

	cases := []struct {
		name string
		// break returns the broken acceptor credential.
		breakAcc func(acc sspi.Credential) *brokenCred
		// wantCheck names the check that must report the fault.
		wantCheck string
		wantText  string
	}{
		{
			name: "session keys disagree",
			breakAcc: func(acc sspi.Credential) *brokenCred {
				return &brokenCred{Credential: acc, wrapAcc: func(a sspi.Acceptor) sspi.Acceptor {
					return &acceptorFuncs{Acceptor: a, sessionKey: func() ([]byte, error) {
						k, err := a.SessionKey()
						if err == nil {
							k[0] ^= 1
						}
						return k, err
					}}
				}}
			},
			wantCheck: "Attributes", wantText: "disagree on the session key",
		},
		{
			name: "signatures never checked",
			breakAcc: func(acc sspi.Credential) *brokenCred {
				return &brokenCred{Credential: acc, wrapAcc: func(a sspi.Acceptor) sspi.Acceptor {
					return &acceptorFuncs{Acceptor: a, verify: func(msg, sig []byte) error { return nil }}
				}}
			},
			wantCheck: "Signatures", wantText: "altered message: succeeded",
		},
		{
			name: "replays not detected",
			breakAcc: func(acc sspi.Credential) *brokenCred {
				return &brokenCred{Credential: acc, wrapAcc: func(a sspi.Acceptor) sspi.Acceptor {
					return &acceptorFuncs{Acceptor: a, verify: func(msg, sig []byte) error {
						if err := a.VerifySignature(msg, sig); !errors.Is(err, sspi.ErrOutOfSequence) {
							return err
						}
						return nil
					}}
				}}
			},
			wantCheck: "Signatures", wantText: "replayed signature: succeeded",
		},
		{
			name: "panics on short tokens",
			breakAcc: func(acc sspi.Credential) *brokenCred {
				return &brokenCred{Credential: acc, wrapAcc: func(a sspi.Acceptor) sspi.Acceptor {
					return &acceptorFuncs{Acceptor: a, accept: func(ctx context.Context, in []byte) ([]byte, sspi.Status, error) {
						_ = in[3] // the classic unchecked index
						return a.AcceptContext(ctx, in)
					}}
				}}
			},
			wantCheck: "HostileTokens", wantText: "panic",
		},
		{
			name: "hangs on an empty token",
			breakAcc: func(acc sspi.Credential) *brokenCred {
				return &brokenCred{Credential: acc, wrapAcc: func(a sspi.Acceptor) sspi.Acceptor {
					return &acceptorFuncs{Acceptor: a, accept: func(ctx context.Context, in []byte) ([]byte, sspi.Status, error) {
						if len(in) == 0 {
							time.Sleep(time.Second)
						}
						return a.AcceptContext(ctx, in)
					}}
				}}
			},
			wantCheck: "HostileTokens", wantText: "hang",
		},
		{
			name: "errors without a status",
			breakAcc: func(acc sspi.Credential) *brokenCred {
				return &brokenCred{Credential: acc, wrapAcc: func(a sspi.Acceptor) sspi.Acceptor {
					return &acceptorFuncs{Acceptor: a, accept: func(ctx context.Context, in []byte) ([]byte, sspi.Status, error) {
						out, st, err := a.AcceptContext(ctx, in)
						if err != nil {
							return nil, st, errors.New("bad token")
						}
						return out, st, nil
					}}
				}}
			},
			wantCheck: "HostileTokens", wantText: "carries no SSPI status",
		},
		{
			name: "continue without a token",
			breakAcc: func(acc sspi.Credential) *brokenCred {
				return &brokenCred{Credential: acc, wrapAcc: func(a sspi.Acceptor) sspi.Acceptor {
					return &acceptorFuncs{Acceptor: a, accept: func(ctx context.Context, in []byte) ([]byte, sspi.Status, error) {
						_, st, err := a.AcceptContext(ctx, in)
						return nil, st, err
					}}
				}}
			},
			wantCheck: "Handshake", wantText: "continue-needed without an output token",
		},
		{
			name: "channel bindings ignored",
			breakAcc: func(acc sspi.Credential) *brokenCred {
				return &brokenCred{Credential: acc, accCfg: func(c sspi.ContextConfig) sspi.ContextConfig {
					c.ChannelBindings = nil
					return c
				}}
			},
			wantCheck: "ChannelBindings", wantText: "mismatched channel bindings: accepted",
		},
		{
			name: "messages sent in clear",
			breakAcc: func(acc sspi.Credential) *brokenCred {
				return &brokenCred{Credential: acc, wrapAcc: func(a sspi.Acceptor) sspi.Acceptor {
					return &acceptorFuncs{Acceptor: a,
						encrypt: func(msg []byte) ([]byte, error) { return append([]byte{0}, msg...), nil },
						decrypt: func(tok []byte) ([]byte, error) {
							if len(tok) == 0 {
								return nil, sspi.ErrInvalidToken
							}
							return bytes.Clone(tok[1:]), nil
						}}
				}}
			},
			wantCheck: "Encryption", wantText: "altered",
		},
		{
			name: "Close does nothing",
			breakAcc: func(acc sspi.Credential) *brokenCred {
				return &brokenCred{Credential: acc, wrapAcc: func(a sspi.Acceptor) sspi.Acceptor {
					return &acceptorFuncs{Acceptor: a, closeFn: func() error { return nil }}
				}}
			},
			wantCheck: "Close", wantText: "after Close: succeeded",
		},
		{
			name: "goroutine leaked per context",
			breakAcc: func(acc sspi.Credential) *brokenCred {
				return &brokenCred{Credential: acc, wrapAcc: func(a sspi.Acceptor) sspi.Acceptor {
					leakOnce.Do(func() { go func() { <-leaked }() })
					return a
				}}
			},
			wantCheck: "Leaks", wantText: "found unexpected goroutines",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ini, acc := pskCredentials(t)
			err := sspitest.Check(sspitest.Config{
				Initiator:       ini,
				Acceptor:        tc.breakAcc(acc),
				ChannelBindings: true,
				Timeout:         200 * time.Millisecond,
				Concurrency:     2,
			})
			if err == nil {
				t.Fatal("Check passed a broken package")
			}
			found := false
			for _, line := range strings.Split(err.Error(), "\n") {
				if strings.HasPrefix(line, tc.wantCheck+":") && strings.Contains(line, tc.wantText) {
					found = true
				}
			}
			if !found {
				t.Errorf("no %q failure mentioning %q; got:\n%v", tc.wantCheck, tc.wantText, err)
			}
		})
	}
}

func TestCheckNeedsCredentials(t *testing.T) {
	if err := sspitest.Check(sspitest.Config{}); err == nil {
		t.Fatal("Check with no credentials succeeded")
	}
}
