package ntlm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/gossp/gossp/sspi"
)

// Wire layout of the three NTLMSSP messages (MS-NLMP 2.2.1). Variable fields are
// described in the fixed part by 8-byte descriptors (length, max length, offset) and
// live in the payload that follows.

var signature = []byte("NTLMSSP\x00")

// Message types.
const (
	TypeNegotiate    uint32 = 1
	TypeChallenge    uint32 = 2
	TypeAuthenticate uint32 = 3
)

const (
	negotiateFixedLen    = 32 // without Version
	negotiateVersionLen  = 40
	challengeFixedLen    = 48 // through TargetInfoFields
	authenticateFixedLen = 64 // through NegotiateFlags
	authenticateMICEnd   = 88 // Version (8) and MIC (16) follow the flags
	micOffset            = 72

	// maxMessageLen bounds every message. Windows' NTLM MaxToken is 2888 bytes (the
	// AUTHENTICATE carries the target info echoed back, plus names); the bound leaves
	// room for long names and target info without letting a peer make us hold
	// megabytes.
	maxMessageLen = 64 << 10
)

// Version is the VERSION structure (MS-NLMP 2.2.2.10): the sender's OS version, for
// debugging only.
type Version struct {
	Major, Minor  uint8
	Build         uint16
	NTLMRevision  uint8 // NTLMSSP_REVISION_W2K3 is 15
	reservedBytes [3]byte
}

// DefaultVersion is what gossp sends: Windows 10.0 build 20348 style numbers, which
// peers expect to see, with NTLM revision 15.
var DefaultVersion = Version{Major: 10, Minor: 0, Build: 20348, NTLMRevision: 15}

func (v Version) append(b []byte) []byte {
	b = append(b, v.Major, v.Minor)
	b = binary.LittleEndian.AppendUint16(b, v.Build)
	return append(b, 0, 0, 0, v.NTLMRevision)
}

func parseVersion(b []byte) Version {
	return Version{Major: b[0], Minor: b[1], Build: binary.LittleEndian.Uint16(b[2:]), NTLMRevision: b[7]}
}

func (v Version) String() string {
	return fmt.Sprintf("%d.%d.%d (NTLM revision %d)", v.Major, v.Minor, v.Build, v.NTLMRevision)
}

// NegotiateMessage is NEGOTIATE_MESSAGE.
type NegotiateMessage struct {
	Flags       NegotiateFlags
	Domain      string // OEM, only with FlagOEMDomainSupplied
	Workstation string // OEM, only with FlagOEMWorkstationSupplied
	Version     *Version
}

// ChallengeMessage is CHALLENGE_MESSAGE.
type ChallengeMessage struct {
	Flags           NegotiateFlags
	TargetName      string
	ServerChallenge [8]byte
	TargetInfo      AVPairs
	Version         *Version
	// rawTargetInfo is the target info exactly as received (which the NTLMv2 response
	// must echo) or as an acceptor prepared it; it wins over TargetInfo in Marshal.
	rawTargetInfo []byte
	// rawTargetName, when set, is TargetName already encoded.
	rawTargetName []byte
}

// AuthenticateMessage is AUTHENTICATE_MESSAGE.
type AuthenticateMessage struct {
	Flags                     NegotiateFlags
	LMChallengeResponse       []byte
	NTChallengeResponse       []byte
	Domain                    string
	User                      string
	Workstation               string
	EncryptedRandomSessionKey []byte
	Version                   *Version
	// MIC is set when the message has room for one (its payload starts at offset 88 or
	// later); whether it is meaningful is said by MsvAvFlags in the NTLMv2 response.
	MIC []byte
	// micPresent records that the layout reserved the 16 MIC bytes.
	micPresent bool
}

// payloadWriter appends variable fields and fills their descriptors.
type payloadWriter struct {
	buf []byte
	// emptyAtZero gives empty fields offset 0, as Windows writes NEGOTIATE and
	// CHALLENGE; AUTHENTICATE points even empty fields into the payload, which keeps
	// peers that find the MIC from the lowest offset right.
	emptyAtZero bool
}

// field appends data to the payload and writes its descriptor at offset desc.
func (w *payloadWriter) field(desc int, data []byte) {
	binary.LittleEndian.PutUint16(w.buf[desc:], uint16(len(data)))
	binary.LittleEndian.PutUint16(w.buf[desc+2:], uint16(len(data)))
	if len(data) > 0 || !w.emptyAtZero {
		binary.LittleEndian.PutUint32(w.buf[desc+4:], uint32(len(w.buf)))
	}
	w.buf = append(w.buf, data...)
}

func newMessage(typ uint32, fixed int, sizeHint int) *payloadWriter {
	b := make([]byte, fixed, fixed+sizeHint)
	copy(b, signature)
	binary.LittleEndian.PutUint32(b[8:], typ)
	return &payloadWriter{buf: b}
}

