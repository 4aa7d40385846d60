package rfc4121

import (
	"crypto/subtle"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/etype"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gossp/gossp/sspi"
)

// engine is an RFC 3961 cryptosystem bound to one base key: the keyed checksum
// (get_mic) and the authenticated encryption (encrypt/decrypt) for any key usage.
type engine interface {
	etype() int32
	// cksumSize is the length of a keyed checksum, confSize of the confounder, tagSize of
	// the integrity tag that ends a ciphertext.
	cksumSize() int
	confSize() int
	tagSize() int
	// checksum appends to dst the keyed checksum of a|b for usage (key Kc).
	checksum(dst []byte, usage uint32, a, b []byte) ([]byte, error)
	// verify reports whether got is the keyed checksum of a|b for usage, comparing in
	// constant time.
	verify(usage uint32, a, b, got []byte) (bool, error)
	// encrypt appends to dst the RFC 3961 encryption of a|b for usage: the ciphertext of
	// confounder|a|b followed by the integrity tag. a and b may alias dst's spare
	// capacity only if they do not overlap what encrypt writes.
	encrypt(dst []byte, usage uint32, a, b []byte) ([]byte, error)
	// decrypt verifies and decrypts ct (ciphertext and tag) for usage, and returns the
	// plaintext after the confounder. buf, of len(ct)-tagSize, may receive the
	// plaintext; it is either ct[:len(ct)-tagSize] itself or does not overlap ct.
	decrypt(buf []byte, usage uint32, ct []byte) ([]byte, error)
	// wipe clears the key material the engine holds.
	wipe()
}

// keySize is the protocol key size of an enctype. gokrb5 reports 24 bytes for
// aes256-cts-hmac-sha384-192, whose keys are 32 bytes (RFC 8009 5).
func keySize(et etype.EType) int {
	if et.GetETypeID() == etypeID.AES256_CTS_HMAC_SHA384_192 {
		return 32
	}
	return et.GetKeyByteSize()
}

// newEngine returns the cryptosystem for key: ours for the AES enctypes, gokrb5's for
// the others it knows.
func newEngine(key types.EncryptionKey) (engine, error) {
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrKDCUnknownEtype, "enctype %d: %w", key.KeyType, err)
	}
	if n := keySize(et); len(key.KeyValue) != n {
		return nil, sspi.Errorf(sspi.ErrInvalidParameter, "a key of %d bytes for enctype %d, which has %d-byte keys", len(key.KeyValue), key.KeyType, n)
	}
	if e := newAESEngine(key); e != nil {
		return e, nil
	}
	return &gokrb5Engine{et: et, key: append([]byte(nil), key.KeyValue...)}, nil
}

// gokrb5Engine is the per-message path of gokrb5, which derives the usage keys on every
// call: the fallback for enctypes we do not implement (and the baseline of the
// benchmarks).
type gokrb5Engine struct {
	et  etype.EType
	key []byte
}

func (e *gokrb5Engine) etype() int32   { return e.et.GetETypeID() }
func (e *gokrb5Engine) cksumSize() int { return e.et.GetHMACBitLength() / 8 }
func (e *gokrb5Engine) confSize() int  { return e.et.GetConfounderByteSize() }
func (e *gokrb5Engine) tagSize() int   { return e.et.GetHMACBitLength() / 8 }
func (e *gokrb5Engine) wipe()          { clear(e.key) }

func (e *gokrb5Engine) checksum(dst []byte, usage uint32, a, b []byte) ([]byte, error) {
	buf := make([]byte, 0, len(a)+len(b))
	buf = append(append(buf, a...), b...)
	ck, err := e.et.GetChecksumHash(e.key, buf, usage)
	if err != nil {
		return dst, err
	}
	return append(dst, ck...), nil
}

func (e *gokrb5Engine) verify(usage uint32, a, b, got []byte) (bool, error) {
	want, err := e.checksum(nil, usage, a, b)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(want, got) == 1, nil
}

func (e *gokrb5Engine) encrypt(dst []byte, usage uint32, a, b []byte) ([]byte, error) {
	pt := make([]byte, 0, len(a)+len(b))
	pt = append(append(pt, a...), b...)
	_, ct, err := e.et.EncryptMessage(e.key, pt, usage)
	if err != nil {
		return dst, err
	}
	return append(dst, ct...), nil
}

func (e *gokrb5Engine) decrypt(_ []byte, usage uint32, ct []byte) ([]byte, error) {
	if len(ct) < e.confSize()+e.tagSize() || len(ct) < 16 {
		return nil, errShort
	}
	return e.et.DecryptMessage(e.key, ct, usage)
}
