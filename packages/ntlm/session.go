package ntlm

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"crypto/subtle"
	"encoding/binary"
	"hash"
	"sync"

	"github.com/gossp/gossp/sspi"
)

// signatureLen is the size of NTLMSSP_MESSAGE_SIGNATURE.
const signatureLen = 16

// sealState is one direction's message protection state (MS-NLMP 3.4): the RC4 handle,
// the signing key and the sequence number. The RC4 handle and the keyed HMAC are set up
// on first use: many contexts (HTTP authentication) never protect a message, and the
// setup is a third of a handshake's allocations.
type sealState struct {
	flags    NegotiateFlags
	exported []byte // the session key the direction's keys derive from
	client   bool   // the client-to-server direction
	signKey  []byte
	sealKey  []byte
	ready    bool
	handle   rc4.Cipher
	seq      uint32
	mac      hash.Hash // HMAC-MD5 under signKey, kept across messages
}

func newSealState(flags NegotiateFlags, exported []byte, client bool) *sealState {
	return &sealState{flags: flags, exported: exported, client: client}
}

// setup derives the keys and keys the RC4 handle and the HMAC, once.
func (s *sealState) setup() {
	if s.ready {
		return
	}
	if s.sealKey == nil {
		s.signKey = signKey(s.flags, s.exported, s.client)
		s.sealKey = sealKey(s.flags, s.exported, s.client)
	}
	c, err := rc4.NewCipher(s.sealKey)
	if err != nil {
		panic("ntlm: sealing key of the wrong size") // SEALKEY is 8 or 16 bytes
	}
	s.handle = *c
	if s.signKey != nil && s.mac == nil {
		s.mac = hmac.New(md5.New, s.signKey)
	}
	s.ready = true
}

// reset rekeys the RC4 handle from the sealing key, keeping the sequence number, as
// SPNEGO requires after the mechListMIC.
func (s *sealState) reset() { s.ready = false }

// session is an established context's message protection: two directions with
// extended session security, one shared state without it (MS-NLMP 3.4.4.1 uses one RC4
// handle and one counter for both directions).
type session struct {
	flags NegotiateFlags
	wiped bool // set by wipe under both locks; protection calls then fail

	sendMu sync.Mutex
	send   *sealState
	recvMu sync.Mutex
	recv   *sealState
}

func newSession(flags NegotiateFlags, exportedKey []byte, client bool) *session {
	s := &session{flags: flags}
	if flags.Has(FlagExtendedSessionSecurity) {
		s.send = newSealState(flags, exportedKey, client)
		s.recv = newSealState(flags, exportedKey, !client)
	} else {
		s.send = newSealState(flags, exportedKey, client)
		s.recv = s.send
	}
	return s
}

// lock takes the sending state; without extended session security both directions
// share one state and one lock.
func (s *session) lockSend() *sealState {
	s.sendMu.Lock()
	return s.send
}

func (s *session) unlockSend() { s.sendMu.Unlock() }

func (s *session) lockRecv() *sealState {
	if s.recv == s.send {
		s.sendMu.Lock()
	} else {
		s.recvMu.Lock()
	}
	return s.recv
}

func (s *session) unlockRecv() {
	if s.recv == s.send {
		s.sendMu.Unlock()
	} else {
		s.recvMu.Unlock()
	}
}

// appendMAC computes the signature over msg with st's next sequence number, advancing
// the RC4 handle, and appends it to dst (MS-NLMP 3.4.4).
func (s *session) appendMAC(dst []byte, st *sealState, seq uint32, msg []byte) []byte {
	st.setup()
	var sig [signatureLen]byte
	binary.LittleEndian.PutUint32(sig[0:], 1)
	if s.flags.Has(FlagExtendedSessionSecurity) {
		var seqb [4]byte
		binary.LittleEndian.PutUint32(seqb[:], seq)
		st.mac.Reset()
		st.mac.Write(seqb[:])
		st.mac.Write(msg)
		var sum [md5.Size]byte
		st.mac.Sum(sum[:0])
		copy(sig[4:12], sum[:8])
		if s.flags.Has(FlagKeyExch) {
			st.handle.XORKeyStream(sig[4:12], sig[4:12])
		}
		copy(sig[12:16], seqb[:])
		return append(dst, sig[:]...)
	}
	// Without extended session security: RandomPad, CRC32 and the sequence number all
	// pass through RC4; the RandomPad is then sent as zero, as implementations do.
	binary.LittleEndian.PutUint32(sig[8:], crc32Sum(msg))
	st.handle.XORKeyStream(sig[4:16], sig[4:16])
	binary.LittleEndian.PutUint32(sig[12:], binary.LittleEndian.Uint32(sig[12:])^seq)
	clear(sig[4:8])
	return append(dst, sig[:]...)
}

