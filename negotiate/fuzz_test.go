package negotiate_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gossp/gossp/negotiate"
	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/sspi"
)

// seeds are real tokens: MIT's (testdata/*.txt) and every token of in-process
// handshakes, so the fuzzer starts from what peers and we really send.
func seeds(f *testing.F) [][]byte {
	f.Helper()
	var out [][]byte
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.txt"))
	for _, p := range paths {
		fh, err := os.Open(p)
		if err != nil {
			f.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if b, err := hex.DecodeString(line); err == nil && line != "" && !strings.HasPrefix(line, "#") {
				out = append(out, b)
			}
		}
		fh.Close()
	}
	n := newNegotiate(f, "", ntlm.New(ntlm.Config{}))
	ini, _ := acquire(f, n, clientReq(password)).NewInitiator(sspi.ContextConfig{Flags: sspi.FlagIntegrity})
	acc, _ := acquire(f, n, serverReq()).NewAcceptor(sspi.ContextConfig{})
	ctx := context.Background()
	var in []byte
	for range 4 {
		tok, _, err := ini.InitializeContext(ctx, in)
		if err != nil || len(tok) == 0 {
			break
		}
		out = append(out, tok)
		back, _, err := acc.AcceptContext(ctx, tok)
		if err != nil || len(back) == 0 {
			break
		}
		out = append(out, back)
		in = back
	}
	return out
}

func FuzzParseToken(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		init, resp, err := negotiate.ParseToken(b)
		if err != nil {
			if !sspi.StatusOf(err).IsFailure() {
				t.Fatalf("error without a failure status: %v", err)
			}
			return
		}
		// Whatever parses re-encodes to something that parses to the same thing: the
		// decoder accepts only DER, so the bytes are the same too.
		var again []byte
		if init != nil {
			again, err = init.Marshal()
		} else {
			again, err = resp.Marshal()
		}
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if init != nil && b[0] == 0x60 && string(again) != string(b) {
			t.Fatalf("NegTokenInit is not canonical:\n in %x\nout %x", b, again)
		}
		if resp != nil && string(again) != string(b) && !(len(b) > 0 && b[0] == 0x60) {
			t.Fatalf("NegTokenResp is not canonical:\n in %x\nout %x", b, again)
		}
	})
}

// FuzzHandshake feeds arbitrary bytes to each leg of live Negotiate contexts.
func FuzzHandshake(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	n := newNegotiate(f, "", ntlm.New(ntlm.Config{}))
	ic := acquire(f, n, clientReq(password))
	ac := acquire(f, n, serverReq())
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(err error) {
			if err != nil && !sspi.StatusOf(err).IsFailure() {
				t.Fatalf("error without a failure status: %v", err)
			}
		}
		acc, _ := ac.NewAcceptor(sspi.ContextConfig{})
		_, _, err := acc.AcceptContext(ctx, b)
		check(err)
		acc.Close()

		ini, _ := ic.NewInitiator(sspi.ContextConfig{Flags: sspi.FlagIntegrity})
		first, _, _ := ini.InitializeContext(ctx, nil)
		_, _, err = ini.InitializeContext(ctx, b)
		check(err)
		ini.Close()

		acc, _ = ac.NewAcceptor(sspi.ContextConfig{})
		if _, _, err := acc.AcceptContext(ctx, first); err != nil {
			t.Fatal(err)
		}
		_, st, err := acc.AcceptContext(ctx, b)
		check(err)
		if err == nil && st == sspi.StatusOK {
			t.Fatal("arbitrary bytes completed an acceptor")
		}
		acc.Close()
	})
}
