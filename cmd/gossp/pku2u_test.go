package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// The user's path: a CA and two certificates with gossp pki, then a PKU2U handshake
// between them through the bundled plugin, and in process.
func TestPKU2UCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ca")
	for _, args := range [][]string{
		{"pki", "ca", "-dir", dir, "-key", "ecdsa"},
		{"pki", "issue", "-dir", dir, "-name", "bob", "-upn", "bob@example.test", "-key", "ecdsa"},
		{"pki", "issue", "-dir", dir, "-name", "pc1", "-dns", "pc1.example.test", "-acceptor", "-key", "ecdsa"},
	} {
		if code, _, errOut := runCmd(t, args...); code != exitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
	}
	for _, mode := range []struct {
		flags  []string
		origin string
	}{{nil, "package:        pku2u (plugin)"}, {[]string{"-inprocess"}, "package:        pku2u (built-in)"}} {
		args := append([]string{"pku2u", "-pki", dir, "-client", "bob", "-server", "pc1"}, mode.flags...)
		code, out, errOut := runCmd(t, args...)
		if code != exitOK {
			t.Fatalf("%v: exit %d: %s\n%s", args, code, errOut, out)
		}
		if !strings.Contains(out, mode.origin) {
			t.Errorf("%v: output lacks %q", args, mode.origin)
		}
		for _, want := range []string{"bob@example.test authenticating to host/pc1.example.test",
			"KRB_AS_REQ (PKU2U)", "path:           Negotiate -> NegoExtender -> pku2u",
			"client name:    bob@example.test", `-> "hello over PKU2U"`, "both sides agree: true"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: output lacks %q:\n%s", args, want, out)
			}
		}
	}
	// The acceptor's certificate does not name the target: refused, exit 1.
	if code, _, errOut := runCmd(t, "pku2u", "-pki", dir, "-client", "bob", "-server", "pc1", "-target", "host/elsewhere.test", "-inprocess"); code != exitFail || !strings.Contains(errOut, "SEC_E_WRONG_PRINCIPAL") {
		t.Fatalf("wrong target: exit %d: %s", code, errOut)
	}
	if code, _, _ := runCmd(t, "pku2u", "-pki", dir, "-client", "nobody", "-inprocess"); code != exitFail {
		t.Fatalf("missing certificate: exit %d", code)
	}
}
