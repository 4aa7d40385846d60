package negotiate

import (
	"bufio"
	"bytes"
	"encoding/asn1"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// readTokens loads a file of hex tokens, one per line, '#' comments.
func readTokens(t testing.TB, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var toks [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, b)
	}
	return toks
}

// Real MIT tokens parse, say what they should, and re-encode to the same bytes: our
// encoder writes the DER MIT writes.
func TestMITTokens(t *testing.T) {
	toks := readTokens(t, "testdata/mit-spnego-ntlm.txt")
	if len(toks) != 4 {
		t.Fatalf("%d tokens", len(toks))
	}
	init, resp, err := ParseToken(toks[0])
	if err != nil || resp != nil {
		t.Fatalf("NegTokenInit: %v", err)
	}
	if len(init.MechTypes) != 1 || !init.MechTypes[0].Equal(OIDNTLM) || !bytes.HasPrefix(init.MechToken, []byte("NTLMSSP\x00\x01")) {
		t.Errorf("NegTokenInit: %+v", init)
	}
	want := []struct {
		state     NegState
		mech, mic bool
		inner     byte // NTLM message type in the response token, 0 for none
	}{
		{AcceptIncomplete, true, false, 2},
		{AcceptIncomplete, false, true, 3}, // MIT's initiator sends negState: tolerated
		{AcceptCompleted, false, true, 0},
	}
	for i, w := range want {
		_, r, err := ParseToken(toks[i+1])
		if err != nil {
			t.Fatalf("token %d: %v", i+1, err)
		}
		if !r.HasNegState || r.NegState != w.state || (r.SupportedMech != nil) != w.mech || (r.MechListMIC != nil) != w.mic {
			t.Errorf("token %d: %+v", i+1, r)
		}
		if w.inner != 0 && (len(r.ResponseToken) < 9 || r.ResponseToken[8] != w.inner) {
			t.Errorf("token %d: response token is not NTLM message %d", i+1, w.inner)
		}
		again, err := r.Marshal()
		if err != nil || !bytes.Equal(again, toks[i+1]) {
			t.Errorf("token %d re-encodes differently:\n got %x\nwant %x", i+1, again, toks[i+1])
		}
	}
	again, err := init.Marshal()
	if err != nil || !bytes.Equal(again, toks[0]) {
		t.Errorf("NegTokenInit re-encodes differently:\n got %x\nwant %x", again, toks[0])
	}
}

func TestTokenRoundTrips(t *testing.T) {
	cases := []*NegTokenInit{
		{MechTypes: []asn1.ObjectIdentifier{OIDKerberosMS, OIDKerberos, OIDNTLM}, MechToken: []byte{1, 2, 3}},
		{MechTypes: []asn1.ObjectIdentifier{OIDNegoEx, OIDNTLM}, NegHints: &NegHints{HintName: hintName}},
		{MechTypes: []asn1.ObjectIdentifier{OIDNTLM}, ReqFlags: asn1.BitString{Bytes: []byte{0x60}, BitLength: 3}, MechListMIC: []byte{9}},
		{MechTypes: []asn1.ObjectIdentifier{OIDNTLM}, NegHints: &NegHints{HintName: "x", HintAddress: []byte{1}}, MechListMIC: []byte{7}},
	}
	for i, c := range cases {
		b, err := c.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := ParseToken(b)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		again, _ := got.Marshal()
		if !bytes.Equal(again, b) {
			t.Errorf("case %d does not round-trip", i)
		}
		if (got.NegHints == nil) != (c.NegHints == nil) || !bytes.Equal(got.MechListMIC, c.MechListMIC) || !bytes.Equal(got.MechToken, c.MechToken) {
			t.Errorf("case %d: %+v", i, got)
		}
	}
}

func TestParseRejects(t *testing.T) {
	good := readTokens(t, "testdata/mit-spnego-ntlm.txt")
	bad := map[string][]byte{
		"empty":                {},
		"truncated":            good[0][:len(good[0])-1],
		"trailing data":        append(append([]byte{}, good[3]...), 0),
		"other mechanism":      mustHex("600b06092a864886f712010202"),
		"BER indefinite":       mustHex("a180"),
		"non-minimal length":   mustHex("a1811b3019a0030a0100a312041001000000703661459070c5ae00000000"),
		"unknown negState":     mustHex("a1073005a0030a0109"),
		"not a choice":         mustHex("3000"),
		"empty mechTypes":      mustHex("600c06062b0601050502a0023000"),
		"init without mechs":   mustHex("600e06062b0601050502a0043002a200"),
		"NTLM without framing": []byte("NTLMSSP\x00\x01\x00\x00\x00"),
	}
	for name, b := range bad {
		if _, _, err := ParseToken(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}