func (f NegotiateFlags) encodeString(s string) []byte {
	if f.Has(FlagUnicode) {
		return encodeUTF16LE(s)
	}
	return []byte(s)
}

// Marshal encodes the message. It always has the 40-byte layout with a Version field,
// zero when m.Version is nil: gss-ntlmssp rejects the short form.
func (m *NegotiateMessage) Marshal() []byte {
	w := newMessage(TypeNegotiate, negotiateVersionLen, len(m.Domain)+len(m.Workstation))
	w.emptyAtZero = true
	binary.LittleEndian.PutUint32(w.buf[12:], uint32(m.Flags))
	if m.Version != nil {
		copy(w.buf[32:40], m.Version.append(nil))
	}
	w.field(16, []byte(m.Domain))
	w.field(24, []byte(m.Workstation))
	return w.buf
}

// Marshal encodes the message.
func (m *ChallengeMessage) Marshal() []byte {
	ti := m.rawTargetInfo
	if ti == nil && m.TargetInfo != nil {
		ti = m.TargetInfo.Marshal()
	}
	name := m.rawTargetName
	if name == nil {
		name = m.Flags.encodeString(m.TargetName)
	}
	w := newMessage(TypeChallenge, challengeFixedLen+8, len(name)+len(ti))
	w.emptyAtZero = true
	binary.LittleEndian.PutUint32(w.buf[20:], uint32(m.Flags))
	copy(w.buf[24:32], m.ServerChallenge[:])
	if m.Version != nil {
		copy(w.buf[48:56], m.Version.append(nil))
	}
	w.field(12, name)
	w.field(40, ti)
	return w.buf
}

// Marshal encodes the message. The 16-byte MIC field is laid out when m.MIC is set (a
// zero MIC reserves the room to fill in later); without it the payload starts at 72.
func (m *AuthenticateMessage) Marshal() []byte {
	domain := m.Flags.encodeString(m.Domain)
	user := m.Flags.encodeString(m.User)
	ws := m.Flags.encodeString(m.Workstation)
	fixed := authenticateFixedLen + 8
	if m.MIC != nil {
		fixed = authenticateMICEnd
	}
	w := newMessage(TypeAuthenticate, fixed,
		len(m.LMChallengeResponse)+len(m.NTChallengeResponse)+len(domain)+len(user)+len(ws)+len(m.EncryptedRandomSessionKey))
	binary.LittleEndian.PutUint32(w.buf[60:], uint32(m.Flags))
	if m.Version != nil {
		copy(w.buf[64:72], m.Version.append(nil))
	}
	if m.MIC != nil {
		copy(w.buf[micOffset:authenticateMICEnd], m.MIC)
	}
	// Payload order as Windows writes it: names first, then responses, then the key.
	w.field(28, domain)
	w.field(36, user)
	w.field(44, ws)
	w.field(12, m.LMChallengeResponse)
	w.field(20, m.NTChallengeResponse)
	w.field(52, m.EncryptedRandomSessionKey)
	return w.buf
}

// reader parses a message, checking every descriptor against the message's bounds.
type reader struct {
	b    []byte
	name string
	// minPayload is the lowest offset any non-empty field points to; it tells which
	// optional fixed fields (Version, MIC) the sender laid out.
	minPayload int
}

func (r *reader) errorf(format string, a ...any) error {
	return sspi.Errorf(sspi.ErrInvalidToken, "%s: "+format, append([]any{r.name}, a...)...)
}

// field returns the bytes a descriptor at offset desc points to.
func (r *reader) field(desc int, what string) ([]byte, error) {
	n := int(binary.LittleEndian.Uint16(r.b[desc:]))
	off := int(binary.LittleEndian.Uint32(r.b[desc+4:]))
	if n == 0 {
		return nil, nil
	}
	if off < 0 || off > len(r.b) || n > len(r.b)-off {
		return nil, r.errorf("%s (offset %d, length %d) lies outside the %d-byte message", what, off, n, len(r.b))
	}
	if off < r.minPayload {
		r.minPayload = off
	}
	return r.b[off : off+n], nil
}

func newReader(b []byte, typ uint32, minLen int, name string) (*reader, error) {
	r := &reader{b: b, name: name, minPayload: len(b)}
	if len(b) > maxMessageLen {
		return nil, r.errorf("%d bytes is more than the %d allowed", len(b), maxMessageLen)
	}
	if len(b) < minLen {
		return nil, r.errorf("%d bytes is shorter than the %d-byte fixed part", len(b), minLen)
	}
	if !bytes.Equal(b[:8], signature) {
		return nil, r.errorf("no NTLMSSP signature")
	}
	if got := binary.LittleEndian.Uint32(b[8:]); got != typ {
		return nil, r.errorf("message type %d, want %d", got, typ)
	}
	return r, nil
}

