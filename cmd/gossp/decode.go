package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gossp/gossp/decode"
)

// maxDecodeInput bounds what decode reads from a file or stdin.
const maxDecodeInput = 4 << 20

// decodeStdin is where "gossp decode -" reads; tests replace it.
var decodeStdin io.Reader = os.Stdin

// runDecode dissects a token: GSS-API framing, SPNEGO, NTLM, NegoEx, Kerberos outlines.
// The token is an argument, a file (@FILE) or stdin (- or nothing), as hex, base64 or an
// HTTP header line; a file or stdin may also hold the raw bytes.
func runDecode(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "decode", "[-json] [TOKEN | @FILE | -]")
	asJSON := fs.Bool("json", false, "print the dissection as JSON instead of a tree")
	// Flags may come before or after the token.
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
	var tok []byte
	var err error
	switch {
	case len(pos) > 1:
		return fmt.Errorf("%w: one token at a time (got %d arguments)", errUsage, len(pos))
	case len(pos) == 0 || pos[0] == "-":
		tok, err = readToken(decodeStdin, "stdin")
	case strings.HasPrefix(pos[0], "@"):
		f, ferr := os.Open(pos[0][1:])
		if ferr != nil {
			return ferr
		}
		tok, err = readToken(f, pos[0][1:])
		f.Close()
	default:
		tok, err = decode.Parse(pos[0])
	}
	if err != nil {
		return err
	}
	tree, err := decode.Decode(tok)
	if err != nil {
		return err // "offset N: reason"
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(tree)
	}
	_, err = io.WriteString(e.stdout, tree.Tree())
	return err
}

// readToken reads a token as text (hex, base64, a header line) or, failing that, as
// raw bytes.
func readToken(r io.Reader, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxDecodeInput+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(b) > maxDecodeInput {
		return nil, fmt.Errorf("%s holds more than %d bytes", name, maxDecodeInput)
	}
	if tok, err := decode.Parse(string(b)); err == nil {
		return tok, nil
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil, fmt.Errorf("%s: no token", name)
	}
	return b, nil // raw bytes
}
