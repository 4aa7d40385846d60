package kerberos

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	gasn1 "github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// DER encoders for the messages the AP exchange builds on every handshake: the
// authenticator, the AP-REQ around an already encoded ticket, EncAPRepPart and the
// AP-REP. They produce the bytes gokrb5's reflection-based Marshal produces (tests
// compare them) into one buffer, without gokrb5's reflection or cryptobyte's builders.

const tagGeneralString = cbasn1.Tag(27)

func appTag(n int) cbasn1.Tag { return cbasn1.Tag(0x40 | n).Constructed() }

func ctxTag(n int) cbasn1.Tag { return cbasn1.Tag(n).ContextSpecific().Constructed() }

// derWriter appends DER to one buffer. open writes a tag and a one-byte length and
// returns where the content starts; close fixes the length, moving the content when
// the length needs more bytes.
type derWriter struct{ b []byte }

func (w *derWriter) open(tag cbasn1.Tag) int {
	w.b = append(w.b, byte(tag), 0)
	return len(w.b)
}

func (w *derWriter) close(start int) {
	n := len(w.b) - start
	if n < 0x80 {
		w.b[start-1] = byte(n)
		return
	}
	l := 1
	for v := n >> 8; v > 0; v >>= 8 {
		l++
	}
	for range l {
		w.b = append(w.b, 0)
	}
	copy(w.b[start+l:], w.b[start:start+n])
	w.b[start-1] = 0x80 | byte(l)
	for i := range l {
		w.b[start+i] = byte(n >> (8 * (l - 1 - i)))
	}
}

// prim writes a primitive element.
func (w *derWriter) prim(tag cbasn1.Tag, v []byte) {
	at := w.open(tag)
	w.b = append(w.b, v...)
	w.close(at)
}

// integer writes an INTEGER in its minimal two's complement form.
func (w *derWriter) integer(v int64) {
	n := 1
	for n < 8 && (v>>(8*n-1) != 0 && v>>(8*n-1) != -1) {
		n++
	}
	w.b = append(w.b, byte(cbasn1.INTEGER), byte(n))
	for i := n - 1; i >= 0; i-- {
		w.b = append(w.b, byte(v>>(8*i)))
	}
}

func (w *derWriter) explicitInt(n int, v int64) {
	at := w.open(ctxTag(n))
	w.integer(v)
	w.close(at)
}

func (w *derWriter) explicitOctets(n int, v []byte) {
	at := w.open(ctxTag(n))
	w.prim(cbasn1.OCTET_STRING, v)
	w.close(at)
}

func (w *derWriter) generalString(s string) {
	at := w.open(tagGeneralString)
	w.b = append(w.b, s...)
	w.close(at)
}

func (w *derWriter) explicitString(n int, s string) {
	at := w.open(ctxTag(n))
	w.generalString(s)
	w.close(at)
}

// explicitTime writes a KerberosTime (GeneralizedTime without fractions, UTC).
func (w *derWriter) explicitTime(n int, t time.Time) {
	at := w.open(ctxTag(n))
	in := w.open(cbasn1.GeneralizedTime)
	w.b = t.UTC().AppendFormat(w.b, "20060102150405Z")
	w.close(in)
	w.close(at)
}

func (w *derWriter) explicitPrincipal(n int, p types.PrincipalName) {
	at := w.open(ctxTag(n))
	seq := w.open(cbasn1.SEQUENCE)
	w.explicitInt(0, int64(p.NameType))
	names := w.open(ctxTag(1))
	list := w.open(cbasn1.SEQUENCE)
	for _, s := range p.NameString {
		w.generalString(s)
	}
	w.close(list)
	w.close(names)
	w.close(seq)
	w.close(at)
}

// typedOctets writes a SEQUENCE { [0] INTEGER, [1] OCTET STRING }: EncryptionKey,
// Checksum, AuthorizationData's entries.
func (w *derWriter) typedOctets(t int32, v []byte) {
	seq := w.open(cbasn1.SEQUENCE)
	w.explicitInt(0, int64(t))
	w.explicitOctets(1, v)
	w.close(seq)
}

func (w *derWriter) explicitTypedOctets(n int, t int32, v []byte) {
	at := w.open(ctxTag(n))
	w.typedOctets(t, v)
	w.close(at)
}

