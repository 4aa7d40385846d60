package kerberos

import (
	"crypto/subtle"
	"encoding/asn1"
	"encoding/binary"
	"sync"

	"github.com/jcmturner/gokrb5/v8/crypto/etype"

	"github.com/gossp/gossp/sspi"
)

// Token IDs of RFC 4121 (and RFC 1964 4.1 for the context tokens).
const (
	tokAPReq    uint16 = 0x0100
	tokAPRep    uint16 = 0x0200
	tokKRBError uint16 = 0x0300
	tokMIC      uint16 = 0x0404
	tokWrap     uint16 = 0x0504
)

// Per-message token flags (RFC 4121 4.2.2).
const (
	flagSentByAcceptor = 0x01
	flagSealed         = 0x02
	flagAcceptorSubkey = 0x04
)

// Key usages of RFC 4121 2.
const (
	usageAcceptorSeal  = 22
	usageAcceptorSign  = 23
	usageInitiatorSeal = 24
	usageInitiatorSign = 25
)

var oidKrb5DER = mustOID(OID)

func mustOID(o asn1.ObjectIdentifier) []byte {
	b, err := asn1.Marshal(o)
	if err != nil {
		panic(err)
	}
	return b
}

// frame wraps an inner token in the GSS-API framing of RFC 2743 3.1 with the Kerberos
// OID and a two-byte token ID (RFC 1964 1.1 / RFC 4121 4.1).
func frame(tokID uint16, inner []byte) []byte {
	n := len(oidKrb5DER) + 2 + len(inner)
	out := make([]byte, 0, n+6)
	out = append(out, 0x60)
	out = appendDERLen(out, n)
	out = append(out, oidKrb5DER...)
	out = binary.BigEndian.AppendUint16(out, tokID)
	return append(out, inner...)
}

func appendDERLen(b []byte, n int) []byte {
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

// ParseFrame parses a framed Kerberos context token: it checks the outer tag, the
// length, the mechanism OID (the real one or Windows' 1.2.840.48018.1.2.2) and returns
// the token ID and the inner token. Failures wrap ErrInvalidToken.
func ParseFrame(b []byte) (tokID uint16, inner []byte, err error) {
	bad := func(what string) (uint16, []byte, error) {
		return 0, nil, sspi.Errorf(sspi.ErrInvalidToken, "GSS framing: %s", what)
	}
	if len(b) < 2 || b[0] != 0x60 {
		return bad("not an InitialContextToken")
	}
	n, rest := 0, b[2:]
	switch l := b[1]; {
	case l < 0x80:
		n = int(l)
	case l >= 0x81 && l <= 0x84:
		k := int(l - 0x80)
		if len(rest) < k {
			return bad("truncated length")
		}
		for _, c := range rest[:k] {
			n = n<<8 | int(c)
		}
		if n < 0x80 || (k > 1 && rest[0] == 0) {
			return bad("non-minimal length")
		}
		rest = rest[k:]
	default:
		return bad("bad length")
	}
	if n != len(rest) {
		return bad("length does not match the token")
	}
	if len(rest) < 2 || rest[0] != 0x06 || rest[1] >= 0x80 || len(rest) < 2+int(rest[1])+2 {
		return bad("no mechanism OID")
	}
	var oid asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(rest[:2+int(rest[1])], &oid); err != nil {
		return bad("bad mechanism OID")
	}
	if !oid.Equal(OID) && !oid.Equal(oidMS) {
		return 0, nil, sspi.Errorf(sspi.ErrInvalidToken, "GSS framing: mechanism %v is not Kerberos", oid)
	}
	rest = rest[2+int(rest[1]):]
	return binary.BigEndian.Uint16(rest), rest[2:], nil
}

// session is the RFC 4121 message protection state of an established context.
type session struct {
	et             etype.EType
	key            []byte
	cksumLen       int
	initiator      bool
	acceptorSubkey bool
	conf           bool
	replay, seq    bool

	mu       sync.Mutex
	sendSeq  uint64
	recvNext uint64
	window   uint64 // bit i: recvNext-1-i was seen (replay-only detection)
}

func (s *session) sendFlags() byte {
	var f byte
	if !s.initiator {
		f |= flagSentByAcceptor
	}
	if s.acceptorSubkey {
		f |= flagAcceptorSubkey
	}
	return f
}

func (s *session) usages() (sendSign, sendSeal, recvSign, recvSeal uint32) {
	if s.initiator {
		return usageInitiatorSign, usageInitiatorSeal, usageAcceptorSign, usageAcceptorSeal
	}
	return usageAcceptorSign, usageAcceptorSeal, usageInitiatorSign, usageInitiatorSeal
}

func (s *session) nextSend() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.sendSeq
	s.sendSeq++
	return n
}

