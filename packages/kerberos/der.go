package kerberos

import (
	"time"

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
