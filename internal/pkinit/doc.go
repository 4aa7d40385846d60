// Package pkinit holds the PKINIT (RFC 4556) pieces PKU2U (draft-zhu-pku2u-09) needs
// and no library provides: the ASN.1 messages, finite-field Diffie-Hellman, the reply
// key derivation, the paChecksum, and PKU2U's NegoEx meta-data.
//
// # Messages
//
// Each type has Marshal and Unmarshal, with the tags of RFC 4556 Appendix A (an
// EXPLICIT TAGS module): [PAPKASReq] (padata 16), [AuthPack] with [PKAuthenticator]
// and [SubjectPublicKeyInfo], [PAPKASRep] (padata 17) with [DHRepInfo],
// [KDCDHKeyInfo], [DomainParameters] (X9.42, for dhpublicnumber),
// [ExternalPrincipalIdentifier] with TD-TRUSTED-CERTIFIERS (104) and
// TD-INVALID-CERTIFICATES (105), TD-DH-PARAMETERS (109), and the PKU2U meta-data
// [InitiatorMetaData] and [AcceptorMetaData]. The RFC 8070 freshness token and RFC
// 8636 KDF fields are decoded and encoded, though Windows uses neither. Decoding
// then encoding DER gives back the same bytes; two PKINIT structures captured from
// Windows are kept in testdata and tested so.
//
// The SignedData around AuthPack and KDCDHKeyInfo is package cms's: Windows sends it
// bare (no ContentInfo), with SHA-1 and rsaEncryption.
//
// # What Windows does
//
// Windows' PKU2U initiator sends a PA-PK-AS-REQ with only signedAuthPack; its AuthPack
// has a PKAuthenticator with nonce 0 and a 20-byte paChecksum, a dhpublicnumber
// clientPublicValue in the 1024-bit Oakley group 2 with p, g = 2 and q = (p-1)/2, no
// supportedCMSTypes, and a 32-byte clientDHNonce. The acceptor answers with dhInfo: a
// SignedData of a KDCDHKeyInfo (its public value, nonce 0, no expiration) and a
// 32-byte serverDHNonce.
//
// # Diffie-Hellman and keys
//
// [Group2] (RFC 2409, what Windows sends) and [Group14] (RFC 3526, 2048-bit) are the
// known groups; [GroupOf] refuses any other. [GenerateKey] makes an ephemeral key,
// [Group.CheckPublic] checks a peer's value (1 < y < p-1 and y^q = 1 mod p), and
// [PrivateKey.SharedSecret] returns ZZ left-padded to the length of p.
// [OctetString2Key] is RFC 4556's key derivation (section 3.2.3.1) for the AS reply
// key, what Windows uses; [DeriveKeyRFC8636] is RFC 8636's, for peers that negotiate
// it (checked against the RFC's vectors). [PAChecksum] and [KDCReqBody] compute the
// paChecksum over the KDC-REQ-BODY bytes as received.
//
// Elliptic-curve Diffie-Hellman (RFC 5349) on P-256, P-384 and P-521 is available
// through [ECDHPublicKeyInfo] and [ParseECDHPublicKeyInfo] with crypto/ecdh; no
// Windows PKU2U peer has been seen to offer it.
//
// Keys for etypes 17, 18, 19, 20, 23 and 16 are made here rather than through
// gokrb5's etypes, two of which disagree with the RFCs (see [KeySeedLength]).
package pkinit
