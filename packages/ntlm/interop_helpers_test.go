package ntlm_test

import (
	"context"
	"errors"
	"testing"

	"github.com/gossp/gossp/sspi"
)

// Handshake drivers shared by the interop tests with every peer family (gss-ntlmssp
// through gsspeer, Samba and impacket through ntlmpeer).

// handshakePeer is the third-party side of a handshake: it takes a token (nil for an
// initiator's first step) and returns its answer and whether it is done.
type handshakePeer interface {
	Step(in []byte) (out []byte, done bool, err error)
}

// transcript records a handshake for the replay tests.
type transcript struct {
	tokens [][]byte
}

// initiateTo runs our initiator against a peer acceptor.
func initiateTo(t *testing.T, ini sspi.Initiator, peer handshakePeer) (*transcript, error) {
	t.Helper()
	tr := &transcript{}
	var in []byte
	for range 5 {
		out, st, err := ini.InitializeContext(context.Background(), in)
		if err != nil {
			return tr, err
		}
		if len(out) == 0 {
			return tr, nil
		}
		tr.tokens = append(tr.tokens, out)
		back, complete, err := peer.Step(out)
		if err != nil {
			return tr, err
		}
		if len(back) > 0 {
			tr.tokens = append(tr.tokens, back)
		}
		if st == sspi.StatusOK {
			if !complete {
				return tr, errors.New("we completed but the peer did not")
			}
			return tr, nil
		}
		in = back
	}
	return tr, errors.New("handshake did not finish")
}

// acceptFrom runs a peer initiator against our acceptor.
func acceptFrom(t *testing.T, acc sspi.Acceptor, peer handshakePeer) (*transcript, error) {
	t.Helper()
	tr := &transcript{}
	tok, complete, err := peer.Step(nil)
	if err != nil {
		return tr, err
	}
	for range 5 {
		tr.tokens = append(tr.tokens, tok)
		out, st, err := acc.AcceptContext(context.Background(), tok)
		if err != nil {
			return tr, err
		}
		if st == sspi.StatusOK && len(out) == 0 {
			if !complete {
				return tr, errors.New("we completed but the peer did not")
			}
			return tr, nil
		}
		tr.tokens = append(tr.tokens, out)
		if tok, complete, err = peer.Step(out); err != nil {
			return tr, err
		}
		if st == sspi.StatusOK {
			return tr, nil
		}
	}
	return tr, errors.New("handshake did not finish")
}
