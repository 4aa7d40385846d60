package kerberos

import (
	"bytes"
	"context"
	"encoding/binary"
	"strconv"
	"sync"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gossp/gossp/internal/rfc4121"
	"github.com/gossp/gossp/sspi"
)

// Acceptor is Kerberos' server context. Beyond sspi.Acceptor it answers Context
// (AuthorizationData, EncType) and Wrap/Unwrap with an explicit sealing choice.
type Acceptor struct{ ctxState }

// apError is an acceptor failure with the KRB-ERROR code sent back to the initiator.
type apError struct {
	code int32
	err  error
}

func refuse(code int32, st sspi.Status, format string, a ...any) *apError {
	return &apError{code: code, err: sspi.Errorf(st, format, a...)}
}

// AcceptContext implements sspi.Acceptor: it checks the AP-REQ and answers with an
// AP-REP when the initiator asked for mutual authentication (nothing otherwise). A
// refused AP-REQ gets a KRB-ERROR token as output, beside the error.
func (c *Acceptor) AcceptContext(ctx context.Context, input []byte) ([]byte, sspi.Status, error) {
	const op = "AcceptContext"
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, sspi.ErrInvalidHandle, sspi.WithOp(sspi.ErrInvalidHandle, Name, op)
	}
	if c.phase != phaseStart {
		return c.finished(op)
	}
	out, ae := c.verify(ctx, input)
	if ae != nil {
		var errTok []byte
		if ae.code != 0 {
			ke := messages.NewKRBError(types.PrincipalName{}, "", ae.code, "")
			if b, err := ke.Marshal(); err == nil {
				errTok = frame(tokKRBError, b)
			}
		}
		return c.fail(op, ae.err, errTok)
	}
	c.establish()
	return out, sspi.StatusOK, nil
}

func (c *Acceptor) verify(ctx context.Context, input []byte) ([]byte, *apError) {
	p := c.cred.pkg
	tokID, inner, err := ParseFrame(input)
	if err != nil {
		return nil, &apError{err: err}
	}
	if tokID != tokAPReq {
		return nil, &apError{err: sspi.Errorf(sspi.ErrInvalidToken, "token ID %04x, want an AP-REQ", tokID)}
	}
	req, err := parseAPReq(inner)
	if err != nil {
		return nil, &apError{err: sspi.Errorf(sspi.ErrInvalidToken, "AP-REQ: %w", err)}
	}
	if len(req.Ticket.SName.NameString) == 0 {
		return nil, &apError{err: sspi.Errorf(sspi.ErrInvalidToken, "AP-REQ: the ticket has no service name")}
	}
	tkt := &req.Ticket
	sname := tkt.SName.PrincipalNameString() + "@" + tkt.Realm
	key, _, err := c.cred.kt.GetEncryptionKey(tkt.SName, tkt.Realm, tkt.EncPart.KVNO, tkt.EncPart.EType)
	if err != nil {
		return nil, refuse(errorcode.KRB_AP_ERR_NOKEY, sspi.ErrLogonDenied, "no key in the keytab for %s (kvno %d, enctype %d)", sname, tkt.EncPart.KVNO, tkt.EncPart.EType)
	}
	// Our RFC 3961 code rather than Ticket.Decrypt and DecryptAuthenticator's gokrb5
	// path, which derives the usage keys with a slow n-fold.
	svc, err := c.cred.svcKeys.get(key)
	if err != nil {
		return nil, refuse(errorcode.KRB_AP_ERR_NOKEY, sspi.ErrLogonDenied, "the keytab's key for %s (enctype %d) is not usable: %v", sname, key.KeyType, err)
	}
	pt, err := svc.Decrypt(keyusage.KDC_REP_TICKET, tkt.EncPart.Cipher)
	if err != nil {
		return nil, refuse(errorcode.KRB_AP_ERR_BAD_INTEGRITY, sspi.ErrLogonDenied, "the ticket for %s does not decrypt with the keytab's key (wrong key)", sname)
	}
	etp, err := parseEncTicketPart(pt)
	if err != nil {
		return nil, refuse(errorcode.KRB_AP_ERR_BAD_INTEGRITY, sspi.ErrLogonDenied, "the ticket for %s does not decode: %v", sname, err)
	}
	sessKey, err := rfc4121.NewKey(etp.Key)
	if err != nil {
		return nil, refuse(errorcode.KRB_AP_ERR_BAD_INTEGRITY, sspi.ErrLogonDenied, "the ticket's session key is not usable: %v", err)
	}
	defer sessKey.Close()
	pt, err = sessKey.Decrypt(authenticatorUsage(tkt.SName), req.EncryptedAuthenticator.Cipher)
	if err != nil {
		return nil, refuse(errorcode.KRB_AP_ERR_BAD_INTEGRITY, sspi.ErrLogonDenied, "the authenticator does not decrypt with the ticket's session key (enctype %d): %v", etp.Key.KeyType, err)
	}
	auth, err := parseAuthenticator(pt)
	if err != nil {
		return nil, refuse(errorcode.KRB_AP_ERR_BAD_INTEGRITY, sspi.ErrLogonDenied, "the authenticator does not decode: %v", err)
	}
	if !auth.CName.Equal(etp.CName) || auth.CRealm != etp.CRealm {
		return nil, refuse(errorcode.KRB_AP_ERR_BADMATCH, sspi.ErrLogonDenied, "the authenticator's client does not match the ticket's")
	}
	now := p.now().UTC()
	if d := now.Sub(auth.CTime); d > p.skew || -d > p.skew {
		return nil, refuse(errorcode.KRB_AP_ERR_SKEW, sspi.ErrTimeSkew, "the authenticator's time is %v from ours (allowed %v)", d.Round(1e9), p.skew)
	}
	start := etp.StartTime
	if start.IsZero() {
		start = etp.AuthTime
	}
	if start.Sub(now) > p.skew {
		return nil, refuse(errorcode.KRB_AP_ERR_TKT_NYV, sspi.ErrTimeSkew, "the ticket is not yet valid")
	}
	if now.Sub(etp.EndTime) > p.skew {
		return nil, refuse(errorcode.KRB_AP_ERR_TKT_EXPIRED, sspi.ErrTimeSkew, "the ticket expired at %v", etp.EndTime)
	}
	ck := auth.Cksum
	if ck.CksumType != chksumGSS || len(ck.Checksum) < 24 || binary.LittleEndian.Uint32(ck.Checksum) != 16 {
		return nil, refuse(errorcode.KRB_AP_ERR_INAPP_CKSUM, sspi.ErrInvalidToken, "the authenticator has no RFC 4121 checksum (type %#x, %d bytes)", ck.CksumType, len(ck.Checksum))
	}
	var cb [16]byte
	copy(cb[:], ck.Checksum[4:20])
	if err := sspi.CheckBindings(c.cfg.ChannelBindings, cb, c.cfg.AllowMissingBindings); err != nil {
		return nil, &apError{code: errorcode.KRB_AP_ERR_BAD_INTEGRITY, err: err}
	}
	gss := sspi.FlagsFromGSS(binary.LittleEndian.Uint32(ck.Checksum[20:24]))
	if types.IsFlagSet(&req.APOptions, flags.APOptionMutualRequired) {
		gss |= sspi.FlagMutualAuth
	}
	if c.cred.rc != nil {
		rkey := auth.CName.PrincipalNameString() + "@" + auth.CRealm + "|" + sname + "|" +
			strconv.FormatInt(auth.CTime.Unix(), 10) + "." + strconv.Itoa(auth.Cusec)
		if !c.cred.rc.Add(rkey, now) {
			p.logger.DebugContext(ctx, "kerberos: replayed authenticator refused", "client", auth.CName.PrincipalNameString()+"@"+auth.CRealm)
			return nil, refuse(errorcode.KRB_AP_ERR_REPEAT, sspi.ErrLogonDenied, "replayed authenticator: this AP-REQ was already accepted (KRB_AP_ERR_REPEAT)")
		}
	}
	c.granted = grant(gss)
	c.client = auth.CName.PrincipalNameString() + "@" + auth.CRealm
	c.realm = auth.CRealm
	c.server = sname
	c.expiry = etp.EndTime
	c.authz = append(append(types.AuthorizationData(nil), etp.AuthorizationData...), auth.AuthorizationData...)

	peerSeq := uint64(uint32(auth.SeqNumber))
	protKey := etp.Key
	if auth.SubKey.KeyType != 0 && len(auth.SubKey.KeyValue) > 0 {
		protKey = auth.SubKey
	}
	if c.granted&sspi.FlagMutualAuth == 0 {
		if err := c.newSession(protKey, false, peerSeq, peerSeq); err != nil {
			return nil, &apError{err: err}
		}
		return nil, nil
	}
	accKey, err := randKey(p.rand, protKey.KeyType)
	if err != nil {
		return nil, &apError{err: err}
	}
	ourSeq, err := randUint32(p.rand)
	if err != nil {
		return nil, &apError{err: err}
	}
	out, err := apRep(sessKey, messages.EncAPRepPart{CTime: auth.CTime, Cusec: auth.Cusec, Subkey: accKey, SequenceNumber: int64(ourSeq)})
	if err != nil {
		return nil, &apError{err: err}
	}
	if err := c.newSession(accKey, true, uint64(ourSeq), peerSeq); err != nil {
		return nil, &apError{err: err}
	}
	return out, nil
}

