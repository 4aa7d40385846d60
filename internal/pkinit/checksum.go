package pkinit

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/asn1"
	"fmt"
)

// PAChecksum returns PKAuthenticator's paChecksum: the SHA-1 digest of the DER
// KDC-REQ-BODY. Compute it over the bytes as sent or received (see KDCReqBody), never
// over a re-encoding.
func PAChecksum(reqBody []byte) []byte {
	sum := sha1.Sum(reqBody)
	return sum[:]
}

// CheckPAChecksum reports whether paChecksum is the SHA-1 digest of reqBody, in
// constant time.
func CheckPAChecksum(reqBody, paChecksum []byte) bool {
	sum := sha1.Sum(reqBody)
	return subtle.ConstantTimeCompare(sum[:], paChecksum) == 1
}

// KDCReqBody returns the raw DER KDC-REQ-BODY (the req-body field, its SEQUENCE tag
// and length included) of a DER AS-REQ ([APPLICATION 10]) or TGS-REQ
// ([APPLICATION 12]), as a sub-slice of req: the bytes paChecksum covers.
//
//	KDC-REQ ::= SEQUENCE {
//	        pvno            [1] INTEGER (5),
//	        msg-type        [2] INTEGER (10 -- AS -- | 12 -- TGS --),
//	        padata          [3] SEQUENCE OF PA-DATA OPTIONAL,
//	        req-body        [4] KDC-REQ-BODY
//	}
func KDCReqBody(req []byte) ([]byte, error) {
	var app asn1.RawValue
	if err := unmarshalAll(req, &app, "KDC-REQ"); err != nil {
		return nil, err
	}
	if app.Class != asn1.ClassApplication || (app.Tag != 10 && app.Tag != 12) || !app.IsCompound {
		return nil, fmt.Errorf("%w: not an AS-REQ or TGS-REQ", ErrMalformed)
	}
	var seq asn1.RawValue
	if err := unmarshalAll(app.Bytes, &seq, "KDC-REQ SEQUENCE"); err != nil {
		return nil, err
	}
	if seq.Class != asn1.ClassUniversal || seq.Tag != asn1.TagSequence || !seq.IsCompound {
		return nil, fmt.Errorf("%w: KDC-REQ is not a SEQUENCE", ErrMalformed)
	}
	last := 0
	for b := seq.Bytes; len(b) > 0; {
		var field asn1.RawValue
		rest, err := asn1.Unmarshal(b, &field)
		if err != nil {
			return nil, fmt.Errorf("%w: KDC-REQ field: %w", ErrMalformed, err)
		}
		b = rest
		if field.Class != asn1.ClassContextSpecific || !field.IsCompound || field.Tag <= last {
			return nil, fmt.Errorf("%w: KDC-REQ fields out of order", ErrMalformed)
		}
		last = field.Tag
		if field.Tag != 4 {
			continue
		}
		var body asn1.RawValue
		if err := unmarshalAll(field.Bytes, &body, "req-body"); err != nil {
			return nil, err
		}
		if body.Class != asn1.ClassUniversal || body.Tag != asn1.TagSequence || !body.IsCompound {
			return nil, fmt.Errorf("%w: req-body is not a SEQUENCE", ErrMalformed)
		}
		return body.FullBytes, nil
	}
	return nil, fmt.Errorf("%w: KDC-REQ without req-body", ErrMalformed)
}
