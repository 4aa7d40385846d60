package kerberos

import (
	"bytes"
	"context"
	"slices"
	"sync"

	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gossp/gossp/internal/rfc4121"
	"github.com/gossp/gossp/sspi"
)

// chksumGSS is the checksum type of the RFC 4121 authenticator checksum.
const chksumGSS = 0x8003

// Initiator is Kerberos' client context. Beyond sspi.Initiator it answers Context
// (AuthorizationData, EncType) and Wrap/Unwrap with an explicit sealing choice.
type Initiator struct{ ctxState }

// InitializeContext implements sspi.Initiator: the AP-REQ on the first call, and, when
// mutual authentication was requested, the check of the acceptor's AP-REP on the second.
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
			return c.fail(op, sspi.Errorf(sspi.ErrInvalidToken, "unexpected input on the first call"), nil)
		}
		out, err := c.apReq(ctx)
		if err != nil {
			return c.fail(op, err, nil)
		}
		if c.granted&sspi.FlagMutualAuth != 0 {
			c.phase = phaseWaitAPRep
			return out, sspi.StatusContinueNeeded, nil
		}
		// No AP-REP: both sides protect with the initiator's subkey, and the acceptor's
		// sequence numbers start where ours do.
		if err := c.newSession(c.subkey, false, c.seq, c.seq); err != nil {
			return c.fail(op, err, nil)
		}
		c.establish()
		return out, sspi.StatusOK, nil
	case phaseWaitAPRep:
		if err := c.apRep(input); err != nil {
			return c.fail(op, err, nil)
		}
		return nil, sspi.StatusOK, nil
	}
	return c.finished(op)
}

func (c *Initiator) apReq(ctx context.Context) ([]byte, error) {
	p := c.cred.pkg
	spn, err := spnFromTarget(c.cfg.Target)
	if err != nil {
		return nil, err
	}
	tkt, key, err := c.cred.src.ServiceTicket(ctx, spn)
	if err != nil {
		return nil, err
	}
	// The key may be shared with the ticket source's cache: work on a copy, which
	// establish wipes.
	key.KeyValue = append([]byte(nil), key.KeyValue...)
	cname, crealm := c.cred.src.Client()
	c.granted = grant(c.cfg.Flags)
	subkey, err := randKey(p.rand, key.KeyType)
	if err != nil {
		return nil, err
	}
	seq, err := randUint32(p.rand)
	if err != nil {
		return nil, err
	}
	now := p.now().UTC()
	gssFlags := (c.cfg.Flags & grantable).GSS()
	auth := types.Authenticator{
		AVNO:      iana.PVNO,
		CRealm:    crealm,
		CName:     cname,
		Cksum:     types.Checksum{CksumType: chksumGSS, Checksum: checksum8003(c.cfg.ChannelBindings, gssFlags)},
		Cusec:     now.Nanosecond() / 1000,
		CTime:     now.Truncate(1e9),
		SubKey:    subkey,
		SeqNumber: int64(seq),
	}
	tktDER, sessKey, err := c.cred.tickets.get(spn, &tkt, key)
	if err != nil {
		return nil, err
	}
	// Our RFC 3961 code rather than messages.NewAPReq's gokrb5 path, which derives the
	// usage keys with a slow n-fold for every message; the message is the same (kvno as
	// gokrb5 sets it).
	ct, err := sessKey.Encrypt(authenticatorUsage(tkt.SName), marshalAuthenticator(&auth))
	if err != nil {
		return nil, err
	}
	apOptions := types.NewKrbFlags()
	if c.granted&sspi.FlagMutualAuth != 0 {
		types.SetFlag(&apOptions, flags.APOptionMutualRequired)
	}
	b := marshalAPReq(apOptions.Bytes, tktDER, types.EncryptedData{EType: key.KeyType, Cipher: ct, KVNO: tkt.EncPart.KVNO})
	c.ticketKey, c.ticketCipher, c.subkey = key, sessKey, subkey
	c.ctime, c.cusec, c.seq = auth.CTime, auth.Cusec, uint64(seq)
	c.client = cname.PrincipalNameString() + "@" + crealm
	c.realm = crealm
	c.server = c.cfg.Target
	return frame(tokAPReq, b), nil
}

