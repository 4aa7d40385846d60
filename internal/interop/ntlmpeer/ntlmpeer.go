// Package ntlmpeer drives third-party NTLM implementations from Go tests: Samba's
// ntlm_auth (as initiator, and as an acceptor that checks the password locally, with
// no winbindd) and impacket (as initiator, with message signing and sealing by
// impacket's own functions), and both also speaking SPNEGO around their NTLM (Samba as
// initiator and acceptor, impacket as initiator). peer.py plays one side of a handshake
// and answers line-based requests; the Go test plays the other side with gossp.
package ntlmpeer

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gossp/gossp/internal/interop"
)

//go:embed peer.py
var script []byte

// Roles.
const (
	// SambaClient is ntlm_auth --helper-protocol=ntlmssp-client-1, an initiator.
	SambaClient = "samba-client"
	// SambaServer is ntlm_auth --helper-protocol=squid-2.5-ntlmssp --password=..., an
	// acceptor that accepts any user name with Options.Password.
	SambaServer = "samba-server"
	// ImpacketClient is impacket.ntlm (NTLMv2), an initiator with Seal, Unseal, Sign
	// and Verify.
	ImpacketClient = "impacket-client"
	// SambaSpnegoClient is ntlm_auth --helper-protocol=gss-spnego-client, a SPNEGO
	// initiator offering NTLMSSP alone. Options.Features are the NTLMSSP features it
	// asks for; without NTLMSSP_FEATURE_SIGN its NTLM cannot sign, and it then neither
	// sends nor expects a mechListMIC. A token on its first Step is the acceptor's
	// NegTokenInit2 (acceptor first). SessionKey works after the handshake.
	SambaSpnegoClient = "samba-spnego-client"
	// SambaSpnegoServer is ntlm_auth --helper-protocol=gss-spnego --password=..., a
	// SPNEGO acceptor (NTLMSSP only) that checks the response locally, accepting any
	// user name with Options.Password. Step(nil) first returns its NegTokenInit2
	// (acceptor first). A refused logon is an error wrapping ErrDenied. SessionKey and
	// User work after the handshake.
	SambaSpnegoServer = "samba-spnego-server"
	// ImpacketSpnegoClient is ImpacketClient inside impacket.spnego's NegTokenInit and
	// NegTokenResp, as impacket's SMB client sends them: NTLMSSP alone, no mechListMIC.
	// Its Step answers the acceptor's last token with no token and done, or with
	// ErrDenied when that token is not accept-completed. Seal, Unseal, Sign and Verify
	// work as for ImpacketClient.
	ImpacketSpnegoClient = "impacket-spnego-client"
)

// Features ntlm_auth's SF request can ask for (SambaSpnegoClient).
const (
	FeatureSign = "NTLMSSP_FEATURE_SIGN"
	FeatureSeal = "NTLMSSP_FEATURE_SEAL"
)

// Options configure a peer.
type Options struct {
	Role     string // one of the roles above
	Domain   string
	User     string // the Samba acceptors: not checked, ntlm_auth's local check takes any name
	Password string
	// Workstation is the initiator's computer name; empty leaves the peer's default.
	Workstation string
	// Features are the NTLMSSP features SambaSpnegoClient asks for (FeatureSign, ...).
	Features []string
	Env      []string // extra environment
}

// Peer is a running peer.
type Peer struct {
	role   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	stderr *interop.Output
	mu     sync.Mutex
}

// ErrPeer is wrapped by every error the peer reports.
var ErrPeer = errors.New("NTLM peer")

// ErrDenied is wrapped (with ErrPeer) when the Samba acceptor refuses the logon, its
// helper's NA answer, or when a SPNEGO initiator refuses the acceptor's token.
var ErrDenied = fmt.Errorf("%w: logon denied", ErrPeer)

// pythonPath is Debian's interpreter: a python3 earlier in PATH (pyenv, a venv) lacks
// Debian's python3-impacket.
const pythonPath = "/usr/bin/python3"

// Python gates t on a python3 to run peer.py, and for withImpacket on one that can
// import impacket, and returns its path.
func Python(t testing.TB, withImpacket bool) string {
	t.Helper()
	py, what := pythonPath, "python3"
	var missing error
	if _, err := os.Stat(py); err != nil {
		if py, err = exec.LookPath("python3"); err != nil {
			missing = err
		}
	}
	if withImpacket && missing == nil {
		what = "python3-impacket"
		out, err := exec.Command(py, "-c", "import impacket.ntlm, impacket.spnego, Cryptodome.Cipher.ARC4").CombinedOutput()
		if err != nil {
			missing = fmt.Errorf("%s cannot import impacket (Debian package python3-impacket): %w: %s", py, err, bytes.TrimSpace(out))
		}
	}
	interop.Require(t, what, missing)
	return py
}

// NtlmAuth gates t on Samba's ntlm_auth (Debian package winbind) and returns its path.
func NtlmAuth(t testing.TB) string {
	t.Helper()
	path, missing := exec.LookPath("ntlm_auth")
	if missing != nil {
		for _, p := range []string{"/usr/bin/ntlm_auth", "/usr/sbin/ntlm_auth"} {
			if _, err := os.Stat(p); err == nil {
				path, missing = p, nil
				break
			}
		}
	}
	if missing != nil {
		missing = fmt.Errorf("%w (Debian package winbind)", missing)
	}
	interop.Require(t, "Samba's ntlm_auth", missing)
	return path
}

