package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gossp/gossp/internal/pki"
)

func TestPKIIssueAndVerify(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	code, out, errOut := runCmd(t, "pki", "ca", "-dir", dir, "-name", "Test P2P CA", "-key", "ecdsa", "-days", "30")
	if code != exitOK {
		t.Fatalf("pki ca: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"CA:          CN=Test P2P CA\n", "key:         ECDSA P-256\n",
		"certificate: " + filepath.Join(dir, "ca.pem") + "\n", "private key: " + filepath.Join(dir, "ca.key") + " (0600)\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("pki ca output lacks %q:\n%s", want, out)
		}
	}
	// A user with a UPN, and a device with two DNS names given both ways.
	code, out, errOut = runCmd(t, "pki", "issue", "-dir", dir, "-name", "alice", "-upn", "alice@example.test", "-key", "ecdsa", "-days", "7")
	if code != exitOK {
		t.Fatalf("pki issue: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"identity:    alice@example.test (UPN)\n", "role:        initiator\n", "subject:     CN=alice\n",
		"issuer:      CN=Test P2P CA\n", "certificate: " + filepath.Join(dir, "alice.pem") + "\n", "private key: " + filepath.Join(dir, "alice.key") + " (0600)\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("pki issue output lacks %q:\n%s", want, out)
		}
	}
	code, out, errOut = runCmd(t, "pki", "issue", "-dir", dir, "-name", "pc1", "-dns", "pc1.example.test,pc1", "-dns", "pc1.local", "-acceptor", "-key", "ecdsa", "-days", "7")
	if code != exitOK || !strings.Contains(out, "identity:    pc1.example.test (DNS name)\n") || !strings.Contains(out, "DNS names:   pc1.example.test, pc1, pc1.local\n") ||
		!strings.Contains(out, "role:        acceptor\n") {
		t.Fatalf("pki issue -acceptor: exit %d: %s\n%s", code, errOut, out)
	}
	if fi, err := os.Stat(filepath.Join(dir, "pc1.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("pc1.key: %v %v", fi.Mode(), err)
	}

	// What gossp pki wrote loads and verifies with the package.
	cred, err := pki.LoadCredential(filepath.Join(dir, "alice.pem"), filepath.Join(dir, "alice.key"))
	if err != nil {
		t.Fatal(err)
	}
	roots, _, err := pki.LoadPool(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if id, err := pki.Verify(cred.Chain, pki.VerifyOptions{Roots: roots}); err != nil || id.UPN != "alice@example.test" {
		t.Fatalf("verify alice: %v, %v", id, err)
	}

	// gossp pki verify, flags on either side of the certificate.
	ca := filepath.Join(dir, "ca.pem")
	code, out, errOut = runCmd(t, "pki", "verify", "-ca", ca, filepath.Join(dir, "pc1.pem"), "-acceptor")
	if code != exitOK || !strings.Contains(out, "identity:    pc1.example.test (DNS name)\n") || !strings.Contains(out, `path:        "CN=pc1" <- "CN=Test P2P CA"`) {
		t.Fatalf("pki verify: exit %d: %s\n%s", code, errOut, out)
	}
	code, _, errOut = runCmd(t, "pki", "verify", "-ca", ca, filepath.Join(dir, "pc1.pem"))
	if code != exitFail || !strings.Contains(errOut, `gossp pki: certificate not valid for this use: "CN=pc1": extended key usage serverAuth does not allow the initiator role`) {
		t.Fatalf("device as initiator: exit %d: %q", code, errOut)
	}
	other := filepath.Join(t.TempDir(), "other")
	if code, _, errOut := runCmd(t, "pki", "ca", "-dir", other, "-key", "ecdsa"); code != exitOK {
		t.Fatal(errOut)
	}
	code, _, errOut = runCmd(t, "pki", "verify", "-ca", filepath.Join(other, "ca.pem"), filepath.Join(dir, "alice.pem"))
	if code != exitFail || !strings.Contains(errOut, `gossp pki: certificate not trusted: "CN=alice"`) {
		t.Fatalf("other CA: exit %d: %q", code, errOut)
	}

	// Nothing is overwritten.
	code, _, errOut = runCmd(t, "pki", "issue", "-dir", dir, "-name", "alice", "-key", "ecdsa")
	if code != exitFail || !strings.Contains(errOut, "already exists") {
		t.Fatalf("reissue: exit %d: %q", code, errOut)
	}
	code, _, errOut = runCmd(t, "pki", "ca", "-dir", dir, "-key", "ecdsa")
	if code != exitFail || !strings.Contains(errOut, "already exists") {
		t.Fatalf("second CA: exit %d: %q", code, errOut)
	}
	// The default validity yields to the CA's; an explicit one may not outlive it.
	code, out, errOut = runCmd(t, "pki", "issue", "-dir", dir, "-name", "carol", "-upn", "carol@example.test", "-key", "ecdsa")
	ca30, err := pki.LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if code != exitOK || !strings.Contains(out, "valid until: "+ca30.Cert.NotAfter.UTC().Format(time.RFC3339)+"\n") {
		t.Fatalf("default validity under a 30-day CA: exit %d: %s\n%s", code, errOut, out)
	}
	code, _, errOut = runCmd(t, "pki", "issue", "-dir", dir, "-name", "bob", "-key", "ecdsa", "-days", "31")
	if code != exitFail || !strings.Contains(errOut, "outlive its CA") {
		t.Fatalf("-days 31: exit %d: %q", code, errOut)
	}
}

func TestPKIDefaultRSA(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := runCmd(t, "pki", "ca", "-dir", dir); code != exitOK {
		t.Fatal(errOut)
	}
	code, out, errOut := runCmd(t, "pki", "issue", "-dir", dir, "-name", "u", "-upn", "u@example.test")
	if code != exitOK || !strings.Contains(out, "key:         RSA 2048 bits\n") {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
}

func TestPKIUsage(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"pki"}, exitUsage, "want a subcommand"},
		{[]string{"pki", "nonesuch"}, exitUsage, `unknown subcommand "nonesuch"`},
		{[]string{"pki", "-h"}, exitOK, "gossp pki issue -dir DIR -name NAME"},
		{[]string{"pki", "ca"}, exitUsage, "-dir is required"},
		{[]string{"pki", "ca", "-dir", dir, "extra"}, exitUsage, `unexpected argument "extra"`},
		{[]string{"pki", "ca", "-dir", dir, "-key", "dsa"}, exitUsage, `-key "dsa"`},
		{[]string{"pki", "ca", "-dir", dir, "-days", "0"}, exitUsage, "-days must be positive"},
		{[]string{"pki", "ca", "-h"}, exitOK, "Usage: gossp pki ca -dir DIR"},
		{[]string{"pki", "issue", "-dir", dir}, exitUsage, "-name is required"},
		{[]string{"pki", "issue", "-name", "x"}, exitUsage, "-dir is required"},
		{[]string{"pki", "issue", "-dir", dir, "-name", "x", "-nosuch"}, exitUsage, "flag provided but not defined"},
		{[]string{"pki", "issue", "-dir", dir, "-name", "x", "-key", "ecdsa"}, exitFail, "create one with gossp pki ca"},
		{[]string{"pki", "verify", "x.pem"}, exitUsage, "-ca is required"},
		{[]string{"pki", "verify", "-ca", "ca.pem"}, exitUsage, "want one certificate file"},
		{[]string{"pki", "verify", "-ca", filepath.Join(dir, "none.pem"), "x.pem"}, exitFail, "no such file"},
	} {
		code, _, errOut := runCmd(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("gossp %q: exit %d, stderr %q; want exit %d and %q", c.args, code, errOut, c.code, c.want)
		}
	}
	if err := (pkiError{pki.ErrExpired}); !errors.Is(err, pki.ErrExpired) || err.Error() != "certificate expired" {
		t.Errorf("pkiError: %v", err)
	}
}
