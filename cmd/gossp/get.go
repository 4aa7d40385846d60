package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gossp/gossp/httpauth"
	"github.com/gossp/gossp/negotiate"
	"github.com/gossp/gossp/packages/kerberos"
	"github.com/gossp/gossp/sspi"
)

// runGet fetches a URL with the default configuration's demo credentials (or a user
// and password), answering Negotiate challenges.
func runGet(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "get", "[-user DOMAIN\\\\USER -password PW] [-kerberos] URL")
	user := fs.String("user", "", `user as DOMAIN\user, or user@REALM with -kerberos (default: the demo user, for gossp serve)`)
	password := fs.String("password", "", "password for -user")
	krb5 := fs.Bool("kerberos", false, "authenticate with Kerberos through Negotiate, and require the server to prove itself: tickets for -user, else from the credential cache KRB5CCNAME names (kinit's); krb5.conf from KRB5_CONFIG")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: want one URL", errUsage)
	}
	d, err := newDefaults(ctx, slog.New(slog.DiscardHandler), options{kerberos: *krb5})
	if err != nil {
		return err
	}
	defer d.close()
	var cred sspi.Credential
	switch {
	case *krb5:
		req := sspi.CredentialRequest{Use: sspi.CredentialsOutbound, Material: negotiate.Options{PackageList: kerberos.Name}}
		if *user != "" {
			req.Identity = &sspi.Identity{User: *user, Password: *password}
		}
		cred, err = d.registry.AcquireCredentials(ctx, negotiate.Name, req)
	case *user != "":
		cred, err = d.registry.AcquireCredentials(ctx, negotiate.Name, sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
			Identity: &sspi.Identity{User: *user, Password: *password}})
	default:
		cred, _, err = d.demoCredentials(ctx, negotiate.Name)
	}
	if err != nil {
		return err
	}
	defer cred.Close()
	tr := &httpauth.Transport{Credential: cred, RequireMutual: *krb5}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
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
	fmt.Fprintf(e.stdout, "client: %s\n", cred.Attributes().Principal)
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	e.stdout.Write(body)
	if resp.StatusCode >= 400 {
		return fmt.Errorf("the server answered %s", resp.Status)
	}
	return nil
}