func (w *derWriter) explicitEncryptedData(n int, ed types.EncryptedData) {
	at := w.open(ctxTag(n))
	seq := w.open(cbasn1.SEQUENCE)
	w.explicitInt(0, int64(ed.EType))
	if ed.KVNO != 0 {
		w.explicitInt(1, int64(ed.KVNO))
	}
	w.explicitOctets(2, ed.Cipher)
	w.close(seq)
	w.close(at)
}

// gokrb5 leaves an optional field out when it has its zero value; so do we.

func keyIsZero(k types.EncryptionKey) bool { return k.KeyType == 0 && len(k.KeyValue) == 0 }

func checksumIsZero(c types.Checksum) bool { return c.CksumType == 0 && len(c.Checksum) == 0 }

// marshalAuthenticator encodes an Authenticator (RFC 4120 5.5.1, APPLICATION 2).
func marshalAuthenticator(a *types.Authenticator) []byte {
	w := derWriter{b: make([]byte, 0, 256)}
	app := w.open(appTag(asnAppTag.Authenticator))
	seq := w.open(cbasn1.SEQUENCE)
	w.explicitInt(0, int64(a.AVNO))
	w.explicitString(1, a.CRealm)
	w.explicitPrincipal(2, a.CName)
	if !checksumIsZero(a.Cksum) {
		w.explicitTypedOctets(3, a.Cksum.CksumType, a.Cksum.Checksum)
	}
	w.explicitInt(4, int64(a.Cusec))
	w.explicitTime(5, a.CTime)
	if !keyIsZero(a.SubKey) {
		w.explicitTypedOctets(6, a.SubKey.KeyType, a.SubKey.KeyValue)
	}
	if a.SeqNumber != 0 {
		w.explicitInt(7, a.SeqNumber)
	}
	if len(a.AuthorizationData) > 0 {
		at := w.open(ctxTag(8))
		list := w.open(cbasn1.SEQUENCE)
		for _, e := range a.AuthorizationData {
			w.typedOctets(e.ADType, e.ADData)
		}
		w.close(list)
		w.close(at)
	}
	w.close(seq)
	w.close(app)
	return w.b
}

// marshalAPReq encodes an AP-REQ (RFC 4120 5.5.1, APPLICATION 14) around a ticket
// already encoded (APPLICATION 1); apOptions are the 32 bits of ap-options.
func marshalAPReq(apOptions []byte, ticket []byte, auth types.EncryptedData) []byte {
	w := derWriter{b: make([]byte, 0, len(ticket)+len(auth.Cipher)+64)}
	app := w.open(appTag(asnAppTag.APREQ))
	seq := w.open(cbasn1.SEQUENCE)
	w.explicitInt(0, iana.PVNO)
	w.explicitInt(1, msgtype.KRB_AP_REQ)
	opts := w.open(ctxTag(2))
	bits := w.open(cbasn1.BIT_STRING)
	w.b = append(append(w.b, 0), apOptions...)
	w.close(bits)
	w.close(opts)
	tkt := w.open(ctxTag(3))
	w.b = append(w.b, ticket...)
	w.close(tkt)
	w.explicitEncryptedData(4, auth)
	w.close(seq)
	w.close(app)
	return w.b
}

// marshalEncAPRepPart encodes EncAPRepPart (RFC 4120 5.5.2, APPLICATION 27).
func marshalEncAPRepPart(e *messages.EncAPRepPart) []byte {
	w := derWriter{b: make([]byte, 0, 96)}
	app := w.open(appTag(asnAppTag.EncAPRepPart))
	seq := w.open(cbasn1.SEQUENCE)
	w.explicitTime(0, e.CTime)
	w.explicitInt(1, int64(e.Cusec))
	if !keyIsZero(e.Subkey) {
		w.explicitTypedOctets(2, e.Subkey.KeyType, e.Subkey.KeyValue)
	}
	if e.SequenceNumber != 0 {
		w.explicitInt(3, e.SequenceNumber)
	}
	w.close(seq)
	w.close(app)
	return w.b
}

// marshalAPRep encodes an AP-REP (RFC 4120 5.5.2, APPLICATION 15).
func marshalAPRep(enc types.EncryptedData) []byte {
	w := derWriter{b: make([]byte, 0, len(enc.Cipher)+32)}
	app := w.open(appTag(asnAppTag.APREP))
	seq := w.open(cbasn1.SEQUENCE)
	w.explicitInt(0, iana.PVNO)
	w.explicitInt(1, msgtype.KRB_AP_REP)
	w.explicitEncryptedData(2, enc)
	w.close(seq)
	w.close(app)
	return w.b
}

