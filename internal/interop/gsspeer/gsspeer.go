// Package gsspeer drives a third-party GSS-API peer (MIT GSS-API through python3-gssapi,
// with gss-ntlmssp loaded as a mechanism) from Go tests: peer.py runs one side of a
// context and answers line-based requests, and the Go test plays the other side with
// gossp.
package gsspeer

import (
	"bufio"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gossp/gossp/internal/interop"
)

//go:embed peer.py
var script []byte

// Options configure a peer.
type Options struct {
	Role     string // "initiator" or "acceptor"
	Mech     string // "ntlm", "spnego" or "krb5"
	User     string // initiator: "DOMAIN\\user" or a principal
	Password string
	Target   string   // initiator: "service@host"
	Flags    []string // deleg, mutual, replay, sequence, conf, integ; nil means the default set
	// SpnegoMechs restricts what SPNEGO offers or accepts ("ntlm", "krb5").
	SpnegoMechs []string
	// ChannelBindings is the application data of the peer's channel bindings.
	ChannelBindings []byte
	Env             []string // extra environment (GSS_MECH_CONFIG, NTLM_USER_FILE, ...)
}

// Peer is a running peer.
type Peer struct {
	t      testing.TB
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	stderr *interop.Output
	mu     sync.Mutex
}

// Python returns the interpreter with python3-gssapi, gating t on it. Debian's
// /usr/bin/python3 comes first: a python3 earlier in PATH (pyenv, a venv) lacks the
// Debian module.
func Python(t testing.TB) string {
	t.Helper()
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		py = interop.Command(t, "python3")
	}
	err := exec.Command(py, "-c", "import gssapi").Run()
	if err != nil {
		err = fmt.Errorf("python3 cannot import gssapi (Debian package python3-gssapi): %w", err)
	}
	interop.Require(t, "python3-gssapi", err)
	return py
}

