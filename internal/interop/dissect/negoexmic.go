package dissect

import (
	"bytes"
	"encoding/asn1"
	"slices"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/gossp/gossp/negotiate"
)

// tshark's spnego dissector (so observed with 4.0.17) hands the mechListMIC of a
// NegTokenResp to the dissector of the exchange's selected mechanism, as it hands NTLM's
// to ntlmssp, which reads it as an NTLMSSP verifier. When the mechanism is NegoEx that
// is the negoex dissector, which takes any bytes for NegoEx messages: a MIC (a checksum,
// shorter than a NegoEx message header) reads as a message of an unknown type whose
// 40-byte header runs past the end, so tshark reports
//
//	[Malformed Packet: NEGOEX] (_ws.malformed, with expert info _ws.malformed.expert,
//	Error/Malformed "Malformed Packet (Exception occurred)")
//
// at the MIC's first byte, for every NegoEx exchange that protects its mechanism list.
// (MIT's recorded NegoEx exchanges send no mechListMIC, so they never meet this.) A
// mechListMIC is not a NegoEx message (RFC 4178 5, MS-SPNG 3.1.5.1: it is the selected
// mechanism's MIC over the mechTypes), so this says nothing of the token.
// Options.NegoExMechListMIC waives that report, and only when:
//
//   - the token is a bare NegTokenResp that this independent DER walk, and
//     negotiate.ParseToken, find to be complete, with the mechListMIC its last field;
//   - the acceptor selected NegoEx (its supportedMech) in this token or an earlier one
//     of the same exchange;
//   - the MIC does not start with NegoEx's signature, so it cannot be a NegoEx message
//     that tshark was right to find broken;
//   - tshark ran the negoex dissector on exactly the MIC's bytes, no more, no fewer;
//   - the reports are malformed marks (and their expert info) at exactly the MIC's
//     first byte.
//
// The responseToken's NegoEx messages beside the MIC are dissected (and caught when
// broken) by a separate run of the negoex dissector at their own offsets, so a report
// about them is kept; so is every report of any other kind or place.

const negoexSignature = "NEGOEXTS"

// mechListMICSpan returns where the content of the mechListMIC of tok lies when tok is
// a DER NegTokenResp, [1] { SEQUENCE { [0]? [1]? [2]? [3] OCTET STRING } }, with a
// non-empty MIC and nothing left over. The MIC is then the token's last bytes.
func mechListMICSpan(tok []byte) (at, n int, ok bool) {
	s := cryptobyte.String(tok)
	var resp, seq cryptobyte.String
	if !s.ReadASN1(&resp, ctxTag(1)) || !s.Empty() || !resp.ReadASN1(&seq, cbasn1.SEQUENCE) || !resp.Empty() {
		return 0, 0, false
	}
	for _, tag := range []uint8{0, 1, 2} {
		var f cryptobyte.String
		var present bool
		if !seq.ReadOptionalASN1(&f, &present, ctxTag(tag)) {
			return 0, 0, false
		}
	}
	var micElem, mic cryptobyte.String
	if !seq.ReadASN1(&micElem, ctxTag(3)) || !seq.Empty() ||
		!micElem.ReadASN1(&mic, cbasn1.OCTET_STRING) || !micElem.Empty() || len(mic) == 0 {
		return 0, 0, false
	}
	return len(tok) - len(mic), len(mic), true
}

// waiveNegoExMIC waives tshark's report on the mechListMIC of a NegTokenResp in an
// exchange whose mechanism is NegoEx (mech, the acceptor's supportedMech so far).
func waiveNegoExMIC(t *Token, mech asn1.ObjectIdentifier) {
	if t.Dissector != SPNEGO || !mech.Equal(negotiate.OIDNegoEx) {
		return
	}
	at, n, ok := mechListMICSpan(t.Bytes)
	if !ok {
		return
	}
	mic := t.Bytes[at:]
	if _, resp, err := negotiate.ParseToken(t.Bytes); err != nil || resp == nil || !bytes.Equal(resp.MechListMIC, mic) {
		return
	}
	if bytes.HasPrefix(mic, []byte(negoexSignature)) {
		return
	}
	if !slices.Contains(t.protos, span{NegoEx, at, n}) {
		return // tshark did not read the MIC as NegoEx: nothing of this kind to waive
	}
	misread := func(p Problem) bool {
		return p.Pos == at && p.Size == 0 &&
			(p.Kind == Malformed || p.Kind == Expert && p.Field == "_ws.malformed.expert")
	}
	var keep []Problem
	for _, p := range t.Problems {
		if misread(p) {
			t.Waived = append(t.Waived, p)
		} else {
			keep = append(keep, p)
		}
	}
	t.Problems = keep
	// The malformed mark kept the check for bytes after the last decoded item quiet.
	t.trailing()
}