var errWiped = sspi.Errorf(sspi.ErrInvalidHandle, "context closed")

// sign returns the signature of msg and advances the outbound sequence.
func (s *session) sign(msg []byte) ([]byte, error) {
	st := s.lockSend()
	defer s.unlockSend()
	if s.wiped {
		return nil, errWiped
	}
	sig := s.appendMAC(make([]byte, 0, signatureLen), st, st.seq, msg)
	st.seq++
	return sig, nil
}

// seal encrypts msg and returns signature || ciphertext, the GSS wrap token layout
// gss-ntlmssp and Windows (SECBUFFER_TOKEN then SECBUFFER_DATA) use.
func (s *session) seal(msg []byte) ([]byte, error) {
	st := s.lockSend()
	defer s.unlockSend()
	if s.wiped {
		return nil, errWiped
	}
	out := make([]byte, signatureLen+len(msg))
	st.setup()
	st.handle.XORKeyStream(out[signatureLen:], msg)
	s.appendMAC(out[:0], st, st.seq, msg)
	st.seq++
	return out, nil
}

// verify checks sig over msg against the next inbound sequence number. A failed check
// leaves the state as it was, so one forged message does not desynchronise the context.
func (s *session) verify(msg, sig []byte) error {
	if len(sig) != signatureLen {
		return sspi.Errorf(sspi.ErrInvalidToken, "signature of %d bytes, want %d", len(sig), signatureLen)
	}
	st := s.lockRecv()
	defer s.unlockRecv()
	if s.wiped {
		return errWiped
	}
	st.setup()
	saved := st.handle
	if err := s.check(st, msg, sig); err != nil {
		st.handle = saved
		return err
	}
	st.seq++
	return nil
}

func (s *session) check(st *sealState, msg, sig []byte) error {
	if binary.LittleEndian.Uint32(sig) != 1 {
		return sspi.Errorf(sspi.ErrMessageAltered, "signature version %d", binary.LittleEndian.Uint32(sig))
	}
	if s.flags.Has(FlagExtendedSessionSecurity) {
		if got := binary.LittleEndian.Uint32(sig[12:]); got != st.seq {
			return sspi.Errorf(sspi.ErrOutOfSequence, "sequence number %d, expected %d", got, st.seq)
		}
	}
	var want [signatureLen]byte
	s.appendMAC(want[:0], st, st.seq, msg)
	from := 4
	if !s.flags.Has(FlagExtendedSessionSecurity) {
		from = 8 // the RandomPad is sent zero by some and encrypted by others
	}
	if subtle.ConstantTimeCompare(want[from:], sig[from:]) != 1 {
		return sspi.Errorf(sspi.ErrMessageAltered, "signature does not match")
	}
	return nil
}

// unseal checks and decrypts a signature || ciphertext token.
func (s *session) unseal(token []byte) ([]byte, error) {
	if len(token) < signatureLen {
		return nil, sspi.Errorf(sspi.ErrInvalidToken, "sealed message of %d bytes is shorter than its %d-byte signature", len(token), signatureLen)
	}
	st := s.lockRecv()
	defer s.unlockRecv()
	if s.wiped {
		return nil, errWiped
	}
	st.setup()
	saved := st.handle
	msg := make([]byte, len(token)-signatureLen)
	st.handle.XORKeyStream(msg, token[signatureLen:])
	if err := s.check(st, msg, token[:signatureLen]); err != nil {
		st.handle = saved
		return nil, err
	}
	st.seq++
	return msg, nil
}

// resetCipher rekeys both RC4 handles, keeping sequence numbers (MS-SPNG 3.3.5.1 after
// the mechListMIC).
func (s *session) resetCipher() {
	s.sendMu.Lock()
	s.recvMu.Lock()
	defer s.sendMu.Unlock()
	defer s.recvMu.Unlock()
	if s.wiped {
		return
	}
	s.send.reset()
	if s.recv != s.send {
		s.recv.reset()
	}
}

// wipe clears the keys; later protection calls fail.
func (s *session) wipe() {
	s.sendMu.Lock()
	s.recvMu.Lock()
	defer s.sendMu.Unlock()
	defer s.recvMu.Unlock()
	s.wiped = true
	for _, st := range []*sealState{s.send, s.recv} {
		if st == nil {
			continue
		}
		clear(st.signKey)
		clear(st.sealKey)
		clear(st.exported)
		st.handle.Reset()
		st.mac = nil
	}
}
