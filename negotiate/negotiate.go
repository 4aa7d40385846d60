package negotiate

import (
	"bytes"
	"context"
	"encoding/asn1"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/gossp/gossp/sspi"
)

// Name is the package name, as Windows names it.
const Name = "Negotiate"

// Mechanism OIDs Negotiate knows by name.
var (
	// OIDKerberos is Kerberos v5 (RFC 4121), 1.2.840.113554.1.2.2.
	OIDKerberos = asn1.ObjectIdentifier{1, 2, 840, 113554, 1, 2, 2}
	// OIDKerberosMS is the OID Windows offers Kerberos under first, a mis-encoding of
	// the real one that every implementation accepts: 1.2.840.48018.1.2.2.
	OIDKerberosMS = asn1.ObjectIdentifier{1, 2, 840, 48018, 1, 2, 2}
	// OIDNTLM is NTLMSSP, 1.3.6.1.4.1.311.2.2.10.
	OIDNTLM = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 2, 10}
	// OIDNegoEx is NegoEx, 1.3.6.1.4.1.311.2.2.30.
	OIDNegoEx = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 2, 30}
)

// MechOIDer is implemented by sub-packages offered under more than one OID. A Kerberos
// package without it is offered under OIDKerberosMS and OIDKerberos, as Windows does.
type MechOIDer interface {
	MechOIDs() []asn1.ObjectIdentifier
}

// NTLMFallback says when Negotiate may use NTLM.
type NTLMFallback int

const (
	// NTLMAllowed: NTLM is offered like any other allowed package (Windows' default).
	NTLMAllowed NTLMFallback = iota
	// NTLMOnlyIfNoOther: NTLM is offered only when no other package could produce a
	// token (no Kerberos ticket, no NegoEx scheme), never beside them.
	NTLMOnlyIfNoOther
	// NTLMDenied: NTLM is never used.
	NTLMDenied
)

// Config configures Negotiate.
type Config struct {
	// Packages are the mechanisms Negotiate may choose from, most preferred first (as
	// on Windows: Kerberos, NegoEx, NTLM). Each needs a mechanism OID.
	Packages []sspi.Package
	// Policy restricts and orders them, written as Windows writes a package list
	// ("kerberos,!ntlm"); see Policy. Empty allows all.
	Policy string
	// NTLM is the NTLM fall-back policy.
	NTLM NTLMFallback
	// Logger receives debug events (never keys or tokens); nil discards them.
	Logger *slog.Logger
}

// Package is the Negotiate security package. Make it with New.
type Package struct {
	subs   []sspi.Package
	policy Policy
	ntlm   NTLMFallback
	logger *slog.Logger
}

// New returns the Negotiate package.
func New(cfg Config) (*Package, error) {
	pol, err := ParsePolicy(cfg.Policy)
	if err != nil {
		return nil, err
	}
	p := &Package{policy: pol, ntlm: cfg.NTLM, logger: cfg.Logger}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	seen := map[string]bool{}
	for _, s := range cfg.Packages {
		info := s.Info()
		if len(mechOIDs(s)) == 0 {
			return nil, fmt.Errorf("negotiate: package %q has no mechanism OID", info.Name)
		}
		if seen[strings.ToLower(info.Name)] {
			return nil, fmt.Errorf("negotiate: package %q listed twice", info.Name)
		}
		seen[strings.ToLower(info.Name)] = true
		p.subs = append(p.subs, s)
	}
	if len(p.subs) == 0 {
		return nil, errors.New("negotiate: no packages to negotiate")
	}
	return p, nil
}

// mechOIDs lists the OIDs a sub-package is offered and accepted under.
func mechOIDs(p sspi.Package) []asn1.ObjectIdentifier {
	if m, ok := p.(MechOIDer); ok {
		return m.MechOIDs()
	}
	oid := p.Info().MechOID
	switch {
	case len(oid) == 0:
		return nil
	case oid.Equal(OIDKerberos):
		return []asn1.ObjectIdentifier{OIDKerberosMS, OIDKerberos}
	}
	return []asn1.ObjectIdentifier{oid}
}

