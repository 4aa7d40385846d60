package negotiate

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"slices"
)

// A small DER reader and writer for SPNEGO's few fixed structures. Every leg of every
// handshake decodes one token and encodes another, so neither allocates: decoded
// fields alias the input, OIDs stay in their DER form and are compared as bytes, and
// encoders size their output exactly and write it once.
//
// The reader accepts exactly what cryptobyte's (this package's earlier decoder)
// accepts: single-octet tags, definite lengths of at most four octets in their minimal
// form, and OIDs whose subidentifiers are minimally encoded and below 2^31.
// der_test.go holds the two to that on every input, and checks what we accept against
// encoding/asn1.

// DER tags of SPNEGO's elements.
const (
	tagBitString   = 0x03
	tagOctetString = 0x04
	tagOID         = 0x06
	tagEnum        = 0x0a
	tagGeneralStr  = 0x1b
	tagSequence    = 0x30
	tagGSSFraming  = 0x60 // [APPLICATION 0] constructed: RFC 2743 3.1's InitialContextToken
)

// ctxTag is the tag of the constructed context-specific field [n].
func ctxTag(n byte) byte { return 0xa0 | n }

// readTLV reads one element from b: its tag, its contents, and what follows it.
func readTLV(b []byte) (tag byte, body, rest []byte, ok bool) {
	if len(b) < 2 || b[0]&0x1f == 0x1f { // high-tag-number forms are not SPNEGO's
		return 0, nil, nil, false
	}
	n, hdr := uint64(b[1]), 2
	if n&0x80 != 0 {
		k := int(n & 0x7f)
		if k == 0 || k > 4 || len(b) < 2+k {
			return 0, nil, nil, false
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | uint64(c)
		}
		if n < 0x80 || n>>((k-1)*8) == 0 { // not the minimal length form
			return 0, nil, nil, false
		}
		hdr += k
	}
	if uint64(len(b)-hdr) < n {
		return 0, nil, nil, false
	}
	end := hdr + int(n)
	return b[0], b[hdr:end:end], b[end:], true
}

// readElem reads an element that must have the given tag.
func readElem(b []byte, tag byte) (body, rest []byte, ok bool) {
	t, body, rest, ok := readTLV(b)
	if !ok || t != tag {
		return nil, nil, false
	}
	return body, rest, true
}

// only reads an element with the given tag that must be all of b.
func only(b []byte, tag byte) ([]byte, bool) {
	body, rest, ok := readElem(b, tag)
	return body, ok && len(rest) == 0
}

// peek reports whether b's next element has the given tag.
func peek(b []byte, tag byte) bool { return len(b) > 0 && b[0] == tag }

// readOptional reads [n] if it comes next. body is nil if the field is absent and
// non-nil (an alias of b) if it is present.
func readOptional(b *[]byte, n byte) (body []byte, ok bool) {
	if !peek(*b, ctxTag(n)) {
		return nil, true
	}
	body, rest, ok := readElem(*b, ctxTag(n))
	if !ok {
		return nil, false
	}
	*b = rest
	return body, true
}

// readOptionalOctets reads [n] OCTET STRING if it comes next; out is nil if it does not.
func readOptionalOctets(b *[]byte, out *[]byte, n byte) bool {
	f, ok := readOptional(b, n)
	if !ok || f == nil {
		return ok
	}
	v, ok := only(f, tagOctetString)
	if ok {
		*out = v
	}
	return ok
}

// subidentifier reads one base-128 subidentifier of an OID: at most five octets,
// minimally encoded, below 2^31.
func subidentifier(b []byte) (v int, rest []byte, ok bool) {
	for i := 0; i < len(b); i++ {
		if i == 5 || v >= 1<<(31-7) || (i == 0 && b[0] == 0x80) {
			return 0, nil, false
		}
		v = v<<7 | int(b[i]&0x7f)
		if b[i]&0x80 == 0 {
			return v, b[i+1:], true
		}
	}
	return 0, nil, false
}

// validOID reports whether b is the contents of an OBJECT IDENTIFIER.
func validOID(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for len(b) > 0 {
		var ok bool
		if _, b, ok = subidentifier(b); !ok {
			return false
		}
	}
	return true
}

