package pku2u

import (
	"context"
	"crypto/x509"
	"strings"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gossp/gossp/internal/cms"
	"github.com/gossp/gossp/internal/pkinit"
	"github.com/gossp/gossp/sspi"
)

// Initiator is PKU2U's client context: AS-REQ, then (after the AS-REP) the AP-REQ,
// then the check of the AP-REP.
type Initiator struct {
	ctxState

	// between the AS-REQ and the AS-REP
	dh        *pkinit.PrivateKey
	reqNonce  int
	authNonce uint32
	cNonce    []byte
	etypes    []int32
	ticket    messages.Ticket
}

// kdcOptions are the KDC options Windows sends (forwardable, renewable, canonicalize,
// renewable-ok); the draft asks for none, and acceptors ignore them.
var kdcOptions = types.NewKrbFlags()

func init() {
	kdcOptions.Bytes = []byte{0x40, 0x81, 0x00, 0x10}
}

// offeredEtypes are the enctypes the initiator offers for the reply key and session
// key, best first.
var offeredEtypes = []int32{18, 17, 20, 19}

// InitializeContext implements sspi.Initiator.
func (c *Initiator) InitializeContext(ctx context.Context, input []byte) ([]byte, sspi.Status, error) {
	const op = "InitializeContext"
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, sspi.ErrInvalidHandle, sspi.WithOp(sspi.ErrInvalidHandle, Name, op)
	}
	switch c.phase {
	case phaseStart:
		if len(input) != 0 {
			return c.fail(op, sspi.Errorf(sspi.ErrInvalidToken, "pku2u: unexpected input on the first call"), nil)
		}
		out, err := c.asReq()
		if err != nil {
			return c.fail(op, err, nil)
		}
		c.phase = phaseASRep
		return out, sspi.StatusContinueNeeded, nil
	case phaseASRep:
		out, err := c.asRep(ctx, input)
		if err != nil {
			return c.fail(op, err, nil)
		}
		c.phase = phaseAPRep
		return out, sspi.StatusContinueNeeded, nil
	case phaseAPRep:
		if err := c.apRep(input); err != nil {
			return c.fail(op, err, nil)
		}
		c.establish()
		return nil, sspi.StatusOK, nil
	}
	return c.finished(op)
}

func (c *Initiator) asReq() ([]byte, error) {
	p := c.cred.pkg
	now := p.now().UTC()
	group := pkinit.Group14
	if p.cfg.InitiatorModp1024 {
		group = pkinit.Group2
	}
	dh, err := pkinit.GenerateKey(group, p.rand)
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrInternal, "pku2u: DH key: %v", err)
	}
	reqNonce, err := randUint31(p.rand)
	if err != nil {
		return nil, err
	}
	an, err := randUint31(p.rand)
	if err != nil {
		return nil, err
	}
	authNonce := uint32(an)
	cNonce := make([]byte, 32)
	if _, err := p.rand.Read(cNonce); err != nil {
		return nil, sspi.Errorf(sspi.ErrInternal, "pku2u: random: %v", err)
	}
	body := messages.KDCReqBody{
		KDCOptions: kdcOptions,
		CName:      types.PrincipalName{NameType: ntWellKnown, NameString: []string{"WELLKNOWN", "NULL"}},
		Realm:      Realm,
		SName:      targetName(c.cfg.Target),
		Till:       now.Add(p.life).Truncate(1e9),
		Nonce:      reqNonce,
		EType:      offeredEtypes,
	}
	bodyDER, err := body.Marshal()
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrInternal, "pku2u: KDC-REQ-BODY: %v", err)
	}
	pub, err := dh.PublicKeyInfo()
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrInternal, "pku2u: DH public value: %v", err)
	}
	ap := pkinit.AuthPack{
		PKAuthenticator: pkinit.PKAuthenticator{
			Cusec:      now.Nanosecond() / 1000,
			CTime:      now.Truncate(1e9),
			Nonce:      authNonce,
			PAChecksum: pkinit.PAChecksum(bodyDER),
		},
		ClientPublicValue: pub,
		ClientDHNonce:     cNonce,
	}
	apDER, err := ap.Marshal()
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrInternal, "pku2u: AuthPack: %v", err)
	}
	signed, err := cms.Sign(pkinit.OIDPKAuthData, apDER, c.mine.Key, c.mine.Chain, cms.SignOptions{Rand: p.rand})
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrInternal, "pku2u: signing the AuthPack: %v", err)
	}
	pa, err := (&pkinit.PAPKASReq{SignedAuthPack: signed}).Marshal()
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrInternal, "pku2u: PA-PK-AS-REQ: %v", err)
	}
	req, err := marshalASReq(types.PADataSequence{{PADataType: paPKASReq, PADataValue: pa}}, bodyDER)
	if err != nil {
		return nil, err
	}
	c.dh, c.reqNonce, c.authNonce, c.cNonce, c.etypes = dh, reqNonce, authNonce, cNonce, offeredEtypes
	c.granted = grant(c.cfg.Flags)
	tok := frame(tokASReq, req)
	c.record(tok)
	return tok, nil
}

