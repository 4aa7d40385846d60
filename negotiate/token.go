package negotiate

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/gossp/gossp/sspi"
)

// SPNEGO's tokens (RFC 4178 section 4.2, MS-SPNG 2.2). Encoding is strict DER;
// decoding requires DER lengths too (no indefinite or non-minimal lengths), but
// tolerates what real peers send: negState in an initiator's NegTokenResp (MIT), a
// missing supportedMech after the first response, reqFlags, negHints, and a
// mechListMIC in a NegTokenInit. der.go has the reader and writer.

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

	hasName bool // a hintName was received, perhaps empty: Marshal writes it back
}

// NegTokenResp is every token after the first.
type NegTokenResp struct {
	NegState      NegState
	HasNegState   bool
	SupportedMech asn1.ObjectIdentifier
	ResponseToken []byte
	MechListMIC   []byte
}

// marshalMechTypes is the DER of MechTypeList.
func marshalMechTypes(mechs []asn1.ObjectIdentifier) ([]byte, error) {
	n := 0
	for _, m := range mechs {
		l, err := oidLen(m)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", err, m)
		}
		n += tlvLen(l)
	}
	if n > maxDER {
		return nil, errTooLong
	}
	b := appendHeader(make([]byte, 0, tlvLen(n)), tagSequence, n)
	for _, m := range mechs {
		l, _ := oidLen(m)
		b = appendOID(appendHeader(b, tagOID, l), m)
	}
	return b, nil
}

var errTooLong = errors.New("negotiate: token too long to encode")

// Marshal encodes the token framed as a GSS-API InitialContextToken (RFC 2743 3.1).
func (t *NegTokenInit) Marshal() ([]byte, error) {
	raw := t.RawMechTypes
	if raw == nil {
		var err error
		if raw, err = marshalMechTypes(t.MechTypes); err != nil {
			return nil, err
		}
	}
	reqFlags := t.ReqFlags.BitLength > 0 || t.ReqFlags.Bytes != nil
	seq := tlvLen(len(raw))
	if reqFlags {
		seq += wrapLen(1 + len(t.ReqFlags.Bytes))
	}
	if t.MechToken != nil {
		seq += wrapLen(len(t.MechToken))
	}
	hints := 0
	if h := t.NegHints; h != nil {
		if h.HintName != "" || h.hasName {
			hints += wrapLen(len(h.HintName))
		}
		if h.HintAddress != nil {
			hints += wrapLen(len(h.HintAddress))
		}
		seq += wrapLen(hints)
	}
	if t.MechListMIC != nil {
		seq += wrapLen(len(t.MechListMIC))
	}
	inner := tlvLen(len(spnegoOID)) + wrapLen(seq)
	if inner > maxDER || seq < 0 {
		return nil, errTooLong
	}

	b := make([]byte, 0, tlvLen(inner))
	b = appendHeader(b, tagGSSFraming, inner)
	b = append(appendHeader(b, tagOID, len(spnegoOID)), spnegoOID...)
	b = appendHeader(b, ctxTag(0), tlvLen(seq))
	b = appendHeader(b, tagSequence, seq)
	b = append(appendHeader(b, ctxTag(0), len(raw)), raw...)
	if reqFlags {
		b = appendHeader(b, ctxTag(1), tlvLen(1+len(t.ReqFlags.Bytes)))
		b = appendHeader(b, tagBitString, 1+len(t.ReqFlags.Bytes))
		b = append(append(b, byte((8-t.ReqFlags.BitLength%8)%8)), t.ReqFlags.Bytes...)
	}
	if t.MechToken != nil {
		b = appendWrapped(b, ctxTag(2), tagOctetString, t.MechToken)
	}
	micTag := ctxTag(3)
	if h := t.NegHints; h != nil {
		b = appendHeader(b, ctxTag(3), tlvLen(hints))
		b = appendHeader(b, tagSequence, hints)
		if h.HintName != "" || h.hasName {
			b = appendHeader(b, ctxTag(0), tlvLen(len(h.HintName)))
			b = append(appendHeader(b, tagGeneralStr, len(h.HintName)), h.HintName...)
		}
		if h.HintAddress != nil {
			b = appendWrapped(b, ctxTag(1), tagOctetString, h.HintAddress)
		}
		micTag = ctxTag(4)
	}
	if t.MechListMIC != nil {
		b = appendWrapped(b, micTag, tagOctetString, t.MechListMIC)
	}
	return b, nil
}

