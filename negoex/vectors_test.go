package negoex

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/gossp/gossp/negotiate"
	"github.com/gossp/gossp/sspi"
)

// The MIT krb5 1.20.1 negoextest conversations in testdata/ (from ../shared/testdata):
// SPNEGO tokens carrying NegoEx, with the VERIFY keys stated in the file.

var (
	mitInitiatorKey = Key{Etype: 18, Value: append([]byte{1}, make([]byte, 31)...)}
	mitAcceptorKey  = Key{Etype: 18, Value: make([]byte, 32)}
)

// mitScenario is one recorded conversation: the NegoEx tokens in wire order, and
// whether each came from the initiator.
type mitScenario struct {
	name   string
	tokens [][]byte
	fromI  []bool
}

func loadMIT(t testing.TB) []mitScenario {
	t.Helper()
	f, err := os.Open("testdata/mit-1.20.1-negoextest.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []mitScenario
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "######## "); ok {
			out = append(out, mitScenario{name: strings.Fields(name)[0]})
			continue
		}
		dir, rest, _ := strings.Cut(line, " ")
		if (dir != "I->A" && dir != "A->I") || len(out) == 0 {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) < 2 {
			continue // an empty token: the end
		}
		raw, err := hex.DecodeString(fields[1])
		if err != nil {
			t.Fatal(err)
		}
		init, resp, err := negotiate.ParseToken(raw)
		if err != nil {
			t.Fatalf("%s: SPNEGO: %v", out[len(out)-1].name, err)
		}
		var tok []byte
		if init != nil {
			tok = init.MechToken
		} else {
			tok = resp.ResponseToken
		}
		if len(tok) == 0 {
			continue
		}
		s := &out[len(out)-1]
		s.tokens = append(s.tokens, tok)
		s.fromI = append(s.fromI, dir == "I->A")
	}
	if len(out) != 4 {
		t.Fatalf("%d scenarios in the MIT file, want 4", len(out))
	}
	return out
}

func TestMITVectors(t *testing.T) {
	for _, s := range loadMIT(t) {
		t.Run(s.name, func(t *testing.T) {
			var transcript []byte
			seq := uint32(0)
			verified := 0
			for i, tok := range s.tokens {
				msgs, err := ParseMessages(tok)
				if err != nil {
					t.Fatalf("token %d: %v", i, err)
				}
				var again []byte
				for _, m := range msgs {
					if m.Seq != seq {
						t.Errorf("token %d: %v seq %d, want %d", i, m.Type, m.Seq, seq)
					}
					seq++
					if m.Type == Verify {
						key, usage := mitAcceptorKey, uint32(usageAcceptorVerify)
						if s.fromI[i] {
							key, usage = mitInitiatorKey, usageInitiatorVerify
						}
						if err := checkChecksum(key, usage, transcript, m.ChecksumType, m.Checksum); err != nil {
							t.Errorf("token %d: MIT's VERIFY does not check: %v", i, err)
						}
						bad := bytes.Clone(transcript)
						bad[len(bad)/2] ^= 1
						if checkChecksum(key, usage, bad, m.ChecksumType, m.Checksum) == nil {
							t.Errorf("token %d: VERIFY checked over an altered transcript", i)
						}
						verified++
					}
					transcript = append(transcript, m.Raw...)
					again = m.Append(again)
				}
				if !bytes.Equal(again, tok) {
					t.Errorf("token %d re-encodes differently:\n got %x\nwant %x", i, again, tok)
				}
			}
			if verified < 2 {
				t.Errorf("only %d VERIFY messages checked", verified)
			}
		})
	}
}

// mitSchemes are negoextest's two schemes, in MIT's order.
func mitSchemes(hops int, initKeys bool) []Scheme {
	return []Scheme{
		{Package: &mitScheme{name: "negoextest1", guid: sspi.GUIDFromWire(mustHex("6985a2c0ac6600000000000000000000")), oid: mustHex("6985a2c0ac66"), hops: hops, initKeys: initKeys}, Priority: 2},
		{Package: &mitScheme{name: "negoextest2", guid: sspi.GUIDFromWire(mustHex("6984b0d1a82c00000000000000000000")), oid: mustHex("6984b0d1a82c"), hops: hops, initKeys: initKeys}, Priority: 1},
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Our initiator and our acceptor, each given MIT's randoms, produce MIT's bytes exactly.
func TestReproduceMIT(t *testing.T) {
	settings := map[string]struct {
		hops       int
		initKeys   bool
		noOptimist bool
	}{
		"out_hops1.txt": {1, false, false},
		"out_hops2.txt": {2, false, false},
		"out_alert.txt": {3, true, false},
		"out_noopt.txt": {2, false, true},
	}
	for _, s := range loadMIT(t) {
		set := settings[s.name]
		first, _ := ParseMessages(s.tokens[0])
		second, _ := ParseMessages(s.tokens[1])
		conv := first[0].ConversationID.AppendWire(nil)
		for _, side := range []string{"initiator", "acceptor"} {
			t.Run(s.name+"/"+side, func(t *testing.T) {
				rnd := second[0].Random[:]
				if side == "initiator" {
					rnd = append(append([]byte{}, conv...), first[0].Random[:]...)
				}
				p, err := New(Config{Schemes: mitSchemes(set.hops, set.initKeys), Rand: bytes.NewReader(rnd), NoOptimisticToken: set.noOptimist})
				if err != nil {
					t.Fatal(err)
				}
				cred, err := p.AcquireCredentials(context.Background(), sspi.CredentialRequest{Use: sspi.CredentialsBoth})
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.Background()
				var step func([]byte) ([]byte, sspi.Status, error)
				ours := 0 // index of our first token
				if side == "initiator" {
					c, _ := cred.NewInitiator(sspi.ContextConfig{})
					step = func(in []byte) ([]byte, sspi.Status, error) { return c.InitializeContext(ctx, in) }
				} else {
					c, _ := cred.NewAcceptor(sspi.ContextConfig{})
					step = func(in []byte) ([]byte, sspi.Status, error) { return c.AcceptContext(ctx, in) }
					ours = 1
				}
				var in []byte
				for i := ours; ; i += 2 {
					if i > 0 {
						in = s.tokens[i-1]
					}
					out, st, err := step(in)
					if err != nil {
						t.Fatalf("token %d: %v", i, err)
					}
					var want []byte
					if i < len(s.tokens) && s.fromI[i] == (side == "initiator") {
						want = s.tokens[i]
					}
					if !bytes.Equal(out, want) {
						t.Fatalf("token %d differs from MIT's:\n got %x\nwant %x", i, out, want)
					}
					if st == sspi.StatusOK {
						if i+1 < len(s.tokens) {
							t.Fatalf("complete at token %d of %d", i, len(s.tokens))
						}
						return
					}
					if i+1 >= len(s.tokens) {
						t.Fatalf("not complete after MIT's last token")
					}
				}
			})
		}
	}
}
