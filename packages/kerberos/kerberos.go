// Package kerberos implements the Kerberos v5 security package (RFC 4120, with the
// GSS-API mechanism of RFC 4121): service tickets from a KDC for the initiator, the
// AP-REQ with the RFC 4121 authenticator checksum (channel bindings and flags), mutual
// authentication with AP-REP, an acceptor that checks tickets with a keytab, keeps a
// replay cache and enforces a clock-skew policy, and RFC 4121 MIC and wrap tokens.
//
// The Kerberos data types, keytabs, credential caches, krb5.conf and the KDC exchanges
// come from github.com/jcmturner/gokrb5/v8; this package adds the GSS layer on top, with
// its own DER coding of the AP exchange's messages and, through internal/rfc4121, its own
// AES cryptosystems with usage keys derived once per key (see docs/packages/kerberos.md).
//
// Credentials. Outbound (initiator):
//   - req.Identity: a password; the user is "user@REALM", or "user" with the realm in
//     Domain (default_realm of krb5.conf if both are empty);
//   - Material Keytab: a client keytab, for Keytab.Principal (or req.Principal);
//   - Material CCache: an existing credential cache (kinit's); CCache{} reads KRB5CCNAME;
//   - Material TicketSource (or a *client.Client of gokrb5): any other ticket source;
//   - nothing: the credential cache KRB5CCNAME names, if there is one.
//
// Inbound (acceptor): Material Keytab (its Path or its loaded Keytab), or nothing: the
// keytab KRB5_KTNAME names (default /etc/krb5.keytab). krb5.conf is read from
// Config.Krb5Conf, else KRB5_CONFIG, else /etc/krb5.conf.
package kerberos

import (
	"context"
	"crypto/rand"
	"encoding/asn1"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gossp/gossp/internal/credguard"
	"github.com/gossp/gossp/internal/replay"
	"github.com/gossp/gossp/sspi"
)

// Name is the package name, as Windows names it.
const Name = "Kerberos"

// OID is the Kerberos v5 GSS-API mechanism OID, 1.2.840.113554.1.2.2.
var OID = asn1.ObjectIdentifier{1, 2, 840, 113554, 1, 2, 2}

// oidMS is the mis-encoded OID Windows offers Kerberos under; acceptors take it too.
var oidMS = asn1.ObjectIdentifier{1, 2, 840, 48018, 1, 2, 2}

// MaxToken is Windows' cbMaxToken for Kerberos.
const MaxToken = 48000

// DefaultClockSkew is the default clock-skew allowance, as in krb5.conf's clockskew.
const DefaultClockSkew = 5 * time.Minute

// Config configures the package. The zero value is a secure default.
type Config struct {
	// Rand supplies subkeys, sequence numbers and confounders' companions; nil means
	// crypto/rand.
	Rand io.Reader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives debug events (never keys, passwords or tokens); nil discards.
	Logger *slog.Logger
	// Krb5Conf is the krb5.conf to use; nil loads KRB5_CONFIG or /etc/krb5.conf.
	Krb5Conf *config.Config
	// ClockSkew is how far an authenticator's time may be from ours; zero means
	// DefaultClockSkew.
	ClockSkew time.Duration
	// ReplayCacheSize bounds the acceptor's replay cache per credential; zero means
	// 100000 entries. Entries expire after twice the clock skew.
	ReplayCacheSize int
	// DisableReplayCache turns the acceptor's replay cache off (replayed AP-REQs are
	// then accepted within the clock skew). Only for benchmarks and special setups.
	DisableReplayCache bool
}

// Package is the Kerberos security package. Make it with New.
type Package struct {
	cfg    Config
	rand   io.Reader
	now    func() time.Time
	logger *slog.Logger
	skew   time.Duration
}

// New returns the Kerberos package.
func New(cfg Config) *Package {
	p := &Package{cfg: cfg, rand: cfg.Rand, now: cfg.Now, logger: cfg.Logger, skew: cfg.ClockSkew}
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
	if p.cfg.ReplayCacheSize <= 0 {
		p.cfg.ReplayCacheSize = 100000
	}
	return p
}

