package negoex_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gossp/gossp/negoex"
	"github.com/gossp/gossp/negotiate"
	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/packages/psk"
	"github.com/gossp/gossp/sspi"
	"github.com/gossp/gossp/sspi/sspitest"
)

var key = []byte("0123456789abcdef0123456789abcdef")

// renamed is PSK under another name and auth scheme GUID: a second scheme for the
// multi-scheme tests.
type renamed struct {
	*psk.Package
	name string
	guid sspi.GUID
}

func (r renamed) Info() sspi.PackageInfo {
	i := r.Package.Info()
	i.Name, i.AuthScheme = r.name, r.guid
	return i
}

var (
	schemeA = renamed{psk.New(psk.Config{}), "PSK-A", sspi.MustParseGUID("11111111-2222-3333-4444-555555555555")}
	schemeB = renamed{psk.New(psk.Config{}), "PSK-B", sspi.MustParseGUID("66666666-7777-8888-9999-000000000000")}
)

// broken fails to start as an initiator, to test falling back to the next scheme.
type broken struct{ renamed }

func (b broken) AcquireCredentials(ctx context.Context, req sspi.CredentialRequest) (sspi.Credential, error) {
	c, err := b.renamed.AcquireCredentials(ctx, req)
	return brokenCred{c}, err
}

type brokenCred struct{ sspi.Credential }

func (b brokenCred) NewInitiator(cfg sspi.ContextConfig) (sspi.Initiator, error) {
	ini, err := b.Credential.NewInitiator(cfg)
	return brokenIni{ini}, err
}

type brokenIni struct{ sspi.Initiator }

func (brokenIni) InitializeContext(context.Context, []byte) ([]byte, sspi.Status, error) {
	return nil, sspi.ErrNoCredentials, sspi.Errorf(sspi.ErrNoCredentials, "this scheme never starts")
}

func pkg(t testing.TB, schemes ...negoex.Scheme) *negoex.Package {
	t.Helper()
	p, err := negoex.New(negoex.Config{Schemes: schemes})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func material(names ...string) negoex.Options {
	m := map[string]any{}
	for _, n := range names {
		m[n] = psk.Credentials{ClientKey: psk.ClientKey{Identity: "alice", Key: key}, KeyStore: psk.Keys{"alice": key}}
	}
	return negoex.Options{Material: m}
}

func creds(t testing.TB, p sspi.Package, m any) (ini, acc sspi.Credential) {
	t.Helper()
	ctx := context.Background()
	var err error
	if ini, err = p.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsOutbound, Material: m}); err != nil {
		t.Fatal(err)
	}
	if acc, err = p.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: m}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ini.Close(); acc.Close() })
	return ini, acc
}

// NegoEx on its own, as an sspi package.
func TestConformanceNegoExAlone(t *testing.T) {
	p := pkg(t, negoex.Scheme{Package: schemeA})
	ini, acc := creds(t, p, material("PSK-A"))
	sspitest.Run(t, sspitest.Config{Initiator: ini, Acceptor: acc, ExpectedClientName: "alice", ChannelBindings: true, ConcatenatedMessages: true})
}

