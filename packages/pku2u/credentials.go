package pku2u

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/gossp/gossp/internal/credguard"
	"github.com/gossp/gossp/internal/pki"
	"github.com/gossp/gossp/internal/replay"
	"github.com/gossp/gossp/sspi"
)

// Certificate is a certificate chain (leaf first, then intermediates) and the leaf's
// private key, RSA or ECDSA.
type Certificate struct {
	Chain []*x509.Certificate
	Key   crypto.Signer
}

// Credentials is PKU2U's credential material.
type Credentials struct {
	// Certificates are this side's certificates. With several, the first whose chain
	// ends at an issuer the peer says it trusts (NegoEx meta-data) is used; the first
	// otherwise.
	Certificates []Certificate
	// Trust are the anchors the peer's certificate must chain to.
	Trust []*x509.Certificate
	// Intermediates help build the peer's chain beside those the peer sends.
	Intermediates []*x509.Certificate
}

// Files names PEM files: the form of Credentials that plugin manifests and the gossp
// command take. Certificate holds the leaf, then its intermediates.
type Files struct {
	Certificate string   `json:"certificate"`
	Key         string   `json:"key"`
	Trust       []string `json:"trust"`
}

// Load reads the files.
func (f Files) Load() (Credentials, error) {
	var c Credentials
	if f.Certificate != "" || f.Key != "" {
		cred, err := pki.LoadCredential(f.Certificate, f.Key)
		if err != nil {
			return c, sspi.Errorf(sspi.ErrUnknownCredentials, "pku2u: %w", err)
		}
		c.Certificates = []Certificate{{Chain: cred.Chain, Key: cred.Key}}
	}
	if len(f.Trust) > 0 {
		_, certs, err := pki.LoadPool(f.Trust...)
		if err != nil {
			return c, sspi.Errorf(sspi.ErrUnknownCredentials, "pku2u: trust anchors: %w", err)
		}
		c.Trust = certs
	}
	return c, nil
}

func credentialsOf(m any) (Credentials, error) {
	switch v := m.(type) {
	case Credentials:
		return v, nil
	case *Credentials:
		if v != nil {
			return *v, nil
		}
	case Files:
		return v.Load()
	case *Files:
		if v != nil {
			return v.Load()
		}
	}
	return Credentials{}, sspi.Errorf(sspi.ErrUnknownCredentials, "pku2u: material %T is neither pku2u.Credentials nor pku2u.Files", m)
}

type credential struct {
	pkg   *Package
	guard credguard.Guard
	certs []Certificate
	trust []*x509.Certificate
	roots *x509.CertPool
	inter *x509.CertPool
	rc    *replay.Cache // acceptor: PKAuthenticators and authenticators seen
	// tkey encrypts the tickets this acceptor issues: a fresh key per credential, so a
	// ticket from any other acceptor (or an earlier process) is refused.
	tkey []byte
}

func newCredential(p *Package, use sspi.CredentialUse, c Credentials) (*credential, error) {
	if len(c.Certificates) == 0 {
		return nil, sspi.Errorf(sspi.ErrNoCredentials, "pku2u: no certificate")
	}
	if len(c.Trust) == 0 {
		return nil, sspi.Errorf(sspi.ErrNoCredentials, "pku2u: no trust anchors for the peer's certificate")
	}
	cr := &credential{pkg: p, guard: credguard.Guard{Use: use, Package: Name}, trust: c.Trust}
	for i, cert := range c.Certificates {
		if err := checkCertificate(cert); err != nil {
			return nil, fmt.Errorf("certificate %d: %w", i, err)
		}
		cr.certs = append(cr.certs, Certificate{Chain: append([]*x509.Certificate(nil), cert.Chain...), Key: cert.Key})
	}
	cr.roots = x509.NewCertPool()
	for _, t := range c.Trust {
		cr.roots.AddCert(t)
	}
	cr.inter = x509.NewCertPool()
	for _, t := range c.Intermediates {
		cr.inter.AddCert(t)
	}
	if use.Inbound() {
		cr.rc = replay.New(p.cfg.ReplayCacheSize, 2*p.skew)
		cr.tkey = make([]byte, 32)
		if _, err := p.rand.Read(cr.tkey); err != nil {
			return nil, sspi.Errorf(sspi.ErrInternal, "pku2u: random: %v", err)
		}
	}
	return cr, nil
}

