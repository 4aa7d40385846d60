package cms

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	// Register the digests Verify accepts.
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// Errors returned (wrapped) by Parse, Verify and Sign. Test them with errors.Is.
var (
	// ErrMalformed: the input is not a well-formed (DER) SignedData or ContentInfo.
	ErrMalformed = errors.New("cms: malformed SignedData")
	// ErrUnsupported: a well-formed SignedData that uses something this package does
	// not implement (an algorithm, detached content, several signers, a key type).
	ErrUnsupported = errors.New("cms: unsupported SignedData feature")
	// ErrContentType: the eContentType, or the contentType signed attribute, is not
	// the one expected.
	ErrContentType = errors.New("cms: unexpected content type")
	// ErrDigestMismatch: the messageDigest signed attribute does not match the
	// content.
	ErrDigestMismatch = errors.New("cms: message digest mismatch")
	// ErrNoSigner: the signer's certificate is not among the certificates available.
	ErrNoSigner = errors.New("cms: signer certificate not found")
	// ErrBadSignature: the signature does not verify with the signer's public key.
	ErrBadSignature = errors.New("cms: bad signature")
)

// MaxCertificates is the largest number of certificates Parse and Verify accept in
// one SignedData.
const MaxCertificates = 32

// MaxRSABits is the largest RSA modulus Verify checks a signature with.
const MaxRSABits = 8192

// SignedData is a decoded SignedData with one signer.
type SignedData struct {
	// Raw is the DER of the SignedData itself (without any ContentInfo around it).
	Raw []byte
	// EContentType is encapContentInfo's eContentType.
	EContentType asn1.ObjectIdentifier
	// EContent is the encapsulated content, the bytes that were signed.
	EContent []byte
	// Certificates are all the certificates embedded in the SignedData, in order.
	// Other certificate choices (attribute certificates and the like) are skipped.
	Certificates []*x509.Certificate
	// Signer is the certificate the SignerInfo names. Verify always sets it (possibly
	// from VerifyOptions.Certificates); Parse sets it when it is embedded. Verify
	// does not validate it: check its chain, validity and usage yourself.
	Signer *x509.Certificate
	// Hash is the SignerInfo's digest algorithm.
	Hash crypto.Hash
	// SignatureAlgorithm is the SignerInfo's signatureAlgorithm.
	SignatureAlgorithm asn1.ObjectIdentifier

	signerID      signerID
	signedAttrs   []byte // DER SET (tag 0x31) of the signed attributes
	contentType   asn1.ObjectIdentifier
	messageDigest []byte
	signature     []byte
}

// signerID names the signer certificate: by issuer and serial number, or by subject
// key identifier.
type signerID struct {
	issuer []byte // DER Name
	serial *big.Int
	skid   []byte
}

func (id signerID) matches(c *x509.Certificate) bool {
	if id.skid != nil {
		return len(c.SubjectKeyId) > 0 && bytes.Equal(id.skid, c.SubjectKeyId)
	}
	return bytes.Equal(id.issuer, c.RawIssuer) && c.SerialNumber != nil && id.serial.Cmp(c.SerialNumber) == 0
}

// ASN.1 shapes (RFC 5652).

type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0"` // [0] EXPLICIT, unwrapped by hand
}

type signedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	EncapContentInfo encapsulatedContentInfo
	Certificates     asn1.RawValue `asn1:"optional,tag:0"`
	CRLs             asn1.RawValue `asn1:"optional,tag:1"`
	SignerInfos      []signerInfo  `asn1:"set"`
}

type encapsulatedContentInfo struct {
	EContentType asn1.ObjectIdentifier
	EContent     asn1.RawValue `asn1:"optional,tag:0"` // [0] EXPLICIT OCTET STRING
}

type signerInfo struct {
	Version            int
	SID                asn1.RawValue
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignedAttrs        asn1.RawValue `asn1:"optional,tag:0"`
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
	UnsignedAttrs      asn1.RawValue `asn1:"optional,tag:1"`
}

type issuerAndSerialNumber struct {
	Issuer       asn1.RawValue
	SerialNumber *big.Int
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values []asn1.RawValue `asn1:"set"`
}

