// Package apache starts Apache httpd with mod_auth_gssapi on loopback for interop tests:
// a generated httpd.conf in a temporary directory, "apache2 -f httpd.conf -DFOREGROUND"
// on a free 127.0.0.1 port, and one protected location whose answers name the
// authenticated user (X-Remote-User) and mechanism (X-Gss-Mech). Two setups: NTLM through
// gss-ntlmssp (StartNTLM) and Kerberos with a keytab of the MIT KDC harness
// (StartKerberos). No system configuration is read or written; the server is stopped,
// with every child, when the test ends. Gated by GOSSP_INTEROP (internal/interop).
//
// Apache refuses to serve as root, so when the test runs as root (as CI does) the
// children switch to www-data (or nobody), and everything they read — the NTLM user
// file, the keytab, the configuration — lives in a directory readable by them.
package apache

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gossp/gossp/internal/interop"
	"github.com/gossp/gossp/internal/interop/gsspeer"
	"github.com/gossp/gossp/internal/interop/krb5kdc"
)

// Path is the protected location; a GET of it answers 200 with Body once authenticated.
const Path = "/private/whoami"

// Body is what the protected file holds.
const Body = "hello from apache\n"

// Response headers the protected location sets on a success.
const (
	HeaderUser = "X-Remote-User" // REMOTE_USER: the authenticated name
	HeaderMech = "X-Gss-Mech"    // mod_auth_gssapi's GSS_MECH (e.g. "Negotiate/NTLM")
)

// Options describe one Apache instance.
type Options struct {
	// AllowedMech is GssapiAllowedMech: "ntlmssp" or "krb5".
	AllowedMech string
	// ConnectionBound is GssapiConnectionBound: keep the GSS context of a multi-leg
	// mechanism (NTLM) on its TCP connection.
	ConnectionBound bool
	// Files are copied into the server's directory (readable by its children) under
	// their names; Env may refer to them as {{DIR}}/name.
	Files map[string][]byte
	// Env is added to apache's environment (GSS_MECH_CONFIG, NTLM_USER_FILE,
	// KRB5_CONFIG, KRB5_KTNAME...); "{{DIR}}" is replaced by the server's directory.
	Env []string
	// Directives are added inside the protected <Location> (e.g. GssapiCredStore),
	// with "{{DIR}}" replaced.
	Directives []string
}

// Server is a running Apache httpd.
type Server struct {
	Dir  string // the server's directory: httpd.conf, logs, copied files
	Addr string // 127.0.0.1:port
	// URL is the protected location by host name: http://localhost:port/private/whoami,
	// so a client's service name is HTTP/localhost.
	URL string
	cmd *exec.Cmd
}

// modules are the Debian locations of what httpd.conf loads.
const modules = "/usr/lib/apache2/modules"

// Start starts Apache with o for the life of the test.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	bin := require(t)

	runAs, err := childUser()
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: its parent is private to us, and apache's children may run as
	// another user, who must reach the directory too.
	base := os.TempDir()
	if runAs != nil && !reachable(base) {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "gossp-apache-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	expand := func(s string) string { return strings.ReplaceAll(s, "{{DIR}}", dir) }
	write := func(name string, data []byte) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range o.Files {
		write(name, data)
	}
	write("htdocs"+Path, []byte(Body))
	// MIT's replay cache, written by the children.
	rcache := filepath.Join(dir, "rcache")
	if err := os.Mkdir(rcache, 0o700); err != nil {
		t.Fatal(err)
	}
	if runAs != nil {
		if err := os.Chown(rcache, runAs.uid, runAs.gid); err != nil {
			t.Fatal(err)
		}
	}

	var b strings.Builder
	for i := 0; ; i++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		s := &Server{Dir: dir, Addr: fmt.Sprintf("127.0.0.1:%d", port)}
		s.URL = fmt.Sprintf("http://localhost:%d%s", port, Path)
		b.Reset()
		writeConf(&b, dir, s.Addr, runAs, o, expand)
		write("httpd.conf", []byte(b.String()))
		for _, f := range []string{"error.log", "access.log", "httpd.pid"} {
			os.Remove(filepath.Join(dir, f))
		}
		err = s.start(t, bin, o, expand)
		if err == nil {
			return s
		}
		if i < 2 && strings.Contains(err.Error(), "Address already in use") {
			continue // someone took the free port before apache bound it
		}
		t.Fatalf("apache: %v", err)
	}
}