// Marshal encodes the token as NegotiationToken's negTokenResp choice ([1]), which is
// how every token after the first travels: without GSS-API framing.
func (t *NegTokenResp) Marshal() ([]byte, error) {
	mech := -1
	if t.SupportedMech != nil {
		var err error
		if mech, err = oidLen(t.SupportedMech); err != nil {
			return nil, fmt.Errorf("%w: %v", err, t.SupportedMech)
		}
	}
	body := 0
	if t.HasNegState {
		if t.NegState < AcceptCompleted || t.NegState > RequestMIC {
			return nil, fmt.Errorf("negotiate: %v has no encoding", t.NegState)
		}
		body += 5 // a0 03 0a 01 NN
	}
	if mech >= 0 {
		body += wrapLen(mech)
	}
	if t.ResponseToken != nil {
		body += wrapLen(len(t.ResponseToken))
	}
	if t.MechListMIC != nil {
		body += wrapLen(len(t.MechListMIC))
	}
	if tlvLen(body) > maxDER {
		return nil, errTooLong
	}
	b := make([]byte, 0, wrapLen(body))
	b = appendHeader(b, ctxTag(1), tlvLen(body))
	b = appendHeader(b, tagSequence, body)
	if t.HasNegState {
		b = append(b, ctxTag(0), 3, tagEnum, 1, byte(t.NegState))
	}
	if mech >= 0 {
		b = appendHeader(b, ctxTag(1), tlvLen(mech))
		b = appendOID(appendHeader(b, tagOID, mech), t.SupportedMech)
	}
	if t.ResponseToken != nil {
		b = appendWrapped(b, ctxTag(2), tagOctetString, t.ResponseToken)
	}
	if t.MechListMIC != nil {
		b = appendWrapped(b, ctxTag(3), tagOctetString, t.MechListMIC)
	}
	return b, nil
}

// maxMechTypes bounds the mechanism list a peer may send.
const maxMechTypes = 32

func invalid(format string, a ...any) error {
	return sspi.Errorf(sspi.ErrInvalidToken, "SPNEGO: "+format, a...)
}

// token is a decoded SPNEGO token whose fields alias the input: what a context reads
// during one call, copying only what it keeps. A field that is absent is nil; one
// that is present is not, even if empty.
type token struct {
	resp bool // a NegTokenResp, else a NegTokenInit

	// NegTokenInit
	rawMechTypes []byte   // the MechTypeList element, what the mechListMIC covers
	mechTypes    mechList // its contents, at least one OID, at most maxMechTypes
	reqFlags     []byte   // the BIT STRING's contents
	mechToken    []byte
	hints        bool // a NegTokenInit2, with:
	hintName     []byte
	hintAddress  []byte

	// NegTokenResp
	negState      NegState
	hasNegState   bool
	supportedMech []byte // the OID's contents

	responseToken []byte
	mechListMIC   []byte
}

// decodeToken decodes any SPNEGO token into t: a GSS-framed NegTokenInit (or
// NegTokenInit2), or a NegTokenResp with or without framing.
func decodeToken(b []byte, t *token) error {
	*t = token{}
	if peek(b, tagGSSFraming) {
		inner, ok := only(b, tagGSSFraming)
		if !ok {
			return invalid("malformed GSS-API framing")
		}
		mech, rest, ok := readElem(inner, tagOID)
		if !ok || !validOID(mech) {
			return invalid("GSS-API framing without a mechanism OID")
		}
		if !bytes.Equal(mech, spnegoOID) {
			return invalid("GSS-API token of mechanism %v, not SPNEGO", parseOID(mech))
		}
		b = rest
	}
	switch {
	case peek(b, ctxTag(0)):
		return t.decodeInit(b)
	case peek(b, ctxTag(1)):
		t.resp = true
		return t.decodeResp(b)
	}
	return invalid("not a NegotiationToken")
}

func (t *token) decodeInit(b []byte) error {
	choice, ok := only(b, ctxTag(0))
	var seq []byte
	if ok {
		seq, ok = only(choice, tagSequence)
	}
	if !ok {
		return invalid("malformed NegTokenInit")
	}
	field, seq, ok := readElem(seq, ctxTag(0))
	if !ok {
		return invalid("NegTokenInit without mechTypes")
	}
	t.rawMechTypes = field
	list, ok := only(field, tagSequence)
	if !ok {
		return invalid("malformed mechTypes")
	}
	t.mechTypes = list
	for n := 0; len(list) > 0; n++ {
		oid, rest, ok := readElem(list, tagOID)
		if !ok || !validOID(oid) {
			return invalid("malformed mechanism OID")
		}
		if n == maxMechTypes {
			return invalid("more than %d mechanisms", maxMechTypes)
		}
		list = rest
	}
	if len(t.mechTypes) == 0 {
		return invalid("empty mechTypes")
	}
	if field, ok = readOptional(&seq, 1); !ok {
		return invalid("malformed reqFlags")
	}
	if field != nil {
		if t.reqFlags, ok = only(field, tagBitString); !ok || !validBitString(t.reqFlags) {
			return invalid("malformed reqFlags")
		}
	}
	if !readOptionalOctets(&seq, &t.mechToken, 2) {
		return invalid("malformed mechToken")
	}
	if peek(seq, ctxTag(3)) {
		// [3] is negHints in NegTokenInit2 (a SEQUENCE inside) and mechListMIC in
		// NegTokenInit (an OCTET STRING inside).
		v, rest, ok := readElem(seq, ctxTag(3))
		if !ok {
			return invalid("malformed NegTokenInit field [3]")
		}
		seq = rest
		if peek(v, tagSequence) {
			if err := t.decodeHints(v); err != nil {
				return err
			}
			if !readOptionalOctets(&seq, &t.mechListMIC, 4) {
				return invalid("malformed mechListMIC")
			}
		} else if t.mechListMIC, ok = only(v, tagOctetString); !ok {
			return invalid("malformed mechListMIC")
		}
	}
	if len(seq) != 0 {
		return invalid("unexpected data in NegTokenInit")
	}
	return nil
}

