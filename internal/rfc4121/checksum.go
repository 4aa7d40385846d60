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

// Checksum returns the RFC 3961 keyed checksum of data for usage with key's mandatory
// checksum type (hmac-sha1-96-aes128/256 for enctypes 17/18, hmac-sha256-128-aes128 and
// hmac-sha384-192-aes256 for 19/20), as KRB-FINISHED (usage 41) and authenticator
// checksums carry it. An unknown enctype fails with sspi.ErrKDCUnknownEtype.
func Checksum(key types.EncryptionKey, usage uint32, data []byte) (types.Checksum, error) {
	eng, err := newEngine(key)
	if err != nil {
		return types.Checksum{}, err
	}
	defer eng.wipe()
	ck, err := eng.checksum(nil, usage, data, nil)
	if err != nil {
		return types.Checksum{}, sspi.Errorf(sspi.ErrInternal, "checksum: %w", err)
	}
	return types.Checksum{CksumType: cksumType(key.KeyType), Checksum: ck}, nil
}

// VerifyChecksum checks ck against data for usage with key: its type must be key's
// mandatory checksum type and its value must match (compared in constant time).
// Failures wrap sspi.ErrMessageAltered.
func VerifyChecksum(key types.EncryptionKey, usage uint32, data []byte, ck types.Checksum) error {
	if want := cksumType(key.KeyType); ck.CksumType != want {
		return sspi.Errorf(sspi.ErrMessageAltered, "checksum type %d, want %d for enctype %d", ck.CksumType, want, key.KeyType)
	}
	eng, err := newEngine(key)
	if err != nil {
		return err
	}
	defer eng.wipe()
	ok, err := eng.verify(usage, data, nil, ck.Checksum)
	if err != nil {
		return sspi.Errorf(sspi.ErrInternal, "checksum: %w", err)
	}
	if !ok {
		return sspi.Errorf(sspi.ErrMessageAltered, "the checksum does not verify")
	}
	return nil
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

// Encrypt is RFC 3961's encrypt with key for usage: a random confounder and plaintext,
// encrypted, followed by the integrity tag (the cipher of an EncryptedData). The AES
// enctypes are ours; others go through gokrb5.
func Encrypt(key types.EncryptionKey, usage uint32, plaintext []byte) ([]byte, error) {
	eng, err := newEngine(key)
	if err != nil {
		return nil, err
	}
	defer eng.wipe()
	ct, err := eng.encrypt(nil, usage, plaintext, nil)
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrEncryptFailure, "encrypt: %w", err)
	}
	return ct, nil
}

// Decrypt is RFC 3961's decrypt with key for usage: it checks the integrity tag and
// returns the plaintext without the confounder. A ciphertext that does not verify (or
// is too short) fails with sspi.ErrMessageAltered.
func Decrypt(key types.EncryptionKey, usage uint32, ciphertext []byte) ([]byte, error) {
	eng, err := newEngine(key)
	if err != nil {
		return nil, err
	}
	defer eng.wipe()
	if len(ciphertext) < eng.confSize()+eng.tagSize() {
		return nil, sspi.Errorf(sspi.ErrMessageAltered, "decrypt: %w", errShort)
	}
	pt, err := eng.decrypt(make([]byte, len(ciphertext)-eng.tagSize()), usage, ciphertext)
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrMessageAltered, "decrypt: %w", err)
	}
	return pt, nil
}