// require gates t on apache2 and mod_auth_gssapi and returns apache2's path.
func require(t testing.TB) string {
	t.Helper()
	bin, missing := lookPath("apache2")
	if missing == nil {
		if _, err := os.Stat(filepath.Join(modules, "mod_auth_gssapi.so")); err != nil {
			missing = fmt.Errorf("mod_auth_gssapi (Debian package libapache2-mod-auth-gssapi): %w", err)
		}
	} else {
		missing = fmt.Errorf("apache2 (Debian package apache2): %w", missing)
	}
	interop.Require(t, "Apache httpd with mod_auth_gssapi", missing)
	return bin
}

// StartNTLM starts Apache accepting NTLM (through SPNEGO, or raw) with gss-ntlmssp,
// whose users are userFile's "DOMAIN:user:password" lines.
func StartNTLM(t testing.TB, userFile string) *Server {
	t.Helper()
	require(t)
	// gsspeer gates on gss-ntlmssp and names the module; apache gets copies of its
	// files where its children can read them.
	env := gsspeer.NTLMSSPEnv(t, userFile)
	o := Options{AllowedMech: "ntlmssp", ConnectionBound: true, Files: map[string][]byte{}}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "GSS_MECH_CONFIG", "NTLM_USER_FILE", "KRB5_CONFIG":
			data, err := os.ReadFile(v)
			if err != nil {
				t.Fatal(err)
			}
			name := strings.ToLower(k)
			o.Files[name] = data
			o.Env = append(o.Env, k+"={{DIR}}/"+name)
		default:
			o.Env = append(o.Env, kv)
		}
	}
	return Start(t, o)
}

// StartKerberos starts Apache accepting Kerberos (through SPNEGO, or raw) as
// HTTP/localhost of k's realm, with a copy of k's service keytab.
func StartKerberos(t testing.TB, k *krb5kdc.KDC) *Server {
	t.Helper()
	require(t)
	kt, err := os.ReadFile(k.Keytab)
	if err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(k.Krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	return Start(t, Options{
		AllowedMech: "krb5",
		Files:       map[string][]byte{"http.keytab": kt, "krb5.conf": conf, "gss_mech": nil},
		Env: []string{
			"KRB5_CONFIG={{DIR}}/krb5.conf",
			"KRB5_KTNAME=FILE:{{DIR}}/http.keytab",
			"KRB5CCNAME=FILE:{{DIR}}/no_ccache",
			"GSS_MECH_CONFIG={{DIR}}/gss_mech", // only the built-in mechanisms
		},
		Directives: []string{"GssapiCredStore keytab:{{DIR}}/http.keytab"},
	})
}

type account struct {
	name, group string
	uid, gid    int
}

// childUser is who apache's children run as: nil when we are not root (they stay us).
func childUser() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var errs []error
	for _, name := range []string{"www-data", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &account{name: u.Username, group: g.Name, uid: uid, gid: gid}, nil
	}
	return nil, fmt.Errorf("no unprivileged user for apache's children: %w", errors.Join(errs...))
}

