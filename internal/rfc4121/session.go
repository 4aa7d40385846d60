package rfc4121

import (
	"crypto/subtle"
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gossp/gossp/sspi"
)

// Options are a session's per-message choices.
type Options struct {
	// ReplayDetect refuses a token whose sequence number was already seen (within a
	// 64-message window when SequenceDetect is off).
	ReplayDetect bool
	// SequenceDetect refuses tokens that arrive out of order (a gap or an old number).
	SequenceDetect bool
	// Confidentiality makes EncryptMessage seal; without it EncryptMessage produces
	// integrity-only wrap tokens.
	Confidentiality bool
}

// Session is the RFC 4121 message protection state of an established context: one key
// (the acceptor subkey, else the initiator subkey, else the ticket session key), the
// direction, and the two sequence number streams. Its methods are safe for concurrent
// use; the receive stream's checks are applied in the order tokens are verified.
type Session struct {
	eng            engine
	key            []byte
	initiator      bool
	acceptorSubkey bool
	opts           Options
	flags          byte // the flags of the tokens we send, before Sealed

	sendSign, sendSeal, recvSign, recvSeal uint32

	life   sync.RWMutex // held for reading by every operation, for writing by Close
	closed bool

	sendSeq atomic.Uint64

	mu       sync.Mutex
	recvNext uint64
	window   uint64 // bit i: recvNext-1-i was seen (replay-only detection)
}

// NewSession returns the message protection state for key. initiator says which side
// this is; acceptorSubkey says key is the acceptor's subkey from the AP-REP, which sets
// the AcceptorSubkey flag both ways (PKU2U always uses it). sendSeq is the first
// sequence number we send, recvSeq the first we expect. The key is copied. An enctype the
// session cannot protect with fails with sspi.ErrKDCUnknownEtype.
func NewSession(key types.EncryptionKey, initiator, acceptorSubkey bool, sendSeq, recvSeq uint64, opts Options) (*Session, error) {
	eng, err := newEngine(key)
	if err != nil {
		return nil, err
	}
	return newSession(eng, key, initiator, acceptorSubkey, sendSeq, recvSeq, opts), nil
}

func newSession(eng engine, key types.EncryptionKey, initiator, acceptorSubkey bool, sendSeq, recvSeq uint64, opts Options) *Session {
	s := &Session{
		eng: eng, key: append([]byte(nil), key.KeyValue...),
		initiator: initiator, acceptorSubkey: acceptorSubkey, opts: opts,
		recvNext: recvSeq,
	}
	s.sendSeq.Store(sendSeq)
	if !initiator {
		s.flags |= FlagSentByAcceptor
	}
	if acceptorSubkey {
		s.flags |= FlagAcceptorSubkey
	}
	if initiator {
		s.sendSign, s.sendSeal, s.recvSign, s.recvSeal = KeyUsageInitiatorSign, KeyUsageInitiatorSeal, KeyUsageAcceptorSign, KeyUsageAcceptorSeal
	} else {
		s.sendSign, s.sendSeal, s.recvSign, s.recvSeal = KeyUsageAcceptorSign, KeyUsageAcceptorSeal, KeyUsageInitiatorSign, KeyUsageInitiatorSeal
	}
	return s
}

// EncType returns the enctype of the session key.
func (s *Session) EncType() int32 { return s.eng.etype() }

// SessionKey returns a copy of the key protecting messages.
func (s *Session) SessionKey() []byte {
	s.life.RLock()
	defer s.life.RUnlock()
	return append([]byte(nil), s.key...)
}

// MaxSignature is the size of a MIC token: its header and checksum.
func (s *Session) MaxSignature() int { return HeaderLen + s.eng.cksumSize() }

// SecurityTrailer is what a sealed wrap token adds to the message: header, confounder,
// the encrypted header copy and the integrity tag.
func (s *Session) SecurityTrailer() int {
	return HeaderLen + s.eng.confSize() + HeaderLen + s.eng.tagSize()
}

// Close wipes the key material the session holds; every later call fails with
// sspi.ErrInvalidHandle. (The AES key schedules inside crypto/aes cannot be wiped; they
// become unreachable.)
func (s *Session) Close() {
	s.life.Lock()
	defer s.life.Unlock()
	if !s.closed {
		s.closed = true
		clear(s.key)
		s.eng.wipe()
	}
}

func (s *Session) enter() error {
	s.life.RLock()
	if s.closed {
		s.life.RUnlock()
		return sspi.Errorf(sspi.ErrInvalidHandle, "the message protection state is closed")
	}
	return nil
}

