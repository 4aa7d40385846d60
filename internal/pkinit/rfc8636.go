package pkinit

import (
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"

	// The RFC 8636 KDFs' hashes.
	_ "crypto/sha1"
	_ "crypto/sha256"
	_ "crypto/sha512"

	"github.com/jcmturner/gokrb5/v8/types"
)

// KDFParams are the inputs of an RFC 8636 key derivation (section 8). Windows' PKU2U
// negotiates no KDF (it sends no supportedKDFs), so OctetString2Key applies to it;
// this is for peers that do.
type KDFParams struct {
	// KDF is OIDKDFSHA1, OIDKDFSHA256 or OIDKDFSHA512.
	KDF asn1.ObjectIdentifier
	// EType is the AS reply's encryption type, whose key is derived.
	EType int32
	// ZZ is the Diffie-Hellman shared secret (left-padded to the length of p).
	ZZ []byte
	// ClientRealm and Client name the client (partyUInfo).
	ClientRealm string
	// Client is the client's principal name.
	Client types.PrincipalName
	// KDCRealm and KDC name the KDC, for PKU2U the acceptor (partyVInfo).
	KDCRealm string
	// KDC is the KDC's principal name.
	KDC types.PrincipalName
	// ASReq is the DER AS-REQ as sent, PKASRep the DER PA-PK-AS-REP as sent.
	ASReq []byte
	// PKASRep is the DER PA-PK-AS-REP as sent.
	PKASRep []byte
}

type otherInfoASN1 struct {
	AlgorithmID pkix.AlgorithmIdentifier
	PartyUInfo  []byte `asn1:"explicit,tag:0"`
	PartyVInfo  []byte `asn1:"explicit,tag:1"`
	SuppPubInfo []byte `asn1:"optional,explicit,tag:2"`
}

type pkinitSuppPubInfoASN1 struct {
	EncType int32  `asn1:"explicit,tag:0"`
	ASReq   []byte `asn1:"explicit,tag:1"`
	PKASRep []byte `asn1:"explicit,tag:2"`
}

func kdfHash(oid asn1.ObjectIdentifier) (crypto.Hash, error) {
	switch {
	case oid.Equal(OIDKDFSHA1):
		return crypto.SHA1, nil
	case oid.Equal(OIDKDFSHA256):
		return crypto.SHA256, nil
	case oid.Equal(OIDKDFSHA512):
		return crypto.SHA512, nil
	}
	return 0, fmt.Errorf("pkinit: KDF %v is not supported", oid)
}

// marshalKRB5PrincipalName encodes KRB5PrincipalName (RFC 4556 section 3.2.2):
// SEQUENCE { realm [0] Realm, principalName [1] PrincipalName }.
func marshalKRB5PrincipalName(realm string, name types.PrincipalName) ([]byte, error) {
	var w krb5PrincipalNameASN1
	var err error
	if w.Realm, err = explicitRealm(realm); err != nil {
		return nil, err
	}
	w.PrincipalName.NameType = name.NameType
	w.PrincipalName.NameString = []asn1.RawValue{}
	for _, s := range name.NameString {
		gs, err := generalString(s)
		if err != nil {
			return nil, err
		}
		w.PrincipalName.NameString = append(w.PrincipalName.NameString, gs)
	}
	return marshal(w, "KRB5PrincipalName")
}

// DeriveKeyRFC8636 derives the AS reply key with the KDF of RFC 8636 section 8 (NIST
// SP 800-56A's one-step KDF): Hash(counter || ZZ || OtherInfo) for counter = 1, 2, ...
// (32-bit big-endian), truncated to the etype's key-generation seed length, then
// random-to-key.
func DeriveKeyRFC8636(p KDFParams) (types.EncryptionKey, error) {
	h, err := kdfHash(p.KDF)
	if err != nil {
		return types.EncryptionKey{}, err
	}
	n, r2k, err := keySeed(p.EType)
	if err != nil {
		return types.EncryptionKey{}, err
	}
	if len(p.ZZ) == 0 {
		return types.EncryptionKey{}, errors.New("pkinit: empty shared secret")
	}
	u, err := marshalKRB5PrincipalName(p.ClientRealm, p.Client)
	if err != nil {
		return types.EncryptionKey{}, err
	}
	v, err := marshalKRB5PrincipalName(p.KDCRealm, p.KDC)
	if err != nil {
		return types.EncryptionKey{}, err
	}
	supp, err := marshal(pkinitSuppPubInfoASN1{p.EType, p.ASReq, p.PKASRep}, "PkinitSuppPubInfo")
	if err != nil {
		return types.EncryptionKey{}, err
	}
	other, err := marshal(otherInfoASN1{pkix.AlgorithmIdentifier{Algorithm: p.KDF}, u, v, supp}, "OtherInfo")
	if err != nil {
		return types.EncryptionKey{}, err
	}
	out := make([]byte, 0, n+h.Size())
	for counter := uint32(1); len(out) < n; counter++ {
		d := h.New()
		d.Write(binary.BigEndian.AppendUint32(nil, counter))
		d.Write(p.ZZ)
		d.Write(other)
		out = d.Sum(out)
	}
	return types.EncryptionKey{KeyType: p.EType, KeyValue: r2k(out[:n])}, nil
}