// Decoders for the messages the AP exchange receives, the counterparts of gokrb5's
// Unmarshal (same Go types and field semantics, DER only: minimal lengths and integers,
// GeneralizedTime without fractions; a KerberosString may come as any of the string types
// gokrb5 takes but BMPString). Like gokrb5, they refuse unknown fields at the end of a
// SEQUENCE and ignore bytes after the message. FuzzDecoders checks them against gokrb5.

var errDER = errors.New("malformed DER")

type derString = cryptobyte.String

// explicitIn reads [n] EXPLICIT and returns its content.
func explicitIn(s *derString, n int) (derString, bool) {
	var in derString
	return in, s.ReadASN1(&in, ctxTag(n))
}

// optionalIn reads [n] EXPLICIT if it is there.
func optionalIn(s *derString, n int) (in derString, present, ok bool) {
	ok = s.ReadOptionalASN1(&in, &present, ctxTag(n))
	return in, present, ok
}

// readInt reads an INTEGER into out (*int, *int32 or *int64) that fills in.
func readInt(in derString, out any) bool {
	switch p := out.(type) {
	case *int:
		var v int64
		if !in.ReadASN1Integer(&v) {
			return false
		}
		*p = int(v)
	default:
		if !in.ReadASN1Integer(out) {
			return false
		}
	}
	return in.Empty()
}

func explicitInt(s *derString, n int, out any) bool {
	in, ok := explicitIn(s, n)
	return ok && readInt(in, out)
}

func readOctets(in derString, out *[]byte) bool {
	var v derString
	if !in.ReadASN1(&v, cbasn1.OCTET_STRING) || !in.Empty() {
		return false
	}
	*out = bytes.Clone(v)
	return true
}

// readKerberosString reads a KerberosString: GeneralString as RFC 4120 says, or another
// string type as gokrb5 accepts.
func readKerberosString(s *derString, out *string) bool {
	var v derString
	var tag cbasn1.Tag
	if !s.ReadAnyASN1(&v, &tag) {
		return false
	}
	switch tag {
	case tagGeneralString, cbasn1.UTF8String, cbasn1.PrintableString, cbasn1.IA5String, cbasn1.Tag(20), cbasn1.Tag(18):
	default:
		return false
	}
	if tag == cbasn1.UTF8String && !utf8.Valid(v) {
		return false
	}
	*out = string(v)
	return true
}

func explicitString(s *derString, n int, out *string) bool {
	in, ok := explicitIn(s, n)
	return ok && readKerberosString(&in, out) && in.Empty()
}

func readTime(in derString, out *time.Time) bool {
	return in.ReadASN1GeneralizedTime(out) && in.Empty()
}

func readBitString(in derString, out *gasn1.BitString) bool {
	var bs asn1.BitString
	if !in.ReadASN1BitString(&bs) || !in.Empty() {
		return false
	}
	*out = gasn1.BitString{Bytes: bytes.Clone(bs.Bytes), BitLength: bs.BitLength}
	return true
}

// readSequence reads a SEQUENCE and returns its content.
func readSequence(in *derString) (derString, bool) {
	var seq derString
	return seq, in.ReadASN1(&seq, cbasn1.SEQUENCE)
}

func readPrincipal(in derString, p *types.PrincipalName) bool {
	seq, ok := readSequence(&in)
	if !ok || !in.Empty() || !explicitInt(&seq, 0, &p.NameType) {
		return false
	}
	names, ok := explicitIn(&seq, 1)
	if !ok {
		return false
	}
	list, ok := readSequence(&names)
	if !ok || !names.Empty() {
		return false
	}
	p.NameString = nil
	for !list.Empty() {
		var s string
		if !readKerberosString(&list, &s) {
			return false
		}
		p.NameString = append(p.NameString, s)
	}
	return seq.Empty()
}

// readTypedOctets reads SEQUENCE { [0] Int32, [1] OCTET STRING }.
func readTypedOctets(in *derString, t *int32, v *[]byte) bool {
	seq, ok := readSequence(in)
	if !ok || !explicitInt(&seq, 0, t) {
		return false
	}
	o, ok := explicitIn(&seq, 1)
	return ok && readOctets(o, v) && seq.Empty()
}

