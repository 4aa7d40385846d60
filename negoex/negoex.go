// Package negoex implements NegoEx, the SPNEGO extended negotiation mechanism
// (draft-zhu-negoex-04, MS-NEGOEX) that Windows calls NegoExtender. Negotiate offers it
// under OID 1.3.6.1.4.1.311.2.2.30; it in turn negotiates among auth schemes identified
// by GUIDs, exchanges their meta-data, runs the chosen scheme's handshake, and protects
// the whole conversation with VERIFY checksums made with the scheme's keys.
//
// An auth scheme is an ordinary sspi.Package whose Info has CapNegotiable2 and an
// AuthScheme GUID. Its contexts take part in meta-data exchange by implementing
// MetaDataContext and provide the VERIFY keys by implementing KeyedContext. Schemes run
// in process, registered in Config.Schemes, or out of process as plugins.
package negoex

import (
	"context"
	"crypto/rand"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/gossp/gossp/sspi"
)

// Name is the package name, as Windows names it.
const Name = "NegoExtender"

// OID is NegoEx's mechanism OID, 1.3.6.1.4.1.311.2.2.30.
var OID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 2, 30}

// MetaDataContext is implemented by scheme contexts that exchange meta-data (a PKU2U
// initiator tells the acceptor which certificate issuers it trusts, for example).
type MetaDataContext interface {
	// MetaData returns this side's meta-data for the peer (QueryMetaData); nil for none.
	MetaData(ctx context.Context) ([]byte, error)
	// PeerMetaData receives the peer's meta-data (ExchangeMetaData). An error drops the
	// scheme from the negotiation.
	PeerMetaData(ctx context.Context, data []byte) error
}

// KeyedContext is implemented by scheme contexts that can key NegoEx's VERIFY
// messages. A scheme without keys cannot complete NegoEx.
type KeyedContext interface {
	// VerifyKeys returns the key this side signs its VERIFY with and the key the peer's
	// VERIFY is checked with, once the scheme has them; ok is false until then. A scheme
	// may report ok with an empty verify key while it does not know the peer's key yet
	// (a PKU2U initiator signs with its subkey before the AP-REP brings the acceptor's):
	// its VERIFY goes out at once, and the peer's waits for the key.
	VerifyKeys() (sign, verify Key, ok bool)
}

// Scheme is an auth scheme registered with NegoEx: a package with its priority (higher
// first; ties keep registration order).
type Scheme struct {
	Package  sspi.Package
	Priority int
}

// Config configures NegoEx.
type Config struct {
	// Schemes are the auth schemes NegoEx negotiates among.
	Schemes []Scheme
	// NoOptimisticToken keeps the initiator from sending its first scheme's token with
	// the NEGO (MIT's NEGOEX_NO_OPTIMISTIC_TOKEN): for schemes whose first token is
	// costly when it may be thrown away.
	NoOptimisticToken bool
	// Rand supplies conversation IDs and the NEGO randoms; nil means crypto/rand.
	Rand io.Reader
	// Logger receives debug events (never keys or tokens); nil discards them.
	Logger *slog.Logger
}

// Package is the NegoEx security package. Make it with New.
type Package struct {
	schemes    []sspi.Package // by priority
	noOptimist bool
	rand       io.Reader
	logger     *slog.Logger
}