// Info describes Negotiate with Windows' values.
func (p *Package) Info() sspi.PackageInfo {
	var caps sspi.Capabilities
	maxToken := 0
	for _, s := range p.subs {
		i := s.Info()
		caps |= i.Capabilities
		maxToken = max(maxToken, i.MaxToken)
	}
	return sspi.PackageInfo{
		Name:    Name,
		Comment: "Microsoft Package Negotiator",
		Capabilities: caps&(sspi.CapIntegrity|sspi.CapPrivacy|sspi.CapMutualAuth|sspi.CapDelegation|
			sspi.CapImpersonation|sspi.CapAcceptWin32Name|sspi.CapLogon|sspi.CapRestrictedTokens) |
			sspi.CapConnection | sspi.CapMultiRequired | sspi.CapTokenOnly | sspi.CapExtendedError |
			sspi.CapGSSCompatible,
		Version:  1,
		RPCID:    9, // RPC_C_AUTHN_GSS_NEGOTIATE
		MaxToken: maxToken + 256,
		MechOID:  OID,
	}
}

// Options is credential Material for Negotiate: a package list narrowing the
// package's policy for this credential (Windows' PackageList), and material per
// sub-package by name. Sub-packages without an entry get the request's Identity.
type Options struct {
	PackageList string
	Material    map[string]any
}

// subCred is one sub-package a credential can use.
type subCred struct {
	pkg  sspi.Package
	info sspi.PackageInfo
	oids []asn1.ObjectIdentifier
	cred sspi.Credential

	ders   [][]byte // oids' DER elements, in order: nil if derErr
	der    [][]byte // their contents, what decoded tokens are compared with
	derErr error    // an OID that has no DER (reported when a token would carry it)
}

func newSubCred(pkg sspi.Package, info sspi.PackageInfo, cred sspi.Credential) *subCred {
	s := &subCred{pkg: pkg, info: info, oids: mechOIDs(pkg), cred: cred}
	for _, o := range s.oids {
		der, err := oidDER(o)
		if err != nil {
			s.ders, s.der, s.derErr = nil, nil, fmt.Errorf("%w: %v", err, o)
			break
		}
		s.ders = append(s.ders, der)
		s.der = append(s.der, oidContents(der))
	}
	return s
}

// index returns the index in oids of the OID with DER contents oid, or -1.
func (s *subCred) index(oid []byte) int {
	for i, d := range s.der {
		if bytes.Equal(d, oid) {
			return i
		}
	}
	return -1
}

// listed reports whether any of the sub-package's OIDs is in l.
func (s *subCred) listed(l mechList) bool {
	for m := l; len(m) > 0; {
		var o []byte
		if o, m = m.next(); s.index(o) >= 0 {
			return true
		}
	}
	return false
}

// mechTypes is the DER of the MechTypeList offering subs in order.
func mechTypes(subs []*subCred) ([]byte, error) {
	n := 0
	for _, s := range subs {
		if s.derErr != nil {
			return nil, s.derErr
		}
		for _, d := range s.ders {
			n += len(d)
		}
	}
	b := appendHeader(make([]byte, 0, tlvLen(n)), tagSequence, n)
	for _, s := range subs {
		for _, d := range s.ders {
			b = append(b, d...)
		}
	}
	return b, nil
}

func (s *subCred) isNTLM() bool { return strings.EqualFold(s.info.Name, "NTLM") }

