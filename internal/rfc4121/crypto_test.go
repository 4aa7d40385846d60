package rfc4121

import (
	"bytes"
	"crypto/aes"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/common"
	"github.com/jcmturner/gokrb5/v8/crypto/rfc3961"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gossp/gossp/sspi"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 3961 A.1.
func TestNfold(t *testing.T) {
	for _, v := range []struct {
		bits int
		in   string
		want string
	}{
		{64, "012345", "be072631276b1955"},
		{56, "password", "78a07b6caf85fa"},
		{64, "Rough Consensus, and Running Code", "bb6ed30870b7f0e0"},
		{168, "password", "59e4a8ca7c0385c3c37b3f6d2000247cb6e6bd5b3e"},
		{192, "MASSACHVSETTS INSTITVTE OF TECHNOLOGY", "db3b0d8f0b061e603282b308a50841229ad798fab9540c1b"},
		{168, "Q", "518a54a215a8452a518a54a215a8452a518a54a215"},
		{168, "ba", "fb25d531ae8974499f52fd92ea9857c4ba24cf297e"},
		{64, "kerberos", "6b65726265726f73"},
		{128, "kerberos", "6b65726265726f737b9b5b2b93132b93"},
		{168, "kerberos", "8372c236344e5f1550cd0747e15d62ca7a5a3bcea4"},
		{256, "kerberos", "6b65726265726f737b9b5b2b93132b935c9bdcdad95c9899c4cae4dee6d6cae4"},
	} {
		out := make([]byte, v.bits/8)
		nfold(out, []byte(v.in))
		if got := hex.EncodeToString(out); got != v.want {
			t.Errorf("%d-fold(%q) = %s, want %s", v.bits, v.in, got, v.want)
		}
	}
	// And the usage constants against gokrb5's.
	for u := uint32(0); u < 64; u++ {
		for _, c := range []byte{constKc, constKe, constKi} {
			label := append(common.GetUsageKc(u)[:4:4], c)
			out := make([]byte, 16)
			nfold(out, label)
			if want := rfc3961.Nfold(label, 128); !bytes.Equal(out, want) {
				t.Fatalf("128-fold(%x) = %x, gokrb5 %x", label, out, want)
			}
		}
	}
}

// RFC 3962 B: AES-128 CTS with a zero IV.
func TestCTSVectors(t *testing.T) {
	b, _ := aes.NewCipher(unhex(t, "636869636b656e207465726979616b69"))
	for _, v := range [][2]string{
		{"4920776f756c64206c696b652074686520", "c6353568f2bf8cb4d8a580362da7ff7f97"},
		{"4920776f756c64206c696b65207468652047656e6572616c20476175277320", "fc00783e0efdb2c1d445d4c8eff7ed2297687268d6ecccc0c07b25e25ecfe5"},
		{"4920776f756c64206c696b65207468652047656e6572616c2047617527732043", "39312523a78662d5be7fcbcc98ebf5a897687268d6ecccc0c07b25e25ecfe584"},
		{"4920776f756c64206c696b65207468652047656e6572616c20476175277320436869636b656e2c20706c656173652c", "97687268d6ecccc0c07b25e25ecfe584b3fffd940c16a18c1b5549d2f838029e39312523a78662d5be7fcbcc98ebf5"},
		{"4920776f756c64206c696b65207468652047656e6572616c20476175277320436869636b656e2c20706c656173652c20", "97687268d6ecccc0c07b25e25ecfe5849dad8bbb96c4cdc03bc103e1a194bbd839312523a78662d5be7fcbcc98ebf5a8"},
		{"4920776f756c64206c696b65207468652047656e6572616c20476175277320436869636b656e2c20706c656173652c20616e6420776f6e746f6e20736f75702e", "97687268d6ecccc0c07b25e25ecfe58439312523a78662d5be7fcbcc98ebf5a84807efe836ee89a526730dbc2f7bc8409dad8bbb96c4cdc03bc103e1a194bbd8"},
	} {
		pt, ct := unhex(t, v[0]), unhex(t, v[1])
		for _, cbc := range []*cbcPool{nil, {b: b}} {
			got := bytes.Clone(pt)
			ctsEncrypt(b, cbc, got)
			if !bytes.Equal(got, ct) {
				t.Errorf("encrypt %d bytes (crypto/cipher CBC %v): %x, want %x", len(pt), cbc != nil, got, ct)
			}
		}
		// Decrypt both into a separate buffer and in place.
		out := make([]byte, len(ct))
		ctsDecrypt(b, out, ct)
		inPlace := bytes.Clone(ct)
		ctsDecrypt(b, inPlace, inPlace)
		if !bytes.Equal(out, pt) || !bytes.Equal(inPlace, pt) {
			t.Errorf("decrypt %d bytes: %x / %x, want %x", len(ct), out, inPlace, pt)
		}
	}
}

// RFC 8009 A: key derivation, encryption with a given confounder, and checksums, for
// usage 2.
func TestRFC8009Vectors(t *testing.T) {
	for _, v := range []struct {
		etype      int32
		base       string
		kc, ke, ki string
		encs       [][3]string // plaintext, confounder, ciphertext|tag
		cksum      string      // over 000102...14
	}{
		{19, "3705d96080c17728a0e800eab6e0d23c", "b31a018a48f54776f403e9a396325dc3", "9b197dd1e8c5609d6e67c3e37c62c72e", "9fda0e56ab2d85e1569a688696c26a6c", [][3]string{
			{"", "7e5895eaf2672435bad817f545a37148", "ef85fb890bb8472f4dab20394dca781dad877eda39d50c870c0d5a0a8e48c718"},
			{"000102030405", "7bca285e2fd4130fb55b1a5c83bc5b24", "84d7f30754ed987bab0bf3506beb09cfb55402cef7e6877ce99e247e52d16ed4421dfdf8976c"},
			{"000102030405060708090a0b0c0d0e0f", "56ab21713ff62c0a1457200f6fa9948f", "3517d640f50ddc8ad3628722b3569d2ae07493fa8263254080ea65c1008e8fc295fb4852e7d83e1e7c48c37eebe6b0d3"},
			{"000102030405060708090a0b0c0d0e0f1011121314", "a7a4e29a4728ce10664fb64e49ad3fac", "720f73b18d9859cd6ccb4346115cd336c70f58edc0c4437c5573544c31c813bce1e6d072c186b39a413c2f92ca9b8334a287ffcbfc"},
		}, "d78367186643d67b411cba9139fc1dee"},
		{20, "6d404d37faf79f9df0d33568d320669800eb4836472ea8a026d16b7182460c52", "ef5718be86cc84963d8bbb5031e9f5c4ba41f28faf69e73d", "56ab22bee63d82d7bc5227f6773f8ea7a5eb1c825160c38312980c442e5c7e49", "69b16514e3cd8e56b82010d5c73012b622c4d00ffc23ed1f", [][3]string{
			{"", "f764e9fa15c276478b2c7d0c4e5f58e4", "41f53fa5bfe7026d91faf9be959195a058707273a96a40f0a01960621ac612748b9bbfbe7eb4ce3c"},
			{"000102030405", "b80d3251c1f6471494256ffe712d0b9a", "4ed7b37c2bcac8f74f23c1cf07e62bc7b75fb3f637b9f559c7f664f69eab7b6092237526ea0d1f61cb20d69d10f2"},
			{"000102030405060708090a0b0c0d0e0f", "53bf8a0d105265d4e276428624ce5e63", "bc47ffec7998eb91e8115cf8d19dac4bbbe2e163e87dd37f49beca92027764f68cf51f14d798c2273f35df574d1f932e40c4ff255b36a266"},
			{"000102030405060708090a0b0c0d0e0f1011121314", "763e65367e864f02f55153c7e3b58af1", "40013e2df58e8751957d2878bcd2d6fe101ccfd556cb1eae79db3c3ee86429f2b2a602ac86fef6ecb647d6295fae077a1feb517508d2c16b4192e01f62"},
		}, "45ee791567eefca37f4ac1e0222de80d43c3bfa06699672a"},
	} {
		e := newAESEngine(types.EncryptionKey{KeyType: v.etype, KeyValue: unhex(t, v.base)}).(*aesEngine)
		if got := hex.EncodeToString(e.derive(2, constKc, e.kcLen)); got != v.kc {
			t.Errorf("etype %d Kc %s, want %s", v.etype, got, v.kc)
		}
		if got := hex.EncodeToString(e.derive(2, constKe, e.keLen)); got != v.ke {
			t.Errorf("etype %d Ke %s, want %s", v.etype, got, v.ke)
		}
		if got := hex.EncodeToString(e.derive(2, constKi, e.kcLen)); got != v.ki {
			t.Errorf("etype %d Ki %s, want %s", v.etype, got, v.ki)
		}
		for _, enc := range v.encs {
			dst, p := e.layout(nil, unhex(t, enc[0]), nil)
			copy(p, unhex(t, enc[1]))
			if got := hex.EncodeToString(e.seal(dst, e.enc(2), p)); got != enc[2] {
				t.Errorf("etype %d encrypt(%s) = %s, want %s", v.etype, enc[0], got, enc[2])
			}
			ct := unhex(t, enc[2])
			pt, err := e.decrypt(make([]byte, len(ct)-e.tag), 2, ct)
			if err != nil || hex.EncodeToString(pt) != enc[0] {
				t.Errorf("etype %d decrypt = %x %v, want %s", v.etype, pt, err, enc[0])
			}
		}
		ck, _ := e.checksum(nil, 2, unhex(t, "000102030405060708090a0b0c0d0e0f1011121314"), nil)
		if got := hex.EncodeToString(ck); got != v.cksum {
			t.Errorf("etype %d checksum %s, want %s", v.etype, got, v.cksum)
		}
	}
}

// TestAgainstGokrb5: for each AES enctype, our derived keys, checksums and ciphertexts
// are byte-identical to gokrb5's, and each side decrypts the other's messages, at every
// length around the block boundaries.
func TestAgainstGokrb5(t *testing.T) {
	for _, etype := range []int32{17, 18, 19, 20} {
		t.Run(fmt.Sprint("etype", etype), func(t *testing.T) {
			key := randomKey(t, etype)
			et, _ := crypto.GetEtype(etype)
			e := newAESEngine(key).(*aesEngine)
			for _, u := range []uint32{2, 22, 23, 24, 25, 41, 1000} {
				for _, c := range []struct {
					c byte
					n int
				}{{constKc, e.kcLen}, {constKe, e.keLen}, {constKi, e.kcLen}} {
					label := append(common.GetUsageKc(u)[:4:4], c.c)
					want, _ := et.DeriveKey(key.KeyValue, label)
					if got := e.derive(u, c.c, c.n); !bytes.Equal(got, want) {
						t.Fatalf("usage %d constant %02x: %x, gokrb5 %x", u, c.c, got, want)
					}
				}
			}
			for n := 0; n <= 70; n++ {
				msg := bytes.Repeat([]byte{byte(n + 1)}, n)
				u := uint32(22 + n%4)
				ck, _ := e.checksum(nil, u, msg[:n/2], msg[n/2:])
				if want, _ := et.GetChecksumHash(key.KeyValue, msg, u); !bytes.Equal(ck, want) {
					t.Fatalf("checksum of %d bytes: %x, gokrb5 %x", n, ck, want)
				}
				ours, _ := e.encrypt(nil, u, msg, nil)
				if pt, err := et.DecryptMessage(key.KeyValue, ours, u); err != nil || !bytes.Equal(pt, msg) {
					t.Fatalf("gokrb5 decrypts our %d bytes: %x %v", n, pt, err)
				}
				_, theirs, _ := et.EncryptMessage(key.KeyValue, msg, u)
				if pt, err := e.decrypt(make([]byte, len(theirs)-e.tag), u, theirs); err != nil || !bytes.Equal(pt, msg) {
					t.Fatalf("we decrypt gokrb5's %d bytes: %x %v", n, pt, err)
				}
				// Byte identity with the same confounder, built from gokrb5's
				// primitives.
				conf := ours[:aes.BlockSize]
				dst, p := e.layout(nil, msg, nil)
				ke, _ := et.DeriveKey(key.KeyValue, common.GetUsageKe(u))
				copy(p, conf)
				_, want, _ := et.EncryptData(ke, append(bytes.Clone(conf), msg...))
				var tag []byte
				if e.rfc8009 {
					tag, _ = common.GetIntegrityHash(append(make([]byte, 16), want...), key.KeyValue, u, et)
				} else {
					tag, _ = common.GetIntegrityHash(append(bytes.Clone(conf), msg...), key.KeyValue, u, et)
				}
				want = append(want, tag...)
				if got := e.seal(dst, e.enc(u), p); !bytes.Equal(got, want) {
					t.Fatalf("%d bytes: %x, gokrb5 %x", n, got, want)
				}
			}
		})
	}
}

// TestEncryptDecrypt: the one-shot helpers interoperate with gokrb5's EncryptedData
// functions for every enctype the session supports.
func TestEncryptDecrypt(t *testing.T) {
	for _, etype := range []int32{17, 18, 19, 20, 23} {
		key := randomKey(t, etype)
		msg := []byte("an EncAPRepPart, say")
		ct, err := Encrypt(key, 12, msg)
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := crypto.DecryptMessage(ct, key, 12); err != nil || !bytes.Equal(pt, msg) {
			t.Fatalf("etype %d: gokrb5 decrypts ours: %q %v", etype, pt, err)
		}
		ed, _ := crypto.GetEncryptedData(msg, key, 12, 0)
		if pt, err := Decrypt(key, 12, ed.Cipher); err != nil || !bytes.Equal(pt, msg) {
			t.Fatalf("etype %d: we decrypt gokrb5's: %q %v", etype, pt, err)
		}
		if _, err := Decrypt(key, 11, ed.Cipher); !errors.Is(err, sspi.ErrMessageAltered) {
			t.Errorf("etype %d: other usage: %v", etype, err)
		}
		if _, err := Decrypt(key, 12, ed.Cipher[:10]); !errors.Is(err, sspi.ErrMessageAltered) {
			t.Errorf("etype %d: short: %v", etype, err)
		}
	}
}

// TestKeyConcurrent: a Key shared by goroutines, over the session usages and others,
// agrees with gokrb5 (run with -race).
func TestKeyConcurrent(t *testing.T) {
	for _, etype := range []int32{18, 19} {
		key := randomKey(t, etype)
		k, err := NewKey(key)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error)
		for g := range 4 {
			go func() {
				for i := range 40 {
					u := uint32(1 + (g*7+i)%30)
					msg := bytes.Repeat([]byte{byte(i)}, i)
					ct, err := k.Encrypt(u, msg)
					if err != nil {
						done <- err
						return
					}
					if pt, err := crypto.DecryptMessage(ct, key, u); err != nil || !bytes.Equal(pt, msg) {
						done <- fmt.Errorf("usage %d: gokrb5 decrypts %x %v", u, pt, err)
						return
					}
					ck, err := k.Checksum(u, msg)
					if err == nil {
						err = k.VerifyChecksum(u, msg, ck)
					}
					if err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
		}
		for range 4 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		k.Close()
	}
}
