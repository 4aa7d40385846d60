package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/gossp/gossp/internal/pki"
	"github.com/gossp/gossp/negoex"
	"github.com/gossp/gossp/negoex/plugin"
	"github.com/gossp/gossp/negotiate"
	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/packages/pku2u"
	"github.com/gossp/gossp/sspi"
)

// runPKU2U runs a PKU2U handshake between two certificates of a CA directory:
// Negotiate -> NegoEx -> PKU2U, the scheme out of process by default.
func runPKU2U(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "pku2u", "[-pki DIR] [-client NAME] [-server NAME] [-target host/NAME] [-inprocess] [-v]")
	dir := fs.String("pki", "", "CA directory from `gossp pki ca` holding NAME.pem and NAME.key for both peers (default: a throwaway CA and certificates)")
	clientName := fs.String("client", "alice", "the initiator's certificate in the -pki directory")
	serverName := fs.String("server", "server", "the acceptor's certificate in the -pki directory")
	target := fs.String("target", "", "the target name; its host must be in the acceptor's certificate (default: host/ and the acceptor's first DNS name)")
	inProcess := fs.Bool("inprocess", false, "run PKU2U in process instead of as the bundled plugin")
	verbose := fs.Bool("v", false, "log the packages' debug events to stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))

	if *dir == "" {
		tmp, err := os.MkdirTemp("", "gossp-pku2u-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		if err := throwawayPKI(tmp, *clientName, *serverName); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "gossp pku2u: a throwaway CA in %s, %s (user) and %s (device) certificates\n", tmp, *clientName, *serverName)
		*dir = tmp
	}
	files := func(name string) pku2u.Files {
		return pku2u.Files{
			Certificate: filepath.Join(*dir, name+".pem"),
			Key:         filepath.Join(*dir, name+".key"),
			Trust:       []string{filepath.Join(*dir, pki.CACertFile)},
		}
	}
	clientFiles, serverFiles := files(*clientName), files(*serverName)
	serverCreds, err := serverFiles.Load()
	if err != nil {
		return err
	}
	if *target == "" {
		leaf := serverCreds.Certificates[0].Chain[0]
		if len(leaf.DNSNames) == 0 {
			return fmt.Errorf("%w: the acceptor's certificate names no host: give -target", errUsage)
		}
		*target = "host/" + leaf.DNSNames[0]
	}

	// The stack: Negotiate over NegoEx (PKU2U) and NTLM, as Windows offers it.
	var scheme negoex.Scheme
	var clientM, serverM any = clientFiles, serverFiles
	if *inProcess {
		scheme = negoex.Scheme{Package: pku2u.New(pku2u.Config{Logger: logger})}
		// In process, the package takes loaded credentials as well as file names.
		if clientM, err = clientFiles.Load(); err != nil {
			return err
		}
		serverM = serverCreds
	} else {
		root, err := bundlePlugin(ctx, "pku2u-packages", "pku2u", "github.com/gossp/gossp/plugins/pku2u", pku2u.Name, pku2u.AuthScheme)
		if err != nil {
			return err
		}
		h, err := plugin.Open(ctx, plugin.HostConfig{Dir: root, Logger: logger})
		if err != nil {
			return err
		}
		defer h.Close()
		schemes := h.Schemes()
		if len(schemes) != 1 {
			return fmt.Errorf("the bundled PKU2U plugin did not start: %+v", h.Status())
		}
		scheme = schemes[0]
	}
	nx, err := negoex.New(negoex.Config{Schemes: []negoex.Scheme{scheme}, Logger: logger})
	if err != nil {
		return err
	}
	neg, err := negotiate.New(negotiate.Config{Packages: []sspi.Package{nx, ntlm.New(ntlm.Config{Logger: logger})}, Logger: logger})
	if err != nil {
		return err
	}
	acquire := func(use sspi.CredentialUse, m any) (sspi.Credential, error) {
		return neg.AcquireCredentials(ctx, sspi.CredentialRequest{Use: use,
			Material: negotiate.Options{PackageList: "!ntlm", Material: map[string]any{negoex.Name: negoex.Options{Material: map[string]any{pku2u.Name: m}}}}})
	}
	clientCred, err := acquire(sspi.CredentialsOutbound, clientM)
	if err != nil {
		return err
	}
	defer clientCred.Close()
	serverCred, err := acquire(sspi.CredentialsInbound, serverM)
	if err != nil {
		return err
	}
	defer serverCred.Close()

	fmt.Fprintf(e.stdout, "gossp pku2u: %s authenticating to %s (%s)\n\n", clientCred.Attributes().Principal, *target, scheme.Package.Info().Origin)
	return exchange(ctx, e, clientCred, serverCred, *target, []byte("hello over PKU2U"))
}

// throwawayPKI writes a CA, a user and a device certificate, as `gossp pki` would.
func throwawayPKI(dir, client, server string) error {
	ca, err := pki.NewCA(pki.CAOptions{CommonName: "gossp throwaway P2P CA", KeyType: pki.KeyECDSA})
	if err != nil {
		return err
	}
	if _, _, err := ca.WriteFiles(dir); err != nil {
		return err
	}
	user, err := ca.Issue(pki.IssueOptions{UPN: client + "@gossp.test", Role: pki.RoleInitiator, KeyType: pki.KeyECDSA})
	if err != nil {
		return err
	}
	if _, _, err := user.WriteFiles(dir, client); err != nil {
		return err
	}
	dev, err := ca.Issue(pki.IssueOptions{DNSNames: []string{"localhost"}, Role: pki.RoleAcceptor, KeyType: pki.KeyECDSA})
	if err != nil {
		return err
	}
	_, _, err = dev.WriteFiles(dir, server)
	return err
}
