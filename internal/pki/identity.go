package pki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Identity names the peer a certificate authenticates.
type Identity struct {
	// Name is what an application shows: the UPN when the certificate has one (Windows
	// user certificates), else the first DNS name (Windows device certificates), else
	// the subject's common name.
	Name string
	// UPN is the first user principal name of the subject alternative name (otherName
	// 1.3.6.1.4.1.311.20.2.3, a UTF8String), or "".
	UPN string
	// DNSNames are the subject alternative name's dNSNames, as written.
	DNSNames []string
	// Subject and Issuer are the leaf's distinguished names in RFC 4514 form, every
	// attribute kept (DC=<tenant>, both CNs of a Windows user certificate).
	Subject, Issuer string
	// Leaf is the peer's certificate.
	Leaf *x509.Certificate
	// Chain is the validated path, leaf first, trust anchor last; nil from IdentityOf.
	Chain []*x509.Certificate
}

// String returns Name.
func (id *Identity) String() string { return id.Name }

// IdentityOf names the subject of leaf as Verify does, without validating anything
// but the subject alternative name's encoding (ErrMalformed). It is for describing
// one's own certificate; a peer's must go through Verify.
func IdentityOf(leaf *x509.Certificate) (*Identity, error) {
	if leaf == nil {
		return nil, &CertificateError{Kind: ErrMalformed, Reason: "no certificate"}
	}
	upns, err := UPNs(leaf)
	if err != nil {
		return nil, err
	}
	id := &Identity{
		DNSNames: leaf.DNSNames,
		Subject:  FormatName(leaf.RawSubject),
		Issuer:   FormatName(leaf.RawIssuer),
		Leaf:     leaf,
	}
	if len(upns) > 0 {
		id.UPN = upns[0]
	}
	switch {
	case id.UPN != "":
		id.Name = id.UPN
	case len(id.DNSNames) > 0:
		id.Name = id.DNSNames[0]
	default:
		id.Name = leaf.Subject.CommonName
	}
	return id, nil
}

// UPNs returns the user principal names of c's subject alternative name extension:
// otherName entries of type 1.3.6.1.4.1.311.20.2.3 whose value is a UTF8String.
// crypto/x509 parses the extension but drops otherName, so it is walked here. A SAN
// that does not parse, or a UPN otherName of another shape, is ErrMalformed.
func UPNs(c *x509.Certificate) ([]string, error) {
	var upns []string
	for _, ext := range c.Extensions {
		if !ext.Id.Equal(oidExtSubjectAltName) {
			continue
		}
		var names []asn1.RawValue
		rest, err := asn1.Unmarshal(ext.Value, &names)
		if err == nil && len(rest) > 0 {
			err = errors.New("trailing data")
		}
		if err != nil {
			return nil, certErr(ErrMalformed, c, "subject alternative name does not parse", err)
		}
		for _, n := range names {
			if n.Class != asn1.ClassContextSpecific || n.Tag != 0 || !n.IsCompound {
				continue // not an otherName
			}
			oid, value, err := parseOtherName(n.Bytes)
			if err != nil {
				return nil, certErr(ErrMalformed, c, "subject alternative name otherName does not parse", err)
			}
			if !oid.Equal(OIDMSUPN) {
				continue
			}
			upn, err := parseUTF8String(value)
			if err != nil {
				return nil, certErr(ErrMalformed, c, "UPN otherName", err)
			}
			upns = append(upns, upn)
		}
	}
	return upns, nil
}

// parseOtherName splits the contents of OtherName ::= SEQUENCE { type-id OBJECT
// IDENTIFIER, value [0] EXPLICIT ANY } into the type and the explicit value's contents.
func parseOtherName(b []byte) (asn1.ObjectIdentifier, []byte, error) {
	var oid asn1.ObjectIdentifier
	rest, err := asn1.Unmarshal(b, &oid)
	if err != nil {
		return nil, nil, fmt.Errorf("type-id: %w", err)
	}
	var v asn1.RawValue
	rest, err = asn1.Unmarshal(rest, &v)
	if err != nil {
		return nil, nil, fmt.Errorf("value: %w", err)
	}
	if v.Class != asn1.ClassContextSpecific || v.Tag != 0 || !v.IsCompound {
		return nil, nil, fmt.Errorf("value is not [0] EXPLICIT (class %d, tag %d)", v.Class, v.Tag)
	}
	if len(rest) > 0 {
		return nil, nil, errors.New("trailing data")
	}
	return oid, v.Bytes, nil
}

