package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func chainPEM(chain []*x509.Certificate) []byte {
	var b []byte
	for _, c := range chain {
		b = append(b, pemBlock("CERTIFICATE", c.Raw)...)
	}
	return b
}

// checkNoKey fails when msg holds any run of the key's encodings.
func checkNoKey(t *testing.T, msg string, keyDER []byte) {
	t.Helper()
	b64 := base64.StdEncoding.EncodeToString(keyDER)
	for i := 0; i+12 <= len(b64); i += 12 {
		if strings.Contains(msg, b64[i:i+12]) {
			t.Fatalf("error %q holds key material", msg)
		}
	}
}

func TestParseCredentialKeyFormats(t *testing.T) {
	p := fixture(t)
	ec := issue(t, p.inter, IssueOptions{UPN: "alice@example.test"})
	ecKey := ec.Key.(*ecdsa.PrivateKey)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaCred := issue(t, p.root, IssueOptions{CommonName: "rsa", KeyType: KeyRSA})
	pkcs1 := x509.MarshalPKCS1PrivateKey(rsaCred.Key.(*rsa.PrivateKey))
	p384 := issue(t, p.root, IssueOptions{CommonName: "p384", KeyType: KeyECDSAP384})
	p384DER, _ := x509.MarshalPKCS8PrivateKey(p384.Key)

	for _, c := range []struct {
		name      string
		cert, key []byte
		chainLen  int
	}{
		{"PKCS #8 ECDSA, chain", chainPEM(ec.Chain), pemBlock("PRIVATE KEY", pkcs8), 2},
		{"SEC 1 after EC PARAMETERS", chainPEM(ec.Chain), append(pemBlock("EC PARAMETERS", []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}), pemBlock("EC PRIVATE KEY", sec1)...), 2},
		{"PKCS #1 RSA", chainPEM(rsaCred.Chain), pemBlock("RSA PRIVATE KEY", pkcs1), 1},
		{"P-384", chainPEM(p384.Chain), pemBlock("PRIVATE KEY", p384DER), 1},
		{"one file", append(chainPEM(ec.Chain), pemBlock("PRIVATE KEY", pkcs8)...), nil, 2},
	} {
		key := c.key
		if key == nil {
			key = c.cert
		}
		cred, err := ParseCredential(c.cert, key)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(cred.Chain) != c.chainLen || cred.Key == nil {
			t.Fatalf("%s: chain of %d", c.name, len(cred.Chain))
		}
	}
}