// unmarshalAll decodes exactly one DER value filling b.
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

// unwrap returns the bare SignedData DER from a bare SignedData or a ContentInfo.
func unwrap(der []byte) ([]byte, error) {
	var outer asn1.RawValue
	if err := unmarshalAll(der, &outer, "outer SEQUENCE"); err != nil {
		return nil, err
	}
	if outer.Class != asn1.ClassUniversal || outer.Tag != asn1.TagSequence || !outer.IsCompound {
		return nil, fmt.Errorf("%w: not a SEQUENCE", ErrMalformed)
	}
	var first asn1.RawValue
	if _, err := asn1.Unmarshal(outer.Bytes, &first); err != nil {
		return nil, fmt.Errorf("%w: first element: %w", ErrMalformed, err)
	}
	switch {
	case first.Class == asn1.ClassUniversal && first.Tag == asn1.TagInteger:
		return der, nil // SignedData: version first
	case first.Class == asn1.ClassUniversal && first.Tag == asn1.TagOID:
		var ci contentInfo
		if err := unmarshalAll(der, &ci, "ContentInfo"); err != nil {
			return nil, err
		}
		if !ci.ContentType.Equal(OIDSignedData) {
			return nil, fmt.Errorf("%w: ContentInfo holds %v, not signedData", ErrContentType, ci.ContentType)
		}
		if !ci.Content.IsCompound {
			return nil, fmt.Errorf("%w: ContentInfo content [0] is not constructed", ErrMalformed)
		}
		var inner asn1.RawValue
		if err := unmarshalAll(ci.Content.Bytes, &inner, "ContentInfo content"); err != nil {
			return nil, err
		}
		return ci.Content.Bytes, nil
	}
	return nil, fmt.Errorf("%w: neither SignedData nor ContentInfo", ErrMalformed)
}

// Parse decodes a SignedData, bare or inside a ContentInfo, without checking its
// digest or signature. It locates the signer certificate among the embedded ones but
// does not fail when it is absent (Signer is then nil).
func Parse(der []byte) (*SignedData, error) {
	raw, err := unwrap(der)
	if err != nil {
		return nil, err
	}
	var sd signedData
	if err := unmarshalAll(raw, &sd, "SignedData"); err != nil {
		return nil, err
	}
	if sd.Version < 1 || sd.Version > 5 {
		return nil, fmt.Errorf("%w: SignedData version %d", ErrMalformed, sd.Version)
	}
	out := &SignedData{Raw: raw, EContentType: sd.EncapContentInfo.EContentType}

	ec := sd.EncapContentInfo.EContent
	if ec.FullBytes == nil {
		return nil, fmt.Errorf("%w: detached content", ErrUnsupported)
	}
	if !ec.IsCompound {
		return nil, fmt.Errorf("%w: eContent [0] is not constructed", ErrMalformed)
	}
	if err := unmarshalAll(ec.Bytes, &out.EContent, "eContent OCTET STRING"); err != nil {
		return nil, err
	}

	if sd.Certificates.FullBytes != nil {
		if !sd.Certificates.IsCompound {
			return nil, fmt.Errorf("%w: certificates [0] is not constructed", ErrMalformed)
		}
		if out.Certificates, err = parseCertificates(sd.Certificates.Bytes); err != nil {
			return nil, err
		}
	}
	if sd.CRLs.FullBytes != nil && !sd.CRLs.IsCompound {
		return nil, fmt.Errorf("%w: crls [1] is not constructed", ErrMalformed)
	}

	switch len(sd.SignerInfos) {
	case 0:
		return nil, fmt.Errorf("%w: no SignerInfo", ErrNoSigner)
	case 1:
	default:
		return nil, fmt.Errorf("%w: %d SignerInfos", ErrUnsupported, len(sd.SignerInfos))
	}
	if err := out.parseSignerInfo(&sd.SignerInfos[0]); err != nil {
		return nil, err
	}
	for _, c := range out.Certificates {
		if out.signerID.matches(c) {
			out.Signer = c
			break
		}
	}
	return out, nil
}

