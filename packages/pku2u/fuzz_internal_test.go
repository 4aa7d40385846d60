package pku2u

import (
	"testing"

	"github.com/jcmturner/gokrb5/v8/types"
)

func FuzzParseAuthChecksum(f *testing.F) {
	key := types.EncryptionKey{KeyType: 18, KeyValue: make([]byte, 32)}
	fin, err := finishedChecksum(key, []byte("as-req as-rep"))
	if err != nil {
		f.Fatal(err)
	}
	good, err := authChecksum(nil, 0x4032, fin)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:24])
	f.Add(append(good[:20:20], 0x01, 0, 0, 0, 0, 0, 4, 0, 1, 2, 3, 4)) // delegation
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseAuthChecksum(types.Checksum{CksumType: chksumGSS, Checksum: b})
		if err != nil {
			return
		}
		if p.finished != nil {
			_ = checkFinished(key, []byte("as-req as-rep"), p.finished)
		}
	})
}

func FuzzParseToken(f *testing.F) {
	f.Add(frame(tokASReq, []byte{0x6a, 0x03, 0x30, 0x01, 0x00}))
	f.Add([]byte{0x05, 0x00, 0x6a, 0x00})
	f.Add([]byte{0x60, 0x84, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, inner, err := parseToken(b)
		if err == nil && len(inner) > len(b) {
			t.Fatalf("token %04x: inner longer than the token", id)
		}
	})
}
