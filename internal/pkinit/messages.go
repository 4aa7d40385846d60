package pkinit

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// ErrMalformed is wrapped by every Unmarshal error on input that is not the DER this
// package expects.
var ErrMalformed = errors.New("pkinit: malformed message")

// Object identifiers of RFC 4556, RFC 8636 and the key agreement algorithms.
var (
	// OIDPKAuthData is id-pkinit-authData, the eContentType of signedAuthPack.
	OIDPKAuthData = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 2, 3, 1}
	// OIDPKDHKeyData is id-pkinit-DHKeyData, the eContentType of dhSignedData.
	OIDPKDHKeyData = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 2, 3, 2}
	// OIDPKRKeyData is id-pkinit-rkeyData, the eContentType of encKeyPack's
	// SignedData (RSA key transport, not used by PKU2U).
	OIDPKRKeyData = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 2, 3, 3}
	// OIDDHPublicNumber is dhpublicnumber (ANSI X9.42, RFC 3279), the algorithm of a
	// finite-field Diffie-Hellman clientPublicValue.
	OIDDHPublicNumber = asn1.ObjectIdentifier{1, 2, 840, 10046, 2, 1}
	// OIDECPublicKey is id-ecPublicKey, the algorithm of an ECDH clientPublicValue
	// (RFC 5349).
	OIDECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	// OIDKDFSHA1 is id-pkinit-kdf-sha1 (RFC 8636).
	OIDKDFSHA1 = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 2, 3, 6, 1}
	// OIDKDFSHA256 is id-pkinit-kdf-sha256 (RFC 8636).
	OIDKDFSHA256 = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 2, 3, 6, 2}
	// OIDKDFSHA512 is id-pkinit-kdf-sha512 (RFC 8636).
	OIDKDFSHA512 = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 2, 3, 6, 3}
)

// Pre-authentication and typed-data numbers of RFC 4556.
const (
	// PADataPKASReq is PA_PK_AS_REQ, the padata-type of PA-PK-AS-REQ.
	PADataPKASReq = 16
	// PADataPKASRep is PA_PK_AS_REP, the padata-type of PA-PK-AS-REP.
	PADataPKASRep = 17
	// TDTrustedCertifiers is TD_TRUSTED_CERTIFIERS, typed data in a KRB-ERROR naming
	// the certification authorities the KDC (the PKU2U acceptor) trusts.
	TDTrustedCertifiers = 104
	// TDInvalidCertificates is TD_INVALID_CERTIFICATES, naming rejected certificates.
	TDInvalidCertificates = 105
	// TDDHParameters is TD_DH_PARAMETERS, the Diffie-Hellman groups a KDC accepts.
	TDDHParameters = 109
)

// unmarshalAll decodes exactly one DER value filling b into v.
func unmarshalAll(b []byte, v any, what string) error {
	rest, err := asn1.Unmarshal(b, v)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMalformed, what, err)
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %s: %d trailing bytes", ErrMalformed, what, len(rest))
	}
	return nil
}

func marshal(v any, what string) ([]byte, error) {
	b, err := asn1.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("pkinit: encoding %s: %w", what, err)
	}
	return b, nil
}

