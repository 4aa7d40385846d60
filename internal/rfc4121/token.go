// Package rfc4121 implements the per-message tokens of the Kerberos v5 GSS-API
// mechanism (RFC 4121 4.2): MIC tokens (04 04) and wrap tokens (05 04), sealed and
// integrity-only, with sequence numbers, replay and out-of-sequence detection, the
// SentByAcceptor and AcceptorSubkey flags, and EC and RRC on receipt. It is shared by the
// Kerberos package and by the Kerberos-based mechanisms that reuse RFC 4121's token
// formats and key usages 22-25 (PKU2U).
//
// The RFC 3961 cryptosystems aes128/256-cts-hmac-sha1-96 (RFC 3962, enctypes 17 and 18)
// and aes128-cts-hmac-sha256-128 / aes256-cts-hmac-sha384-192 (RFC 8009, enctypes 19
// and 20) are implemented here on crypto/aes and crypto/hmac, with the per-usage keys
// derived once per session or Key; other enctypes gokrb5 knows go through gokrb5 per
// message. Key (and the one-shot Encrypt, Decrypt, Checksum and VerifyChecksum) give the
// same cryptosystems for any key usage: EncryptedData ciphers, KRB-FINISHED checksums.
package rfc4121

import (
	"encoding/binary"

	"github.com/gossp/gossp/sspi"
)

// Token IDs of RFC 4121 4.2.6.
const (
	TokMIC  uint16 = 0x0404
	TokWrap uint16 = 0x0504
)

// Per-message token flags (RFC 4121 4.2.2).
const (
	FlagSentByAcceptor = 0x01
	FlagSealed         = 0x02
	FlagAcceptorSubkey = 0x04
)

// Key usages of RFC 4121 2.
const (
	KeyUsageAcceptorSeal  = 22
	KeyUsageAcceptorSign  = 23
	KeyUsageInitiatorSeal = 24
	KeyUsageInitiatorSign = 25
)

// HeaderLen is the length of a MIC or wrap token header.
const HeaderLen = 16

// Header is a parsed RFC 4121 MIC or wrap token header.
type Header struct {
	TokID uint16 // TokMIC or TokWrap
	Flags byte   // FlagSentByAcceptor | FlagSealed | FlagAcceptorSubkey
	EC    uint16 // wrap tokens: extra count (filler or checksum length)
	RRC   uint16 // wrap tokens: right rotation count
	Seq   uint64 // SND_SEQ
}

// ParsePerMessage parses the 16-byte header of a MIC (04 04) or wrap (05 04) token and
// returns it with the rest of the token (which aliases tok). Failures wrap
// sspi.ErrInvalidToken.
func ParsePerMessage(tok []byte) (Header, []byte, error) {
	var h Header
	if len(tok) < HeaderLen {
		return h, nil, sspi.Errorf(sspi.ErrInvalidToken, "per-message token of %d bytes is shorter than its header", len(tok))
	}
	h.TokID = binary.BigEndian.Uint16(tok)
	h.Flags = tok[2]
	h.Seq = binary.BigEndian.Uint64(tok[8:])
	if h.Flags&^(FlagSentByAcceptor|FlagSealed|FlagAcceptorSubkey) != 0 {
		return h, nil, sspi.Errorf(sspi.ErrInvalidToken, "unknown token flags 0x%02x", h.Flags)
	}
	switch h.TokID {
	case TokMIC:
		for _, c := range tok[3:8] {
			if c != 0xFF {
				return h, nil, sspi.Errorf(sspi.ErrInvalidToken, "MIC token filler is not FF")
			}
		}
		if h.Flags&FlagSealed != 0 {
			return h, nil, sspi.Errorf(sspi.ErrInvalidToken, "MIC token with the Sealed flag")
		}
	case TokWrap:
		if tok[3] != 0xFF {
			return h, nil, sspi.Errorf(sspi.ErrInvalidToken, "wrap token filler is not FF")
		}
		h.EC = binary.BigEndian.Uint16(tok[4:])
		h.RRC = binary.BigEndian.Uint16(tok[6:])
	default:
		return h, nil, sspi.Errorf(sspi.ErrInvalidToken, "token ID %04x is neither MIC nor wrap", h.TokID)
	}
	return h, tok[HeaderLen:], nil
}

// appendHeader appends a per-message token header to b.
func appendHeader(b []byte, tokID uint16, flags byte, ec, rrc uint16, seq uint64) []byte {
	b = binary.BigEndian.AppendUint16(b, tokID)
	b = append(b, flags)
	if tokID == TokMIC {
		b = append(b, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)
	} else {
		b = append(b, 0xFF)
		b = binary.BigEndian.AppendUint16(b, ec)
		b = binary.BigEndian.AppendUint16(b, rrc)
	}
	return binary.BigEndian.AppendUint64(b, seq)
}

// header returns a per-message token header as an array.
func header(tokID uint16, flags byte, ec, rrc uint16, seq uint64) [HeaderLen]byte {
	var h [HeaderLen]byte
	appendHeader(h[:0], tokID, flags, ec, rrc, seq)
	return h
}