// Negotiate -> NegoEx -> PSK, with NTLM after NegoEx as Windows orders them.
func TestConformanceThroughNegotiate(t *testing.T) {
	neg, err := negotiate.New(negotiate.Config{Packages: []sspi.Package{
		pkg(t, negoex.Scheme{Package: schemeA}, negoex.Scheme{Package: schemeB}),
		ntlm.New(ntlm.Config{}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	m := negotiate.Options{Material: map[string]any{negoex.Name: material("PSK-A", "PSK-B")}}
	ini, acc := creds(t, neg, m)
	sspitest.Run(t, sspitest.Config{Initiator: ini, Acceptor: acc, AcceptorFirst: true, ExpectedClientName: "alice"})
	// The path names every layer.
	c, _ := ini.NewInitiator(sspi.ContextConfig{})
	s, _ := acc.NewAcceptor(sspi.ContextConfig{})
	if err := drive(c, s); err != nil {
		t.Fatal(err)
	}
	if path := s.Attributes().Path; len(path) != 3 || path[0] != negotiate.Name || path[1] != negoex.Name || path[2] != "PSK-A" {
		t.Fatalf("path %v", path)
	}
}

func drive(ini sspi.Initiator, acc sspi.Acceptor) error {
	ctx := context.Background()
	var in []byte
	for range 10 {
		out, st, err := ini.InitializeContext(ctx, in)
		if err != nil {
			return err
		}
		if len(out) == 0 {
			break
		}
		back, ast, err := acc.AcceptContext(ctx, out)
		if err != nil {
			return err
		}
		if st == sspi.StatusOK && ast == sspi.StatusOK {
			break
		}
		in = back
	}
	if !ini.Attributes().Established || !acc.Attributes().Established {
		return errors.New("not established")
	}
	return nil
}

func TestSchemeSelection(t *testing.T) {
	cases := []struct {
		name      string
		client    []negoex.Scheme
		server    []negoex.Scheme
		want      string
		wantError bool
	}{
		{"optimistic accepted", []negoex.Scheme{{Package: schemeA, Priority: 2}, {Package: schemeB, Priority: 1}},
			[]negoex.Scheme{{Package: schemeA, Priority: 2}, {Package: schemeB, Priority: 1}}, "PSK-A", false},
		{"optimistic refused, re-selected", []negoex.Scheme{{Package: schemeA, Priority: 2}, {Package: schemeB, Priority: 1}},
			[]negoex.Scheme{{Package: schemeB}}, "PSK-B", false},
		{"acceptor's preference wins", []negoex.Scheme{{Package: schemeA, Priority: 2}, {Package: schemeB, Priority: 1}},
			[]negoex.Scheme{{Package: schemeA, Priority: 1}, {Package: schemeB, Priority: 2}}, "PSK-B", false},
		{"failing scheme falls back", []negoex.Scheme{{Package: broken{schemeA}, Priority: 2}, {Package: schemeB, Priority: 1}},
			[]negoex.Scheme{{Package: schemeA}, {Package: schemeB}}, "PSK-B", false},
		{"nothing in common", []negoex.Scheme{{Package: schemeA}}, []negoex.Scheme{{Package: schemeB}}, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ini, _ := creds(t, pkg(t, c.client...), material("PSK-A", "PSK-B"))
			_, acc := creds(t, pkg(t, c.server...), material("PSK-A", "PSK-B"))
			ic, _ := ini.NewInitiator(sspi.ContextConfig{})
			ac, _ := acc.NewAcceptor(sspi.ContextConfig{})
			err := drive(ic, ac)
			if c.wantError {
				if !errors.Is(err, sspi.ErrNoCredentials) {
					t.Fatalf("got %v, want SEC_E_NO_CREDENTIALS", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := ac.Attributes().Package.Name; got != c.want {
				t.Fatalf("selected %q, want %q", got, c.want)
			}
			if got := ic.Attributes().Package.Name; got != c.want {
				t.Fatalf("initiator says %q, want %q", got, c.want)
			}
		})
	}
}

// A Windows 11 style client offers NegoEx first; an acceptor without NegoEx picks the
// later NTLM, and the mechListMIC protects that choice.
func TestWindows11ClientToNTLMOnlyServer(t *testing.T) {
	users := ntlm.Users{{Domain: "D", User: "alice", NTHash: ntlm.NTHash("pw")}}
	client, _ := negotiate.New(negotiate.Config{Packages: []sspi.Package{pkg(t, negoex.Scheme{Package: schemeA}), ntlm.New(ntlm.Config{})}})
	server, _ := negotiate.New(negotiate.Config{Packages: []sspi.Package{ntlm.New(ntlm.Config{})}})
	ini, err := client.AcquireCredentials(context.Background(), sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
		Identity: &sspi.Identity{User: "alice", Domain: "D", Password: "pw"},
		Material: negotiate.Options{Material: map[string]any{negoex.Name: material("PSK-A")}}})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := server.AcquireCredentials(context.Background(), sspi.CredentialRequest{Use: sspi.CredentialsInbound,
		Material: negotiate.Options{Material: map[string]any{ntlm.Name: users}}})
	if err != nil {
		t.Fatal(err)
	}
	ic, _ := ini.NewInitiator(sspi.ContextConfig{Flags: sspi.FlagIntegrity})
	ac, _ := acc.NewAcceptor(sspi.ContextConfig{})
	if err := drive(ic, ac); err != nil {
		t.Fatal(err)
	}
	if got := ac.Attributes().Package.Name; got != ntlm.Name {
		t.Fatalf("chose %q", got)
	}
}

// An acceptor that has NegoEx but none of the initiator's schemes chooses the next
// common mechanism instead of failing, as Windows' Negotiate does.
func TestNegoExWithoutCommonSchemeFallsBack(t *testing.T) {
	users := ntlm.Users{{Domain: "D", User: "alice", NTHash: ntlm.NTHash("pw")}}
	client, _ := negotiate.New(negotiate.Config{Packages: []sspi.Package{pkg(t, negoex.Scheme{Package: schemeA}), ntlm.New(ntlm.Config{})}})
	server, _ := negotiate.New(negotiate.Config{Packages: []sspi.Package{pkg(t, negoex.Scheme{Package: schemeB}), ntlm.New(ntlm.Config{})}})
	ini, err := client.AcquireCredentials(context.Background(), sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
		Identity: &sspi.Identity{User: "alice", Domain: "D", Password: "pw"},
		Material: negotiate.Options{Material: map[string]any{negoex.Name: material("PSK-A")}}})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := server.AcquireCredentials(context.Background(), sspi.CredentialRequest{Use: sspi.CredentialsInbound,
		Material: negotiate.Options{Material: map[string]any{negoex.Name: material("PSK-B"), ntlm.Name: users}}})
	if err != nil {
		t.Fatal(err)
	}
	ic, _ := ini.NewInitiator(sspi.ContextConfig{})
	ac, _ := acc.NewAcceptor(sspi.ContextConfig{})
	if err := drive(ic, ac); err != nil {
		t.Fatal(err)
	}
	if got := ac.Attributes().Package.Name; got != ntlm.Name {
		t.Fatalf("chose %q, want NTLM", got)
	}
}
