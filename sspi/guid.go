package sspi

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// GUID is a 16-byte identifier such as a NegoEx auth scheme, held in the order of its
// text form (RFC 4122 order). Windows puts GUIDs on the wire with the first three fields
// little-endian; use AppendWire and GUIDFromWire for that order.
type GUID [16]byte

// ParseGUID parses "0d53335c-f9ea-4d0d-b2ec-4ae3786ec308", with or without braces.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	if len(s) == 38 && s[0] == '{' && s[37] == '}' {
		s = s[1:37]
	}
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("sspi: malformed GUID %q", s)
	}
	compact := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	if _, err := hex.Decode(g[:], []byte(compact)); err != nil {
		return GUID{}, fmt.Errorf("sspi: malformed GUID %q: %w", s, err)
	}
	return g, nil
}

// MustParseGUID is ParseGUID for constants; it panics on malformed input.
func MustParseGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

// String formats the GUID in lower case, "0d53335c-f9ea-4d0d-b2ec-4ae3786ec308".
func (g GUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], g[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], g[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], g[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], g[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], g[10:16])
	return string(b[:])
}

// IsZero reports whether g is the nil GUID.
func (g GUID) IsZero() bool { return g == GUID{} }

// AppendWire appends g in Windows' wire order (Data1, Data2, Data3 little-endian).
func (g GUID) AppendWire(b []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, binary.BigEndian.Uint32(g[0:4]))
	b = binary.LittleEndian.AppendUint16(b, binary.BigEndian.Uint16(g[4:6]))
	b = binary.LittleEndian.AppendUint16(b, binary.BigEndian.Uint16(g[6:8]))
	return append(b, g[8:16]...)
}

// GUIDFromWire reads a GUID in Windows' wire order from the first 16 bytes of b, which
// must hold at least 16 bytes.
func GUIDFromWire(b []byte) GUID {
	var g GUID
	binary.BigEndian.PutUint32(g[0:4], binary.LittleEndian.Uint32(b[0:4]))
	binary.BigEndian.PutUint16(g[4:6], binary.LittleEndian.Uint16(b[4:6]))
	binary.BigEndian.PutUint16(g[6:8], binary.LittleEndian.Uint16(b[6:8]))
	copy(g[8:], b[8:16])
	return g
}
