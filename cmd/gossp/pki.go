package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gossp/gossp/internal/pki"
)

// Synopses of the gossp pki subcommands.
const (
	pkiCAArgs     = "-dir DIR [-name NAME] [-key rsa|ecdsa] [-days N]"
	pkiIssueArgs  = "-dir DIR -name NAME [-upn U] [-dns H] [-acceptor] [-key rsa|ecdsa] [-days N]"
	pkiVerifyArgs = "-ca FILE [-acceptor] CERT"
)

// pkiCommands are the subcommands of gossp pki.
var pkiCommands = []struct {
	name, args, summary string
	run                 func(e *env, args []string) error
}{
	{"ca", pkiCAArgs, "create a CA in DIR (ca.pem, ca.key)", runPKICA},
	{"issue", pkiIssueArgs, "issue a peer certificate and key from the CA in DIR into DIR (NAME.pem, NAME.key)", runPKIIssue},
	{"verify", pkiVerifyArgs, "validate a peer certificate as a PKU2U peer would, and name the peer", runPKIVerify},
}

// runPKI makes the certificates PKU2U peers authenticate with: a CA, the user
// (initiator) and device (acceptor) certificates it issues, shaped like Windows'.
func runPKI(_ context.Context, e *env, args []string) error {
	if len(args) == 0 {
		pkiUsage(e.stderr)
		return fmt.Errorf("%w: want a subcommand: ca, issue or verify", errUsage)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		pkiUsage(e.stderr)
		return flag.ErrHelp
	}
	for _, c := range pkiCommands {
		if c.name == args[0] {
			if err := c.run(e, args[1:]); err != nil {
				return pkiError{err}
			}
			return nil
		}
	}
	pkiUsage(e.stderr)
	return fmt.Errorf("%w: unknown subcommand %q", errUsage, args[0])
}

// pkiError drops the package's "pki: " prefix, which would follow "gossp pki: ".
type pkiError struct{ err error }

func (e pkiError) Error() string { return strings.TrimPrefix(e.err.Error(), "pki: ") }
func (e pkiError) Unwrap() error { return e.err }

func pkiUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage:")
	for _, c := range pkiCommands {
		fmt.Fprintf(w, "\tgossp pki %s %s\n\t\t%s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'gossp pki <subcommand> -h' for its flags; docs/pki.md explains the certificates.")
}

// keyTypeFlag registers -key.
func keyTypeFlag(fs *flag.FlagSet) *string {
	return fs.String("key", pki.KeyRSA, "key type: rsa (2048 bits, as Windows), ecdsa (P-256) or ecdsa-p384")
}

func checkKeyType(k string) error {
	if k != pki.KeyRSA && k != pki.KeyECDSA && k != pki.KeyECDSAP384 {
		return fmt.Errorf("%w: -key %q: want rsa, ecdsa or ecdsa-p384", errUsage, k)
	}
	return nil
}

func runPKICA(e *env, args []string) error {
	fs := newFlagSet(e, "pki ca", pkiCAArgs)
	dir := fs.String("dir", "", "directory to create the CA in (required; made 0700 if missing)")
	name := fs.String("name", pki.DefaultCAName, "the CA's common name")
	key := keyTypeFlag(fs)
	days := fs.Int("days", 3650, "validity in days")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("%w: -dir is required", errUsage)
	}
	if err := checkKeyType(*key); err != nil {
		return err
	}
	if *days <= 0 {
		return fmt.Errorf("%w: -days must be positive", errUsage)
	}
	now := time.Now()
	ca, err := pki.NewCA(pki.CAOptions{CommonName: *name, KeyType: *key,
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(0, 0, *days)})
	if err != nil {
		return err
	}
	certFile, keyFile, err := ca.WriteFiles(*dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "CA:          %s\n", pki.FormatName(ca.Cert.RawSubject))
	fmt.Fprintf(e.stdout, "key:         %s\n", keyDescription(ca.Cert))
	fmt.Fprintf(e.stdout, "valid until: %s\n", ca.Cert.NotAfter.UTC().Format(time.RFC3339))
	fmt.Fprintf(e.stdout, "certificate: %s\n", certFile)
	fmt.Fprintf(e.stdout, "private key: %s (0600)\n", keyFile)
	return nil
}

