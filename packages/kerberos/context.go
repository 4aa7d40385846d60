package kerberos

import (
	"encoding/binary"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/etype"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gossp/gossp/internal/rfc4121"
	"github.com/gossp/gossp/sspi"
)

type phase int

const (
	phaseStart phase = iota
	phaseWaitAPRep
	phaseDone
	phaseFailed
)

// Context is what a Kerberos context answers beyond sspi.SecurityContext; reach it
// through Negotiate with sspi.ContextAs[kerberos.Context].
type Context interface {
	sspi.SecurityContext
	// AuthorizationData returns the authorization data of the ticket and the
	// authenticator (acceptor side), such as a Windows PAC (ad-type 128 inside
	// AD-IF-RELEVANT). Nil on the initiator.
	AuthorizationData() types.AuthorizationData
	// EncType returns the enctype of the key protecting messages (17, 18, 19, 20...).
	EncType() int32
}

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
	client  string // user@REALM
	realm   string
	server  string
	expiry  time.Time
	authz   types.AuthorizationData
	sess    *rfc4121.Session

	// initiator state between AP-REQ and AP-REP
	ticketKey    types.EncryptionKey
	ticketCipher *rfc4121.Key // ticketKey ready for use, shared with the credential's cache
	subkey       types.EncryptionKey
	ctime        time.Time
	cusec        int
	seq          uint64
}

var (
	_ Context        = (*Initiator)(nil)
	_ Context        = (*Acceptor)(nil)
	_ sspi.Initiator = (*Initiator)(nil)
	_ sspi.Acceptor  = (*Acceptor)(nil)
)

func (s *ctxState) init(c *credential, cfg sspi.ContextConfig, initiator bool) {
	s.cred, s.cfg, s.initiator = c, cfg, initiator
	s.Protector = rfc4121.Protector{Package: Name, Session: s.protection}
}

// fail ends the handshake with err; out may carry a KRB-ERROR token for the peer.
func (s *ctxState) fail(op string, err error, out []byte) ([]byte, sspi.Status, error) {
	s.phase = phaseFailed
	s.wipe()
	err = sspi.WithOp(err, Name, op)
	return out, sspi.StatusOf(err), err
}

func (s *ctxState) finished(op string) ([]byte, sspi.Status, error) {
	err := sspi.WithOp(sspi.Errorf(sspi.ErrInvalidToken, "the handshake has already ended"), Name, op)
	return nil, sspi.StatusOf(err), err
}

func (s *ctxState) wipe() {
	clear(s.ticketKey.KeyValue)
	clear(s.subkey.KeyValue)
	if s.sess != nil {
		s.sess.Close()
		s.sess = nil
	}
}

// contextFlags are the flags a Kerberos context can grant from a request.
const grantable = sspi.FlagMutualAuth | sspi.FlagReplayDetect | sspi.FlagSequenceDetect |
	sspi.FlagConfidentiality | sspi.FlagIntegrity

// grant computes the granted flags from the GSS flags of the checksum: Kerberos always
// provides integrity and confidentiality, as MIT and Windows report.
func grant(f sspi.ContextFlags) sspi.ContextFlags {
	return f&grantable | sspi.FlagIntegrity | sspi.FlagConfidentiality | sspi.FlagConnection
}

// newSession builds the message protection state.
func (s *ctxState) newSession(key types.EncryptionKey, acceptorSubkey bool, sendSeq, recvSeq uint64) error {
	sess, err := rfc4121.NewSession(key, s.initiator, acceptorSubkey, sendSeq, recvSeq, rfc4121.Options{
		ReplayDetect:    s.granted&sspi.FlagReplayDetect != 0,
		SequenceDetect:  s.granted&sspi.FlagSequenceDetect != 0,
		Confidentiality: s.granted&sspi.FlagConfidentiality != 0,
	})
	if err != nil {
		return err
	}
	s.sess = sess
	return nil
}