// parseOID decodes the contents of an OBJECT IDENTIFIER that validOID accepts.
func parseOID(b []byte) asn1.ObjectIdentifier {
	oid := make(asn1.ObjectIdentifier, 2, len(b)+1)
	v, b, _ := subidentifier(b)
	if v < 80 {
		oid[0], oid[1] = v/40, v%40
	} else {
		oid[0], oid[1] = 2, v-80
	}
	for len(b) > 0 {
		v, b, _ = subidentifier(b)
		oid = append(oid, v)
	}
	return oid
}

var errInvalidOID = errors.New("negotiate: invalid OID")

// oidLen is the size of an OID's DER contents, or an error for an OID that has no
// encoding (as cryptobyte and encoding/asn1 define it).
func oidLen(oid asn1.ObjectIdentifier) (int, error) {
	if len(oid) < 2 || oid[0] > 2 || (oid[0] < 2 && oid[1] >= 40) || slices.ContainsFunc(oid, func(v int) bool { return v < 0 }) {
		return 0, errInvalidOID
	}
	n := base128Len(int64(oid[0])*40 + int64(oid[1]))
	for _, v := range oid[2:] {
		n += base128Len(int64(v))
	}
	return n, nil
}

func base128Len(v int64) int {
	n := 1
	for v >>= 7; v > 0; v >>= 7 {
		n++
	}
	return n
}

// appendOID appends the DER contents of an OID oidLen accepted.
func appendOID(b []byte, oid asn1.ObjectIdentifier) []byte {
	b = appendBase128(b, int64(oid[0])*40+int64(oid[1]))
	for _, v := range oid[2:] {
		b = appendBase128(b, int64(v))
	}
	return b
}

func appendBase128(b []byte, v int64) []byte {
	for i := base128Len(v) - 1; i > 0; i-- {
		b = append(b, byte(v>>(7*i))|0x80)
	}
	return append(b, byte(v)&0x7f)
}

// oidDER is an OID's DER element, tag and length included.
func oidDER(oid asn1.ObjectIdentifier) ([]byte, error) {
	n, err := oidLen(oid)
	if err != nil {
		return nil, err
	}
	return appendOID(appendHeader(make([]byte, 0, tlvLen(n)), tagOID, n), oid), nil
}

// oidContents returns the contents of a DER OID element oidDER made.
func oidContents(der []byte) []byte {
	_, body, _, _ := readTLV(der)
	return body
}

// spnegoOID is the contents of SPNEGO's own OID.
var spnegoOID = oidContents(mustOIDDER(OID))

func mustOIDDER(oid asn1.ObjectIdentifier) []byte {
	b, err := oidDER(oid)
	if err != nil {
		panic(err)
	}
	return b
}

// maxDER bounds the contents of any element we encode to what a four-octet length
// can say, as cryptobyte did.
const maxDER = 0xfffffffe

// tlvLen is the DER size of an element of n content bytes: tag, length, contents.
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

// wrapLen is the size of [n] EXPLICIT around an element of n content bytes.
func wrapLen(n int) int { return tlvLen(tlvLen(n)) }

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

// appendWrapped appends [tag] EXPLICIT around inner (OCTET STRING, GeneralString).
func appendWrapped(b []byte, tag, inner byte, v []byte) []byte {
	b = appendHeader(b, tag, tlvLen(len(v)))
	return append(appendHeader(b, inner, len(v)), v...)
}

// mechList is a MechTypeList's contents as received: OID elements validOID accepted.
type mechList []byte

// next returns the contents of the first OID and the rest of the list.
func (l mechList) next() (oid []byte, rest mechList) {
	_, oid, r, _ := readTLV(l)
	return oid, r
}

// contains reports whether oid (contents) is in the list.
func (l mechList) contains(oid []byte) bool {
	for m := l; len(m) > 0; {
		var o []byte
		if o, m = m.next(); bytes.Equal(o, oid) {
			return true
		}
	}
	return false
}

// oids decodes the list, for errors and the public token types.
func (l mechList) oids() []asn1.ObjectIdentifier {
	var out []asn1.ObjectIdentifier
	for m := l; len(m) > 0; {
		var o []byte
		o, m = m.next()
		out = append(out, parseOID(o))
	}
	return out
}
