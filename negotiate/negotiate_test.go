package negotiate_test

import (
	"context"
	"encoding/asn1"
	"errors"
	"testing"

	"github.com/gossp/gossp/negotiate"
	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/packages/psk"
	"github.com/gossp/gossp/sspi"
	"github.com/gossp/gossp/sspi/sspitest"
)

const (
	domain   = "TESTDOM"
	user     = "alice"
	password = "AlicePassw0rd!"
)

var (
	users  = ntlm.Users{{Domain: domain, User: user, NTHash: ntlm.NTHash(password)}}
	pskKey = []byte("0123456789abcdef0123456789abcdef")
	// pskOID gives the PSK package a (private, test-only) mechanism OID so Negotiate
	// has a second mechanism to choose between.
	pskOID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
)

// oidPSK is PSK offered under a GSS mechanism OID.
type oidPSK struct{ *psk.Package }

func (p oidPSK) Info() sspi.PackageInfo {
	i := p.Package.Info()
	i.MechOID = pskOID
	return i
}

func newNegotiate(t testing.TB, policy string, pkgs ...sspi.Package) *negotiate.Package {
	t.Helper()
	p, err := negotiate.New(negotiate.Config{Packages: pkgs, Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func acquire(t testing.TB, p sspi.Package, req sspi.CredentialRequest) sspi.Credential {
	t.Helper()
	c, err := p.AcquireCredentials(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func clientReq(pw string) sspi.CredentialRequest {
	return sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
		Identity: &sspi.Identity{User: user, Domain: domain, Password: pw},
		Material: negotiate.Options{Material: map[string]any{psk.Name: psk.ClientKey{Identity: user, Key: pskKey}}}}
}

func serverReq() sspi.CredentialRequest {
	return sspi.CredentialRequest{Use: sspi.CredentialsInbound,
		Material: negotiate.Options{Material: map[string]any{ntlm.Name: users, psk.Name: psk.Keys{user: pskKey}}}}
}

func TestConformanceNTLM(t *testing.T) {
	n := newNegotiate(t, "", ntlm.New(ntlm.Config{}))
	sspitest.Run(t, sspitest.Config{
		AcceptorFirst:      true,
		Initiator:          acquire(t, n, clientReq(password)),
		Acceptor:           acquire(t, n, serverReq()),
		BadInitiator:       acquire(t, n, clientReq("wrong")),
		Target:             "HTTP/server.testdom.test",
		ExpectedClientName: domain + `\` + user,
		ChannelBindings:    true,
	})
}

// The initiator prefers a mechanism the acceptor lacks, as a Windows 11 client offers
// NegoEx first: the acceptor picks the later NTLM and the MIC exchange protects that.
func TestConformanceFallbackToLaterMechanism(t *testing.T) {
	client := newNegotiate(t, "", oidPSK{psk.New(psk.Config{})}, ntlm.New(ntlm.Config{}))
	server := newNegotiate(t, "", ntlm.New(ntlm.Config{}))
	sspitest.Run(t, sspitest.Config{
		AcceptorFirst:      true,
		Initiator:          acquire(t, client, clientReq(password)),
		Acceptor:           acquire(t, server, serverReq()),
		BadInitiator:       acquire(t, client, clientReq("wrong")),
		ExpectedClientName: domain + `\` + user,
	})
}

// Both sides have both mechanisms; the first (PSK, with mutual authentication) wins.
func TestConformanceFirstChoice(t *testing.T) {
	n := newNegotiate(t, "", oidPSK{psk.New(psk.Config{})}, ntlm.New(ntlm.Config{}))
	sspitest.Run(t, sspitest.Config{
		AcceptorFirst:      true,
		Initiator:          acquire(t, n, clientReq(password)),
		Acceptor:           acquire(t, n, serverReq()),
		ExpectedClientName: user,
		ChannelBindings:    true,
	})
}

// handshake drives two contexts, letting tamper rewrite each token on the wire.
func handshake(t *testing.T, ini sspi.Initiator, acc sspi.Acceptor, tamper func(i int, tok []byte) []byte) error {
	t.Helper()
	ctx := context.Background()
	var in []byte
	for i := 0; i < 10; i += 2 {
		out, st, err := ini.InitializeContext(ctx, in)
		if err != nil {
			return err
		}
		if len(out) == 0 {
			return nil
		}
		if tamper != nil {
			out = tamper(i, out)
		}
		back, ast, err := acc.AcceptContext(ctx, out)
		if err != nil {
			return err
		}
		if st == sspi.StatusOK && ast == sspi.StatusOK && len(back) == 0 {
			return nil
		}
		if tamper != nil && len(back) > 0 {
			back = tamper(i+1, back)
		}
		in = back
	}
	return errors.New("handshake did not finish")
}

// An attacker who strips the preferred mechanism from the initiator's list, to force
// a weaker one, is caught by the mechListMIC.
func TestDowngradeDetected(t *testing.T) {
	n := newNegotiate(t, "", oidPSK{psk.New(psk.Config{})}, ntlm.New(ntlm.Config{}))
	ini, _ := acquire(t, n, clientReq(password)).NewInitiator(sspi.ContextConfig{Flags: sspi.FlagIntegrity})
	acc, _ := acquire(t, n, serverReq()).NewAcceptor(sspi.ContextConfig{})
	err := handshake(t, ini, acc, func(i int, tok []byte) []byte {
		if i != 0 {
			return tok
		}
		init, _, err := negotiate.ParseToken(tok)
		if err != nil {
			t.Fatal(err)
		}
		forged := &negotiate.NegTokenInit{MechTypes: []asn1.ObjectIdentifier{negotiate.OIDNTLM}}
		out, err := forged.Marshal()
		if err != nil || len(init.MechTypes) != 2 {
			t.Fatalf("forging: %v, %v", err, init.MechTypes)
		}
		return out
	})
	if !errors.Is(err, sspi.ErrDowngradeDetected) {
		t.Fatalf("stripped mechanism list: %v, want SEC_E_DOWNGRADE_DETECTED", err)
	}
}

func TestPolicy(t *testing.T) {
	n := newNegotiate(t, "!ntlm", ntlm.New(ntlm.Config{}), oidPSK{psk.New(psk.Config{})})
	c := acquire(t, n, clientReq(password))
	ini, _ := c.NewInitiator(sspi.ContextConfig{})
	acc, _ := acquire(t, n, serverReq()).NewAcceptor(sspi.ContextConfig{})
	if err := handshake(t, ini, acc, nil); err != nil {
		t.Fatal(err)
	}
	if got := acc.Attributes().Package.Name; got != psk.Name {
		t.Fatalf("policy !ntlm chose %q", got)
	}
	if path := acc.Attributes().Path; len(path) != 2 || path[0] != negotiate.Name || path[1] != psk.Name {
		t.Errorf("path %v", path)
	}

	// A per-credential package list narrows the package's policy.
	n = newNegotiate(t, "", ntlm.New(ntlm.Config{}))
	req := clientReq(password)
	req.Material = negotiate.Options{PackageList: "kerberos,!ntlm"}
	if _, err := n.AcquireCredentials(context.Background(), req); !errors.Is(err, sspi.ErrNoCredentials) {
		t.Fatalf("kerberos,!ntlm with only NTLM: %v, want SEC_E_NO_CREDENTIALS", err)
	}
}

func TestNTLMFallbackPolicy(t *testing.T) {
	// NTLMOnlyIfNoOther: with PSK able to start, NTLM is not even offered.
	p, err := negotiate.New(negotiate.Config{
		Packages: []sspi.Package{ntlm.New(ntlm.Config{}), oidPSK{psk.New(psk.Config{})}},
		NTLM:     negotiate.NTLMOnlyIfNoOther,
	})
	if err != nil {
		t.Fatal(err)
	}
	ini, _ := acquire(t, p, clientReq(password)).NewInitiator(sspi.ContextConfig{})
	tok, _, err := ini.InitializeContext(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	init, _, err := negotiate.ParseToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(init.MechTypes) != 1 || !init.MechTypes[0].Equal(pskOID) {
		t.Fatalf("offered %v, want PSK alone", init.MechTypes)
	}
	// NTLMDenied: no credentials when NTLM is all there is.
	p, _ = negotiate.New(negotiate.Config{Packages: []sspi.Package{ntlm.New(ntlm.Config{})}, NTLM: negotiate.NTLMDenied})
	if _, err := p.AcquireCredentials(context.Background(), clientReq(password)); !errors.Is(err, sspi.ErrNoCredentials) {
		t.Fatalf("NTLMDenied: %v", err)
	}
}

func TestAcceptorFirstNegTokenInit2(t *testing.T) {
	n := newNegotiate(t, "", ntlm.New(ntlm.Config{}))
	acc, _ := acquire(t, n, serverReq()).NewAcceptor(sspi.ContextConfig{})
	hint, st, err := acc.AcceptContext(context.Background(), nil)
	if err != nil || st != sspi.StatusContinueNeeded {
		t.Fatal(err)
	}
	init, _, err := negotiate.ParseToken(hint)
	if err != nil || init.NegHints == nil || init.NegHints.HintName != "not_defined_in_RFC4178@please_ignore" {
		t.Fatalf("NegTokenInit2: %+v, %v", init, err)
	}
	ini, _ := acquire(t, n, clientReq(password)).NewInitiator(sspi.ContextConfig{})
	out, _, err := ini.InitializeContext(context.Background(), hint)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 4 {
		back, ast, err := acc.AcceptContext(ctx, out)
		if err != nil {
			t.Fatal(err)
		}
		if ast == sspi.StatusOK && len(back) == 0 {
			break
		}
		var ist sspi.Status
		if out, ist, err = ini.InitializeContext(ctx, back); err != nil {
			t.Fatal(err)
		}
		if ist == sspi.StatusOK && len(out) == 0 {
			break
		}
	}
	if !acc.Attributes().Established || !ini.Attributes().Established {
		t.Fatal("not established after an acceptor-first exchange")
	}
}

func TestContextAsReachesNTLM(t *testing.T) {
	n := newNegotiate(t, "", ntlm.New(ntlm.Config{}))
	ini, _ := acquire(t, n, clientReq(password)).NewInitiator(sspi.ContextConfig{Flags: sspi.FlagIntegrity})
	acc, _ := acquire(t, n, serverReq()).NewAcceptor(sspi.ContextConfig{})
	if err := handshake(t, ini, acc, nil); err != nil {
		t.Fatal(err)
	}
	a, ok := sspi.ContextAs[*ntlm.Acceptor](acc)
	if !ok || !a.NegotiatedFlags().Has(ntlm.FlagSign) {
		t.Fatalf("ContextAs[*ntlm.Acceptor]: %v", ok)
	}
}
