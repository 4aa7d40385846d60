package pkinit

import (
	"crypto/sha1"
	"errors"
	"fmt"

	"github.com/jcmturner/gokrb5/v8/crypto/rfc3961"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/types"
)

// ErrUnsupportedEtype is wrapped when a key is asked for an encryption type this
// package cannot make keys for.
var ErrUnsupportedEtype = errors.New("pkinit: unsupported encryption type")

// keySeed returns the key-generation seed length in bytes of an etype (RFC 3961
// section 3) and its random-to-key function. The table is kept here rather than taken
// from gokrb5's etypes, two of which disagree with the RFCs: gokrb5 v8.4.4 gives
// aes256-cts-hmac-sha384-192 a 24-byte key (RFC 8009: 32) and makes RC4's
// random-to-key MD4 (RFC 4757 and MIT: the identity).
func keySeed(etype int32) (int, func([]byte) []byte, error) {
	identity := func(b []byte) []byte { return b }
	switch etype {
	case etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA256_128:
		return 16, identity, nil
	case etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA384_192:
		return 32, identity, nil
	case etypeID.RC4_HMAC:
		return 16, identity, nil
	case etypeID.DES3_CBC_SHA1_KD:
		return 21, rfc3961.DES3RandomToKey, nil
	}
	return 0, nil, fmt.Errorf("%w: %d", ErrUnsupportedEtype, etype)
}

// KeySeedLength returns the key-generation seed length in bytes of an encryption type:
// 16 for aes128-cts-hmac-sha1-96 (17) and aes128-cts-hmac-sha256-128 (19), 32 for
// aes256-cts-hmac-sha1-96 (18) and aes256-cts-hmac-sha384-192 (20), 16 for rc4-hmac
// (23), 21 for des3-cbc-sha1-kd (16). gokrb5 v8.4.4 gets two related things wrong, so
// this package does not ask it: its etype 20 claims a 24-byte key (RFC 8009: 32) and
// its rc4-hmac random-to-key is MD4 (RFC 4757, MIT: the identity).
func KeySeedLength(etype int32) (int, error) {
	n, _, err := keySeed(etype)
	return n, err
}

// OctetString2Key derives the AS reply key from a Diffie-Hellman exchange as RFC 4556
// section 3.2.3.1 defines it (and Windows and MIT do when no RFC 8636 KDF is
// negotiated):
//
//	x = zz || clientDHNonce || serverDHNonce
//	K-truncate(SHA1(0x00 || x) || SHA1(0x01 || x) || ...)
//
// truncated to the key-generation seed length of etype, then random-to-key. zz must be
// the shared secret left-padded to the length of p (PrivateKey.SharedSecret does so).
// Empty nonces are simply absent from x, as when the client sent none.
func OctetString2Key(etype int32, zz, clientDHNonce, serverDHNonce []byte) (types.EncryptionKey, error) {
	n, r2k, err := keySeed(etype)
	if err != nil {
		return types.EncryptionKey{}, err
	}
	if len(zz) == 0 {
		return types.EncryptionKey{}, errors.New("pkinit: empty shared secret")
	}
	seed := octetString2Key(n, zz, clientDHNonce, serverDHNonce)
	return types.EncryptionKey{KeyType: etype, KeyValue: r2k(seed)}, nil
}

func octetString2Key(n int, parts ...[]byte) []byte {
	out := make([]byte, 0, n+sha1.Size)
	for counter := 0; len(out) < n; counter++ {
		h := sha1.New()
		h.Write([]byte{byte(counter)})
		for _, p := range parts {
			h.Write(p)
		}
		out = h.Sum(out)
	}
	return out[:n]
}
