package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gossp/gossp/decode"
	"github.com/gossp/gossp/negoex"
	"github.com/gossp/gossp/negotiate"
	"github.com/gossp/gossp/packages/kerberos"
	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/packages/psk"
	"github.com/gossp/gossp/sspi"
)

func runDemo(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "demo", "[-package NAME] [-dir DIR | -inprocess] [-v]")
	pkgName := fs.String("package", negotiate.Name, "security package to authenticate with: Negotiate, NegoExtender, NTLM, PSK, or a plugin's")
	dir := fs.String("dir", "", "packages directory of plugin schemes to offer through NegoEx (default: the bundled PSK plugin, built into the user's cache)")
	inProcess := fs.Bool("inprocess", false, "run PSK in process instead of as the bundled plugin")
	verbose := fs.Bool("v", false, "log the packages' debug events to stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	if *dir == "" && !*inProcess {
		built, err := bundledPlugins(ctx)
		if err != nil {
			fmt.Fprintf(e.stderr, "gossp demo: %v; running PSK in process\n", err)
		}
		*dir = built
	}
	d, err := newDefaults(ctx, logger, options{dir: *dir})
	if err != nil {
		return err
	}
	defer d.close()
	info, err := d.registry.QuerySecurityPackageInfo(*pkgName)
	if err != nil {
		return err
	}
	clientCred, serverCred, err := d.demoCredentials(ctx, info.Name)
	if err != nil {
		return err
	}
	defer clientCred.Close()
	defer serverCred.Close()

	const target = "host/localhost"
	fmt.Fprintf(e.stdout, "gossp demo: %s, client %s authenticating to %s (in process)\n\n",
		info.Name, clientCred.Attributes().Principal, target)
	if err := exchange(ctx, e, clientCred, serverCred, target, []byte("hello from the gossp demo")); err != nil {
		return err
	}
	if !strings.EqualFold(info.Name, negotiate.Name) {
		return nil
	}
	// The same stack over loopback HTTP, then a client without the PSK key: Negotiate
	// falls back to NTLM.
	if err := httpDemo(ctx, e, "Over HTTP (RFC 4559)", clientCred, serverCred); err != nil {
		return fmt.Errorf("over HTTP: %w", err)
	}
	ntlmOnly, err := d.registry.AcquireCredentials(ctx, negotiate.Name, sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
		Identity: &sspi.Identity{User: "alice", Domain: "GOSSP", Password: d.password}})
	if err != nil {
		return err
	}
	defer ntlmOnly.Close()
	if err := httpDemo(ctx, e, "NTLM fall-back: a client with a password but no PSK key", ntlmOnly, serverCred); err != nil {
		return fmt.Errorf("NTLM fall-back: %w", err)
	}
	return nil
}

// exchange makes a client and a server context of the credentials, runs the handshake
// with each leg dissected, prints what was established and seals msg from client to
// server.
func exchange(ctx context.Context, e *env, clientCred, serverCred sspi.Credential, target string, msg []byte) error {
	flags := sspi.FlagMutualAuth | sspi.FlagReplayDetect | sspi.FlagSequenceDetect |
		sspi.FlagIntegrity | sspi.FlagConfidentiality
	client, err := clientCred.NewInitiator(sspi.ContextConfig{Target: target, Flags: flags})
	if err != nil {
		return err
	}
	defer client.Close()
	server, err := serverCred.NewAcceptor(sspi.ContextConfig{Flags: flags})
	if err != nil {
		return err
	}
	defer server.Close()

	start := time.Now()
	if err := handshake(ctx, e, client, server); err != nil {
		return err
	}
	elapsed := time.Since(start)

	ca, sa := client.Attributes(), server.Attributes()
	if !ca.Established || !sa.Established {
		return fmt.Errorf("the handshake ended without an established context")
	}
	fmt.Fprintf(e.stdout, "\nEstablished in %v\n", elapsed.Round(time.Microsecond))
	fmt.Fprintf(e.stdout, "  package:        %s (%s)\n", sa.Package.Name, sa.Package.Origin)
	fmt.Fprintf(e.stdout, "  path:           %s\n", strings.Join(sa.Path, " -> "))
	fmt.Fprintf(e.stdout, "  client name:    %s\n", sa.ClientName)
	fmt.Fprintf(e.stdout, "  server name:    %s\n", ca.ServerName)
	fmt.Fprintf(e.stdout, "  granted flags:  %v\n", sa.Flags)
	if !sa.Expiry.IsZero() {
		fmt.Fprintf(e.stdout, "  expires:        %s\n", sa.Expiry.Format(time.RFC3339))
	}
	ck, err1 := client.SessionKey()
	sk, err2 := server.SessionKey()
	if err1 != nil || err2 != nil {
		return fmt.Errorf("session key: %v %v", err1, err2)
	}
	agree := string(ck) == string(sk)
	fmt.Fprintf(e.stdout, "  session key:    %d bytes, both sides agree: %v\n", len(ck), agree)
	if !agree {
		return fmt.Errorf("the two sides derived different session keys")
	}
	sealed, err := client.EncryptMessage(msg)
	if err != nil {
		return err
	}
	opened, err := server.DecryptMessage(sealed)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nSealed message: %d bytes of plaintext -> %d-byte token -> %q\n", len(msg), len(sealed), opened)
	return nil
}