// Start runs a peer for the life of the test.
func Start(t testing.TB, o Options) *Peer {
	t.Helper()
	py := Python(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "peer.py")
	if err := os.WriteFile(path, script, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{path, "--role", o.Role, "--mech", o.Mech}
	if o.User != "" {
		args = append(args, "--user", o.User, "--password", o.Password)
	}
	if o.Target != "" {
		args = append(args, "--target", o.Target)
	}
	if o.Flags != nil {
		args = append(args, "--flags", strings.Join(o.Flags, ","))
	}
	if len(o.SpnegoMechs) > 0 {
		args = append(args, "--spnego-mechs", strings.Join(o.SpnegoMechs, ","))
	}
	if o.ChannelBindings != nil {
		args = append(args, "--cb", hex.EncodeToString(o.ChannelBindings))
	}
	cmd := exec.Command(py, args...)
	cmd.Env = append(os.Environ(), o.Env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &Peer{t: t, cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout), stderr: &interop.Output{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start GSS peer: %v", err)
	}
	t.Cleanup(p.close)
	return p
}

func (p *Peer) close() {
	fmt.Fprintln(p.stdin, "QUIT")
	p.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// ErrPeer is wrapped by every error the peer reports.
var ErrPeer = errors.New("GSS peer")

// call sends one request and returns the fields of the answer after "OK"/"TOKEN".
func (p *Peer) call(req ...string) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := fmt.Fprintln(p.stdin, strings.Join(req, " ")); err != nil {
		return nil, fmt.Errorf("%w: write: %v (stderr: %s)", ErrPeer, err, p.stderr)
	}
	line, err := p.out.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("%w: read: %v (stderr: %s)", ErrPeer, err, p.stderr)
	}
	f := strings.Fields(line)
	if len(f) == 0 {
		return nil, fmt.Errorf("%w: empty answer", ErrPeer)
	}
	if f[0] == "ERROR" {
		return nil, fmt.Errorf("%w: %s", ErrPeer, strings.TrimSpace(strings.TrimPrefix(line, "ERROR")))
	}
	return f[1:], nil
}

func enc(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	return hex.EncodeToString(b)
}

func dec(s string) ([]byte, error) {
	if s == "-" {
		return nil, nil
	}
	return hex.DecodeString(s)
}

// Step passes a token (nil for the initiator's first call) and returns the peer's
// output token and whether its context is complete.
func (p *Peer) Step(in []byte) (out []byte, complete bool, err error) {
	f, err := p.call("STEP", enc(in))
	if err != nil {
		return nil, false, err
	}
	if len(f) != 2 {
		return nil, false, fmt.Errorf("%w: malformed STEP answer %q", ErrPeer, f)
	}
	out, err = dec(f[0])
	return out, f[1] == "COMPLETE", err
}

// Wrap is gss_wrap.
func (p *Peer) Wrap(msg []byte, conf bool) ([]byte, error) {
	c := "0"
	if conf {
		c = "1"
	}
	f, err := p.call("WRAP", enc(msg), c)
	if err != nil {
		return nil, err
	}
	return dec(f[0])
}

// Unwrap is gss_unwrap; it also reports whether the token was encrypted.
func (p *Peer) Unwrap(tok []byte) ([]byte, bool, error) {
	f, err := p.call("UNWRAP", enc(tok))
	if err != nil {
		return nil, false, err
	}
	msg, err := dec(f[0])
	return msg, len(f) > 1 && f[1] == "1", err
}

// MIC is gss_get_mic.
func (p *Peer) MIC(msg []byte) ([]byte, error) {
	f, err := p.call("MIC", enc(msg))
	if err != nil {
		return nil, err
	}
	return dec(f[0])
}

// Verify is gss_verify_mic.
func (p *Peer) Verify(msg, mic []byte) error {
	_, err := p.call("VERIFY", enc(msg), enc(mic))
	return err
}

// Info describes the peer's established context.
type Info struct {
	Mech      string `json:"mech"`
	Initiator string `json:"initiator"`
	Flags     int    `json:"flags"`
}

// Info returns the peer's view of the context.
func (p *Peer) Info() (Info, error) {
	p.mu.Lock()
	fmt.Fprintln(p.stdin, "INFO")
	line, err := p.out.ReadString('\n')
	p.mu.Unlock()
	if err != nil {
		return Info{}, fmt.Errorf("%w: %v", ErrPeer, err)
	}
	var info Info
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), "OK ")
	if !ok {
		return Info{}, fmt.Errorf("%w: %s", ErrPeer, line)
	}
	err = json.Unmarshal([]byte(rest), &info)
	return info, err
}

// ntlmsspLibraries are where Debian installs gss-ntlmssp's mechanism module.
var ntlmsspLibraries = []string{
	"/usr/lib/x86_64-linux-gnu/gssntlmssp/gssntlmssp.so",
	"/usr/lib/aarch64-linux-gnu/gssntlmssp/gssntlmssp.so",
	"/usr/lib/gssntlmssp/gssntlmssp.so",
}

// NTLMSSPEnv gates t on gss-ntlmssp and returns the environment that makes MIT GSS-API
// load it with no system configuration: a mechanism file naming the module, the
// acceptor's user file holding userFile, and empty Kerberos configuration.
func NTLMSSPEnv(t testing.TB, userFile string) []string {
	t.Helper()
	var lib string
	for _, l := range ntlmsspLibraries {
		if _, err := os.Stat(l); err == nil {
			lib = l
			break
		}
	}
	var missing error
	if lib == "" {
		missing = errors.New("gssntlmssp.so not found (Debian package gss-ntlmssp)")
	}
	interop.Require(t, "gss-ntlmssp", missing)
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return []string{
		"GSS_MECH_CONFIG=" + write("mech", "gssntlmssp_v1 1.3.6.1.4.1.311.2.2.10 "+lib+"\n"),
		"NTLM_USER_FILE=" + write("users", userFile),
		"KRB5_CONFIG=" + write("krb5.conf", ""),
		"KRB5CCNAME=FILE:" + filepath.Join(dir, "no_ccache"),
		"KRB5_KTNAME=FILE:" + filepath.Join(dir, "no_keytab"),
	}
}
