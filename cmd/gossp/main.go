// Command gossp is the command-line face of gossp: it lists the security packages of
// the embedded default configuration and runs a full authentication with them.
//
// Usage:
//
//	gossp demo       run a client and a server through a complete handshake
//	gossp packages   list the security packages (EnumerateSecurityPackages)
//	gossp pki        make a test CA and PKU2U peer certificates
//	gossp pku2u      run a PKU2U handshake between two certificates
//	gossp version    print the version
//
// Exit status: 0 on success, 1 when the operation fails, 2 for usage errors.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
)

// Exit codes scripts can rely on.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// env is what a command may touch, so tests can run commands in-process.
type env struct {
	stdout, stderr io.Writer
}

var commands = []command{
	{"demo", "run a client and a server through a complete authentication", runDemo},
	{"packages", "list the security packages of the default configuration", runPackages},
	{"decode", "dissect a GSS-API, SPNEGO, NTLM, NegoEx, Kerberos or PKU2U token", runDecode},
	{"serve", "an HTTP Negotiate server on the default configuration", runServe},
	{"get", "fetch a URL, answering HTTP Negotiate challenges", runGet},
	{"pki", "make a test CA and PKU2U peer certificates, and check them", runPKI},
	{"pku2u", "run a PKU2U handshake between two certificates (Negotiate -> NegoEx -> PKU2U)", runPKU2U},
	{"version", "print the gossp version", runVersion},
}

// errUsage marks errors that should print usage and exit with status 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, e, args[1:])
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "gossp %s: %v\n", c.name, err)
			return exitUsage
		default:
			fmt.Fprintf(stderr, "gossp %s: %v\n", c.name, err)
			return exitFail
		}
	}
	fmt.Fprintf(stderr, "gossp: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "gossp: pluggable authentication (SSPI, SPNEGO, NegoEx) for Go")
	fmt.Fprintln(w, "\nUsage:\n\n\tgossp <command> [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "\t%-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'gossp <command> -h' for a command's flags.")
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(e *env, name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet("gossp "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: gossp %s %s\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and refuses positional arguments the command does not take.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}
