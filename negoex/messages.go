package negoex

import (
	"encoding/binary"
	"fmt"

	"github.com/gossp/gossp/sspi"
)

// The NegoEx wire format (MS-NEGOEX 2.2, draft-zhu-negoex-04 as MIT and Windows speak
// it). Integers are little-endian, GUIDs in Windows order. A token is a run of messages
// with no padding between them; each starts with a 40-byte header.

// MessageType is a NegoEx message type.
type MessageType uint32

// Message types.
const (
	InitiatorNego     MessageType = 0
	AcceptorNego      MessageType = 1
	InitiatorMetaData MessageType = 2
	AcceptorMetaData  MessageType = 3
	Challenge         MessageType = 4 // the acceptor's scheme token
	APRequest         MessageType = 5 // the initiator's scheme token
	Verify            MessageType = 6
	Alert             MessageType = 7
)

var typeNames = []string{"INITIATOR_NEGO", "ACCEPTOR_NEGO", "INITIATOR_META_DATA",
	"ACCEPTOR_META_DATA", "CHALLENGE", "AP_REQUEST", "VERIFY", "ALERT"}

func (t MessageType) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("MESSAGE_TYPE(%d)", uint32(t))
}

// headerLens are the fixed header lengths per type (the C structs, padded to 8).
var headerLens = [...]uint32{96, 96, 64, 64, 64, 64, 80, 72}

const (
	signature        = "NEGOEXTS"
	baseHeaderLen    = 40
	maxMessages      = 64       // per token
	maxVectorCount   = 64       // schemes, extensions, alerts per message
	maxTokenLen      = 64 << 10 // a NegoEx token; schemes' own tokens ride inside
	checksumScheme   = 1        // CHECKSUM_SCHEME_RFC3961
	checksumHdrLen   = 20
	alertPulse       = 1 // ALERT_TYPE_PULSE
	alertVerifyNoKey = 1 // ALERT_VERIFY_NO_KEY
	pulseLen         = 8
)

// Extension is a NEGO message extension. Types with the top bit set are critical: a
// receiver that does not understand one must fail.
type Extension struct {
	Type  uint32
	Value []byte
}

// Critical reports whether the extension must be understood.
func (e Extension) Critical() bool { return e.Type&0x80000000 != 0 }

// AlertEntry is one alert of an ALERT message.
type AlertEntry struct {
	Type  uint32
	Value []byte
}

// Message is one decoded NegoEx message; which fields are set depends on Type.
type Message struct {
	Type           MessageType
	Seq            uint32
	ConversationID sspi.GUID

	// NEGO messages.
	Random          [32]byte
	ProtocolVersion uint64
	AuthSchemes     []sspi.GUID
	Extensions      []Extension

	// Exchange, VERIFY and ALERT messages.
	AuthScheme sspi.GUID
	Exchange   []byte // META_DATA, CHALLENGE, AP_REQUEST

	// VERIFY.
	ChecksumType uint32
	Checksum     []byte

	// ALERT.
	ErrorCode uint32
	Alerts    []AlertEntry

	// Raw is the message's bytes as they travelled: what VERIFY checksums cover.
	Raw []byte
}

// VerifyNoKey reports whether an ALERT carries the VERIFY_NO_KEY pulse.
func (m *Message) VerifyNoKey() bool {
	for _, a := range m.Alerts {
		if a.Type == alertPulse && len(a.Value) >= pulseLen &&
			binary.LittleEndian.Uint32(a.Value[4:]) == alertVerifyNoKey {
			return true
		}
	}
	return false
}