// kerberosTime is a KerberosTime as DER wants it: UTC, whole seconds.
func kerberosTime(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// ExternalPrincipalIdentifier names a certificate or a certification authority (RFC
// 4556 section 3.2.2). Each field holds DER: a Name, an IssuerAndSerialNumber, or the
// bytes of a SubjectKeyIdentifier; nil fields are absent.
type ExternalPrincipalIdentifier struct {
	// SubjectName is the DER Name of the subject ([0] IMPLICIT OCTET STRING).
	SubjectName []byte
	// IssuerAndSerialNumber is a DER CMS IssuerAndSerialNumber ([1]).
	IssuerAndSerialNumber []byte
	// SubjectKeyIdentifier is a subject key identifier's value ([2]).
	SubjectKeyIdentifier []byte
}

type externalPrincipalIdentifierASN1 struct {
	SubjectName           []byte `asn1:"optional,omitempty,tag:0"`
	IssuerAndSerialNumber []byte `asn1:"optional,omitempty,tag:1"`
	SubjectKeyIdentifier  []byte `asn1:"optional,omitempty,tag:2"`
}

type issuerAndSerialNumber struct {
	Issuer       asn1.RawValue
	SerialNumber *big.Int
}

// IdentifierOf names certificate c by subject name, issuer and serial number, and
// subject key identifier (when c has one).
func IdentifierOf(c *x509.Certificate) (ExternalPrincipalIdentifier, error) {
	ias, err := marshal(issuerAndSerialNumber{Issuer: asn1.RawValue{FullBytes: c.RawIssuer}, SerialNumber: c.SerialNumber}, "IssuerAndSerialNumber")
	if err != nil {
		return ExternalPrincipalIdentifier{}, err
	}
	id := ExternalPrincipalIdentifier{SubjectName: c.RawSubject, IssuerAndSerialNumber: ias}
	if len(c.SubjectKeyId) > 0 {
		id.SubjectKeyIdentifier = c.SubjectKeyId
	}
	return id, nil
}

// Matches reports whether the identifier names certificate c: every field present
// must agree with c, and at least one field must be present. The comparison is of
// DER bytes, as RFC 4556 intends.
func (e ExternalPrincipalIdentifier) Matches(c *x509.Certificate) bool {
	if c == nil || (e.SubjectName == nil && e.IssuerAndSerialNumber == nil && e.SubjectKeyIdentifier == nil) {
		return false
	}
	if e.SubjectName != nil && string(e.SubjectName) != string(c.RawSubject) {
		return false
	}
	if e.SubjectKeyIdentifier != nil && (len(c.SubjectKeyId) == 0 || string(e.SubjectKeyIdentifier) != string(c.SubjectKeyId)) {
		return false
	}
	if e.IssuerAndSerialNumber != nil {
		var ias issuerAndSerialNumber
		if unmarshalAll(e.IssuerAndSerialNumber, &ias, "IssuerAndSerialNumber") != nil {
			return false
		}
		if string(ias.Issuer.FullBytes) != string(c.RawIssuer) || c.SerialNumber == nil || ias.SerialNumber.Cmp(c.SerialNumber) != 0 {
			return false
		}
	}
	return true
}

// Marshal encodes one ExternalPrincipalIdentifier.
func (e *ExternalPrincipalIdentifier) Marshal() ([]byte, error) {
	return marshal(externalPrincipalIdentifierASN1(*e), "ExternalPrincipalIdentifier")
}

// Unmarshal decodes one ExternalPrincipalIdentifier.
func (e *ExternalPrincipalIdentifier) Unmarshal(b []byte) error {
	var w externalPrincipalIdentifierASN1
	if err := unmarshalAll(b, &w, "ExternalPrincipalIdentifier"); err != nil {
		return err
	}
	*e = ExternalPrincipalIdentifier(w)
	return nil
}

func episToASN1(ids []ExternalPrincipalIdentifier) []externalPrincipalIdentifierASN1 {
	if len(ids) == 0 {
		return nil
	}
	out := make([]externalPrincipalIdentifierASN1, len(ids))
	for i, id := range ids {
		out[i] = externalPrincipalIdentifierASN1(id)
	}
	return out
}

func episFromASN1(ids []externalPrincipalIdentifierASN1) []ExternalPrincipalIdentifier {
	if len(ids) == 0 {
		return nil
	}
	out := make([]ExternalPrincipalIdentifier, len(ids))
	for i, id := range ids {
		out[i] = ExternalPrincipalIdentifier(id)
	}
	return out
}

// MarshalExternalPrincipalIdentifiers encodes a SEQUENCE OF
// ExternalPrincipalIdentifier: the TD-TRUSTED-CERTIFIERS (104) and
// TD-INVALID-CERTIFICATES (105) typed data of a KRB-ERROR.
func MarshalExternalPrincipalIdentifiers(ids []ExternalPrincipalIdentifier) ([]byte, error) {
	w := episToASN1(ids)
	if w == nil {
		w = []externalPrincipalIdentifierASN1{}
	}
	return marshal(w, "ExternalPrincipalIdentifiers")
}

// UnmarshalExternalPrincipalIdentifiers decodes TD-TRUSTED-CERTIFIERS or
// TD-INVALID-CERTIFICATES.
func UnmarshalExternalPrincipalIdentifiers(b []byte) ([]ExternalPrincipalIdentifier, error) {
	var w []externalPrincipalIdentifierASN1
	if err := unmarshalAll(b, &w, "SEQUENCE OF ExternalPrincipalIdentifier"); err != nil {
		return nil, err
	}
	return episFromASN1(w), nil
}

// MarshalDHParameters encodes TD-DH-PARAMETERS (109): the key agreement algorithms
// and groups a KDC accepts, most preferred first.
func MarshalDHParameters(algs []pkix.AlgorithmIdentifier) ([]byte, error) {
	if algs == nil {
		algs = []pkix.AlgorithmIdentifier{}
	}
	return marshal(algs, "TD-DH-PARAMETERS")
}

// UnmarshalDHParameters decodes TD-DH-PARAMETERS (109).
func UnmarshalDHParameters(b []byte) ([]pkix.AlgorithmIdentifier, error) {
	var algs []pkix.AlgorithmIdentifier
	if err := unmarshalAll(b, &algs, "TD-DH-PARAMETERS"); err != nil {
		return nil, err
	}
	return algs, nil
}

// PAPKASReq is PA-PK-AS-REQ (RFC 4556 section 3.2.1), the padata-value of padata-type
// 16.
type PAPKASReq struct {
	// SignedAuthPack is a CMS SignedData (eContentType id-pkinit-authData) carrying
	// a DER AuthPack. RFC 4556 wants it inside a ContentInfo; Windows sends it bare.
	// See package cms.
	SignedAuthPack []byte
	// TrustedCertifiers optionally names the certification authorities the client
	// trusts.
	TrustedCertifiers []ExternalPrincipalIdentifier
	// KDCPkID optionally names the KDC's certificate: a DER SignerIdentifier.
	KDCPkID []byte
}

type paPKASReqASN1 struct {
	SignedAuthPack    []byte                            `asn1:"tag:0"`
	TrustedCertifiers []externalPrincipalIdentifierASN1 `asn1:"optional,omitempty,explicit,tag:1"`
	KDCPkID           []byte                            `asn1:"optional,omitempty,tag:2"`
}

// Marshal encodes the PA-PK-AS-REQ.
func (r *PAPKASReq) Marshal() ([]byte, error) {
	if len(r.SignedAuthPack) == 0 {
		return nil, errors.New("pkinit: PA-PK-AS-REQ without signedAuthPack")
	}
	return marshal(paPKASReqASN1{r.SignedAuthPack, episToASN1(r.TrustedCertifiers), r.KDCPkID}, "PA-PK-AS-REQ")
}

// Unmarshal decodes a PA-PK-AS-REQ.
func (r *PAPKASReq) Unmarshal(b []byte) error {
	var w paPKASReqASN1
	if err := unmarshalAll(b, &w, "PA-PK-AS-REQ"); err != nil {
		return err
	}
	if len(w.SignedAuthPack) == 0 {
		return fmt.Errorf("%w: empty signedAuthPack", ErrMalformed)
	}
	*r = PAPKASReq{SignedAuthPack: w.SignedAuthPack, TrustedCertifiers: episFromASN1(w.TrustedCertifiers), KDCPkID: w.KDCPkID}
	return nil
}

// PKAuthenticator is the client's freshness proof inside AuthPack (RFC 4556 section
// 3.2.1, RFC 8070).
type PKAuthenticator struct {
	// Cusec is the microsecond part of the client time, 0..999999.
	Cusec int
	// CTime is the client time (KerberosTime: UTC, whole seconds).
	CTime time.Time
	// Nonce is chosen by the client; PKU2U (and Windows) sends 0.
	Nonce uint32
	// PAChecksum is the SHA-1 digest of the DER KDC-REQ-BODY, as received; see
	// PAChecksum and KDCReqBody.
	PAChecksum []byte
	// FreshnessToken is RFC 8070's KDC-provided freshness token ([4]); nil when
	// absent. PKU2U does not use it.
	FreshnessToken []byte
}

type pkAuthenticatorASN1 struct {
	Cusec          int       `asn1:"explicit,tag:0"`
	CTime          time.Time `asn1:"generalized,explicit,tag:1"`
	Nonce          int64     `asn1:"explicit,tag:2"`
	PAChecksum     []byte    `asn1:"optional,omitempty,explicit,tag:3"`
	FreshnessToken []byte    `asn1:"optional,omitempty,explicit,tag:4"`
}

func (p *PKAuthenticator) toASN1() (pkAuthenticatorASN1, error) {
	if p.Cusec < 0 || p.Cusec > 999999 {
		return pkAuthenticatorASN1{}, fmt.Errorf("pkinit: cusec %d out of range", p.Cusec)
	}
	return pkAuthenticatorASN1{p.Cusec, kerberosTime(p.CTime), int64(p.Nonce), p.PAChecksum, p.FreshnessToken}, nil
}

func (w *pkAuthenticatorASN1) fromASN1() (PKAuthenticator, error) {
	if w.Cusec < 0 || w.Cusec > 999999 {
		return PKAuthenticator{}, fmt.Errorf("%w: cusec %d out of range", ErrMalformed, w.Cusec)
	}
	if w.Nonce < 0 || w.Nonce > 0xffffffff {
		return PKAuthenticator{}, fmt.Errorf("%w: nonce out of range", ErrMalformed)
	}
	return PKAuthenticator{w.Cusec, w.CTime.UTC(), uint32(w.Nonce), w.PAChecksum, w.FreshnessToken}, nil
}

// Marshal encodes the PKAuthenticator on its own.
func (p *PKAuthenticator) Marshal() ([]byte, error) {
	w, err := p.toASN1()
	if err != nil {
		return nil, err
	}
	return marshal(w, "PKAuthenticator")
}

// Unmarshal decodes a PKAuthenticator.
func (p *PKAuthenticator) Unmarshal(b []byte) error {
	var w pkAuthenticatorASN1
	if err := unmarshalAll(b, &w, "PKAuthenticator"); err != nil {
		return err
	}
	v, err := w.fromASN1()
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// SubjectPublicKeyInfo is the X.509 structure carrying the client's Diffie-Hellman
// public value. For finite-field DH (what Windows sends) Algorithm is dhpublicnumber
// with DomainParameters, and PublicKey holds a DER INTEGER; see Group.PublicKeyInfo
// and ParseDHPublicKeyInfo.
type SubjectPublicKeyInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	PublicKey asn1.BitString
}

// Marshal encodes the SubjectPublicKeyInfo.
func (s *SubjectPublicKeyInfo) Marshal() ([]byte, error) {
	return marshal(*s, "SubjectPublicKeyInfo")
}

// Unmarshal decodes a SubjectPublicKeyInfo.
func (s *SubjectPublicKeyInfo) Unmarshal(b []byte) error {
	var w SubjectPublicKeyInfo
	if err := unmarshalAll(b, &w, "SubjectPublicKeyInfo"); err != nil {
		return err
	}
	*s = w
	return nil
}

// AuthPack is the content the client signs (RFC 4556 section 3.2.1, RFC 8636).
type AuthPack struct {
	PKAuthenticator PKAuthenticator
	// ClientPublicValue is the client's DH public key; nil when absent (RSA key
	// transport, which PKU2U does not use).
	ClientPublicValue *SubjectPublicKeyInfo
	// SupportedCMSTypes optionally lists the CMS algorithms the client supports;
	// Windows omits it.
	SupportedCMSTypes []pkix.AlgorithmIdentifier
	// ClientDHNonce is the client's DH nonce (32 bytes from Windows) that enters the
	// reply key derivation; nil when absent.
	ClientDHNonce []byte
	// SupportedKDFs lists RFC 8636 key derivation functions (OIDKDFSHA1 ...); nil
	// when absent, as from Windows.
	SupportedKDFs []asn1.ObjectIdentifier
}

type kdfAlgorithmID struct {
	KDFID asn1.ObjectIdentifier `asn1:"explicit,tag:0"`
}

type authPackASN1 struct {
	PKAuthenticator   pkAuthenticatorASN1        `asn1:"explicit,tag:0"`
	ClientPublicValue SubjectPublicKeyInfo       `asn1:"optional,explicit,tag:1"`
	SupportedCMSTypes []pkix.AlgorithmIdentifier `asn1:"optional,omitempty,explicit,tag:2"`
	ClientDHNonce     []byte                     `asn1:"optional,omitempty,explicit,tag:3"`
	SupportedKDFs     []kdfAlgorithmID           `asn1:"optional,omitempty,explicit,tag:4"`
}

// Marshal encodes the AuthPack.
func (a *AuthPack) Marshal() ([]byte, error) {
	pa, err := a.PKAuthenticator.toASN1()
	if err != nil {
		return nil, err
	}
	w := authPackASN1{PKAuthenticator: pa, SupportedCMSTypes: a.SupportedCMSTypes, ClientDHNonce: a.ClientDHNonce}
	if a.ClientPublicValue != nil {
		if len(a.ClientPublicValue.Algorithm.Algorithm) == 0 {
			return nil, errors.New("pkinit: clientPublicValue without an algorithm")
		}
		w.ClientPublicValue = *a.ClientPublicValue
	}
	for _, k := range a.SupportedKDFs {
		w.SupportedKDFs = append(w.SupportedKDFs, kdfAlgorithmID{k})
	}
	return marshal(w, "AuthPack")
}

// Unmarshal decodes an AuthPack (the eContent of signedAuthPack).
func (a *AuthPack) Unmarshal(b []byte) error {
	var w authPackASN1
	if err := unmarshalAll(b, &w, "AuthPack"); err != nil {
		return err
	}
	pa, err := w.PKAuthenticator.fromASN1()
	if err != nil {
		return err
	}
	v := AuthPack{PKAuthenticator: pa, SupportedCMSTypes: w.SupportedCMSTypes, ClientDHNonce: w.ClientDHNonce}
	if len(w.ClientPublicValue.Algorithm.Algorithm) != 0 {
		spki := w.ClientPublicValue
		v.ClientPublicValue = &spki
	}
	for _, k := range w.SupportedKDFs {
		v.SupportedKDFs = append(v.SupportedKDFs, k.KDFID)
	}
	*a = v
	return nil
}

// PAPKASRep is PA-PK-AS-REP (RFC 4556 section 3.2.3), the padata-value of padata-type
// 17: a CHOICE of which exactly one field is set.
type PAPKASRep struct {
	// DHInfo is the Diffie-Hellman reply ([0]), what PKU2U uses.
	DHInfo *DHRepInfo
	// EncKeyPack is the RSA key transport reply ([1] IMPLICIT OCTET STRING holding
	// a CMS EnvelopedData); not used by PKU2U.
	EncKeyPack []byte
}

// DHRepInfo is the Diffie-Hellman reply.
type DHRepInfo struct {
	// DHSignedData is a CMS SignedData (eContentType id-pkinit-DHKeyData) carrying
	// a DER KDCDHKeyInfo; Windows sends it bare, without ContentInfo.
	DHSignedData []byte
	// ServerDHNonce is the server's DH nonce (32 bytes from Windows); nil when absent.
	ServerDHNonce []byte
	// KDF is the RFC 8636 key derivation function chosen; nil when absent (then the
	// RFC 4556 octetstring2key applies, as with Windows).
	KDF asn1.ObjectIdentifier
}

type dhRepInfoASN1 struct {
	DHSignedData  []byte         `asn1:"tag:0"`
	ServerDHNonce []byte         `asn1:"optional,omitempty,explicit,tag:1"`
	KDF           kdfAlgorithmID `asn1:"optional,explicit,tag:2"`
}

// Marshal encodes the DHRepInfo on its own (PA-PK-AS-REP wraps it in [0]).
func (d *DHRepInfo) Marshal() ([]byte, error) {
	if len(d.DHSignedData) == 0 {
		return nil, errors.New("pkinit: DHRepInfo without dhSignedData")
	}
	return marshal(dhRepInfoASN1{d.DHSignedData, d.ServerDHNonce, kdfAlgorithmID{d.KDF}}, "DHRepInfo")
}

// Unmarshal decodes a DHRepInfo.
func (d *DHRepInfo) Unmarshal(b []byte) error {
	var w dhRepInfoASN1
	if err := unmarshalAll(b, &w, "DHRepInfo"); err != nil {
		return err
	}
	if len(w.DHSignedData) == 0 {
		return fmt.Errorf("%w: empty dhSignedData", ErrMalformed)
	}
	*d = DHRepInfo{DHSignedData: w.DHSignedData, ServerDHNonce: w.ServerDHNonce, KDF: w.KDF.KDFID}
	return nil
}

// Marshal encodes the PA-PK-AS-REP.
func (r *PAPKASRep) Marshal() ([]byte, error) {
	switch {
	case r.DHInfo != nil && r.EncKeyPack == nil:
		inner, err := r.DHInfo.Marshal()
		if err != nil {
			return nil, err
		}
		return marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}, "PA-PK-AS-REP")
	case r.DHInfo == nil && r.EncKeyPack != nil:
		return marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, Bytes: r.EncKeyPack}, "PA-PK-AS-REP")
	}
	return nil, errors.New("pkinit: PA-PK-AS-REP needs exactly one of dhInfo and encKeyPack")
}

