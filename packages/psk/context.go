package psk

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"sync"

	"github.com/gossp/gossp/negoex"
	"github.com/gossp/gossp/sspi"
)

// Flags PSK can grant. Integrity, replay and sequence detection and mutual
// authentication are always on; confidentiality when either side asks for it.
const (
	alwaysGranted = sspi.FlagMutualAuth | sspi.FlagIntegrity | sspi.FlagReplayDetect |
		sspi.FlagSequenceDetect | sspi.FlagConnection
	optionalGranted = sspi.FlagConfidentiality
)

type phase int

const (
	phaseStart phase = iota
	phaseWaitChallenge
	phaseWaitAuthenticate
	phaseDone
	phaseFailed
)

// ctxState is what both sides share: handshake progress, keys and sequence counters.
type ctxState struct {
	cred      *credential
	cfg       sspi.ContextConfig
	initiator bool

	mu         sync.RWMutex // guards everything below except recvMu's fields
	phase      phase
	closed     bool
	key        []byte // the pre-shared key, until the handshake ends
	identity   string
	transcript []byte // messages so far, for the proofs
	flags      sspi.ContextFlags
	authKey    []byte
	sessionKey []byte
	// verifyKeys key NegoEx's VERIFY messages, one per direction: [0] the initiator's,
	// [1] the acceptor's.
	verifyKeys [2][]byte
	send, recv cipher.AEAD
	sendSeq    uint64

	recvMu  sync.Mutex // serialises receivers so sequence checks see one order
	recvSeq uint64
}

func (s *ctxState) init(c *credential, cfg sspi.ContextConfig, initiator bool) {
	s.cred, s.cfg, s.initiator = c, cfg, initiator
	if initiator {
		s.identity = c.client.Identity
		s.key = append([]byte(nil), c.client.Key...)
	}
}

// fail marks the handshake failed, wipes secrets and returns err annotated.
func (s *ctxState) fail(op string, err error) ([]byte, sspi.Status, error) {
	s.phase = phaseFailed
	s.wipe()
	err = sspi.WithOp(err, Name, op)
	return nil, sspi.StatusOf(err), err
}

func (s *ctxState) wipe() {
	clear(s.key)
	clear(s.authKey)
	clear(s.sessionKey)
	clear(s.verifyKeys[0])
	clear(s.verifyKeys[1])
	s.key, s.authKey, s.sessionKey, s.transcript = nil, nil, nil, nil
	s.verifyKeys = [2][]byte{}
	s.send, s.recv = nil, nil
}

// deriveKeys expands the pre-shared key and both nonces into the context's keys.
func (s *ctxState) deriveKeys(clientNonce, serverNonce []byte) error {
	salt := append(append(make([]byte, 0, 2*nonceLen), clientNonce...), serverNonce...)
	prk, err := hkdf.Extract(sha256.New, s.key, salt)
	if err != nil {
		return sspi.Errorf(sspi.ErrInternal, "key derivation: %w", err)
	}
	defer clear(prk)
	expand := func(label string) []byte {
		k, err2 := hkdf.Expand(sha256.New, prk, "gossp psk v1 "+label, 32)
		if err2 != nil && err == nil {
			err = err2
		}
		return k
	}
	s.authKey = expand("auth")
	s.sessionKey = expand("session")
	s.verifyKeys = [2][]byte{expand("negoex initiator verify"), expand("negoex acceptor verify")}
	c2s, s2c := expand("initiator to acceptor"), expand("acceptor to initiator")
	defer clear(c2s)
	defer clear(s2c)
	if err != nil {
		return sspi.Errorf(sspi.ErrInternal, "key derivation: %w", err)
	}
	sendKey, recvKey := c2s, s2c
	if !s.initiator {
		sendKey, recvKey = s2c, c2s
	}
	if s.send, err = newGCM(sendKey); err != nil {
		return err
	}
	s.recv, err = newGCM(recvKey)
	return err
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrInternal, "AES: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrInternal, "GCM: %w", err)
	}
	return aead, nil
}

// proof is HMAC-SHA256(authKey, label || SHA-256(transcript)).
func (s *ctxState) proof(label string) [proofLen]byte {
	th := sha256.Sum256(s.transcript)
	m := hmac.New(sha256.New, s.authKey)
	m.Write([]byte(label))
	m.Write(th[:])
	var p [proofLen]byte
	m.Sum(p[:0])
	return p
}

func (s *ctxState) bindingsHash() [32]byte {
	if s.cfg.ChannelBindings == nil {
		return [32]byte{}
	}
	return sha256.Sum256(s.cfg.ChannelBindings.Marshal())
}

