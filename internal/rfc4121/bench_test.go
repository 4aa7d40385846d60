package rfc4121

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/jcmturner/gokrb5/v8/crypto"
)

// benchPair is pair with either our engine or gokrb5's per-message path (the baseline).
func benchPair(b *testing.B, etype int32, baseline bool) (ini, acc *Session) {
	key := randomKey(b, etype)
	if !baseline {
		return pair(b, key, true, strict)
	}
	et, _ := crypto.GetEtype(etype)
	eng := func() engine { return &gokrb5Engine{et: et, key: bytes.Clone(key.KeyValue)} }
	return newSession(eng(), key, true, true, 1, 1, strict), newSession(eng(), key, false, true, 1, 1, strict)
}

func engines(b *testing.B, f func(b *testing.B, etype int32, baseline bool)) {
	for _, etype := range []int32{18, 20} {
		for _, baseline := range []bool{true, false} {
			name := "ours"
			if baseline {
				name = "gokrb5"
			}
			b.Run(fmt.Sprintf("etype%d/%s", etype, name), func(b *testing.B) { f(b, etype, baseline) })
		}
	}
}

// BenchmarkWrapUnwrap: a sealed wrap token made by the initiator and opened by the
// acceptor, per message size; gokrb5's per-message path is the baseline.
func BenchmarkWrapUnwrap(b *testing.B) {
	for _, n := range []int{1024, 64 * 1024} {
		b.Run(fmt.Sprintf("%dB", n), func(b *testing.B) {
			engines(b, func(b *testing.B, etype int32, baseline bool) {
				ini, acc := benchPair(b, etype, baseline)
				msg := bytes.Repeat([]byte{0x42}, n)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					tok, err := ini.Wrap(msg, true)
					if err != nil {
						b.Fatal(err)
					}
					if _, _, err := acc.Unwrap(tok); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkMIC: MakeSignature then VerifySignature.
func BenchmarkMIC(b *testing.B) {
	for _, n := range []int{1024, 64 * 1024} {
		b.Run(fmt.Sprintf("%dB", n), func(b *testing.B) {
			engines(b, func(b *testing.B, etype int32, baseline bool) {
				ini, acc := benchPair(b, etype, baseline)
				msg := bytes.Repeat([]byte{0x42}, n)
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					tok, err := ini.MakeSignature(msg)
					if err != nil {
						b.Fatal(err)
					}
					if err := acc.VerifySignature(msg, tok); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