func TestParseCredentialRefuses(t *testing.T) {
	p := fixture(t)
	a := issue(t, p.inter, IssueOptions{UPN: "alice@example.test"})
	b := issue(t, p.root, IssueOptions{UPN: "bob@example.test"})
	aKey, _ := x509.MarshalPKCS8PrivateKey(a.Key)
	bKey, _ := x509.MarshalPKCS8PrivateKey(b.Key)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallDER, _ := x509.MarshalPKCS8PrivateKey(small)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	p224DER, _ := x509.MarshalPKCS8PrivateKey(p224)
	garbled := slices.Clone(aKey)
	garbled[len(garbled)/2] ^= 0xff
	garbled = garbled[:len(garbled)-3]

	for _, c := range []struct {
		name      string
		cert, key []byte
		want      error
		msg       string
	}{
		{"key of another certificate", chainPEM(a.Chain), pemBlock("PRIVATE KEY", bKey), ErrKeyMismatch, `does not match the certificate "CN=alice@example.test"`},
		{"chain out of order", chainPEM([]*x509.Certificate{a.Chain[1], a.Chain[0]}), pemBlock("PRIVATE KEY", aKey), ErrMalformed, "leaf first"},
		{"no certificate", pemBlock("PRIVATE KEY", aKey), pemBlock("PRIVATE KEY", aKey), ErrMalformed, "no CERTIFICATE"},
		{"no key", chainPEM(a.Chain), chainPEM(a.Chain), ErrMalformed, "no PRIVATE KEY"},
		{"garbled key", chainPEM(a.Chain), pemBlock("PRIVATE KEY", garbled), ErrMalformed, "PRIVATE KEY block does not parse"},
		{"garbled SEC 1", chainPEM(a.Chain), pemBlock("EC PRIVATE KEY", garbled), ErrMalformed, "EC PRIVATE KEY block does not parse"},
		{"encrypted PKCS #8", chainPEM(a.Chain), pemBlock("ENCRYPTED PRIVATE KEY", aKey), ErrMalformed, "encrypted"},
		{"encrypted legacy PEM", chainPEM(a.Chain), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY",
			Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00"}, Bytes: aKey}), ErrMalformed, "encrypted"},
		{"RSA 1024", chainPEM(a.Chain), pemBlock("PRIVATE KEY", smallDER), ErrMalformed, "RSA key of 1024 bits"},
		{"P-224", chainPEM(a.Chain), pemBlock("PRIVATE KEY", p224DER), ErrMalformed, "P-224"},
		{"garbled certificate", pemBlock("CERTIFICATE", a.Chain[0].Raw[:100]), pemBlock("PRIVATE KEY", aKey), ErrMalformed, "PEM block 1"},
	} {
		_, err := ParseCredential(c.cert, c.key)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want %v with %q", c.name, err, c.want, c.msg)
			continue
		}
		for _, k := range [][]byte{aKey, bKey, smallDER, p224DER, garbled} {
			checkNoKey(t, err.Error(), k)
		}
	}
}

