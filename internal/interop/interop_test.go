package interop

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// recorder is a TB that records instead of stopping the goroutine.
type recorder struct {
	skipped, failed string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Skipf(format string, args ...any)  { r.skipped = fmt.Sprintf(format, args...) }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestRequire(t *testing.T) {
	missing := errors.New("not installed")
	cases := []struct {
		env      string
		missing  error
		skip     bool
		fail     bool
		mentions string
	}{
		{"", nil, true, false, "GOSSP_INTEROP=1"},
		{"", missing, true, false, "not installed"},
		{"1", nil, false, false, ""},
		{"1", missing, false, true, "not installed"},
		{"0", nil, true, false, "GOSSP_INTEROP=1"},
	}
	for _, c := range cases {
		t.Setenv(EnvVar, c.env)
		r := &recorder{}
		Require(r, "a peer", c.missing)
		if (r.skipped != "") != c.skip || (r.failed != "") != c.fail {
			t.Errorf("env %q missing %v: skipped %q failed %q", c.env, c.missing, r.skipped, r.failed)
		}
		if msg := r.skipped + r.failed; c.mentions != "" && !strings.Contains(msg, c.mentions) {
			t.Errorf("env %q: message %q does not mention %q", c.env, msg, c.mentions)
		}
	}
}

func TestCommand(t *testing.T) {
	t.Setenv(EnvVar, "1")
	r := &recorder{}
	if p := Command(r, "sh"); p == "" || r.failed != "" {
		t.Errorf("Command(sh) = %q, failed %q", p, r.failed)
	}
	r = &recorder{}
	Command(r, "gossp-no-such-command")
	if r.failed == "" {
		t.Error("a missing command with GOSSP_INTEROP=1 did not fail")
	}
}
