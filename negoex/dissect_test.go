package negoex

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/gossp/gossp/internal/interop/dissect"
	"github.com/gossp/gossp/sspi"
)

// Every NegoEx token we emit must be dissected cleanly by Wireshark's negoex dissector,
// which must read back each message's type, sequence number and auth scheme. MIT's own
// tokens go through the same checks, as a control.

// ourConversation runs a negoextest-clone conversation and returns our tokens in wire
// order, the initiator's first.
func ourConversation(t *testing.T, hops int, initKeys, noOptimist bool) [][]byte {
	t.Helper()
	p, err := New(Config{Schemes: mitSchemes(hops, initKeys), NoOptimisticToken: noOptimist})
	if err != nil {
		t.Fatal(err)
	}
	cred, _ := p.AcquireCredentials(context.Background(), sspi.CredentialRequest{Use: sspi.CredentialsBoth})
	ini, _ := cred.NewInitiator(sspi.ContextConfig{})
	acc, _ := cred.NewAcceptor(sspi.ContextConfig{})
	ctx := context.Background()
	var wire [][]byte
	var in []byte
	for range 8 {
		out, st, err := ini.InitializeContext(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) > 0 {
			wire = append(wire, out)
		}
		if st == sspi.StatusOK && len(out) == 0 {
			return wire
		}
		back, ast, err := acc.AcceptContext(ctx, out)
		if err != nil {
			t.Fatal(err)
		}
		if len(back) > 0 {
			wire = append(wire, back)
		}
		if ast == sspi.StatusOK && st == sspi.StatusOK {
			return wire
		}
		if ast == sspi.StatusOK && len(back) == 0 {
			return wire
		}
		in = back
	}
	t.Fatal("conversation did not end")
	return nil
}

// checkAgainstTShark dissects one conversation and compares what tshark read with what
// our decoder reads.
func checkAgainstTShark(t *testing.T, wire [][]byte) {
	t.Helper()
	res := dissect.Options{Dissector: dissect.NegoEx}.Check(t, wire...)
	for i, tok := range res.Tokens {
		msgs, err := ParseMessages(wire[i])
		if err != nil {
			t.Fatalf("token %d: %v", i+1, err)
		}
		types := tok.Values("negoex.message.type")
		seqs := tok.Values("negoex.message.seq_num")
		convs := tok.Values("negoex.message.conv_id")
		if len(types) != len(msgs) || len(seqs) != len(msgs) || len(convs) != len(msgs) {
			t.Fatalf("token %d: tshark sees %d types, %d sequence numbers, %d conversation IDs; we see %d messages\n%s",
				i+1, len(types), len(seqs), len(convs), len(msgs), tok.Tree)
		}
		var schemes []string
		for j, m := range msgs {
			if typ, err := strconv.ParseUint(strings.TrimPrefix(types[j], "0x"), 16, 32); err != nil || MessageType(typ) != m.Type {
				t.Errorf("token %d message %d: tshark type %q, ours %v", i+1, j, types[j], m.Type)
			}
			if seqs[j] != strconv.Itoa(int(m.Seq)) {
				t.Errorf("token %d message %d: tshark seq %q, ours %d", i+1, j, seqs[j], m.Seq)
			}
			if convs[j] != m.ConversationID.String() {
				t.Errorf("token %d message %d: tshark conversation %q, ours %v", i+1, j, convs[j], m.ConversationID)
			}
			for _, g := range m.AuthSchemes {
				schemes = append(schemes, g.String())
			}
			if m.Type != InitiatorNego && m.Type != AcceptorNego {
				schemes = append(schemes, m.AuthScheme.String())
			}
		}
		// tshark 4.0 shows an ALERT's body as undissected negoex.data and names no auth
		// scheme for it; compare the schemes of the other messages.
		got := tok.Values("negoex.auth_scheme")
		if !hasAlert(msgs) && strings.Join(got, ",") != strings.Join(schemes, ",") {
			t.Errorf("token %d: tshark auth schemes %v, ours %v", i+1, got, schemes)
		}
	}
}

func hasAlert(msgs []*Message) bool {
	for _, m := range msgs {
		if m.Type == Alert {
			return true
		}
	}
	return false
}

func TestTSharkDissectsOurNegoEx(t *testing.T) {
	cases := []struct {
		name                 string
		hops                 int
		initKeys, noOptimist bool
	}{
		{"one hop", 1, false, false},
		{"two hops", 2, false, false},
		{"VERIFY_NO_KEY alert", 3, true, false},
		{"no optimistic token", 2, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkAgainstTShark(t, ourConversation(t, c.hops, c.initKeys, c.noOptimist))
		})
	}
}

func TestTSharkDissectsMITNegoEx(t *testing.T) {
	for _, s := range loadMIT(t) {
		t.Run(s.name, func(t *testing.T) { checkAgainstTShark(t, s.tokens) })
	}
}
