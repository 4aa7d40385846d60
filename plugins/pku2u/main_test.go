package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gossp/gossp/internal/pki"
	"github.com/gossp/gossp/negoex"
	"github.com/gossp/gossp/negoex/plugin"
	"github.com/gossp/gossp/negotiate"
	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/packages/pku2u"
	"github.com/gossp/gossp/sspi"
	"github.com/gossp/gossp/sspi/sspitest"
)

const (
	userUPN = "alice@contoso.test"
	devHost = "server.contoso.test"
)

// certs writes a CA, a user and a device certificate into dir, once per test.
func certs(t testing.TB) (dir string) {
	t.Helper()
	dir = t.TempDir()
	ca, err := pki.NewCA(pki.CAOptions{KeyType: pki.KeyECDSA})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ca.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	user, err := ca.Issue(pki.IssueOptions{UPN: userUPN, Role: pki.RoleInitiator, KeyType: pki.KeyECDSA})
	if err != nil {
		t.Fatal(err)
	}
	dev, err := ca.Issue(pki.IssueOptions{DNSNames: []string{devHost}, Role: pki.RoleAcceptor, KeyType: pki.KeyECDSA})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := user.WriteFiles(dir, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := dev.WriteFiles(dir, "server"); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestConfigure(t *testing.T) {
	dir := certs(t)
	s := newScheme(slog.New(slog.DiscardHandler), dir)
	ctx := context.Background()
	if _, err := s.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsOutbound}); !errors.Is(err, sspi.ErrNoCredentials) {
		t.Fatalf("no configuration: %v", err)
	}
	// Relative names resolve against the plugin's folder.
	if err := s.Configure([]byte(`{"certificate": "alice.pem", "key": "alice.key", "trust": ["ca.pem"], "clock_skew": "2m"}`)); err != nil {
		t.Fatal(err)
	}
	c, err := s.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsOutbound})
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Attributes().Principal; p != userUPN {
		t.Fatalf("principal %q", p)
	}
	c.Close()
	for _, bad := range []string{
		`{"certificate": "missing.pem", "key": "alice.key", "trust": ["ca.pem"]}`,
		`{"clock_skew": "soon"}`,
		`{"certificat": "typo.pem"}`,
		`{"key": `,
	} {
		if err := s.Configure([]byte(bad)); !errors.Is(err, sspi.ErrInvalidParameter) && !errors.Is(err, sspi.ErrUnknownCredentials) {
			t.Errorf("%s: %v", bad, err)
		}
	}
	if _, err := s.DecodeMaterial(sspi.CredentialsOutbound, []byte(`{"key": "-----BEGIN PRIVATE KEY-----`)); !errors.Is(err, sspi.ErrUnknownCredentials) || strings.Contains(err.Error(), "PRIVATE") {
		t.Errorf("bad material: %v", err)
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds this plugin once.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gossp-pku2u-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "pku2u-plugin")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("building the plugin: %v", buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// install makes a packages directory holding the plugin with a manifest whose config
// names this side's certificate.
func install(t testing.TB, bin, certDir, name string) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "pku2u")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pku2u-plugin"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	m := map[string]any{
		"name": pku2u.Name, "auth_scheme": pku2u.AuthScheme.String(), "command": "pku2u-plugin",
		"sha256": hex.EncodeToString(sum[:]), "version": "1.0.0", "protocol_versions": []int{1}, "priority": 10,
		"config": map[string]any{
			"certificate": filepath.Join(certDir, name+".pem"), "key": filepath.Join(certDir, name+".key"),
			"trust": []string{filepath.Join(certDir, pki.CACertFile)},
		},
	}
	js, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(dir, plugin.ManifestFile), js, 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// negotiateFrom is Negotiate over NegoEx over the plugins of a packages directory,
// with NTLM beside NegoEx as Windows offers it.
func negotiateFrom(t testing.TB, root string, use sspi.CredentialUse) sspi.Credential {
	t.Helper()
	h, err := plugin.Open(context.Background(), plugin.HostConfig{Dir: root})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	nx, err := negoex.New(negoex.Config{Schemes: h.Schemes()})
	if err != nil {
		t.Fatal(err)
	}
	neg, err := negotiate.New(negotiate.Config{Packages: []sspi.Package{nx, ntlm.New(ntlm.Config{})}})
	if err != nil {
		t.Fatal(err)
	}
	c, err := neg.AcquireCredentials(context.Background(), sspi.CredentialRequest{Use: use, Material: negotiate.Options{PackageList: "!ntlm"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Two machines: each side runs its own plugin process with its own certificate,
// Negotiate -> NegoEx -> PKU2U, through the conformance suite.
func TestEndToEndConformance(t *testing.T) {
	bin := binary(t)
	dir := certs(t)
	ini := negotiateFrom(t, install(t, bin, dir, "alice"), sspi.CredentialsOutbound)
	acc := negotiateFrom(t, install(t, bin, dir, "server"), sspi.CredentialsInbound)
	sspitest.Run(t, sspitest.Config{
		Initiator:          ini,
		Acceptor:           acc,
		Target:             "host/" + devHost,
		ExpectedClientName: userUPN,
		ChannelBindings:    true,
		AcceptorFirst:      true, // Negotiate's acceptor answers an empty token with NegTokenInit2
	})
}
