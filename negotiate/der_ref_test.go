package negotiate

// The token codec as it was before der.go replaced it (cryptobyte for decoding and for
// NegTokenInit, asn1.Marshal for NegTokenResp's supportedMech), kept as the reference
// der_test.go holds the new one to. Three deliberate differences from that version,
// each marked "fixed:": reqFlags must be all of its [1] field, and a NegTokenInit's
// empty reqFlags and a NegTokenInit2's empty hintName are encoded again when decoded,
// so that every token decoded re-encodes to its own bytes.

import (
	"encoding/asn1"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// The DER tags of SPNEGO's constructed context-specific fields.
func refCtx(n uint8) cbasn1.Tag { return cbasn1.Tag(n).ContextSpecific().Constructed() }

const (
	refTagApplication0 = cbasn1.Tag(0) | 0x40 | 0x20 // [APPLICATION 0] constructed
	refTagGeneralStr   = cbasn1.Tag(27)
)

// marshalMechTypes is the DER of MechTypeList.
func refMarshalMechTypes(mechs []asn1.ObjectIdentifier) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, m := range mechs {
			b.AddASN1ObjectIdentifier(m)
		}
	})
	return b.Bytes()
}

// Marshal encodes the token framed as a GSS-API InitialContextToken (RFC 2743 3.1).
func refMarshalInit(t *NegTokenInit) ([]byte, error) {
	raw := t.RawMechTypes
	if raw == nil {
		var err error
		if raw, err = refMarshalMechTypes(t.MechTypes); err != nil {
			return nil, err
		}
	}
	var b cryptobyte.Builder
	b.AddASN1(refTagApplication0, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(OID)
		b.AddASN1(refCtx(0), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(refCtx(0), func(b *cryptobyte.Builder) { b.AddBytes(raw) })
				if t.ReqFlags.BitLength > 0 || t.ReqFlags.Bytes != nil { // fixed: was BitLength > 0
					b.AddASN1(refCtx(1), func(b *cryptobyte.Builder) { refAddBitString(b, t.ReqFlags) })
				}
				if t.MechToken != nil {
					b.AddASN1(refCtx(2), func(b *cryptobyte.Builder) { b.AddASN1OctetString(t.MechToken) })
				}
				micTag := uint8(3)
				if t.NegHints != nil {
					h := t.NegHints
					b.AddASN1(refCtx(3), func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							if h.HintName != "" || h.hasName { // fixed: was HintName != ""
								b.AddASN1(refCtx(0), func(b *cryptobyte.Builder) {
									b.AddASN1(refTagGeneralStr, func(b *cryptobyte.Builder) { b.AddBytes([]byte(h.HintName)) })
								})
							}
							if h.HintAddress != nil {
								b.AddASN1(refCtx(1), func(b *cryptobyte.Builder) { b.AddASN1OctetString(h.HintAddress) })
							}
						})
					})
					micTag = 4
				}
				if t.MechListMIC != nil {
					b.AddASN1(refCtx(micTag), func(b *cryptobyte.Builder) { b.AddASN1OctetString(t.MechListMIC) })
				}
			})
		})
	})
	return b.Bytes()
}

func refAddBitString(b *cryptobyte.Builder, bs asn1.BitString) {
	b.AddASN1(cbasn1.BIT_STRING, func(b *cryptobyte.Builder) {
		b.AddUint8(uint8((8 - bs.BitLength%8) % 8))
		b.AddBytes(bs.Bytes)
	})
}

