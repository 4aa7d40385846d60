package psk

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"github.com/gossp/gossp/sspi"
)

// Wire format. Every handshake message starts with the 4-byte magic "GPSK", a version
// byte and a type byte; integers are big-endian.
//
//	NEGOTIATE (initiator):  magic ver 1 | flags u32 | client nonce [32] | id len u16 | id
//	CHALLENGE (acceptor):   magic ver 2 | flags u32 | server nonce [32] | server proof [32]
//	AUTHENTICATE (initiator): magic ver 3 | bindings hash [32] | client proof [32]
const (
	magic          = "GPSK"
	version        = 1
	headerLen      = 6
	nonceLen       = 32
	proofLen       = 32
	maxIdentityLen = 256

	typeNegotiate    = 1
	typeChallenge    = 2
	typeAuthenticate = 3

	negotiateMinLen = headerLen + 4 + nonceLen + 2
	challengeLen    = headerLen + 4 + nonceLen + proofLen
	authenticateLen = headerLen + 32 + proofLen

	// MaxToken is the largest handshake token: a NEGOTIATE with the longest identity.
	MaxToken = negotiateMinLen + maxIdentityLen
)

type negotiateMsg struct {
	flags    uint32
	nonce    [nonceLen]byte
	identity string
}

type challengeMsg struct {
	flags uint32
	nonce [nonceLen]byte
	proof [proofLen]byte
}

type authenticateMsg struct {
	bindings [32]byte
	proof    [proofLen]byte
}

func appendHeader(b []byte, typ byte) []byte {
	return append(append(b, magic...), version, typ)
}

func (m *negotiateMsg) marshal() []byte {
	b := make([]byte, 0, negotiateMinLen+len(m.identity))
	b = appendHeader(b, typeNegotiate)
	b = binary.BigEndian.AppendUint32(b, m.flags)
	b = append(b, m.nonce[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.identity)))
	return append(b, m.identity...)
}

// marshalUnsigned is the CHALLENGE without its proof: what the proof covers.
func (m *challengeMsg) marshalUnsigned() []byte {
	b := make([]byte, 0, challengeLen)
	b = appendHeader(b, typeChallenge)
	b = binary.BigEndian.AppendUint32(b, m.flags)
	return append(b, m.nonce[:]...)
}

func (m *authenticateMsg) marshalUnsigned() []byte {
	b := make([]byte, 0, authenticateLen)
	b = appendHeader(b, typeAuthenticate)
	return append(b, m.bindings[:]...)
}

func checkHeader(b []byte, typ byte, name string) error {
	if len(b) < headerLen {
		return sspi.Errorf(sspi.ErrInvalidToken, "%s: %d bytes is shorter than the header", name, len(b))
	}
	if string(b[:4]) != magic {
		return sspi.Errorf(sspi.ErrInvalidToken, "%s: bad signature", name)
	}
	if b[4] != version {
		return sspi.Errorf(sspi.ErrInvalidToken, "%s: unsupported version %d", name, b[4])
	}
	if b[5] != typ {
		return sspi.Errorf(sspi.ErrInvalidToken, "%s: message type %d, want %d", name, b[5], typ)
	}
	return nil
}

func parseNegotiate(b []byte) (*negotiateMsg, error) {
	if err := checkHeader(b, typeNegotiate, "NEGOTIATE"); err != nil {
		return nil, err
	}
	if len(b) < negotiateMinLen {
		return nil, sspi.Errorf(sspi.ErrInvalidToken, "NEGOTIATE: truncated at %d bytes", len(b))
	}
	m := &negotiateMsg{flags: binary.BigEndian.Uint32(b[6:])}
	copy(m.nonce[:], b[10:])
	n := int(binary.BigEndian.Uint16(b[42:]))
	if n == 0 || n > maxIdentityLen {
		return nil, sspi.Errorf(sspi.ErrInvalidToken, "NEGOTIATE: identity length %d outside 1..%d", n, maxIdentityLen)
	}
	if len(b) != negotiateMinLen+n {
		return nil, sspi.Errorf(sspi.ErrInvalidToken, "NEGOTIATE: %d bytes, identity needs exactly %d", len(b), negotiateMinLen+n)
	}
	id := b[negotiateMinLen:]
	if !utf8.Valid(id) {
		return nil, sspi.Errorf(sspi.ErrInvalidToken, "NEGOTIATE: identity is not UTF-8")
	}
	m.identity = string(id)
	return m, nil
}

func parseChallenge(b []byte) (*challengeMsg, error) {
	if err := checkHeader(b, typeChallenge, "CHALLENGE"); err != nil {
		return nil, err
	}
	if len(b) != challengeLen {
		return nil, sspi.Errorf(sspi.ErrInvalidToken, "CHALLENGE: %d bytes, want %d", len(b), challengeLen)
	}
	m := &challengeMsg{flags: binary.BigEndian.Uint32(b[6:])}
	copy(m.nonce[:], b[10:])
	copy(m.proof[:], b[10+nonceLen:])
	return m, nil
}

func parseAuthenticate(b []byte) (*authenticateMsg, error) {
	if err := checkHeader(b, typeAuthenticate, "AUTHENTICATE"); err != nil {
		return nil, err
	}
	if len(b) != authenticateLen {
		return nil, sspi.Errorf(sspi.ErrInvalidToken, "AUTHENTICATE: %d bytes, want %d", len(b), authenticateLen)
	}
	m := &authenticateMsg{}
	copy(m.bindings[:], b[6:])
	copy(m.proof[:], b[38:])
	return m, nil
}

// Protection tokens: a type byte, the 8-byte sequence number, then for a signature the
// 16-byte tag, for a wrap token the (possibly encrypted) message and its tag.
const (
	tokenSignature = 0x01
	tokenSealed    = 0x02
	tokenSigned    = 0x03

	protHeaderLen = 9
	tagLen        = 16
	signatureLen  = protHeaderLen + tagLen
)

func parseProtHeader(b []byte, minLen int, what string) (typ byte, seq uint64, err error) {
	if len(b) < minLen {
		return 0, 0, sspi.Errorf(sspi.ErrInvalidToken, "%s: %d bytes, need at least %d", what, len(b), minLen)
	}
	return b[0], binary.BigEndian.Uint64(b[1:9]), nil
}

func errUnexpectedType(what string, typ byte) error {
	return &sspi.Error{Status: sspi.ErrInvalidToken, Err: fmt.Errorf("%s: unexpected token type 0x%02x", what, typ)}
}