// checkSeq applies replay and sequence detection to a verified token's number.
func (s *session) checkSeq(n uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case n == s.recvNext:
		s.window = s.window<<1 | 1
		s.recvNext++
		return nil
	case n > s.recvNext:
		if s.seq {
			return sspi.Errorf(sspi.ErrOutOfSequence, "message %d arrived before message %d (gap)", n, s.recvNext)
		}
		gap := n - s.recvNext
		if gap >= 64 {
			s.window = 1
		} else {
			s.window = (s.window<<1|0)<<(gap) | 1
		}
		s.recvNext = n + 1
		return nil
	}
	back := s.recvNext - 1 - n
	if s.seq || !s.replay {
		if s.replay {
			return sspi.Errorf(sspi.ErrOutOfSequence, "message %d is old or replayed (expected %d)", n, s.recvNext)
		}
		return nil
	}
	if back >= 64 || s.window&(1<<back) != 0 {
		return sspi.Errorf(sspi.ErrOutOfSequence, "message %d is replayed", n)
	}
	s.window |= 1 << back
	return nil
}

// header builds a per-message token header.
func header(tokID uint16, flags byte, ec, rrc uint16, seq uint64) []byte {
	h := make([]byte, 16)
	binary.BigEndian.PutUint16(h, tokID)
	h[2] = flags
	if tokID == tokMIC {
		copy(h[3:8], []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
	} else {
		h[3] = 0xFF
		binary.BigEndian.PutUint16(h[4:], ec)
		binary.BigEndian.PutUint16(h[6:], rrc)
	}
	binary.BigEndian.PutUint64(h[8:], seq)
	return h
}

// PerMessageHeader is a parsed RFC 4121 MIC or wrap token header.
type PerMessageHeader struct {
	TokID uint16
	Flags byte
	EC    uint16
	RRC   uint16
	Seq   uint64
}

// ParsePerMessage parses the 16-byte header of a MIC (04 04) or wrap (05 04) token and
// returns it with the rest of the token. Failures wrap ErrInvalidToken.
func ParsePerMessage(tok []byte) (PerMessageHeader, []byte, error) {
	var h PerMessageHeader
	if len(tok) < 16 {
		return h, nil, sspi.Errorf(sspi.ErrInvalidToken, "per-message token of %d bytes is shorter than its header", len(tok))
	}
	h.TokID = binary.BigEndian.Uint16(tok)
	h.Flags = tok[2]
	h.Seq = binary.BigEndian.Uint64(tok[8:])
	if h.Flags&^(flagSentByAcceptor|flagSealed|flagAcceptorSubkey) != 0 {
		return h, nil, sspi.Errorf(sspi.ErrInvalidToken, "unknown token flags 0x%02x", h.Flags)
	}
	switch h.TokID {
	case tokMIC:
		for _, c := range tok[3:8] {
			if c != 0xFF {
				return h, nil, sspi.Errorf(sspi.ErrInvalidToken, "MIC token filler is not FF")
			}
		}
		if h.Flags&flagSealed != 0 {
			return h, nil, sspi.Errorf(sspi.ErrInvalidToken, "MIC token with the Sealed flag")
		}
	case tokWrap:
		if tok[3] != 0xFF {
			return h, nil, sspi.Errorf(sspi.ErrInvalidToken, "wrap token filler is not FF")
		}
		h.EC = binary.BigEndian.Uint16(tok[4:])
		h.RRC = binary.BigEndian.Uint16(tok[6:])
	default:
		return h, nil, sspi.Errorf(sspi.ErrInvalidToken, "token ID %04x is neither MIC nor wrap", h.TokID)
	}
	return h, tok[16:], nil
}

// checkDirection refuses tokens we sent ourselves (reflection) and tokens made with a
// key other than the one the context uses.
func (s *session) checkDirection(h PerMessageHeader) error {
	fromAcceptor := h.Flags&flagSentByAcceptor != 0
	if fromAcceptor != s.initiator {
		return sspi.Errorf(sspi.ErrMessageAltered, "token has the wrong direction (reflected)")
	}
	if (h.Flags&flagAcceptorSubkey != 0) != s.acceptorSubkey {
		return sspi.Errorf(sspi.ErrMessageAltered, "token's AcceptorSubkey flag does not match the context")
	}
	return nil
}

func (s *session) mic(msg []byte) ([]byte, error) {
	sign, _, _, _ := s.usages()
	h := header(tokMIC, s.sendFlags(), 0, 0, s.nextSend())
	buf := make([]byte, 0, len(msg)+16)
	buf = append(append(buf, msg...), h...)
	ck, err := s.et.GetChecksumHash(s.key, buf, sign)
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrInternal, "checksum: %v", err)
	}
	return append(h, ck...), nil
}