func readKey(in derString, k *types.EncryptionKey) bool {
	return readTypedOctets(&in, &k.KeyType, &k.KeyValue) && in.Empty()
}

func readEncryptedData(in derString, ed *types.EncryptedData) bool {
	seq, ok := readSequence(&in)
	if !ok || !in.Empty() || !explicitInt(&seq, 0, &ed.EType) {
		return false
	}
	kvno, present, ok := optionalIn(&seq, 1)
	if !ok || present && !readInt(kvno, &ed.KVNO) {
		return false
	}
	c, ok := explicitIn(&seq, 2)
	return ok && readOctets(c, &ed.Cipher) && seq.Empty()
}

// readAuthzData reads AuthorizationData (and HostAddresses, of the same shape).
func readAuthzData(in derString) (types.AuthorizationData, bool) {
	list, ok := readSequence(&in)
	if !ok || !in.Empty() {
		return nil, false
	}
	var ad types.AuthorizationData
	for !list.Empty() {
		var e types.AuthorizationDataEntry
		if !readTypedOctets(&list, &e.ADType, &e.ADData) {
			return nil, false
		}
		ad = append(ad, e)
	}
	return ad, true
}

// appSequence reads [APPLICATION n] SEQUENCE and returns the SEQUENCE's content.
func appSequence(b []byte, n int) (derString, bool) {
	s := derString(b)
	var app derString
	if !s.ReadASN1(&app, appTag(n)) {
		return nil, false
	}
	seq, ok := readSequence(&app)
	return seq, ok && app.Empty()
}

func readTicket(in derString, t *messages.Ticket) bool {
	var app derString
	if !in.ReadASN1(&app, appTag(asnAppTag.Ticket)) || !in.Empty() {
		return false
	}
	seq, ok := readSequence(&app)
	if !ok || !app.Empty() || !explicitInt(&seq, 0, &t.TktVNO) || !explicitString(&seq, 1, &t.Realm) {
		return false
	}
	sname, ok := explicitIn(&seq, 2)
	if !ok || !readPrincipal(sname, &t.SName) {
		return false
	}
	ed, ok := explicitIn(&seq, 3)
	return ok && readEncryptedData(ed, &t.EncPart) && seq.Empty()
}

// parseAPReq decodes an AP-REQ (with its ticket, not decrypted).
func parseAPReq(b []byte) (messages.APReq, error) {
	var r messages.APReq
	seq, ok := appSequence(b, asnAppTag.APREQ)
	if !ok || !explicitInt(&seq, 0, &r.PVNO) || !explicitInt(&seq, 1, &r.MsgType) {
		return r, errDER
	}
	if r.MsgType != msgtype.KRB_AP_REQ {
		return r, fmt.Errorf("message type %d is not an AP-REQ", r.MsgType)
	}
	opts, ok := explicitIn(&seq, 2)
	if !ok || !readBitString(opts, &r.APOptions) {
		return r, errDER
	}
	tkt, ok := explicitIn(&seq, 3)
	if !ok || !readTicket(tkt, &r.Ticket) {
		return r, errDER
	}
	ed, ok := explicitIn(&seq, 4)
	if !ok || !readEncryptedData(ed, &r.EncryptedAuthenticator) || !seq.Empty() {
		return r, errDER
	}
	return r, nil
}