func (s *Session) leave() { s.life.RUnlock() }

func (s *Session) nextSend() uint64 { return s.sendSeq.Add(1) - 1 }

// checkSeq applies replay and sequence detection to a verified token's number.
func (s *Session) checkSeq(n uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case n == s.recvNext:
		s.window = s.window<<1 | 1
		s.recvNext++
		return nil
	case n > s.recvNext:
		if s.opts.SequenceDetect {
			return sspi.Errorf(sspi.ErrOutOfSequence, "message %d arrived before message %d (gap)", n, s.recvNext)
		}
		if gap := n - s.recvNext; gap >= 63 {
			s.window = 1
		} else {
			s.window = s.window<<(gap+1) | 1
		}
		s.recvNext = n + 1
		return nil
	}
	back := s.recvNext - 1 - n
	if s.opts.SequenceDetect || !s.opts.ReplayDetect {
		if s.opts.ReplayDetect {
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

// checkDirection refuses tokens we sent ourselves (reflection) and tokens made with a
// key other than the one the session uses.
func (s *Session) checkDirection(h Header) error {
	if (h.Flags&FlagSentByAcceptor != 0) != s.initiator {
		return sspi.Errorf(sspi.ErrMessageAltered, "token has the wrong direction (reflected)")
	}
	if (h.Flags&FlagAcceptorSubkey != 0) != s.acceptorSubkey {
		return sspi.Errorf(sspi.ErrMessageAltered, "token's AcceptorSubkey flag does not match the context")
	}
	return nil
}

// MakeSignature returns a MIC token (gss_get_mic) for msg.
func (s *Session) MakeSignature(msg []byte) ([]byte, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	out := make([]byte, 0, HeaderLen+s.eng.cksumSize())
	out = appendHeader(out, TokMIC, s.flags, 0, 0, s.nextSend())
	out, err := s.eng.checksum(out, s.sendSign, msg, out[:HeaderLen])
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrInternal, "MIC checksum: %w", err)
	}
	return out, nil
}

// VerifySignature checks a MIC token (gss_verify_mic) over msg, then its sequence
// number. A wrong checksum wraps sspi.ErrMessageAltered, a replayed or out-of-order one
// sspi.ErrOutOfSequence, a malformed token sspi.ErrInvalidToken.
func (s *Session) VerifySignature(msg, tok []byte) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	h, ck, err := ParsePerMessage(tok)
	if err != nil {
		return err
	}
	if h.TokID != TokMIC {
		return sspi.Errorf(sspi.ErrInvalidToken, "not a MIC token")
	}
	if err := s.checkDirection(h); err != nil {
		return err
	}
	if n := s.eng.cksumSize(); len(ck) != n {
		return sspi.Errorf(sspi.ErrInvalidToken, "MIC checksum of %d bytes, want %d", len(ck), n)
	}
	ok, err := s.eng.verify(s.recvSign, msg, tok[:HeaderLen], ck)
	if err != nil {
		return sspi.Errorf(sspi.ErrInternal, "MIC checksum: %w", err)
	}
	if !ok {
		return sspi.Errorf(sspi.ErrMessageAltered, "the MIC does not verify")
	}
	return s.checkSeq(h.Seq)
}

// EncryptMessage is Wrap with the session's Confidentiality choice.
func (s *Session) EncryptMessage(msg []byte) ([]byte, error) {
	return s.Wrap(msg, s.opts.Confidentiality)
}

// DecryptMessage is Unwrap without the sealed report.
func (s *Session) DecryptMessage(tok []byte) ([]byte, error) {
	msg, _, err := s.Unwrap(tok)
	return msg, err
}

// Wrap returns a wrap token (gss_wrap) for msg, sealed when conf is true, else with a
// checksum only. Tokens are sent with EC 0 (sealed) and RRC 0.
func (s *Session) Wrap(msg []byte, conf bool) ([]byte, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	// Wrap tokens use the SEAL key usages, sealed or not (RFC 4121 2).
	seq := s.nextSend()
	if conf {
		out := make([]byte, 0, HeaderLen+s.eng.confSize()+len(msg)+HeaderLen+s.eng.tagSize())
		out = appendHeader(out, TokWrap, s.flags|FlagSealed, 0, 0, seq)
		out, err := s.eng.encrypt(out, s.sendSeal, msg, out[:HeaderLen])
		if err != nil {
			return nil, sspi.Errorf(sspi.ErrEncryptFailure, "encrypt: %w", err)
		}
		return out, nil
	}
	ck := s.eng.cksumSize()
	out := make([]byte, 0, HeaderLen+len(msg)+ck)
	out = appendHeader(out, TokWrap, s.flags, 0, 0, seq)
	out = append(out, msg...)
	// The checksum covers the message then the header with EC and RRC zero (4.2.4).
	out, err := s.eng.checksum(out, s.sendSeal, msg, out[:HeaderLen])
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrInternal, "checksum: %w", err)
	}
	binary.BigEndian.PutUint16(out[4:], uint16(ck))
	return out, nil
}

