package pku2u

import (
	"context"
	"crypto/sha1"
	"crypto/subtle"
	"crypto/x509/pkix"
	"encoding/hex"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gossp/gossp/internal/cms"
	"github.com/gossp/gossp/internal/pkinit"
	"github.com/gossp/gossp/sspi"
)

// Acceptor is PKU2U's server context: it plays the KDC for itself (AS-REQ to AS-REP),
// then checks the AP-REQ against the ticket it issued and answers with an AP-REP.
type Acceptor struct{ ctxState }

// acceptedEtypes are the enctypes an acceptor chooses among, in our preference.
var acceptedEtypes = []int32{18, 17, 20, 19}

// ticketEtype encrypts the tickets an acceptor issues to itself.
const ticketEtype = 18

// refusal is an acceptor failure with the KRB-ERROR sent back.
type refusal struct {
	code  int32
	edata []byte
	err   error
}

func refuse(code int32, st sspi.Status, format string, a ...any) *refusal {
	return &refusal{code: code, err: sspi.Errorf(st, format, a...)}
}

func refuseErr(code int32, err error) *refusal { return &refusal{code: code, err: err} }

// AcceptContext implements sspi.Acceptor: the AS-REQ gets the AS-REP, the AP-REQ the
// AP-REP. A refused request gets a KRB-ERROR token as output, beside the error.
func (c *Acceptor) AcceptContext(ctx context.Context, input []byte) ([]byte, sspi.Status, error) {
	const op = "AcceptContext"
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, sspi.ErrInvalidHandle, sspi.WithOp(sspi.ErrInvalidHandle, Name, op)
	}
	var (
		out  []byte
		r    *refusal
		next phase
	)
	switch c.phase {
	case phaseStart:
		out, r = c.asReq(ctx, input)
		next = phaseASRep
	case phaseASRep:
		out, r = c.apReq(ctx, input)
		next = phaseDone
	default:
		return c.finished(op)
	}
	if r != nil {
		var tok []byte
		if r.code != 0 {
			tok = krbError(r.code, r.edata)
		}
		return c.fail(op, r.err, tok)
	}
	if next == phaseDone {
		c.establish()
		return out, sspi.StatusOK, nil
	}
	c.phase = next
	return out, sspi.StatusContinueNeeded, nil
}

