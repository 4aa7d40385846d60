package pki

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gossp/gossp/internal/interop"
)

// openssl runs the openssl command in dir and returns its combined output.
func openssl(t *testing.T, bin, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "OPENSSL_CONF=/dev/null")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustOpenSSL(t *testing.T, bin, dir string, args ...string) string {
	t.Helper()
	out, err := openssl(t, bin, dir, args...)
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestInteropOpenSSLMadeCertificates has OpenSSL make a CA and peer certificates (a
// SEC 1 ECDSA key after its EC PARAMETERS, a PKCS #1 RSA key) and checks that they
// load, verify for their roles and name their peers.
func TestInteropOpenSSLMadeCertificates(t *testing.T) {
	bin := interop.Command(t, "openssl")
	dir := t.TempDir()
	run := func(args ...string) { mustOpenSSL(t, bin, dir, args...) }
	run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
		"-out", "ca.pem", "-days", "30", "-subj", "/DC=test/DC=example/CN=openssl CA",
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	// A user: SEC 1 key, UPN otherName, clientAuth.
	run("ecparam", "-genkey", "-name", "prime256v1", "-out", "user.key")
	run("req", "-new", "-key", "user.key", "-out", "user.csr", "-subj", "/DC=tenant/CN=S-1-12-1-1/CN=bob@example.test")
	os.WriteFile(filepath.Join(dir, "user.ext"), []byte("subjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;UTF8:bob@example.test\n"+
		"extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n"), 0o644)
	run("x509", "-req", "-in", "user.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1",
		"-sha256", "-extfile", "user.ext", "-out", "user.pem")
	// A device: PKCS #1 RSA key, dNSName, serverAuth.
	run("genrsa", "-traditional", "-out", "device.key", "2048")
	run("req", "-new", "-key", "device.key", "-out", "device.csr", "-subj", "/CN=cc3d96b4-0a0d-4a5d-8bfb-8d6ea8d955d2")
	os.WriteFile(filepath.Join(dir, "device.ext"), []byte("subjectAltName=DNS:pc1.example.test\nextendedKeyUsage=serverAuth\n"), 0o644)
	run("x509", "-req", "-in", "device.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "1",
		"-sha256", "-extfile", "device.ext", "-out", "device.pem")

	roots, _, err := LoadPool(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		role     Role
		wantName string
		subject  string
	}{
		{"user", RoleInitiator, "bob@example.test", "CN=bob@example.test,CN=S-1-12-1-1,DC=tenant"},
		{"device", RoleAcceptor, "pc1.example.test", "CN=cc3d96b4-0a0d-4a5d-8bfb-8d6ea8d955d2"},
	} {
		cred, err := LoadCredential(filepath.Join(dir, c.name+".pem"), filepath.Join(dir, c.name+".key"))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		id, err := Verify(cred.Chain, VerifyOptions{Roots: roots, Role: c.role})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if id.Name != c.wantName || id.Subject != c.subject || id.Issuer != "CN=openssl CA,DC=example,DC=test" {
			t.Errorf("%s: identity %+v", c.name, id)
		}
		other := RoleAcceptor - c.role
		if _, err := Verify(cred.Chain, VerifyOptions{Roots: roots, Role: other}); err == nil {
			t.Errorf("%s accepted as %s", c.name, other)
		}
	}
}

// TestInteropOpenSSLVerifiesOurCertificates has OpenSSL check what the test CA makes:
// the chain through an intermediate for each purpose, the UPN otherName, the key files.
func TestInteropOpenSSLVerifiesOurCertificates(t *testing.T) {
	bin := interop.Command(t, "openssl")
	p := fixture(t)
	dir := t.TempDir()
	if _, _, err := p.inter.WriteFiles(filepath.Join(dir, "ca")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "root.pem"), chainPEM(p.inter.Chain), 0o644)
	user := issue(t, p.inter, IssueOptions{UPN: "alice@example.test", DNSNames: []string{"alice-pc.example.test"}})
	if _, _, err := user.WriteFiles(dir, "user"); err != nil {
		t.Fatal(err)
	}
	rsaCA, err := NewCA(CAOptions{CommonName: "rsa root"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rsaCA.WriteFiles(filepath.Join(dir, "rsaca")); err != nil {
		t.Fatal(err)
	}
	device := issue(t, rsaCA, IssueOptions{CommonName: "guid", DNSNames: []string{"pc1.example.test"}, Role: RoleAcceptor, KeyType: KeyRSA})
	if _, _, err := device.WriteFiles(dir, "device"); err != nil {
		t.Fatal(err)
	}

	// user.pem holds the leaf and the intermediate: OpenSSL takes the intermediate
	// from -untrusted.
	for _, c := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"-CAfile", "root.pem", "-untrusted", "user.pem", "-purpose", "sslclient", "user.pem"}, true},
		{[]string{"-CAfile", "root.pem", "-untrusted", "user.pem", "-purpose", "sslserver", "user.pem"}, false},
		{[]string{"-CAfile", "rsaca/ca.pem", "-purpose", "sslserver", "device.pem"}, true},
		{[]string{"-CAfile", "rsaca/ca.pem", "-purpose", "sslclient", "device.pem"}, false},
		{[]string{"-CAfile", "rsaca/ca.pem", "-untrusted", "user.pem", "-purpose", "sslclient", "user.pem"}, false},
	} {
		out, err := openssl(t, bin, dir, append([]string{"verify"}, c.args...)...)
		if ok := err == nil && strings.Contains(out, ": OK"); ok != c.ok {
			t.Errorf("openssl verify %s: %v\n%s", strings.Join(c.args, " "), err, out)
		}
	}
	out := mustOpenSSL(t, bin, dir, "x509", "-in", "user.pem", "-noout", "-ext", "subjectAltName,extendedKeyUsage,keyUsage")
	for _, want := range []string{"othername: UPN::alice@example.test, DNS:alice-pc.example.test", "TLS Web Client Authentication", "critical", "Digital Signature"} {
		if !strings.Contains(out, want) {
			t.Errorf("openssl x509 lacks %q:\n%s", want, out)
		}
	}
	out = mustOpenSSL(t, bin, dir, "x509", "-in", "device.pem", "-noout", "-ext", "keyUsage,extendedKeyUsage")
	if !strings.Contains(out, "Digital Signature, Key Encipherment") || !strings.Contains(out, "TLS Web Server Authentication") {
		t.Errorf("device:\n%s", out)
	}
	for _, key := range []string{"user.key", "device.key", "ca/ca.key"} {
		mustOpenSSL(t, bin, dir, "pkey", "-in", key, "-check", "-noout")
	}
	// The key matches the certificate, by OpenSSL's reckoning too.
	certPub := mustOpenSSL(t, bin, dir, "x509", "-in", "device.pem", "-noout", "-pubkey")
	keyPub := mustOpenSSL(t, bin, dir, "pkey", "-in", "device.key", "-pubout")
	if certPub != keyPub {
		t.Error("device key and certificate differ for OpenSSL")
	}
}
