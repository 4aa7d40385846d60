package pki

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// testPKI is a root, an intermediate under it and a second, unrelated root, made once:
// ECDSA keys keep the tests fast.
type testPKI struct {
	root, inter, other *CA
}

var (
	pkiOnce sync.Once
	pkiVal  testPKI
	pkiErr  error
)

func fixture(t testing.TB) testPKI {
	t.Helper()
	pkiOnce.Do(func() {
		var p testPKI
		if p.root, pkiErr = NewCA(CAOptions{CommonName: "gossp test root", KeyType: KeyECDSA}); pkiErr != nil {
			return
		}
		if p.inter, pkiErr = p.root.NewIntermediate(CAOptions{CommonName: "gossp test intermediate", KeyType: KeyECDSA,
			NotAfter: time.Now().AddDate(5, 0, 0)}); pkiErr != nil {
			return
		}
		if p.other, pkiErr = NewCA(CAOptions{CommonName: "someone else's CA", KeyType: KeyECDSA}); pkiErr != nil {
			return
		}
		pkiVal = p
	})
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return pkiVal
}

func issue(t testing.TB, ca *CA, o IssueOptions) *Credential {
	t.Helper()
	if o.KeyType == "" {
		o.KeyType = KeyECDSA
	}
	c, err := ca.Issue(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestVerifyAccepts(t *testing.T) {
	p := fixture(t)
	for _, c := range []struct {
		name     string
		ca       *CA
		opts     IssueOptions
		role     Role
		wantName string
		chainLen int
	}{
		{"user", p.root, IssueOptions{UPN: "alice@example.test", Role: RoleInitiator}, RoleInitiator, "alice@example.test", 2},
		{"device", p.root, IssueOptions{CommonName: "1b9c9d3e-device", DNSNames: []string{"pc1.example.test"}, Role: RoleAcceptor}, RoleAcceptor, "pc1.example.test", 2},
		{"common name only", p.root, IssueOptions{CommonName: "bob"}, RoleInitiator, "bob", 2},
		{"through an intermediate", p.inter, IssueOptions{UPN: "carol@example.test"}, RoleInitiator, "carol@example.test", 3},
		{"id-pkinit-KPClientAuth", p.root, IssueOptions{CommonName: "k", ExtKeyUsage: []asn1.ObjectIdentifier{OIDPKINITClientAuth}}, RoleInitiator, "k", 2},
		{"smart card logon", p.root, IssueOptions{CommonName: "s", ExtKeyUsage: []asn1.ObjectIdentifier{OIDMSSmartcardLogon}}, RoleInitiator, "s", 2},
		{"id-pkinit-KPKdc", p.root, IssueOptions{CommonName: "kdc", ExtKeyUsage: []asn1.ObjectIdentifier{OIDPKINITKDC}}, RoleAcceptor, "kdc", 2},
		{"no key usage extension", p.root, IssueOptions{CommonName: "n", KeyUsage: NoKeyUsage}, RoleInitiator, "n", 2},
		{"both roles", p.root, IssueOptions{CommonName: "b", ExtKeyUsage: []asn1.ObjectIdentifier{oidServerAuth, oidClientAuth}}, RoleAcceptor, "b", 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			cred := issue(t, c.ca, c.opts)
			id, err := Verify(cred.Chain, VerifyOptions{Roots: p.root.Pool(), Role: c.role})
			if err != nil {
				t.Fatal(err)
			}
			if id.Name != c.wantName || id.Leaf != cred.Chain[0] || len(id.Chain) != c.chainLen || id.Chain[len(id.Chain)-1] != p.root.Cert {
				t.Fatalf("identity %+v, chain of %d", id, len(id.Chain))
			}
			if id.Issuer != c.ca.Cert.Subject.String() || id.Subject != cred.Chain[0].Subject.String() {
				t.Fatalf("subject %q issuer %q", id.Subject, id.Issuer)
			}
		})
	}
}

func TestVerifyIntermediateFromPool(t *testing.T) {
	p := fixture(t)
	cred := issue(t, p.inter, IssueOptions{UPN: "dave@example.test"})
	pool := x509.NewCertPool()
	pool.AddCert(p.inter.Cert)
	// The peer sent the leaf alone; the intermediate comes from the options.
	if _, err := Verify(cred.Chain[:1], VerifyOptions{Roots: p.root.Pool(), Role: RoleInitiator}); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("without the intermediate: %v", err)
	}
	if _, err := Verify(cred.Chain[:1], VerifyOptions{Roots: p.root.Pool(), Intermediates: pool, Role: RoleInitiator}); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	p := fixture(t)
	now := time.Now()
	user := issue(t, p.root, IssueOptions{UPN: "alice@example.test"})
	device := issue(t, p.root, IssueOptions{DNSNames: []string{"pc1.example.test"}, Role: RoleAcceptor})
	viaInter := issue(t, p.inter, IssueOptions{UPN: "carol@example.test"})
	// An intermediate allowed for serverAuth only cannot vouch for a client.
	serverOnly, err := p.root.NewIntermediate(CAOptions{CommonName: "servers only", KeyType: KeyECDSA, NotAfter: now.AddDate(2, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	serverOnly.Cert = reissueCA(t, p.root, serverOnly, func(tmpl *x509.Certificate) {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	})
	restricted := issue(t, serverOnly, IssueOptions{UPN: "eve@example.test"})
	// An intermediate whose key usage does not allow certificate signing.
	noCertSign, err := p.root.NewIntermediate(CAOptions{CommonName: "no certSign", KeyType: KeyECDSA, NotAfter: now.AddDate(2, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	noCertSign.Cert = reissueCA(t, p.root, noCertSign, func(tmpl *x509.Certificate) {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	})
	badKU := issue(t, noCertSign, IssueOptions{UPN: "mallory@example.test"})
	// An intermediate that has expired while its leaf has not.
	oldInter, err := p.root.NewIntermediate(CAOptions{CommonName: "expired intermediate", KeyType: KeyECDSA,
		NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	underOld := issue(t, oldInter, IssueOptions{UPN: "frank@example.test", NotBefore: now.Add(-30 * time.Hour), NotAfter: now.Add(-25 * time.Hour)})
	underOld.Chain[0] = reissueLeafValidity(t, oldInter, underOld, now.Add(-time.Hour), now.Add(time.Hour))

	roots := p.root.Pool()
	for _, c := range []struct {
		name    string
		chain   []*x509.Certificate
		opts    VerifyOptions
		want    error
		subject string // the certificate the error must name
		reason  string
	}{
		{"untrusted issuer", user.Chain, VerifyOptions{Roots: p.other.Pool()}, ErrUntrusted, user.Chain[0].Subject.String(), "to a trust anchor"},
		{"no roots", user.Chain, VerifyOptions{}, ErrUntrusted, user.Chain[0].Subject.String(), "no trust anchors"},
		{"expired", user.Chain, VerifyOptions{Roots: roots, CurrentTime: now.AddDate(2, 0, 0)}, ErrExpired, user.Chain[0].Subject.String(), "valid until"},
		{"not yet valid", user.Chain, VerifyOptions{Roots: roots, CurrentTime: now.Add(-time.Hour)}, ErrNotYetValid, user.Chain[0].Subject.String(), "valid from"},
		{"intermediate expired", underOld.Chain, VerifyOptions{Roots: roots, CurrentTime: now.Add(-30 * time.Minute)}, ErrExpired, oldInter.Cert.Subject.String(), "valid until"},
		{"device as initiator", device.Chain, VerifyOptions{Roots: roots, Role: RoleInitiator}, ErrWrongUsage, device.Chain[0].Subject.String(), "serverAuth does not allow the initiator role"},
		{"user as acceptor", user.Chain, VerifyOptions{Roots: roots, Role: RoleAcceptor}, ErrWrongUsage, user.Chain[0].Subject.String(), "clientAuth does not allow the acceptor role"},
		{"no EKU", issue(t, p.root, IssueOptions{CommonName: "noeku", ExtKeyUsage: []asn1.ObjectIdentifier{}}).Chain,
			VerifyOptions{Roots: roots}, ErrWrongUsage, "CN=noeku", "no extended key usage"},
		{"anyExtendedKeyUsage only", issue(t, p.root, IssueOptions{CommonName: "any", ExtKeyUsage: []asn1.ObjectIdentifier{oidAnyExtendedKeyUsage}}).Chain,
			VerifyOptions{Roots: roots}, ErrWrongUsage, "CN=any", "anyExtendedKeyUsage does not allow"},
		{"no digitalSignature", issue(t, p.root, IssueOptions{CommonName: "encipher", KeyUsage: x509.KeyUsageKeyEncipherment}).Chain,
			VerifyOptions{Roots: roots}, ErrWrongUsage, "CN=encipher", "lacks digitalSignature"},
		{"CA EKU excludes the role", restricted.Chain, VerifyOptions{Roots: roots}, ErrWrongUsage, "CN=servers only", "CA extended key usage serverAuth"},
		{"CA without keyCertSign", badKU.Chain, VerifyOptions{Roots: roots}, ErrUntrusted, "CN=mallory@example.test", "cannot sign"},
		{"intermediate missing", viaInter.Chain[:1], VerifyOptions{Roots: roots}, ErrUntrusted, viaInter.Chain[0].Subject.String(), "to a trust anchor"},
		{"unrelated certificate in the chain", []*x509.Certificate{user.Chain[0], device.Chain[0]}, VerifyOptions{Roots: p.other.Pool()}, ErrUntrusted, user.Chain[0].Subject.String(), ""},
		{"unknown role", user.Chain, VerifyOptions{Roots: roots, Role: Role(2)}, ErrWrongUsage, user.Chain[0].Subject.String(), "unknown role Role(2)"},
		{"empty chain", nil, VerifyOptions{Roots: roots}, ErrMalformed, "", "no certificate"},
		{"nil in chain", []*x509.Certificate{user.Chain[0], nil}, VerifyOptions{Roots: roots}, ErrMalformed, user.Chain[0].Subject.String(), "nil certificate"},
	} {
		t.Run(c.name, func(t *testing.T) {
			id, err := Verify(c.chain, c.opts)
			if !errors.Is(err, c.want) || id != nil {
				t.Fatalf("got %v (identity %v), want %v", err, id, c.want)
			}
			for _, other := range []error{ErrUntrusted, ErrExpired, ErrNotYetValid, ErrWrongUsage, ErrMalformed} {
				if other != c.want && errors.Is(err, other) {
					t.Errorf("%v also matches %v", err, other)
				}
			}
			var ce *CertificateError
			if !errors.As(err, &ce) || ce.Subject != c.subject {
				t.Errorf("error names %q, want %q: %v", ce.Subject, c.subject, err)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.reason) || (c.subject != "" && !strings.Contains(msg, c.subject)) {
				t.Errorf("message %q lacks %q or the subject", msg, c.reason)
			}
			for _, cert := range c.chain {
				if cert != nil && strings.Contains(msg, base64.StdEncoding.EncodeToString(cert.Raw)[:16]) {
					t.Errorf("message dumps certificate bytes: %q", msg)
				}
			}
		})
	}
}

// reissueCA replaces sub's certificate by one from the same key with tweak applied.
func reissueCA(t *testing.T, parent, sub *CA, tweak func(*x509.Certificate)) *x509.Certificate {
	t.Helper()
	tmpl := *sub.Cert
	tmpl.Raw, tmpl.RawTBSCertificate, tmpl.Extensions = nil, nil, nil
	tweak(&tmpl)
	return sign(t, &tmpl, parent, sub.Key.Public())
}

func reissueLeafValidity(t *testing.T, ca *CA, c *Credential, from, until time.Time) *x509.Certificate {
	t.Helper()
	tmpl := *c.Chain[0]
	tmpl.Raw, tmpl.RawTBSCertificate = nil, nil
	tmpl.ExtraExtensions, tmpl.Extensions = tmpl.Extensions, nil
	tmpl.NotBefore, tmpl.NotAfter = from, until
	return sign(t, &tmpl, ca, c.Key.Public())
}

func sign(t *testing.T, tmpl *x509.Certificate, parent *CA, pub any) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent.Cert, pub, parent.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRoleString(t *testing.T) {
	if RoleInitiator.String() != "initiator" || RoleAcceptor.String() != "acceptor" || Role(7).String() != "Role(7)" {
		t.Fatal(RoleInitiator, RoleAcceptor, Role(7))
	}
}

func BenchmarkVerify(b *testing.B) {
	p := fixture(b)
	for _, c := range []struct {
		name string
		ca   *CA
		key  string
	}{{"ecdsa/root", p.root, KeyECDSA}, {"ecdsa/intermediate", p.inter, KeyECDSA}, {"rsa/root", p.root, KeyRSA}} {
		cred := issue(b, c.ca, IssueOptions{UPN: "alice@example.test", KeyType: c.key})
		opts := VerifyOptions{Roots: p.root.Pool(), Role: RoleInitiator}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Verify(cred.Chain, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