// Capabilities are Windows' fCapabilities for Kerberos, 0x0042B3BF:
// INTEGRITY|PRIVACY|TOKEN_ONLY|DATAGRAM|CONNECTION|MULTI_REQUIRED|EXTENDED_ERROR|
// IMPERSONATION|ACCEPT_WIN32_NAME|NEGOTIABLE|GSS_COMPATIBLE|LOGON|MUTUAL_AUTH|
// DELEGATION|READONLY_WITH_CHECKSUM|NEGOTIABLE2... as sspi.Capabilities.String names them.
const Capabilities = sspi.Capabilities(0x0042B3BF)

// Info describes Kerberos with Windows' values.
func (p *Package) Info() sspi.PackageInfo {
	return sspi.PackageInfo{
		Name:         Name,
		Comment:      "Microsoft Kerberos V1.0",
		Capabilities: Capabilities,
		Version:      1,
		RPCID:        16, // RPC_C_AUTHN_GSS_KERBEROS
		MaxToken:     MaxToken,
		MechOID:      OID,
	}
}

// Keytab is credential material holding a keytab: the acceptor's service keys, or an
// initiator's client keys (then Principal names the client, "user@REALM").
type Keytab struct {
	Path      string         // a keytab file ("FILE:" prefix allowed); used if Keytab is nil
	Keytab    *keytab.Keytab // an already loaded keytab
	Principal string         // initiator only: the client principal
}

// CCache is initiator material naming a credential cache (as kinit writes it). An empty
// Path means KRB5CCNAME.
type CCache struct {
	Path string
}

// TicketSource is initiator material that obtains service tickets by other means (a
// custom KDC client, tickets minted in a test). A *client.Client of gokrb5 is adapted
// to it automatically.
type TicketSource interface {
	// Client returns the client principal and its realm.
	Client() (types.PrincipalName, string)
	// ServiceTicket returns a ticket and its session key for spn ("HTTP/host").
	ServiceTicket(ctx context.Context, spn string) (messages.Ticket, types.EncryptionKey, error)
}

func (p *Package) krb5conf() *config.Config {
	if p.cfg.Krb5Conf != nil {
		return p.cfg.Krb5Conf
	}
	paths := []string{"/etc/krb5.conf"}
	if v := os.Getenv("KRB5_CONFIG"); v != "" {
		paths = strings.Split(v, ":")
	}
	for _, path := range paths {
		if c, err := config.Load(path); err == nil {
			return c
		}
	}
	return config.New()
}

func filePath(s string) string {
	s = strings.TrimPrefix(s, "FILE:")
	return s
}

// AcquireCredentials returns a credential; see the package documentation for the
// material each use takes.
func (p *Package) AcquireCredentials(_ context.Context, req sspi.CredentialRequest) (sspi.Credential, error) {
	const op = "AcquireCredentials"
	if !req.Use.Outbound() && !req.Use.Inbound() {
		return nil, sspi.WithOp(sspi.Errorf(sspi.ErrInvalidParameter, "credential use %v", req.Use), Name, op)
	}
	c := &credential{pkg: p, guard: credguard.Guard{Use: req.Use, Package: Name}}
	if req.Use.Outbound() {
		src, err := p.outbound(req)
		if err != nil {
			return nil, sspi.WithOp(err, Name, op)
		}
		c.src = src
		cn, realm := src.Client()
		c.principal = cn.PrincipalNameString() + "@" + realm
	}
	if req.Use.Inbound() {
		kt, err := p.inbound(req)
		if err != nil {
			return nil, sspi.WithOp(err, Name, op)
		}
		c.kt = kt
		if !p.cfg.DisableReplayCache {
			c.rc = replay.New(p.cfg.ReplayCacheSize, 2*p.skew)
		}
	}
	return c, nil
}

