package pkinit

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/asn1"
	"errors"
	"testing"
)

func TestECDH(t *testing.T) {
	for _, curve := range []ecdh.Curve{ecdh.P256(), ecdh.P384(), ecdh.P521()} {
		a, err := curve.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		b, err := curve.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		spki, err := ECDHPublicKeyInfo(a.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		ap := AuthPack{ClientPublicValue: spki}
		der, err := ap.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var back AuthPack
		if err := back.Unmarshal(der); err != nil {
			t.Fatal(err)
		}
		pa, err := ParseECDHPublicKeyInfo(back.ClientPublicValue)
		if err != nil || !pa.Equal(a.PublicKey()) {
			t.Fatalf("%v: clientPublicValue back: %v", curve, err)
		}
		if _, _, err := ParseDHPublicKeyInfo(back.ClientPublicValue); !errors.Is(err, ErrUnknownGroup) {
			t.Errorf("an EC key read as finite-field DH: %v", err)
		}
		pb, err := ParseECDHPublicValue(curve, MarshalECDHPublicValue(b.PublicKey()))
		if err != nil {
			t.Fatal(err)
		}
		z1, err := a.ECDH(pb)
		if err != nil {
			t.Fatal(err)
		}
		z2, err := b.ECDH(pa)
		if err != nil {
			t.Fatal(err)
		}
		k1, _ := OctetString2Key(18, z1, []byte("c"), []byte("s"))
		k2, _ := OctetString2Key(18, z2, []byte("c"), []byte("s"))
		if !bytes.Equal(k1.KeyValue, k2.KeyValue) {
			t.Errorf("%v: keys differ", curve)
		}
	}
	// Not on the curve.
	bad := ecdhPoint(t)
	bad[len(bad)-1] ^= 1
	if _, err := ParseECDHPublicValue(ecdh.P256(), asn1.BitString{Bytes: bad, BitLength: 8 * len(bad)}); !errors.Is(err, ErrBadPublicValue) {
		t.Errorf("point off the curve: %v", err)
	}
	if _, err := ParseECDHPublicKeyInfo(&SubjectPublicKeyInfo{}); !errors.Is(err, ErrUnknownGroup) {
		t.Errorf("no algorithm: %v", err)
	}
	if _, err := ECDHPublicKeyInfo(nil); err == nil {
		t.Error("nil key")
	}
	x, _ := ecdh.X25519().GenerateKey(rand.Reader)
	if _, err := ECDHPublicKeyInfo(x.PublicKey()); !errors.Is(err, ErrUnknownGroup) {
		t.Errorf("X25519: %v", err)
	}
}

func ecdhPoint(t *testing.T) []byte {
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKey().Bytes()
}
