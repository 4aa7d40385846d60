package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/gossp/gossp/internal/interop"
	"github.com/gossp/gossp/internal/interop/apache"
	"github.com/gossp/gossp/internal/interop/gsspeer"
	"github.com/gossp/gossp/internal/interop/krb5kdc"
)

// The interop tests run gossp as a process of its own: the test binary, started again
// with asMain set, is the gossp command (TestMain hands it to main), so exit codes are
// main's own and no separate build is needed.
const asMain = "GOSSP_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMain) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// gosspCmd returns the gossp command with args, in the environment plus env.
func gosspCmd(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(append(os.Environ(), asMain+"=1"), env...)
	return cmd
}

// gossp runs the gossp command to its end and returns its exit code and output.
func gossp(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := gosspCmd(t, env, args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("gossp %s: %v", args[0], err) // not the arguments: they may hold a password
	}
	return code, out.String(), errOut.String()
}

// gossp get against Apache httpd (mod_auth_gssapi, MIT's SPNEGO with gss-ntlmssp): NTLM
// through Negotiate with -user and -password; exit 0 on the 200, 1 on the refusal.
func TestInteropGetApacheNTLM(t *testing.T) {
	srv := apache.StartNTLM(t, "TESTDOM:alice:AlicePassw0rd!\n")
	code, out, errOut := gossp(t, nil, "get", "-user", `TESTDOM\alice`, "-password", "AlicePassw0rd!", srv.URL)
	if code != exitOK || !strings.HasPrefix(out, "200 OK\n") || !strings.HasSuffix(out, apache.Body) {
		t.Fatalf("get: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, `client: TESTDOM\alice`) {
		t.Errorf("get does not name its client:\n%s", out)
	}
	if !srv.WaitAccessLog(`" 200 user=TESTDOM\\alice`) { // apache escapes the backslash
		t.Errorf("Apache did not log alice's 200:\n%s", srv.AccessLog())
	}
	code, out, errOut = gossp(t, nil, "get", "-user", `TESTDOM\alice`, "-password", "not her password", srv.URL)
	if code != exitFail || !strings.HasPrefix(out, "401 Unauthorized\n") || !strings.Contains(errOut, "401") {
		t.Errorf("wrong password: exit %d, want %d with the 401\n%s\n%s", code, exitFail, out, errOut)
	}
}

// gossp get -kerberos against Apache with a keytab of an MIT realm: tickets from kinit's
// credential cache or from -user/-password, and Apache's AP-REP checked.
func TestInteropGetApacheKerberos(t *testing.T) {
	k := krb5kdc.Start(t)
	srv := apache.StartKerberos(t, k)
	k.Kinit(t)
	principal := krb5kdc.User + "@" + krb5kdc.Realm
	noCache := "KRB5CCNAME=FILE:" + filepath.Join(t.TempDir(), "none")
	for _, c := range []struct {
		name    string
		env     []string
		args    []string
		want    int
		wantErr string // in stderr
	}{
		{"kinit's ccache", k.Env, nil, exitOK, ""},
		{"password", append(k.Env, noCache), []string{"-user", principal, "-password", krb5kdc.Password}, exitOK, ""},
		{"wrong password", append(k.Env, noCache), []string{"-user", principal, "-password", "not the password"}, exitFail, "SEC_E_LOGON_DENIED"},
		{"no tickets", append(k.Env, noCache), nil, exitFail, "SEC_E_NO_CREDENTIALS"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append(append([]string{"get", "-kerberos"}, c.args...), srv.URL)
			code, out, errOut := gossp(t, c.env, args...)
			if code != c.want {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, c.want, out, errOut)
			}
			if c.want != exitOK {
				if !strings.Contains(errOut, c.wantErr) {
					t.Errorf("stderr does not say %s:\n%s", c.wantErr, errOut)
				}
				return
			}
			if !strings.HasPrefix(out, "200 OK\n") || !strings.HasSuffix(out, apache.Body) || !strings.Contains(out, "client: "+principal) {
				t.Errorf("output:\n%s", out)
			}
		})
	}
	if !srv.WaitAccessLog(`" 200 user=` + principal) {
		t.Errorf("Apache did not log the user's 200:\n%s", srv.AccessLog())
	}
}

// server is a running gossp serve.
type server struct {
	url, password string
	stderr        *interop.Output
}

// startServe runs gossp serve as a process for the life of the test; on its end the
// server must stop on SIGINT with exit 0.
func startServe(t *testing.T, env []string, args ...string) *server {
	t.Helper()
	cmd := gosspCmd(t, env, append([]string{"serve", "-addr", "127.0.0.1:0"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{stderr: &interop.Output{}}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("gossp serve did not stop cleanly on SIGINT: %v\n%s", err, s.stderr)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Errorf("gossp serve did not stop on SIGINT")
			<-exited
		}
	})
	re := regexp.MustCompile(`^gossp serve: HTTP Negotiate on (http://\S+/) \(demo user alice, password (\S+)\)$`)
	timeout := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("gossp serve exited: %s", s.stderr)
			}
			if m := re.FindStringSubmatch(line); m != nil {
				s.url, s.password = m[1], m[2]
				go func() { // the rest of stdout, so the server never blocks on it
					for range lines {
					}
				}()
				return s
			}
		case <-timeout:
			t.Fatalf("gossp serve did not start: %s", s.stderr)
		}
	}
}