// checkCertificate checks what can be checked without the peer: a leaf, a key that
// signs with it, and validity now.
func checkCertificate(c Certificate) error {
	if len(c.Chain) == 0 || c.Chain[0] == nil || c.Key == nil {
		return sspi.Errorf(sspi.ErrNoCredentials, "pku2u: a certificate needs a chain and a key")
	}
	var match bool
	switch k := c.Chain[0].PublicKey.(type) {
	case *rsa.PublicKey:
		match = k.Equal(c.Key.Public())
	case *ecdsa.PublicKey:
		match = k.Equal(c.Key.Public())
	default:
		return sspi.Errorf(sspi.ErrUnknownCredentials, "pku2u: %s: unsupported key type %T", c.Chain[0].Subject, k)
	}
	if !match {
		return sspi.Errorf(sspi.ErrUnknownCredentials, "pku2u: %s: the private key does not match the certificate", c.Chain[0].Subject)
	}
	return nil
}

// pick selects our certificate for a peer that trusts the given issuers (DER names);
// nil issuers pick the first.
func (c *credential) pick(issuers [][]byte) Certificate {
	if len(issuers) > 0 {
		for _, cert := range c.certs {
			for _, ca := range cert.Chain {
				for _, is := range issuers {
					if string(ca.RawIssuer) == string(is) {
						return cert
					}
				}
			}
		}
	}
	return c.certs[0]
}

// issuers are the subjects of our trust anchors, for the peer's certificate choice.
func (c *credential) issuers() [][]byte {
	out := make([][]byte, 0, len(c.trust))
	for _, t := range c.trust {
		out = append(out, t.RawSubject)
	}
	return out
}

// verifyPeer validates the peer's chain (leaf first, plus whatever else it sent) for
// the role the peer plays, at now.
func (c *credential) verifyPeer(certs []*x509.Certificate, leaf *x509.Certificate, peerIsInitiator bool, now time.Time) (*pki.Identity, error) {
	role := pki.RoleAcceptor
	if peerIsInitiator {
		role = pki.RoleInitiator
	}
	chain := []*x509.Certificate{leaf}
	for _, x := range certs {
		if x != leaf {
			chain = append(chain, x)
		}
	}
	id, err := pki.Verify(chain, pki.VerifyOptions{Roots: c.roots, Intermediates: c.inter, CurrentTime: now, Role: role})
	if err != nil {
		return nil, sspi.Errorf(certStatus(err), "pku2u: the peer's certificate: %w", err)
	}
	return id, nil
}

func certStatus(err error) sspi.Status {
	switch {
	case errors.Is(err, pki.ErrUntrusted):
		return sspi.ErrUntrustedRoot
	case errors.Is(err, pki.ErrExpired), errors.Is(err, pki.ErrNotYetValid):
		return sspi.ErrCertExpired
	case errors.Is(err, pki.ErrWrongUsage):
		return sspi.ErrCertWrongUsage
	}
	return sspi.ErrPKU2UCertFailure
}

func (c *credential) Attributes() sspi.CredentialAttributes {
	return sspi.CredentialAttributes{Package: Name, Use: c.guard.Use, Principal: leafName(c.certs[0].Chain[0])}
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
		clear(c.tkey)
	}
	return nil
}

// leafName names our own certificate the way Identity names a peer's.
func leafName(leaf *x509.Certificate) string {
	id, err := pki.IdentityOf(leaf)
	if err != nil {
		return leaf.Subject.CommonName
	}
	return id.Name
}
