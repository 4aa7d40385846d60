package rfc4121

import (
	"errors"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gossp/gossp/sspi"
)

var (
	errShort     = errors.New("ciphertext shorter than its confounder and integrity tag")
	errIntegrity = errors.New("integrity check failed")
)

// Key is an RFC 3961 key ready for use: its per-usage keys (Kc, Ke, Ki) are derived on
// first use and kept, so a key used for many messages (a service key, the session key of
// a cached ticket) derives them once. Its methods are safe for concurrent use.
type Key struct {
	eng engine
}

// NewKey returns key ready for use; the key is copied. An enctype gokrb5 does not know
// fails with sspi.ErrKDCUnknownEtype, a key of the wrong size with
// sspi.ErrInvalidParameter.
func NewKey(key types.EncryptionKey) (*Key, error) {
	eng, err := newEngine(key)
	if err != nil {
		return nil, err
	}
	return &Key{eng: eng}, nil
}

// EncType returns the key's enctype.
func (k *Key) EncType() int32 { return k.eng.etype() }

// Close wipes the key material k holds (not the AES key schedules inside crypto/aes).
// k must not be used after, nor concurrently with, Close.
func (k *Key) Close() { k.eng.wipe() }

// Checksum returns the RFC 3961 keyed checksum of data for usage with the key's
// mandatory checksum type (hmac-sha1-96-aes128/256 for enctypes 17/18,
// hmac-sha256-128-aes128 and hmac-sha384-192-aes256 for 19/20), as KRB-FINISHED
// (usage 41) and authenticator checksums carry it.
func (k *Key) Checksum(usage uint32, data []byte) (types.Checksum, error) {
	ck, err := k.eng.checksum(nil, usage, data, nil)
	if err != nil {
		return types.Checksum{}, sspi.Errorf(sspi.ErrInternal, "checksum: %w", err)
	}
	return types.Checksum{CksumType: cksumType(k.eng.etype()), Checksum: ck}, nil
}

// VerifyChecksum checks ck against data for usage: its type must be the key's mandatory
// checksum type and its value must match (compared in constant time). Failures wrap
// sspi.ErrMessageAltered.
func (k *Key) VerifyChecksum(usage uint32, data []byte, ck types.Checksum) error {
	if want := cksumType(k.eng.etype()); ck.CksumType != want {
		return sspi.Errorf(sspi.ErrMessageAltered, "checksum type %d, want %d for enctype %d", ck.CksumType, want, k.eng.etype())
	}
	ok, err := k.eng.verify(usage, data, nil, ck.Checksum)
	if err != nil {
		return sspi.Errorf(sspi.ErrInternal, "checksum: %w", err)
	}
	if !ok {
		return sspi.Errorf(sspi.ErrMessageAltered, "the checksum does not verify")
	}
	return nil
}

// Encrypt is RFC 3961's encrypt for usage: a random confounder and plaintext, encrypted,
// followed by the integrity tag (the cipher of an EncryptedData).
func (k *Key) Encrypt(usage uint32, plaintext []byte) ([]byte, error) {
	ct, err := k.eng.encrypt(nil, usage, plaintext, nil)
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrEncryptFailure, "encrypt: %w", err)
	}
	return ct, nil
}

// Decrypt is RFC 3961's decrypt for usage: it checks the integrity tag and returns the
// plaintext without the confounder. A ciphertext that does not verify (or is too short)
// fails with sspi.ErrMessageAltered.
func (k *Key) Decrypt(usage uint32, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) < k.eng.confSize()+k.eng.tagSize() {
		return nil, sspi.Errorf(sspi.ErrMessageAltered, "decrypt: %w", errShort)
	}
	pt, err := k.eng.decrypt(make([]byte, len(ciphertext)-k.eng.tagSize()), usage, ciphertext)
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrMessageAltered, "decrypt: %w", err)
	}
	return pt, nil
}

// Checksum is NewKey(key) then Key.Checksum: for a key used once.
func Checksum(key types.EncryptionKey, usage uint32, data []byte) (types.Checksum, error) {
	k, err := NewKey(key)
	if err != nil {
		return types.Checksum{}, err
	}
	defer k.Close()
	return k.Checksum(usage, data)
}

// VerifyChecksum is NewKey(key) then Key.VerifyChecksum: for a key used once.
func VerifyChecksum(key types.EncryptionKey, usage uint32, data []byte, ck types.Checksum) error {
	if want := cksumType(key.KeyType); ck.CksumType != want {
		return sspi.Errorf(sspi.ErrMessageAltered, "checksum type %d, want %d for enctype %d", ck.CksumType, want, key.KeyType)
	}
	k, err := NewKey(key)
	if err != nil {
		return err
	}
	defer k.Close()
	return k.VerifyChecksum(usage, data, ck)
}

// Encrypt is NewKey(key) then Key.Encrypt: for a key used once.
func Encrypt(key types.EncryptionKey, usage uint32, plaintext []byte) ([]byte, error) {
	k, err := NewKey(key)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	return k.Encrypt(usage, plaintext)
}

// Decrypt is NewKey(key) then Key.Decrypt: for a key used once.
func Decrypt(key types.EncryptionKey, usage uint32, ciphertext []byte) ([]byte, error) {
	k, err := NewKey(key)
	if err != nil {
		return nil, err
	}
	defer k.Close()
	return k.Decrypt(usage, ciphertext)
}

// cksumType is the mandatory checksum type of an enctype (RFC 3961 7, RFC 3962 7,
// RFC 8009 8), 0 if gokrb5 does not know it.
func cksumType(etype int32) int32 {
	et, err := crypto.GetEtype(etype)
	if err != nil {
		return 0
	}
	return et.GetHashID()
}
