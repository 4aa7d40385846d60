package plugin_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gossp/gossp/negoex"
	"github.com/gossp/gossp/negoex/plugin"
	"github.com/gossp/gossp/negotiate"
	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/packages/psk"
	"github.com/gossp/gossp/sspi"
	"github.com/gossp/gossp/sspi/sspitest"
)

// Real processes: the tests build the example PSK plugin and a misbehaving variant,
// put them in packages directories, and run them through the host.

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

func binaries(t testing.TB) (pskBin, faultBin string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "gossp-plugins-")
		if buildErr != nil {
			return
		}
		for _, p := range []struct{ out, pkg string }{
			{"psk-plugin", "github.com/gossp/gossp/plugins/psk"},
			{"fault-plugin", "github.com/gossp/gossp/negoex/plugin/internal/faultplugin"},
		} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, p.out), p.pkg)
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = errors.New(string(out))
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatalf("building the plugins: %v", buildErr)
	}
	return filepath.Join(binDir, "psk-plugin"), filepath.Join(binDir, "fault-plugin")
}

func TestMain(m *testing.M) {
	// As a child of the benchmarks: a bare gRPC server, or one Open in a fresh process.
	if sock := os.Getenv("GOSSP_TEST_BARE_GRPC"); sock != "" {
		serveBare(sock, os.Getenv("GOSSP_TEST_BARE_TUNED") == "true")
	}
	if dir := os.Getenv("GOSSP_TEST_OPEN_DIR"); dir != "" {
		openOnce(dir)
	}
	// As a child of TestPluginsDieWithHost: host the directory's plugins until killed.
	if dir := os.Getenv("GOSSP_TEST_HOST_DIR"); dir != "" {
		if _, err := plugin.Open(context.Background(), plugin.HostConfig{Dir: dir}); err != nil {
			os.Exit(2)
		}
		os.Stdout.WriteString("hosting\n")
		select {}
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// installPackage copies bin into root/folder with a manifest; edit may change it.
func installPackage(t testing.TB, root, folder, bin string, edit func(m map[string]any)) {
	t.Helper()
	dir := filepath.Join(root, folder)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plugin"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	m := map[string]any{
		"name": psk.Name, "auth_scheme": psk.AuthScheme.String(), "command": "plugin",
		"sha256": hex.EncodeToString(sum[:]), "version": "1.0.0", "protocol_versions": []int{1}, "priority": 5,
	}
	if edit != nil {
		edit(m)
	}
	js, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(dir, plugin.ManifestFile), js, 0o644); err != nil {
		t.Fatal(err)
	}
}

func openHost(t testing.TB, root string, cfg plugin.HostConfig) *plugin.Host {
	t.Helper()
	cfg.Dir = root
	h, err := plugin.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

var hostKey = []byte("0123456789abcdef0123456789abcdef")

// pskMaterial is what the application passes; the host sends it to the plugin as JSON.
var pskMaterial = map[string]any{"identity": "alice", "key": hostKey, "keys": map[string][]byte{"alice": hostKey}}

func negotiateOver(t testing.TB, h *plugin.Host) (ini, acc sspi.Credential) {
	t.Helper()
	nx, err := negoex.New(negoex.Config{Schemes: h.Schemes()})
	if err != nil {
		t.Fatal(err)
	}
	neg, err := negotiate.New(negotiate.Config{Packages: []sspi.Package{nx, ntlm.New(ntlm.Config{})}})
	if err != nil {
		t.Fatal(err)
	}
	m := negotiate.Options{Material: map[string]any{negoex.Name: negoex.Options{Material: map[string]any{psk.Name: pskMaterial}}}}
	ctx := context.Background()
	if ini, err = neg.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsOutbound, Material: m}); err != nil {
		t.Fatal(err)
	}
	if acc, err = neg.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: m}); err != nil {
		t.Fatal(err)
	}
	return ini, acc
}

func hostHandshake(ini, acc sspi.Credential) (sspi.Initiator, sspi.Acceptor, error) {
	ctx := context.Background()
	c, err := ini.NewInitiator(sspi.ContextConfig{Flags: sspi.FlagIntegrity | sspi.FlagConfidentiality})
	if err != nil {
		return nil, nil, err
	}
	s, err := acc.NewAcceptor(sspi.ContextConfig{})
	if err != nil {
		return nil, nil, err
	}
	var in []byte
	for range 10 {
		out, st, err := c.InitializeContext(ctx, in)
		if err != nil {
			return c, s, err
		}
		if len(out) == 0 {
			break
		}
		back, ast, err := s.AcceptContext(ctx, out)
		if err != nil {
			return c, s, err
		}
		if st == sspi.StatusOK && ast == sspi.StatusOK {
			break
		}
		in = back
	}
	if !c.Attributes().Established || !s.Attributes().Established {
		return c, s, errors.New("not established")
	}
	return c, s, nil
}