func TestLoadCredentialFiles(t *testing.T) {
	p := fixture(t)
	dir := t.TempDir()
	cred := issue(t, p.inter, IssueOptions{UPN: "alice@example.test"})
	certFile, keyFile, err := cred.WriteFiles(dir, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if certFile != filepath.Join(dir, "alice.pem") || keyFile != filepath.Join(dir, "alice.key") {
		t.Fatal(certFile, keyFile)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", fi.Mode(), err)
	}
	got, err := LoadCredential(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Chain) != 2 || !got.Chain[1].Equal(p.inter.Cert) || !got.Key.Public().(*ecdsa.PublicKey).Equal(cred.Key.Public()) {
		t.Fatalf("loaded %+v", got)
	}
	if _, _, err := cred.WriteFiles(dir, "alice"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("overwrite: %v", err)
	}
	for _, bad := range []string{"", "a/b", "..", "."} {
		if _, _, err := cred.WriteFiles(dir, bad); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	// A key that is not the leaf's, from files.
	other := issue(t, p.root, IssueOptions{CommonName: "other"})
	_, otherKey, err := other.WriteFiles(dir, "other")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCredential(certFile, otherKey); !errors.Is(err, ErrKeyMismatch) || !strings.Contains(err.Error(), otherKey) {
		t.Fatalf("mismatch: %v", err)
	}
	if _, err := LoadCredential(filepath.Join(dir, "nonesuch.pem"), keyFile); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := LoadCredential(certFile, filepath.Join(dir, "nonesuch.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing key: %v", err)
	}
}

func TestLoadPool(t *testing.T) {
	p := fixture(t)
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle.pem")
	os.WriteFile(bundle, chainPEM([]*x509.Certificate{p.root.Cert, p.other.Cert}), 0o644)
	single := filepath.Join(dir, "single.pem")
	os.WriteFile(single, chainPEM([]*x509.Certificate{p.inter.Cert}), 0o644)
	pool, certs, err := LoadPool(bundle, single)
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 3 || !certs[2].Equal(p.inter.Cert) {
		t.Fatalf("%d certificates", len(certs))
	}
	cred := issue(t, p.other, IssueOptions{CommonName: "x"})
	if _, err := Verify(cred.Chain, VerifyOptions{Roots: pool}); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.pem")
	os.WriteFile(empty, []byte("not PEM\n"), 0o644)
	if _, _, err := LoadPool(bundle, empty); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), empty) {
		t.Fatalf("empty file: %v", err)
	}
	if _, _, err := LoadPool(filepath.Join(dir, "nonesuch")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestCAFiles(t *testing.T) {
	p := fixture(t)
	dir := filepath.Join(t.TempDir(), "ca")
	certFile, keyFile, err := p.inter.WriteFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode %v, %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("CA directory mode %v, %v", fi.Mode(), err)
	}
	if filepath.Base(certFile) != CACertFile {
		t.Fatal(certFile)
	}
	ca, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Cert.Equal(p.inter.Cert) || len(ca.Chain) != 1 || !ca.Root().Equal(p.root.Cert) {
		t.Fatalf("loaded CA %v, chain %d", ca.Cert.Subject, len(ca.Chain))
	}
	cred := issue(t, ca, IssueOptions{UPN: "alice@example.test"})
	if len(cred.Chain) != 2 {
		t.Fatalf("chain of %d", len(cred.Chain))
	}
	if _, err := Verify(cred.Chain, VerifyOptions{Roots: p.root.Pool()}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.inter.WriteFiles(dir); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("overwrite: %v", err)
	}
	// A leaf is not a CA.
	leafDir := t.TempDir()
	os.WriteFile(filepath.Join(leafDir, CACertFile), chainPEM(cred.Chain), 0o644)
	k, _ := x509.MarshalPKCS8PrivateKey(cred.Key)
	os.WriteFile(filepath.Join(leafDir, CAKeyFile), pemBlock("PRIVATE KEY", k), 0o600)
	if _, err := LoadCA(leafDir); err == nil || !strings.Contains(err.Error(), "not a CA certificate") {
		t.Fatalf("leaf as CA: %v", err)
	}
	if _, err := LoadCA(t.TempDir()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("empty directory: %v", err)
	}
}

func TestIssueShapes(t *testing.T) {
	p := fixture(t)
	// An RSA user certificate is shaped like Windows': KU 0x05A0 critical, clientAuth,
	// the UPN in the SAN, CN = the UPN.
	rsaCA, err := NewCA(CAOptions{CommonName: "rsa root", KeyType: KeyRSA})
	if err != nil {
		t.Fatal(err)
	}
	user := issue(t, rsaCA, IssueOptions{UPN: "alice@example.test", KeyType: KeyRSA})
	leaf := user.Chain[0]
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment ||
		!slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) ||
		leaf.Subject.CommonName != "alice@example.test" || leaf.IsCA || leaf.PublicKeyAlgorithm != x509.RSA ||
		leaf.SignatureAlgorithm != x509.SHA256WithRSA {
		t.Fatalf("user certificate: KU %#x EKU %v CN %q", leaf.KeyUsage, leaf.ExtKeyUsage, leaf.Subject.CommonName)
	}
	for _, e := range leaf.Extensions {
		if e.Id.Equal(oidExtKeyUsage) && !e.Critical {
			t.Error("key usage is not critical")
		}
	}
	if k := user.Key.(*rsa.PrivateKey); k.N.BitLen() != MinRSABits {
		t.Fatalf("RSA %d bits", k.N.BitLen())
	}
	device := issue(t, p.root, IssueOptions{CommonName: "cc3d96b4-0a0d-4a5d-8bfb-8d6ea8d955d2", DNSNames: []string{"pc1", "pc1.example.test"}, Role: RoleAcceptor})
	leaf = device.Chain[0]
	if !slices.Equal(leaf.DNSNames, []string{"pc1", "pc1.example.test"}) || leaf.KeyUsage != x509.KeyUsageDigitalSignature ||
		!slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Fatalf("device certificate: DNS %v KU %#x EKU %v", leaf.DNSNames, leaf.KeyUsage, leaf.ExtKeyUsage)
	}
	now := time.Now()
	for _, c := range []struct {
		name string
		o    IssueOptions
	}{
		{"no name", IssueOptions{}},
		{"unknown key type", IssueOptions{CommonName: "x", KeyType: "dsa"}},
		{"outlives the CA", IssueOptions{CommonName: "x", NotAfter: p.root.Cert.NotAfter.Add(time.Hour)}},
		{"inverted validity", IssueOptions{CommonName: "x", NotBefore: now, NotAfter: now.Add(-time.Hour)}},
		{"non-ASCII DNS name", IssueOptions{DNSNames: []string{"bücher.example"}}},
		{"invalid UTF-8 UPN", IssueOptions{UPN: "a\xffb"}},
	} {
		if _, err := p.root.Issue(c.o); err == nil {
			t.Errorf("%s: issued", c.name)
		}
	}
	if _, err := p.root.NewIntermediate(CAOptions{NotAfter: p.root.Cert.NotAfter.Add(time.Hour), KeyType: KeyECDSA}); err == nil {
		t.Error("an intermediate outliving its root was made")
	}
}

