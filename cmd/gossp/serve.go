package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/gossp/gossp/httpauth"
	"github.com/gossp/gossp/negotiate"
	"github.com/gossp/gossp/sspi"
)

// runServe is a small HTTP Negotiate server on the default configuration: it answers
// every authenticated request with who the client is and how it authenticated.
func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "serve", "[-addr HOST:PORT] [-dir DIR]")
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	dir := fs.String("dir", "", "packages directory of plugin schemes")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	d, err := newDefaults(ctx, logger, options{dir: *dir})
	if err != nil {
		return err
	}
	defer d.close()
	_, server, err := d.demoCredentials(ctx, negotiate.Name)
	if err != nil {
		return err
	}
	defer server.Close()
	auth := httpauth.NewServer(server, httpauth.WithLogger(logger))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           auth.Middleware(http.HandlerFunc(whoamiHandler)),
		ConnContext:       auth.ConnContext,
		ConnState:         auth.ConnState,
		ReadHeaderTimeout: 10 * time.Second,
	}
	fmt.Fprintf(e.stdout, "gossp serve: HTTP Negotiate on http://%s/ (demo user alice, password %s)\n", ln.Addr(), d.password)
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
	fmt.Fprintf(w, "authenticated: %s\npackage path: %s\nflags: %v\n", id.ClientName, strings.Join(id.Path, " -> "), id.Flags)
}

// runGet fetches a URL with the default configuration's demo credentials (or a user
// and password), answering Negotiate challenges.
func runGet(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "get", "[-user DOMAIN\\\\USER -password PW] URL")
	user := fs.String("user", "", `user as DOMAIN\user (default: the demo user, for gossp serve)`)
	password := fs.String("password", "", "password for -user")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: want one URL", errUsage)
	}
	d, err := newDefaults(ctx, slog.New(slog.DiscardHandler), options{})
	if err != nil {
		return err
	}
	defer d.close()
	var cred sspi.Credential
	if *user != "" {
		cred, err = d.registry.AcquireCredentials(ctx, negotiate.Name, sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
			Identity: &sspi.Identity{User: *user, Password: *password}})
	} else {
		cred, _, err = d.demoCredentials(ctx, negotiate.Name)
	}
	if err != nil {
		return err
	}
	defer cred.Close()
	client := &http.Client{Transport: &httpauth.Transport{Credential: cred}, Timeout: 30 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fs.Arg(0), nil)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	fmt.Fprintf(e.stdout, "%s\n", resp.Status)
	body := make([]byte, 64<<10)
	n, _ := resp.Body.Read(body)
	e.stdout.Write(body[:n])
	if resp.StatusCode >= 400 {
		return fmt.Errorf("the server answered %s", resp.Status)
	}
	return nil
}
