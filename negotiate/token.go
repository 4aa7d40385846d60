package negotiate

import (
	"encoding/asn1"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/gossp/gossp/sspi"
)

// SPNEGO's tokens (RFC 4178 section 4.2, MS-SPNG 2.2). Encoding is strict DER;
// decoding requires DER lengths too (cryptobyte refuses indefinite and non-minimal
// lengths), but tolerates what real peers send: negState in an initiator's
// NegTokenResp (MIT), a missing supportedMech after the first response, reqFlags,
// negHints, and a mechListMIC in a NegTokenInit.

// OID is SPNEGO's mechanism OID, 1.3.6.1.5.5.2.
var OID = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 2}

// NegState is NegTokenResp's negState.
type NegState int

// negState values.
const (
	AcceptCompleted  NegState = 0
	AcceptIncomplete NegState = 1
	Reject           NegState = 2
	RequestMIC       NegState = 3
)

func (s NegState) String() string {
	switch s {
	case AcceptCompleted:
		return "accept-completed"
	case AcceptIncomplete:
		return "accept-incomplete"
	case Reject:
		return "reject"
	case RequestMIC:
		return "request-mic"
	}
	return fmt.Sprintf("negState(%d)", int(s))
}

// NegTokenInit is the initiator's first token, or (with NegHints) the acceptor-first
// NegTokenInit2 of MS-SPNG that an SMB2 NEGOTIATE response carries.
type NegTokenInit struct {
	MechTypes   []asn1.ObjectIdentifier
	ReqFlags    asn1.BitString // deprecated by RFC 4178; kept for the dissector
	MechToken   []byte
	NegHints    *NegHints // NegTokenInit2 only
	MechListMIC []byte

	// RawMechTypes is the DER of MechTypeList as it travels: what mechListMIC covers.
	RawMechTypes []byte
}

// NegHints is NegTokenInit2's negHints.
type NegHints struct {
	HintName    string
	HintAddress []byte
}

// NegTokenResp is every token after the first.
type NegTokenResp struct {
	NegState      NegState
	HasNegState   bool
	SupportedMech asn1.ObjectIdentifier
	ResponseToken []byte
	MechListMIC   []byte
}

// The DER tags of SPNEGO's constructed context-specific fields.
func ctx(n uint8) cbasn1.Tag { return cbasn1.Tag(n).ContextSpecific().Constructed() }

const (
	tagApplication0 = cbasn1.Tag(0) | 0x40 | 0x20 // [APPLICATION 0] constructed
	tagGeneralStr   = cbasn1.Tag(27)
)

// marshalMechTypes is the DER of MechTypeList.
func marshalMechTypes(mechs []asn1.ObjectIdentifier) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, m := range mechs {
			b.AddASN1ObjectIdentifier(m)
		}
	})
	return b.Bytes()
}

// Marshal encodes the token framed as a GSS-API InitialContextToken (RFC 2743 3.1).
func (t *NegTokenInit) Marshal() ([]byte, error) {
	raw := t.RawMechTypes
	if raw == nil {
		var err error
		if raw, err = marshalMechTypes(t.MechTypes); err != nil {
			return nil, err
		}
	}
	var b cryptobyte.Builder
	b.AddASN1(tagApplication0, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(OID)
		b.AddASN1(ctx(0), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(ctx(0), func(b *cryptobyte.Builder) { b.AddBytes(raw) })
				if t.ReqFlags.BitLength > 0 {
					b.AddASN1(ctx(1), func(b *cryptobyte.Builder) { addBitString(b, t.ReqFlags) })
				}
				if t.MechToken != nil {
					b.AddASN1(ctx(2), func(b *cryptobyte.Builder) { b.AddASN1OctetString(t.MechToken) })
				}
				micTag := uint8(3)
				if t.NegHints != nil {
					h := t.NegHints
					b.AddASN1(ctx(3), func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							if h.HintName != "" {
								b.AddASN1(ctx(0), func(b *cryptobyte.Builder) {
									b.AddASN1(tagGeneralStr, func(b *cryptobyte.Builder) { b.AddBytes([]byte(h.HintName)) })
								})
							}
							if h.HintAddress != nil {
								b.AddASN1(ctx(1), func(b *cryptobyte.Builder) { b.AddASN1OctetString(h.HintAddress) })
							}
						})
					})
					micTag = 4
				}
				if t.MechListMIC != nil {
					b.AddASN1(ctx(micTag), func(b *cryptobyte.Builder) { b.AddASN1OctetString(t.MechListMIC) })
				}
			})
		})
	})
	return b.Bytes()
}

func addBitString(b *cryptobyte.Builder, bs asn1.BitString) {
	b.AddASN1(cbasn1.BIT_STRING, func(b *cryptobyte.Builder) {
		b.AddUint8(uint8((8 - bs.BitLength%8) % 8))
		b.AddBytes(bs.Bytes)
	})
}

