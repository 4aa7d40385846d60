// Package decode dissects authentication tokens — GSS-API framing, SPNEGO, NTLM, NegoEx
// and the outline of Kerberos messages — into a tree a person (or a JSON consumer) can
// read, in the spirit of a network analyzer. It reuses the packages' own parsers, so
// what it shows is what gossp itself understands.
package decode

import (
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/gossp/gossp/negoex"
	"github.com/gossp/gossp/negotiate"
	"github.com/gossp/gossp/packages/ntlm"
)

// Node is one field of a dissected token.
type Node struct {
	Name     string  `json:"name"`
	Value    string  `json:"value,omitempty"`
	Children []*Node `json:"children,omitempty"`
}

func (n *Node) add(name, value string) *Node {
	c := &Node{Name: name, Value: value}
	n.Children = append(n.Children, c)
	return c
}

// DecodeError says where and why a token is malformed.
type DecodeError struct {
	Offset int
	Reason string
}

func (e *DecodeError) Error() string { return fmt.Sprintf("offset %d: %s", e.Offset, e.Reason) }

func fail(off int, format string, a ...any) error {
	return &DecodeError{Offset: off, Reason: fmt.Sprintf(format, a...)}
}

// maxInput bounds what Decode looks at.
const maxInput = 1 << 20

var headerPrefix = regexp.MustCompile(`(?i)^\s*((proxy-)?(authorization|www-authenticate|authenticate)\s*:)?\s*((negotiate|ntlm|kerberos)\s+)?`)

