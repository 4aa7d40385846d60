package pku2u

import (
	"encoding/binary"
	"errors"
	"io"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gossp/gossp/internal/cms"
	"github.com/gossp/gossp/internal/gssframe"
	"github.com/gossp/gossp/negoex"
	"github.com/gossp/gossp/sspi"
)

// Pre-authentication data types and name types (RFC 4556, RFC 6111).
const (
	paPKASReq   = 16
	paPKASRep   = 17
	ntSrvHst    = 3
	ntWellKnown = 11

	// PKINIT error codes (RFC 4556 3.1.3); gokrb5 names only some.
	errClientNotTrusted     = 62
	errInvalidSig           = 64
	errDHParamsNotAccepted  = 65
	errCantVerifyCert       = 70
	errInvalidCert          = 71
	tdTrustedCertifiers     = 104
	tdDHParameters          = 109
	errKDCOptionNotAccepted = 13
)

// frame wraps a Kerberos PDU in the GSS framing with PKU2U's OID.
func frame(tokID uint16, inner []byte) []byte { return gssframe.Frame(oidDER, tokID, inner) }

// parseToken reads a context token: framed with PKU2U's OID, or (as the notes say some
// peers send inside NegoEx) a bare TOK_ID and PDU.
func parseToken(b []byte) (uint16, []byte, error) {
	if len(b) > MaxToken {
		return 0, nil, sspi.Errorf(sspi.ErrInvalidToken, "pku2u: a token of %d bytes exceeds %d", len(b), MaxToken)
	}
	if len(b) >= 3 && b[0] != 0x60 {
		id := binary.BigEndian.Uint16(b)
		switch id {
		case tokASReq, tokASRep, tokAPReq, tokAPRep, tokKRBError:
			return id, b[2:], nil
		}
	}
	oid, id, inner, err := gssframe.Parse(b)
	if err != nil {
		return 0, nil, sspi.Errorf(sspi.ErrInvalidToken, "pku2u: %w", err)
	}
	if !oid.Equal(OID) {
		return 0, nil, sspi.Errorf(sspi.ErrInvalidToken, "pku2u: mechanism %v is not PKU2U", oid)
	}
	return id, inner, nil
}

// marshalKDCReq is KDC-REQ with the request body kept as encoded, so the paChecksum
// over it stays exact.
type marshalKDCReq struct {
	PVNO    int                  `asn1:"explicit,tag:1"`
	MsgType int                  `asn1:"explicit,tag:2"`
	PAData  types.PADataSequence `asn1:"explicit,optional,tag:3"`
	ReqBody asn1.RawValue        // [4] EXPLICIT, built by hand: a RawValue is written as is
}

func marshalASReq(pa types.PADataSequence, body []byte) ([]byte, error) {
	b, err := asn1.Marshal(marshalKDCReq{PVNO: 5, MsgType: 10, PAData: pa, ReqBody: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: body}})
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrInternal, "pku2u: AS-REQ: %v", err)
	}
	return asn1tools.AddASNAppTag(b, asnAppTag.ASREQ), nil
}

// krbError is a framed KRB-ERROR for the peer, with optional e-data.
func krbError(code int32, edata []byte) []byte {
	ke := messages.NewKRBError(types.PrincipalName{NameType: ntWellKnown, NameString: []string{"WELLKNOWN", "NULL"}}, Realm, code, "")
	ke.EData = edata
	b, err := ke.Marshal()
	if err != nil {
		return nil
	}
	return frame(tokKRBError, b)
}

// peerError turns the peer's KRB-ERROR into our error.
func peerError(inner []byte) error {
	var ke messages.KRBError
	if err := ke.Unmarshal(inner); err != nil {
		return sspi.Errorf(sspi.ErrInvalidToken, "pku2u: KRB-ERROR: %v", err)
	}
	return sspi.Errorf(krbErrorStatus(ke.ErrorCode), "pku2u: the peer refused: KRB-ERROR %d (%s)", ke.ErrorCode, errorcode.Lookup(ke.ErrorCode))
}

// krbErrorStatus maps a KRB-ERROR code to an SSPI status.
func krbErrorStatus(code int32) sspi.Status {
	switch code {
	case errClientNotTrusted:
		return sspi.ErrUntrustedRoot
	case errCantVerifyCert, errInvalidCert:
		return sspi.ErrPKU2UCertFailure
	case errInvalidSig:
		return sspi.ErrMessageAltered
	case errDHParamsNotAccepted, errorcode.KDC_ERR_ETYPE_NOSUPP:
		return sspi.ErrAlgorithmMismatch
	case errorcode.KRB_AP_ERR_SKEW:
		return sspi.ErrTimeSkew
	case errorcode.KRB_AP_ERR_REPEAT:
		return sspi.ErrLogonDenied
	case errorcode.KRB_AP_ERR_MODIFIED, errorcode.KRB_AP_ERR_BAD_INTEGRITY:
		return sspi.ErrMessageAltered
	case errorcode.KRB_AP_ERR_INAPP_CKSUM:
		return sspi.ErrBadBindings
	}
	return sspi.ErrLogonDenied
}

// cmsStatus maps a SignedData failure to an SSPI status.
func cmsStatus(err error) sspi.Status {
	switch {
	case errors.Is(err, cms.ErrBadSignature), errors.Is(err, cms.ErrDigestMismatch):
		return sspi.ErrMessageAltered
	case errors.Is(err, cms.ErrNoSigner):
		return sspi.ErrPKU2UCertFailure
	}
	return sspi.ErrInvalidToken
}

func offered(list []int32, et int32) bool {
	for _, e := range list {
		if e == et {
			return true
		}
	}
	return false
}

// randUint31 is a random non-negative int32, for nonces and sequence numbers (which
// some peers read as signed).
func randUint31(r io.Reader) (int, error) {
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, sspi.Errorf(sspi.ErrInternal, "pku2u: random: %v", err)
	}
	return int(binary.BigEndian.Uint32(b[:]) & 0x3fffffff), nil
}

func randKey(r io.Reader, keyType int32) (types.EncryptionKey, error) {
	et, err := crypto.GetEtype(keyType)
	if err != nil {
		return types.EncryptionKey{}, sspi.Errorf(sspi.ErrKDCUnknownEtype, "pku2u: enctype %d: %v", keyType, err)
	}
	n := et.GetKeyByteSize()
	if keyType == 20 {
		n = 32 // gokrb5 reports the 24-byte key-seed length for aes256-sha384
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return types.EncryptionKey{}, sspi.Errorf(sspi.ErrInternal, "pku2u: random: %v", err)
	}
	return types.EncryptionKey{KeyType: keyType, KeyValue: b}, nil
}

func keyOf(k types.EncryptionKey) negoex.Key {
	return negoex.Key{Etype: k.KeyType, Value: append([]byte(nil), k.KeyValue...)}
}