// Marshal encodes the token as NegotiationToken's negTokenResp choice ([1]), which is
// how every token after the first travels: without GSS-API framing. Written by hand
// rather than with a builder: every leg of every handshake makes one.
func (t *NegTokenResp) Marshal() ([]byte, error) {
	var mech []byte
	if t.SupportedMech != nil {
		var err error
		if mech, err = asn1.Marshal(t.SupportedMech); err != nil {
			return nil, err
		}
	}
	body := 0
	if t.HasNegState {
		body += 5 // a0 03 0a 01 NN
	}
	if mech != nil {
		body += tlvLen(len(mech))
	}
	if t.ResponseToken != nil {
		body += tlvLen(tlvLen(len(t.ResponseToken)))
	}
	if t.MechListMIC != nil {
		body += tlvLen(tlvLen(len(t.MechListMIC)))
	}
	b := make([]byte, 0, tlvLen(tlvLen(body)))
	b = appendHeader(b, 0xa1, tlvLen(body))
	b = appendHeader(b, 0x30, body)
	if t.HasNegState {
		b = append(b, 0xa0, 3, 0x0a, 1, byte(t.NegState))
	}
	if mech != nil {
		b = append(appendHeader(b, 0xa1, len(mech)), mech...)
	}
	if t.ResponseToken != nil {
		b = appendHeader(b, 0xa2, tlvLen(len(t.ResponseToken)))
		b = append(appendHeader(b, 0x04, len(t.ResponseToken)), t.ResponseToken...)
	}
	if t.MechListMIC != nil {
		b = appendHeader(b, 0xa3, tlvLen(len(t.MechListMIC)))
		b = append(appendHeader(b, 0x04, len(t.MechListMIC)), t.MechListMIC...)
	}
	return b, nil
}

// tlvLen is the DER size of a value of n content bytes: tag, length, content.
func tlvLen(n int) int {
	switch {
	case n < 0x80:
		return 2 + n
	case n < 0x100:
		return 3 + n
	case n < 0x10000:
		return 4 + n
	case n < 0x1000000:
		return 5 + n
	}
	return 6 + n
}

