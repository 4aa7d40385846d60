package pku2u

import (
	"context"
	"crypto/x509"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gossp/gossp/internal/gssframe"
	"github.com/gossp/gossp/internal/pkinit"
	"github.com/gossp/gossp/internal/rfc4121"
	"github.com/gossp/gossp/negoex"
	"github.com/gossp/gossp/sspi"
)

// Token IDs of PKU2U's context tokens (draft-zhu-pku2u-09 6, RFC 4121 4.1).
const (
	tokASReq    uint16 = 0x0500
	tokASRep    uint16 = 0x0600
	tokAPReq    uint16 = 0x0100
	tokAPRep    uint16 = 0x0200
	tokKRBError uint16 = 0x0300
)

var oidDER = gssframe.OIDBytes(OID)

type phase int

const (
	phaseStart  phase = iota
	phaseASRep        // initiator: AS-REQ sent; acceptor: AS-REP sent
	phaseAPRep        // initiator: AP-REQ sent
	phaseDone         // established
	phaseFailed       // the handshake failed; the context is unusable
)

// Context is what a PKU2U context answers beyond sspi.SecurityContext; reach it through
// Negotiate or NegoEx with sspi.ContextAs[pku2u.Context].
type Context interface {
	sspi.SecurityContext
	// PeerCertificates returns the peer's validated chain, leaf first (nil before the
	// peer's certificate has been checked).
	PeerCertificates() []*x509.Certificate
	// Wrap and Unwrap are RFC 4121 wrap tokens with an explicit sealing choice.
	Wrap(msg []byte, conf bool) ([]byte, error)
	Unwrap(tok []byte) (msg []byte, conf bool, err error)
}

var (
	_ Context                = (*Initiator)(nil)
	_ Context                = (*Acceptor)(nil)
	_ negoex.KeyedContext    = (*Initiator)(nil)
	_ negoex.MetaDataContext = (*Initiator)(nil)
	_ negoex.MetaDataContext = (*Acceptor)(nil)
)

// ctxState is what initiator and acceptor contexts share.
type ctxState struct {
	rfc4121.Protector // MakeSignature, VerifySignature, EncryptMessage, DecryptMessage, Wrap, Unwrap

	cred      *credential
	cfg       sspi.ContextConfig
	initiator bool

	mu      sync.RWMutex
	phase   phase
	closed  bool
	granted sspi.ContextFlags
	expiry  time.Time

	peerIssuers [][]byte // the issuers the peer trusts (NegoEx meta-data)
	mine        Certificate
	peer        []*x509.Certificate // validated, leaf first
	peerName    string

	// transcript holds every framed context token so far, both directions, in wire
	// order: the KRB-FINISHED checksum in the authenticator covers the AS exchange.
	transcript []byte

	// ticket session key, initiator subkey and sequence numbers, while the handshake runs
	session types.EncryptionKey
	subkey  types.EncryptionKey
	ctime   time.Time
	cusec   int
	seq     uint64

	signKey, verifyKey negoex.Key // NegoEx VERIFY keys
	sess               *rfc4121.Session
}

func (s *ctxState) init(c *credential, cfg sspi.ContextConfig, initiator bool) {
	s.cred, s.cfg, s.initiator = c, cfg, initiator
	s.mine = c.certs[0]
	s.Protector = rfc4121.Protector{Package: Name, Session: s.protection}
}

// record appends a framed context token to the transcript.
func (s *ctxState) record(tok []byte) { s.transcript = append(s.transcript, tok...) }

// fail ends the handshake with err; out may carry a KRB-ERROR token for the peer.
func (s *ctxState) fail(op string, err error, out []byte) ([]byte, sspi.Status, error) {
	s.phase = phaseFailed
	s.wipe()
	err = sspi.WithOp(err, Name, op)
	return out, sspi.StatusOf(err), err
}

func (s *ctxState) finished(op string) ([]byte, sspi.Status, error) {
	st := sspi.ErrInvalidToken
	if s.phase == phaseFailed {
		st = sspi.ErrOutOfSequence
	}
	err := sspi.WithOp(sspi.Errorf(st, "the handshake has already ended"), Name, op)
	return nil, sspi.StatusOf(err), err
}

func (s *ctxState) wipe() {
	clear(s.session.KeyValue)
	clear(s.subkey.KeyValue)
	clear(s.signKey.Value)
	clear(s.verifyKey.Value)
	s.signKey, s.verifyKey = negoex.Key{}, negoex.Key{}
	if s.sess != nil {
		s.sess.Close()
		s.sess = nil
	}
	s.transcript = nil
}

func (s *ctxState) establish() {
	s.phase = phaseDone
	clear(s.session.KeyValue)
	s.session = types.EncryptionKey{}
	s.transcript = nil
}

// grantable are the flags a PKU2U context can grant; mutual authentication,
// integrity and confidentiality always hold.
const grantable = sspi.FlagReplayDetect | sspi.FlagSequenceDetect

func grant(asked sspi.ContextFlags) sspi.ContextFlags {
	return asked&grantable | sspi.FlagMutualAuth | sspi.FlagIntegrity | sspi.FlagConfidentiality | sspi.FlagConnection
}

