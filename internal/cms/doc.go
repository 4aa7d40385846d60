// Package cms implements the part of CMS SignedData (RFC 5652) that PKINIT (RFC 4556)
// and therefore PKU2U use: one signer, encapsulated (attached) content, signed
// attributes, RSA PKCS #1 v1.5 or ECDSA signatures.
//
// # What Windows does
//
// Windows' PKU2U puts a bare SignedData (version 3, no ContentInfo around it) in
// PA-PK-AS-REQ's signedAuthPack and in PA-PK-AS-REP's dhSignedData, although RFC 4556
// asks for a ContentInfo. Its SignedData uses SHA-1, an eContentType of
// id-pkinit-authData (1.3.6.1.5.2.3.1) or id-pkinit-DHKeyData (1.3.6.1.5.2.3.2), the
// signer certificate only, a version 1 SignerInfo naming the signer by
// IssuerAndSerialNumber, the signed attributes contentType and messageDigest, and
// rsaEncryption as the signature algorithm (PKCS #1 v1.5 over the DER SET of signed
// attributes).
//
// # What is implemented
//
// [Sign] makes such a SignedData, bare by default or inside a ContentInfo with
// [SignOptions].ContentInfo, with SHA-256 by default and SHA-1, SHA-384 or SHA-512 on
// request ([SignOptions].Hash; Windows sends SHA-1), rsaEncryption or
// sha*WithRSAEncryption, or ecdsa-with-SHA*, and the signer named by
// IssuerAndSerialNumber (version 1 SignerInfo) or SubjectKeyIdentifier (version 3).
//
// [Verify] accepts either form, checks the eContentType the caller expects, requires
// the contentType and messageDigest signed attributes, recomputes the digest (compared
// in constant time) and checks the signature with the signer certificate, found among
// the embedded certificates (or [VerifyOptions].Certificates) by IssuerAndSerialNumber
// or SubjectKeyIdentifier. It does not validate the signer's certificate chain, its
// validity period or its key usage: that is the caller's job, with the certificates
// Verify returns. [Parse] decodes without any cryptographic check.
//
// Errors wrap the sentinels [ErrMalformed], [ErrUnsupported], [ErrContentType],
// [ErrDigestMismatch], [ErrNoSigner] and [ErrBadSignature], so a caller can map them to
// protocol errors with errors.Is.
//
// # Limits
//
// Only DER (definite lengths) is read; exactly one SignerInfo; signed attributes are
// required (as RFC 5652 requires for any eContentType but id-data); detached content,
// RSA-PSS, EdDSA, CRLs and attribute certificates are not supported (CRLs and other
// certificate choices are skipped on input). At most [MaxCertificates] certificates
// and RSA keys of at most [MaxRSABits] bits are accepted, so hostile input cannot make
// Verify do unbounded work.
package cms
