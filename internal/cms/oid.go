package cms

import (
	"crypto"
	"encoding/asn1"
	"fmt"
)

// Object identifiers used in SignedData.
var (
	// OIDData is id-data (RFC 5652 section 4).
	OIDData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	// OIDSignedData is id-signedData (RFC 5652 section 5.1).
	OIDSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}

	// OIDAttributeContentType is the content-type signed attribute (RFC 5652 11.1).
	OIDAttributeContentType = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	// OIDAttributeMessageDigest is the message-digest signed attribute (RFC 5652 11.2).
	OIDAttributeMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	// OIDAttributeSigningTime is the signing-time attribute (RFC 5652 11.3). Verify
	// ignores it; Sign does not emit it.
	OIDAttributeSigningTime = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}

	// OIDDigestSHA1 is id-sha1 (RFC 3370).
	OIDDigestSHA1 = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	// OIDDigestSHA256 is id-sha256 (RFC 5754).
	OIDDigestSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	// OIDDigestSHA384 is id-sha384 (RFC 5754).
	OIDDigestSHA384 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	// OIDDigestSHA512 is id-sha512 (RFC 5754).
	OIDDigestSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}

	// OIDRSAEncryption is rsaEncryption, the signature algorithm Windows and OpenSSL
	// put in SignerInfo for PKCS #1 v1.5 signatures (RFC 3370 section 3.2).
	OIDRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	// OIDSHA1WithRSA is sha1WithRSAEncryption.
	OIDSHA1WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	// OIDSHA256WithRSA is sha256WithRSAEncryption (RFC 4055).
	OIDSHA256WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	// OIDSHA384WithRSA is sha384WithRSAEncryption (RFC 4055).
	OIDSHA384WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	// OIDSHA512WithRSA is sha512WithRSAEncryption (RFC 4055).
	OIDSHA512WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}

	// OIDECPublicKey is id-ecPublicKey; some signers put it in SignerInfo's
	// signatureAlgorithm for ECDSA, and Verify accepts it.
	OIDECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	// OIDECDSAWithSHA1 is ecdsa-with-SHA1 (RFC 3279).
	OIDECDSAWithSHA1 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}
	// OIDECDSAWithSHA256 is ecdsa-with-SHA256 (RFC 5758).
	OIDECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	// OIDECDSAWithSHA384 is ecdsa-with-SHA384 (RFC 5758).
	OIDECDSAWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	// OIDECDSAWithSHA512 is ecdsa-with-SHA512 (RFC 5758).
	OIDECDSAWithSHA512 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
)

var digests = []struct {
	oid  asn1.ObjectIdentifier
	hash crypto.Hash
}{
	{OIDDigestSHA1, crypto.SHA1},
	{OIDDigestSHA256, crypto.SHA256},
	{OIDDigestSHA384, crypto.SHA384},
	{OIDDigestSHA512, crypto.SHA512},
}

type sigKind int

const (
	sigRSA sigKind = iota + 1
	sigECDSA
)

var signatures = []struct {
	oid  asn1.ObjectIdentifier
	kind sigKind
	hash crypto.Hash // 0: the digest algorithm's
}{
	{OIDRSAEncryption, sigRSA, 0},
	{OIDSHA1WithRSA, sigRSA, crypto.SHA1},
	{OIDSHA256WithRSA, sigRSA, crypto.SHA256},
	{OIDSHA384WithRSA, sigRSA, crypto.SHA384},
	{OIDSHA512WithRSA, sigRSA, crypto.SHA512},
	{OIDECPublicKey, sigECDSA, 0},
	{OIDECDSAWithSHA1, sigECDSA, crypto.SHA1},
	{OIDECDSAWithSHA256, sigECDSA, crypto.SHA256},
	{OIDECDSAWithSHA384, sigECDSA, crypto.SHA384},
	{OIDECDSAWithSHA512, sigECDSA, crypto.SHA512},
}

func digestOID(h crypto.Hash) (asn1.ObjectIdentifier, error) {
	for _, d := range digests {
		if d.hash == h {
			return d.oid, nil
		}
	}
	return nil, fmt.Errorf("cms: digest %v: %w", h, ErrUnsupported)
}

func hashOfDigestOID(oid asn1.ObjectIdentifier) (crypto.Hash, error) {
	for _, d := range digests {
		if d.oid.Equal(oid) {
			return d.hash, nil
		}
	}
	return 0, fmt.Errorf("cms: digest algorithm %v: %w", oid, ErrUnsupported)
}

// signatureOID picks the SignerInfo signatureAlgorithm for a key kind and hash.
func signatureOID(kind sigKind, h crypto.Hash, rsaWithHash bool) (asn1.ObjectIdentifier, error) {
	if kind == sigRSA && !rsaWithHash {
		return OIDRSAEncryption, nil
	}
	for _, s := range signatures {
		if s.kind == kind && s.hash == h {
			return s.oid, nil
		}
	}
	return nil, fmt.Errorf("cms: signature with %v: %w", h, ErrUnsupported)
}

func signatureAlgorithm(oid asn1.ObjectIdentifier) (sigKind, crypto.Hash, error) {
	for _, s := range signatures {
		if s.oid.Equal(oid) {
			return s.kind, s.hash, nil
		}
	}
	return 0, 0, fmt.Errorf("cms: signature algorithm %v: %w", oid, ErrUnsupported)
}
