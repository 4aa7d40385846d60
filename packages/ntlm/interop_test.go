package ntlm_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/gossp/gossp/internal/interop/gsspeer"
	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/sspi"
)

// Interop with gss-ntlmssp 1.2.0 through MIT GSS-API, both directions.

const (
	peerDomain   = "TESTDOM"
	peerUser     = "alice"
	peerPassword = "AlicePassw0rd!"
	peerUserFile = peerDomain + ":" + peerUser + ":" + peerPassword + "\n"
)

var protectFlags = sspi.FlagIntegrity | sspi.FlagConfidentiality | sspi.FlagReplayDetect | sspi.FlagSequenceDetect

// crossProtect exchanges wrap and MIC tokens both ways between our context and the peer.
func crossProtect(t *testing.T, ours sspi.SecurityContext, peer *gsspeer.Peer) {
	t.Helper()
	// No empty message: gss-ntlmssp refuses to wrap one.
	for i, msg := range [][]byte{[]byte("gossp to peer"), bytes.Repeat([]byte{0xA5}, 1000), {0}} {
		tok, err := ours.EncryptMessage(msg)
		if err != nil {
			t.Fatalf("EncryptMessage %d: %v", i, err)
		}
		got, encrypted, err := peer.Unwrap(tok)
		if err != nil || !bytes.Equal(got, msg) || !encrypted {
			t.Fatalf("peer unwrap of our token %d: %q encrypted=%v err=%v", i, got, encrypted, err)
		}
		ptok, err := peer.Wrap(msg, true)
		if err != nil {
			t.Fatalf("peer wrap %d: %v", i, err)
		}
		if got, err := ours.DecryptMessage(ptok); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("DecryptMessage of the peer's token %d: %q %v", i, got, err)
		}
		sig, err := ours.MakeSignature(msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := peer.Verify(msg, sig); err != nil {
			t.Fatalf("peer rejects our MIC %d: %v", i, err)
		}
		psig, err := peer.MIC(msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := ours.VerifySignature(msg, psig); err != nil {
			t.Fatalf("we reject the peer's MIC %d: %v", i, err)
		}
	}
	// A tampered peer token must be refused.
	ptok, err := peer.Wrap([]byte("tamper"), true)
	if err != nil {
		t.Fatal(err)
	}
	ptok[len(ptok)-1] ^= 1
	if _, err := ours.DecryptMessage(ptok); !errors.Is(err, sspi.ErrMessageAltered) {
		t.Fatalf("tampered peer token: %v, want SEC_E_MESSAGE_ALTERED", err)
	}
}

func TestInteropGSSNTLMSSPAcceptor(t *testing.T) {
	env := gsspeer.NTLMSSPEnv(t, peerUserFile)
	p := ntlm.New(ntlm.Config{Workstation: "GOSSPTEST"})
	for _, c := range []struct {
		name     string
		password string
		wantOK   bool
	}{{"right password", peerPassword, true}, {"wrong password", "nope", false}} {
		t.Run(c.name, func(t *testing.T) {
			peer := gsspeer.Start(t, gsspeer.Options{Role: "acceptor", Mech: "ntlm", Env: env})
			cred := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
				Identity: &sspi.Identity{User: peerUser, Domain: peerDomain, Password: c.password}})
			ini, err := cred.NewInitiator(sspi.ContextConfig{Target: "HTTP/localhost", Flags: protectFlags})
			if err != nil {
				t.Fatal(err)
			}
			defer ini.Close()
			_, err = initiateTo(t, ini, peer)
			if !c.wantOK {
				if !errors.Is(err, gsspeer.ErrPeer) {
					t.Fatalf("wrong password: %v, want the peer to refuse", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			info, err := peer.Info()
			if err != nil {
				t.Fatal(err)
			}
			// gss-ntlmssp's display name carries its C string's NUL.
			if strings.TrimRight(info.Initiator, "\x00") != peerDomain+`\`+peerUser {
				t.Errorf("peer saw initiator %q", info.Initiator)
			}
			crossProtect(t, ini, peer)
		})
	}
}

func TestInteropGSSNTLMSSPInitiator(t *testing.T) {
	env := gsspeer.NTLMSSPEnv(t, peerUserFile)
	users, err := ntlm.ParseUserFile([]byte(peerUserFile))
	if err != nil {
		t.Fatal(err)
	}
	p := ntlm.New(ntlm.Config{})
	cred := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: users})
	for _, c := range []struct {
		name     string
		password string
		wantOK   bool
	}{{"right password", peerPassword, true}, {"wrong password", "nope", false}} {
		t.Run(c.name, func(t *testing.T) {
			peer := gsspeer.Start(t, gsspeer.Options{Role: "initiator", Mech: "ntlm", Env: env,
				User: peerDomain + `\` + peerUser, Password: c.password, Target: "HTTP@localhost"})
			acc, err := cred.NewAcceptor(sspi.ContextConfig{Flags: protectFlags})
			if err != nil {
				t.Fatal(err)
			}
			defer acc.Close()
			_, err = acceptFrom(t, acc, peer)
			if !c.wantOK {
				if !errors.Is(err, sspi.ErrLogonDenied) {
					t.Fatalf("wrong password: %v, want SEC_E_LOGON_DENIED", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			a := acc.Attributes()
			if a.ClientName != peerDomain+`\`+peerUser || a.Flags&sspi.FlagConfidentiality == 0 {
				t.Errorf("attributes %+v", a)
			}
			crossProtect(t, acc, peer)
		})
	}
}
