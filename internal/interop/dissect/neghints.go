package dissect

import (
	"encoding/asn1"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// tshark's spnego dissector (Wireshark's spnego.cnf, the NegotiationToken/negTokenInit
// body; so observed with 4.0.17) decodes a NegTokenInit as MS-SPNG's NegTokenInit2
// only when it travels over TCP from a port below 1024, taken for the server; anywhere
// else it reads RFC 4178's NegTokenInit, where [3] is mechListMIC, an OCTET STRING. In
// a NegTokenInit2 (the acceptor-first token of SMB2 and of our acceptor) [3] is negHints,
// a SEQUENCE, so outside that case tshark reports
//
//	BER Error: OctetString expected but class:UNIVERSAL(0) Constructed tag:16 was unexpected
//
// (field ber.error.expected.octet_string, Warning/Malformed, with _ws.malformed) at the
// SEQUENCE's first byte, for every correct NegTokenInit2, Windows' and Samba's included,
// and decodes nothing after it. The harness sends the acceptor's tokens from port 445,
// so with Options.AcceptorFirst right this never happens. For a NegTokenInit2 whose
// direction is unknown, Options.NegTokenInit2 waives exactly that report (and the
// malformed mark beside it) at exactly that offset, for a token that this independent
// DER walk finds to be a complete, well-formed NegTokenInit2; anything else about the
// token is still judged.

var oidSPNEGO = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 2}

func ctxTag(n uint8) cbasn1.Tag { return cbasn1.Tag(n).ContextSpecific().Constructed() }

// negHintsOffset returns the offset of the negHints SEQUENCE in tok when tok is a
// GSS-framed NegTokenInit2: [APPLICATION 0] { SPNEGO OID, [0] NegTokenInit2 } with
// mechTypes, optional reqFlags and mechToken, negHints { [0] GeneralString?,
// [1] OCTET STRING? } and optional [4] mechListMIC, nothing else, nothing left over.
func negHintsOffset(tok []byte) (int, bool) {
	s := cryptobyte.String(tok)
	var inner, choice, seq cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !s.ReadASN1(&inner, cbasn1.Tag(0).Constructed()|0x40) || !s.Empty() ||
		!inner.ReadASN1ObjectIdentifier(&oid) || !oid.Equal(oidSPNEGO) ||
		!inner.ReadASN1(&choice, ctxTag(0)) || !inner.Empty() ||
		!choice.ReadASN1(&seq, cbasn1.SEQUENCE) || !choice.Empty() {
		return 0, false
	}
	var f, list cryptobyte.String
	if !seq.ReadASN1(&f, ctxTag(0)) || !f.ReadASN1(&list, cbasn1.SEQUENCE) || !f.Empty() || list.Empty() {
		return 0, false
	}
	for !list.Empty() {
		if !list.ReadASN1ObjectIdentifier(&oid) {
			return 0, false
		}
	}
	var present bool
	if !seq.ReadOptionalASN1(&f, &present, ctxTag(1)) || present && (!f.SkipASN1(cbasn1.BIT_STRING) || !f.Empty()) {
		return 0, false
	}
	if !readOptionalOctets(&seq, 2) {
		return 0, false
	}
	var hintsElem, hints cryptobyte.String
	if !seq.ReadASN1(&hintsElem, ctxTag(3)) {
		return 0, false
	}
	at := len(tok) - len(seq) - len(hintsElem) // [3]'s content: the SEQUENCE
	if !hintsElem.ReadASN1(&hints, cbasn1.SEQUENCE) || !hintsElem.Empty() {
		return 0, false
	}
	if !hints.ReadOptionalASN1(&f, &present, ctxTag(0)) || present && (!f.SkipASN1(cbasn1.Tag(27)) || !f.Empty()) {
		return 0, false
	}
	if !readOptionalOctets(&hints, 1) || !hints.Empty() {
		return 0, false
	}
	if !readOptionalOctets(&seq, 4) || !seq.Empty() {
		return 0, false
	}
	return at, true
}

func readOptionalOctets(s *cryptobyte.String, n uint8) bool {
	var f cryptobyte.String
	var present bool
	if !s.ReadOptionalASN1(&f, &present, ctxTag(n)) {
		return false
	}
	return !present || f.SkipASN1(cbasn1.OCTET_STRING) && f.Empty()
}
