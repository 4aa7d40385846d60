// Package ntlm implements the NTLM security package (MS-NLMP): NTLMv2 authentication
// with extended session security, key exchange, the MIC, channel bindings and target
// names, anonymous authentication, and NTLM message signing and sealing, for both the
// initiator and the acceptor.
//
// Security defaults: NTLMv1 and LM are refused (Config.AllowNTLMv1 is an explicit
// opt-in for legacy peers), anonymous logons are refused (Config.AllowAnonymous),
// sessions without extended session security are refused unless NTLMv1 is allowed,
// and an initiator that asked for signing or sealing fails rather than continue without
// it. Replay of an AUTHENTICATE message into another context fails: its proof covers
// the acceptor's random challenge.
//
// Credentials: an initiator acquires a password (sspi.Identity), an NT hash
// (UserHash) or Anonymous; an acceptor a UserDB, such as a UserFile in gss-ntlmssp's
// NTLM_USER_FILE format.
package ntlm

import (
	"context"
	"crypto/rand"
	"encoding/asn1"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/gossp/gossp/internal/credguard"
	"github.com/gossp/gossp/sspi"
)

// Name is the package name, as Windows names it.
const Name = "NTLM"

// OID is NTLMSSP's GSS-API mechanism OID, 1.3.6.1.4.1.311.2.2.10.
var OID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 2, 10}

// MaxToken is Windows' cbMaxToken for NTLM.
const MaxToken = 2888

// Config configures the package. The zero value is a secure default.
type Config struct {
	// Rand supplies challenges and session keys; nil means crypto/rand.
	Rand io.Reader
	// Now is the clock for timestamps; nil means time.Now.
	Now func() time.Time
	// Logger receives debug events (never keys, passwords or tokens); nil discards.
	Logger *slog.Logger

	// AllowNTLMv1 lets an acceptor accept NTLMv1 responses and an initiator send them
	// (and use session security without extended session security). Only for legacy
	// peers that cannot do NTLMv2: NTLMv1 responses can be cracked offline.
	AllowNTLMv1 bool
	// AllowAnonymous lets an acceptor accept anonymous (NULL session) logons.
	AllowAnonymous bool
	// RequireMIC makes an acceptor refuse AUTHENTICATE messages without a MIC. Windows,
	// Samba and gss-ntlmssp clients send one; some older clients do not.
	RequireMIC bool

	// Acceptor identity for the CHALLENGE message's target name and target info.
	// Empty fields get defaults from the host name.
	NetBIOSDomain   string
	NetBIOSComputer string
	DNSDomain       string
	DNSComputer     string

	// Workstation is the initiator's computer name sent in AUTHENTICATE; empty sends none.
	Workstation string
	// Version is sent in every message; nil means DefaultVersion.
	Version *Version
}

// Package is the NTLM security package. Make it with New.
type Package struct {
	cfg Config
	// targetInfo holds the CHALLENGE's AV pairs that never change (the names), encoded
	// once; each CHALLENGE appends its timestamp and the terminator.
	targetInfo []byte
	targetName []byte // NetBIOSDomain in UTF-16LE
	rand       io.Reader
	now        func() time.Time
	logger     *slog.Logger
	version    Version
}