// validBitString checks a BIT STRING's contents: the count of unused bits, at most 7
// and zero for an empty string, and those bits zero.
func validBitString(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	pad, last := b[0], b[len(b)-1]
	return pad <= 7 && !(len(b) == 1 && pad != 0) && (len(b) == 1 || last&(1<<pad-1) == 0)
}

func (t *token) decodeHints(v []byte) error {
	seq, ok := only(v, tagSequence)
	if !ok {
		return invalid("malformed negHints")
	}
	t.hints = true
	f, ok := readOptional(&seq, 0)
	if !ok {
		return invalid("malformed hintName")
	}
	if f != nil {
		if t.hintName, ok = only(f, tagGeneralStr); !ok {
			return invalid("malformed hintName")
		}
	}
	if !readOptionalOctets(&seq, &t.hintAddress, 1) || len(seq) != 0 {
		return invalid("malformed hintAddress")
	}
	return nil
}

func (t *token) decodeResp(b []byte) error {
	choice, ok := only(b, ctxTag(1))
	var seq []byte
	if ok {
		seq, ok = only(choice, tagSequence)
	}
	if !ok {
		return invalid("malformed NegTokenResp")
	}
	f, ok := readOptional(&seq, 0)
	if !ok {
		return invalid("malformed negState")
	}
	if f != nil {
		e, ok := only(f, tagEnum)
		if !ok || len(e) != 1 || e[0] > byte(RequestMIC) {
			return invalid("malformed or unknown negState")
		}
		t.negState, t.hasNegState = NegState(e[0]), true
	}
	if f, ok = readOptional(&seq, 1); !ok {
		return invalid("malformed supportedMech")
	}
	if f != nil {
		if t.supportedMech, ok = only(f, tagOID); !ok || !validOID(t.supportedMech) {
			return invalid("malformed supportedMech")
		}
	}
	if !readOptionalOctets(&seq, &t.responseToken, 2) {
		return invalid("malformed responseToken")
	}
	if !readOptionalOctets(&seq, &t.mechListMIC, 3) {
		return invalid("malformed mechListMIC")
	}
	if len(seq) != 0 {
		return invalid("unexpected data in NegTokenResp")
	}
	return nil
}

// ParseToken decodes any SPNEGO token: a GSS-framed NegTokenInit (or NegTokenInit2),
// or a NegTokenResp with or without framing. Exactly one result is non-nil on success.
// The results do not alias b.
func ParseToken(b []byte) (*NegTokenInit, *NegTokenResp, error) {
	var t token
	if err := decodeToken(b, &t); err != nil {
		return nil, nil, err
	}
	if t.resp {
		r := &NegTokenResp{
			NegState:      t.negState,
			HasNegState:   t.hasNegState,
			ResponseToken: clone(t.responseToken),
			MechListMIC:   clone(t.mechListMIC),
		}
		if t.supportedMech != nil {
			r.SupportedMech = parseOID(t.supportedMech)
		}
		return nil, r, nil
	}
	init := &NegTokenInit{
		MechTypes:    t.mechTypes.oids(),
		MechToken:    clone(t.mechToken),
		MechListMIC:  clone(t.mechListMIC),
		RawMechTypes: clone(t.rawMechTypes),
	}
	if t.reqFlags != nil {
		init.ReqFlags = asn1.BitString{Bytes: clone(t.reqFlags[1:]), BitLength: (len(t.reqFlags)-1)*8 - int(t.reqFlags[0])}
	}
	if t.hints {
		init.NegHints = &NegHints{HintName: string(t.hintName), HintAddress: clone(t.hintAddress), hasName: t.hintName != nil}
	}
	return init, nil, nil
}

// clone copies b, keeping nil nil and empty non-nil.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