// Unmarshal decodes a PA-PK-AS-REP.
func (r *PAPKASRep) Unmarshal(b []byte) error {
	var choice asn1.RawValue
	if err := unmarshalAll(b, &choice, "PA-PK-AS-REP"); err != nil {
		return err
	}
	if choice.Class != asn1.ClassContextSpecific {
		return fmt.Errorf("%w: PA-PK-AS-REP: not a context-specific choice", ErrMalformed)
	}
	switch {
	case choice.Tag == 0 && choice.IsCompound:
		var d DHRepInfo
		if err := d.Unmarshal(choice.Bytes); err != nil {
			return err
		}
		*r = PAPKASRep{DHInfo: &d}
	case choice.Tag == 1 && !choice.IsCompound:
		*r = PAPKASRep{EncKeyPack: choice.Bytes}
	default:
		return fmt.Errorf("%w: PA-PK-AS-REP: unknown choice [%d]", ErrMalformed, choice.Tag)
	}
	return nil
}

// KDCDHKeyInfo is the KDC's (the PKU2U acceptor's) signed Diffie-Hellman public value
// (RFC 4556 section 3.2.3.1).
type KDCDHKeyInfo struct {
	// SubjectPublicKey is the KDC's public value: for finite-field DH a DER INTEGER
	// (see MarshalDHPublicValue), for ECDH an uncompressed point.
	SubjectPublicKey asn1.BitString
	// Nonce echoes the PKAuthenticator's nonce.
	Nonce uint32
	// DHKeyExpiration is when the KDC's DH key expires; zero when absent.
	DHKeyExpiration time.Time
}

