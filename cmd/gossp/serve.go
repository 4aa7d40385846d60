package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gossp/gossp/httpauth"
	"github.com/gossp/gossp/negotiate"
	"github.com/gossp/gossp/packages/kerberos"
	"github.com/gossp/gossp/sspi"
)

// runServe is a small HTTP Negotiate server on the default configuration: it answers
// every authenticated request with who the client is and how it authenticated.
func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "serve", "[-addr HOST:PORT] [-dir DIR] [-keytab FILE]")
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	dir := fs.String("dir", "", "packages directory of plugin schemes")
	keytab := fs.String("keytab", "", "also accept Kerberos through Negotiate, with the service keys of this keytab (HTTP/host@REALM; krb5.conf from KRB5_CONFIG)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	d, err := newDefaults(ctx, logger, options{dir: *dir, keytab: *keytab})
	if err != nil {
		return err
	}
	defer d.close()
	if *keytab != "" {
		// Negotiate leaves out a package without credentials; a keytab asked for must work.
		kc, err := d.registry.AcquireCredentials(ctx, kerberos.Name, sspi.CredentialRequest{Use: sspi.CredentialsInbound,
			Material: kerberos.Keytab{Path: *keytab}})
		if err != nil {
			return fmt.Errorf("-keytab: %w", err)
		}
		kc.Close()
	}
	_, server, err := d.demoCredentials(ctx, negotiate.Name)
	if err != nil {
		return err
	}
	defer server.Close()
	auth, err := httpauth.NewServer(server, httpauth.WithLogger(logger))
	if err != nil {
		return err
	}
	defer auth.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           auth.Middleware(http.HandlerFunc(whoamiHandler)),
		ConnContext:       httpauth.ConnContext,
		ConnState:         auth.ConnState,
		ReadHeaderTimeout: 10 * time.Second,
	}
	fmt.Fprintf(e.stdout, "gossp serve: HTTP Negotiate on http://%s/ (demo user alice, password %s)\n", ln.Addr(), d.password)
	if *keytab != "" {
		fmt.Fprintf(e.stdout, "gossp serve: Kerberos too, with the keys of %s\n", *keytab)
	}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func whoamiHandler(w http.ResponseWriter, r *http.Request) {
	id, _ := httpauth.FromContext(r.Context())
	slog.InfoContext(r.Context(), "gossp serve: authenticated", "client", id.ClientName, "path", strings.Join(id.Path, "/"))
	fmt.Fprintf(w, "authenticated: %s\npackage path: %s\nflags: %v\n", id.ClientName, strings.Join(id.Path, " -> "), id.Flags)
}
