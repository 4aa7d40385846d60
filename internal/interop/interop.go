// Package interop gates tests that need third-party peers (MIT Kerberos, gss-ntlmssp,
// Samba, impacket, tshark) by one convention for the whole project:
//
//   - without GOSSP_INTEROP=1 such a test skips, naming what it would need;
//   - with GOSSP_INTEROP=1 a missing peer is a failure, never a skip, so CI cannot go
//     green by silently testing nothing.
//
// The peers install from Debian's packages with .ci/install-peers.sh.
package interop

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// EnvVar is the variable that turns interop tests on.
const EnvVar = "GOSSP_INTEROP"

// TB is the part of testing.TB the gate uses.
type TB interface {
	Helper()
	Skipf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Enabled reports whether interop tests are on.
func Enabled() bool { return os.Getenv(EnvVar) == "1" }

// Require gates t on a peer: what names it for humans, and missing is nil when it is
// present or says what is missing.
func Require(t TB, what string, missing error) {
	t.Helper()
	if !Enabled() {
		if missing != nil {
			t.Skipf("interop test needs %s (%v); set %s=1 to run it", what, missing, EnvVar)
			return
		}
		t.Skipf("interop test needs %s; set %s=1 to run it", what, EnvVar)
		return
	}
	if missing != nil {
		t.Fatalf("%s=1 but %s is missing: %v (install the peers with: sudo bash .ci/install-peers.sh)", EnvVar, what, missing)
	}
}

// Command gates t on an executable and returns its path.
func Command(t TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	Require(t, "the "+name+" command", err)
	return path
}

// File gates t on a file (a shared library, a peer script) and returns path.
func File(t TB, what, path string) string {
	t.Helper()
	var missing error
	if _, err := os.Stat(path); err != nil {
		missing = fmt.Errorf("%s: %w", path, err)
	}
	Require(t, what, missing)
	return path
}

// Output collects a peer process's stderr: exec's copying goroutine writes it while the
// test reads it into error messages, so it is locked.
type Output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

// String returns what was written, trimmed.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return strings.TrimSpace(o.b.String())
}