func (r *reader) text(flags NegotiateFlags, b []byte, what string) (string, error) {
	if !flags.Has(FlagUnicode) {
		return string(b), nil
	}
	if len(b)%2 != 0 {
		return "", r.errorf("%s has an odd length (%d) for UTF-16", what, len(b))
	}
	return decodeUTF16LE(b), nil
}

// ParseNegotiate decodes a NEGOTIATE_MESSAGE, in the 40-byte form or the older 32- and
// 16-byte forms.
func ParseNegotiate(b []byte) (*NegotiateMessage, error) {
	r, err := newReader(b, TypeNegotiate, 16, "NEGOTIATE")
	if err != nil {
		return nil, err
	}
	m := &NegotiateMessage{Flags: NegotiateFlags(binary.LittleEndian.Uint32(b[12:]))}
	if len(b) < negotiateFixedLen {
		if len(b) != 16 {
			return nil, r.errorf("%d bytes is neither the 16-byte form nor a full message", len(b))
		}
		return m, nil // the 16-byte form of old clients: flags only
	}
	dom, err := r.field(16, "DomainName")
	if err != nil {
		return nil, err
	}
	ws, err := r.field(24, "Workstation")
	if err != nil {
		return nil, err
	}
	if m.Flags.Has(FlagOEMDomainSupplied) {
		m.Domain = string(dom)
	}
	if m.Flags.Has(FlagOEMWorkstationSupplied) {
		m.Workstation = string(ws)
	}
	if len(b) > negotiateFixedLen && len(b) < negotiateVersionLen && r.minPayload > negotiateFixedLen {
		return nil, r.errorf("the Version field is cut short")
	}
	if len(b) >= negotiateVersionLen && r.minPayload >= negotiateVersionLen && m.Flags.Has(FlagVersion) {
		v := parseVersion(b[32:40])
		m.Version = &v
	}
	return m, nil
}

// ParseChallenge decodes a CHALLENGE_MESSAGE.
func ParseChallenge(b []byte) (*ChallengeMessage, error) {
	r, err := newReader(b, TypeChallenge, 32, "CHALLENGE")
	if err != nil {
		return nil, err
	}
	m := &ChallengeMessage{Flags: NegotiateFlags(binary.LittleEndian.Uint32(b[20:]))}
	copy(m.ServerChallenge[:], b[24:32])
	name, err := r.field(12, "TargetName")
	if err != nil {
		return nil, err
	}
	if m.TargetName, err = r.text(m.Flags, name, "TargetName"); err != nil {
		return nil, err
	}
	if len(b) >= challengeFixedLen {
		ti, err := r.field(40, "TargetInfo")
		if err != nil {
			return nil, err
		}
		if len(ti) > 0 {
			if m.TargetInfo, err = ParseAVPairs(ti); err != nil {
				return nil, err
			}
			m.rawTargetInfo = ti
		}
	}
	if len(b) >= challengeFixedLen+8 && r.minPayload >= challengeFixedLen+8 && m.Flags.Has(FlagVersion) {
		v := parseVersion(b[48:56])
		m.Version = &v
	}
	return m, nil
}

// ParseAuthenticate decodes an AUTHENTICATE_MESSAGE. Whether the MIC field exists is
// decided from where the payload starts, never assumed.
func ParseAuthenticate(b []byte) (*AuthenticateMessage, error) {
	r, err := newReader(b, TypeAuthenticate, authenticateFixedLen, "AUTHENTICATE")
	if err != nil {
		return nil, err
	}
	m := &AuthenticateMessage{Flags: NegotiateFlags(binary.LittleEndian.Uint32(b[60:]))}
	fields := []struct {
		desc int
		name string
		dst  *[]byte
	}{
		{12, "LmChallengeResponse", &m.LMChallengeResponse},
		{20, "NtChallengeResponse", &m.NTChallengeResponse},
		{52, "EncryptedRandomSessionKey", &m.EncryptedRandomSessionKey},
	}
	for _, f := range fields {
		v, err := r.field(f.desc, f.name)
		if err != nil {
			return nil, err
		}
		*f.dst = v
	}
	texts := []struct {
		desc int
		name string
		dst  *string
	}{
		{28, "DomainName", &m.Domain},
		{36, "UserName", &m.User},
		{44, "Workstation", &m.Workstation},
	}
	for _, f := range texts {
		v, err := r.field(f.desc, f.name)
		if err != nil {
			return nil, err
		}
		if *f.dst, err = r.text(m.Flags, v, f.name); err != nil {
			return nil, err
		}
	}
	if r.minPayload >= authenticateFixedLen+8 && m.Flags.Has(FlagVersion) {
		v := parseVersion(b[64:72])
		m.Version = &v
	}
	if r.minPayload >= authenticateMICEnd {
		m.micPresent = true
		m.MIC = b[micOffset:authenticateMICEnd]
	}
	return m, nil
}