// curl runs curl --negotiate -u : against url with env and returns its HTTP status and
// body.
func curl(t *testing.T, env []string, url string, extra ...string) (status, body string) {
	t.Helper()
	bin := interop.Command(t, "curl")
	args := append([]string{"-sS", "--negotiate", "-u", ":", "-o", "-", "-w", "\n%{http_code}"}, extra...)
	cmd := exec.Command(bin, append(args, url)...)
	cmd.Env = env
	b, _ := cmd.CombinedOutput() // a refusal is an answer, checked by the caller
	out := string(b)
	i := strings.LastIndexByte(out, '\n')
	if i < 0 {
		return "", out
	}
	return out[i+1:], out[:i]
}

// curl --negotiate (MIT GSS-API's SPNEGO with gss-ntlmssp) against gossp serve as a
// process: the demo user with the password the server printed gets in, as GOSSP\alice
// through Negotiate -> NTLM; a wrong password gets a 401.
func TestInteropCurlServeNTLM(t *testing.T) {
	interop.Command(t, "curl")
	srv := startServe(t, nil)
	status, body := curl(t, gsspeer.NTLMSSPEnv(t, "GOSSP:alice:"+srv.password+"\n"), srv.url)
	if status != "200" || !strings.Contains(body, `authenticated: GOSSP\alice`) || !strings.Contains(body, "package path: Negotiate -> NTLM") {
		t.Fatalf("curl: %s\n%s\n%s", status, body, srv.stderr)
	}
	if status, body := curl(t, gsspeer.NTLMSSPEnv(t, "GOSSP:alice:not-"+srv.password+"\n"), srv.url); status != "401" {
		t.Errorf("curl with a wrong password: %s, want 401\n%s", status, body)
	}
}

// curl --negotiate with kinit's tickets against gossp serve -keytab: the user gets in
// through Negotiate -> Kerberos, and curl (MIT) checks our AP-REP; a server whose keytab
// holds the wrong key refuses.
func TestInteropCurlServeKerberos(t *testing.T) {
	interop.Command(t, "curl")
	k := krb5kdc.Start(t)
	k.Kinit(t)
	env := append(os.Environ(), k.Env...)
	// curl asks for HTTP@localhost; gossp serve listens on 127.0.0.1 only.
	resolve := func(url string) (string, []string) {
		host := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/")
		_, port, _ := strings.Cut(host, ":")
		return "http://localhost:" + port + "/", []string{"--resolve", "localhost:" + port + ":127.0.0.1"}
	}
	srv := startServe(t, k.Env, "-keytab", k.Keytab)
	url, extra := resolve(srv.url)
	status, body := curl(t, env, url, extra...)
	want := "authenticated: " + krb5kdc.User + "@" + krb5kdc.Realm
	if status != "200" || !strings.Contains(body, want) || !strings.Contains(body, "package path: Negotiate -> Kerberos") {
		t.Fatalf("curl: %s\n%s\n%s", status, body, srv.stderr)
	}

	// The same service principal and key version, another key.
	bad := wrongKeytab(t, k.Keytab)
	srv = startServe(t, k.Env, "-keytab", bad)
	url, extra = resolve(srv.url)
	if status, body := curl(t, env, url, extra...); status != "401" {
		t.Errorf("curl to a server with the wrong key: %s, want 401\n%s", status, body)
	}
}

// The Kerberos flags fail plainly without their material (no peer needed): a keytab
// that is not there is an error at start, not a server without Kerberos, and get
// -kerberos without tickets fails before any request.
func TestKerberosFlagsWithoutMaterial(t *testing.T) {
	none := filepath.Join(t.TempDir(), "none")
	code, _, errOut := runCmd(t, "serve", "-addr", "127.0.0.1:0", "-keytab", none)
	if code != exitFail || !strings.Contains(errOut, "-keytab") {
		t.Errorf("serve with a missing keytab: exit %d, want %d\n%s", code, exitFail, errOut)
	}
	t.Setenv("KRB5CCNAME", "FILE:"+none)
	code, _, errOut = runCmd(t, "get", "-kerberos", "http://127.0.0.1:1/")
	if code != exitFail || !strings.Contains(errOut, "SEC_E_NO_CREDENTIALS") {
		t.Errorf("get -kerberos without tickets: exit %d, want %d\n%s", code, exitFail, errOut)
	}
}

// wrongKeytab writes a keytab with path's entries under other keys.
func wrongKeytab(t *testing.T, path string) string {
	t.Helper()
	kt, err := keytab.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := keytab.New()
	for _, e := range kt.Entries {
		name := strings.Join(e.Principal.Components, "/")
		if err := bad.AddEntry(name, e.Principal.Realm, "not the key", time.Now(), e.KVNO8, e.Key.KeyType); err != nil {
			t.Fatal(err)
		}
	}
	b, err := bad.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "wrong.keytab")
	if err := os.WriteFile(out, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}