// pluginProcesses counts live processes running a binary under dir.
func pluginProcesses(dir string) int {
	n := 0
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && strings.HasPrefix(exe, dir) {
			n++
		}
	}
	return n
}

// Negotiate -> NegoEx -> a plugin process, on both sides, through the conformance suite.
func TestEndToEndConformance(t *testing.T) {
	pskBin, _ := binaries(t)
	root := t.TempDir()
	installPackage(t, root, "psk", pskBin, nil)
	h := openHost(t, root, plugin.HostConfig{})
	if st := h.Status(); len(st) != 1 || st[0].State != plugin.StateRunning {
		t.Fatalf("status %+v", st)
	}
	ini, acc := negotiateOver(t, h)
	sspitest.Run(t, sspitest.Config{Initiator: ini, Acceptor: acc, AcceptorFirst: true,
		ExpectedClientName: "alice", SkipLeakCheck: true, Concurrency: 16})
	c, s, err := hostHandshake(ini, acc)
	if err != nil {
		t.Fatal(err)
	}
	a := s.Attributes()
	if len(a.Path) != 3 || a.Path[2] != psk.Name || a.Package.Origin != sspi.OriginPlugin {
		t.Errorf("attributes: path %v, origin %v", a.Path, a.Package.Origin)
	}
	c.Close()
	s.Close()
	ini.Close()
	acc.Close()
	h.Close()
	if n := pluginProcesses(root); n != 0 {
		t.Errorf("%d plugin processes left after Close", n)
	}
}

func TestRefusals(t *testing.T) {
	pskBin, faultBin := binaries(t)
	cases := []struct {
		name    string
		install func(t *testing.T, root string)
		reason  string
	}{
		{"wrong checksum", func(t *testing.T, root string) {
			installPackage(t, root, "p", pskBin, func(m map[string]any) { m["sha256"] = strings.Repeat("00", 32) })
		}, "checksum mismatch"},
		{"manifest disagrees with the plugin", func(t *testing.T, root string) {
			installPackage(t, root, "p", faultBin, func(m map[string]any) { m["args"] = []string{"-fault=wrong-name"} })
		}, "calls itself"},
		{"garbage on stdout before serving", func(t *testing.T, root string) {
			installPackage(t, root, "p", faultBin, func(m map[string]any) { m["args"] = []string{"-fault=stdout"} })
		}, "start"},
		{"unreadable manifest", func(t *testing.T, root string) {
			installPackage(t, root, "p", pskBin, nil)
			os.WriteFile(filepath.Join(root, "p", plugin.ManifestFile), []byte("{not json"), 0o644)
		}, "manifest"},
		{"binary outside its folder", func(t *testing.T, root string) {
			installPackage(t, root, "p", pskBin, func(m map[string]any) { m["command"] = "../outside" })
			os.WriteFile(filepath.Join(root, "outside"), []byte("x"), 0o755)
		}, "outside the package folder"},
		{"group-writable folder", func(t *testing.T, root string) {
			installPackage(t, root, "p", pskBin, nil)
			os.Chmod(filepath.Join(root, "p"), 0o775)
		}, "writable"},
		{"unknown protocol version", func(t *testing.T, root string) {
			installPackage(t, root, "p", pskBin, func(m map[string]any) { m["protocol_versions"] = []int{9} })
		}, "protocol"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			c.install(t, root)
			h := openHost(t, root, plugin.HostConfig{StartTimeout: 3 * time.Second})
			st := h.Status()
			if len(st) != 1 || st[0].State != plugin.StateRefused || !strings.Contains(st[0].Reason, c.reason) {
				t.Fatalf("status %+v, want refused for %q", st, c.reason)
			}
			if len(h.Schemes()) != 0 {
				t.Fatal("a refused package is offered")
			}
			h.Close()
			if n := pluginProcesses(root); n != 0 {
				t.Errorf("%d plugin processes left", n)
			}
		})
	}
}

