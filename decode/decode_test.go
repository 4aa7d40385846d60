package decode

import (
	"bufio"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
)

func lines(t testing.TB, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		fields := strings.Fields(l)
		h := fields[len(fields)-1]
		if b, err := hex.DecodeString(h); err == nil && len(b) > 0 {
			out = append(out, b)
		}
	}
	return out
}

func find(n *Node, name string) *Node {
	if n.Name == name {
		return n
	}
	for _, c := range n.Children {
		if f := find(c, name); f != nil {
			return f
		}
	}
	return nil
}

// MIT's SPNEGO tokens with gss-ntlmssp inside: every layer dissected.
func TestMITSPNEGO(t *testing.T) {
	toks := lines(t, "../negotiate/testdata/mit-spnego-ntlm.txt")
	want := []struct{ field, value string }{
		{"MechType", "1.3.6.1.4.1.311.2.2.10 (NTLMSSP)"},
		{"negState", "accept-incomplete (1)"},
		{"UserName", "alice"},
		{"negState", "accept-completed (0)"},
	}
	for i, tok := range toks {
		n, err := Decode(tok)
		if err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
		f := find(n, want[i].field)
		if f == nil || f.Value != want[i].value {
			t.Errorf("token %d: %s = %v, want %q\n%s", i, want[i].field, f, want[i].value, n.Tree())
		}
	}
	n, _ := Decode(toks[1])
	if f := find(n, "CHALLENGE_MESSAGE"); f == nil || find(f, "MsvAvTimestamp") == nil {
		t.Errorf("CHALLENGE not dissected:\n%s", n.Tree())
	}
	n, _ = Decode(toks[3])
	if f := find(n, "NTLMSSP signature"); f == nil || find(f, "SeqNum").Value != "0" {
		t.Errorf("mechListMIC not shown as an NTLMSSP signature:\n%s", n.Tree())
	}
}

// MIT's NegoEx tokens inside SPNEGO.
func TestMITNegoEx(t *testing.T) {
	toks := lines(t, "../negoex/testdata/mit-1.20.1-negoextest.txt")
	n, err := Decode(toks[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"INITIATOR_NEGO", "INITIATOR_META_DATA", "AP_REQUEST", "VERIFY"} {
		if find(n, name) == nil {
			t.Errorf("no %s in:\n%s", name, n.Tree())
		}
	}
	if f := find(n, "ChecksumType"); f == nil || f.Value != "16" {
		t.Errorf("checksum type: %v", f)
	}
}

func TestParseForms(t *testing.T) {
	want := []byte{0xa1, 0x07, 0x30, 0x05}
	for _, in := range []string{"a1073005", "a1 07 30 05", "oQcwBQ==", "oQcwBQ", "Negotiate oQcwBQ==",
		"Authorization: Negotiate oQcwBQ==", "WWW-Authenticate: Negotiate oQcwBQ=="} {
		got, err := Parse(in)
		if err != nil || string(got) != string(want) {
			t.Errorf("Parse(%q) = %x, %v", in, got, err)
		}
	}
	if _, err := Parse("not a token!"); err == nil {
		t.Error("garbage parsed")
	}
}

func TestMalformed(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":           {},
		"unknown":         {0x42},
		"truncated NTLM":  []byte("NTLMSSP\x00\x03\x00"),
		"bad GSS framing": {0x60, 0x50, 0x06},
		"bad NegoEx":      []byte("NEGOEXTS\x00\x00"),
	} {
		_, err := Decode(b)
		var d *DecodeError
		if !errors.As(err, &d) || d.Offset < 0 || d.Offset > len(b)+1<<20 {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, p := range []string{"../negotiate/testdata/mit-spnego-ntlm.txt", "../negoex/testdata/mit-1.20.1-negoextest.txt"} {
		for _, tok := range lines(f, p) {
			f.Add(tok)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := Decode(b)
		if err != nil {
			var d *DecodeError
			if !errors.As(err, &d) {
				t.Fatalf("error without an offset: %v", err)
			}
			return
		}
		_ = n.Tree()
	})
}
