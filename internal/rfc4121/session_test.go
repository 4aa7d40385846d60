package rfc4121

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gossp/gossp/sspi"
)

func randomKey(t testing.TB, etype int32) types.EncryptionKey {
	t.Helper()
	et, err := crypto.GetEtype(etype)
	if err != nil {
		t.Fatal(err)
	}
	k := types.EncryptionKey{KeyType: etype, KeyValue: make([]byte, keySize(et))}
	rand.Read(k.KeyValue)
	return k
}

// pair returns an initiator and an acceptor session over the same key.
func pair(t testing.TB, key types.EncryptionKey, acceptorSubkey bool, opts Options) (ini, acc *Session) {
	t.Helper()
	ini, err := NewSession(key, true, acceptorSubkey, 100, 7000, opts)
	if err != nil {
		t.Fatal(err)
	}
	acc, err = NewSession(key, false, acceptorSubkey, 7000, 100, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ini.Close(); acc.Close() })
	return ini, acc
}

var strict = Options{ReplayDetect: true, SequenceDetect: true, Confidentiality: true}

func TestRoundTrip(t *testing.T) {
	for _, et := range []int32{17, 18, 19, 20, 23} {
		for _, sub := range []bool{false, true} {
			t.Run(fmt.Sprintf("etype%d/subkey=%v", et, sub), func(t *testing.T) {
				ini, acc := pair(t, randomKey(t, et), sub, strict)
				for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 1000} {
					msg := bytes.Repeat([]byte{byte(n)}, n)
					for _, conf := range []bool{true, false} {
						for _, dir := range [][2]*Session{{ini, acc}, {acc, ini}} {
							tok, err := dir[0].Wrap(msg, conf)
							if err != nil {
								t.Fatal(err)
							}
							got, sealed, err := dir[1].Unwrap(tok)
							if err != nil || !bytes.Equal(got, msg) || sealed != conf {
								t.Fatalf("n=%d conf=%v: %x sealed=%v %v", n, conf, got, sealed, err)
							}
						}
					}
					mic, err := ini.MakeSignature(msg)
					if err != nil {
						t.Fatal(err)
					}
					if len(mic) != ini.MaxSignature() {
						t.Fatalf("MIC of %d bytes, MaxSignature %d", len(mic), ini.MaxSignature())
					}
					if err := acc.VerifySignature(msg, mic); err != nil {
						t.Fatal(err)
					}
					if err := acc.VerifySignature(append(msg, 0), mic); !errors.Is(err, sspi.ErrMessageAltered) {
						t.Fatalf("altered message: %v", err)
					}
				}
			})
		}
	}
}

func TestRefusals(t *testing.T) {
	key := randomKey(t, 18)
	ini, acc := pair(t, key, true, strict)
	msg := []byte("message")
	tok, _ := ini.Wrap(msg, true)
	if _, err := ini.DecryptMessage(tok); !errors.Is(err, sspi.ErrMessageAltered) {
		t.Errorf("reflected token: %v", err)
	}
	if _, err := acc.DecryptMessage(tok); err != nil {
		t.Fatal(err)
	}
	if _, err := acc.DecryptMessage(tok); !errors.Is(err, sspi.ErrOutOfSequence) {
		t.Errorf("replayed token: %v", err)
	}
	ini.Wrap(msg, true) // lost
	tok, _ = ini.Wrap(msg, true)
	if _, err := acc.DecryptMessage(tok); !errors.Is(err, sspi.ErrOutOfSequence) {
		t.Errorf("gap: %v", err)
	}
	for i := 16; i < len(tok); i += 7 {
		bad := bytes.Clone(tok)
		bad[i] ^= 1
		if _, err := acc.DecryptMessage(bad); !errors.Is(err, sspi.ErrMessageAltered) {
			t.Errorf("flipped byte %d: %v", i, err)
		}
	}
	for _, n := range []int{0, 15, 16, 40, 59} {
		if _, err := acc.DecryptMessage(tok[:n]); !errors.Is(err, sspi.ErrInvalidToken) && !errors.Is(err, sspi.ErrMessageAltered) {
			t.Errorf("truncated to %d: %v", n, err)
		}
	}
	// A token with the other AcceptorSubkey choice.
	other, _ := pair(t, key, false, strict)
	tok, _ = other.Wrap(msg, true)
	if _, err := acc.DecryptMessage(tok); !errors.Is(err, sspi.ErrMessageAltered) {
		t.Errorf("AcceptorSubkey mismatch: %v", err)
	}
	acc.Close()
	if _, err := acc.Wrap(msg, true); !errors.Is(err, sspi.ErrInvalidHandle) {
		t.Errorf("closed: %v", err)
	}
}

// TestReplayWindow: replay detection without sequence detection takes late tokens once.
func TestReplayWindow(t *testing.T) {
	ini, acc := pair(t, randomKey(t, 17), false, Options{ReplayDetect: true})
	var toks [][]byte
	for range 70 {
		tok, _ := ini.MakeSignature(nil)
		toks = append(toks, tok)
	}
	order := []int{0, 2, 1, 5, 3, 4, 69, 10}
	for _, i := range order {
		if err := acc.VerifySignature(nil, toks[i]); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}
	for _, i := range []int{0, 2, 5, 69, 10, 3} {
		if err := acc.VerifySignature(nil, toks[i]); !errors.Is(err, sspi.ErrOutOfSequence) {
			t.Errorf("token %d replayed: %v", i, err)
		}
	}
	// 1 is 68 behind the newest: outside the window.
	if err := acc.VerifySignature(nil, toks[1]); !errors.Is(err, sspi.ErrOutOfSequence) {
		t.Errorf("token outside the window: %v", err)
	}
	// Without any detection everything passes.
	ini, acc = pair(t, randomKey(t, 17), false, Options{})
	tok, _ := ini.MakeSignature(nil)
	for range 2 {
		if err := acc.VerifySignature(nil, tok); err != nil {
			t.Fatal(err)
		}
	}
}

func TestChecksumHelper(t *testing.T) {
	for _, et := range []int32{17, 18, 19, 20} {
		key := randomKey(t, et)
		data := []byte("KRB-FINISHED over the AS exchange")
		ck, err := Checksum(key, 41, data)
		if err != nil {
			t.Fatal(err)
		}
		ge, _ := crypto.GetEtype(et)
		want, _ := ge.GetChecksumHash(key.KeyValue, data, 41)
		if ck.CksumType != ge.GetHashID() || !bytes.Equal(ck.Checksum, want) {
			t.Fatalf("etype %d: %d %x, gokrb5 %x", et, ck.CksumType, ck.Checksum, want)
		}
		if err := VerifyChecksum(key, 41, data, ck); err != nil {
			t.Fatal(err)
		}
		if err := VerifyChecksum(key, 42, data, ck); !errors.Is(err, sspi.ErrMessageAltered) {
			t.Errorf("other usage: %v", err)
		}
		ck.CksumType++
		if err := VerifyChecksum(key, 41, data, ck); !errors.Is(err, sspi.ErrMessageAltered) {
			t.Errorf("other type: %v", err)
		}
	}
	if _, err := Checksum(types.EncryptionKey{KeyType: 99, KeyValue: make([]byte, 16)}, 41, nil); !errors.Is(err, sspi.ErrKDCUnknownEtype) {
		t.Errorf("unknown enctype: %v", err)
	}
	if _, err := NewSession(types.EncryptionKey{KeyType: 18, KeyValue: make([]byte, 16)}, true, false, 0, 0, Options{}); !errors.Is(err, sspi.ErrInvalidParameter) {
		t.Errorf("short key: %v", err)
	}
}
