package ntlm

import (
	"sync"

	"github.com/gossp/gossp/sspi"
)

type phase int

const (
	phaseStart phase = iota
	phaseWaitChallenge
	phaseWaitAuthenticate
	phaseDone
	phaseFailed
)

// ctxState is what initiator and acceptor contexts share.
type ctxState struct {
	cred      *credential
	cfg       sspi.ContextConfig
	initiator bool

	mu       sync.RWMutex
	phase    phase
	closed   bool
	flags    NegotiateFlags    // negotiated NTLM flags
	granted  sspi.ContextFlags // what the context grants
	user     string
	domain   string
	ws       string
	anon     bool
	key      []byte // ExportedSessionKey
	sess     *session
	messages [][]byte // NEGOTIATE, CHALLENGE, AUTHENTICATE as sent, for the MIC
}

func (s *ctxState) init(c *credential, cfg sspi.ContextConfig, initiator bool) {
	s.cred, s.cfg, s.initiator = c, cfg, initiator
}

// fail ends the handshake with err; the caller holds s.mu.
func (s *ctxState) fail(op string, err error) ([]byte, sspi.Status, error) {
	s.phase = phaseFailed
	s.wipe()
	err = sspi.WithOp(err, Name, op)
	return nil, sspi.StatusOf(err), err
}

// finished answers a handshake call after the handshake has ended, leaving the
// context as it is: a stray or replayed token must not destroy an established context.
func (s *ctxState) finished(op string) ([]byte, sspi.Status, error) {
	err := sspi.WithOp(sspi.Errorf(sspi.ErrInvalidToken, "the handshake has already ended"), Name, op)
	return nil, sspi.StatusOf(err), err
}

func (s *ctxState) wipe() {
	clear(s.key)
	s.key = nil
	if s.sess != nil {
		s.sess.wipe()
		s.sess = nil
	}
	s.messages = nil
}

// establish finishes the handshake with the exported session key.
func (s *ctxState) establish(exportedKey []byte) {
	s.key = exportedKey
	s.granted = grantedFlags(s.flags, s.anon)
	if !s.anon {
		s.sess = newSession(s.flags, exportedKey, s.initiator)
	}
	s.phase = phaseDone
	s.messages = nil
}

// grantedFlags maps negotiated NTLM flags to context flags. NTLM never authenticates
// the server, so MutualAuth is never granted.
func grantedFlags(f NegotiateFlags, anon bool) sspi.ContextFlags {
	g := sspi.FlagConnection
	if anon {
		return g | sspi.FlagAnonymous
	}
	if f.Has(FlagSign) || f.Has(FlagSeal) {
		g |= sspi.FlagIntegrity | sspi.FlagReplayDetect | sspi.FlagSequenceDetect
	}
	if f.Has(FlagSeal) {
		g |= sspi.FlagConfidentiality
	}
	if f.Has(FlagIdentify) {
		g |= sspi.FlagIdentify
	}
	return g
}

// Attributes implements sspi.SecurityContext.
func (s *ctxState) Attributes() sspi.ContextAttributes {
	s.mu.RLock()
	defer s.mu.RUnlock()
	info := s.cred.pkg.Info()
	a := sspi.ContextAttributes{
		Package:     info,
		Path:        []string{Name},
		MechOID:     OID,
		Initiator:   s.initiator,
		Established: s.phase == phaseDone,
		Flags:       s.granted,
		Authority:   s.domain,
		Sizes:       sspi.Sizes{MaxToken: MaxToken, MaxSignature: signatureLen, SecurityTrailer: signatureLen},
	}
	if s.user != "" {
		a.ClientName = qualified(s.domain, s.user)
	}
	if s.initiator {
		a.ServerName = s.cfg.Target
	}
	switch s.phase {
	case phaseDone:
		a.State = sspi.NegotiationComplete
	case phaseFailed:
		a.State = sspi.NegotiationFailed
	}
	return a
}