// listFlag is a repeatable flag that also takes comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func runPKIIssue(e *env, args []string) error {
	fs := newFlagSet(e, "pki issue", pkiIssueArgs)
	dir := fs.String("dir", "", "directory of the CA (from gossp pki ca), where the certificate and key are written (required)")
	name := fs.String("name", "", "the peer's file name (NAME.pem, NAME.key) and common name (required)")
	upn := fs.String("upn", "", "user principal name for the subject alternative name (a user certificate)")
	var dns listFlag
	fs.Var(&dns, "dns", "DNS name for the subject alternative name; repeat or separate with commas (a device certificate)")
	acceptor := fs.Bool("acceptor", false, "an acceptor (device) certificate: serverAuth instead of clientAuth")
	key := keyTypeFlag(fs)
	days := fs.Int("days", 365, "validity in days (by default no longer than the CA's)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *dir == "":
		return fmt.Errorf("%w: -dir is required", errUsage)
	case *name == "":
		return fmt.Errorf("%w: -name is required", errUsage)
	case *days <= 0:
		return fmt.Errorf("%w: -days must be positive", errUsage)
	}
	if err := checkKeyType(*key); err != nil {
		return err
	}
	ca, err := pki.LoadCA(*dir)
	if err != nil {
		return fmt.Errorf("loading the CA (create one with gossp pki ca -dir %s): %w", *dir, err)
	}
	role := pki.RoleInitiator
	if *acceptor {
		role = pki.RoleAcceptor
	}
	now := time.Now()
	notAfter := now.AddDate(0, 0, *days)
	daysSet := false
	fs.Visit(func(f *flag.Flag) { daysSet = daysSet || f.Name == "days" })
	if !daysSet && notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter // the default yields to a shorter-lived CA
	}
	cred, err := ca.Issue(pki.IssueOptions{CommonName: *name, UPN: *upn, DNSNames: dns, Role: role, KeyType: *key,
		NotBefore: now.Add(-5 * time.Minute), NotAfter: notAfter})
	if err != nil {
		return err
	}
	certFile, keyFile, err := cred.WriteFiles(*dir, *name)
	if err != nil {
		return err
	}
	id, err := cred.Identity()
	if err != nil {
		return err
	}
	printIdentity(e.stdout, id, role)
	fmt.Fprintf(e.stdout, "key:         %s\n", keyDescription(cred.Leaf()))
	fmt.Fprintf(e.stdout, "valid until: %s\n", cred.Leaf().NotAfter.UTC().Format(time.RFC3339))
	fmt.Fprintf(e.stdout, "certificate: %s\n", certFile)
	fmt.Fprintf(e.stdout, "private key: %s (0600)\n", keyFile)
	return nil
}

func runPKIVerify(e *env, args []string) error {
	fs := newFlagSet(e, "pki verify", pkiVerifyArgs)
	caFile := fs.String("ca", "", "PEM file of trust anchors (required), e.g. DIR/ca.pem")
	acceptor := fs.Bool("acceptor", false, "check the certificate for the acceptor role instead of the initiator")
	// Flags may come before or after the certificate.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case *caFile == "":
		return fmt.Errorf("%w: -ca is required", errUsage)
	case len(pos) != 1:
		return fmt.Errorf("%w: want one certificate file (got %d)", errUsage, len(pos))
	}
	roots, _, err := pki.LoadPool(*caFile)
	if err != nil {
		return err
	}
	// The file is the chain a peer would send: the leaf, then intermediates.
	_, chain, err := pki.LoadPool(pos[0])
	if err != nil {
		return err
	}
	role := pki.RoleInitiator
	if *acceptor {
		role = pki.RoleAcceptor
	}
	id, err := pki.Verify(chain, pki.VerifyOptions{Roots: roots, Role: role})
	if err != nil {
		return err
	}
	printIdentity(e.stdout, id, role)
	path := make([]string, len(id.Chain))
	for i, c := range id.Chain {
		path[i] = fmt.Sprintf("%q", pki.FormatName(c.RawSubject))
	}
	fmt.Fprintf(e.stdout, "path:        %s\n", strings.Join(path, " <- "))
	fmt.Fprintf(e.stdout, "valid until: %s\n", id.Leaf.NotAfter.UTC().Format(time.RFC3339))
	return nil
}

// printIdentity prints how a peer holding the certificate is named.
func printIdentity(w io.Writer, id *pki.Identity, role pki.Role) {
	from := "subject common name"
	switch {
	case id.UPN != "":
		from = "UPN"
	case len(id.DNSNames) > 0:
		from = "DNS name"
	}
	fmt.Fprintf(w, "identity:    %s (%s)\n", id.Name, from)
	fmt.Fprintf(w, "role:        %s\n", role)
	fmt.Fprintf(w, "subject:     %s\n", id.Subject)
	fmt.Fprintf(w, "issuer:      %s\n", id.Issuer)
	if len(id.DNSNames) > 0 {
		fmt.Fprintf(w, "DNS names:   %s\n", strings.Join(id.DNSNames, ", "))
	}
}

// keyDescription names a certificate's key type and size.
func keyDescription(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d bits", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	}
	return c.PublicKeyAlgorithm.String()
}