// AV pair IDs (MS-NLMP 2.2.2.1).
const (
	AvEOL             uint16 = 0
	AvNbComputerName  uint16 = 1
	AvNbDomainName    uint16 = 2
	AvDNSComputerName uint16 = 3
	AvDNSDomainName   uint16 = 4
	AvDNSTreeName     uint16 = 5
	AvFlags           uint16 = 6
	AvTimestamp       uint16 = 7
	AvSingleHost      uint16 = 8
	AvTargetName      uint16 = 9
	AvChannelBindings uint16 = 10
)

// MsvAvFlags bits.
const (
	AvFlagConstrained      uint32 = 0x1
	AvFlagMICPresent       uint32 = 0x2
	AvFlagUntrustedSPN     uint32 = 0x4
	maxAVPairs                    = 64
	filetimeEpochOffset100 int64  = 116444736000000000 // 1601-01-01 to 1970-01-01 in 100 ns
)

// AVPair is one attribute-value pair of target info.
type AVPair struct {
	ID    uint16
	Value []byte
}

// AVPairs is a target info list, in order, without the terminating MsvAvEOL.
type AVPairs []AVPair

// ParseAVPairs decodes target info. It requires the MsvAvEOL terminator, refuses pairs
// that overrun the buffer, and bounds the count.
func ParseAVPairs(b []byte) (AVPairs, error) {
	// Count first, so the list is allocated once.
	n := 0
	for rest := b; len(rest) >= 4 && n <= maxAVPairs; n++ {
		id, l := binary.LittleEndian.Uint16(rest), int(binary.LittleEndian.Uint16(rest[2:]))
		if id == AvEOL || l > len(rest)-4 {
			break
		}
		rest = rest[4+l:]
	}
	pairs := make(AVPairs, 0, min(n, maxAVPairs))
	for {
		if len(b) < 4 {
			return nil, sspi.Errorf(sspi.ErrInvalidToken, "target info: truncated AV pair")
		}
		id := binary.LittleEndian.Uint16(b)
		n := int(binary.LittleEndian.Uint16(b[2:]))
		if id == AvEOL {
			return pairs, nil
		}
		if n > len(b)-4 {
			return nil, sspi.Errorf(sspi.ErrInvalidToken, "target info: AV pair %d of %d bytes overruns the list", id, n)
		}
		if len(pairs) == maxAVPairs {
			return nil, sspi.Errorf(sspi.ErrInvalidToken, "target info: more than %d AV pairs", maxAVPairs)
		}
		pairs = append(pairs, AVPair{ID: id, Value: b[4 : 4+n]})
		b = b[4+n:]
	}
}

// Marshal encodes the list with its MsvAvEOL terminator.
func (p AVPairs) Marshal() []byte {
	n := 4
	for _, a := range p {
		n += 4 + len(a.Value)
	}
	b := make([]byte, 0, n)
	for _, a := range p {
		b = binary.LittleEndian.AppendUint16(b, a.ID)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(a.Value)))
		b = append(b, a.Value...)
	}
	return append(b, 0, 0, 0, 0)
}

// Get returns the value of the first pair with the ID.
func (p AVPairs) Get(id uint16) ([]byte, bool) {
	for _, a := range p {
		if a.ID == id {
			return a.Value, true
		}
	}
	return nil, false
}

// Flags returns MsvAvFlags, zero if absent or malformed.
func (p AVPairs) Flags() uint32 {
	if v, ok := p.Get(AvFlags); ok && len(v) == 4 {
		return binary.LittleEndian.Uint32(v)
	}
	return 0
}

// Timestamp returns MsvAvTimestamp as a FILETIME.
func (p AVPairs) Timestamp() (uint64, bool) {
	if v, ok := p.Get(AvTimestamp); ok && len(v) == 8 {
		return binary.LittleEndian.Uint64(v), true
	}
	return 0, false
}

// String returns a UTF-16 pair's value as text.
func (p AVPairs) String(id uint16) string {
	v, _ := p.Get(id)
	return decodeUTF16LE(v)
}

// filetime converts a time to a Windows FILETIME (100 ns ticks since 1601).
func filetime(t time.Time) uint64 {
	return uint64(t.UnixNano()/100 + filetimeEpochOffset100)
}

// fromFiletime converts a FILETIME to a time.
func fromFiletime(ft uint64) time.Time {
	return time.Unix(0, (int64(ft)-filetimeEpochOffset100)*100)
}