func (s *session) verifyMIC(msg, tok []byte) error {
	h, ck, err := ParsePerMessage(tok)
	if err != nil {
		return err
	}
	if h.TokID != tokMIC {
		return sspi.Errorf(sspi.ErrInvalidToken, "not a MIC token")
	}
	if err := s.checkDirection(h); err != nil {
		return err
	}
	if len(ck) != s.cksumLen {
		return sspi.Errorf(sspi.ErrInvalidToken, "MIC checksum of %d bytes, want %d", len(ck), s.cksumLen)
	}
	_, _, sign, _ := s.usages()
	buf := make([]byte, 0, len(msg)+16)
	buf = append(append(buf, msg...), tok[:16]...)
	want, err := s.et.GetChecksumHash(s.key, buf, sign)
	if err != nil {
		return sspi.Errorf(sspi.ErrInternal, "checksum: %v", err)
	}
	if subtle.ConstantTimeCompare(want, ck) != 1 {
		return sspi.Errorf(sspi.ErrMessageAltered, "the MIC does not verify")
	}
	return s.checkSeq(h.Seq)
}

func (s *session) wrap(msg []byte, conf bool) ([]byte, error) {
	// Wrap tokens use the SEAL key usages, sealed or not (RFC 4121 2).
	_, sealU, _, _ := s.usages()
	seq := s.nextSend()
	if conf {
		h := header(tokWrap, s.sendFlags()|flagSealed, 0, 0, seq)
		pt := make([]byte, 0, len(msg)+16)
		pt = append(append(pt, msg...), h...)
		_, ct, err := s.et.EncryptMessage(s.key, pt, sealU)
		if err != nil {
			return nil, sspi.Errorf(sspi.ErrEncryptFailure, "encrypt: %v", err)
		}
		return append(h, ct...), nil
	}
	h := header(tokWrap, s.sendFlags(), 0, 0, seq)
	buf := make([]byte, 0, len(msg)+16)
	buf = append(append(buf, msg...), h...)
	ck, err := s.et.GetChecksumHash(s.key, buf, sealU)
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrInternal, "checksum: %v", err)
	}
	binary.BigEndian.PutUint16(h[4:], uint16(len(ck)))
	out := make([]byte, 0, 16+len(msg)+len(ck))
	return append(append(append(out, h...), msg...), ck...), nil
}

// unwrap opens a wrap token; it reports whether it was sealed.
func (s *session) unwrap(tok []byte) ([]byte, bool, error) {
	h, body, err := ParsePerMessage(tok)
	if err != nil {
		return nil, false, err
	}
	if h.TokID != tokWrap {
		return nil, false, sspi.Errorf(sspi.ErrInvalidToken, "not a wrap token")
	}
	if err := s.checkDirection(h); err != nil {
		return nil, false, err
	}
	// Undo the right rotation by RRC (RFC 4121 4.2.5); Windows sends RRC 28 or so.
	if len(body) > 0 && h.RRC != 0 {
		r := int(h.RRC) % len(body)
		rot := make([]byte, len(body))
		copy(rot, body[r:])
		copy(rot[len(body)-r:], body[:r])
		body = rot
	}
	_, _, _, sealU := s.usages()
	var msg []byte
	sealed := h.Flags&flagSealed != 0
	if sealed {
		minLen := s.et.GetConfounderByteSize() + s.cksumLen + 16 + int(h.EC)
		if len(body) < minLen {
			return nil, true, sspi.Errorf(sspi.ErrInvalidToken, "sealed wrap token of %d bytes is too short", len(tok))
		}
		pt, err := s.et.DecryptMessage(s.key, body, sealU)
		if err != nil {
			return nil, true, sspi.Errorf(sspi.ErrMessageAltered, "the wrap token does not decrypt: %v", err)
		}
		if len(pt) < 16+int(h.EC) {
			return nil, true, sspi.Errorf(sspi.ErrMessageAltered, "sealed wrap token too short")
		}
		inner := pt[len(pt)-16:]
		want := header(tokWrap, h.Flags, h.EC, 0, h.Seq)
		if subtle.ConstantTimeCompare(inner, want) != 1 {
			return nil, true, sspi.Errorf(sspi.ErrMessageAltered, "the encrypted header copy does not match the header")
		}
		msg = pt[:len(pt)-16-int(h.EC)]
	} else {
		if int(h.EC) != s.cksumLen || len(body) < s.cksumLen {
			return nil, false, sspi.Errorf(sspi.ErrInvalidToken, "unsealed wrap token: checksum of %d bytes, want %d", h.EC, s.cksumLen)
		}
		data, ck := body[:len(body)-s.cksumLen], body[len(body)-s.cksumLen:]
		buf := make([]byte, 0, len(data)+16)
		buf = append(append(buf, data...), header(tokWrap, h.Flags, 0, 0, h.Seq)...)
		want, err := s.et.GetChecksumHash(s.key, buf, sealU)
		if err != nil {
			return nil, false, sspi.Errorf(sspi.ErrInternal, "checksum: %v", err)
		}
		if subtle.ConstantTimeCompare(want, ck) != 1 {
			return nil, false, sspi.Errorf(sspi.ErrMessageAltered, "the wrap token's checksum does not verify")
		}
		msg = append([]byte(nil), data...)
	}
	if err := s.checkSeq(h.Seq); err != nil {
		return nil, sealed, err
	}
	return msg, sealed, nil
}

func (s *session) wipe() {
	clear(s.key)
}
