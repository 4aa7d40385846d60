// Package pku2u implements PKU2U, public-key cryptography based user-to-user
// authentication (draft-zhu-pku2u-09), the way Windows 7 and later speak it inside
// NegoEx: two peers that share no KDC authenticate each other with certificates.
//
// The exchange is Kerberos with the acceptor as its own KDC:
//
//	initiator                                     acceptor
//	AS-REQ + PA-PK-AS-REQ (signed AuthPack, DH)  ->
//	                                             <- AS-REP + PA-PK-AS-REP (signed DH reply), ticket
//	AP-REQ (authenticator with KRB-FINISHED)     ->
//	                                             <- AP-REP (acceptor subkey)
//
// The AS exchange is PKINIT Diffie-Hellman (RFC 4556): each side signs its half with
// its certificate's key and checks the other's certificate chain against its own
// trust anchors. The AS-REP's encrypted part, under the DH-derived reply key, carries
// the ticket session key; the AP exchange proves both sides hold it and binds the
// unauthenticated AS messages through a KRB-FINISHED checksum (key usage 41) in the
// authenticator. Message protection is RFC 4121 with the acceptor's subkey, and the
// NegoEx VERIFY keys are the initiator's and the acceptor's subkeys.
//
// Credentials (sspi.CredentialRequest.Material) are Credentials (a certificate chain
// and key, and trust anchors) or Files (PEM file names); see docs/packages/pku2u.md.
// The package is served out of process by plugins/pku2u; it also works in process,
// registered with NegoEx as a scheme.
package pku2u

import (
	"context"
	"crypto/rand"
	"encoding/asn1"
	"io"
	"log/slog"
	"time"

	"github.com/gossp/gossp/sspi"
)

// Name is the package name, as Windows names it.
const Name = "pku2u"

// OID is PKU2U's GSS-API mechanism OID, 1.3.6.1.5.2.7.
var OID = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 2, 7}

// AuthScheme is PKU2U's NegoEx auth scheme, 0d53335c-f9ea-4d0d-b2ec-4ae3786ec308.
var AuthScheme = sspi.MustParseGUID("0d53335c-f9ea-4d0d-b2ec-4ae3786ec308")

// Realm is the realm of every PKU2U principal.
const Realm = "WELLKNOWN:PKU2U"

// MaxToken is the largest handshake token the package produces or accepts. Windows
// reports 12000 for PKU2U; certificate chains make tokens of a few KiB.
const MaxToken = 65535

// DefaultClockSkew is how far a peer's clock may be from ours.
const DefaultClockSkew = 5 * time.Minute

// DefaultTicketLifetime is the lifetime of the tickets an acceptor issues, and so of
// its contexts.
const DefaultTicketLifetime = 10 * time.Hour

// Capabilities are the SECPKG_FLAG_* bits PKU2U reports: integrity, privacy,
// connection, multi-leg, extended errors, mutual authentication, NegoEx (NEGOTIABLE2),
// GSS-compatible.
const Capabilities = sspi.CapIntegrity | sspi.CapPrivacy | sspi.CapConnection |
	sspi.CapMultiRequired | sspi.CapExtendedError | sspi.CapMutualAuth |
	sspi.CapNegotiable2 | sspi.CapGSSCompatible

// Config configures the package. The zero value is a secure default.
type Config struct {
	// Rand supplies keys, nonces and DH exponents; nil means crypto/rand.
	Rand io.Reader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives debug events (never keys or tokens); nil discards them.
	Logger *slog.Logger
	// ClockSkew is how far a peer's signed time may be from ours; zero means
	// DefaultClockSkew.
	ClockSkew time.Duration
	// TicketLifetime bounds the contexts an acceptor establishes; zero means
	// DefaultTicketLifetime (cut to the initiator certificate's expiry).
	TicketLifetime time.Duration
	// AllowModp1024 lets both sides use the 1024-bit Oakley group 2, which Windows
	// initiators send. Off by default: a 1024-bit group is below today's floor, and
	// an acceptor without it refuses such an AS-REQ with
	// KDC_ERR_DH_KEY_PARAMETERS_NOT_ACCEPTED.
	AllowModp1024 bool
	// InitiatorModp1024 makes the initiator send the 1024-bit group, as Windows
	// initiators do, for acceptors that may take nothing else (whether Windows
	// acceptors take group 14 is not known). It implies AllowModp1024.
	InitiatorModp1024 bool
	// ReplayCacheSize bounds the acceptor's cache of seen PKAuthenticators and
	// authenticators, per credential; zero means 100000.
	ReplayCacheSize int
	// NoHostnameCheck turns off the initiator's check that the acceptor's certificate
	// names the target host. Only for peers whose certificates name no host.
	NoHostnameCheck bool
}

// Package is the PKU2U security package. Make it with New.
type Package struct {
	cfg    Config
	rand   io.Reader
	now    func() time.Time
	logger *slog.Logger
	skew   time.Duration
	life   time.Duration
}

// New returns the PKU2U package.
func New(cfg Config) *Package {
	p := &Package{cfg: cfg, rand: cfg.Rand, now: cfg.Now, logger: cfg.Logger, skew: cfg.ClockSkew, life: cfg.TicketLifetime}
	if p.rand == nil {
		p.rand = rand.Reader
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	if p.skew <= 0 {
		p.skew = DefaultClockSkew
	}
	if p.life <= 0 {
		p.life = DefaultTicketLifetime
	}
	if p.cfg.ReplayCacheSize <= 0 {
		p.cfg.ReplayCacheSize = 100000
	}
	return p
}

// Info describes PKU2U.
func (p *Package) Info() sspi.PackageInfo {
	return sspi.PackageInfo{
		Name:         Name,
		Comment:      "PKU2U Security Package",
		Capabilities: Capabilities,
		Version:      1,
		RPCID:        0xFFFF,
		MaxToken:     MaxToken,
		MechOID:      OID,
		AuthScheme:   AuthScheme,
	}
}

// AcquireCredentials returns a credential from Credentials or Files material.
func (p *Package) AcquireCredentials(_ context.Context, req sspi.CredentialRequest) (sspi.Credential, error) {
	const op = "AcquireCredentials"
	if !req.Use.Outbound() && !req.Use.Inbound() {
		return nil, sspi.WithOp(sspi.Errorf(sspi.ErrInvalidParameter, "credential use %v", req.Use), Name, op)
	}
	creds, err := credentialsOf(req.Material)
	if err != nil {
		return nil, sspi.WithOp(err, Name, op)
	}
	c, err := newCredential(p, req.Use, creds)
	if err != nil {
		return nil, sspi.WithOp(err, Name, op)
	}
	return c, nil
}