func (c *Acceptor) asReq(ctx context.Context, input []byte) ([]byte, *refusal) {
	p := c.cred.pkg
	tokID, inner, err := parseToken(input)
	if err != nil {
		return nil, &refusal{err: err}
	}
	if tokID != tokASReq {
		return nil, refuse(0, sspi.ErrInvalidToken, "pku2u: token ID %04x, want an AS-REQ", tokID)
	}
	var req messages.ASReq
	if err := req.Unmarshal(inner); err != nil {
		return nil, refuse(0, sspi.ErrInvalidToken, "pku2u: AS-REQ: %v", err)
	}
	rawBody, err := pkinit.KDCReqBody(inner)
	if err != nil {
		return nil, refuse(0, sspi.ErrInvalidToken, "pku2u: AS-REQ: %v", err)
	}
	var paReq []byte
	for _, pa := range req.PAData {
		if pa.PADataType == paPKASReq {
			if paReq != nil {
				return nil, refuse(errorcode.KDC_ERR_PADATA_TYPE_NOSUPP, sspi.ErrInvalidToken, "pku2u: two PA-PK-AS-REQs")
			}
			paReq = pa.PADataValue
		}
	}
	if paReq == nil {
		return nil, refuse(errorcode.KDC_ERR_PREAUTH_REQUIRED, sspi.ErrInvalidToken, "pku2u: the AS-REQ has no PA-PK-AS-REQ")
	}
	var pr pkinit.PAPKASReq
	if err := pr.Unmarshal(paReq); err != nil {
		return nil, refuse(0, sspi.ErrInvalidToken, "pku2u: PA-PK-AS-REQ: %v", err)
	}
	sd, err := cms.Verify(pr.SignedAuthPack, cms.VerifyOptions{EContentType: pkinit.OIDPKAuthData})
	if err != nil {
		return nil, refuse(errInvalidSig, cmsStatus(err), "pku2u: the initiator's signed AuthPack: %v", err)
	}
	now := p.now()
	id, err := c.cred.verifyPeer(sd.Certificates, sd.Signer, true, now)
	if err != nil {
		code := int32(errInvalidCert)
		var edata []byte
		if sspi.StatusOf(err) == sspi.ErrUntrustedRoot {
			code = errClientNotTrusted
			edata = c.trustedCertifiers()
		}
		return nil, &refusal{code: code, edata: edata, err: err}
	}
	var ap pkinit.AuthPack
	if err := ap.Unmarshal(sd.EContent); err != nil {
		return nil, refuse(0, sspi.ErrInvalidToken, "pku2u: AuthPack: %v", err)
	}
	pka := ap.PKAuthenticator
	if d := now.Sub(pka.CTime); d > p.skew || -d > p.skew {
		return nil, refuse(errorcode.KRB_AP_ERR_SKEW, sspi.ErrTimeSkew, "pku2u: the initiator's signed time is %v from ours (allowed %v)", d.Round(time.Second), p.skew)
	}
	if !pkinit.CheckPAChecksum(rawBody, pka.PAChecksum) {
		return nil, refuse(errorcode.KRB_AP_ERR_MODIFIED, sspi.ErrMessageAltered, "pku2u: the AuthPack's paChecksum does not match the request body (altered in transit)")
	}
	// The signature covers ctime and cusec: the same signed AuthPack twice is a replay.
	sig := sha1.Sum(pr.SignedAuthPack)
	if !c.cred.rc.Add("as|"+hex.EncodeToString(sig[:]), now) {
		return nil, refuse(errorcode.KRB_AP_ERR_REPEAT, sspi.ErrLogonDenied, "pku2u: replayed AS-REQ: this signed AuthPack was already seen")
	}
	if ap.ClientPublicValue == nil {
		return nil, refuse(errDHParamsNotAccepted, sspi.ErrAlgorithmMismatch, "pku2u: the AS-REQ offers no Diffie-Hellman public value")
	}
	group, y, err := pkinit.ParseDHPublicKeyInfo(ap.ClientPublicValue)
	if err != nil {
		return nil, refuse(errDHParamsNotAccepted, sspi.ErrAlgorithmMismatch, "pku2u: the initiator's DH public value: %v", err)
	}
	if group.P.BitLen() < 2048 && !p.cfg.AllowModp1024 && !p.cfg.InitiatorModp1024 {
		return nil, &refusal{code: errDHParamsNotAccepted, edata: dhParamsHint(),
			err: sspi.Errorf(sspi.ErrAlgorithmMismatch, "pku2u: the initiator offers a %d-bit DH group; AllowModp1024 is off", group.P.BitLen())}
	}
	et := int32(0)
	for _, e := range req.ReqBody.EType {
		if offered(acceptedEtypes, e) {
			et = e
			break
		}
	}
	if et == 0 {
		return nil, refuse(errorcode.KDC_ERR_ETYPE_NOSUPP, sspi.ErrKDCUnknownEtype, "pku2u: no enctype in common (offered %v)", req.ReqBody.EType)
	}
	dh, err := pkinit.GenerateKey(group, p.rand)
	if err != nil {
		return nil, refuse(0, sspi.ErrInternal, "pku2u: DH key: %v", err)
	}
	zz, err := dh.SharedSecret(y)
	if err != nil {
		return nil, refuse(errDHParamsNotAccepted, sspi.ErrInvalidToken, "pku2u: the initiator's DH public value: %v", err)
	}
	defer clear(zz)
	var sNonce []byte
	if len(ap.ClientDHNonce) > 0 {
		sNonce = make([]byte, 32)
		if _, err := p.rand.Read(sNonce); err != nil {
			return nil, refuse(0, sspi.ErrInternal, "pku2u: random: %v", err)
		}
	}
	replyKey, err := pkinit.OctetString2Key(et, zz, ap.ClientDHNonce, sNonce)
	if err != nil {
		return nil, refuse(0, sspi.ErrInternal, "pku2u: reply key: %v", err)
	}
	defer clear(replyKey.KeyValue)
	session, err := randKey(p.rand, et)
	if err != nil {
		return nil, &refusal{err: err}
	}
	end := now.Add(p.life)
	if na := id.Leaf.NotAfter; na.Before(end) {
		end = na
	}
	now, end = now.UTC().Truncate(time.Second), end.UTC().Truncate(time.Second)
	tkt, err := c.issueTicket(req.ReqBody, session, now, end)
	if err != nil {
		return nil, &refusal{err: err}
	}
	pub, err := pkinit.MarshalDHPublicValue(dh.Public)
	if err != nil {
		return nil, refuse(0, sspi.ErrInternal, "pku2u: DH public value: %v", err)
	}
	kdh, err := (&pkinit.KDCDHKeyInfo{SubjectPublicKey: pub, Nonce: pka.Nonce}).Marshal()
	if err != nil {
		return nil, refuse(0, sspi.ErrInternal, "pku2u: KDCDHKeyInfo: %v", err)
	}
	signed, err := cms.Sign(pkinit.OIDPKDHKeyData, kdh, c.mine.Key, c.mine.Chain, cms.SignOptions{Rand: p.rand})
	if err != nil {
		return nil, refuse(0, sspi.ErrInternal, "pku2u: signing the DH reply: %v", err)
	}
	paRep, err := (&pkinit.PAPKASRep{DHInfo: &pkinit.DHRepInfo{DHSignedData: signed, ServerDHNonce: sNonce}}).Marshal()
	if err != nil {
		return nil, refuse(0, sspi.ErrInternal, "pku2u: PA-PK-AS-REP: %v", err)
	}
	encPart := messages.EncKDCRepPart{
		Key:      session,
		LastReqs: []messages.LastReq{{LRType: 0, LRValue: now}},
		Nonce:    req.ReqBody.Nonce,
		Flags:    ticketFlags(),
		AuthTime: now,
		EndTime:  end,
		SRealm:   Realm,
		SName:    req.ReqBody.SName,
	}
	encDER, err := encPart.Marshal()
	if err != nil {
		return nil, refuse(0, sspi.ErrInternal, "pku2u: EncASRepPart: %v", err)
	}
	ed, err := crypto.GetEncryptedData(encDER, replyKey, keyusage.AS_REP_ENCPART, 0)
	if err != nil {
		return nil, refuse(0, sspi.ErrInternal, "pku2u: AS-REP: %v", err)
	}
	rep := messages.ASRep{KDCRepFields: messages.KDCRepFields{
		PVNO: iana.PVNO, MsgType: msgtype.KRB_AS_REP,
		PAData: types.PADataSequence{{PADataType: paPKASRep, PADataValue: paRep}},
		CRealm: Realm, CName: req.ReqBody.CName, Ticket: tkt, EncPart: ed,
	}}
	repDER, err := rep.Marshal()
	if err != nil {
		return nil, refuse(0, sspi.ErrInternal, "pku2u: AS-REP: %v", err)
	}
	c.granted = grant(0)
	c.session = session
	c.peer, c.peerName = id.Chain, id.Name
	c.expiry = end
	c.record(input)
	out := frame(tokASRep, repDER)
	c.record(out)
	p.logger.DebugContext(ctx, "pku2u: initiator certificate accepted", "initiator", id.Name, "etype", et)
	return out, nil
}

