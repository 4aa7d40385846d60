package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestDemoAuthenticates(t *testing.T) {
	code, out, errOut := runCmd(t, "demo", "-inprocess")
	if code != exitOK {
		t.Fatalf("demo exit %d, stderr:\n%s", code, errOut)
	}
	for _, want := range []string{"Frame 1: client -> server", "Established", "client name:    alice",
		"path:           Negotiate -> NegoExtender -> PSK",
		"Over HTTP (RFC 4559)", "package path: Negotiate -> NegoExtender -> PSK",
		"NTLM fall-back", "NTLMSSP_CHALLENGE", "package path: Negotiate -> NTLM",
		"both sides agree: true", `-> "hello from the gossp demo"`} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}

func TestDemoNTLM(t *testing.T) {
	code, out, errOut := runCmd(t, "demo", "-package", "ntlm")
	if code != exitOK {
		t.Fatalf("demo exit %d, stderr:\n%s", code, errOut)
	}
	for _, want := range []string{"Frame 3: client -> server", `client name:    GOSSP\alice`, "both sides agree: true"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}

func TestDemoUnknownPackage(t *testing.T) {
	code, _, errOut := runCmd(t, "demo", "-package", "nonesuch")
	if code != exitFail || !strings.Contains(errOut, "SEC_E_SECPKG_NOT_FOUND") {
		t.Fatalf("exit %d, stderr %q; want 1 and SEC_E_SECPKG_NOT_FOUND", code, errOut)
	}
}

func TestPackagesJSON(t *testing.T) {
	code, out, errOut := runCmd(t, "packages", "-json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var pkgs []packageJSON
	if err := json.Unmarshal([]byte(out), &pkgs); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	found := false
	for _, p := range pkgs {
		if p.Name == "PSK" && p.Origin == "built-in" && p.AuthScheme != "" && p.MaxToken > 0 {
			found = true
		}
	}
	if !found {
		t.Fatalf("PSK missing or incomplete in %+v", pkgs)
	}
}

func TestPackagesTable(t *testing.T) {
	code, out, _ := runCmd(t, "packages")
	if code != exitOK || !strings.HasPrefix(out, "NAME") || !strings.Contains(out, "PSK") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCmd(t, "version")
	if code != exitOK || !strings.HasPrefix(out, "gossp ") {
		t.Fatalf("exit %d, output %q", code, out)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"nonesuch"}, {"version", "extra"}, {"packages", "-nonesuch"}} {
		if code, _, _ := runCmd(t, args...); code != exitUsage {
			t.Errorf("gossp %q: exit %d, want %d", args, code, exitUsage)
		}
	}
	if code, _, _ := runCmd(t, "demo", "-h"); code != exitOK {
		t.Errorf("gossp demo -h: exit %d, want 0", code)
	}
}

func TestPackagesDir(t *testing.T) {
	dir := t.TempDir()
	bad := dir + "/broken"
	if err := os.Mkdir(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(bad+"/package.json", []byte("{not json"), 0o644)
	code, out, errOut := runCmd(t, "packages", "-dir", dir)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "Plugins in "+dir) || !strings.Contains(out, "refused") {
		t.Fatalf("output:\n%s", out)
	}
	code, out, _ = runCmd(t, "packages", "-json", "-dir", dir)
	var doc struct {
		Plugins []pluginJSON `json:"plugins"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Plugins) != 1 || doc.Plugins[0].State != "refused" {
		t.Fatalf("json: %s", out)
	}
	if code, _, _ := runCmd(t, "packages", "-dir", dir+"/nonesuch"); code != exitFail {
		t.Errorf("missing directory: exit %d, want 1", code)
	}
}