func (c *Initiator) asRep(ctx context.Context, input []byte) ([]byte, error) {
	p := c.cred.pkg
	tokID, inner, err := parseToken(input)
	if err != nil {
		return nil, err
	}
	switch tokID {
	case tokKRBError:
		return nil, peerError(inner)
	case tokASRep:
	default:
		return nil, sspi.Errorf(sspi.ErrInvalidToken, "pku2u: token ID %04x, want an AS-REP", tokID)
	}
	var rep messages.ASRep
	if err := rep.Unmarshal(inner); err != nil {
		return nil, sspi.Errorf(sspi.ErrInvalidToken, "pku2u: AS-REP: %v", err)
	}
	var paRep []byte
	for _, pa := range rep.PAData {
		if pa.PADataType == paPKASRep {
			if paRep != nil {
				return nil, sspi.Errorf(sspi.ErrInvalidToken, "pku2u: two PA-PK-AS-REPs")
			}
			paRep = pa.PADataValue
		}
	}
	if paRep == nil {
		return nil, sspi.Errorf(sspi.ErrInvalidToken, "pku2u: the AS-REP has no PA-PK-AS-REP")
	}
	var pr pkinit.PAPKASRep
	if err := pr.Unmarshal(paRep); err != nil {
		return nil, sspi.Errorf(sspi.ErrInvalidToken, "pku2u: PA-PK-AS-REP: %v", err)
	}
	if pr.DHInfo == nil {
		return nil, sspi.Errorf(sspi.ErrAlgorithmMismatch, "pku2u: the acceptor answered without Diffie-Hellman")
	}
	sd, err := cms.Verify(pr.DHInfo.DHSignedData, cms.VerifyOptions{EContentType: pkinit.OIDPKDHKeyData})
	if err != nil {
		return nil, sspi.Errorf(cmsStatus(err), "pku2u: the acceptor's signed DH reply: %w", err)
	}
	now := p.now()
	id, err := c.cred.verifyPeer(sd.Certificates, sd.Signer, false, now)
	if err != nil {
		return nil, err
	}
	if err := c.checkTarget(id.Leaf); err != nil {
		return nil, err
	}
	var kdh pkinit.KDCDHKeyInfo
	if err := kdh.Unmarshal(sd.EContent); err != nil {
		return nil, sspi.Errorf(sspi.ErrInvalidToken, "pku2u: KDCDHKeyInfo: %v", err)
	}
	if kdh.Nonce != c.authNonce {
		return nil, sspi.Errorf(sspi.ErrMutualAuthFailed, "pku2u: the DH reply answers another request (nonce)")
	}
	y, err := pkinit.ParseDHPublicValue(kdh.SubjectPublicKey)
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrInvalidToken, "pku2u: the acceptor's DH public value: %v", err)
	}
	zz, err := c.dh.SharedSecret(y)
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrInvalidToken, "pku2u: the acceptor's DH public value: %v", err)
	}
	defer clear(zz)
	et := rep.EncPart.EType
	if !offered(c.etypes, et) {
		return nil, sspi.Errorf(sspi.ErrKDCUnknownEtype, "pku2u: the AS-REP uses enctype %d, which we did not offer", et)
	}
	replyKey, err := pkinit.OctetString2Key(et, zz, c.cNonce, pr.DHInfo.ServerDHNonce)
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrKDCUnknownEtype, "pku2u: reply key: %v", err)
	}
	defer clear(replyKey.KeyValue)
	pt, err := crypto.DecryptEncPart(rep.EncPart, replyKey, keyusage.AS_REP_ENCPART)
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrMutualAuthFailed, "pku2u: the AS-REP's encrypted part does not decrypt with the DH reply key")
	}
	var enc messages.EncKDCRepPart
	if err := enc.Unmarshal(pt); err != nil {
		return nil, sspi.Errorf(sspi.ErrInvalidToken, "pku2u: EncASRepPart: %v", err)
	}
	clear(pt)
	if enc.Nonce != c.reqNonce {
		return nil, sspi.Errorf(sspi.ErrMutualAuthFailed, "pku2u: the AS-REP answers another request (nonce)")
	}
	if !offered(c.etypes, enc.Key.KeyType) {
		return nil, sspi.Errorf(sspi.ErrKDCUnknownEtype, "pku2u: session key of enctype %d", enc.Key.KeyType)
	}
	c.dh = nil
	c.peer = id.Chain
	c.peerName = id.Name
	c.expiry = enc.EndTime
	c.session = enc.Key
	c.record(input)
	p.logger.DebugContext(ctx, "pku2u: acceptor certificate accepted", "acceptor", id.Name, "etype", et)
	return c.apReq(rep.Ticket, rep.CName, rep.CRealm)
}

// checkTarget checks that the acceptor's certificate names the host we meant.
func (c *Initiator) checkTarget(leaf *x509.Certificate) error {
	host := targetHost(c.cfg.Target)
	if host == "" || c.cred.pkg.cfg.NoHostnameCheck {
		return nil
	}
	if err := leaf.VerifyHostname(host); err != nil {
		return sspi.Errorf(sspi.ErrWrongPrincipal, "pku2u: the acceptor's certificate does not name %q", host)
	}
	return nil
}