// Append encodes the message and appends it to b. Seq, ConversationID and the fields
// of its type must be set.
func (m *Message) Append(b []byte) []byte {
	if int(m.Type) >= len(headerLens) {
		panic("negoex: cannot encode message type " + m.Type.String())
	}
	hdr := headerLens[m.Type]
	start := len(b)
	b = append(b, make([]byte, hdr)...)
	h := b[start:]
	copy(h, signature)
	put32 := func(off int, v uint32) { binary.LittleEndian.PutUint32(b[start+off:], v) }
	put32(8, uint32(m.Type))
	put32(12, m.Seq)
	put32(16, hdr)
	copy(h[24:40], m.ConversationID.AppendWire(nil))
	switch m.Type {
	case InitiatorNego, AcceptorNego:
		copy(h[40:72], m.Random[:])
		binary.LittleEndian.PutUint64(h[72:], m.ProtocolVersion)
		if len(m.AuthSchemes) > 0 {
			put32(80, uint32(len(b)-start))
			binary.LittleEndian.PutUint16(b[start+84:], uint16(len(m.AuthSchemes)))
			for _, g := range m.AuthSchemes {
				b = g.AppendWire(b)
			}
		}
		if len(m.Extensions) == 0 {
			// Windows reads the extension vector at 88 (the C struct's layout), MIT at 86
			// (packed), where it writes the header length as the offset. With no
			// extensions both read a count of zero whatever is here; writing MIT's two
			// bytes into Windows' padding makes our tokens byte-identical to MIT's.
			binary.LittleEndian.PutUint16(b[start+86:], uint16(hdr))
		} else {
			// EXTENSION structs first, then their values.
			vecOff := len(b) - start
			put32(88, uint32(vecOff))
			binary.LittleEndian.PutUint16(b[start+92:], uint16(len(m.Extensions)))
			b = append(b, make([]byte, 12*len(m.Extensions))...)
			for i, e := range m.Extensions {
				at := start + vecOff + 12*i
				binary.LittleEndian.PutUint32(b[at:], e.Type)
				binary.LittleEndian.PutUint32(b[at+4:], uint32(len(b)-start))
				binary.LittleEndian.PutUint32(b[at+8:], uint32(len(e.Value)))
				b = append(b, e.Value...)
			}
		}
	case InitiatorMetaData, AcceptorMetaData, Challenge, APRequest:
		copy(h[40:56], m.AuthScheme.AppendWire(nil))
		put32(56, uint32(len(b)-start))
		put32(60, uint32(len(m.Exchange)))
		b = append(b, m.Exchange...)
	case Verify:
		copy(h[40:56], m.AuthScheme.AppendWire(nil))
		put32(56, checksumHdrLen)
		put32(60, checksumScheme)
		put32(64, m.ChecksumType)
		put32(68, uint32(len(b)-start))
		put32(72, uint32(len(m.Checksum)))
		b = append(b, m.Checksum...)
	case Alert:
		copy(h[40:56], m.AuthScheme.AppendWire(nil))
		put32(56, m.ErrorCode)
		if len(m.Alerts) > 0 {
			vecOff := len(b) - start
			put32(60, uint32(vecOff))
			binary.LittleEndian.PutUint16(b[start+64:], uint16(len(m.Alerts)))
			b = append(b, make([]byte, 12*len(m.Alerts))...)
			for i, a := range m.Alerts {
				at := start + vecOff + 12*i
				binary.LittleEndian.PutUint32(b[at:], a.Type)
				binary.LittleEndian.PutUint32(b[at+4:], uint32(len(b)-start))
				binary.LittleEndian.PutUint32(b[at+8:], uint32(len(a.Value)))
				b = append(b, a.Value...)
			}
		}
	}
	binary.LittleEndian.PutUint32(b[start+20:], uint32(len(b)-start))
	return b
}

// pulseNoKey is the ALERT_PULSE value saying "I have no key to check your VERIFY".
func pulseNoKey() []byte {
	v := make([]byte, pulseLen)
	binary.LittleEndian.PutUint32(v, pulseLen)
	binary.LittleEndian.PutUint32(v[4:], alertVerifyNoKey)
	return v
}

func invalid(format string, a ...any) error {
	return sspi.Errorf(sspi.ErrInvalidToken, "NegoEx: "+format, a...)
}

// ParseMessages decodes a token: one or more concatenated messages. It checks each
// message's signature, type, lengths and vectors against the message's bounds; it does
// not check sequence numbers or conversation IDs, which are the state machine's.
func ParseMessages(b []byte) ([]*Message, error) {
	if len(b) > maxTokenLen {
		return nil, invalid("token of %d bytes exceeds %d", len(b), maxTokenLen)
	}
	if len(b) == 0 {
		return nil, invalid("empty token")
	}
	var msgs []*Message
	for len(b) > 0 {
		if len(msgs) == maxMessages {
			return nil, invalid("more than %d messages in one token", maxMessages)
		}
		m, n, err := parseMessage(b)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", len(msgs)+1, err)
		}
		msgs = append(msgs, m)
		b = b[n:]
	}
	return msgs, nil
}

