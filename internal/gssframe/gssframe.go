// Package gssframe encodes and parses the GSS-API InitialContextToken framing of
// RFC 2743 3.1 with the two-byte token ID that Kerberos-family mechanisms put after
// the OID (RFC 1964 1.1, RFC 4121 4.1): 0x60 len ‖ mech OID ‖ TOK_ID ‖ inner token.
package gssframe

import (
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformed is wrapped by every parse failure.
var ErrMalformed = errors.New("malformed GSS-API framing")

// OIDBytes is the DER encoding of a mechanism OID, ready for Frame.
func OIDBytes(o asn1.ObjectIdentifier) []byte {
	b, err := asn1.Marshal(o)
	if err != nil {
		panic(fmt.Sprintf("gssframe: OID %v: %v", o, err))
	}
	return b
}

// Frame wraps inner with the mechanism (DER OID, from OIDBytes) and token ID.
func Frame(oidDER []byte, tokID uint16, inner []byte) []byte {
	n := len(oidDER) + 2 + len(inner)
	out := make([]byte, 0, n+6)
	out = append(out, 0x60)
	out = appendLen(out, n)
	out = append(out, oidDER...)
	out = binary.BigEndian.AppendUint16(out, tokID)
	return append(out, inner...)
}

func appendLen(b []byte, n int) []byte {
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

// Parse checks the outer tag and length and returns the mechanism OID, the token ID
// and the inner token. Failures wrap ErrMalformed.
func Parse(b []byte) (oid asn1.ObjectIdentifier, tokID uint16, inner []byte, err error) {
	bad := func(what string) (asn1.ObjectIdentifier, uint16, []byte, error) {
		return nil, 0, nil, fmt.Errorf("%w: %s", ErrMalformed, what)
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
	if _, err := asn1.Unmarshal(rest[:2+int(rest[1])], &oid); err != nil {
		return bad("bad mechanism OID")
	}
	rest = rest[2+int(rest[1]):]
	return oid, binary.BigEndian.Uint16(rest), rest[2:], nil
}