func (c *Initiator) apRep(input []byte) error {
	tokID, inner, err := ParseFrame(input)
	if err != nil {
		return err
	}
	switch tokID {
	case tokKRBError:
		var ke messages.KRBError
		if err := ke.Unmarshal(inner); err != nil {
			return sspi.Errorf(sspi.ErrInvalidToken, "KRB-ERROR: %v", err)
		}
		return sspi.Errorf(krbErrorStatus(ke.ErrorCode), "the acceptor refused: %v", ke)
	case tokAPRep:
	default:
		return sspi.Errorf(sspi.ErrInvalidToken, "token ID %04x, want an AP-REP", tokID)
	}
	rep, err := parseAPRep(inner)
	if err != nil {
		return sspi.Errorf(sspi.ErrInvalidToken, "AP-REP: %w", err)
	}
	pt, err := c.ticketCipher.Decrypt(keyusage.AP_REP_ENCPART, rep.EncPart.Cipher)
	if err != nil {
		return sspi.Errorf(sspi.ErrMutualAuthFailed, "the AP-REP does not decrypt with the session key")
	}
	enc, err := parseEncAPRepPart(pt)
	if err != nil {
		return sspi.Errorf(sspi.ErrMutualAuthFailed, "AP-REP: %v", err)
	}
	if !enc.CTime.Equal(c.ctime) || enc.Cusec != c.cusec {
		return sspi.Errorf(sspi.ErrMutualAuthFailed, "the AP-REP answers another authenticator")
	}
	key, accSub := c.subkey, false
	if enc.Subkey.KeyType != 0 && len(enc.Subkey.KeyValue) > 0 {
		key, accSub = enc.Subkey, true
	}
	if err := c.newSession(key, accSub, c.seq, uint64(uint32(enc.SequenceNumber))); err != nil {
		return err
	}
	c.establish()
	return nil
}

// authenticatorUsage is the key usage of an AP-REQ's authenticator: 7 inside a TGS-REQ
// (a krbtgt ticket), 11 otherwise (RFC 4120 7.5.1), as gokrb5 chooses it.
func authenticatorUsage(sname types.PrincipalName) uint32 {
	if len(sname.NameString) > 0 && sname.NameString[0] == "krbtgt" {
		return keyusage.TGS_REQ_PA_TGS_REQ_AP_REQ_AUTHENTICATOR
	}
	return keyusage.AP_REQ_AUTHENTICATOR
}

// ticketDER keeps, per SPN, the service ticket an initiator credential last used: its
// encoding and its session key ready for use (rfc4121.Key). The ticket a source returns
// stays the same until it expires; encoding it and deriving the session key's usage keys
// anew for every AP-REQ was a good part of the handshake's cost.
type ticketDER struct {
	mu sync.Mutex
	m  map[string]*encodedTicket
}

type encodedTicket struct {
	tkt messages.Ticket
	der []byte
	key types.EncryptionKey // a copy, to recognise the ticket's key
	k   *rfc4121.Key
}

// maxEncodedTickets bounds ticketDER; it starts over when full.
const maxEncodedTickets = 64

func sameTicket(a, b *messages.Ticket) bool {
	return a.TktVNO == b.TktVNO && a.Realm == b.Realm && a.SName.NameType == b.SName.NameType &&
		slices.Equal(a.SName.NameString, b.SName.NameString) && a.EncPart.EType == b.EncPart.EType &&
		a.EncPart.KVNO == b.EncPart.KVNO && bytes.Equal(a.EncPart.Cipher, b.EncPart.Cipher)
}

// get returns the DER of tkt and its session key ready for use, from the cache when tkt
// and key are what was last seen for spn.
func (t *ticketDER) get(spn string, tkt *messages.Ticket, key types.EncryptionKey) ([]byte, *rfc4121.Key, error) {
	t.mu.Lock()
	e := t.m[spn]
	t.mu.Unlock()
	if e != nil && sameTicket(&e.tkt, tkt) && e.key.KeyType == key.KeyType && bytes.Equal(e.key.KeyValue, key.KeyValue) {
		return e.der, e.k, nil
	}
	der, err := tkt.Marshal()
	if err != nil {
		return nil, nil, sspi.Errorf(sspi.ErrInternal, "ticket: %w", err)
	}
	k, err := rfc4121.NewKey(key)
	if err != nil {
		return nil, nil, err
	}
	e = &encodedTicket{tkt: *tkt, der: der, k: k,
		key: types.EncryptionKey{KeyType: key.KeyType, KeyValue: bytes.Clone(key.KeyValue)}}
	e.tkt.SName.NameString = slices.Clone(tkt.SName.NameString)
	e.tkt.EncPart.Cipher = bytes.Clone(tkt.EncPart.Cipher)
	e.tkt.DecryptedEncPart = messages.EncTicketPart{}
	t.mu.Lock()
	if t.m == nil || len(t.m) >= maxEncodedTickets {
		t.reset()
	}
	t.m[spn] = e
	t.mu.Unlock()
	return der, k, nil
}

// reset drops the entries and wipes their key copies (t.mu held). The rfc4121.Keys are
// left to the contexts that may still use them.
func (t *ticketDER) reset() {
	for _, e := range t.m {
		clear(e.key.KeyValue)
	}
	t.m = make(map[string]*encodedTicket)
}

// close empties the cache when the credential closes.
func (t *ticketDER) close() {
	t.mu.Lock()
	t.reset()
	t.mu.Unlock()
}