func (p *Package) outbound(req sspi.CredentialRequest) (TicketSource, error) {
	switch m := req.Material.(type) {
	case TicketSource:
		return m, nil
	case *client.Client:
		s := newClientSource(m, p)
		s.owned = false
		return s, nil
	case CCache, *CCache:
		var path string
		if cc, ok := m.(CCache); ok {
			path = cc.Path
		} else if m.(*CCache) != nil {
			path = m.(*CCache).Path
		}
		return p.fromCCache(path)
	case Keytab, *Keytab:
		k, _ := m.(Keytab)
		if pk, ok := m.(*Keytab); ok && pk != nil {
			k = *pk
		}
		kt, err := loadKeytab(k)
		if err != nil {
			return nil, err
		}
		princ := k.Principal
		if princ == "" {
			princ = req.Principal
		}
		user, realm := p.splitPrincipal(princ, "")
		if user == "" || realm == "" {
			return nil, sspi.Errorf(sspi.ErrNoCredentials, "a client keytab needs a principal user@REALM")
		}
		return newClientSource(client.NewWithKeytab(user, realm, kt, p.krb5conf(), client.DisablePAFXFAST(true)), p), nil
	case nil:
	default:
		if !req.Use.Inbound() {
			return nil, sspi.Errorf(sspi.ErrUnknownCredentials, "unsupported outbound material %T", req.Material)
		}
	}
	if req.Identity != nil && req.Identity.User != "" {
		user, realm := p.splitPrincipal(req.Identity.User, req.Identity.Domain)
		if realm == "" {
			return nil, sspi.Errorf(sspi.ErrNoCredentials, "no realm for %q and no default_realm", req.Identity.User)
		}
		return newClientSource(client.NewWithPassword(user, realm, req.Identity.Password, p.krb5conf(), client.DisablePAFXFAST(true)), p), nil
	}
	if os.Getenv("KRB5CCNAME") != "" {
		return p.fromCCache("")
	}
	return nil, sspi.Errorf(sspi.ErrNoCredentials, "outbound credentials need an identity, a Keytab, a CCache or a TicketSource")
}

func (p *Package) fromCCache(path string) (TicketSource, error) {
	if path == "" {
		path = os.Getenv("KRB5CCNAME")
	}
	if path == "" {
		return nil, sspi.Errorf(sspi.ErrNoCredentials, "no credential cache: KRB5CCNAME is not set")
	}
	if strings.Contains(path, ":") && !strings.HasPrefix(path, "FILE:") {
		return nil, sspi.Errorf(sspi.ErrNoCredentials, "credential cache %q: only FILE caches are supported", path)
	}
	cc, err := credentials.LoadCCache(filePath(path))
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrNoCredentials, "credential cache: %v", err)
	}
	cl, err := client.NewFromCCache(cc, p.krb5conf(), client.DisablePAFXFAST(true))
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrNoCredentials, "credential cache: %v", err)
	}
	s := newClientSource(cl, p)
	s.loggedIn = true
	return s, nil
}

func (p *Package) inbound(req sspi.CredentialRequest) (*keytab.Keytab, error) {
	switch m := req.Material.(type) {
	case Keytab:
		return loadKeytab(m)
	case *Keytab:
		if m != nil {
			return loadKeytab(*m)
		}
	case *keytab.Keytab:
		return m, nil
	}
	path := os.Getenv("KRB5_KTNAME")
	if path == "" {
		path = "/etc/krb5.keytab"
	}
	kt, err := keytab.Load(filePath(path))
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrNoCredentials, "inbound credentials need a keytab: %v", err)
	}
	return kt, nil
}

func loadKeytab(k Keytab) (*keytab.Keytab, error) {
	if k.Keytab != nil {
		return k.Keytab, nil
	}
	if k.Path == "" {
		return nil, sspi.Errorf(sspi.ErrNoCredentials, "Keytab material has neither Keytab nor Path")
	}
	kt, err := keytab.Load(filePath(k.Path))
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrNoCredentials, "keytab: %v", err)
	}
	return kt, nil
}

// splitPrincipal takes "user@REALM", or user plus a realm in domain, or the
// default_realm.
func (p *Package) splitPrincipal(user, domain string) (string, string) {
	if i := strings.LastIndex(user, "@"); i >= 0 {
		return user[:i], user[i+1:]
	}
	if d, u, ok := strings.Cut(user, `\`); ok {
		user, domain = u, d
	}
	if domain == "" {
		domain = p.krb5conf().LibDefaults.DefaultRealm
	}
	return user, strings.ToUpper(domain)
}

type credential struct {
	pkg       *Package
	guard     credguard.Guard // use and closed state
	src       TicketSource
	principal string
	tickets   ticketDER // initiator: encoded service tickets and their session keys
	kt        *keytab.Keytab
	svcKeys   serviceKeys // acceptor: the keytab keys in use
	rc        *replay.Cache
}

func (c *credential) Attributes() sspi.CredentialAttributes {
	return sspi.CredentialAttributes{Package: Name, Use: c.guard.Use, Principal: c.principal}
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
	if c.guard.Close() {
		if cs, ok := c.src.(*clientSource); ok {
			cs.destroy()
		}
		c.tickets.close()
		c.svcKeys.close()
	}
	return nil
}