// NegotiatedFlags returns the NTLM negotiate flags the handshake settled on.
func (s *ctxState) NegotiatedFlags() NegotiateFlags {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.flags
}

// Workstation returns the client's workstation name, as the acceptor received it.
func (s *ctxState) Workstation() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ws
}

// session returns the message protection state, or an error saying why there is none.
func (s *ctxState) protection(op string) (*session, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	switch {
	case s.closed:
		return nil, sspi.WithOp(sspi.ErrInvalidHandle, Name, op)
	case s.phase != phaseDone:
		return nil, sspi.WithOp(sspi.Errorf(sspi.ErrNoContext, "context is not established"), Name, op)
	case s.sess == nil:
		return nil, sspi.WithOp(sspi.Errorf(sspi.ErrUnsupportedFunction, "an anonymous context has no session key"), Name, op)
	}
	return s.sess, nil
}

// SessionKey implements sspi.SecurityContext: the ExportedSessionKey.
func (s *ctxState) SessionKey() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	switch {
	case s.closed:
		return nil, sspi.WithOp(sspi.ErrInvalidHandle, Name, "SessionKey")
	case s.phase != phaseDone:
		return nil, sspi.WithOp(sspi.Errorf(sspi.ErrNoContext, "context is not established"), Name, "SessionKey")
	}
	return append([]byte(nil), s.key...), nil
}

// MakeSignature implements sspi.SecurityContext.
func (s *ctxState) MakeSignature(msg []byte) ([]byte, error) {
	sess, err := s.protection("MakeSignature")
	if err != nil {
		return nil, err
	}
	sig, err := sess.sign(msg)
	return sig, sspi.WithOp(err, Name, "MakeSignature")
}

// VerifySignature implements sspi.SecurityContext.
func (s *ctxState) VerifySignature(msg, sig []byte) error {
	sess, err := s.protection("VerifySignature")
	if err != nil {
		return err
	}
	return sspi.WithOp(sess.verify(msg, sig), Name, "VerifySignature")
}

// EncryptMessage implements sspi.SecurityContext: signature || sealed message when
// sealing was negotiated, signature || message otherwise.
func (s *ctxState) EncryptMessage(msg []byte) ([]byte, error) {
	sess, err := s.protection("EncryptMessage")
	if err != nil {
		return nil, err
	}
	if sess.flags.Has(FlagSeal) {
		tok, err := sess.seal(msg)
		return tok, sspi.WithOp(err, Name, "EncryptMessage")
	}
	sig, err := sess.sign(msg)
	if err != nil {
		return nil, sspi.WithOp(err, Name, "EncryptMessage")
	}
	return append(sig, msg...), nil
}

// DecryptMessage implements sspi.SecurityContext.
func (s *ctxState) DecryptMessage(token []byte) ([]byte, error) {
	sess, err := s.protection("DecryptMessage")
	if err != nil {
		return nil, err
	}
	if sess.flags.Has(FlagSeal) {
		msg, err := sess.unseal(token)
		return msg, sspi.WithOp(err, Name, "DecryptMessage")
	}
	if len(token) < signatureLen {
		return nil, sspi.WithOp(sspi.Errorf(sspi.ErrInvalidToken, "message of %d bytes is shorter than its signature", len(token)), Name, "DecryptMessage")
	}
	msg := token[signatureLen:]
	if err := sess.verify(msg, token[:signatureLen]); err != nil {
		return nil, sspi.WithOp(err, Name, "DecryptMessage")
	}
	return append([]byte(nil), msg...), nil
}

// ResetCipher rekeys the RC4 sealing handles while keeping the sequence numbers, as
// SPNEGO requires after NTLM has signed or checked the mechListMIC (MS-SPNG 3.3.5.1).
func (s *ctxState) ResetCipher() error {
	sess, err := s.protection("ResetCipher")
	if err != nil {
		return err
	}
	sess.resetCipher()
	return nil
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
