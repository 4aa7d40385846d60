package cms

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"slices"
)

// SignOptions tunes Sign. The zero value makes a bare SignedData with SHA-256,
// rsaEncryption (or ecdsa-with-SHA256) and the signer named by IssuerAndSerialNumber.
type SignOptions struct {
	// Hash is the digest algorithm: crypto.SHA1 (what Windows sends), crypto.SHA256
	// (the default when zero), crypto.SHA384 or crypto.SHA512.
	Hash crypto.Hash
	// ContentInfo wraps the SignedData in a ContentInfo (id-signedData), as RFC 4556
	// asks; Windows sends it bare.
	ContentInfo bool
	// RSAWithHashOID names an RSA signature sha*WithRSAEncryption instead of
	// rsaEncryption (what Windows and OpenSSL use). The signature is the same.
	RSAWithHashOID bool
	// SubjectKeyIdentifier names the signer by its certificate's subject key
	// identifier (a version 3 SignerInfo) instead of IssuerAndSerialNumber.
	SubjectKeyIdentifier bool
	// Rand is the randomness given to signer.Sign; nil means crypto/rand.
	Rand io.Reader
}

// Sign makes a SignedData (RFC 5652) of version 3 encapsulating content with
// eContentType, signed by signer, whose certificate must be chain[0]. Every
// certificate in chain is embedded, in order. The SignerInfo carries the signed
// attributes contentType and messageDigest, DER-sorted; the signature is PKCS #1 v1.5
// for RSA keys or ECDSA (ASN.1 form) for ECDSA keys.
func Sign(eContentType asn1.ObjectIdentifier, content []byte, signer crypto.Signer, chain []*x509.Certificate, opts SignOptions) ([]byte, error) {
	if len(eContentType) == 0 {
		return nil, errors.New("cms: no eContentType")
	}
	if signer == nil || len(chain) == 0 || chain[0] == nil {
		return nil, errors.New("cms: a signer and its certificate are required")
	}
	leaf := chain[0]
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return nil, errors.New("cms: the signer's key does not belong to chain[0]")
	}
	h := opts.Hash
	if h == 0 {
		h = crypto.SHA256
	}
	digestAlg, err := digestOID(h)
	if err != nil {
		return nil, err
	}
	var kind sigKind
	switch signer.Public().(type) {
	case *rsa.PublicKey:
		kind = sigRSA
	case *ecdsa.PublicKey:
		kind = sigECDSA
	default:
		return nil, fmt.Errorf("cms: signer key %T: %w", signer.Public(), ErrUnsupported)
	}
	sigAlg, err := signatureOID(kind, h, opts.RSAWithHashOID)
	if err != nil {
		return nil, err
	}

	// Signed attributes: contentType and messageDigest, as a DER SET OF.
	md := h.New()
	md.Write(content)
	attrsBody, err := signedAttributes(eContentType, md.Sum(nil))
	if err != nil {
		return nil, err
	}
	attrs, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: attrsBody})
	if err != nil {
		return nil, fmt.Errorf("cms: signed attributes: %w", err)
	}
	ad := h.New()
	ad.Write(attrs)
	r := opts.Rand
	if r == nil {
		r = rand.Reader
	}
	sig, err := signer.Sign(r, ad.Sum(nil), h)
	if err != nil {
		return nil, fmt.Errorf("cms: signing: %w", err)
	}

	si := signerInfo{
		Version:            1,
		DigestAlgorithm:    algorithm(digestAlg, true),
		SignedAttrs:        asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: attrsBody},
		SignatureAlgorithm: algorithm(sigAlg, kind == sigRSA),
		Signature:          sig,
	}
	if opts.SubjectKeyIdentifier {
		if len(leaf.SubjectKeyId) == 0 {
			return nil, errors.New("cms: the signer certificate has no subject key identifier")
		}
		si.Version = 3
		si.SID = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, Bytes: leaf.SubjectKeyId}
	} else {
		ias, err := asn1.Marshal(issuerAndSerialNumber{Issuer: asn1.RawValue{FullBytes: leaf.RawIssuer}, SerialNumber: leaf.SerialNumber})
		if err != nil {
			return nil, fmt.Errorf("cms: IssuerAndSerialNumber: %w", err)
		}
		si.SID = asn1.RawValue{FullBytes: ias}
	}

	econtent, err := asn1.Marshal(content)
	if err != nil {
		return nil, fmt.Errorf("cms: eContent: %w", err)
	}
	var certs []byte
	for _, c := range chain {
		if c == nil {
			return nil, errors.New("cms: nil certificate in chain")
		}
		certs = append(certs, c.Raw...)
	}
	sd := signedData{
		Version:          3,
		DigestAlgorithms: []pkix.AlgorithmIdentifier{algorithm(digestAlg, true)},
		EncapContentInfo: encapsulatedContentInfo{
			EContentType: eContentType,
			EContent:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: econtent},
		},
		Certificates: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: certs},
		SignerInfos:  []signerInfo{si},
	}
	out, err := asn1.Marshal(sd)
	if err != nil {
		return nil, fmt.Errorf("cms: SignedData: %w", err)
	}
	if !opts.ContentInfo {
		return out, nil
	}
	out, err = asn1.Marshal(contentInfo{
		ContentType: OIDSignedData,
		Content:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: out},
	})
	if err != nil {
		return nil, fmt.Errorf("cms: ContentInfo: %w", err)
	}
	return out, nil
}

// algorithm is an AlgorithmIdentifier with NULL parameters (digests and RSA, as
// Windows sends them) or absent ones (ECDSA, RFC 5758).
func algorithm(oid asn1.ObjectIdentifier, null bool) pkix.AlgorithmIdentifier {
	a := pkix.AlgorithmIdentifier{Algorithm: oid}
	if null {
		a.Parameters = asn1.NullRawValue
	}
	return a
}

// signedAttributes returns the content of the DER SET OF Attribute {contentType,
// messageDigest}: the encoded attributes sorted as DER requires.
func signedAttributes(contentType asn1.ObjectIdentifier, digest []byte) ([]byte, error) {
	ct, err := asn1.Marshal(contentType)
	if err != nil {
		return nil, fmt.Errorf("cms: contentType: %w", err)
	}
	mdv, err := asn1.Marshal(digest)
	if err != nil {
		return nil, fmt.Errorf("cms: messageDigest: %w", err)
	}
	var enc [][]byte
	for _, a := range []attribute{
		{Type: OIDAttributeContentType, Values: []asn1.RawValue{{FullBytes: ct}}},
		{Type: OIDAttributeMessageDigest, Values: []asn1.RawValue{{FullBytes: mdv}}},
	} {
		b, err := asn1.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("cms: signed attribute: %w", err)
		}
		enc = append(enc, b)
	}
	slices.SortFunc(enc, bytes.Compare)
	return bytes.Join(enc, nil), nil
}

func constantTimeEqual(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}