func grantFlags(requested sspi.ContextFlags) sspi.ContextFlags {
	return alwaysGranted | requested&optionalGranted
}

// initiator is the client side.
type initiator struct{ ctxState }

func (c *initiator) InitializeContext(ctx context.Context, input []byte) ([]byte, sspi.Status, error) {
	const op = "InitializeContext"
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, sspi.ErrInvalidHandle, sspi.WithOp(sspi.ErrInvalidHandle, Name, op)
	}
	switch c.phase {
	case phaseStart:
		if len(input) != 0 {
			return c.fail(op, sspi.Errorf(sspi.ErrInvalidToken, "unexpected input token on the first call"))
		}
		m := &negotiateMsg{flags: c.cfg.Flags.GSS(), identity: c.identity}
		if _, err := io.ReadFull(c.cred.pkg.rand, m.nonce[:]); err != nil {
			return c.fail(op, sspi.Errorf(sspi.ErrInternal, "random nonce: %w", err))
		}
		out := m.marshal()
		c.transcript = append(c.transcript, out...)
		c.phase = phaseWaitChallenge
		return out, sspi.StatusContinueNeeded, nil

	case phaseWaitChallenge:
		ch, err := parseChallenge(input)
		if err != nil {
			return c.fail(op, err)
		}
		clientNonce := c.transcript[10 : 10+nonceLen]
		if err := c.deriveKeys(clientNonce, ch.nonce[:]); err != nil {
			return c.fail(op, err)
		}
		c.transcript = append(c.transcript, input[:challengeLen-proofLen]...)
		want := c.proof("acceptor finished")
		if !hmac.Equal(want[:], ch.proof[:]) {
			// Either the acceptor does not know our key or someone altered the exchange.
			return c.fail(op, sspi.Errorf(sspi.ErrMutualAuthFailed, "acceptor's proof does not verify"))
		}
		c.transcript = append(c.transcript, ch.proof[:]...)
		c.flags = grantFlags(c.cfg.Flags) | sspi.FlagsFromGSS(ch.flags)&optionalGranted
		a := &authenticateMsg{bindings: c.bindingsHash()}
		unsigned := a.marshalUnsigned()
		c.transcript = append(c.transcript, unsigned...)
		a.proof = c.proof("initiator finished")
		out := append(unsigned, a.proof[:]...)
		c.finish()
		return out, sspi.StatusOK, nil
	}
	return c.finished(op)
}

// finished answers a handshake call after the handshake has ended. It leaves the
// context as it is: a stray or replayed token must not destroy an established context.
func (s *ctxState) finished(op string) ([]byte, sspi.Status, error) {
	err := sspi.WithOp(sspi.Errorf(sspi.ErrInvalidToken, "the handshake has already ended"), Name, op)
	return nil, sspi.StatusOf(err), err
}

// finish ends the handshake, keeping only what message protection needs.
func (s *ctxState) finish() {
	s.phase = phaseDone
	clear(s.key)
	clear(s.authKey)
	s.key, s.authKey, s.transcript = nil, nil, nil
}

// acceptor is the server side.
type acceptor struct{ ctxState }

