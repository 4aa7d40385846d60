package kerberos_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gossp/gossp/packages/kerberos"
	"github.com/gossp/gossp/sspi"
	"github.com/gossp/gossp/sspi/sspitest"
)

var protectFlags = sspi.FlagMutualAuth | sspi.FlagIntegrity | sspi.FlagConfidentiality | sspi.FlagReplayDetect | sspi.FlagSequenceDetect

func TestInfo(t *testing.T) {
	info := kerberos.New(kerberos.Config{}).Info()
	if info.Capabilities != 0x0042B3BF || info.RPCID != 16 || info.MaxToken != 48000 || info.Name != "Kerberos" {
		t.Fatalf("info %+v", info)
	}
	t.Logf("capabilities: %v", info.Capabilities)
}

// TestConformance runs sspitest with tickets minted in-process (no KDC) for each
// enctype gokrb5 supports for RFC 4121.
func TestConformance(t *testing.T) {
	for _, et := range []int32{17, 18, 19, 20} {
		t.Run(fmt.Sprint("etype", et), func(t *testing.T) {
			p := kerberos.New(kerberos.Config{})
			ini, acc, bad := creds(t, p, et)
			sspitest.Run(t, sspitest.Config{
				Initiator:          ini,
				Acceptor:           acc,
				BadInitiator:       bad,
				Target:             testSPN,
				ExpectedClientName: "alice@" + testRealm,
				ChannelBindings:    true,
			})
		})
	}
}

func TestConformanceNoMutual(t *testing.T) {
	p := kerberos.New(kerberos.Config{})
	ini, acc, bad := creds(t, p, 18)
	sspitest.Run(t, sspitest.Config{
		Initiator: ini, Acceptor: acc, BadInitiator: bad, Target: "HTTP@server.example.test",
		Flags: sspi.FlagIntegrity | sspi.FlagConfidentiality | sspi.FlagReplayDetect | sspi.FlagSequenceDetect,
	})
}