func TestDuplicatesAndOverrides(t *testing.T) {
	pskBin, _ := binaries(t)
	root := t.TempDir()
	installPackage(t, root, "a", pskBin, nil)
	installPackage(t, root, "b", pskBin, func(m map[string]any) { m["name"] = "Other" })
	h := openHost(t, root, plugin.HostConfig{})
	for _, st := range h.Status() {
		if st.State != plugin.StateRefused || !strings.Contains(st.Reason, "also claimed") {
			t.Errorf("duplicate GUID: %+v", st)
		}
	}
	h.Close()

	// A binary that fails its checksum claims nothing: the genuine package runs.
	root = t.TempDir()
	installPackage(t, root, "a", pskBin, func(m map[string]any) { m["sha256"] = strings.Repeat("00", 32) })
	installPackage(t, root, "b", pskBin, nil)
	h = openHost(t, root, plugin.HostConfig{})
	if st := h.Status(); st[0].State != plugin.StateRefused || !strings.Contains(st[0].Reason, "checksum mismatch") ||
		st[1].State != plugin.StateRunning {
		t.Errorf("a duplicate with a bad checksum: %+v", st)
	}
	h.Close()

	root = t.TempDir()
	installPackage(t, root, "a", pskBin, nil)
	off := false
	h = openHost(t, root, plugin.HostConfig{Overrides: map[string]plugin.Override{psk.Name: {Enabled: &off}}})
	if st := h.Status(); st[0].State != plugin.StateDisabled {
		t.Errorf("override enabled=false: %+v", st)
	}
	h.Close()
	h = openHost(t, root, plugin.HostConfig{Overrides: map[string]plugin.Override{psk.Name: {SHA256: strings.Repeat("ab", 32)}}})
	if st := h.Status(); st[0].State != plugin.StateRefused || !strings.Contains(st[0].Reason, "pinned") {
		t.Errorf("override pin: %+v", st)
	}
}

// Misbehaving plugins mid-handshake: each gives a clear error, and the next handshake
// on a healthy scheme succeeds.
func TestFaults(t *testing.T) {
	_, faultBin := binaries(t)
	for _, fault := range []string{"kill-on-step", "panic-on-step", "hang-on-step"} {
		t.Run(fault, func(t *testing.T) {
			opts := goleak.IgnoreCurrent()
			root := t.TempDir()
			installPackage(t, root, "faulty", faultBin, func(m map[string]any) { m["args"] = []string{"-fault=" + fault} })
			installPackage(t, root, "healthy", faultBin, func(m map[string]any) {
				m["name"], m["auth_scheme"] = "PSK2", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
				m["args"] = []string{"-name=PSK2", "-guid=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"}
				m["priority"] = 1
			})
			h := openHost(t, root, plugin.HostConfig{CallTimeout: time.Second, RestartBackoff: 50 * time.Millisecond})
			faulty, healthy := h.Schemes()[0], h.Schemes()[1]
			if faulty.Package.Info().Name != psk.Name || healthy.Package.Info().Name != "PSK2" {
				t.Fatalf("schemes %v %v", faulty.Package.Info().Name, healthy.Package.Info().Name)
			}
			// The faulty scheme alone: the handshake must fail cleanly.
			ini, acc := negoexCreds(t, faulty)
			_, _, err := hostHandshake(ini, acc)
			if err == nil || !errors.Is(err, sspi.ErrInternal) {
				t.Fatalf("%s: %v, want SEC_E_INTERNAL_ERROR", fault, err)
			}
			t.Logf("%s: %v", fault, err)
			// The healthy scheme is untouched.
			ini2, acc2 := negoexCreds(t, healthy)
			if _, _, err := hostHandshake(ini2, acc2); err != nil {
				t.Fatalf("healthy scheme after %s: %v", fault, err)
			}
			if fault == "kill-on-step" {
				// The crashed plugin comes back and serves again.
				deadline := time.Now().Add(5 * time.Second)
				for h.Status()[0].State != plugin.StateRunning && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				if st := h.Status()[0]; st.State != plugin.StateRunning || st.Restarts != 1 {
					t.Fatalf("after the crash: %+v", st)
				}
			}
			ini.Close()
			acc.Close()
			ini2.Close()
			acc2.Close()
			h.Close()
			if n := pluginProcesses(root); n != 0 {
				t.Errorf("%d plugin processes left", n)
			}
			if err := goleak.Find(opts, goleak.IgnoreTopFunction("time.Sleep")); err != nil {
				t.Error(err)
			}
		})
	}
}

func negoexCreds(t testing.TB, schemes ...negoex.Scheme) (ini, acc sspi.Credential) {
	t.Helper()
	nx, err := negoex.New(negoex.Config{Schemes: schemes})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	for _, s := range schemes {
		m[s.Package.Info().Name] = pskMaterial
	}
	ctx := context.Background()
	if ini, err = nx.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsOutbound, Material: negoex.Options{Material: m}}); err != nil {
		t.Fatal(err)
	}
	if acc, err = nx.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: negoex.Options{Material: m}}); err != nil {
		t.Fatal(err)
	}
	return ini, acc
}

