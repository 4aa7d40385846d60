package pkinit

import (
	"encoding/asn1"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/jcmturner/gokrb5/v8/types"
)

// InitiatorMetaData is the PKU2U auth scheme's meta-data in the initiator's NegoEx
// INITIATOR_META_DATA message (draft-zhu-pku2u-09 section 6, as Windows sends it):
//
//	SEQUENCE {
//	    [0] SEQUENCE OF ExternalPrincipalIdentifier,  -- trusted issuers
//	    [1] SEQUENCE { [0] Realm, [1] PrincipalName }  -- the target
//	}
//
// Windows names each trusted issuer by subjectName only (the DER Name of the
// certification authority, e.g. CN=MS-Organization-P2P-Access [2021]). These are
// certificate-selection hints, not authentication.
type InitiatorMetaData struct {
	// TrustedCertifiers name the certification authorities the initiator trusts.
	TrustedCertifiers []ExternalPrincipalIdentifier
	// TargetRealm and TargetName name the acceptor (Windows: WELLKNOWN:PKU2U and an
	// NT-SRV-INST name such as TERMSRV/host). An empty TargetRealm with no name
	// strings omits the [1] element.
	TargetRealm string
	// TargetName is the acceptor's principal name.
	TargetName types.PrincipalName
}

// AcceptorMetaData is the PKU2U meta-data in the acceptor's ACCEPTOR_META_DATA
// message: SEQUENCE { [0] SEQUENCE OF ExternalPrincipalIdentifier }.
type AcceptorMetaData struct {
	// TrustedCertifiers name the certification authorities the acceptor trusts.
	TrustedCertifiers []ExternalPrincipalIdentifier
}

type principalNameASN1 struct {
	NameType   int32           `asn1:"explicit,tag:0"`
	NameString []asn1.RawValue `asn1:"explicit,tag:1"`
}

type krb5PrincipalNameASN1 struct {
	// Realm is the whole [0] EXPLICIT Realm element: encoding/asn1 ignores the
	// explicit tag of a RawValue field, so it is wrapped and unwrapped by hand (see
	// explicitRealm and realmOf).
	Realm         asn1.RawValue     `asn1:"tag:0"`
	PrincipalName principalNameASN1 `asn1:"explicit,tag:1"`
}

type initiatorMetaDataASN1 struct {
	TrustedCertifiers []externalPrincipalIdentifierASN1 `asn1:"explicit,tag:0"`
	Target            krb5PrincipalNameASN1             `asn1:"optional,explicit,tag:1"`
}

type acceptorMetaDataASN1 struct {
	TrustedCertifiers []externalPrincipalIdentifierASN1 `asn1:"explicit,tag:0"`
}

// generalString encodes a KerberosString: a GeneralString, holding UTF-8 as Windows
// and MIT put there for names that are not ASCII.
func generalString(s string) (asn1.RawValue, error) {
	if !utf8.ValidString(s) {
		return asn1.RawValue{}, errors.New("pkinit: KerberosString is not UTF-8")
	}
	return asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagGeneralString, Bytes: []byte(s)}, nil
}

// explicitRealm encodes [0] EXPLICIT Realm.
func explicitRealm(realm string) (asn1.RawValue, error) {
	gs, err := generalString(realm)
	if err != nil {
		return asn1.RawValue{}, err
	}
	inner, err := marshal(gs, "Realm")
	if err != nil {
		return asn1.RawValue{}, err
	}
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}, nil
}

// realmOf decodes [0] EXPLICIT Realm.
func realmOf(rv asn1.RawValue) (string, error) {
	if !rv.IsCompound {
		return "", fmt.Errorf("%w: realm [0] is not constructed", ErrMalformed)
	}
	var gs asn1.RawValue
	if err := unmarshalAll(rv.Bytes, &gs, "Realm"); err != nil {
		return "", err
	}
	return kerberosString(gs)
}

// kerberosString decodes a KerberosString; GeneralString is what RFC 4120 sends, and
// UTF8String and IA5String are accepted too.
func kerberosString(rv asn1.RawValue) (string, error) {
	if rv.Class != asn1.ClassUniversal || rv.IsCompound ||
		(rv.Tag != asn1.TagGeneralString && rv.Tag != asn1.TagUTF8String && rv.Tag != asn1.TagIA5String) {
		return "", fmt.Errorf("%w: not a KerberosString", ErrMalformed)
	}
	if !utf8.Valid(rv.Bytes) {
		return "", fmt.Errorf("%w: KerberosString is not UTF-8", ErrMalformed)
	}
	return string(rv.Bytes), nil
}

func nonNilEPIs(ids []ExternalPrincipalIdentifier) []externalPrincipalIdentifierASN1 {
	w := episToASN1(ids)
	if w == nil {
		w = []externalPrincipalIdentifierASN1{}
	}
	return w
}

// Marshal encodes the initiator meta-data.
func (m *InitiatorMetaData) Marshal() ([]byte, error) {
	w := initiatorMetaDataASN1{TrustedCertifiers: nonNilEPIs(m.TrustedCertifiers)}
	if m.TargetRealm != "" || len(m.TargetName.NameString) != 0 {
		realm, err := explicitRealm(m.TargetRealm)
		if err != nil {
			return nil, err
		}
		w.Target.Realm = realm
		w.Target.PrincipalName.NameType = m.TargetName.NameType
		w.Target.PrincipalName.NameString = []asn1.RawValue{}
		for _, s := range m.TargetName.NameString {
			gs, err := generalString(s)
			if err != nil {
				return nil, err
			}
			w.Target.PrincipalName.NameString = append(w.Target.PrincipalName.NameString, gs)
		}
	}
	return marshal(w, "PKU2U initiator meta-data")
}

// Unmarshal decodes initiator meta-data.
func (m *InitiatorMetaData) Unmarshal(b []byte) error {
	var w initiatorMetaDataASN1
	if err := unmarshalAll(b, &w, "PKU2U initiator meta-data"); err != nil {
		return err
	}
	v := InitiatorMetaData{TrustedCertifiers: episFromASN1(w.TrustedCertifiers)}
	if w.Target.Realm.FullBytes != nil {
		realm, err := realmOf(w.Target.Realm)
		if err != nil {
			return err
		}
		v.TargetRealm = realm
		v.TargetName.NameType = w.Target.PrincipalName.NameType
		for _, rv := range w.Target.PrincipalName.NameString {
			s, err := kerberosString(rv)
			if err != nil {
				return err
			}
			v.TargetName.NameString = append(v.TargetName.NameString, s)
		}
	}
	*m = v
	return nil
}

// Marshal encodes the acceptor meta-data.
func (m *AcceptorMetaData) Marshal() ([]byte, error) {
	return marshal(acceptorMetaDataASN1{TrustedCertifiers: nonNilEPIs(m.TrustedCertifiers)}, "PKU2U acceptor meta-data")
}

// Unmarshal decodes acceptor meta-data. Initiator meta-data is accepted too (its
// target is ignored), as both start with the same element.
func (m *AcceptorMetaData) Unmarshal(b []byte) error {
	var w initiatorMetaDataASN1
	if err := unmarshalAll(b, &w, "PKU2U acceptor meta-data"); err != nil {
		return err
	}
	*m = AcceptorMetaData{TrustedCertifiers: episFromASN1(w.TrustedCertifiers)}
	return nil
}