// apRep encodes, encrypts and frames an AP-REP (gokrb5 only decodes them).
func apRep(sessionKey *rfc4121.Key, enc messages.EncAPRepPart) ([]byte, error) {
	ct, err := sessionKey.Encrypt(keyusage.AP_REP_ENCPART, marshalEncAPRepPart(&enc))
	if err != nil {
		return nil, err
	}
	return frame(tokAPRep, marshalAPRep(types.EncryptedData{EType: sessionKey.EncType(), Cipher: ct})), nil
}

// serviceKeys keeps the acceptor's keytab keys ready for use (rfc4121.Key), so that the
// ticket key's usage keys are derived once rather than for every AP-REQ.
type serviceKeys struct {
	mu   sync.Mutex
	keys []serviceKey
}

type serviceKey struct {
	key types.EncryptionKey // a copy, to recognise the keytab's key
	k   *rfc4121.Key
}

// maxServiceKeys bounds serviceKeys; it starts over when full.
const maxServiceKeys = 32

// get returns key ready for use.
func (s *serviceKeys) get(key types.EncryptionKey) (*rfc4121.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.keys {
		if e.key.KeyType == key.KeyType && bytes.Equal(e.key.KeyValue, key.KeyValue) {
			return e.k, nil
		}
	}
	k, err := rfc4121.NewKey(key)
	if err != nil {
		return nil, err
	}
	if len(s.keys) >= maxServiceKeys {
		s.reset()
	}
	s.keys = append(s.keys, serviceKey{key: types.EncryptionKey{KeyType: key.KeyType, KeyValue: bytes.Clone(key.KeyValue)}, k: k})
	return k, nil
}

// reset drops the keys and wipes their copies (s.mu held); the rfc4121.Keys are left to
// the contexts that may still use them.
func (s *serviceKeys) reset() {
	for _, e := range s.keys {
		clear(e.key.KeyValue)
	}
	s.keys = nil
}

// close empties the cache when the credential closes.
func (s *serviceKeys) close() {
	s.mu.Lock()
	s.reset()
	s.mu.Unlock()
}
