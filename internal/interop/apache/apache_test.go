package apache

import (
	"errors"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The server challenges anonymous requests, and when its test ends nothing of it is
// left: not apache, not one of its children, not its directory.
func TestStartStop(t *testing.T) {
	var pgid int
	var dir string
	ok := t.Run("serve", func(t *testing.T) {
		s := StartNTLM(t, "TESTDOM:alice:AlicePassw0rd!\n")
		pgid, dir = s.cmd.Process.Pid, s.Dir
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get(s.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != "Negotiate" {
			t.Fatalf("anonymous GET: %s %q", resp.Status, resp.Header.Values("WWW-Authenticate"))
		}
		if !strings.HasPrefix(s.URL, "http://localhost:") || !strings.HasSuffix(s.URL, Path) {
			t.Errorf("URL %q", s.URL)
		}
		conf, err := os.ReadFile(s.Dir + "/httpd.conf")
		if err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 && !strings.Contains(string(conf), "\nUser ") {
			t.Errorf("running as root without a User directive:\n%s", conf)
		}
		if !s.WaitAccessLog(`"GET /private/whoami HTTP/1.1" 401 user=-`) {
			t.Errorf("access log: %s", s.AccessLog())
		}
	})
	if !ok {
		return
	}
	if pgid == 0 {
		t.Skip("apache did not start (skipped above)")
	}
	// The group may take a moment to be reaped by init after its leader is gone.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := syscall.Kill(-pgid, 0)
		if errors.Is(err, syscall.ESRCH) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("apache's process group %d is still there (%v)", pgid, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left behind: %v", dir, err)
	}
}