func TestIdentityNames(t *testing.T) {
	p := fixture(t)
	for _, c := range []struct {
		o             IssueOptions
		name, upn     string
		dns           []string
		subjectSuffix string
	}{
		{IssueOptions{CommonName: "S-1-12-1-1", UPN: "alice@example.test", DNSNames: []string{"a.example.test"}}, "alice@example.test", "alice@example.test", []string{"a.example.test"}, "CN=S-1-12-1-1"},
		{IssueOptions{CommonName: "guid", DNSNames: []string{"pc1", "pc2"}}, "pc1", "", []string{"pc1", "pc2"}, "CN=guid"},
		{IssueOptions{CommonName: "carol"}, "carol", "", nil, "CN=carol"},
		{IssueOptions{UPN: "δ@example.test"}, "δ@example.test", "δ@example.test", nil, "CN=δ@example.test"},
	} {
		cred := issue(t, p.root, c.o)
		id, err := cred.Identity()
		if err != nil {
			t.Fatal(err)
		}
		if id.Name != c.name || id.UPN != c.upn || !slices.Equal(id.DNSNames, c.dns) || id.Subject != c.subjectSuffix ||
			id.Issuer != "CN=gossp test root" || id.String() != c.name || id.Chain != nil {
			t.Errorf("%+v: identity %+v", c.o, id)
		}
	}
	if _, err := (&Credential{}).Identity(); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty credential: %v", err)
	}
	if _, err := IdentityOf(nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("nil certificate: %v", err)
	}
}

// sanCert issues a certificate whose SAN extension is san, raw.
func sanCert(t *testing.T, san []byte) *x509.Certificate {
	t.Helper()
	p := fixture(t)
	key, _ := GenerateKey(KeyECDSA)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "odd SAN"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		ExtraExtensions: []pkix.Extension{{Id: oidExtSubjectAltName, Value: san}}}
	return sign(t, tmpl, p.root, key.Public())
}

