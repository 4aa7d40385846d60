package negoex

import (
	"context"
	"testing"

	"github.com/gossp/gossp/sspi"
)

// mitTokens seeds the fuzzers with MIT's real NegoEx tokens.
func mitTokens(f *testing.F) {
	for _, s := range loadMIT(f) {
		for _, tok := range s.tokens {
			f.Add(tok)
		}
	}
}

func FuzzParseMessages(f *testing.F) {
	mitTokens(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := ParseMessages(b)
		if err != nil {
			if !sspi.StatusOf(err).IsFailure() {
				t.Fatalf("error without a failure status: %v", err)
			}
			return
		}
		// What parses re-encodes to a token that parses to the same messages.
		var again []byte
		for _, m := range msgs {
			again = m.Append(again)
		}
		back, err := ParseMessages(again)
		if err != nil || len(back) != len(msgs) {
			t.Fatalf("re-encoded token does not parse: %v", err)
		}
		for i := range msgs {
			a, b := msgs[i], back[i]
			if a.Type != b.Type || a.Seq != b.Seq || a.ConversationID != b.ConversationID ||
				string(a.Exchange) != string(b.Exchange) || string(a.Checksum) != string(b.Checksum) ||
				len(a.AuthSchemes) != len(b.AuthSchemes) || len(a.Alerts) != len(b.Alerts) || len(a.Extensions) != len(b.Extensions) {
				t.Fatalf("message %d changed in a round trip", i)
			}
		}
	})
}

// FuzzStateMachine feeds arbitrary bytes to each leg of both sides.
func FuzzStateMachine(f *testing.F) {
	mitTokens(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(err error) {
			if err != nil && !sspi.StatusOf(err).IsFailure() {
				t.Fatalf("error without a failure status: %v", err)
			}
		}
		ctx := context.Background()
		p, _ := New(Config{Schemes: mitSchemes(2, false)})
		cred, _ := p.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsBoth})
		acc, _ := cred.NewAcceptor(sspi.ContextConfig{})
		_, _, err := acc.AcceptContext(ctx, b)
		check(err)
		ini, _ := cred.NewInitiator(sspi.ContextConfig{})
		first, _, err := ini.InitializeContext(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = ini.InitializeContext(ctx, b)
		check(err)
		acc2, _ := cred.NewAcceptor(sspi.ContextConfig{})
		if _, _, err := acc2.AcceptContext(ctx, first); err != nil {
			t.Fatal(err)
		}
		_, _, err = acc2.AcceptContext(ctx, b)
		check(err)
	})
}