// smbConf is a minimal configuration: ntlm_auth neither reads the system's
// /etc/samba/smb.conf nor touches the system's state directories.
func smbConf(t testing.TB, domain string) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "[global]\n\tworkgroup = %s\n\tnetbios name = GOSSPPEER\n", domain)
	for _, param := range []string{"private dir", "lock directory", "state directory", "cache directory", "pid directory"} {
		p := filepath.Join(dir, strings.Fields(param)[0])
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "\t%s = %s\n", param, p)
	}
	b.WriteString("\tlog file = " + filepath.Join(dir, "log") + "\n")
	path := filepath.Join(dir, "smb.conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Start runs a peer for the life of the test, gating t on what the role needs.
func Start(t testing.TB, o Options) *Peer {
	t.Helper()
	var args []string
	var py string
	switch o.Role {
	case SambaClient, SambaServer, SambaSpnegoClient, SambaSpnegoServer:
		na := NtlmAuth(t)
		py = Python(t, false)
		args = []string{"--ntlm-auth", na, "--configfile", smbConf(t, o.Domain)}
	case ImpacketClient, ImpacketSpnegoClient:
		py = Python(t, true)
	default:
		t.Fatalf("ntlmpeer: unknown role %q", o.Role)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "peer.py")
	if err := os.WriteFile(path, script, 0o600); err != nil {
		t.Fatal(err)
	}
	user := o.User
	if user == "" {
		user = "nobody"
	}
	args = append([]string{path, "--role", o.Role, "--user", user, "--domain", o.Domain, "--password", o.Password}, args...)
	if o.Workstation != "" {
		args = append(args, "--workstation", o.Workstation)
	}
	if len(o.Features) > 0 {
		args = append(args, "--features", strings.Join(o.Features, ","))
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
	p := &Peer{role: o.Role, cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout), stderr: &interop.Output{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start NTLM peer %s: %v", o.Role, err)
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

// call sends one request and returns the fields of the answer after "OK"/"TOKEN".
func (p *Peer) call(req ...string) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := fmt.Fprintln(p.stdin, strings.Join(req, " ")); err != nil {
		return nil, fmt.Errorf("%w %s: write: %v (stderr: %s)", ErrPeer, p.role, err, p.stderr)
	}
	line, err := p.out.ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("%w %s: read: %v (stderr: %s)", ErrPeer, p.role, err, p.stderr)
	}
	line = strings.TrimSpace(line)
	code, rest, _ := strings.Cut(line, " ")
	switch code {
	case "OK", "TOKEN":
		return strings.Fields(rest), nil
	case "DENIED":
		return nil, fmt.Errorf("%w (%s: NA %s)", ErrDenied, p.role, rest)
	case "ERROR":
		return nil, fmt.Errorf("%w %s: %s", ErrPeer, p.role, rest)
	}
	return nil, fmt.Errorf("%w %s: malformed answer %q (stderr: %s)", ErrPeer, p.role, line, p.stderr)
}

// one calls and expects exactly one value back.
func (p *Peer) one(req ...string) (string, error) {
	f, err := p.call(req...)
	if err != nil {
		return "", err
	}
	if len(f) != 1 {
		return "", fmt.Errorf("%w %s: malformed %s answer %q", ErrPeer, p.role, req[0], f)
	}
	return f[0], nil
}

func (p *Peer) bytes(req ...string) ([]byte, error) {
	s, err := p.one(req...)
	if err != nil {
		return nil, err
	}
	return dec(s)
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
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: bad hex: %v", ErrPeer, err)
	}
	return b, nil
}

// Step passes a token (nil for an initiator's first call) and returns the peer's
// output token and whether the peer is done: an initiator has sent its AUTHENTICATE,
// the Samba acceptor has accepted the logon. A logon the Samba acceptor refuses is an
// error wrapping ErrDenied.
func (p *Peer) Step(in []byte) (out []byte, done bool, err error) {
	f, err := p.call("STEP", enc(in))
	if err != nil {
		return nil, false, err
	}
	if len(f) != 2 {
		return nil, false, fmt.Errorf("%w %s: malformed STEP answer %q", ErrPeer, p.role, f)
	}
	out, err = dec(f[0])
	return out, f[1] == "COMPLETE", err
}

// SessionKey returns the peer's exported session key (ntlm_auth's GK answer, or
// impacket's exportedSessionKey).
func (p *Peer) SessionKey() ([]byte, error) { return p.bytes("KEY") }

// Flags returns the NTLMSSP negotiate flags the peer settled on (ntlm_auth's GF
// answer, or the flags of impacket's AUTHENTICATE).
func (p *Peer) Flags() (uint32, error) {
	s, err := p.one("FLAGS")
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("%w: bad flags %q", ErrPeer, s)
	}
	return uint32(v), nil
}

// User returns the name a Samba acceptor authenticated, as "DOMAIN\user".
func (p *Peer) User() (string, error) {
	b, err := p.bytes("USER")
	return string(b), err
}

// Seal is impacket's ntlm.SEAL with the client sealing and signing keys: the 16-byte
// signature followed by the sealed message.
func (p *Peer) Seal(msg []byte) ([]byte, error) { return p.bytes("SEAL", enc(msg)) }

// Unseal decrypts a signature || sealed message token from the acceptor with
// impacket's server sealing key and checks the signature with ntlm.SIGN.
func (p *Peer) Unseal(token []byte) ([]byte, error) { return p.bytes("UNSEAL", enc(token)) }

// Sign is impacket's ntlm.SIGN with the client signing key.
func (p *Peer) Sign(msg []byte) ([]byte, error) { return p.bytes("SIGN", enc(msg)) }

// Verify checks the acceptor's signature of msg against impacket's ntlm.SIGN.
func (p *Peer) Verify(msg, sig []byte) error {
	_, err := p.call("VERIFY", enc(msg), enc(sig))
	return err
}
