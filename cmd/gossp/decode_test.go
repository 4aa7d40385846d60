package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// MIT's final SPNEGO token to our acceptor (negotiate/testdata), and its CHALLENGE.
const (
	decodeFinal     = "a11b3019a0030a0100a312041001000000fd3545fa9f6986f900000000"
	decodeChallenge = "4e544c4d53535000020000001200120038000000358289e242d336099f8401b50000000000000000420042004a0000000a007c4f0000000f57004f0052004b00470052004f00550050000200120057004f0052004b00470052004f005500500001000a0047004f0053005300500003000a0067006f00730073007000070008008029dfec047edd0100000000"
)

func withStdin(t *testing.T, s string) {
	t.Helper()
	old := decodeStdin
	decodeStdin = strings.NewReader(s)
	t.Cleanup(func() { decodeStdin = old })
}

func TestDecodeTree(t *testing.T) {
	code, out, errOut := runCmd(t, "decode", decodeFinal)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"SPNEGO\n    negTokenResp\n        negState: accept-completed (0)\n",
		"            NTLMSSP Verifier\n", "                SeqNum: 0\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestDecodeJSON(t *testing.T) {
	// Flags after the token too; a header line as the token.
	code, out, errOut := runCmd(t, "decode", "WWW-Authenticate: NTLM "+b64(t, decodeChallenge), "-json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var n struct {
		Name     string
		Offset   int
		Length   int
		Children []struct{ Name, Value string }
	}
	if err := json.Unmarshal([]byte(out), &n); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if n.Name != "NTLMSSP" || n.Length != len(decodeChallenge)/2 || !strings.Contains(out, `"value": "42d336099f8401b5"`) {
		t.Errorf("JSON:\n%s", out)
	}
}

func b64(t *testing.T, h string) string {
	t.Helper()
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	return base64Std(b)
}

func TestDecodeInputs(t *testing.T) {
	dir := t.TempDir()
	raw, _ := hex.DecodeString(decodeChallenge)
	rawFile := filepath.Join(dir, "challenge.bin")
	textFile := filepath.Join(dir, "final.txt")
	if err := os.WriteFile(rawFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(textFile, []byte("Authorization: Negotiate "+b64(t, decodeFinal)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"raw file", "", []string{"decode", "@" + rawFile}, "NTLM Server Challenge: 42d336099f8401b5"},
		{"header file", "", []string{"decode", "@" + textFile}, "negState: accept-completed (0)"},
		{"stdin dash", decodeFinal + "\n", []string{"decode", "-"}, "negState: accept-completed (0)"},
		{"stdin implied", string(raw), []string{"decode"}, "MsvAvTimestamp: 2026-11-27T00:19:11Z"},
	} {
		withStdin(t, c.stdin)
		code, out, errOut := runCmd(t, c.args...)
		if code != exitOK || !strings.Contains(out, c.want) {
			t.Errorf("%s: exit %d, stderr %q, output lacks %q:\n%s", c.name, code, errOut, c.want, out)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"malformed", []string{"decode", "a1073005a0030a01"}, exitFail, "gossp decode: offset 0: DER element"},
		{"truncated NTLM", []string{"decode", decodeChallenge[:60]}, exitFail, "offset "},
		{"not a token", []string{"decode", "zz top!"}, exitFail, "neither hex nor base64"},
		{"missing file", []string{"decode", "@/nonexistent/token"}, exitFail, "no such file"},
		{"two tokens", []string{"decode", "a1", "a2"}, exitUsage, "one token at a time"},
		{"bad flag", []string{"decode", "-xml", decodeFinal}, exitUsage, "flag provided but not defined"},
	} {
		withStdin(t, "")
		code, _, errOut := runCmd(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and %q", c.name, code, errOut, c.code, c.want)
		}
	}
	withStdin(t, "")
	if code, _, errOut := runCmd(t, "decode"); code != exitFail || !strings.Contains(errOut, "no token") {
		t.Errorf("empty stdin: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, "decode", "-h"); code != exitOK || !strings.Contains(errOut, "Usage: gossp decode [-json]") {
		t.Errorf("-h: exit %d, %q", code, errOut)
	}
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