func (c *Initiator) apReq(tkt messages.Ticket, cname types.PrincipalName, crealm string) ([]byte, error) {
	p := c.cred.pkg
	subkey, err := randKey(p.rand, c.session.KeyType)
	if err != nil {
		return nil, err
	}
	seq, err := randUint31(p.rand)
	if err != nil {
		return nil, err
	}
	fin, err := finishedChecksum(subkey, c.transcript)
	if err != nil {
		return nil, err
	}
	ck, err := authChecksum(c.cfg.ChannelBindings, c.granted.GSS()|gssExtendedError, fin)
	if err != nil {
		return nil, err
	}
	now := p.now().UTC()
	auth := types.Authenticator{
		AVNO:      iana.PVNO,
		CRealm:    crealm,
		CName:     cname,
		Cksum:     types.Checksum{CksumType: chksumGSS, Checksum: ck},
		Cusec:     now.Nanosecond() / 1000,
		CTime:     now.Truncate(1e9),
		SubKey:    subkey,
		SeqNumber: int64(seq),
	}
	req, err := messages.NewAPReq(tkt, c.session, auth)
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrInternal, "pku2u: AP-REQ: %v", err)
	}
	types.SetFlag(&req.APOptions, flags.APOptionMutualRequired)
	b, err := req.Marshal()
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrInternal, "pku2u: AP-REQ: %v", err)
	}
	c.subkey, c.ctime, c.cusec, c.seq = subkey, auth.CTime, auth.Cusec, uint64(seq)
	c.signKey = keyOf(subkey)
	return frame(tokAPReq, b), nil
}

func (c *Initiator) apRep(input []byte) error {
	tokID, inner, err := parseToken(input)
	if err != nil {
		return err
	}
	switch tokID {
	case tokKRBError:
		return peerError(inner)
	case tokAPRep:
	default:
		return sspi.Errorf(sspi.ErrInvalidToken, "pku2u: token ID %04x, want an AP-REP", tokID)
	}
	var rep messages.APRep
	if err := rep.Unmarshal(inner); err != nil {
		return sspi.Errorf(sspi.ErrInvalidToken, "pku2u: AP-REP: %v", err)
	}
	pt, err := crypto.DecryptEncPart(rep.EncPart, c.session, keyusage.AP_REP_ENCPART)
	if err != nil {
		return sspi.Errorf(sspi.ErrMutualAuthFailed, "pku2u: the AP-REP does not decrypt with the session key")
	}
	var enc messages.EncAPRepPart
	if err := enc.Unmarshal(pt); err != nil {
		return sspi.Errorf(sspi.ErrMutualAuthFailed, "pku2u: AP-REP: %v", err)
	}
	if !enc.CTime.Equal(c.ctime) || enc.Cusec != c.cusec {
		return sspi.Errorf(sspi.ErrMutualAuthFailed, "pku2u: the AP-REP answers another authenticator")
	}
	if enc.Subkey.KeyType == 0 || len(enc.Subkey.KeyValue) == 0 {
		return sspi.Errorf(sspi.ErrMutualAuthFailed, "pku2u: the AP-REP carries no acceptor subkey")
	}
	if _, err := crypto.GetEtype(enc.Subkey.KeyType); err != nil || !offered(offeredEtypes, enc.Subkey.KeyType) {
		return sspi.Errorf(sspi.ErrKDCUnknownEtype, "pku2u: acceptor subkey of enctype %d", enc.Subkey.KeyType)
	}
	if err := c.newSession(enc.Subkey, c.seq, uint64(uint32(enc.SequenceNumber))); err != nil {
		return err
	}
	c.verifyKey = keyOf(enc.Subkey)
	clear(c.subkey.KeyValue)
	c.subkey = types.EncryptionKey{}
	return nil
}

// targetName turns a target ("host/name", "service@host", "name") into the sname of
// the AS-REQ, of type KRB_NT_SRV_HST as Windows' host-based names are.
func targetName(t string) types.PrincipalName {
	if i := strings.LastIndex(t, "@"); i > 0 && strings.Contains(t[:i], "/") {
		t = t[:i] // "host/name@REALM"
	}
	if svc, host, ok := strings.Cut(t, "@"); ok && !strings.Contains(svc, "/") && host != "" {
		t = svc + "/" + host
	}
	if t == "" {
		return types.PrincipalName{NameType: ntWellKnown, NameString: []string{"WELLKNOWN", "NULL"}}
	}
	return types.PrincipalName{NameType: ntSrvHst, NameString: strings.Split(t, "/")}
}

// targetHost is the host a target names, for the certificate check.
func targetHost(t string) string {
	n := targetName(t)
	if n.NameType != ntSrvHst {
		return ""
	}
	h := n.NameString[len(n.NameString)-1]
	if i := strings.LastIndex(h, ":"); i > 0 && !strings.Contains(h[i:], "]") {
		h = h[:i] // a port, as HTTP targets may carry
	}
	return h
}