func writeConf(b *strings.Builder, dir, addr string, runAs *account, o Options, expand func(string) string) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format+"\n", args...) }
	p("ServerRoot %q", dir)
	p("ServerName localhost")
	p("Listen %s", addr)
	for _, m := range []string{"mpm_event", "authn_core", "authz_core", "authz_user", "headers", "auth_gssapi"} {
		p("LoadModule %s_module %s/mod_%s.so", m, modules, m)
	}
	if runAs != nil {
		p("User %s", runAs.name)
		p("Group %s", runAs.group)
	}
	p("PidFile %s/httpd.pid", dir)
	p("DefaultRuntimeDir %s", dir)
	p("ErrorLog %s/error.log", dir)
	p("LogLevel warn auth_gssapi:info")
	p(`LogFormat "%%h \"%%r\" %%>s user=%%u" simple`)
	p("CustomLog %s/access.log simple", dir)
	p("DocumentRoot %s/htdocs", dir)
	p("StartServers 1")
	p("ServerLimit 1")
	p("ThreadsPerChild 8")
	p("MaxRequestWorkers 8")
	p("MinSpareThreads 1")
	p("MaxSpareThreads 8")
	p("<Location /private>")
	p("    AuthType GSSAPI")
	p("    AuthName gossp-interop")
	p("    GssapiAllowedMech %s", o.AllowedMech)
	if o.ConnectionBound {
		p("    GssapiConnectionBound On")
	}
	p("    GssapiBasicAuth Off")
	p("    GssapiPublishMech On")
	for _, d := range o.Directives {
		p("    %s", expand(d))
	}
	p("    Require valid-user")
	p(`    Header set %s "expr=%%{REMOTE_USER}"`, HeaderUser)
	p(`    Header set %s "%%{GSS_MECH}e"`, HeaderMech)
	p("</Location>")
}

// start runs apache and waits until it challenges an anonymous request.
func (s *Server) start(t testing.TB, bin string, o Options, expand func(string) string) error {
	t.Helper()
	cmd := exec.Command(bin, "-f", filepath.Join(s.Dir, "httpd.conf"), "-DFOREGROUND")
	cmd.Env = os.Environ()
	cmd.Env = append(cmd.Env, "KRB5RCACHEDIR="+filepath.Join(s.Dir, "rcache"))
	for _, kv := range o.Env {
		cmd.Env = append(cmd.Env, expand(kv))
	}
	out := &interop.Output{}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so the children go with it whatever happens.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	s.cmd = cmd
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		// SIGTERM: apache stops its children and exits.
		syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		// Anything of the group still alive (a child that outlived its parent).
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	// No keep-alive: the probe leaves no connection (or goroutine) behind.
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		select {
		case err := <-exited:
			return fmt.Errorf("apache exited (%v): %s %s", err, out, s.ErrorLog())
		default:
		}
		resp, err := client.Get("http://" + s.Addr + Path)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized && strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Negotiate") {
				break
			}
			stop()
			return fmt.Errorf("an anonymous GET got %s (WWW-Authenticate %q), want a Negotiate challenge: %s",
				resp.Status, resp.Header.Values("WWW-Authenticate"), s.ErrorLog())
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("apache did not answer on %s: %v: %s %s", s.Addr, err, out, s.ErrorLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("apache error log:\n%s", s.ErrorLog())
		}
	})
	return nil
}

// ErrorLog returns apache's error log so far.
func (s *Server) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "error.log"))
	return strings.TrimSpace(string(b))
}

// AccessLog returns apache's access log so far: one line per request,
// `127.0.0.1 "GET /private/whoami HTTP/1.1" 200 user=TESTDOM\alice`.
func (s *Server) AccessLog() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "access.log"))
	return strings.TrimSpace(string(b))
}

// WaitAccessLog reports whether the access log holds substr, waiting a little for it:
// apache logs a request after it has answered.
func (s *Server) WaitAccessLog(substr string) bool {
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if strings.Contains(s.AccessLog(), substr) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// reachable reports whether every directory down to dir lets others through.
func reachable(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		st, err := os.Stat(dir)
		if err != nil || st.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lookPath finds name in PATH or the sbin directories, where Debian puts apache2.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}
