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

	"github.com/gossp/gossp/sspi"
)

// DER encoders for the messages the AP exchange builds on every handshake: the
// authenticator, the AP-REQ around an already encoded ticket, EncAPRepPart and the
// AP-REP. They produce the bytes gokrb5's reflection-based Marshal produces (tests
// compare them), several times faster; gokrb5 still decodes.

const tagGeneralString = cbasn1.Tag(27)

func appTag(n int) cbasn1.Tag { return cbasn1.Tag(0x40 | n).Constructed() }

func ctxTag(n int) cbasn1.Tag { return cbasn1.Tag(n).ContextSpecific().Constructed() }

// explicit adds [n] EXPLICIT around what f adds.
func explicit(b *cryptobyte.Builder, n int, f cryptobyte.BuilderContinuation) {
	b.AddASN1(ctxTag(n), f)
}

func addInt(b *cryptobyte.Builder, n int, v int64) {
	explicit(b, n, func(b *cryptobyte.Builder) { b.AddASN1Int64(v) })
}

func addOctets(b *cryptobyte.Builder, n int, v []byte) {
	explicit(b, n, func(b *cryptobyte.Builder) { b.AddASN1OctetString(v) })
}

func addGeneralString(b *cryptobyte.Builder, n int, s string) {
	explicit(b, n, func(b *cryptobyte.Builder) {
		b.AddASN1(tagGeneralString, func(b *cryptobyte.Builder) { b.AddBytes([]byte(s)) })
	})
}

// addTime adds a KerberosTime (GeneralizedTime without fractions, UTC).
func addTime(b *cryptobyte.Builder, n int, t time.Time) {
	explicit(b, n, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.GeneralizedTime, func(b *cryptobyte.Builder) {
			b.AddBytes(t.UTC().AppendFormat(make([]byte, 0, 15), "20060102150405Z"))
		})
	})
}

func addPrincipal(b *cryptobyte.Builder, n int, p types.PrincipalName) {
	explicit(b, n, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addInt(b, 0, int64(p.NameType))
			explicit(b, 1, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					for _, s := range p.NameString {
						b.AddASN1(tagGeneralString, func(b *cryptobyte.Builder) { b.AddBytes([]byte(s)) })
					}
				})
			})
		})
	})
}

// addTypedOctets adds a SEQUENCE { [0] INTEGER, [1] OCTET STRING }: EncryptionKey,
// Checksum, AuthorizationData's entries.
func addTypedOctets(b *cryptobyte.Builder, t int32, v []byte) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		addInt(b, 0, int64(t))
		addOctets(b, 1, v)
	})
}

func addEncryptedData(b *cryptobyte.Builder, n int, ed types.EncryptedData) {
	explicit(b, n, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addInt(b, 0, int64(ed.EType))
			if ed.KVNO != 0 {
				addInt(b, 1, int64(ed.KVNO))
			}
			addOctets(b, 2, ed.Cipher)
		})
	})
}

// gokrb5 leaves an optional field out when it has its zero value; so do we.

func keyIsZero(k types.EncryptionKey) bool { return k.KeyType == 0 && len(k.KeyValue) == 0 }

func checksumIsZero(c types.Checksum) bool { return c.CksumType == 0 && len(c.Checksum) == 0 }

// marshalAuthenticator encodes an Authenticator (RFC 4120 5.5.1, APPLICATION 2).
func marshalAuthenticator(a *types.Authenticator) ([]byte, error) {
	b := cryptobyte.NewBuilder(make([]byte, 0, 256))
	b.AddASN1(appTag(asnAppTag.Authenticator), func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addInt(b, 0, int64(a.AVNO))
			addGeneralString(b, 1, a.CRealm)
			addPrincipal(b, 2, a.CName)
			if !checksumIsZero(a.Cksum) {
				explicit(b, 3, func(b *cryptobyte.Builder) { addTypedOctets(b, a.Cksum.CksumType, a.Cksum.Checksum) })
			}
			addInt(b, 4, int64(a.Cusec))
			addTime(b, 5, a.CTime)
			if !keyIsZero(a.SubKey) {
				explicit(b, 6, func(b *cryptobyte.Builder) { addTypedOctets(b, a.SubKey.KeyType, a.SubKey.KeyValue) })
			}
			if a.SeqNumber != 0 {
				addInt(b, 7, a.SeqNumber)
			}
			if len(a.AuthorizationData) > 0 {
				explicit(b, 8, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						for _, e := range a.AuthorizationData {
							addTypedOctets(b, e.ADType, e.ADData)
						}
					})
				})
			}
		})
	})
	return finish(b, "authenticator")
}

// marshalAPReq encodes an AP-REQ (RFC 4120 5.5.1, APPLICATION 14) around a ticket
// already encoded (APPLICATION 1); apOptions are the 32 bits of ap-options.
func marshalAPReq(apOptions []byte, ticket []byte, auth types.EncryptedData) ([]byte, error) {
	b := cryptobyte.NewBuilder(make([]byte, 0, len(ticket)+len(auth.Cipher)+64))
	b.AddASN1(appTag(asnAppTag.APREQ), func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addInt(b, 0, iana.PVNO)
			addInt(b, 1, msgtype.KRB_AP_REQ)
			explicit(b, 2, func(b *cryptobyte.Builder) { b.AddASN1BitString(apOptions) })
			explicit(b, 3, func(b *cryptobyte.Builder) { b.AddBytes(ticket) })
			addEncryptedData(b, 4, auth)
		})
	})
	return finish(b, "AP-REQ")
}

// marshalEncAPRepPart encodes EncAPRepPart (RFC 4120 5.5.2, APPLICATION 27).
func marshalEncAPRepPart(e *messages.EncAPRepPart) ([]byte, error) {
	b := cryptobyte.NewBuilder(make([]byte, 0, 96))
	b.AddASN1(appTag(asnAppTag.EncAPRepPart), func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addTime(b, 0, e.CTime)
			addInt(b, 1, int64(e.Cusec))
			if !keyIsZero(e.Subkey) {
				explicit(b, 2, func(b *cryptobyte.Builder) { addTypedOctets(b, e.Subkey.KeyType, e.Subkey.KeyValue) })
			}
			if e.SequenceNumber != 0 {
				addInt(b, 3, e.SequenceNumber)
			}
		})
	})
	return finish(b, "EncAPRepPart")
}

// marshalAPRep encodes an AP-REP (RFC 4120 5.5.2, APPLICATION 15).
func marshalAPRep(enc types.EncryptedData) ([]byte, error) {
	b := cryptobyte.NewBuilder(make([]byte, 0, len(enc.Cipher)+32))
	b.AddASN1(appTag(asnAppTag.APREP), func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			addInt(b, 0, iana.PVNO)
			addInt(b, 1, msgtype.KRB_AP_REP)
			addEncryptedData(b, 2, enc)
		})
	})
	return finish(b, "AP-REP")
}

func finish(b *cryptobyte.Builder, what string) ([]byte, error) {
	out, err := b.Bytes()
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrInternal, "encoding the %s: %w", what, err)
	}
	return out, nil
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
