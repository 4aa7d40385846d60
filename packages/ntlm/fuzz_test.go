package ntlm_test

import (
	"context"
	"encoding/hex"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gossp/gossp/internal/interop/record"
	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/sspi"
)

// Seeds: the MS-NLMP 4.2 messages and every token of the recorded real conversations.

var vectorMessages = []string{
	"4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef00000000000000002400240044000000060070170000000f53006500720076006500720002000c0044006f006d00610069006e0001000c0053006500720076006500720000000000",
	"4e544c4d5353500003000000180018006c00000054005400840000000c000c00480000000800080054000000100010005c00000010001000d8000000358288e20501280a0000000f44006f006d00610069006e00550073006500720043004f004d005000550054004500520086c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa68cd0ab851e51c96aabc927bebef6a1c01010000000000000000000000000000aaaaaaaaaaaaaaaa0000000002000c0044006f006d00610069006e0001000c005300650072007600650072000000000000000000c5dad2544fc9799094ce1ce90bc9d03e",
}

func seedTokens(f *testing.F) [][]byte {
	f.Helper()
	var seeds [][]byte
	for _, s := range vectorMessages {
		b, _ := hex.DecodeString(s)
		seeds = append(seeds, b)
	}
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, p := range paths {
		conv, err := record.Load(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, t := range conv.Tokens {
			seeds = append(seeds, t)
		}
	}
	return seeds
}

// mustStatus fails unless err is nil or carries an SSPI failure status.
func mustStatus(t *testing.T, err error) {
	t.Helper()
	if err != nil && !sspi.StatusOf(err).IsFailure() {
		t.Fatalf("error without a failure status: %v", err)
	}
}

func FuzzParseMessages(f *testing.F) {
	for _, s := range seedTokens(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := ntlm.ParseNegotiate(b); err == nil {
			again, err := ntlm.ParseNegotiate(m.Marshal())
			if err != nil || again.Flags != m.Flags {
				t.Fatalf("NEGOTIATE does not survive a round trip: %v", err)
			}
		} else {
			mustStatus(t, err)
		}
		if m, err := ntlm.ParseChallenge(b); err == nil {
			again, err := ntlm.ParseChallenge(m.Marshal())
			if err != nil || again.ServerChallenge != m.ServerChallenge || !reflect.DeepEqual(again.TargetInfo, m.TargetInfo) {
				t.Fatalf("CHALLENGE does not survive a round trip: %v", err)
			}
		} else {
			mustStatus(t, err)
		}
		if m, err := ntlm.ParseAuthenticate(b); err == nil {
			again, err := ntlm.ParseAuthenticate(m.Marshal())
			if err != nil || again.User != m.User || again.Domain != m.Domain ||
				string(again.NTChallengeResponse) != string(m.NTChallengeResponse) {
				t.Fatalf("AUTHENTICATE does not survive a round trip: %v", err)
			}
		} else {
			mustStatus(t, err)
		}
		_, err := ntlm.ParseAVPairs(b)
		mustStatus(t, err)
	})
}

// FuzzHandshake feeds arbitrary bytes to each leg of live contexts.
func FuzzHandshake(f *testing.F) {
	for _, s := range seedTokens(f) {
		f.Add(s)
	}
	users := ntlm.Users{{Domain: "TESTDOM", User: "alice", NTHash: ntlm.NTHash("AlicePassw0rd!")}}
	p := ntlm.New(ntlm.Config{AllowAnonymous: true})
	ctx := context.Background()
	acc, err := p.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: users})
	if err != nil {
		f.Fatal(err)
	}
	ini, err := p.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
		Identity: &sspi.Identity{User: "alice", Domain: "TESTDOM", Password: "AlicePassw0rd!"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// Acceptor, first leg.
		a, _ := acc.NewAcceptor(sspi.ContextConfig{})
		_, _, err := a.AcceptContext(ctx, b)
		mustStatus(t, err)
		a.Close()
		// Acceptor, second leg after a real NEGOTIATE.
		c, _ := ini.NewInitiator(sspi.ContextConfig{Flags: sspi.FlagConfidentiality})
		neg, _, _ := c.InitializeContext(ctx, nil)
		a, _ = acc.NewAcceptor(sspi.ContextConfig{})
		if _, _, err := a.AcceptContext(ctx, neg); err != nil {
			t.Fatal(err)
		}
		_, st, err := a.AcceptContext(ctx, b)
		mustStatus(t, err)
		if err == nil && st == sspi.StatusOK && a.Attributes().ClientName != "" {
			t.Fatalf("arbitrary bytes authenticated as %q", a.Attributes().ClientName)
		}
		a.Close()
		// Initiator, second leg.
		_, _, err = c.InitializeContext(ctx, b)
		mustStatus(t, err)
		c.Close()
	})
}