func TestUPNParsing(t *testing.T) {
	otherName := func(oid asn1.ObjectIdentifier, value []byte) asn1.RawValue {
		o, _ := asn1.Marshal(oid)
		v, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: value})
		return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: append(o, v...)}
	}
	utf8s := func(s string) []byte { b, _ := asn1.MarshalWithParams(s, "utf8"); return b }
	ia5 := func(s string) []byte { b, _ := asn1.MarshalWithParams(s, "ia5"); return b }
	san := func(names ...asn1.RawValue) []byte { b, _ := asn1.Marshal(names); return b }
	email := asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, Bytes: []byte("x@example.test")}
	other := asn1.ObjectIdentifier{1, 3, 6, 1, 5, 2, 2} // id-pkinit-san, a Kerberos principal

	for _, c := range []struct {
		name string
		san  []byte
		want []string
		err  string
	}{
		{"two UPNs among others", san(email, otherName(other, []byte{0x30, 0}), otherName(OIDMSUPN, utf8s("a@x")), otherName(OIDMSUPN, utf8s("b@x"))), []string{"a@x", "b@x"}, ""},
		{"UPN as IA5String", san(otherName(OIDMSUPN, ia5("a@x"))), nil, "not a UTF8String"},
		{"UPN with trailing data", san(otherName(OIDMSUPN, append(utf8s("a@x"), 5, 0))), nil, "trailing data"},
		{"invalid UTF-8", san(otherName(OIDMSUPN, []byte{0x0c, 2, 0xff, 0xfe})), nil, "invalid UTF-8"},
		{"otherName value not explicit", san(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true,
			Bytes: append(must(asn1.Marshal(OIDMSUPN)), utf8s("a@x")...)}), nil, "not [0] EXPLICIT"},
	} {
		got, err := UPNs(sanCert(t, c.san))
		if c.err != "" {
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "CN=odd SAN") {
				t.Errorf("%s: %v, want ErrMalformed with %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s: %q, %v", c.name, got, err)
		}
	}
	// Verify refuses a peer whose UPN does not parse.
	p := fixture(t)
	bad := sanCert(t, san(otherName(OIDMSUPN, ia5("a@x"))))
	if _, err := Verify([]*x509.Certificate{bad}, VerifyOptions{Roots: p.root.Pool()}); !errors.Is(err, ErrMalformed) {
		t.Errorf("Verify with a malformed UPN: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func readCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := parseCertificates(data, file)
	if err != nil || len(certs) != 1 {
		t.Fatalf("%s: %d certificates, %v", file, len(certs), err)
	}
	return certs[0]
}

// TestWindowsCertificates reads the certificates Windows sent in captured PKU2U
// exchanges (see testdata/README.md).
func TestWindowsCertificates(t *testing.T) {
	user := readCert(t, "windows-user.pem")
	id, err := IdentityOf(user)
	if err != nil {
		t.Fatal(err)
	}
	if id.Name != "mamoreau@downhillpro.xyz" || id.UPN != "mamoreau@downhillpro.xyz" || len(id.DNSNames) != 0 ||
		id.Issuer != "CN=MS-Organization-P2P-Access [2021]" ||
		id.Subject != "CN=mamoreau@downhillpro.xyz,CN=S-1-12-1-155238298-1303054274-2503517313-3646878765,DC=4c5a5ec1-9ac5-4612-9b4c-6bed178bb65a" {
		t.Fatalf("user identity %#v", *id)
	}
	device := readCert(t, "windows-device.pem")
	if id, err = IdentityOf(device); err != nil {
		t.Fatal(err)
	}
	if id.Name != "AZRDOWN-W10" || id.UPN != "" || !slices.Equal(id.DNSNames, []string{"AZRDOWN-W10", "AZRDOWN-W10", "10.1.0.4"}) {
		t.Fatalf("device identity %+v", id)
	}

	// Usage and validity checks run on them as on any certificate; with the issuing
	// CA unavailable, a path cannot be built.
	during := time.Date(2022, 5, 17, 21, 0, 0, 0, time.UTC)
	roots := fixture(t).root.Pool()
	for _, c := range []struct {
		name string
		cert *x509.Certificate
		opts VerifyOptions
		want error
	}{
		{"user as initiator", user, VerifyOptions{Roots: roots, CurrentTime: during, Role: RoleInitiator}, ErrUntrusted},
		{"user as acceptor", user, VerifyOptions{Roots: roots, CurrentTime: during, Role: RoleAcceptor}, ErrWrongUsage},
		{"user, today", user, VerifyOptions{Roots: roots, Role: RoleInitiator}, ErrExpired},
		{"device as acceptor", device, VerifyOptions{Roots: roots, CurrentTime: during, Role: RoleAcceptor}, ErrUntrusted},
		{"device as initiator", device, VerifyOptions{Roots: roots, CurrentTime: during, Role: RoleInitiator}, ErrWrongUsage},
	} {
		if _, err := Verify([]*x509.Certificate{c.cert}, c.opts); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// The issuer name a Windows peer would list in its meta-data selects a
	// credential issued by that CA.
	if got := TrustedIssuers([]*x509.Certificate{user, device}); len(got) != 2 {
		t.Fatalf("issuers %d", len(got))
	}
}

// TestOpenSSLCertificate reads a certificate OpenSSL made (testdata/README.md).
func TestOpenSSLCertificate(t *testing.T) {
	cred, err := LoadCredential(filepath.Join("testdata", "openssl-alice.pem"), filepath.Join("testdata", "openssl-alice.key"))
	if err != nil {
		t.Fatal(err)
	}
	pool, anchors, err := LoadPool(filepath.Join("testdata", "openssl-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := Verify(cred.Chain, VerifyOptions{Roots: pool, Role: RoleInitiator})
	if err != nil {
		t.Fatal(err)
	}
	if id.Name != "alice@example.test" || id.UPN != "alice@example.test" || !slices.Equal(id.DNSNames, []string{"alice-pc.example.test"}) ||
		len(id.Chain) != 2 || !id.Chain[1].Equal(anchors[0]) {
		t.Fatalf("identity %+v", id)
	}
}

func TestSelectCredential(t *testing.T) {
	p := fixture(t)
	fromRoot := issue(t, p.root, IssueOptions{CommonName: "r"})
	fromInter := issue(t, p.inter, IssueOptions{CommonName: "i"})
	fromOther := issue(t, p.other, IssueOptions{CommonName: "o"})
	creds := []*Credential{nil, {}, fromRoot, fromInter, fromOther}
	issuers := TrustedIssuers([]*x509.Certificate{p.other.Cert, nil, p.other.Cert, p.root.Cert})
	if len(issuers) != 2 || string(issuers[0]) != string(p.other.Cert.RawSubject) {
		t.Fatalf("TrustedIssuers: %d names", len(issuers))
	}
	for _, c := range []struct {
		name    string
		issuers [][]byte
		want    *Credential
	}{
		{"peer prefers other", issuers, fromOther},
		{"the root: the first credential under it", [][]byte{p.root.Cert.RawSubject}, fromRoot},
		{"the intermediate names the one it issued", [][]byte{p.inter.Cert.RawSubject}, fromInter},
		{"unknown issuer: the first", [][]byte{[]byte("0\x00")}, fromRoot},
		{"no issuers: the first", nil, fromRoot},
	} {
		if got := SelectCredential(creds, c.issuers); got != c.want {
			t.Errorf("%s: chose %v", c.name, got.Leaf().Subject)
		}
	}
	// A credential whose chain holds the intermediate is chosen for the root too,
	// when it comes first.
	if got := SelectCredential([]*Credential{fromInter, fromRoot}, [][]byte{p.root.Cert.RawSubject}); got != fromInter {
		t.Errorf("intermediate chain for the root: %v", got.Leaf().Subject)
	}
	if SelectCredential(nil, issuers) != nil || SelectCredential([]*Credential{{}}, nil) != nil {
		t.Error("a credential from nothing")
	}
}

func TestNameString(t *testing.T) {
	name := pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{
		{Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}, Value: "example"},
		{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "Acme, Inc."},
		{Type: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: "x"},
		{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: " #a+b<c>;\"\\\x01 "},
	}}
	raw, err := asn1.Marshal(name.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	want := `CN=\ #a\+b\<c\>\;\"\\\01\ ,1.2.3.4=#130178,O=Acme\, Inc.,DC=example`
	if got := FormatName(raw); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if got := FormatName([]byte{0x30, 0x03, 0x31}); got != "" {
		t.Fatalf("garbage: %q", got)
	}
}
