package ntlm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/gossp/gossp/sspi"
)

// Handshakes shaped like those of real peers the interop tests met (impacket, Samba's
// ntlm_auth), built here by hand so they run without the peers.

const (
	quirkDomain   = "TESTDOM"
	quirkUser     = "alice"
	quirkPassword = "AlicePassw0rd!"
)

func quirkAcceptor(t *testing.T) *Acceptor {
	t.Helper()
	users := Users{{Domain: quirkDomain, User: quirkUser, NTHash: NTHash(quirkPassword)}}
	cred, err := New(Config{}).AcquireCredentials(context.Background(),
		sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: users})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := cred.NewAcceptor(sspi.ContextConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { acc.Close() })
	return acc.(*Acceptor)
}

// quirkClient plays a client that sends exactly the flags and fields it is given.
type quirkClient struct {
	negFlags  NegotiateFlags // NEGOTIATE flags
	authFlags NegotiateFlags // AUTHENTICATE flags
	// exchanged, when set, is the random session key sent encrypted in the
	// AUTHENTICATE.
	exchanged []byte
	mic       bool // announce a MIC in MsvAvFlags and fill it in
}

// run does the handshake and returns the client's exported session key and our
// acceptor's answer to the AUTHENTICATE.
func (q quirkClient) run(t *testing.T, acc *Acceptor) (clientKey []byte, err error) {
	t.Helper()
	// The 32-byte NEGOTIATE without Version, as impacket sends it.
	neg := make([]byte, 32)
	copy(neg, signature)
	binary.LittleEndian.PutUint32(neg[8:], TypeNegotiate)
	binary.LittleEndian.PutUint32(neg[12:], uint32(q.negFlags))
	ch, _, err := acc.AcceptContext(context.Background(), neg)
	if err != nil {
		t.Fatalf("NEGOTIATE: %v", err)
	}
	cm, err := ParseChallenge(ch)
	if err != nil {
		t.Fatal(err)
	}
	pairs := append(AVPairs(nil), cm.TargetInfo...)
	if q.mic {
		pairs = append(pairs, AVPair{AvFlags, binary.LittleEndian.AppendUint32(nil, AvFlagMICPresent)})
	}
	ts, _ := cm.TargetInfo.Timestamp()
	blob := ntlmV2Blob(ts, []byte("clientch"), pairs.Marshal())
	nt, _, kx := ntlmV2Response(ntowfV2(NTHash(quirkPassword), quirkUser, quirkDomain), cm.ServerChallenge[:], blob)
	am := &AuthenticateMessage{Flags: q.authFlags, LMChallengeResponse: make([]byte, 24), NTChallengeResponse: nt,
		Domain: quirkDomain, User: quirkUser, Version: &DefaultVersion}
	clientKey = kx
	if q.exchanged != nil {
		am.EncryptedRandomSessionKey = rc4K(kx, q.exchanged)
		clientKey = q.exchanged
	}
	if q.mic {
		am.MIC = make([]byte, 16)
	}
	auth := am.Marshal()
	if q.mic {
		copy(auth[micOffset:authenticateMICEnd], hmacMD5(clientKey, neg, ch, auth))
	}
	_, _, err = acc.AcceptContext(context.Background(), auth)
	return clientKey, err
}

// impacket answers the CHALLENGE with its NEGOTIATE's flags minus those the
// CHALLENGE lacks among ESS, 128, KEY_EXCH, SEAL, SIGN and ALWAYS_SIGN, so it claims 56
// beside 128. Our CHALLENGE returns both, as MS-NLMP 2.2.2.5 requires, and 128 decides
// the key.
func TestAcceptorTakesEchoed56Beside128(t *testing.T) {
	const impacketFlags = FlagKeyExch | FlagSign | FlagAlwaysSign | FlagSeal | FlagTargetInfo | FlagNTLM |
		FlagExtendedSessionSecurity | FlagUnicode | FlagRequestTarget | Flag128 | Flag56
	random := []byte("0123456789abcdef")
	acc := quirkAcceptor(t)
	clientKey, err := quirkClient{negFlags: impacketFlags, authFlags: impacketFlags, exchanged: random}.run(t, acc)
	if err != nil {
		t.Fatalf("impacket-style AUTHENTICATE with 128|56: %v", err)
	}
	if f := acc.NegotiatedFlags(); !f.Has(Flag128 | Flag56 | FlagSeal | FlagKeyExch) {
		t.Errorf("negotiated %v, want 128, 56, SEAL and KEY_EXCH", f)
	}
	if key, _ := acc.SessionKey(); !bytes.Equal(key, clientKey) {
		t.Errorf("session key %x, client's %x", key, clientKey)
	}

	// The check still refuses a key flag the NEGOTIATE never offered.
	acc = quirkAcceptor(t)
	_, err = quirkClient{negFlags: impacketFlags &^ FlagKeyExch, authFlags: impacketFlags, exchanged: random}.run(t, acc)
	if !errors.Is(err, sspi.ErrInvalidToken) {
		t.Fatalf("KEY_EXCH claimed though not offered: %v, want SEC_E_INVALID_TOKEN", err)
	}
}

// Samba's ntlm_auth (ntlmssp-client-1) negotiates KEY_EXCH without SIGN or SEAL and
// still sends an EncryptedRandomSessionKey, which it uses as its exported session key
// and for its MIC. MS-NLMP exchanges the key only with SIGN or SEAL, and its clients
// then send none.
func TestAcceptorKeyExchWithoutSignOrSeal(t *testing.T) {
	const sambaFlags = FlagUnicode | FlagRequestTarget | FlagNTLM | FlagAlwaysSign |
		FlagExtendedSessionSecurity | FlagVersion | Flag128 | FlagKeyExch // 0x62088205
	random := []byte("fedcba9876543210")
	t.Run("key sent", func(t *testing.T) {
		acc := quirkAcceptor(t)
		clientKey, err := quirkClient{negFlags: sambaFlags, authFlags: sambaFlags, exchanged: random, mic: true}.run(t, acc)
		if err != nil {
			t.Fatalf("Samba-style AUTHENTICATE with a MIC under the exchanged key: %v", err)
		}
		if key, _ := acc.SessionKey(); !bytes.Equal(key, clientKey) || !bytes.Equal(key, random) {
			t.Errorf("session key %x, client's %x", key, clientKey)
		}
	})
	t.Run("no key sent", func(t *testing.T) {
		acc := quirkAcceptor(t)
		clientKey, err := quirkClient{negFlags: sambaFlags, authFlags: sambaFlags, mic: true}.run(t, acc)
		if err != nil {
			t.Fatalf("MS-NLMP-style AUTHENTICATE without an encrypted key: %v", err)
		}
		if key, _ := acc.SessionKey(); !bytes.Equal(key, clientKey) {
			t.Errorf("session key %x, want the key exchange key %x", key, clientKey)
		}
	})
}