// A plugin that keeps crashing is dropped and reported; NegoEx goes on without it.
func TestCrashLoopDropped(t *testing.T) {
	_, faultBin := binaries(t)
	root := t.TempDir()
	installPackage(t, root, "faulty", faultBin, func(m map[string]any) { m["args"] = []string{"-fault=kill-on-step"} })
	h := openHost(t, root, plugin.HostConfig{MaxRestarts: 1, RestartBackoff: 20 * time.Millisecond, CallTimeout: time.Second})
	scheme := h.Schemes()[0]
	nx, err := negoex.New(negoex.Config{Schemes: []negoex.Scheme{scheme}})
	if err != nil {
		t.Fatal(err)
	}
	m := negoex.Options{Material: map[string]any{psk.Name: pskMaterial}}
	for i := 0; i < 10 && h.Status()[0].State != plugin.StateDropped; i++ {
		deadline := time.Now().Add(3 * time.Second)
		for h.Status()[0].State == plugin.StateCrashed && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		// Each handshake kills the plugin at its second leg; failures are expected.
		ini, err1 := nx.AcquireCredentials(context.Background(), sspi.CredentialRequest{Use: sspi.CredentialsOutbound, Material: m})
		acc, err2 := nx.AcquireCredentials(context.Background(), sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: m})
		if err1 == nil && err2 == nil {
			hostHandshake(ini, acc)
		}
		time.Sleep(50 * time.Millisecond) // let the host notice the exit
	}
	if st := h.Status()[0]; st.State != plugin.StateDropped {
		t.Fatalf("after repeated crashes: %+v", st)
	}
	if len(h.Schemes()) != 0 {
		t.Fatal("a dropped plugin is still offered")
	}
}

// Many concurrent handshakes through one plugin process, each with its own contexts,
// under the race detector in CI.
func TestLoad(t *testing.T) {
	pskBin, _ := binaries(t)
	root := t.TempDir()
	installPackage(t, root, "psk", pskBin, nil)
	h := openHost(t, root, plugin.HostConfig{})
	ini, acc := negoexCreds(t, h.Schemes()[0])
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() {
			c, s, err := hostHandshake(ini, acc)
			if err == nil {
				var tok, got []byte
				if tok, err = c.EncryptMessage([]byte("load")); err == nil {
					got, err = s.DecryptMessage(tok)
					if err == nil && string(got) != "load" {
						err = errors.New("wrong plaintext")
					}
				}
			}
			if c != nil {
				c.Close()
				s.Close()
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := h.Status()[0]; st.State != plugin.StateRunning || st.Restarts != 0 {
		t.Fatalf("after load: %+v", st)
	}
}

// The plugin sees only the environment the host allows.
func TestEnvironmentAllowlist(t *testing.T) {
	t.Setenv("GOSSP_TEST_SECRET", "do-not-pass")
	t.Setenv("GOSSP_TEST_ALLOWED", "ok")
	_, faultBin := binaries(t)
	root := t.TempDir()
	installPackage(t, root, "p", faultBin, func(m map[string]any) {
		m["args"] = []string{"-require-env=GOSSP_TEST_ALLOWED", "-forbid-env=GOSSP_TEST_SECRET"}
	})
	h := openHost(t, root, plugin.HostConfig{Env: []string{"GOSSP_TEST_ALLOWED"}})
	if st := h.Status()[0]; st.State != plugin.StateRunning {
		t.Fatalf("with the allowlist: %+v", st)
	}
	h.Close()
	h = openHost(t, root, plugin.HostConfig{Env: []string{"GOSSP_TEST_ALLOWED", "GOSSP_TEST_SECRET"}})
	if st := h.Status()[0]; st.State == plugin.StateRunning {
		t.Fatalf("a forbidden variable reached the plugin, yet it runs: %+v", st)
	}
}

// An application killed without Close takes its plugins with it.
func TestPluginsDieWithHost(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("parent-death signals are Linux's")
	}
	pskBin, _ := binaries(t)
	root := t.TempDir()
	installPackage(t, root, "psk", pskBin, nil)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GOSSP_TEST_HOST_DIR="+root)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if _, err := io.ReadFull(out, buf); err != nil || string(buf) != "hosting\n" {
		cmd.Process.Kill()
		t.Fatalf("child host: %q %v", buf, err)
	}
	if n := pluginProcesses(root); n != 1 {
		t.Fatalf("%d plugin processes under the child host, want 1", n)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	deadline := time.Now().Add(3 * time.Second)
	for pluginProcesses(root) != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := pluginProcesses(root); n != 0 {
		t.Fatalf("%d plugin processes outlived their killed host", n)
	}
}
