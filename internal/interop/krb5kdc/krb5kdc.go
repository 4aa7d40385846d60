// Package krb5kdc starts a throwaway MIT Kerberos realm on loopback for interop tests:
// kdb5_util creates EXAMPLE.TEST in a temp dir, kadmin.local adds a user and the
// service HTTP/localhost with a keytab, and krb5kdc serves it on a free 127.0.0.1 port.
// No global configuration is read or written. Gated by GOSSP_INTEROP (internal/interop).
package krb5kdc

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gossp/gossp/internal/interop"
)

// Realm facts of the test realm.
const (
	Realm    = "EXAMPLE.TEST"
	User     = "user"
	Password = "UserPassw0rd!"
	Service  = "HTTP/localhost"
)

// KDC is a running test realm.
type KDC struct {
	Dir        string // temp dir holding everything
	Addr       string // 127.0.0.1:port
	Krb5Conf   string // krb5.conf path
	Keytab     string // HTTP/localhost keytab
	UserKeytab string // where a test may write the user's keytab
	// Env is the environment for MIT tools and GSS peers: KRB5_CONFIG, KRB5_KDC_PROFILE,
	// KRB5CCNAME, KRB5_KTNAME, GSS_MECH_CONFIG (empty: only built-in mechanisms).
	Env []string
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start creates the realm and starts krb5kdc for the life of the test.
func Start(t testing.TB) *KDC {
	t.Helper()
	tools := []string{"kdb5_util", "kadmin.local", "krb5kdc"}
	path := os.Getenv("PATH") + ":/usr/sbin:/sbin"
	var missing error
	bins := map[string]string{}
	for _, c := range tools {
		p, err := lookPath(c, path)
		if err != nil && missing == nil {
			missing = fmt.Errorf("%s not found (Debian packages krb5-kdc krb5-admin-server)", c)
		}
		bins[c] = p
	}
	interop.Require(t, "an MIT KDC", missing)
	dir := t.TempDir()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	k := &KDC{Dir: dir, Addr: fmt.Sprintf("127.0.0.1:%d", port),
		Krb5Conf: filepath.Join(dir, "krb5.conf"), Keytab: filepath.Join(dir, "http.keytab"),
		UserKeytab: filepath.Join(dir, "user.keytab")}
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("krb5.conf", fmt.Sprintf(`[libdefaults]
    default_realm = %[1]s
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
    dns_canonicalize_hostname = false
    udp_preference_limit = 1
    default_ccache_name = FILE:%[2]s/ccache
[realms]
    %[1]s = {
        kdc = %[3]s
    }
[domain_realm]
    localhost = %[1]s
    .localhost = %[1]s
`, Realm, dir, k.Addr))
	write("kdc.conf", fmt.Sprintf(`[kdcdefaults]
    kdc_listen = %[3]s
    kdc_tcp_listen = %[3]s
[realms]
    %[1]s = {
        database_name = %[2]s/principal
        key_stash_file = %[2]s/stash
        acl_file = %[2]s/kadm5.acl
        kdc_listen = %[3]s
        kdc_tcp_listen = %[3]s
        max_life = 10h
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal aes256-cts-hmac-sha384-192:normal aes128-cts-hmac-sha256-128:normal
    }
[logging]
    kdc = FILE:%[2]s/kdc.log
`, Realm, dir, k.Addr))
	write("kadm5.acl", "")
	write("gss_mech", "")
	k.Env = []string{
		"KRB5_CONFIG=" + k.Krb5Conf,
		"KRB5_KDC_PROFILE=" + filepath.Join(dir, "kdc.conf"),
		"KRB5CCNAME=FILE:" + filepath.Join(dir, "ccache"),
		"KRB5_KTNAME=FILE:" + k.Keytab,
		"GSS_MECH_CONFIG=" + filepath.Join(dir, "gss_mech"),
		"PATH=" + path,
	}
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(bins[name], args...)
		cmd.Env = append(os.Environ(), k.Env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
	}
	run("kdb5_util", "create", "-s", "-r", Realm, "-P", "MasterPassw0rd!", "-W")
	run("kadmin.local", "-r", Realm, "-q", "addprinc -pw "+Password+" "+User+"@"+Realm)
	run("kadmin.local", "-r", Realm, "-q", "addprinc -randkey "+Service+"@"+Realm)
	run("kadmin.local", "-r", Realm, "-q", "ktadd -k "+k.Keytab+" "+Service+"@"+Realm)
	cmd := exec.Command(bins["krb5kdc"], "-n", "-P", filepath.Join(dir, "kdc.pid"))
	cmd.Env = append(os.Environ(), k.Env...)
	out := &interop.Output{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("krb5kdc: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", k.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "kdc.log"))
			t.Fatalf("krb5kdc did not start on %s: %s %s", k.Addr, out, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return k
}

// Kadmin runs a kadmin.local query against the realm.
func (k *KDC) Kadmin(t testing.TB, query string) {
	t.Helper()
	p, err := lookPath("kadmin.local", os.Getenv("PATH")+":/usr/sbin:/sbin")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(p, "-r", Realm, "-q", query)
	cmd.Env = append(os.Environ(), k.Env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kadmin.local %s: %v\n%s", query, err, out)
	}
}

// Kinit gets a TGT for the user into the realm's ccache with MIT's kinit.
func (k *KDC) Kinit(t testing.TB) {
	t.Helper()
	p := interop.Command(t, "kinit")
	cmd := exec.Command(p, User+"@"+Realm)
	cmd.Env = append(os.Environ(), k.Env...)
	cmd.Stdin = strings.NewReader(Password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kinit: %v\n%s", err, out)
	}
}

func lookPath(name, path string) (string, error) {
	for _, d := range filepath.SplitList(path) {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}