// ticketFlags are the ticket flags an acceptor sets: initial and pre-authenticated.
func ticketFlags() asn1.BitString {
	f := types.NewKrbFlags()
	types.SetFlag(&f, flags.Initial)
	types.SetFlag(&f, flags.PreAuthent)
	return f
}

// issueTicket makes the ticket only this credential can read.
func (c *Acceptor) issueTicket(body messages.KDCReqBody, session types.EncryptionKey, now, end time.Time) (messages.Ticket, error) {
	etp := messages.EncTicketPart{
		Flags: ticketFlags(), Key: session, CRealm: Realm, CName: body.CName,
		Transited: messages.TransitedEncoding{}, AuthTime: now, EndTime: end,
	}
	b, err := asn1.Marshal(etp)
	if err != nil {
		return messages.Ticket{}, sspi.Errorf(sspi.ErrInternal, "pku2u: ticket: %v", err)
	}
	b = asn1tools.AddASNAppTag(b, asnAppTag.EncTicketPart)
	ed, err := crypto.GetEncryptedData(b, c.ticketKey(), keyusage.KDC_REP_TICKET, 1)
	if err != nil {
		return messages.Ticket{}, sspi.Errorf(sspi.ErrInternal, "pku2u: ticket: %v", err)
	}
	return messages.Ticket{TktVNO: iana.PVNO, Realm: Realm, SName: body.SName, EncPart: ed}, nil
}

