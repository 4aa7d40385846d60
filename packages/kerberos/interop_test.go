package kerberos_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/gossp/gossp/internal/interop/gsspeer"
	"github.com/gossp/gossp/internal/interop/krb5kdc"
	"github.com/gossp/gossp/negotiate"
	"github.com/gossp/gossp/packages/kerberos"
	"github.com/gossp/gossp/sspi"
	"github.com/gossp/gossp/sspi/sspitest"
)

// Interop with MIT krb5 (KDC, and GSS-API through python3-gssapi), both directions,
// bare krb5 and through SPNEGO (ours: negotiate.Package with mechListMIC).

func livePackage(t *testing.T, k *krb5kdc.KDC, now func() time.Time) *kerberos.Package {
	t.Helper()
	conf, err := config.Load(k.Krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	return kerberos.New(kerberos.Config{Krb5Conf: conf, Now: now})
}

func userIdentity(pw string) *sspi.Identity {
	return &sspi.Identity{User: krb5kdc.User + "@" + krb5kdc.Realm, Password: pw}
}

// wrapPkg returns p, or Negotiate around it for the SPNEGO runs.
func wrapPkg(t *testing.T, p *kerberos.Package, mech string) sspi.Package {
	if mech != "spnego" {
		return p
	}
	n, err := negotiate.New(negotiate.Config{Packages: []sspi.Package{p}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func initiateTo(t *testing.T, ini sspi.Initiator, peer *gsspeer.Peer) error {
	t.Helper()
	var in []byte
	for i := 0; i < 6; i++ {
		out, st, err := ini.InitializeContext(context.Background(), in)
		if err != nil {
			return err
		}
		var done bool
		if len(out) > 0 {
			in, done, err = peer.Step(out)
			if err != nil {
				return err
			}
		}
		if st == sspi.StatusOK {
			if !done && len(out) > 0 {
				return errors.New("peer not complete when we are")
			}
			return nil
		}
	}
	return errors.New("too many legs")
}

func acceptFrom(t *testing.T, acc sspi.Acceptor, peer *gsspeer.Peer) error {
	t.Helper()
	tok, _, err := peer.Step(nil)
	if err != nil {
		return err
	}
	for i := 0; i < 6; i++ {
		out, st, err := acc.AcceptContext(context.Background(), tok)
		if err != nil {
			return err
		}
		var done bool
		if len(out) > 0 {
			tok, done, err = peer.Step(out)
			if err != nil {
				return err
			}
		}
		if st == sspi.StatusOK {
			_ = done
			return nil
		}
	}
	return errors.New("too many legs")
}

// crossProtect exchanges wrap and MIC tokens both ways between our context and the peer.
func crossProtect(t *testing.T, ours sspi.SecurityContext, peer *gsspeer.Peer) {
	t.Helper()
	for i, msg := range [][]byte{[]byte("gossp to peer"), bytes.Repeat([]byte{0xA5}, 1000), {0}} {
		tok, err := ours.EncryptMessage(msg)
		if err != nil {
			t.Fatalf("EncryptMessage %d: %v", i, err)
		}
		got, encrypted, err := peer.Unwrap(tok)
		if err != nil || !bytes.Equal(got, msg) || !encrypted {
			t.Fatalf("peer unwrap of our token %d: %q encrypted=%v err=%v", i, got, encrypted, err)
		}
		for _, conf := range []bool{true, false} {
			ptok, err := peer.Wrap(msg, conf)
			if err != nil {
				t.Fatalf("peer wrap %d: %v", i, err)
			}
			if got, err := ours.DecryptMessage(ptok); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("DecryptMessage of the peer's token %d (conf %v): %q %v", i, conf, got, err)
			}
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
	ptok, err := peer.Wrap([]byte("tamper"), true)
	if err != nil {
		t.Fatal(err)
	}
	ptok[len(ptok)-1] ^= 1
	if _, err := ours.DecryptMessage(ptok); !errors.Is(err, sspi.ErrMessageAltered) {
		t.Fatalf("tampered peer token: %v, want SEC_E_MESSAGE_ALTERED", err)
	}
}

func TestInteropMITAcceptor(t *testing.T) {
	k := krb5kdc.Start(t)
	for _, mech := range []string{"krb5", "spnego"} {
		t.Run(mech, func(t *testing.T) {
			p := wrapPkg(t, livePackage(t, k, nil), mech)
			peer := gsspeer.Start(t, gsspeer.Options{Role: "acceptor", Mech: mech, Env: k.Env})
			cred := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsOutbound, Identity: userIdentity(krb5kdc.Password)})
			ini, err := cred.NewInitiator(sspi.ContextConfig{Target: "HTTP/localhost", Flags: protectFlags})
			if err != nil {
				t.Fatal(err)
			}
			defer ini.Close()
			if err := initiateTo(t, ini, peer); err != nil {
				t.Fatal(err)
			}
			info, err := peer.Info()
			if err != nil {
				t.Fatal(err)
			}
			if info.Initiator != "user@EXAMPLE.TEST" {
				t.Errorf("peer saw initiator %q", info.Initiator)
			}
			kc, ok := sspi.ContextAs[kerberos.Context](ini)
			if !ok {
				t.Fatal("no Kerberos context inside")
			}
			t.Logf("%s: enctype %d, flags %v", mech, kc.EncType(), ini.Attributes().Flags)
			crossProtect(t, ini, peer)
		})
	}
	t.Run("ccache", func(t *testing.T) {
		k.Kinit(t)
		p := livePackage(t, k, nil)
		peer := gsspeer.Start(t, gsspeer.Options{Role: "acceptor", Mech: "krb5", Env: k.Env})
		cred := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsOutbound, Material: kerberos.CCache{Path: "FILE:" + filepath.Join(k.Dir, "ccache")}})
		ini, _ := cred.NewInitiator(sspi.ContextConfig{Target: "HTTP@localhost", Flags: protectFlags})
		defer ini.Close()
		if err := initiateTo(t, ini, peer); err != nil {
			t.Fatal(err)
		}
		crossProtect(t, ini, peer)
	})
	t.Run("wrong password", func(t *testing.T) {
		p := livePackage(t, k, nil)
		cred := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsOutbound, Identity: userIdentity("nope")})
		ini, _ := cred.NewInitiator(sspi.ContextConfig{Target: "HTTP/localhost", Flags: protectFlags})
		defer ini.Close()
		if _, _, err := ini.InitializeContext(context.Background(), nil); !errors.Is(err, sspi.ErrLogonDenied) {
			t.Fatalf("wrong password: %v, want SEC_E_LOGON_DENIED", err)
		}
	})
	t.Run("unknown target", func(t *testing.T) {
		p := livePackage(t, k, nil)
		cred := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsOutbound, Identity: userIdentity(krb5kdc.Password)})
		ini, _ := cred.NewInitiator(sspi.ContextConfig{Target: "HTTP/nowhere.example.test", Flags: protectFlags})
		defer ini.Close()
		if _, _, err := ini.InitializeContext(context.Background(), nil); !errors.Is(err, sspi.ErrTargetUnknown) {
			t.Fatalf("unknown target: %v, want SEC_E_TARGET_UNKNOWN", err)
		}
	})
	t.Run("skewed clock", func(t *testing.T) {
		p := livePackage(t, k, func() time.Time { return time.Now().Add(-20 * time.Minute) })
		peer := gsspeer.Start(t, gsspeer.Options{Role: "acceptor", Mech: "krb5", Env: k.Env})
		cred := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsOutbound, Identity: userIdentity(krb5kdc.Password)})
		ini, _ := cred.NewInitiator(sspi.ContextConfig{Target: "HTTP/localhost", Flags: protectFlags})
		defer ini.Close()
		if err := initiateTo(t, ini, peer); !errors.Is(err, gsspeer.ErrPeer) {
			t.Fatalf("skewed authenticator to MIT: %v, want MIT to refuse", err)
		}
	})
}

