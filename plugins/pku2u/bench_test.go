package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gossp/gossp/internal/pki"
	"github.com/gossp/gossp/negoex"
	"github.com/gossp/gossp/negotiate"
	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/packages/pku2u"
	"github.com/gossp/gossp/sspi"
)

// BenchmarkHandshake is a full Negotiate -> NegoEx -> PKU2U handshake, both sides, with
// PKU2U in process and in two plugin processes (one per side), in one run: the
// difference is what the plugin boundary costs. packages/pku2u's BenchmarkHandshake
// splits the in-process cost between public-key operations and the rest.
func BenchmarkHandshake(b *testing.B) {
	dir := certs(b)
	b.Run("InProcess", func(b *testing.B) {
		files := func(name string) pku2u.Files {
			return pku2u.Files{Certificate: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+".key"),
				Trust: []string{filepath.Join(dir, pki.CACertFile)}}
		}
		nx, err := negoex.New(negoex.Config{Schemes: []negoex.Scheme{{Package: pku2u.New(pku2u.Config{})}}})
		if err != nil {
			b.Fatal(err)
		}
		neg, err := negotiate.New(negotiate.Config{Packages: []sspi.Package{nx, ntlm.New(ntlm.Config{})}})
		if err != nil {
			b.Fatal(err)
		}
		acquire := func(use sspi.CredentialUse, f pku2u.Files) sspi.Credential {
			c, err := neg.AcquireCredentials(context.Background(), sspi.CredentialRequest{Use: use, Material: negotiate.Options{
				PackageList: "!ntlm", Material: map[string]any{negoex.Name: negoex.Options{Material: map[string]any{pku2u.Name: f}}}}})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { c.Close() })
			return c
		}
		benchHandshakes(b, acquire(sspi.CredentialsOutbound, files("alice")), acquire(sspi.CredentialsInbound, files("server")))
	})
	b.Run("Plugin", func(b *testing.B) {
		bin := binary(b)
		ini := negotiateFrom(b, install(b, bin, dir, "alice"), sspi.CredentialsOutbound)
		acc := negotiateFrom(b, install(b, bin, dir, "server"), sspi.CredentialsInbound)
		benchHandshakes(b, ini, acc)
	})
}

func benchHandshakes(b *testing.B, ini, acc sspi.Credential) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		c, err := ini.NewInitiator(sspi.ContextConfig{Target: "host/" + devHost})
		if err != nil {
			b.Fatal(err)
		}
		s, err := acc.NewAcceptor(sspi.ContextConfig{})
		if err != nil {
			b.Fatal(err)
		}
		var in []byte
		for leg := 0; ; leg++ {
			out, st, err := c.InitializeContext(ctx, in)
			if err != nil {
				b.Fatal(err)
			}
			if len(out) == 0 {
				break
			}
			back, ast, err := s.AcceptContext(ctx, out)
			if err != nil {
				b.Fatal(err)
			}
			if st == sspi.StatusOK && ast == sspi.StatusOK {
				break
			}
			in = back
			if leg > 8 {
				b.Fatal("no completion")
			}
		}
		if !s.Attributes().Established {
			b.Fatal("not established")
		}
		c.Close()
		s.Close()
	}
}