// parseUTF8String parses one DER UTF8String filling b.
func parseUTF8String(b []byte) (string, error) {
	var v asn1.RawValue
	rest, err := asn1.Unmarshal(b, &v)
	if err != nil {
		return "", err
	}
	if len(rest) > 0 {
		return "", errors.New("trailing data")
	}
	if v.Class != asn1.ClassUniversal || v.Tag != asn1.TagUTF8String || v.IsCompound {
		return "", fmt.Errorf("value is not a UTF8String (class %d, tag %d)", v.Class, v.Tag)
	}
	if !utf8.Valid(v.Bytes) {
		return "", errors.New("invalid UTF-8")
	}
	return string(v.Bytes), nil
}

// marshalSAN encodes a subject alternative name with an optional UPN otherName and
// dNSNames, in that order (Windows' order).
func marshalSAN(upn string, dnsNames []string) ([]byte, error) {
	var names []asn1.RawValue
	if upn != "" {
		if !utf8.ValidString(upn) {
			return nil, errors.New("pki: UPN is not valid UTF-8")
		}
		value, err := asn1.MarshalWithParams(upn, "utf8")
		if err != nil {
			return nil, fmt.Errorf("pki: encoding the UPN: %w", err)
		}
		typeID, err := asn1.Marshal(OIDMSUPN)
		if err != nil {
			return nil, fmt.Errorf("pki: encoding the UPN: %w", err)
		}
		explicit, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: value})
		if err != nil {
			return nil, fmt.Errorf("pki: encoding the UPN: %w", err)
		}
		names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true,
			Bytes: append(typeID, explicit...)})
	}
	for _, d := range dnsNames {
		for i := 0; i < len(d); i++ {
			if d[i] >= utf8.RuneSelf {
				return nil, fmt.Errorf("pki: DNS name %q is not ASCII (use its A-label)", d)
			}
		}
		names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte(d)})
	}
	b, err := asn1.Marshal(names)
	if err != nil {
		return nil, fmt.Errorf("pki: encoding the subject alternative name: %w", err)
	}
	return b, nil
}

// attributeNames are the short names nameString writes: RFC 4514's, and emailAddress.
var attributeNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.5":                    "SERIALNUMBER",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.9":                    "STREET",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.17":                   "POSTALCODE",
	"0.9.2342.19200300.100.1.1":  "UID",
	"0.9.2342.19200300.100.1.25": "DC",
	"1.2.840.113549.1.9.1":       "emailAddress",
}

// FormatName renders a DER distinguished name (a certificate's RawSubject or
// RawIssuer, an issuer name from NegoEx meta-data) in RFC 4514 form with every
// attribute, most specific first, as OpenSSL's -nameopt RFC2253 does. pkix.Name.String
// keeps only one CN and writes DC as hex, which loses most of a Windows PKU2U subject
// (DC=<tenant>, CN=<SID>, CN=<UPN>). A name that does not parse comes out as far as
// pkix.Name understood it.
func FormatName(raw []byte) string {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &seq); err != nil || len(rest) > 0 {
		var n pkix.Name
		n.FillFromRDNSequence(&seq)
		return n.String()
	}
	var b strings.Builder
	for i := len(seq) - 1; i >= 0; i-- {
		if i < len(seq)-1 {
			b.WriteByte(',')
		}
		for j, atv := range seq[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			s, isString := atv.Value.(string)
			name, known := attributeNames[atv.Type.String()]
			if !known {
				name = atv.Type.String()
			}
			b.WriteString(name)
			b.WriteByte('=')
			if !isString || !known {
				der, err := asn1.Marshal(atv.Value)
				if err != nil {
					b.WriteString("#")
					continue
				}
				b.WriteString("#" + hex.EncodeToString(der))
				continue
			}
			b.WriteString(escapeAttribute(s))
		}
	}
	return b.String()
}

// escapeAttribute escapes an attribute value as RFC 4514 section 2.4 says.
func escapeAttribute(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == ',' || r == '+' || r == '"' || r == '\\' || r == '<' || r == '>' || r == ';',
			(r == ' ' || r == '#') && i == 0,
			r == ' ' && i == len(s)-1:
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\%02x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