// Marshal encodes the token as NegotiationToken's negTokenResp choice ([1]), which is
// how every token after the first travels: without GSS-API framing. Written by hand
// rather than with a builder: every leg of every handshake makes one.
func refMarshalResp(t *NegTokenResp) ([]byte, error) {
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

// refParseToken decodes any SPNEGO token: a GSS-framed NegTokenInit (or NegTokenInit2),
// or a NegTokenResp with or without framing. Exactly one result is non-nil on success.
func refParseToken(b []byte) (*NegTokenInit, *NegTokenResp, error) {
	s := cryptobyte.String(b)
	if s.PeekASN1Tag(refTagApplication0) {
		var inner cryptobyte.String
		var mech asn1.ObjectIdentifier
		if !s.ReadASN1(&inner, refTagApplication0) || !s.Empty() {
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
	case s.PeekASN1Tag(refCtx(0)):
		t, err := refParseInit(s)
		return t, nil, err
	case s.PeekASN1Tag(refCtx(1)):
		t, err := refParseResp(s)
		return nil, t, err
	}
	return nil, nil, invalid("not a NegotiationToken")
}

func refParseInit(s cryptobyte.String) (*NegTokenInit, error) {
	var choice, seq cryptobyte.String
	if !s.ReadASN1(&choice, refCtx(0)) || !s.Empty() || !choice.ReadASN1(&seq, cbasn1.SEQUENCE) || !choice.Empty() {
		return nil, invalid("malformed NegTokenInit")
	}
	t := &NegTokenInit{}
	var field cryptobyte.String
	if !seq.ReadASN1(&field, refCtx(0)) {
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
	if !seq.ReadOptionalASN1(&field, &present, refCtx(1)) {
		return nil, invalid("malformed reqFlags")
	}
	if present && (!field.ReadASN1BitString(&t.ReqFlags) || !field.Empty()) { // fixed: no Empty check
		return nil, invalid("malformed reqFlags")
	}
	if !refReadOptionalOctets(&seq, &t.MechToken, 2) {
		return nil, invalid("malformed mechToken")
	}
	if seq.PeekASN1Tag(refCtx(3)) {
		// [3] is negHints in NegTokenInit2 (a SEQUENCE inside) and mechListMIC in
		// NegTokenInit (an OCTET STRING inside).
		var v cryptobyte.String
		if !seq.ReadASN1(&v, refCtx(3)) {
			return nil, invalid("malformed NegTokenInit field [3]")
		}
		if v.PeekASN1Tag(cbasn1.SEQUENCE) {
			h, err := refParseHints(v)
			if err != nil {
				return nil, err
			}
			t.NegHints = h
			if !refReadOptionalOctets(&seq, &t.MechListMIC, 4) {
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

func refParseHints(v cryptobyte.String) (*NegHints, error) {
	var seq, f cryptobyte.String
	if !v.ReadASN1(&seq, cbasn1.SEQUENCE) || !v.Empty() {
		return nil, invalid("malformed negHints")
	}
	h := &NegHints{}
	var present bool
	if !seq.ReadOptionalASN1(&f, &present, refCtx(0)) {
		return nil, invalid("malformed hintName")
	}
	if present {
		var name cryptobyte.String
		if !f.ReadASN1(&name, refTagGeneralStr) || !f.Empty() {
			return nil, invalid("malformed hintName")
		}
		h.HintName, h.hasName = string(name), true // fixed: hasName
	}
	if !refReadOptionalOctets(&seq, &h.HintAddress, 1) || !seq.Empty() {
		return nil, invalid("malformed hintAddress")
	}
	return h, nil
}

// readOptionalOctets reads [n] OCTET STRING if present.
func refReadOptionalOctets(s *cryptobyte.String, out *[]byte, n uint8) bool {
	var f cryptobyte.String
	var present bool
	if !s.ReadOptionalASN1(&f, &present, refCtx(n)) {
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

func refParseResp(s cryptobyte.String) (*NegTokenResp, error) {
	var choice, seq cryptobyte.String
	if !s.ReadASN1(&choice, refCtx(1)) || !s.Empty() || !choice.ReadASN1(&seq, cbasn1.SEQUENCE) || !choice.Empty() {
		return nil, invalid("malformed NegTokenResp")
	}
	t := &NegTokenResp{}
	var f cryptobyte.String
	if !seq.ReadOptionalASN1(&f, &t.HasNegState, refCtx(0)) {
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
	if !seq.ReadOptionalASN1(&f, &present, refCtx(1)) {
		return nil, invalid("malformed supportedMech")
	}
	if present {
		if !f.ReadASN1ObjectIdentifier(&t.SupportedMech) || !f.Empty() {
			return nil, invalid("malformed supportedMech")
		}
	}
	if !refReadOptionalOctets(&seq, &t.ResponseToken, 2) {
		return nil, invalid("malformed responseToken")
	}
	if !refReadOptionalOctets(&seq, &t.MechListMIC, 3) {
		return nil, invalid("malformed mechListMIC")
	}
	if !seq.Empty() {
		return nil, invalid("unexpected data in NegTokenResp")
	}
	return t, nil
}
