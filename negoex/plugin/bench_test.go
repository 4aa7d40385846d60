package plugin_test

import (
	"context"
	"testing"

	"github.com/gossp/gossp/negoex"
	"github.com/gossp/gossp/negoex/plugin"
	"github.com/gossp/gossp/packages/psk"
	"github.com/gossp/gossp/sspi"
)

// The process boundary's cost, measured as a ratio in one run: the same PSK scheme
// through NegoEx in process and in a plugin process (AutoMTLS over a unix socket).
// A NegoEx handshake with PSK takes four legs; divide by four for a leg.
//
//	go test -run '^$' -bench . -benchmem ./negoex/plugin

func benchHandshakes(b *testing.B, scheme negoex.Scheme, material any) {
	nx, err := negoex.New(negoex.Config{Schemes: []negoex.Scheme{scheme}})
	if err != nil {
		b.Fatal(err)
	}
	m := negoex.Options{Material: map[string]any{psk.Name: material}}
	ctx := context.Background()
	ini, err := nx.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsOutbound, Material: m})
	if err != nil {
		b.Fatal(err)
	}
	acc, err := nx.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: m})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		c, s, err := hostHandshake(ini, acc)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
		s.Close()
	}
}

func BenchmarkHandshakeInProcess(b *testing.B) {
	benchHandshakes(b, negoex.Scheme{Package: psk.New(psk.Config{})},
		psk.Credentials{ClientKey: psk.ClientKey{Identity: "alice", Key: hostKey}, KeyStore: psk.Keys{"alice": hostKey}})
}

func BenchmarkHandshakePlugin(b *testing.B) {
	pskBin, _ := binaries(b)
	root := b.TempDir()
	installPackage(b, root, "psk", pskBin, nil)
	h := openHost(b, root, plugin.HostConfig{})
	benchHandshakes(b, h.Schemes()[0], pskMaterial)
}

// BenchmarkPluginStart is a plugin's start: process, handshake, AutoMTLS, sha256 check,
// Describe.
func BenchmarkPluginStart(b *testing.B) {
	pskBin, _ := binaries(b)
	root := b.TempDir()
	installPackage(b, root, "psk", pskBin, nil)
	for b.Loop() {
		h, err := plugin.Open(context.Background(), plugin.HostConfig{Dir: root})
		if err != nil || h.Status()[0].State != plugin.StateRunning {
			b.Fatalf("%v %+v", err, h.Status())
		}
		h.Close()
	}
}

// BenchmarkRoundTrip is the floor under every leg: one gRPC call (Describe) to a plugin
// process over AutoMTLS on a unix socket.
func BenchmarkRoundTrip(b *testing.B) {
	pskBin, _ := binaries(b)
	root := b.TempDir()
	installPackage(b, root, "psk", pskBin, nil)
	h := openHost(b, root, plugin.HostConfig{})
	p := h.Schemes()[0].Package
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
			Material: map[string]any{"identity": "alice", "key": hostKey}}); err != nil {
			b.Fatal(err)
		}
	}
}