// newSession builds message protection with the acceptor's subkey.
func (s *ctxState) newSession(key types.EncryptionKey, sendSeq, recvSeq uint64) error {
	sess, err := rfc4121.NewSession(key, s.initiator, true, sendSeq, recvSeq, rfc4121.Options{
		ReplayDetect:    s.granted&sspi.FlagReplayDetect != 0,
		SequenceDetect:  s.granted&sspi.FlagSequenceDetect != 0,
		Confidentiality: true,
	})
	if err != nil {
		return err
	}
	s.sess = sess
	return nil
}

// Attributes implements sspi.SecurityContext.
func (s *ctxState) Attributes() sspi.ContextAttributes {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := sspi.ContextAttributes{
		Package:     s.cred.pkg.Info(),
		Path:        []string{Name},
		MechOID:     OID,
		Initiator:   s.initiator,
		Established: s.phase == phaseDone,
		Flags:       s.granted,
		Authority:   Realm,
		Expiry:      s.expiry,
		Sizes:       sspi.Sizes{MaxToken: MaxToken, MaxSignature: 28, BlockSize: 1, SecurityTrailer: 60},
	}
	me := leafName(s.mine.Chain[0])
	if s.initiator {
		// SSPI reports the target the application named; PeerCertificates tells who
		// answered.
		a.ClientName, a.ServerName = me, s.cfg.Target
		if a.ServerName == "" {
			a.ServerName = s.peerName
		}
	} else {
		a.ClientName, a.ServerName = s.peerName, me
	}
	if s.sess != nil {
		a.Sizes.MaxSignature = s.sess.MaxSignature()
		a.Sizes.SecurityTrailer = s.sess.SecurityTrailer()
	}
	switch s.phase {
	case phaseDone:
		a.State = sspi.NegotiationComplete
	case phaseFailed:
		a.State = sspi.NegotiationFailed
	}
	return a
}

// PeerCertificates implements Context.
func (s *ctxState) PeerCertificates() []*x509.Certificate {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]*x509.Certificate(nil), s.peer...)
}

// SessionKey implements sspi.SecurityContext: the acceptor's subkey, which protects
// messages (SECPKG_ATTR_SESSION_KEY).
func (s *ctxState) SessionKey() ([]byte, error) {
	sess, err := s.protection("SessionKey")
	if err != nil {
		return nil, err
	}
	return sess.SessionKey(), nil
}

// VerifyKeys implements negoex.KeyedContext: each side signs its VERIFY with its own
// subkey. The initiator signs before it knows the acceptor's subkey; its verify key
// stays empty until the AP-REP.
func (s *ctxState) VerifyKeys() (sign, verify negoex.Key, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.signKey.Value) == 0 {
		return negoex.Key{}, negoex.Key{}, false
	}
	return s.signKey, s.verifyKey, true
}

// MetaData implements negoex.MetaDataContext: the issuers we trust, so the peer can
// pick a certificate we can validate.
func (s *ctxState) MetaData(context.Context) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ids []pkinit.ExternalPrincipalIdentifier
	for _, is := range s.cred.issuers() {
		ids = append(ids, pkinit.ExternalPrincipalIdentifier{SubjectName: is})
	}
	var (
		b   []byte
		err error
	)
	if s.initiator {
		b, err = (&pkinit.InitiatorMetaData{TrustedCertifiers: ids, TargetRealm: Realm, TargetName: targetName(s.cfg.Target)}).Marshal()
	} else {
		b, err = (&pkinit.AcceptorMetaData{TrustedCertifiers: ids}).Marshal()
	}
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrInternal, "pku2u: meta-data: %v", err)
	}
	return b, nil
}

// PeerMetaData implements negoex.MetaDataContext: the peer's trusted issuers choose our
// certificate. Meta-data that does not parse is ignored, as Windows does: it is only
// a hint.
func (s *ctxState) PeerMetaData(ctx context.Context, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []pkinit.ExternalPrincipalIdentifier
	if s.initiator {
		var md pkinit.AcceptorMetaData
		err := md.Unmarshal(data)
		ids = md.TrustedCertifiers
		if err != nil {
			s.cred.pkg.logger.DebugContext(ctx, "pku2u: peer meta-data ignored", "err", err)
			return nil
		}
	} else {
		var md pkinit.InitiatorMetaData
		err := md.Unmarshal(data)
		ids = md.TrustedCertifiers
		if err != nil {
			s.cred.pkg.logger.DebugContext(ctx, "pku2u: peer meta-data ignored", "err", err)
			return nil
		}
	}
	if s.phase == phaseStart {
		var issuers [][]byte
		for _, id := range ids {
			if id.SubjectName != nil {
				issuers = append(issuers, id.SubjectName)
			}
		}
		s.peerIssuers = issuers
		s.mine = s.cred.pick(issuers)
	}
	return nil
}

func (s *ctxState) protection(op string) (*rfc4121.Session, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	switch {
	case s.closed:
		return nil, sspi.WithOp(sspi.ErrInvalidHandle, Name, op)
	case s.phase != phaseDone || s.sess == nil:
		return nil, sspi.WithOp(sspi.Errorf(sspi.ErrNoContext, "the context is not established"), Name, op)
	}
	return s.sess, nil
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