func parseMessage(b []byte) (*Message, int, error) {
	if len(b) < baseHeaderLen {
		return nil, 0, invalid("%d bytes is shorter than a message header", len(b))
	}
	if string(b[:8]) != signature {
		return nil, 0, invalid("no NEGOEXTS signature")
	}
	le := binary.LittleEndian
	m := &Message{Type: MessageType(le.Uint32(b[8:])), Seq: le.Uint32(b[12:])}
	hdr, total := le.Uint32(b[16:]), le.Uint32(b[20:])
	if int(m.Type) >= len(headerLens) {
		return nil, 0, invalid("unknown message type %d", uint32(m.Type))
	}
	if hdr != headerLens[m.Type] {
		return nil, 0, invalid("%v header length %d, want %d", m.Type, hdr, headerLens[m.Type])
	}
	if total < hdr || uint64(total) > uint64(len(b)) {
		return nil, 0, invalid("%v message length %d outside %d..%d", m.Type, total, hdr, len(b))
	}
	msg := b[:total]
	m.Raw = msg
	m.ConversationID = sspi.GUIDFromWire(msg[24:40])
	// vector returns the count items of size bytes that a vector field (offset at
	// offAt, 16-bit count at countAt) describes.
	vector := func(offAt, countAt int, size int, what string) ([]byte, int, error) {
		off := le.Uint32(msg[offAt:])
		count := int(le.Uint16(msg[countAt:]))
		if count == 0 {
			return nil, 0, nil // any offset is fine with nothing there
		}
		if count > maxVectorCount {
			return nil, 0, invalid("%v: %d %s exceed %d", m.Type, count, what, maxVectorCount)
		}
		n := uint64(count) * uint64(size)
		if uint64(off) < uint64(hdr) || uint64(off)+n > uint64(total) {
			return nil, 0, invalid("%v: %s (offset %d, %d bytes) outside the %d-byte message", m.Type, what, off, n, total)
		}
		return msg[off : uint64(off)+n], count, nil
	}
	switch m.Type {
	case InitiatorNego, AcceptorNego:
		copy(m.Random[:], msg[40:72])
		m.ProtocolVersion = le.Uint64(msg[72:])
		if m.ProtocolVersion != 0 {
			return nil, 0, invalid("%v: protocol version %d, want 0", m.Type, m.ProtocolVersion)
		}
		schemes, n, err := vector(80, 84, 16, "auth schemes")
		if err != nil {
			return nil, 0, err
		}
		for i := range n {
			m.AuthSchemes = append(m.AuthSchemes, sspi.GUIDFromWire(schemes[16*i:]))
		}
		exts, n, err := vector(88, 92, 12, "extensions")
		if err != nil {
			return nil, 0, err
		}
		for i := range n {
			e := exts[12*i:]
			v, err := byteVector(msg, hdr, le.Uint32(e[4:]), le.Uint32(e[8:]), "extension value")
			if err != nil {
				return nil, 0, err
			}
			m.Extensions = append(m.Extensions, Extension{Type: le.Uint32(e), Value: v})
		}
	case InitiatorMetaData, AcceptorMetaData, Challenge, APRequest:
		m.AuthScheme = sspi.GUIDFromWire(msg[40:56])
		v, err := byteVector(msg, hdr, le.Uint32(msg[56:]), le.Uint32(msg[60:]), "exchange")
		if err != nil {
			return nil, 0, err
		}
		m.Exchange = v
	case Verify:
		m.AuthScheme = sspi.GUIDFromWire(msg[40:56])
		if le.Uint32(msg[56:]) != checksumHdrLen {
			return nil, 0, invalid("VERIFY: checksum header length %d, want %d", le.Uint32(msg[56:]), checksumHdrLen)
		}
		if le.Uint32(msg[60:]) != checksumScheme {
			return nil, 0, invalid("VERIFY: checksum scheme %d, want RFC 3961", le.Uint32(msg[60:]))
		}
		m.ChecksumType = le.Uint32(msg[64:])
		v, err := byteVector(msg, hdr, le.Uint32(msg[68:]), le.Uint32(msg[72:]), "checksum")
		if err != nil {
			return nil, 0, err
		}
		m.Checksum = v
	case Alert:
		m.AuthScheme = sspi.GUIDFromWire(msg[40:56])
		m.ErrorCode = le.Uint32(msg[56:])
		alerts, n, err := vector(60, 64, 12, "alerts")
		if err != nil {
			return nil, 0, err
		}
		for i := range n {
			a := alerts[12*i:]
			v, err := byteVector(msg, hdr, le.Uint32(a[4:]), le.Uint32(a[8:]), "alert value")
			if err != nil {
				return nil, 0, err
			}
			m.Alerts = append(m.Alerts, AlertEntry{Type: le.Uint32(a), Value: v})
		}
	}
	return m, int(total), nil
}

// byteVector returns the length bytes at off, which must lie inside the message after
// its header.
func byteVector(msg []byte, hdr, off, length uint32, what string) ([]byte, error) {
	if length == 0 {
		return nil, nil
	}
	if off < hdr || uint64(off)+uint64(length) > uint64(len(msg)) {
		return nil, invalid("%s (offset %d, length %d) outside the %d-byte message", what, off, length, len(msg))
	}
	return msg[off : off+length], nil
}