// Parse turns what a person pastes — hex (spaces allowed), base64 (standard or URL,
// padded or not), or an HTTP header line such as "Authorization: Negotiate <b64>" —
// into bytes.
func Parse(s string) ([]byte, error) {
	s = headerPrefix.ReplaceAllString(strings.TrimSpace(s), "")
	compact := strings.Join(strings.Fields(s), "")
	if compact == "" {
		return nil, errors.New("decode: empty input")
	}
	if len(compact)%2 == 0 && isHex(compact) {
		return hex.DecodeString(compact)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(compact); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("decode: input is neither hex nor base64")
}

func isHex(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// Mechanism OIDs by name.
var mechNames = map[string]string{
	negotiate.OID.String():           "SPNEGO",
	negotiate.OIDKerberos.String():   "Kerberos 5",
	negotiate.OIDKerberosMS.String(): "Kerberos 5 (Microsoft)",
	negotiate.OIDNTLM.String():       "NTLMSSP",
	negotiate.OIDNegoEx.String():     "NegoEx",
	"1.3.6.1.5.2.7":                  "PKU2U",
}

func mechName(oid asn1.ObjectIdentifier) string {
	if n, ok := mechNames[oid.String()]; ok {
		return oid.String() + " (" + n + ")"
	}
	return oid.String()
}

// Decode dissects a token, choosing the dissector from its first bytes.
func Decode(b []byte) (*Node, error) {
	if len(b) > maxInput {
		return nil, fail(maxInput, "token of %d bytes is too large to dissect", len(b))
	}
	return decodeAny(b, nil)
}

// decodeAny dissects by content; hint names the mechanism a carrier said it is.
func decodeAny(b []byte, hint asn1.ObjectIdentifier) (*Node, error) {
	switch {
	case len(b) == 0:
		return nil, fail(0, "empty token")
	case len(b) >= 8 && string(b[:8]) == "NTLMSSP\x00":
		return decodeNTLM(b)
	case len(b) >= 8 && string(b[:8]) == "NEGOEXTS":
		return decodeNegoEx(b)
	case b[0] == 0x60:
		return decodeGSS(b)
	case b[0] == 0xa0 || b[0] == 0xa1:
		return decodeSPNEGO(b)
	case len(b) >= 2 && isKerberosTokenID(b[0], b[1]):
		return decodeKerberosToken(b, 0)
	case b[0]&0xe0 == 0x60:
		return decodeKerberosMessage(b, 0)
	}
	return nil, fail(0, "unknown token (first byte 0x%02x)", b[0])
}

// decodeGSS dissects RFC 2743 3.1 framing and what it carries.
func decodeGSS(b []byte) (*Node, error) {
	s := cryptobyte.String(b)
	var inner cryptobyte.String
	if !s.ReadASN1(&inner, cbasn1.Tag(0).Constructed()|0x40) {
		return nil, fail(0, "malformed GSS-API InitialContextToken framing")
	}
	if !s.Empty() {
		return nil, fail(len(b)-len(s), "%d bytes after the GSS-API token", len(s))
	}
	var oid asn1.ObjectIdentifier
	if !inner.ReadASN1ObjectIdentifier(&oid) {
		return nil, fail(2, "GSS-API framing without a mechanism OID")
	}
	n := &Node{Name: "GSS-API InitialContextToken"}
	n.add("thisMech", mechName(oid))
	body := []byte(inner)
	off := len(b) - len(body)
	var child *Node
	var err error
	switch {
	case oid.Equal(negotiate.OID):
		child, err = decodeSPNEGO(b)
		if err == nil {
			child = child.Children[len(child.Children)-1] // the NegotiationToken under the framing
		}
	case oid.Equal(negotiate.OIDKerberos) || oid.Equal(negotiate.OIDKerberosMS) || oid.String() == "1.3.6.1.5.2.7":
		child, err = decodeKerberosToken(body, off)
	case oid.Equal(negotiate.OIDNTLM):
		child, err = decodeNTLM(body)
	default:
		child = &Node{Name: "innerContextToken", Value: fmt.Sprintf("%d bytes", len(body))}
	}
	if err != nil {
		return nil, shift(err, off)
	}
	n.Children = append(n.Children, child)
	return n, nil
}

// shift moves a DecodeError's offset into the enclosing token.
func shift(err error, by int) error {
	var d *DecodeError
	if errors.As(err, &d) {
		return &DecodeError{Offset: d.Offset + by, Reason: d.Reason}
	}
	return &DecodeError{Offset: by, Reason: err.Error()}
}

func decodeSPNEGO(b []byte) (*Node, error) {
	init, resp, err := negotiate.ParseToken(b)
	if err != nil {
		return nil, fail(0, "%v", err)
	}
	root := &Node{Name: "SPNEGO"}
	if init != nil {
		name := "NegTokenInit"
		if init.NegHints != nil {
			name = "NegTokenInit2"
		}
		n := root.add(name, "")
		mt := n.add("mechTypes", fmt.Sprintf("%d", len(init.MechTypes)))
		for _, m := range init.MechTypes {
			mt.add("MechType", mechName(m))
		}
		if init.ReqFlags.BitLength > 0 {
			n.add("reqFlags", hex.EncodeToString(init.ReqFlags.Bytes))
		}
		if init.MechToken != nil {
			carrier := n.add("mechToken", fmt.Sprintf("%d bytes", len(init.MechToken)))
			addInner(carrier, init.MechToken, init.MechTypes[0])
		}
		if h := init.NegHints; h != nil {
			hn := n.add("negHints", "")
			if h.HintName != "" {
				hn.add("hintName", h.HintName)
			}
			if h.HintAddress != nil {
				hn.add("hintAddress", hex.EncodeToString(h.HintAddress))
			}
		}
		if init.MechListMIC != nil {
			addMIC(n, init.MechListMIC)
		}
		return root, nil
	}
	n := root.add("NegTokenResp", "")
	if resp.HasNegState {
		n.add("negState", fmt.Sprintf("%s (%d)", resp.NegState, int(resp.NegState)))
	}
	if resp.SupportedMech != nil {
		n.add("supportedMech", mechName(resp.SupportedMech))
	}
	if resp.ResponseToken != nil {
		carrier := n.add("responseToken", fmt.Sprintf("%d bytes", len(resp.ResponseToken)))
		addInner(carrier, resp.ResponseToken, resp.SupportedMech)
	}
	if resp.MechListMIC != nil {
		addMIC(n, resp.MechListMIC)
	}
	return root, nil
}

// addInner dissects a carried mechanism token, or says why it cannot.
func addInner(carrier *Node, b []byte, hint asn1.ObjectIdentifier) {
	child, err := decodeAny(b, hint)
	if err != nil {
		carrier.add("undissected", err.Error())
		return
	}
	carrier.Children = append(carrier.Children, child)
}

// addMIC shows a mechListMIC, as an NTLMSSP signature when it is one.
func addMIC(n *Node, mic []byte) {
	m := n.add("mechListMIC", fmt.Sprintf("%d bytes", len(mic)))
	if len(mic) == 16 && binary.LittleEndian.Uint32(mic) == 1 {
		sig := m.add("NTLMSSP signature", "")
		sig.add("Version", "1")
		sig.add("Checksum", hex.EncodeToString(mic[4:12]))
		sig.add("SeqNum", fmt.Sprintf("%d", binary.LittleEndian.Uint32(mic[12:])))
		return
	}
	m.Value = hex.EncodeToString(mic)
}

var avNames = map[uint16]string{
	ntlm.AvEOL: "MsvAvEOL", ntlm.AvNbComputerName: "MsvAvNbComputerName",
	ntlm.AvNbDomainName: "MsvAvNbDomainName", ntlm.AvDNSComputerName: "MsvAvDnsComputerName",
	ntlm.AvDNSDomainName: "MsvAvDnsDomainName", ntlm.AvDNSTreeName: "MsvAvDnsTreeName",
	ntlm.AvFlags: "MsvAvFlags", ntlm.AvTimestamp: "MsvAvTimestamp", ntlm.AvSingleHost: "MsvAvSingleHost",
	ntlm.AvTargetName: "MsvAvTargetName", ntlm.AvChannelBindings: "MsvAvChannelBindings",
}

func addAVPairs(n *Node, pairs ntlm.AVPairs) {
	for _, p := range pairs {
		name := avNames[p.ID]
		if name == "" {
			name = fmt.Sprintf("AvId %d", p.ID)
		}
		var v string
		switch p.ID {
		case ntlm.AvNbComputerName, ntlm.AvNbDomainName, ntlm.AvDNSComputerName, ntlm.AvDNSDomainName, ntlm.AvDNSTreeName, ntlm.AvTargetName:
			v = pairs.String(p.ID)
		case ntlm.AvTimestamp:
			if len(p.Value) == 8 {
				ft := int64(binary.LittleEndian.Uint64(p.Value))
				v = time.Unix(0, (ft-116444736000000000)*100).UTC().Format(time.RFC3339Nano)
			}
		case ntlm.AvFlags:
			if len(p.Value) == 4 {
				f := binary.LittleEndian.Uint32(p.Value)
				v = fmt.Sprintf("0x%08x", f)
				if f&ntlm.AvFlagMICPresent != 0 {
					v += " (MIC present)"
				}
			}
		default:
			v = hex.EncodeToString(p.Value)
		}
		n.add(name, v)
	}
}

func addVersion(n *Node, v *ntlm.Version) {
	if v != nil {
		n.add("Version", v.String())
	}
}

func decodeNTLM(b []byte) (*Node, error) {
	if len(b) < 12 {
		return nil, fail(len(b), "NTLMSSP message cut short")
	}
	typ := binary.LittleEndian.Uint32(b[8:])
	root := &Node{Name: "NTLMSSP"}
	switch typ {
	case ntlm.TypeNegotiate:
		m, err := ntlm.ParseNegotiate(b)
		if err != nil {
			return nil, fail(0, "%v", err)
		}
		n := root.add("NEGOTIATE_MESSAGE", "")
		n.add("NegotiateFlags", fmt.Sprintf("0x%08x %v", uint32(m.Flags), m.Flags))
		if m.Domain != "" {
			n.add("DomainName", m.Domain)
		}
		if m.Workstation != "" {
			n.add("Workstation", m.Workstation)
		}
		addVersion(n, m.Version)
	case ntlm.TypeChallenge:
		m, err := ntlm.ParseChallenge(b)
		if err != nil {
			return nil, fail(0, "%v", err)
		}
		n := root.add("CHALLENGE_MESSAGE", "")
		n.add("TargetName", m.TargetName)
		n.add("NegotiateFlags", fmt.Sprintf("0x%08x %v", uint32(m.Flags), m.Flags))
		n.add("ServerChallenge", hex.EncodeToString(m.ServerChallenge[:]))
		if len(m.TargetInfo) > 0 {
			addAVPairs(n.add("TargetInfo", ""), m.TargetInfo)
		}
		addVersion(n, m.Version)
	case ntlm.TypeAuthenticate:
		m, err := ntlm.ParseAuthenticate(b)
		if err != nil {
			return nil, fail(0, "%v", err)
		}
		n := root.add("AUTHENTICATE_MESSAGE", "")
		n.add("DomainName", m.Domain)
		n.add("UserName", m.User)
		n.add("Workstation", m.Workstation)
		n.add("NegotiateFlags", fmt.Sprintf("0x%08x %v", uint32(m.Flags), m.Flags))
		n.add("LmChallengeResponse", hex.EncodeToString(m.LMChallengeResponse))
		nt := n.add("NtChallengeResponse", fmt.Sprintf("%d bytes", len(m.NTChallengeResponse)))
		if r := m.NTChallengeResponse; len(r) >= 16+28+4 {
			nt.Value += " (NTLMv2)"
			nt.add("NTProofStr", hex.EncodeToString(r[:16]))
			blob := r[16:]
			ft := int64(binary.LittleEndian.Uint64(blob[8:]))
			nt.add("TimeStamp", time.Unix(0, (ft-116444736000000000)*100).UTC().Format(time.RFC3339Nano))
			nt.add("ChallengeFromClient", hex.EncodeToString(blob[16:24]))
			if pairs, err := ntlm.ParseAVPairs(blob[28:]); err == nil {
				addAVPairs(nt.add("AvPairs", ""), pairs)
			}
		} else if len(r) == 24 {
			nt.Value += " (NTLMv1)"
		}
		if m.EncryptedRandomSessionKey != nil {
			n.add("EncryptedRandomSessionKey", hex.EncodeToString(m.EncryptedRandomSessionKey))
		}
		addVersion(n, m.Version)
		if m.MIC != nil {
			n.add("MIC", hex.EncodeToString(m.MIC))
		}
	default:
		return nil, fail(8, "unknown NTLMSSP message type %d", typ)
	}
	return root, nil
}

func decodeNegoEx(b []byte) (*Node, error) {
	msgs, err := negoex.ParseMessages(b)
	if err != nil {
		return nil, fail(0, "%v", err)
	}
	root := &Node{Name: "NegoEx"}
	for _, m := range msgs {
		n := root.add(m.Type.String(), "")
		n.add("SequenceNum", fmt.Sprintf("%d", m.Seq))
		n.add("ConversationId", m.ConversationID.String())
		n.add("cbMessageLength", fmt.Sprintf("%d", len(m.Raw)))
		switch m.Type {
		case negoex.InitiatorNego, negoex.AcceptorNego:
			n.add("Random", hex.EncodeToString(m.Random[:]))
			n.add("ProtocolVersion", fmt.Sprintf("%d", m.ProtocolVersion))
			as := n.add("AuthSchemes", fmt.Sprintf("%d", len(m.AuthSchemes)))
			for _, g := range m.AuthSchemes {
				as.add("AuthScheme", g.String())
			}
			for _, e := range m.Extensions {
				n.add("Extension", fmt.Sprintf("type 0x%08x, %d bytes", e.Type, len(e.Value)))
			}
		case negoex.InitiatorMetaData, negoex.AcceptorMetaData, negoex.Challenge, negoex.APRequest:
			n.add("AuthScheme", m.AuthScheme.String())
			n.add("Exchange", fmt.Sprintf("%d bytes", len(m.Exchange)))
		case negoex.Verify:
			n.add("AuthScheme", m.AuthScheme.String())
			n.add("ChecksumType", fmt.Sprintf("%d", m.ChecksumType))
			n.add("ChecksumValue", hex.EncodeToString(m.Checksum))
		case negoex.Alert:
			n.add("AuthScheme", m.AuthScheme.String())
			n.add("ErrorCode", fmt.Sprintf("0x%08x", m.ErrorCode))
			for _, a := range m.Alerts {
				v := fmt.Sprintf("type %d, %d bytes", a.Type, len(a.Value))
				if m.VerifyNoKey() {
					v += " (pulse: VERIFY_NO_KEY)"
				}
				n.add("Alert", v)
			}
		}
	}
	return root, nil
}

// Kerberos: RFC 4121 token IDs and the application tags of RFC 4120 messages.
var tokenIDs = map[[2]byte]string{
	{1, 0}: "KRB_AP_REQ", {2, 0}: "KRB_AP_REP", {3, 0}: "KRB_ERROR",
	{4, 4}: "MIC token (RFC 4121)", {5, 4}: "Wrap token (RFC 4121)",
	// PKU2U (draft-zhu-pku2u) token IDs for the AS exchange.
	{5, 0}: "KRB_AS_REQ (PKU2U)", {6, 0}: "KRB_AS_REP (PKU2U)",
}

func isKerberosTokenID(a, b byte) bool { _, ok := tokenIDs[[2]byte{a, b}]; return ok }

var appTags = map[int]string{
	10: "AS-REQ", 11: "AS-REP", 12: "TGS-REQ", 13: "TGS-REP", 14: "AP-REQ", 15: "AP-REP",
	20: "KRB-SAFE", 21: "KRB-PRIV", 22: "KRB-CRED", 30: "KRB-ERROR",
}

func decodeKerberosToken(b []byte, off int) (*Node, error) {
	if len(b) < 2 {
		return nil, fail(off, "Kerberos token cut short")
	}
	name, ok := tokenIDs[[2]byte{b[0], b[1]}]
	if !ok {
		return nil, fail(off, "unknown Kerberos token ID %02x %02x", b[0], b[1])
	}
	n := &Node{Name: "Kerberos", Value: name}
	n.add("TOK_ID", hex.EncodeToString(b[:2]))
	if b[0] == 4 || b[0] == 5 {
		if len(b) < 16 {
			return nil, fail(off+len(b), "per-message token header cut short")
		}
		flags := b[2]
		n.add("Flags", fmt.Sprintf("0x%02x (SentByAcceptor %v, Sealed %v, AcceptorSubkey %v)", flags, flags&1 != 0, flags&2 != 0, flags&4 != 0))
		if b[0] == 5 {
			n.add("EC", fmt.Sprintf("%d", binary.BigEndian.Uint16(b[4:])))
			n.add("RRC", fmt.Sprintf("%d", binary.BigEndian.Uint16(b[6:])))
		}
		n.add("SND_SEQ", fmt.Sprintf("%d", binary.BigEndian.Uint64(b[8:])))
		return n, nil
	}
	msg, err := decodeKerberosMessage(b[2:], off+2)
	if err != nil {
		return nil, err
	}
	n.Children = append(n.Children, msg)
	return n, nil
}

// decodeKerberosMessage outlines an RFC 4120 message: its name and msg-type.
func decodeKerberosMessage(b []byte, off int) (*Node, error) {
	s := cryptobyte.String(b)
	var tag cbasn1.Tag
	var body cryptobyte.String
	if !s.ReadAnyASN1(&body, &tag) || !s.Empty() {
		return nil, fail(off, "malformed Kerberos message (DER)")
	}
	if tag&0xc0 != 0x40 {
		return nil, fail(off, "not a Kerberos application message")
	}
	num := int(tag & 0x1f)
	name, ok := appTags[num]
	if !ok {
		name = fmt.Sprintf("[APPLICATION %d]", num)
	}
	n := &Node{Name: name}
	n.add("length", fmt.Sprintf("%d bytes", len(body)))
	return n, nil
}

// Tree renders a node as an indented tree, one field a line.
func (n *Node) Tree() string {
	var sb strings.Builder
	n.write(&sb, 0)
	return sb.String()
}

func (n *Node) write(sb *strings.Builder, depth int) {
	sb.WriteString(strings.Repeat("    ", depth))
	sb.WriteString(n.Name)
	if n.Value != "" {
		sb.WriteString(": ")
		sb.WriteString(n.Value)
	}
	sb.WriteByte('\n')
	for _, c := range n.Children {
		c.write(sb, depth+1)
	}
}
