package rfc4121

import (
	"bytes"
	"testing"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/types"
)

// fuzzKey is a fixed aes256-cts-hmac-sha1-96 key (MIT's default enctype), so that the
// seed tokens below verify.
var fuzzKey = types.EncryptionKey{KeyType: 18, KeyValue: bytes.Repeat([]byte{0x5c}, 32)}

// seedTokens are tokens an initiator makes with fuzzKey and the acceptor subkey, as MIT's
// and Windows' initiators make them after a mutual handshake: sealed and integrity-only
// wrap tokens, MICs, a Windows-style RRC 28 rotation and a sealed token with EC filler.
func seedTokens(f *testing.F) [][]byte {
	ini, err := NewSession(fuzzKey, true, true, 0, 0, Options{})
	if err != nil {
		f.Fatal(err)
	}
	var toks [][]byte
	for _, msg := range [][]byte{nil, []byte("x"), []byte("sixteen bytes!!!"), bytes.Repeat([]byte("gss"), 100)} {
		for _, conf := range []bool{true, false} {
			tok, err := ini.Wrap(msg, conf)
			if err != nil {
				f.Fatal(err)
			}
			toks = append(toks, tok, rotateRRC(tok, 28))
		}
		mic, err := ini.MakeSignature(msg)
		if err != nil {
			f.Fatal(err)
		}
		toks = append(toks, mic)
	}
	// A sealed token with 3 bytes of EC filler: msg | filler | header, encrypted.
	e := ini.eng
	h := header(TokWrap, FlagAcceptorSubkey|FlagSealed, 3, 0, 99)
	body, err := e.encrypt(nil, KeyUsageInitiatorSeal, []byte("filler!\x00\x00\x00"), h[:])
	if err != nil {
		f.Fatal(err)
	}
	return append(toks, append(h[:], body...))
}

// rotateRRC sets RRC to n and rotates the token body right by n (RFC 4121 4.2.5).
func rotateRRC(tok []byte, n int) []byte {
	body := tok[HeaderLen:]
	r := n % len(body)
	out := append([]byte(nil), tok[:HeaderLen]...)
	out[6], out[7] = byte(n>>8), byte(n)
	out = append(out, body[len(body)-r:]...)
	return append(out, body[:len(body)-r]...)
}

// FuzzParsePerMessage: the header parser never panics, and what it accepts re-encodes
// to the same 16 bytes.
func FuzzParsePerMessage(f *testing.F) {
	for _, tok := range seedTokens(f) {
		f.Add(tok)
	}
	f.Add([]byte{0x04, 0x04, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, tok []byte) {
		h, rest, err := ParsePerMessage(tok)
		if err != nil {
			return
		}
		if len(rest) != len(tok)-HeaderLen {
			t.Fatalf("rest of %d bytes from a %d-byte token", len(rest), len(tok))
		}
		if got := header(h.TokID, h.Flags, h.EC, h.RRC, h.Seq); !bytes.Equal(got[:], tok[:HeaderLen]) {
			t.Fatalf("header %+v re-encodes as %x, was %x", h, got, tok[:HeaderLen])
		}
	})
}

// FuzzUnwrap feeds tokens to an acceptor session with our AES code and to one with
// gokrb5's per-message path, same key, no sequence checks: neither may panic, and they
// must agree on what verifies and on the message.
func FuzzUnwrap(f *testing.F) {
	for _, tok := range seedTokens(f) {
		f.Add(tok)
	}
	ours, err := NewSession(fuzzKey, false, true, 0, 0, Options{})
	if err != nil {
		f.Fatal(err)
	}
	et, _ := crypto.GetEtype(fuzzKey.KeyType)
	theirs := newSession(&gokrb5Engine{et: et, key: fuzzKey.KeyValue}, fuzzKey, false, true, 0, 0, Options{})
	f.Fuzz(func(t *testing.T, tok []byte) {
		m1, s1, err1 := ours.Unwrap(tok)
		m2, s2, err2 := theirs.Unwrap(tok)
		if (err1 == nil) != (err2 == nil) || !bytes.Equal(m1, m2) || (err1 == nil && s1 != s2) {
			t.Fatalf("ours %x sealed=%v %v; gokrb5 %x sealed=%v %v", m1, s1, err1, m2, s2, err2)
		}
		msg := []byte("gss")
		if v1, v2 := ours.VerifySignature(msg, tok), theirs.VerifySignature(msg, tok); (v1 == nil) != (v2 == nil) {
			t.Fatalf("MIC: ours %v, gokrb5 %v", v1, v2)
		}
	})
}
