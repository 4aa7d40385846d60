package pkinit

import (
	"crypto/ecdh"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
)

// Named curves of RFC 5480 usable for PKINIT's elliptic-curve Diffie-Hellman (RFC
// 5349). No Windows PKU2U peer has been seen to use them.
var (
	// OIDNamedCurveP256 is secp256r1.
	OIDNamedCurveP256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	// OIDNamedCurveP384 is secp384r1.
	OIDNamedCurveP384 = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	// OIDNamedCurveP521 is secp521r1.
	OIDNamedCurveP521 = asn1.ObjectIdentifier{1, 3, 132, 0, 35}
)

var curves = []struct {
	oid   asn1.ObjectIdentifier
	curve ecdh.Curve
}{
	{OIDNamedCurveP256, ecdh.P256()},
	{OIDNamedCurveP384, ecdh.P384()},
	{OIDNamedCurveP521, ecdh.P521()},
}

// ECDHPublicKeyInfo returns the clientPublicValue for an ECDH public key (RFC 5349
// section 3: id-ecPublicKey with the named curve, the uncompressed point as the BIT
// STRING). The shared secret is then ecdh.PrivateKey.ECDH's x-coordinate, which
// OctetString2Key takes as ZZ.
func ECDHPublicKeyInfo(pub *ecdh.PublicKey) (*SubjectPublicKeyInfo, error) {
	if pub == nil {
		return nil, fmt.Errorf("%w: no public key", ErrBadPublicValue)
	}
	for _, c := range curves {
		if c.curve == pub.Curve() {
			params, err := marshal(c.oid, "named curve")
			if err != nil {
				return nil, err
			}
			return &SubjectPublicKeyInfo{
				Algorithm: pkix.AlgorithmIdentifier{Algorithm: OIDECPublicKey, Parameters: asn1.RawValue{FullBytes: params}},
				PublicKey: MarshalECDHPublicValue(pub),
			}, nil
		}
	}
	return nil, fmt.Errorf("%w: curve %v", ErrUnknownGroup, pub.Curve())
}

// ParseECDHPublicKeyInfo reads an id-ecPublicKey clientPublicValue on P-256, P-384 or
// P-521; crypto/ecdh checks that the point is on the curve.
func ParseECDHPublicKeyInfo(spki *SubjectPublicKeyInfo) (*ecdh.PublicKey, error) {
	if spki == nil {
		return nil, fmt.Errorf("%w: no public key", ErrMalformed)
	}
	if !spki.Algorithm.Algorithm.Equal(OIDECPublicKey) {
		return nil, fmt.Errorf("%w: key agreement algorithm %v", ErrUnknownGroup, spki.Algorithm.Algorithm)
	}
	var oid asn1.ObjectIdentifier
	if err := unmarshalAll(spki.Algorithm.Parameters.FullBytes, &oid, "named curve"); err != nil {
		return nil, err
	}
	for _, c := range curves {
		if c.oid.Equal(oid) {
			return ParseECDHPublicValue(c.curve, spki.PublicKey)
		}
	}
	return nil, fmt.Errorf("%w: curve %v", ErrUnknownGroup, oid)
}

// MarshalECDHPublicValue encodes an ECDH public key as KDCDHKeyInfo's subjectPublicKey
// (and SubjectPublicKeyInfo's): the uncompressed point.
func MarshalECDHPublicValue(pub *ecdh.PublicKey) asn1.BitString {
	b := pub.Bytes()
	return asn1.BitString{Bytes: b, BitLength: 8 * len(b)}
}

// ParseECDHPublicValue decodes an uncompressed point on curve, checking that it lies
// on the curve and is not the point at infinity.
func ParseECDHPublicValue(curve ecdh.Curve, bs asn1.BitString) (*ecdh.PublicKey, error) {
	if bs.BitLength != 8*len(bs.Bytes) {
		return nil, fmt.Errorf("%w: EC point is not whole octets", ErrMalformed)
	}
	pub, err := curve.NewPublicKey(bs.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPublicValue, err)
	}
	return pub, nil
}