func (c *Acceptor) ticketKey() types.EncryptionKey {
	return types.EncryptionKey{KeyType: ticketEtype, KeyValue: c.cred.tkey}
}

// trustedCertifiers is TD-TRUSTED-CERTIFIERS for a KRB-ERROR: the issuers we trust, so
// the initiator can retry with another certificate.
func (c *Acceptor) trustedCertifiers() []byte {
	var ids []pkinit.ExternalPrincipalIdentifier
	for _, t := range c.cred.trust {
		if id, err := pkinit.IdentifierOf(t); err == nil {
			ids = append(ids, id)
		}
	}
	b, err := pkinit.MarshalExternalPrincipalIdentifiers(ids)
	if err != nil {
		return nil
	}
	return typedData(tdTrustedCertifiers, b)
}

// dhParamsHint is TD-DH-PARAMETERS naming the group we accept.
func dhParamsHint() []byte {
	alg, err := pkinit.Group14.AlgorithmIdentifier()
	if err != nil {
		return nil
	}
	b, err := pkinit.MarshalDHParameters([]pkix.AlgorithmIdentifier{alg})
	if err != nil {
		return nil
	}
	return typedData(tdDHParameters, b)
}

// typedData is TYPED-DATA ::= SEQUENCE OF SEQUENCE { data-type [0] Int32, data-value [1] OCTET STRING }.
func typedData(typ int32, v []byte) []byte {
	type td struct {
		Type  int32  `asn1:"explicit,tag:0"`
		Value []byte `asn1:"explicit,optional,tag:1"`
	}
	b, err := asn1.Marshal([]td{{typ, v}})
	if err != nil {
		return nil
	}
	return b
}