func (c *acceptor) AcceptContext(ctx context.Context, input []byte) ([]byte, sspi.Status, error) {
	const op = "AcceptContext"
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, sspi.ErrInvalidHandle, sspi.WithOp(sspi.ErrInvalidHandle, Name, op)
	}
	switch c.phase {
	case phaseStart:
		neg, err := parseNegotiate(input)
		if err != nil {
			return c.fail(op, err)
		}
		key, err := c.cred.store.LookupKey(ctx, neg.identity)
		switch {
		case errors.Is(err, ErrUnknownIdentity):
			// Go on with a random key so an unknown identity looks, on the wire and in
			// timing, like a wrong key: the handshake fails at the proof either way.
			key = make([]byte, 32)
			if _, err := io.ReadFull(c.cred.pkg.rand, key); err != nil {
				return c.fail(op, sspi.Errorf(sspi.ErrInternal, "random key: %w", err))
			}
		case err != nil:
			return c.fail(op, sspi.Errorf(sspi.ErrNoAuthenticatingAuth, "key store: %w", err))
		case len(key) < MinKeyLen:
			return c.fail(op, sspi.Errorf(sspi.ErrNoAuthenticatingAuth, "key store returned a key shorter than %d bytes", MinKeyLen))
		}
		c.key = append([]byte(nil), key...)
		c.identity = neg.identity
		c.flags = grantFlags(c.cfg.Flags | sspi.FlagsFromGSS(neg.flags))
		ch := &challengeMsg{flags: c.flags.GSS()}
		if _, err := io.ReadFull(c.cred.pkg.rand, ch.nonce[:]); err != nil {
			return c.fail(op, sspi.Errorf(sspi.ErrInternal, "random nonce: %w", err))
		}
		if err := c.deriveKeys(neg.nonce[:], ch.nonce[:]); err != nil {
			return c.fail(op, err)
		}
		unsigned := ch.marshalUnsigned()
		c.transcript = append(append(c.transcript, input...), unsigned...)
		ch.proof = c.proof("acceptor finished")
		c.transcript = append(c.transcript, ch.proof[:]...)
		c.phase = phaseWaitAuthenticate
		return append(unsigned, ch.proof[:]...), sspi.StatusContinueNeeded, nil

	case phaseWaitAuthenticate:
		a, err := parseAuthenticate(input)
		if err != nil {
			return c.fail(op, err)
		}
		c.transcript = append(c.transcript, input[:authenticateLen-proofLen]...)
		want := c.proof("initiator finished")
		if !hmac.Equal(want[:], a.proof[:]) {
			c.cred.pkg.logger.DebugContext(ctx, "psk: initiator proof did not verify", "identity", c.identity)
			return c.fail(op, sspi.Errorf(sspi.ErrLogonDenied, "initiator's proof does not verify"))
		}
		if err := c.checkBindings(a.bindings); err != nil {
			return c.fail(op, err)
		}
		c.finish()
		return nil, sspi.StatusOK, nil
	}
	return c.finished(op)
}

func (c *acceptor) checkBindings(got [32]byte) error {
	var zero [32]byte
	want := c.bindingsHash()
	switch {
	case got == zero && c.cfg.ChannelBindings != nil && !c.cfg.AllowMissingBindings:
		return sspi.Errorf(sspi.ErrBadBindings, "initiator sent no channel bindings")
	case got == zero || c.cfg.ChannelBindings == nil:
		return nil
	case !hmac.Equal(got[:], want[:]):
		return sspi.Errorf(sspi.ErrBadBindings, "channel bindings do not match")
	}
	return nil
}

// Attributes implements sspi.SecurityContext.
func (s *ctxState) Attributes() sspi.ContextAttributes {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := sspi.ContextAttributes{
		Package:     s.cred.pkg.Info(),
		Path:        []string{Name},
		Initiator:   s.initiator,
		Established: s.phase == phaseDone,
		Flags:       s.flags,
		ClientName:  s.identity,
		Sizes: sspi.Sizes{
			MaxToken: MaxToken, MaxSignature: signatureLen, BlockSize: 1,
			SecurityTrailer: protHeaderLen + tagLen,
		},
	}
	if s.initiator {
		a.ServerName = s.cfg.Target
	} else {
		a.ServerName = s.cred.principal
		if s.phase != phaseDone {
			a.ClientName = "" // claimed, not yet proven
		}
	}
	switch s.phase {
	case phaseDone:
		a.State = sspi.NegotiationComplete
	case phaseFailed:
		a.State = sspi.NegotiationFailed
	}
	return a
}

// SessionKey implements sspi.SecurityContext.
func (s *ctxState) SessionKey() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.ready("SessionKey"); err != nil {
		return nil, err
	}
	return append([]byte(nil), s.sessionKey...), nil
}

// ready checks, under s.mu, that message protection may run.
func (s *ctxState) ready(op string) error {
	if s.closed {
		return sspi.WithOp(sspi.ErrInvalidHandle, Name, op)
	}
	if s.phase != phaseDone {
		return sspi.WithOp(sspi.Errorf(sspi.ErrNoContext, "context is not established"), Name, op)
	}
	return nil
}

func nonce(seq uint64) []byte {
	n := make([]byte, 12)
	binary.BigEndian.PutUint64(n[4:], seq)
	return n
}