func (s *ctxState) establish() {
	s.phase = phaseDone
	clear(s.ticketKey.KeyValue)
	clear(s.subkey.KeyValue)
	s.ticketKey, s.subkey, s.ticketCipher = types.EncryptionKey{}, types.EncryptionKey{}, nil
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
		ClientName:  s.client,
		Authority:   s.realm,
		ServerName:  s.server,
		Expiry:      s.expiry,
		Sizes:       sspi.Sizes{MaxToken: MaxToken, MaxSignature: 28, BlockSize: 1, SecurityTrailer: 60},
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

// AuthorizationData implements Context.
func (s *ctxState) AuthorizationData() types.AuthorizationData {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append(types.AuthorizationData(nil), s.authz...)
}

// EncType implements Context.
func (s *ctxState) EncType() int32 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.sess == nil {
		return 0
	}
	return s.sess.EncType()
}

func (s *ctxState) protection(op string) (*rfc4121.Session, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	switch {
	case s.closed:
		return nil, sspi.WithOp(sspi.ErrInvalidHandle, Name, op)
	case s.phase != phaseDone || s.sess == nil:
		return nil, sspi.WithOp(sspi.Errorf(sspi.ErrNoContext, "context is not established"), Name, op)
	}
	return s.sess, nil
}

// SessionKey implements sspi.SecurityContext: the key that protects messages (the
// acceptor's subkey, else the initiator's, else the ticket's session key).
func (s *ctxState) SessionKey() ([]byte, error) {
	sess, err := s.protection("SessionKey")
	if err != nil {
		return nil, err
	}
	return sess.SessionKey(), nil
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

// checksum8003 builds the RFC 4121 4.1.1 authenticator checksum without delegation.
func checksum8003(cb *sspi.ChannelBindings, gssFlags uint32) []byte {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint32(b, 16)
	h := cb.MD5()
	copy(b[4:20], h[:])
	binary.LittleEndian.PutUint32(b[20:], gssFlags)
	return b
}

// krbErrorStatus maps a KRB-ERROR code to an SSPI status.
func krbErrorStatus(code int32) sspi.Status {
	switch code {
	case errorcode.KRB_AP_ERR_SKEW, errorcode.KRB_AP_ERR_TKT_EXPIRED, errorcode.KRB_AP_ERR_TKT_NYV:
		return sspi.ErrTimeSkew
	case errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN:
		return sspi.ErrTargetUnknown
	case errorcode.KRB_AP_ERR_NOT_US:
		return sspi.ErrWrongPrincipal
	case errorcode.KRB_AP_ERR_INAPP_CKSUM:
		return sspi.ErrBadBindings
	}
	return sspi.ErrLogonDenied
}

// spnFromTarget turns a target name into an SPN without realm: "HTTP/host",
// "HTTP/host@REALM" and the GSS host-based form "HTTP@host" all give "HTTP/host".
func spnFromTarget(t string) (string, error) {
	if t == "" {
		return "", sspi.Errorf(sspi.ErrTargetUnknown, "no target name")
	}
	if i := strings.Index(t, "/"); i > 0 {
		if j := strings.LastIndex(t, "@"); j > i {
			t = t[:j]
		}
		return t, nil
	}
	if svc, host, ok := strings.Cut(t, "@"); ok && svc != "" && host != "" {
		return svc + "/" + host, nil
	}
	return "", sspi.Errorf(sspi.ErrTargetUnknown, "target %q is neither service/host nor service@host", t)
}

func randUint32(r io.Reader) (uint32, error) {
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, sspi.Errorf(sspi.ErrInternal, "random: %v", err)
	}
	return binary.BigEndian.Uint32(b[:]) & 0x3fffffff, nil
}

func randKey(r io.Reader, keyType int32) (types.EncryptionKey, error) {
	et, err := crypto.GetEtype(keyType)
	if err != nil {
		return types.EncryptionKey{}, sspi.Errorf(sspi.ErrKDCUnknownEtype, "enctype %d: %v", keyType, err)
	}
	b := make([]byte, KeySize(et))
	if _, err := io.ReadFull(r, b); err != nil {
		return types.EncryptionKey{}, sspi.Errorf(sspi.ErrInternal, "random: %v", err)
	}
	return types.EncryptionKey{KeyType: keyType, KeyValue: b}, nil
}

// KeySize is the protocol key size of an enctype. gokrb5 reports 24 bytes for
// aes256-cts-hmac-sha384-192, whose keys are 32 bytes (RFC 8009 5), though its
// cryptosystem itself expects 32.
func KeySize(et etype.EType) int {
	if et.GetETypeID() == etypeID.AES256_CTS_HMAC_SHA384_192 {
		return 32
	}
	return et.GetKeyByteSize()
}