// Unwrap opens a wrap token (gss_unwrap), sealed or not, with any RRC and EC; it
// reports whether it was sealed. The returned message does not alias tok.
func (s *Session) Unwrap(tok []byte) ([]byte, bool, error) {
	if err := s.enter(); err != nil {
		return nil, false, err
	}
	defer s.leave()
	h, body, err := ParsePerMessage(tok)
	if err != nil {
		return nil, false, err
	}
	if h.TokID != TokWrap {
		return nil, false, sspi.Errorf(sspi.ErrInvalidToken, "not a wrap token")
	}
	if err := s.checkDirection(h); err != nil {
		return nil, false, err
	}
	sealed := h.Flags&FlagSealed != 0
	var msg []byte
	if sealed {
		msg, err = s.openSealed(h, body)
	} else {
		msg, err = s.openSigned(h, body)
	}
	if err != nil {
		return nil, sealed, err
	}
	if err := s.checkSeq(h.Seq); err != nil {
		return nil, sealed, err
	}
	return msg, sealed, nil
}

// derotate undoes the right rotation by RRC (RFC 4121 4.2.5) into a new buffer, or
// returns nil when there is nothing to undo. Windows sends RRC 28 or so.
func derotate(body []byte, rrc uint16) []byte {
	if len(body) == 0 || rrc == 0 {
		return nil
	}
	r := int(rrc) % len(body)
	rot := make([]byte, len(body))
	copy(rot, body[r:])
	copy(rot[len(body)-r:], body[:r])
	return rot
}

func (s *Session) openSealed(h Header, body []byte) ([]byte, error) {
	tag := s.eng.tagSize()
	if len(body) < s.eng.confSize()+int(h.EC)+HeaderLen+tag {
		return nil, sspi.Errorf(sspi.ErrInvalidToken, "sealed wrap token of %d bytes is too short", HeaderLen+len(body))
	}
	var buf []byte
	if rot := derotate(body, h.RRC); rot != nil {
		body, buf = rot, rot[:len(rot)-tag]
	} else {
		buf = make([]byte, len(body)-tag)
	}
	pt, err := s.eng.decrypt(buf, s.recvSeal, body)
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrMessageAltered, "the wrap token does not decrypt: %w", err)
	}
	if len(pt) < HeaderLen+int(h.EC) {
		return nil, sspi.Errorf(sspi.ErrMessageAltered, "sealed wrap token too short")
	}
	// The encrypted copy of the header has RRC 0 and the same EC (4.2.4).
	want := header(TokWrap, h.Flags, h.EC, 0, h.Seq)
	if subtle.ConstantTimeCompare(pt[len(pt)-HeaderLen:], want[:]) != 1 {
		return nil, sspi.Errorf(sspi.ErrMessageAltered, "the encrypted header copy does not match the header")
	}
	n := len(pt) - HeaderLen - int(h.EC)
	return pt[:n:n], nil
}

func (s *Session) openSigned(h Header, body []byte) ([]byte, error) {
	ck := s.eng.cksumSize()
	if int(h.EC) != ck || len(body) < ck {
		return nil, sspi.Errorf(sspi.ErrInvalidToken, "unsealed wrap token: checksum of %d bytes, want %d", h.EC, ck)
	}
	if rot := derotate(body, h.RRC); rot != nil {
		body = rot
	}
	data, got := body[:len(body)-ck], body[len(body)-ck:]
	hdr := header(TokWrap, h.Flags, 0, 0, h.Seq)
	ok, err := s.eng.verify(s.recvSeal, data, hdr[:], got)
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrInternal, "checksum: %w", err)
	}
	if !ok {
		return nil, sspi.Errorf(sspi.ErrMessageAltered, "the wrap token's checksum does not verify")
	}
	return append([]byte(nil), data...), nil
}
