package negotiate_test

import (
	"testing"

	"github.com/gossp/gossp/negotiate"
	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/packages/psk"
	"github.com/gossp/gossp/sspi"
)

// What the interop tests learnt from real peers, reproduced here without them.

// An application that asks for no protection (HTTP's Negotiate) offers PSK, then NTLM;
// the acceptor has only NTLM. MIT's and Samba's acceptors then answer request-mic, but
// when the initiator's NTLM negotiated no signing they complete without the MIC they
// asked for, which our initiator rightly takes for a downgrade (and our own acceptor
// refuses to complete without one). The initiator now starts the later mechanism with
// integrity, so the mandatory MIC exchange happens.
func TestFallbackWithoutRequestedIntegrity(t *testing.T) {
	client := newNegotiate(t, "", oidPSK{psk.New(psk.Config{})}, ntlm.New(ntlm.Config{}))
	server := newNegotiate(t, "", ntlm.New(ntlm.Config{}))
	ini, err := acquire(t, client, clientReq(password)).NewInitiator(sspi.ContextConfig{})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := acquire(t, server, serverReq()).NewAcceptor(sspi.ContextConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var mics [2]int
	var first *negotiate.NegTokenResp
	err = handshake(t, ini, acc, func(i int, tok []byte) []byte {
		init, resp, err := negotiate.ParseToken(tok)
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			first = resp
		}
		if (init != nil && init.MechListMIC != nil) || (resp != nil && resp.MechListMIC != nil) {
			mics[i%2]++
		}
		return tok
	})
	if err != nil {
		t.Fatalf("fall-back without requested integrity: %v", err)
	}
	if first == nil || first.NegState != negotiate.RequestMIC {
		t.Fatalf("the acceptor's choice: %+v, want request-mic", first)
	}
	if mics != [2]int{1, 1} {
		t.Errorf("mechListMICs: %d from the initiator, %d from the acceptor; want one each", mics[0], mics[1])
	}
	if n, ok := sspi.ContextAs[*ntlm.Initiator](ini); !ok || !n.NegotiatedFlags().Has(ntlm.FlagSign) {
		t.Errorf("the fall-back NTLM does not sign")
	}

	// The first choice is left as the application asked: no MIC is required, and NTLM
	// alone negotiates no signing.
	n := newNegotiate(t, "", ntlm.New(ntlm.Config{}))
	ini, _ = acquire(t, n, clientReq(password)).NewInitiator(sspi.ContextConfig{})
	acc, _ = acquire(t, n, serverReq()).NewAcceptor(sspi.ContextConfig{})
	if err := handshake(t, ini, acc, nil); err != nil {
		t.Fatal(err)
	}
	if n, ok := sspi.ContextAs[*ntlm.Initiator](ini); !ok || n.NegotiatedFlags().Has(ntlm.FlagSign) {
		t.Errorf("a first-choice NTLM asked for no integrity negotiated signing")
	}
}