// New returns the NegoEx package.
func New(cfg Config) (*Package, error) {
	p := &Package{noOptimist: cfg.NoOptimisticToken, rand: cfg.Rand, logger: cfg.Logger}
	if p.rand == nil {
		p.rand = rand.Reader
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	schemes := slices.Clone(cfg.Schemes)
	slices.SortStableFunc(schemes, func(a, b Scheme) int { return b.Priority - a.Priority })
	seen := map[sspi.GUID]string{}
	for _, s := range schemes {
		info := s.Package.Info()
		if info.AuthScheme.IsZero() {
			return nil, fmt.Errorf("negoex: package %q has no auth scheme GUID", info.Name)
		}
		if prev, dup := seen[info.AuthScheme]; dup {
			return nil, fmt.Errorf("negoex: packages %q and %q share auth scheme %v", prev, info.Name, info.AuthScheme)
		}
		seen[info.AuthScheme] = info.Name
		p.schemes = append(p.schemes, s.Package)
	}
	return p, nil
}

// Schemes lists the registered schemes' information, in priority order.
func (p *Package) Schemes() []sspi.PackageInfo {
	infos := make([]sspi.PackageInfo, len(p.schemes))
	for i, s := range p.schemes {
		infos[i] = s.Info()
	}
	return infos
}

// Info describes NegoEx with Windows' values.
func (p *Package) Info() sspi.PackageInfo {
	var caps sspi.Capabilities
	maxToken := 0
	for _, s := range p.schemes {
		i := s.Info()
		caps |= i.Capabilities
		maxToken += i.MaxToken
	}
	return sspi.PackageInfo{
		Name:    Name,
		Comment: "NegoEx extended negotiation",
		Capabilities: caps&(sspi.CapIntegrity|sspi.CapPrivacy|sspi.CapMutualAuth|sspi.CapDelegation) |
			sspi.CapConnection | sspi.CapMultiRequired | sspi.CapNegoExtender | sspi.CapGSSCompatible,
		Version:  1,
		RPCID:    0xFFFF,
		MaxToken: maxToken + 1024,
		MechOID:  OID,
	}
}

// Options is credential Material for NegoEx: material per scheme, by package name.
// Schemes without an entry get the request's Identity.
type Options struct {
	Material map[string]any
}

type subCred struct {
	info sspi.PackageInfo
	cred sspi.Credential
}

// AcquireCredentials acquires credentials from every scheme that can give them; it
// fails with ErrNoCredentials only if none can.
func (p *Package) AcquireCredentials(ctx context.Context, req sspi.CredentialRequest) (sspi.Credential, error) {
	var material map[string]any
	switch o := req.Material.(type) {
	case Options:
		material = o.Material
	case *Options:
		if o != nil {
			material = o.Material
		}
	case nil:
	default:
		return nil, sspi.WithOp(sspi.Errorf(sspi.ErrUnknownCredentials, "Material must be negoex.Options, got %T", req.Material), Name, "AcquireCredentials")
	}
	c := &credential{pkg: p, use: req.Use}
	var reasons []error
	for _, s := range p.schemes {
		info := s.Info()
		sreq := req
		sreq.Material = nil
		for k, v := range material {
			if strings.EqualFold(k, info.Name) {
				sreq.Material = v
			}
		}
		cred, err := s.AcquireCredentials(ctx, sreq)
		if err != nil {
			p.logger.DebugContext(ctx, "negoex: scheme has no credentials", "scheme", info.Name, "err", err)
			reasons = append(reasons, err)
			continue
		}
		c.subs = append(c.subs, &subCred{info: info, cred: cred})
	}
	if len(c.subs) == 0 {
		return nil, sspi.WithOp(sspi.Errorf(sspi.ErrNoCredentials, "no auth scheme has credentials: %w", errors.Join(reasons...)), Name, "AcquireCredentials")
	}
	return c, nil
}

type credential struct {
	pkg  *Package
	use  sspi.CredentialUse
	subs []*subCred

	mu     sync.Mutex
	closed bool
}

func (c *credential) Attributes() sspi.CredentialAttributes {
	return sspi.CredentialAttributes{Package: Name, Use: c.use, Principal: c.subs[0].cred.Attributes().Principal}
}

func (c *credential) check(op string, outbound bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return sspi.WithOp(sspi.ErrInvalidHandle, Name, op)
	case outbound && !c.use.Outbound():
		return sspi.WithOp(sspi.Errorf(sspi.ErrNoCredentials, "credential is inbound only"), Name, op)
	case !outbound && !c.use.Inbound():
		return sspi.WithOp(sspi.Errorf(sspi.ErrNoCredentials, "credential is outbound only"), Name, op)
	}
	return nil
}

func (c *credential) NewInitiator(cfg sspi.ContextConfig) (sspi.Initiator, error) {
	if err := c.check("NewInitiator", true); err != nil {
		return nil, err
	}
	x := &initiator{ctxState{cred: c, cfg: cfg, initiator: true}}
	x.Protection.Inner = x.established
	return x, nil
}

func (c *credential) NewAcceptor(cfg sspi.ContextConfig) (sspi.Acceptor, error) {
	if err := c.check("NewAcceptor", false); err != nil {
		return nil, err
	}
	x := &acceptor{ctxState{cred: c, cfg: cfg}}
	x.Protection.Inner = x.established
	return x, nil
}

func (c *credential) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	for _, s := range c.subs {
		errs = append(errs, s.cred.Close())
	}
	return errors.Join(errs...)
}