type kdcDHKeyInfoASN1 struct {
	SubjectPublicKey asn1.BitString `asn1:"explicit,tag:0"`
	Nonce            int64          `asn1:"explicit,tag:1"`
	DHKeyExpiration  time.Time      `asn1:"optional,generalized,explicit,tag:2"`
}

// Marshal encodes the KDCDHKeyInfo.
func (k *KDCDHKeyInfo) Marshal() ([]byte, error) {
	w := kdcDHKeyInfoASN1{SubjectPublicKey: k.SubjectPublicKey, Nonce: int64(k.Nonce)}
	if !k.DHKeyExpiration.IsZero() {
		w.DHKeyExpiration = kerberosTime(k.DHKeyExpiration)
	}
	return marshal(w, "KDCDHKeyInfo")
}

// Unmarshal decodes a KDCDHKeyInfo (the eContent of dhSignedData).
func (k *KDCDHKeyInfo) Unmarshal(b []byte) error {
	var w kdcDHKeyInfoASN1
	if err := unmarshalAll(b, &w, "KDCDHKeyInfo"); err != nil {
		return err
	}
	if w.Nonce < 0 || w.Nonce > 0xffffffff {
		return fmt.Errorf("%w: KDCDHKeyInfo nonce out of range", ErrMalformed)
	}
	*k = KDCDHKeyInfo{SubjectPublicKey: w.SubjectPublicKey, Nonce: uint32(w.Nonce)}
	if !w.DHKeyExpiration.IsZero() {
		k.DHKeyExpiration = w.DHKeyExpiration.UTC()
	}
	return nil
}
