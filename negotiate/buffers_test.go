package negotiate_test

import (
	"bytes"
	"context"
	"encoding/asn1"
	"errors"
	"testing"

	"github.com/gossp/gossp/negotiate"
	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/packages/psk"
	"github.com/gossp/gossp/sspi"
)

// Negotiate decodes tokens in place, without copying them. A caller may reuse its
// input buffer as soon as a call returns, so whatever outlives the call — the
// mechanism list the mechListMIC covers, the tokens a mechanism keeps (NTLM keeps its
// messages for its own MIC) — must be Negotiate's or the mechanism's own copy.
func TestCallerReusesBuffers(t *testing.T) {
	for _, tc := range []struct {
		name           string
		client, server *negotiate.Package
		acceptorFirst  bool
	}{
		{"NTLM", newNegotiate(t, "", ntlm.New(ntlm.Config{})), newNegotiate(t, "", ntlm.New(ntlm.Config{})), false},
		{"fallback", newNegotiate(t, "", oidPSK{psk.New(psk.Config{})}, ntlm.New(ntlm.Config{})),
			newNegotiate(t, "", ntlm.New(ntlm.Config{})), false},
		{"acceptor first", newNegotiate(t, "", ntlm.New(ntlm.Config{})), newNegotiate(t, "", ntlm.New(ntlm.Config{})), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			ini, _ := acquire(t, tc.client, clientReq(password)).NewInitiator(sspi.ContextConfig{Target: "HTTP/server", Flags: sspi.FlagIntegrity})
			acc, _ := acquire(t, tc.server, serverReq()).NewAcceptor(sspi.ContextConfig{})
			defer ini.Close()
			defer acc.Close()
			buf := make([]byte, 0, 4096)
			// send hands tok over in the one shared buffer, then scribbles over it.
			send := func(call func(context.Context, []byte) ([]byte, sspi.Status, error), tok []byte) ([]byte, sspi.Status, error) {
				var in []byte
				if tok != nil {
					in = append(buf[:0], tok...)
				}
				out, st, err := call(ctx, in)
				for i := range in {
					in[i] = 0xa5
				}
				return out, st, err
			}
			var in []byte
			if tc.acceptorFirst {
				hint, _, err := send(acc.AcceptContext, nil)
				if err != nil {
					t.Fatal(err)
				}
				in = hint
			}
			var ist, ast sspi.Status
			for range 5 {
				out, st, err := send(ini.InitializeContext, in)
				if err != nil {
					t.Fatal(err)
				}
				ist = st
				if len(out) == 0 {
					break
				}
				back, st, err := send(acc.AcceptContext, out)
				if err != nil {
					t.Fatal(err)
				}
				ast, in = st, back
				if len(back) == 0 {
					break
				}
			}
			if ist != sspi.StatusOK || ast != sspi.StatusOK {
				t.Fatalf("initiator %v, acceptor %v", ist, ast)
			}
			msg := []byte("after the handshake")
			sig, err := ini.MakeSignature(msg)
			if err != nil {
				t.Fatal(err)
			}
			if err := acc.VerifySignature(msg, sig); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// unencodable offers NTLM under an OID that has no DER encoding.
type unencodable struct{ *ntlm.Package }

func (unencodable) MechOIDs() []asn1.ObjectIdentifier { return []asn1.ObjectIdentifier{{1, 50}} }

// A sub-package whose OID cannot be encoded fails the token that would carry it with
// SEC_E_INTERNAL_ERROR, on either side.
func TestUnencodableMechOID(t *testing.T) {
	n := newNegotiate(t, "", unencodable{ntlm.New(ntlm.Config{})})
	ini, _ := acquire(t, n, clientReq(password)).NewInitiator(sspi.ContextConfig{})
	if _, _, err := ini.InitializeContext(context.Background(), nil); !errors.Is(err, sspi.ErrInternal) {
		t.Errorf("initiator: %v", err)
	}
	acc, _ := acquire(t, n, serverReq()).NewAcceptor(sspi.ContextConfig{})
	if _, _, err := acc.AcceptContext(context.Background(), nil); !errors.Is(err, sspi.ErrInternal) {
		t.Errorf("acceptor: %v", err)
	}
	// An acceptor never matches it against what an initiator offers.
	tok, _ := (&negotiate.NegTokenInit{MechTypes: []asn1.ObjectIdentifier{negotiate.OIDNTLM}, MechToken: []byte("x")}).Marshal()
	acc, _ = acquire(t, n, serverReq()).NewAcceptor(sspi.ContextConfig{})
	if out, _, err := acc.AcceptContext(context.Background(), tok); !errors.Is(err, sspi.ErrNoCredentials) || !bytes.Contains(out, []byte{0x0a, 1, 2}) {
		t.Errorf("acceptor: %x, %v", out, err)
	}
}