func TestInteropMITInitiator(t *testing.T) {
	k := krb5kdc.Start(t)
	for _, mech := range []string{"krb5", "spnego"} {
		t.Run(mech, func(t *testing.T) {
			p := wrapPkg(t, livePackage(t, k, nil), mech)
			var material any = kerberos.Keytab{Path: k.Keytab}
			if mech == "spnego" {
				material = negotiate.Options{Material: map[string]any{"Kerberos": material}}
			}
			cred := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: material})
			peer := gsspeer.Start(t, gsspeer.Options{Role: "initiator", Mech: mech, Env: k.Env,
				User: krb5kdc.User + "@" + krb5kdc.Realm, Password: krb5kdc.Password, Target: "HTTP@localhost"})
			acc, err := cred.NewAcceptor(sspi.ContextConfig{Flags: protectFlags})
			if err != nil {
				t.Fatal(err)
			}
			defer acc.Close()
			if err := acceptFrom(t, acc, peer); err != nil {
				t.Fatal(err)
			}
			a := acc.Attributes()
			if a.ClientName != "user@EXAMPLE.TEST" || a.Authority != "EXAMPLE.TEST" {
				t.Errorf("attributes %+v", a)
			}
			kc, _ := sspi.ContextAs[kerberos.Context](acc)
			t.Logf("%s: enctype %d, flags %v, %d authorization data elements", mech, kc.EncType(), a.Flags, len(kc.AuthorizationData()))
			crossProtect(t, acc, peer)
		})
	}
	first := func(t *testing.T) []byte {
		peer := gsspeer.Start(t, gsspeer.Options{Role: "initiator", Mech: "krb5", Env: k.Env,
			User: krb5kdc.User + "@" + krb5kdc.Realm, Password: krb5kdc.Password, Target: "HTTP@localhost"})
		tok, _, err := peer.Step(nil)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	accept := func(p *kerberos.Package, kt any, tok []byte) error {
		cred := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: kt})
		acc, _ := cred.NewAcceptor(sspi.ContextConfig{})
		defer acc.Close()
		_, _, err := acc.AcceptContext(context.Background(), tok)
		return err
	}
	t.Run("replay", func(t *testing.T) {
		p := livePackage(t, k, nil)
		cred := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: kerberos.Keytab{Path: k.Keytab}})
		tok := first(t)
		for i, want := range []error{nil, sspi.ErrLogonDenied} {
			acc, _ := cred.NewAcceptor(sspi.ContextConfig{})
			_, _, err := acc.AcceptContext(context.Background(), tok)
			acc.Close()
			if (want == nil && err != nil) || (want != nil && !errors.Is(err, want)) {
				t.Fatalf("AP-REQ %d: %v, want %v", i, err, want)
			}
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		real, err := keytab.Load(k.Keytab)
		if err != nil {
			t.Fatal(err)
		}
		bad := keytab.New()
		for _, e := range real.Entries {
			if err := bad.AddEntry(krb5kdc.Service, krb5kdc.Realm, "not the key", time.Now(), e.KVNO8, e.Key.KeyType); err != nil {
				t.Fatal(err)
			}
		}
		if err := accept(livePackage(t, k, nil), kerberos.Keytab{Keytab: bad}, first(t)); !errors.Is(err, sspi.ErrLogonDenied) {
			t.Fatalf("wrong key: %v, want SEC_E_LOGON_DENIED", err)
		}
	})
	t.Run("skewed clock", func(t *testing.T) {
		p := livePackage(t, k, func() time.Time { return time.Now().Add(10 * time.Minute) })
		if err := accept(p, kerberos.Keytab{Path: k.Keytab}, first(t)); !errors.Is(err, sspi.ErrTimeSkew) {
			t.Fatalf("skewed clock: %v, want SEC_E_TIME_SKEW", err)
		}
	})
}

func TestInteropConformance(t *testing.T) {
	k := krb5kdc.Start(t)
	p := livePackage(t, k, nil)
	ini := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsOutbound, Identity: userIdentity(krb5kdc.Password)})
	bad := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsOutbound, Identity: userIdentity("wrong")})
	acc := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: kerberos.Keytab{Path: k.Keytab}})
	// Log in once before the suite, so gokrb5's TGT renewal goroutine predates its leak check.
	if _, _, err := handshake(t, ini, acc, sspi.ContextConfig{Target: "HTTP/localhost", Flags: protectFlags}, sspi.ContextConfig{}); err != nil {
		t.Fatal(err)
	}
	sspitest.Run(t, sspitest.Config{
		Initiator: ini, Acceptor: acc, BadInitiator: bad, Target: "HTTP/localhost",
		ExpectedClientName: "user@EXAMPLE.TEST", ChannelBindings: true,
	})
}
