// Package psk implements PSK, a small mutual-authentication security package built on a
// pre-shared key: three legs, HKDF-SHA256 key derivation over both parties' nonces,
// transcript-bound proofs in both directions, channel bindings, and AES-256-GCM message
// protection with per-direction keys and sequence numbers.
//
// PSK is gossp's own scheme, not a Windows package. It exists to show the shape of a
// complete security package with the fewest moving parts: it is the package the
// conformance suite's own tests break on purpose, the base of the example NegoEx plugin
// third parties copy, and a way to try gossp where no directory or KDC is at hand.
//
// Keys must be high-entropy secrets of at least 16 bytes (random, not passwords): an
// observer of a handshake can test guesses of the key offline against its proofs.
package psk

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"unicode/utf8"

	"github.com/gossp/gossp/sspi"
)

// Name is the package name PSK registers under.
const Name = "PSK"

// AuthScheme is PSK's NegoEx auth scheme GUID (generated for gossp; not a Windows one).
var AuthScheme = sspi.MustParseGUID("7d3f1a42-6c0e-4b8a-9f15-2e9c7b5d0a61")

// MinKeyLen is the shortest key PSK accepts.
const MinKeyLen = 16

// Config configures the package. The zero value is ready to use.
type Config struct {
	// Rand is the source of nonces; nil means crypto/rand.
	Rand io.Reader
	// Logger receives debug events (never keys or tokens); nil discards them.
	Logger *slog.Logger
}

// Package is the PSK security package. Make it with New.
type Package struct {
	rand   io.Reader
	logger *slog.Logger
}

// New returns the PSK package.
func New(cfg Config) *Package {
	p := &Package{rand: cfg.Rand, logger: cfg.Logger}
	if p.rand == nil {
		p.rand = rand.Reader
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	return p
}

// Info describes PSK.
func (p *Package) Info() sspi.PackageInfo {
	return sspi.PackageInfo{
		Name:    Name,
		Comment: "gossp pre-shared key mutual authentication",
		Capabilities: sspi.CapIntegrity | sspi.CapPrivacy | sspi.CapConnection |
			sspi.CapMultiRequired | sspi.CapMutualAuth | sspi.CapNegotiable2,
		Version:    1,
		RPCID:      0xFFFF,
		MaxToken:   MaxToken,
		AuthScheme: AuthScheme,
	}
}

// ClientKey is the outbound credential material: who the initiator is and its key.
type ClientKey struct {
	Identity string
	Key      []byte
}

// KeyStore finds the key of an initiator identity for an acceptor. It returns an error
// wrapping ErrUnknownIdentity when there is none.
type KeyStore interface {
	LookupKey(ctx context.Context, identity string) ([]byte, error)
}

// ErrUnknownIdentity is returned by a KeyStore for an identity it does not know.
var ErrUnknownIdentity = errors.New("psk: unknown identity")

// Keys is an in-memory KeyStore: identity to key.
type Keys map[string][]byte

// LookupKey implements KeyStore.
func (k Keys) LookupKey(_ context.Context, identity string) ([]byte, error) {
	key, ok := k[identity]
	if !ok {
		return nil, ErrUnknownIdentity
	}
	return key, nil
}

// AcquireCredentials returns a credential. Outbound credentials take a ClientKey (or
// *ClientKey) as Material; inbound ones a KeyStore. CredentialsBoth needs a value that
// is both, see Credentials.
func (p *Package) AcquireCredentials(_ context.Context, req sspi.CredentialRequest) (sspi.Credential, error) {
	c := &credential{pkg: p, use: req.Use}
	if !req.Use.Outbound() && !req.Use.Inbound() {
		return nil, sspi.WithOp(sspi.Errorf(sspi.ErrInvalidParameter, "credential use %v", req.Use), Name, "AcquireCredentials")
	}
	if req.Use.Outbound() {
		ck, ok := clientKeyOf(req.Material)
		if !ok {
			return nil, sspi.WithOp(sspi.Errorf(sspi.ErrUnknownCredentials, "outbound credentials need a psk.ClientKey, got %T", req.Material), Name, "AcquireCredentials")
		}
		if ck.Identity == "" || len(ck.Identity) > maxIdentityLen || !utf8.ValidString(ck.Identity) {
			return nil, sspi.WithOp(sspi.Errorf(sspi.ErrUnknownCredentials, "identity must be 1..%d bytes of UTF-8", maxIdentityLen), Name, "AcquireCredentials")
		}
		if len(ck.Key) < MinKeyLen {
			return nil, sspi.WithOp(sspi.Errorf(sspi.ErrUnknownCredentials, "key of %d bytes is shorter than %d", len(ck.Key), MinKeyLen), Name, "AcquireCredentials")
		}
		c.client = &ClientKey{Identity: ck.Identity, Key: append([]byte(nil), ck.Key...)}
	}
	if req.Use.Inbound() {
		ks, ok := req.Material.(KeyStore)
		switch v := req.Material.(type) {
		case Credentials:
			ok = v.KeyStore != nil
		case *Credentials:
			ok = v != nil && v.KeyStore != nil
		}
		if !ok || ks == nil {
			return nil, sspi.WithOp(sspi.Errorf(sspi.ErrUnknownCredentials, "inbound credentials need a psk.KeyStore, got %T", req.Material), Name, "AcquireCredentials")
		}
		c.store = ks
		c.principal = req.Principal
	}
	return c, nil
}

func clientKeyOf(m any) (*ClientKey, bool) {
	switch v := m.(type) {
	case ClientKey:
		return &v, true
	case *ClientKey:
		return v, v != nil
	case Credentials:
		return &v.ClientKey, true
	case *Credentials:
		return &v.ClientKey, v != nil
	}
	return nil, false
}

// Credentials is Material for CredentialsBoth: a client key for initiating and a key
// store for accepting.
type Credentials struct {
	ClientKey
	KeyStore
}

type credential struct {
	pkg       *Package
	use       sspi.CredentialUse
	client    *ClientKey
	store     KeyStore
	principal string

	mu     sync.Mutex
	closed bool
}

func (c *credential) Attributes() sspi.CredentialAttributes {
	a := sspi.CredentialAttributes{Package: Name, Use: c.use, Principal: c.principal}
	if c.client != nil {
		a.Principal = c.client.Identity
	}
	return a
}

func (c *credential) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *credential) NewInitiator(cfg sspi.ContextConfig) (sspi.Initiator, error) {
	// Hold the lock while the context copies the key: Close wipes it under the same lock.
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, sspi.WithOp(sspi.ErrInvalidHandle, Name, "NewInitiator")
	}
	if c.client == nil {
		return nil, sspi.WithOp(sspi.Errorf(sspi.ErrNoCredentials, "credential is inbound only"), Name, "NewInitiator")
	}
	ini := &initiator{}
	ini.init(c, cfg, true)
	return ini, nil
}

func (c *credential) NewAcceptor(cfg sspi.ContextConfig) (sspi.Acceptor, error) {
	if c.isClosed() {
		return nil, sspi.WithOp(sspi.ErrInvalidHandle, Name, "NewAcceptor")
	}
	if c.store == nil {
		return nil, sspi.WithOp(sspi.Errorf(sspi.ErrNoCredentials, "credential is outbound only"), Name, "NewAcceptor")
	}
	acc := &acceptor{}
	acc.init(c, cfg, false)
	return acc, nil
}

func (c *credential) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.client != nil {
		clear(c.client.Key)
	}
	return nil
}

func (c *credential) String() string { return fmt.Sprintf("psk credential (%v)", c.use) }
