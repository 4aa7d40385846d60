package negoex

import (
	"crypto/subtle"

	"github.com/jcmturner/gokrb5/v8/crypto"

	"github.com/gossp/gossp/sspi"
)

// Key usages of the VERIFY checksums. The draft's text has them the other way round;
// MIT and Windows use 25 for the initiator's VERIFY and 23 for the acceptor's, and so
// must everyone who wants to talk to them.
const (
	usageInitiatorVerify = 25
	usageAcceptorVerify  = 23
)

// Key is an RFC 3961 key: its encryption type and value. A scheme gives NegoEx one to
// sign its VERIFY with and one to check the peer's.
type Key struct {
	Etype int32 // e.g. 18, aes256-cts-hmac-sha1-96
	Value []byte
}

// makeChecksum is the RFC 3961 keyed checksum of data, of the mandatory checksum type
// of the key's encryption type.
func makeChecksum(k Key, usage uint32, data []byte) (uint32, []byte, error) {
	et, err := crypto.GetEtype(k.Etype)
	if err != nil {
		return 0, nil, sspi.Errorf(sspi.ErrKDCUnknownEtype, "NegoEx: VERIFY key: %w", err)
	}
	if len(k.Value) != et.GetKeyByteSize() {
		return 0, nil, sspi.Errorf(sspi.ErrInternal, "NegoEx: VERIFY key of %d bytes for enctype %d", len(k.Value), k.Etype)
	}
	sum, err := et.GetChecksumHash(k.Value, data, usage)
	if err != nil {
		return 0, nil, sspi.Errorf(sspi.ErrInternal, "NegoEx: checksum: %w", err)
	}
	return uint32(et.GetHashID()), sum, nil
}

// checkChecksum verifies a peer's VERIFY checksum in constant time.
func checkChecksum(k Key, usage uint32, data []byte, typ uint32, sum []byte) error {
	wantType, want, err := makeChecksum(k, usage, data)
	if err != nil {
		return err
	}
	if typ != wantType {
		return sspi.Errorf(sspi.ErrMessageAltered, "NegoEx: VERIFY checksum type %d, the key's is %d", typ, wantType)
	}
	if subtle.ConstantTimeCompare(want, sum) != 1 {
		return sspi.Errorf(sspi.ErrMessageAltered, "NegoEx: the VERIFY checksum does not match: the conversation was altered")
	}
	return nil
}
