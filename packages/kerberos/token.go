package kerberos

import (
	"github.com/gossp/gossp/internal/gssframe"
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

var oidKrb5DER = gssframe.OIDBytes(OID)

// frame wraps an inner token in the GSS-API framing of RFC 2743 3.1 with the Kerberos
// OID and a two-byte token ID (RFC 1964 1.1 / RFC 4121 4.1).
func frame(tokID uint16, inner []byte) []byte { return gssframe.Frame(oidKrb5DER, tokID, inner) }

// ParseFrame parses a framed Kerberos context token: it checks the outer tag, the
// length, the mechanism OID (the real one or Windows' 1.2.840.48018.1.2.2) and returns
// the token ID and the inner token. Failures wrap ErrInvalidToken.
func ParseFrame(b []byte) (tokID uint16, inner []byte, err error) {
	oid, tokID, inner, err := gssframe.Parse(b)
	if err != nil {
		return 0, nil, sspi.Errorf(sspi.ErrInvalidToken, "%w", err)
	}
	if !oid.Equal(OID) && !oid.Equal(oidMS) {
		return 0, nil, sspi.Errorf(sspi.ErrInvalidToken, "GSS framing: mechanism %v is not Kerberos", oid)
	}
	return tokID, inner, nil
}

// PerMessageHeader is a parsed RFC 4121 MIC or wrap token header.
type PerMessageHeader = rfc4121.Header

// ParsePerMessage parses the 16-byte header of a MIC (04 04) or wrap (05 04) token and
// returns it with the rest of the token. Failures wrap ErrInvalidToken. It is
// rfc4121.ParsePerMessage, kept here for the package's users.
func ParsePerMessage(tok []byte) (PerMessageHeader, []byte, error) {
	return rfc4121.ParsePerMessage(tok)
}