// AcquireCredentials acquires credentials from every allowed sub-package that can give
// them; it fails with ErrNoCredentials only if none can. req.Material may be Options.
func (p *Package) AcquireCredentials(ctx context.Context, req sspi.CredentialRequest) (sspi.Credential, error) {
	const op = "AcquireCredentials"
	pol := p.policy
	var material map[string]any
	switch o := req.Material.(type) {
	case Options:
		material = o.Material
		cp, err := ParsePolicy(o.PackageList)
		if err != nil {
			return nil, sspi.WithOp(sspi.Errorf(sspi.ErrInvalidParameter, "%w", err), Name, op)
		}
		pol = pol.Intersect(cp)
	case *Options:
		if o != nil {
			material = o.Material
			cp, err := ParsePolicy(o.PackageList)
			if err != nil {
				return nil, sspi.WithOp(sspi.Errorf(sspi.ErrInvalidParameter, "%w", err), Name, op)
			}
			pol = pol.Intersect(cp)
		}
	case nil:
	default:
		return nil, sspi.WithOp(sspi.Errorf(sspi.ErrUnknownCredentials, "Material must be negotiate.Options, got %T", req.Material), Name, op)
	}
	c := &credential{pkg: p, use: req.Use}
	var reasons []error
	for _, s := range p.subs {
		info := s.Info()
		if !pol.Allows(info.Name) || (p.ntlm == NTLMDenied && strings.EqualFold(info.Name, "NTLM")) {
			continue
		}
		sreq := req
		sreq.Material = nil
		if m, ok := lookupFold(material, info.Name); ok {
			sreq.Material = m
		}
		cred, err := s.AcquireCredentials(ctx, sreq)
		if err != nil {
			if p.logger.Enabled(ctx, slog.LevelDebug) {
				p.logger.DebugContext(ctx, "negotiate: sub-package has no credentials", "package", info.Name, "err", err)
			}
			reasons = append(reasons, err)
			continue
		}
		c.subs = append(c.subs, newSubCred(s, info, cred))
	}
	slices.SortStableFunc(c.subs, func(a, b *subCred) int { return pol.rank(a.info.Name) - pol.rank(b.info.Name) })
	if len(c.subs) == 0 {
		err := sspi.Errorf(sspi.ErrNoCredentials, "no allowed package has credentials: %w", errors.Join(reasons...))
		if len(reasons) == 0 {
			err = sspi.Errorf(sspi.ErrNoCredentials, "the policy allows no package")
		}
		return nil, sspi.WithOp(err, Name, op)
	}
	c.mechTypes, c.mechTypesErr = mechTypes(c.subs)
	return c, nil
}

func lookupFold(m map[string]any, name string) (any, bool) {
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

type credential struct {
	pkg  *Package
	use  sspi.CredentialUse
	subs []*subCred

	// mechTypes is the MechTypeList offering every sub-package, made once: what a
	// NegTokenInit or NegTokenInit2 offering them all carries. Read only.
	mechTypes    []byte
	mechTypesErr error

	mu     sync.Mutex
	closed bool
}

func (c *credential) Attributes() sspi.CredentialAttributes {
	a := sspi.CredentialAttributes{Package: Name, Use: c.use}
	if len(c.subs) > 0 {
		a.Principal = c.subs[0].cred.Attributes().Principal
	}
	return a
}

// Packages lists the sub-packages this credential can use, in preference order.
func (c *credential) Packages() []string {
	names := make([]string, len(c.subs))
	for i, s := range c.subs {
		names[i] = s.info.Name
	}
	return names
}

func (c *credential) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *credential) NewInitiator(cfg sspi.ContextConfig) (sspi.Initiator, error) {
	if c.isClosed() {
		return nil, sspi.WithOp(sspi.ErrInvalidHandle, Name, "NewInitiator")
	}
	if !c.use.Outbound() {
		return nil, sspi.WithOp(sspi.Errorf(sspi.ErrNoCredentials, "credential is inbound only"), Name, "NewInitiator")
	}
	x := &initiator{ctxState: ctxState{cred: c, cfg: cfg, initiator: true}}
	x.Protection.Inner = x.established
	return x, nil
}

func (c *credential) NewAcceptor(cfg sspi.ContextConfig) (sspi.Acceptor, error) {
	if c.isClosed() {
		return nil, sspi.WithOp(sspi.ErrInvalidHandle, Name, "NewAcceptor")
	}
	if !c.use.Inbound() {
		return nil, sspi.WithOp(sspi.Errorf(sspi.ErrNoCredentials, "credential is outbound only"), Name, "NewAcceptor")
	}
	x := &acceptor{ctxState: ctxState{cred: c, cfg: cfg}}
	x.Protection.Inner = x.established
	return x, nil
}

// Close closes the sub-package credentials.
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

// find returns the sub-credential offered under the OID with DER contents oid, and
// the OID's index in its oids.
func (c *credential) find(oid []byte) (*subCred, int) {
	return findIn(c.subs, oid)
}

func findIn(subs []*subCred, oid []byte) (*subCred, int) {
	for _, s := range subs {
		if i := s.index(oid); i >= 0 {
			return s, i
		}
	}
	return nil, -1
}
