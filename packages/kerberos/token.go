package kerberos

import (
	"encoding/asn1"
	"encoding/binary"

	"github.com/gossp/gossp/internal/rfc4121"
	"github.com/gossp/gossp/sspi"
)

// Token IDs of the context tokens (RFC 4121 4.1, RFC 1964 1.1); the per-message ones
// are in internal/rfc4121.
const (
	tokAPReq    uint16 = 0x0100
	tokAPRep    uint16 = 0x0200
	tokKRBError uint16 = 0x0300
)

var oidKrb5DER = mustOID(OID)

func mustOID(o asn1.ObjectIdentifier) []byte {
	b, err := asn1.Marshal(o)
	if err != nil {
		panic(err)
	}
	return b
}

// frame wraps an inner token in the GSS-API framing of RFC 2743 3.1 with the Kerberos
// OID and a two-byte token ID (RFC 1964 1.1 / RFC 4121 4.1).
func frame(tokID uint16, inner []byte) []byte {
	n := len(oidKrb5DER) + 2 + len(inner)
	out := make([]byte, 0, n+6)
	out = append(out, 0x60)
	out = appendDERLen(out, n)
	out = append(out, oidKrb5DER...)
	out = binary.BigEndian.AppendUint16(out, tokID)
	return append(out, inner...)
}

func appendDERLen(b []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n < 0x100:
		return append(b, 0x81, byte(n))
	case n < 0x10000:
		return append(b, 0x82, byte(n>>8), byte(n))
	case n < 0x1000000:
		return append(b, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// ParseFrame parses a framed Kerberos context token: it checks the outer tag, the
// length, the mechanism OID (the real one or Windows' 1.2.840.48018.1.2.2) and returns
// the token ID and the inner token. Failures wrap ErrInvalidToken.
func ParseFrame(b []byte) (tokID uint16, inner []byte, err error) {
	bad := func(what string) (uint16, []byte, error) {
		return 0, nil, sspi.Errorf(sspi.ErrInvalidToken, "GSS framing: %s", what)
	}
	if len(b) < 2 || b[0] != 0x60 {
		return bad("not an InitialContextToken")
	}
	n, rest := 0, b[2:]
	switch l := b[1]; {
	case l < 0x80:
		n = int(l)
	case l >= 0x81 && l <= 0x84:
		k := int(l - 0x80)
		if len(rest) < k {
			return bad("truncated length")
		}
		for _, c := range rest[:k] {
			n = n<<8 | int(c)
		}
		if n < 0x80 || (k > 1 && rest[0] == 0) {
			return bad("non-minimal length")
		}
		rest = rest[k:]
	default:
		return bad("bad length")
	}
	if n != len(rest) {
		return bad("length does not match the token")
	}
	if len(rest) < 2 || rest[0] != 0x06 || rest[1] >= 0x80 || len(rest) < 2+int(rest[1])+2 {
		return bad("no mechanism OID")
	}
	var oid asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(rest[:2+int(rest[1])], &oid); err != nil {
		return bad("bad mechanism OID")
	}
	if !oid.Equal(OID) && !oid.Equal(oidMS) {
		return 0, nil, sspi.Errorf(sspi.ErrInvalidToken, "GSS framing: mechanism %v is not Kerberos", oid)
	}
	rest = rest[2+int(rest[1]):]
	return binary.BigEndian.Uint16(rest), rest[2:], nil
}

// PerMessageHeader is a parsed RFC 4121 MIC or wrap token header.
type PerMessageHeader = rfc4121.Header

// ParsePerMessage parses the 16-byte header of a MIC (04 04) or wrap (05 04) token and
// returns it with the rest of the token. Failures wrap ErrInvalidToken. It is
// rfc4121.ParsePerMessage, kept here for the package's users.
func ParsePerMessage(tok []byte) (PerMessageHeader, []byte, error) {
	return rfc4121.ParsePerMessage(tok)
}