// handshake drives the two contexts to completion, printing each leg.
func handshake(ctx context.Context, e *env, client sspi.Initiator, server sspi.Acceptor) error {
	var toClient []byte
	clientDone, serverDone := false, false
	for frame := 1; frame <= 20; {
		if !clientDone {
			out, st, err := client.InitializeContext(ctx, toClient)
			if err != nil {
				return fmt.Errorf("client: %w", err)
			}
			clientDone = st == sspi.StatusOK
			if len(out) == 0 {
				if serverDone {
					return nil
				}
				return fmt.Errorf("client produced no token while the server waits")
			}
			printFrame(e, frame, "client -> server", out, st)
			frame++
			in, sst, err := server.AcceptContext(ctx, out)
			if err != nil {
				return fmt.Errorf("server: %w", err)
			}
			serverDone = sst == sspi.StatusOK
			if len(in) == 0 {
				if clientDone && serverDone {
					return nil
				}
				if !clientDone {
					return fmt.Errorf("server produced no token while the client waits")
				}
				continue
			}
			printFrame(e, frame, "server -> client", in, sst)
			frame++
			toClient = in
			continue
		}
		return nil
	}
	return fmt.Errorf("handshake did not finish in 20 legs")
}

func printFrame(e *env, n int, dir string, tok []byte, st sspi.Status) {
	fmt.Fprintf(e.stdout, "Frame %d: %s, %d bytes, %s\n", n, dir, len(tok), st.Name())
	tree, err := decode.Decode(tok)
	if err != nil {
		// Not something the dissector knows: show the start of the bytes.
		shown := tok
		if len(shown) > 48 {
			shown = shown[:48]
		}
		fmt.Fprintf(e.stdout, "    %s (%v)\n", hex.EncodeToString(shown), err)
		return
	}
	for _, line := range strings.Split(strings.TrimRight(tree.Tree(), "\n"), "\n") {
		fmt.Fprintf(e.stdout, "    %s\n", line)
	}
}

// demoCredentials acquires a matching client and server credential of the package:
// the demo user's NTLM password and PSK key, given to whichever layer needs them.
func (d *defaults) demoCredentials(ctx context.Context, name string) (client, server sspi.Credential, err error) {
	pskClient := psk.Credentials{ClientKey: psk.ClientKey{Identity: "alice", Key: d.pskKey}, KeyStore: psk.Keys{"alice": d.pskKey}}
	// Plugins get PSK material as JSON (see plugins/psk).
	pskJSON := map[string]any{"identity": "alice", "key": d.pskKey, "keys": map[string][]byte{"alice": d.pskKey}}
	users := ntlm.Users{{Domain: "GOSSP", User: "alice", NTHash: ntlm.NTHash(d.password)}}
	schemes := map[string]any{}
	for _, info := range d.negoex.Schemes() {
		if info.Origin == sspi.OriginPlugin {
			schemes[info.Name] = pskJSON
		} else {
			schemes[info.Name] = pskClient
		}
	}
	nx := negoex.Options{Material: schemes}
	identity := &sspi.Identity{User: "alice", Domain: "GOSSP", Password: d.password}
	var clientReq, serverReq sspi.CredentialRequest
	switch {
	case strings.EqualFold(name, negotiate.Name):
		clientOpts := negotiate.Options{Material: map[string]any{negoex.Name: nx}}
		serverOpts := negotiate.Options{Material: map[string]any{negoex.Name: nx, ntlm.Name: users}}
		if d.kerberos != nil {
			clientOpts.PackageList = "!" + kerberos.Name // the demo user has no Kerberos principal
			if d.keytab != "" {
				serverOpts.Material[kerberos.Name] = kerberos.Keytab{Path: d.keytab}
			}
		}
		clientReq = sspi.CredentialRequest{Identity: identity, Material: clientOpts}
		serverReq = sspi.CredentialRequest{Material: serverOpts}
	case strings.EqualFold(name, negoex.Name):
		clientReq, serverReq = sspi.CredentialRequest{Material: nx}, sspi.CredentialRequest{Material: nx}
	case strings.EqualFold(name, ntlm.Name):
		clientReq = sspi.CredentialRequest{Identity: identity}
		serverReq = sspi.CredentialRequest{Material: users}
	default:
		m, ok := schemes[name]
		if !ok {
			return nil, nil, fmt.Errorf("%w: the demo has no credentials for package %q", errUsage, name)
		}
		clientReq, serverReq = sspi.CredentialRequest{Material: m}, sspi.CredentialRequest{Material: m}
	}
	clientReq.Use, serverReq.Use = sspi.CredentialsOutbound, sspi.CredentialsInbound
	if client, err = d.registry.AcquireCredentials(ctx, name, clientReq); err != nil {
		return nil, nil, err
	}
	if server, err = d.registry.AcquireCredentials(ctx, name, serverReq); err != nil {
		client.Close()
		return nil, nil, err
	}
	return client, server, nil
}