// appendHeader appends a DER tag and definite length.
func appendHeader(b []byte, tag byte, n int) []byte {
	b = append(b, tag)
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

// maxMechTypes bounds the mechanism list a peer may send.
const maxMechTypes = 32

func invalid(format string, a ...any) error {
	return sspi.Errorf(sspi.ErrInvalidToken, "SPNEGO: "+format, a...)
}

// ParseToken decodes any SPNEGO token: a GSS-framed NegTokenInit (or NegTokenInit2),
// or a NegTokenResp with or without framing. Exactly one result is non-nil on success.
func ParseToken(b []byte) (*NegTokenInit, *NegTokenResp, error) {
	s := cryptobyte.String(b)
	if s.PeekASN1Tag(tagApplication0) {
		var inner cryptobyte.String
		var mech asn1.ObjectIdentifier
		if !s.ReadASN1(&inner, tagApplication0) || !s.Empty() {
			return nil, nil, invalid("malformed GSS-API framing")
		}
		if !inner.ReadASN1ObjectIdentifier(&mech) {
			return nil, nil, invalid("GSS-API framing without a mechanism OID")
		}
		if !mech.Equal(OID) {
			return nil, nil, invalid("GSS-API token of mechanism %v, not SPNEGO", mech)
		}
		s = inner
	}
	switch {
	case s.PeekASN1Tag(ctx(0)):
		t, err := parseInit(s)
		return t, nil, err
	case s.PeekASN1Tag(ctx(1)):
		t, err := parseResp(s)
		return nil, t, err
	}
	return nil, nil, invalid("not a NegotiationToken")
}

func parseInit(s cryptobyte.String) (*NegTokenInit, error) {
	var choice, seq cryptobyte.String
	if !s.ReadASN1(&choice, ctx(0)) || !s.Empty() || !choice.ReadASN1(&seq, cbasn1.SEQUENCE) || !choice.Empty() {
		return nil, invalid("malformed NegTokenInit")
	}
	t := &NegTokenInit{}
	var field cryptobyte.String
	if !seq.ReadASN1(&field, ctx(0)) {
		return nil, invalid("NegTokenInit without mechTypes")
	}
	t.RawMechTypes = append([]byte(nil), field...)
	var list cryptobyte.String
	if !field.ReadASN1(&list, cbasn1.SEQUENCE) || !field.Empty() {
		return nil, invalid("malformed mechTypes")
	}
	for !list.Empty() {
		var oid asn1.ObjectIdentifier
		if !list.ReadASN1ObjectIdentifier(&oid) {
			return nil, invalid("malformed mechanism OID")
		}
		if len(t.MechTypes) == maxMechTypes {
			return nil, invalid("more than %d mechanisms", maxMechTypes)
		}
		t.MechTypes = append(t.MechTypes, oid)
	}
	if len(t.MechTypes) == 0 {
		return nil, invalid("empty mechTypes")
	}
	var present bool
	if !seq.ReadOptionalASN1(&field, &present, ctx(1)) {
		return nil, invalid("malformed reqFlags")
	}
	if present && !field.ReadASN1BitString(&t.ReqFlags) {
		return nil, invalid("malformed reqFlags")
	}
	if !readOptionalOctets(&seq, &t.MechToken, 2) {
		return nil, invalid("malformed mechToken")
	}
	if seq.PeekASN1Tag(ctx(3)) {
		// [3] is negHints in NegTokenInit2 (a SEQUENCE inside) and mechListMIC in
		// NegTokenInit (an OCTET STRING inside).
		var v cryptobyte.String
		if !seq.ReadASN1(&v, ctx(3)) {
			return nil, invalid("malformed NegTokenInit field [3]")
		}
		if v.PeekASN1Tag(cbasn1.SEQUENCE) {
			h, err := parseHints(v)
			if err != nil {
				return nil, err
			}
			t.NegHints = h
			if !readOptionalOctets(&seq, &t.MechListMIC, 4) {
				return nil, invalid("malformed mechListMIC")
			}
		} else if !v.ReadASN1Bytes(&t.MechListMIC, cbasn1.OCTET_STRING) || !v.Empty() {
			return nil, invalid("malformed mechListMIC")
		}
	}
	if !seq.Empty() {
		return nil, invalid("unexpected data in NegTokenInit")
	}
	return t, nil
}

func parseHints(v cryptobyte.String) (*NegHints, error) {
	var seq, f cryptobyte.String
	if !v.ReadASN1(&seq, cbasn1.SEQUENCE) || !v.Empty() {
		return nil, invalid("malformed negHints")
	}
	h := &NegHints{}
	var present bool
	if !seq.ReadOptionalASN1(&f, &present, ctx(0)) {
		return nil, invalid("malformed hintName")
	}
	if present {
		var name cryptobyte.String
		if !f.ReadASN1(&name, tagGeneralStr) || !f.Empty() {
			return nil, invalid("malformed hintName")
		}
		h.HintName = string(name)
	}
	if !readOptionalOctets(&seq, &h.HintAddress, 1) || !seq.Empty() {
		return nil, invalid("malformed hintAddress")
	}
	return h, nil
}

// readOptionalOctets reads [n] OCTET STRING if present.
func readOptionalOctets(s *cryptobyte.String, out *[]byte, n uint8) bool {
	var f cryptobyte.String
	var present bool
	if !s.ReadOptionalASN1(&f, &present, ctx(n)) {
		return false
	}
	if !present {
		return true
	}
	var v []byte
	if !f.ReadASN1Bytes(&v, cbasn1.OCTET_STRING) || !f.Empty() {
		return false
	}
	*out = append([]byte{}, v...)
	return true
}

func parseResp(s cryptobyte.String) (*NegTokenResp, error) {
	var choice, seq cryptobyte.String
	if !s.ReadASN1(&choice, ctx(1)) || !s.Empty() || !choice.ReadASN1(&seq, cbasn1.SEQUENCE) || !choice.Empty() {
		return nil, invalid("malformed NegTokenResp")
	}
	t := &NegTokenResp{}
	var f cryptobyte.String
	if !seq.ReadOptionalASN1(&f, &t.HasNegState, ctx(0)) {
		return nil, invalid("malformed negState")
	}
	if t.HasNegState {
		var e cryptobyte.String
		if !f.ReadASN1(&e, cbasn1.ENUM) || !f.Empty() || len(e) != 1 || e[0] > byte(RequestMIC) {
			return nil, invalid("malformed or unknown negState")
		}
		t.NegState = NegState(e[0])
	}
	var present bool
	if !seq.ReadOptionalASN1(&f, &present, ctx(1)) {
		return nil, invalid("malformed supportedMech")
	}
	if present {
		if !f.ReadASN1ObjectIdentifier(&t.SupportedMech) || !f.Empty() {
			return nil, invalid("malformed supportedMech")
		}
	}
	if !readOptionalOctets(&seq, &t.ResponseToken, 2) {
		return nil, invalid("malformed responseToken")
	}
	if !readOptionalOctets(&seq, &t.MechListMIC, 3) {
		return nil, invalid("malformed mechListMIC")
	}
	if !seq.Empty() {
		return nil, invalid("unexpected data in NegTokenResp")
	}
	return t, nil
}