func (c *Acceptor) apReq(ctx context.Context, input []byte) ([]byte, *refusal) {
	p := c.cred.pkg
	tokID, inner, err := parseToken(input)
	if err != nil {
		return nil, &refusal{err: err}
	}
	if tokID != tokAPReq {
		return nil, refuse(0, sspi.ErrInvalidToken, "pku2u: token ID %04x, want an AP-REQ", tokID)
	}
	var req messages.APReq
	if err := req.Unmarshal(inner); err != nil {
		return nil, refuse(0, sspi.ErrInvalidToken, "pku2u: AP-REQ: %v", err)
	}
	tkt := &req.Ticket
	if tkt.EncPart.EType != ticketEtype {
		return nil, refuse(errorcode.KRB_AP_ERR_BAD_INTEGRITY, sspi.ErrLogonDenied, "pku2u: the ticket was not issued by this acceptor (enctype %d)", tkt.EncPart.EType)
	}
	if err := tkt.Decrypt(c.ticketKey()); err != nil {
		return nil, refuse(errorcode.KRB_AP_ERR_BAD_INTEGRITY, sspi.ErrLogonDenied, "pku2u: the ticket was not issued by this acceptor")
	}
	etp := tkt.DecryptedEncPart
	defer clear(etp.Key.KeyValue)
	if etp.Key.KeyType != c.session.KeyType || subtle.ConstantTimeCompare(etp.Key.KeyValue, c.session.KeyValue) != 1 {
		return nil, refuse(errorcode.KRB_AP_ERR_BAD_INTEGRITY, sspi.ErrLogonDenied, "pku2u: the ticket belongs to another exchange")
	}
	if err := req.DecryptAuthenticator(c.session); err != nil {
		return nil, refuse(errorcode.KRB_AP_ERR_BAD_INTEGRITY, sspi.ErrLogonDenied, "pku2u: the authenticator does not decrypt with the session key")
	}
	auth := req.Authenticator
	now := p.now().UTC()
	if auth.SubKey.KeyType == 0 || len(auth.SubKey.KeyValue) == 0 || !offered(acceptedEtypes, auth.SubKey.KeyType) {
		return nil, refuse(errorcode.KRB_AP_ERR_BADKEYVER, sspi.ErrInvalidToken, "pku2u: the authenticator carries no usable subkey")
	}
	// KRB-FINISHED first: until it matches, nothing the AS exchange said can be trusted.
	ck, err := parseAuthChecksum(auth.Cksum)
	if err != nil {
		return nil, refuseErr(errorcode.KRB_AP_ERR_INAPP_CKSUM, err)
	}
	if err := checkFinished(auth.SubKey, c.transcript, ck.finished); err != nil {
		return nil, refuseErr(errorcode.KRB_AP_ERR_MODIFIED, err)
	}
	if !auth.CName.Equal(etp.CName) || auth.CRealm != etp.CRealm {
		return nil, refuse(errorcode.KRB_AP_ERR_BADMATCH, sspi.ErrLogonDenied, "pku2u: the authenticator's client does not match the ticket's")
	}
	if d := now.Sub(auth.CTime); d > p.skew || -d > p.skew {
		return nil, refuse(errorcode.KRB_AP_ERR_SKEW, sspi.ErrTimeSkew, "pku2u: the authenticator's time is %v from ours (allowed %v)", d.Round(time.Second), p.skew)
	}
	if now.Sub(etp.EndTime) > p.skew {
		return nil, refuse(errorcode.KRB_AP_ERR_TKT_EXPIRED, sspi.ErrContextExpired, "pku2u: the ticket expired at %v", etp.EndTime)
	}
	if err := sspi.CheckBindings(c.cfg.ChannelBindings, ck.bindings, c.cfg.AllowMissingBindings); err != nil {
		return nil, refuseErr(errorcode.KRB_AP_ERR_BAD_INTEGRITY, err)
	}
	// The encrypted authenticator is unique per AP-REQ (fresh subkey and confounder).
	seen := sha1.Sum(req.EncryptedAuthenticator.Cipher)
	if !c.cred.rc.Add("ap|"+hex.EncodeToString(seen[:]), now) {
		return nil, refuse(errorcode.KRB_AP_ERR_REPEAT, sspi.ErrLogonDenied, "pku2u: replayed authenticator (KRB_AP_ERR_REPEAT)")
	}
	c.granted = grant(sspi.FlagsFromGSS(ck.flags))
	accKey, err := randKey(p.rand, auth.SubKey.KeyType)
	if err != nil {
		return nil, &refusal{err: err}
	}
	ourSeq, err := randUint31(p.rand)
	if err != nil {
		return nil, &refusal{err: err}
	}
	out, err := apRep(c.session, messages.EncAPRepPart{CTime: auth.CTime, Cusec: auth.Cusec, Subkey: accKey, SequenceNumber: int64(ourSeq)})
	if err != nil {
		return nil, &refusal{err: err}
	}
	if err := c.newSession(accKey, uint64(ourSeq), uint64(uint32(auth.SeqNumber))); err != nil {
		return nil, &refusal{err: err}
	}
	c.signKey, c.verifyKey = keyOf(accKey), keyOf(auth.SubKey)
	clear(accKey.KeyValue)
	p.logger.DebugContext(ctx, "pku2u: context established", "initiator", c.peerName)
	return out, nil
}

// apRep encodes and frames an AP-REP (gokrb5 only decodes them).
func apRep(sessionKey types.EncryptionKey, enc messages.EncAPRepPart) ([]byte, error) {
	b, err := asn1.Marshal(enc)
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrInternal, "pku2u: EncAPRepPart: %v", err)
	}
	b = asn1tools.AddASNAppTag(b, asnAppTag.EncAPRepPart)
	ed, err := crypto.GetEncryptedData(b, sessionKey, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrInternal, "pku2u: AP-REP: %v", err)
	}
	rep := messages.APRep{PVNO: iana.PVNO, MsgType: msgtype.KRB_AP_REP, EncPart: ed}
	rb, err := asn1.Marshal(rep)
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrInternal, "pku2u: AP-REP: %v", err)
	}
	return frame(tokAPRep, asn1tools.AddASNAppTag(rb, asnAppTag.APREP)), nil
}