// seal makes a protection token of type typ: header, then payload sealed (typ
// tokenSealed) or appended in clear and authenticated (the others).
func (s *ctxState) seal(op string, typ byte, msg []byte) ([]byte, error) {
	s.mu.Lock() // the send counter; AEAD work below is brief
	if err := s.ready(op); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	seq := s.sendSeq
	s.sendSeq++
	aead := s.send
	s.mu.Unlock()

	out := make([]byte, protHeaderLen, protHeaderLen+len(msg)+tagLen)
	out[0] = typ
	binary.BigEndian.PutUint64(out[1:], seq)
	switch typ {
	case tokenSealed:
		return aead.Seal(out, nonce(seq), msg, out[:protHeaderLen]), nil
	case tokenSigned:
		out = append(out, msg...)
		// The AEAD must not write over its additional data, so authenticate a copy.
		return aead.Seal(out, nonce(seq), nil, bytes.Clone(out)), nil
	default: // signature: the message travels separately
		return aead.Seal(out, nonce(seq), nil, append(out[:protHeaderLen:protHeaderLen], msg...)), nil
	}
}

// open checks a token from the peer in sequence, returning its payload.
func (s *ctxState) open(op string, token, detached []byte, wantTypes ...byte) ([]byte, error) {
	s.mu.RLock()
	if err := s.ready(op); err != nil {
		s.mu.RUnlock()
		return nil, err
	}
	aead := s.recv
	s.mu.RUnlock()

	typ, seq, err := parseProtHeader(token, protHeaderLen+tagLen, op)
	if err != nil {
		return nil, sspi.WithOp(err, Name, op)
	}
	okType := false
	for _, t := range wantTypes {
		okType = okType || t == typ
	}
	if !okType {
		return nil, sspi.WithOp(errUnexpectedType("token", typ), Name, op)
	}
	var payload []byte
	switch typ {
	case tokenSealed:
		payload, err = aead.Open(nil, nonce(seq), token[protHeaderLen:], token[:protHeaderLen])
	case tokenSigned:
		body := token[:len(token)-tagLen]
		_, err = aead.Open(nil, nonce(seq), token[len(token)-tagLen:], body)
		payload = append([]byte(nil), body[protHeaderLen:]...)
	default:
		aad := append(append(make([]byte, 0, protHeaderLen+len(detached)), token[:protHeaderLen]...), detached...)
		if len(token) != signatureLen {
			return nil, sspi.WithOp(sspi.Errorf(sspi.ErrInvalidToken, "signature of %d bytes, want %d", len(token), signatureLen), Name, op)
		}
		_, err = aead.Open(nil, nonce(seq), token[protHeaderLen:], aad)
	}
	if err != nil {
		return nil, sspi.WithOp(sspi.Errorf(sspi.ErrMessageAltered, "integrity check failed"), Name, op)
	}
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	if seq != s.recvSeq {
		return nil, sspi.WithOp(sspi.Errorf(sspi.ErrOutOfSequence, "sequence number %d, expected %d", seq, s.recvSeq), Name, op)
	}
	s.recvSeq++
	return payload, nil
}

// MakeSignature implements sspi.SecurityContext.
func (s *ctxState) MakeSignature(msg []byte) ([]byte, error) {
	return s.seal("MakeSignature", tokenSignature, msg)
}

// VerifySignature implements sspi.SecurityContext.
func (s *ctxState) VerifySignature(msg, sig []byte) error {
	_, err := s.open("VerifySignature", sig, msg, tokenSignature)
	return err
}

// EncryptMessage implements sspi.SecurityContext.
func (s *ctxState) EncryptMessage(msg []byte) ([]byte, error) {
	s.mu.RLock()
	typ := byte(tokenSigned)
	if s.flags&sspi.FlagConfidentiality != 0 {
		typ = tokenSealed
	}
	s.mu.RUnlock()
	return s.seal("EncryptMessage", typ, msg)
}

// DecryptMessage implements sspi.SecurityContext.
func (s *ctxState) DecryptMessage(token []byte) ([]byte, error) {
	s.mu.RLock()
	typ := byte(tokenSigned)
	if s.flags&sspi.FlagConfidentiality != 0 {
		typ = tokenSealed
	}
	s.mu.RUnlock()
	return s.open("DecryptMessage", token, nil, typ)
}

// Close implements sspi.SecurityContext.
func (s *ctxState) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.wipe()
	}
	return nil
}

// VerifyKeys implements negoex.KeyedContext: AES-256 keys (enctype 18) for NegoEx's
// VERIFY, one per direction, derived with the others once both nonces are known.
func (s *ctxState) VerifyKeys() (sign, verify negoex.Key, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed || s.verifyKeys[0] == nil {
		return negoex.Key{}, negoex.Key{}, false
	}
	mine, peer := s.verifyKeys[0], s.verifyKeys[1]
	if !s.initiator {
		mine, peer = peer, mine
	}
	return negoex.Key{Etype: 18, Value: bytes.Clone(mine)}, negoex.Key{Etype: 18, Value: bytes.Clone(peer)}, true
}