func TestRefusals(t *testing.T) {
	ctx := context.Background()
	t.Run("replay", func(t *testing.T) {
		p := kerberos.New(kerberos.Config{})
		ini, acc, _ := creds(t, p, 18)
		i, _ := ini.NewInitiator(sspi.ContextConfig{Target: testSPN, Flags: protectFlags})
		tok, _, err := i.InitializeContext(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		a1, _ := acc.NewAcceptor(sspi.ContextConfig{})
		if _, _, err := a1.AcceptContext(ctx, tok); err != nil {
			t.Fatal(err)
		}
		a2, _ := acc.NewAcceptor(sspi.ContextConfig{})
		out, _, err := a2.AcceptContext(ctx, tok)
		if !errors.Is(err, sspi.ErrLogonDenied) {
			t.Fatalf("replayed AP-REQ: %v, want SEC_E_LOGON_DENIED", err)
		}
		t.Logf("replay: %v", err)
		// The KRB-ERROR token the acceptor sends back gives the initiator the status.
		_, _, ierr := i.InitializeContext(ctx, out)
		if !errors.Is(ierr, sspi.ErrLogonDenied) {
			t.Fatalf("initiator given KRB_AP_ERR_REPEAT: %v", ierr)
		}
	})
	t.Run("skew", func(t *testing.T) {
		kt := serviceKeytab(t, "service-secret")
		skewed := func() time.Time { return time.Now().Add(-10 * time.Minute) }
		pi := kerberos.New(kerberos.Config{Now: skewed})
		pa := kerberos.New(kerberos.Config{})
		ini := acquire(t, pi, sspi.CredentialRequest{Use: sspi.CredentialsOutbound, Material: minter{kt: kt, etype: 17}})
		acc := acquire(t, pa, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: kerberos.Keytab{Keytab: kt}})
		i, _ := ini.NewInitiator(sspi.ContextConfig{Target: testSPN, Flags: protectFlags})
		tok, _, _ := i.InitializeContext(ctx, nil)
		a, _ := acc.NewAcceptor(sspi.ContextConfig{})
		out, _, err := a.AcceptContext(ctx, tok)
		if !errors.Is(err, sspi.ErrTimeSkew) {
			t.Fatalf("skewed authenticator: %v, want SEC_E_TIME_SKEW", err)
		}
		if _, _, err := i.InitializeContext(ctx, out); !errors.Is(err, sspi.ErrTimeSkew) {
			t.Fatalf("initiator given KRB_AP_ERR_SKEW: %v", err)
		}
		// A wider policy accepts it.
		wide := acquire(t, kerberos.New(kerberos.Config{ClockSkew: 15 * time.Minute}), sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: kerberos.Keytab{Keytab: kt}})
		if _, _, err := handshake(t, ini, wide, sspi.ContextConfig{Target: testSPN, Flags: protectFlags}, sspi.ContextConfig{}); err != nil {
			t.Fatalf("15-minute policy: %v", err)
		}
	})
	t.Run("expired", func(t *testing.T) {
		kt := serviceKeytab(t, "service-secret")
		old := func() time.Time { return time.Now().Add(-11 * time.Hour) }
		p := kerberos.New(kerberos.Config{})
		ini := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsOutbound, Material: minter{kt: kt, etype: 18, now: old}})
		acc := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: kerberos.Keytab{Keytab: kt}})
		if _, _, err := handshake(t, ini, acc, sspi.ContextConfig{Target: testSPN, Flags: protectFlags}, sspi.ContextConfig{}); !errors.Is(err, sspi.ErrTimeSkew) {
			t.Fatalf("expired ticket: %v, want SEC_E_TIME_SKEW", err)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		p := kerberos.New(kerberos.Config{})
		_, acc, bad := creds(t, p, 18)
		if _, _, err := handshake(t, bad, acc, sspi.ContextConfig{Target: testSPN, Flags: protectFlags}, sspi.ContextConfig{}); !errors.Is(err, sspi.ErrLogonDenied) {
			t.Fatalf("wrong key: %v", err)
		}
	})
	t.Run("unknown target", func(t *testing.T) {
		p := kerberos.New(kerberos.Config{})
		ini, _, _ := creds(t, p, 18)
		i, _ := ini.NewInitiator(sspi.ContextConfig{Target: "nonsense", Flags: protectFlags})
		if _, _, err := i.InitializeContext(ctx, nil); !errors.Is(err, sspi.ErrTargetUnknown) {
			t.Fatalf("unknown target: %v", err)
		}
	})
	t.Run("bindings", func(t *testing.T) {
		p := kerberos.New(kerberos.Config{})
		ini, acc, _ := creds(t, p, 18)
		cb := &sspi.ChannelBindings{ApplicationData: []byte("tls-server-end-point:abc")}
		if _, _, err := handshake(t, ini, acc, sspi.ContextConfig{Target: testSPN, Flags: protectFlags}, sspi.ContextConfig{ChannelBindings: cb}); !errors.Is(err, sspi.ErrBadBindings) {
			t.Fatalf("missing bindings: %v", err)
		}
	})
}

// TestWrapVariants checks unsealed wrap tokens and tokens with a non-zero RRC, as
// Windows sends them.
func TestWrapVariants(t *testing.T) {
	p := kerberos.New(kerberos.Config{})
	ini, acc, _ := creds(t, p, 18)
	i, a, err := handshake(t, ini, acc, sspi.ContextConfig{Target: testSPN, Flags: protectFlags}, sspi.ContextConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ik := i.(*kerberos.Initiator)
	ak := a.(*kerberos.Acceptor)
	msg := []byte("hello, rotated world")
	for _, conf := range []bool{false, true} {
		for _, rrc := range []int{0, 12, 28, 1000} {
			tok, err := ik.Wrap(msg, conf)
			if err != nil {
				t.Fatal(err)
			}
			tok = rotate(tok, rrc)
			got, sealed, err := ak.Unwrap(tok)
			if err != nil || !bytes.Equal(got, msg) || sealed != conf {
				t.Fatalf("conf=%v rrc=%d: %q sealed=%v %v", conf, rrc, got, sealed, err)
			}
		}
	}
	if ak.EncType() != 18 {
		t.Errorf("EncType %d", ak.EncType())
	}
}

// rotate sets RRC to n and rotates the token body right by n, as RFC 4121 4.2.5 says.
func rotate(tok []byte, n int) []byte {
	body := tok[16:]
	r := n % len(body)
	out := append([]byte(nil), tok[:16]...)
	out[6], out[7] = byte(n>>8), byte(n)
	out = append(out, body[len(body)-r:]...)
	return append(out, body[:len(body)-r]...)
}