// New returns the NTLM package.
func New(cfg Config) *Package {
	p := &Package{cfg: cfg, rand: cfg.Rand, now: cfg.Now, logger: cfg.Logger, version: DefaultVersion}
	if p.rand == nil {
		p.rand = rand.Reader
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Version != nil {
		p.version = *cfg.Version
	}
	if p.cfg.NetBIOSComputer == "" {
		p.cfg.NetBIOSComputer = "GOSSP"
	}
	if p.cfg.NetBIOSDomain == "" {
		p.cfg.NetBIOSDomain = "WORKGROUP"
	}
	if p.cfg.DNSComputer == "" {
		p.cfg.DNSComputer = strings.ToLower(p.cfg.NetBIOSComputer)
	}
	// No MsvAvFlags pair: an empty one breaks Windows' MIC checks.
	ti := AVPairs{
		{AvNbDomainName, encodeUTF16LE(p.cfg.NetBIOSDomain)},
		{AvNbComputerName, encodeUTF16LE(p.cfg.NetBIOSComputer)},
	}
	if p.cfg.DNSDomain != "" {
		ti = append(ti, AVPair{AvDNSDomainName, encodeUTF16LE(p.cfg.DNSDomain)})
	}
	ti = append(ti, AVPair{AvDNSComputerName, encodeUTF16LE(p.cfg.DNSComputer)})
	enc := ti.Marshal()
	p.targetInfo = enc[:len(enc)-4] // without MsvAvEOL
	p.targetName = encodeUTF16LE(p.cfg.NetBIOSDomain)
	return p
}

// Info describes NTLM with Windows' values.
func (p *Package) Info() sspi.PackageInfo {
	return sspi.PackageInfo{
		Name:    Name,
		Comment: "NTLM Security Package",
		Capabilities: sspi.CapIntegrity | sspi.CapPrivacy | sspi.CapTokenOnly | sspi.CapConnection |
			sspi.CapMultiRequired | sspi.CapImpersonation | sspi.CapAcceptWin32Name |
			sspi.CapNegotiable | sspi.CapLogon | sspi.CapRestrictedTokens, // 0x82B37, as Windows reports
		Version:  1,
		RPCID:    10, // RPC_C_AUTHN_WINNT
		MaxToken: MaxToken,
		MechOID:  OID,
	}
}

// UserHash is outbound credential material holding an NT hash instead of a password.
type UserHash struct {
	Domain string
	User   string
	NTHash []byte // 16 bytes
}

// Anonymous is outbound credential material for an anonymous (NULL session) logon.
type Anonymous struct{}

// AcquireCredentials returns a credential. Outbound: req.Identity (a password), or
// Material of type UserHash or Anonymous. Inbound: Material implementing UserDB.
// CredentialsBoth needs both an identity and a UserDB.
func (p *Package) AcquireCredentials(_ context.Context, req sspi.CredentialRequest) (sspi.Credential, error) {
	const op = "AcquireCredentials"
	if !req.Use.Outbound() && !req.Use.Inbound() {
		return nil, sspi.WithOp(sspi.Errorf(sspi.ErrInvalidParameter, "credential use %v", req.Use), Name, op)
	}
	c := &credential{pkg: p, guard: credguard.Guard{Use: req.Use, Package: Name}}
	if req.Use.Outbound() {
		switch m := req.Material.(type) {
		case Anonymous, *Anonymous:
			c.anonymous = true
		case UserHash:
			c.setHash(m)
		case *UserHash:
			c.setHash(*m)
		default:
			if req.Identity == nil || req.Identity.User == "" {
				return nil, sspi.WithOp(sspi.Errorf(sspi.ErrNoCredentials, "outbound credentials need an identity, a UserHash or Anonymous"), Name, op)
			}
			c.user, c.domain = splitUser(req.Identity.User, req.Identity.Domain)
			c.ntHash = ntowfV1(req.Identity.Password)
			c.lmHash = lmowfV1(req.Identity.Password)
		}
		if !c.anonymous && len(c.ntHash) != 16 {
			return nil, sspi.WithOp(sspi.Errorf(sspi.ErrUnknownCredentials, "NT hash of %d bytes, want 16", len(c.ntHash)), Name, op)
		}
	}
	if req.Use.Inbound() {
		db, ok := req.Material.(UserDB)
		if !ok {
			return nil, sspi.WithOp(sspi.Errorf(sspi.ErrNoCredentials, "inbound credentials need a UserDB, got %T", req.Material), Name, op)
		}
		c.db = db
	}
	return c, nil
}

// splitUser accepts "DOMAIN\user" and "user@domain" in the user field when no domain
// is given, as Windows' credential UI does.
func splitUser(user, domain string) (string, string) {
	if domain != "" {
		return user, domain
	}
	if d, u, ok := strings.Cut(user, `\`); ok {
		return u, d
	}
	return user, ""
}

type credential struct {
	pkg   *Package
	guard credguard.Guard // use and closed state

	anonymous    bool
	user, domain string
	ntHash       []byte
	lmHash       []byte // only for the NTLMv1 legacy path
	db           UserDB
}

func (c *credential) setHash(h UserHash) {
	c.user, c.domain = splitUser(h.User, h.Domain)
	c.ntHash = append([]byte(nil), h.NTHash...)
}

func (c *credential) Attributes() sspi.CredentialAttributes {
	a := sspi.CredentialAttributes{Package: Name, Use: c.guard.Use}
	if c.user != "" {
		a.Principal = qualified(c.domain, c.user)
	}
	return a
}

func qualified(domain, user string) string {
	if domain == "" {
		return user
	}
	return domain + `\` + user
}

func (c *credential) NewInitiator(cfg sspi.ContextConfig) (sspi.Initiator, error) {
	if err := c.guard.Check(true); err != nil {
		return nil, err
	}
	ini := &Initiator{}
	ini.init(c, cfg, true)
	return ini, nil
}

func (c *credential) NewAcceptor(cfg sspi.ContextConfig) (sspi.Acceptor, error) {
	if err := c.guard.Check(false); err != nil {
		return nil, err
	}
	acc := &Acceptor{}
	acc.init(c, cfg, false)
	return acc, nil
}

func (c *credential) Close() error {
	c.guard.Close()
	return nil
}