// parseEncTicketPart decodes a ticket's decrypted part.
func parseEncTicketPart(b []byte) (messages.EncTicketPart, error) {
	var e messages.EncTicketPart
	seq, ok := appSequence(b, asnAppTag.EncTicketPart)
	if !ok {
		return e, errDER
	}
	fl, ok := explicitIn(&seq, 0)
	if !ok || !readBitString(fl, &e.Flags) {
		return e, errDER
	}
	k, ok := explicitIn(&seq, 1)
	if !ok || !readKey(k, &e.Key) || !explicitString(&seq, 2, &e.CRealm) {
		return e, errDER
	}
	cn, ok := explicitIn(&seq, 3)
	if !ok || !readPrincipal(cn, &e.CName) {
		return e, errDER
	}
	tr, ok := explicitIn(&seq, 4)
	if !ok || !readTypedOctets(&tr, &e.Transited.TRType, &e.Transited.Contents) || !tr.Empty() {
		return e, errDER
	}
	at, ok := explicitIn(&seq, 5)
	if !ok || !readTime(at, &e.AuthTime) {
		return e, errDER
	}
	if st, present, ok := optionalIn(&seq, 6); !ok || present && !readTime(st, &e.StartTime) {
		return e, errDER
	}
	et, ok := explicitIn(&seq, 7)
	if !ok || !readTime(et, &e.EndTime) {
		return e, errDER
	}
	if rt, present, ok := optionalIn(&seq, 8); !ok || present && !readTime(rt, &e.RenewTill) {
		return e, errDER
	}
	if ca, present, ok := optionalIn(&seq, 9); !ok {
		return e, errDER
	} else if present {
		ad, ok := readAuthzData(ca)
		if !ok {
			return e, errDER
		}
		for _, a := range ad {
			e.CAddr = append(e.CAddr, types.HostAddress{AddrType: a.ADType, Address: a.ADData})
		}
	}
	if az, present, ok := optionalIn(&seq, 10); !ok {
		return e, errDER
	} else if present {
		if e.AuthorizationData, ok = readAuthzData(az); !ok {
			return e, errDER
		}
	}
	if !seq.Empty() {
		return e, errDER
	}
	return e, nil
}

// parseAuthenticator decodes a decrypted authenticator.
func parseAuthenticator(b []byte) (types.Authenticator, error) {
	var a types.Authenticator
	seq, ok := appSequence(b, asnAppTag.Authenticator)
	if !ok || !explicitInt(&seq, 0, &a.AVNO) || !explicitString(&seq, 1, &a.CRealm) {
		return a, errDER
	}
	cn, ok := explicitIn(&seq, 2)
	if !ok || !readPrincipal(cn, &a.CName) {
		return a, errDER
	}
	if ck, present, ok := optionalIn(&seq, 3); !ok || present && (!readTypedOctets(&ck, &a.Cksum.CksumType, &a.Cksum.Checksum) || !ck.Empty()) {
		return a, errDER
	}
	if !explicitInt(&seq, 4, &a.Cusec) {
		return a, errDER
	}
	ct, ok := explicitIn(&seq, 5)
	if !ok || !readTime(ct, &a.CTime) {
		return a, errDER
	}
	if sk, present, ok := optionalIn(&seq, 6); !ok || present && !readKey(sk, &a.SubKey) {
		return a, errDER
	}
	if sn, present, ok := optionalIn(&seq, 7); !ok || present && !readInt(sn, &a.SeqNumber) {
		return a, errDER
	}
	if az, present, ok := optionalIn(&seq, 8); !ok {
		return a, errDER
	} else if present {
		if a.AuthorizationData, ok = readAuthzData(az); !ok {
			return a, errDER
		}
	}
	if !seq.Empty() {
		return a, errDER
	}
	return a, nil
}

// parseAPRep decodes an AP-REP.
func parseAPRep(b []byte) (messages.APRep, error) {
	var r messages.APRep
	seq, ok := appSequence(b, asnAppTag.APREP)
	if !ok || !explicitInt(&seq, 0, &r.PVNO) || !explicitInt(&seq, 1, &r.MsgType) {
		return r, errDER
	}
	if r.MsgType != msgtype.KRB_AP_REP {
		return r, fmt.Errorf("message type %d is not an AP-REP", r.MsgType)
	}
	ed, ok := explicitIn(&seq, 2)
	if !ok || !readEncryptedData(ed, &r.EncPart) || !seq.Empty() {
		return r, errDER
	}
	return r, nil
}

// parseEncAPRepPart decodes an AP-REP's decrypted part.
func parseEncAPRepPart(b []byte) (messages.EncAPRepPart, error) {
	var e messages.EncAPRepPart
	seq, ok := appSequence(b, asnAppTag.EncAPRepPart)
	if !ok {
		return e, errDER
	}
	ct, ok := explicitIn(&seq, 0)
	if !ok || !readTime(ct, &e.CTime) || !explicitInt(&seq, 1, &e.Cusec) {
		return e, errDER
	}
	if sk, present, ok := optionalIn(&seq, 2); !ok || present && !readKey(sk, &e.Subkey) {
		return e, errDER
	}
	if sn, present, ok := optionalIn(&seq, 3); !ok || present && !readInt(sn, &e.SequenceNumber) || !seq.Empty() {
		return e, errDER
	}
	return e, nil
}