func parseCertificates(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for len(b) > 0 {
		var choice asn1.RawValue
		rest, err := asn1.Unmarshal(b, &choice)
		if err != nil {
			return nil, fmt.Errorf("%w: certificates: %w", ErrMalformed, err)
		}
		b = rest
		if choice.Class != asn1.ClassUniversal || choice.Tag != asn1.TagSequence {
			continue // extendedCertificate, attribute certificates, other
		}
		if len(certs) == MaxCertificates {
			return nil, fmt.Errorf("%w: more than %d certificates", ErrUnsupported, MaxCertificates)
		}
		c, err := x509.ParseCertificate(choice.FullBytes)
		if err != nil {
			return nil, fmt.Errorf("%w: certificate %d: %w", ErrMalformed, len(certs), err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

func (out *SignedData) parseSignerInfo(si *signerInfo) error {
	switch {
	case si.SID.Class == asn1.ClassUniversal && si.SID.Tag == asn1.TagSequence:
		var ias issuerAndSerialNumber
		if err := unmarshalAll(si.SID.FullBytes, &ias, "IssuerAndSerialNumber"); err != nil {
			return err
		}
		if ias.Issuer.Class != asn1.ClassUniversal || ias.Issuer.Tag != asn1.TagSequence {
			return fmt.Errorf("%w: issuer is not a Name", ErrMalformed)
		}
		out.signerID = signerID{issuer: ias.Issuer.FullBytes, serial: ias.SerialNumber}
	case si.SID.Class == asn1.ClassContextSpecific && si.SID.Tag == 0 && !si.SID.IsCompound:
		out.signerID = signerID{skid: si.SID.Bytes}
	default:
		return fmt.Errorf("%w: SignerIdentifier", ErrMalformed)
	}
	if si.Version != 1 && si.Version != 3 {
		return fmt.Errorf("%w: SignerInfo version %d", ErrMalformed, si.Version)
	}

	var err error
	if out.Hash, err = hashOfDigestOID(si.DigestAlgorithm.Algorithm); err != nil {
		return err
	}
	out.SignatureAlgorithm = si.SignatureAlgorithm.Algorithm
	out.signature = si.Signature

	if si.SignedAttrs.FullBytes == nil {
		return fmt.Errorf("%w: no signed attributes", ErrUnsupported)
	}
	if !si.SignedAttrs.IsCompound {
		return fmt.Errorf("%w: signedAttrs [0] is not constructed", ErrMalformed)
	}
	// The signature covers the attributes with the SET OF tag (RFC 5652 5.4), over
	// the bytes received.
	out.signedAttrs = bytes.Clone(si.SignedAttrs.FullBytes)
	out.signedAttrs[0] = 0x31

	var haveCT, haveMD bool
	for b := si.SignedAttrs.Bytes; len(b) > 0; {
		var a attribute
		rest, err := asn1.Unmarshal(b, &a)
		if err != nil {
			return fmt.Errorf("%w: signed attribute: %w", ErrMalformed, err)
		}
		b = rest
		switch {
		case a.Type.Equal(OIDAttributeContentType):
			if haveCT || len(a.Values) != 1 {
				return fmt.Errorf("%w: contentType attribute must have one value, once", ErrMalformed)
			}
			haveCT = true
			if err := unmarshalAll(a.Values[0].FullBytes, &out.contentType, "contentType attribute"); err != nil {
				return err
			}
		case a.Type.Equal(OIDAttributeMessageDigest):
			if haveMD || len(a.Values) != 1 {
				return fmt.Errorf("%w: messageDigest attribute must have one value, once", ErrMalformed)
			}
			haveMD = true
			if err := unmarshalAll(a.Values[0].FullBytes, &out.messageDigest, "messageDigest attribute"); err != nil {
				return err
			}
		}
	}
	if !haveCT || !haveMD {
		return fmt.Errorf("%w: signed attributes lack contentType or messageDigest", ErrMalformed)
	}
	return nil
}

// VerifyOptions tunes Verify.
type VerifyOptions struct {
	// EContentType is the eContentType the caller expects (for PKINIT,
	// id-pkinit-authData or id-pkinit-DHKeyData). Required.
	EContentType asn1.ObjectIdentifier
	// Certificates are searched for the signer after the embedded ones, for a peer
	// that does not embed its certificate.
	Certificates []*x509.Certificate
	// Hashes are the digest algorithms accepted. Empty means SHA-1 (what Windows
	// sends), SHA-256, SHA-384 and SHA-512.
	Hashes []crypto.Hash
}

// Verify decodes a SignedData, bare or inside a ContentInfo, and checks it: the
// eContentType and the contentType signed attribute equal opts.EContentType, the
// messageDigest attribute equals the digest of the content, and the signature over the
// signed attributes verifies with the signer certificate's public key. The signer
// certificate is looked up by IssuerAndSerialNumber or SubjectKeyIdentifier among the
// embedded certificates, then opts.Certificates.
//
// Verify does not validate the signer certificate (chain, validity period, key usage,
// revocation): the caller must, with SignedData.Signer and SignedData.Certificates.
func Verify(der []byte, opts VerifyOptions) (*SignedData, error) {
	if len(opts.EContentType) == 0 {
		return nil, errors.New("cms: VerifyOptions.EContentType is required")
	}
	sd, err := Parse(der)
	if err != nil {
		return nil, err
	}
	if !sd.EContentType.Equal(opts.EContentType) {
		return nil, fmt.Errorf("%w: eContentType %v, want %v", ErrContentType, sd.EContentType, opts.EContentType)
	}
	if !sd.contentType.Equal(sd.EContentType) {
		return nil, fmt.Errorf("%w: contentType attribute %v differs from eContentType %v", ErrContentType, sd.contentType, sd.EContentType)
	}
	if !hashAllowed(sd.Hash, opts.Hashes) {
		return nil, fmt.Errorf("%w: digest %v not allowed", ErrUnsupported, sd.Hash)
	}
	kind, sigHash, err := signatureAlgorithm(sd.SignatureAlgorithm)
	if err != nil {
		return nil, err
	}
	if sigHash != 0 && sigHash != sd.Hash {
		return nil, fmt.Errorf("%w: signature algorithm %v with digest %v", ErrUnsupported, sd.SignatureAlgorithm, sd.Hash)
	}

	h := sd.Hash.New()
	h.Write(sd.EContent)
	if !constantTimeEqual(h.Sum(nil), sd.messageDigest) {
		return nil, ErrDigestMismatch
	}

	if sd.Signer == nil {
		for _, c := range opts.Certificates {
			if c != nil && sd.signerID.matches(c) {
				sd.Signer = c
				break
			}
		}
	}
	if sd.Signer == nil {
		return nil, ErrNoSigner
	}

	h = sd.Hash.New()
	h.Write(sd.signedAttrs)
	digest := h.Sum(nil)
	switch pub := sd.Signer.PublicKey.(type) {
	case *rsa.PublicKey:
		if kind != sigRSA {
			return nil, fmt.Errorf("%w: RSA signer with signature algorithm %v", ErrUnsupported, sd.SignatureAlgorithm)
		}
		if pub.N.BitLen() > MaxRSABits {
			return nil, fmt.Errorf("%w: RSA key of %d bits", ErrUnsupported, pub.N.BitLen())
		}
		if err := rsa.VerifyPKCS1v15(pub, sd.Hash, digest, sd.signature); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadSignature, err)
		}
	case *ecdsa.PublicKey:
		if kind != sigECDSA {
			return nil, fmt.Errorf("%w: ECDSA signer with signature algorithm %v", ErrUnsupported, sd.SignatureAlgorithm)
		}
		if !ecdsa.VerifyASN1(pub, digest, sd.signature) {
			return nil, ErrBadSignature
		}
	default:
		return nil, fmt.Errorf("%w: signer public key %T", ErrUnsupported, pub)
	}
	return sd, nil
}

func hashAllowed(h crypto.Hash, allowed []crypto.Hash) bool {
	if len(allowed) == 0 {
		return h == crypto.SHA1 || h == crypto.SHA256 || h == crypto.SHA384 || h == crypto.SHA512
	}
	for _, a := range allowed {
		if a == h {
			return true
		}
	}
	return false
}
