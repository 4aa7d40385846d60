package pkinit

import (
	"bytes"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"
)

// The groups are the published ones: p and q = (p-1)/2 prime, g = 2 of order q.
func TestGroups(t *testing.T) {
	for _, g := range []struct {
		g    *Group
		bits int
	}{{Group2, 1024}, {Group14, 2048}} {
		if g.g.P.BitLen() != g.bits || !g.g.P.ProbablyPrime(8) || !g.g.Q.ProbablyPrime(8) {
			t.Errorf("%s: p of %d bits, or p or q not prime", g.g.Name, g.g.P.BitLen())
		}
		if q := new(big.Int).Rsh(g.g.P, 1); q.Cmp(g.g.Q) != 0 {
			t.Errorf("%s: q != (p-1)/2", g.g.Name)
		}
		if new(big.Int).Exp(g.g.G, g.g.Q, g.g.P).Cmp(big.NewInt(1)) != 0 {
			t.Errorf("%s: g is not of order q", g.g.Name)
		}
		got, err := GroupOf(g.g.DomainParameters())
		if err != nil || got != g.g {
			t.Errorf("GroupOf(%s) = %v, %v", g.g.Name, got, err)
		}
	}
}

func TestGroupOfRefuses(t *testing.T) {
	dp := Group2.DomainParameters()
	dp.G = big.NewInt(5)
	if _, err := GroupOf(dp); !errors.Is(err, ErrUnknownGroup) {
		t.Errorf("g = 5: %v", err)
	}
	dp = Group14.DomainParameters()
	dp.Q = big.NewInt(7)
	if _, err := GroupOf(dp); !errors.Is(err, ErrUnknownGroup) {
		t.Errorf("wrong q: %v", err)
	}
	huge := new(big.Int).Lsh(big.NewInt(1), 100000)
	if _, err := GroupOf(DomainParameters{P: huge.Add(huge, big.NewInt(1)), G: big.NewInt(2)}); !errors.Is(err, ErrUnknownGroup) {
		t.Errorf("100000-bit p: %v", err)
	}
	if _, err := GroupOf(DomainParameters{}); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty: %v", err)
	}
	// Without q (PKCS #3 style) the group is still recognised by p and g.
	if g, err := GroupOf(DomainParameters{P: Group2.P, G: Group2.G}); err != nil || g != Group2 {
		t.Errorf("no q: %v, %v", g, err)
	}
}

func TestDHAgreement(t *testing.T) {
	for _, g := range Groups() {
		a, err := GenerateKey(g, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := GenerateKey(g, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The client's public value travels as clientPublicValue and comes back intact.
		spki, err := a.PublicKeyInfo()
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
		gotGroup, y, err := ParseDHPublicKeyInfo(back.ClientPublicValue)
		if err != nil || gotGroup != g || y.Cmp(a.Public) != 0 {
			t.Fatalf("%s: clientPublicValue came back as %v, %v", g.Name, gotGroup, err)
		}
		// The server's travels as a KDCDHKeyInfo subjectPublicKey.
		bs, err := MarshalDHPublicValue(b.Public)
		if err != nil {
			t.Fatal(err)
		}
		yb, err := ParseDHPublicValue(bs)
		if err != nil || yb.Cmp(b.Public) != 0 {
			t.Fatal("server public value does not round-trip")
		}
		z1, err := a.SharedSecret(yb)
		if err != nil {
			t.Fatal(err)
		}
		z2, err := b.SharedSecret(y)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(z1, z2) || len(z1) != g.P.BitLen()/8 {
			t.Errorf("%s: shared secrets differ or are %d bytes", g.Name, len(z1))
		}
	}
}

// ZZ keeps its leading zero octets: with x = 8 and the peer's y = 2, ZZ = 256.
func TestSharedSecretPadding(t *testing.T) {
	k := &PrivateKey{Group: Group2, x: big.NewInt(8), Public: big.NewInt(256)}
	zz, err := k.SharedSecret(big.NewInt(2))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 128)
	want[126] = 1
	if !bytes.Equal(zz, want) {
		t.Fatalf("ZZ = %x", zz)
	}
	// The padding matters to the key.
	k1, _ := OctetString2Key(18, zz, nil, nil)
	k2, _ := OctetString2Key(18, zz[126:], nil, nil)
	if bytes.Equal(k1.KeyValue, k2.KeyValue) {
		t.Error("padding does not change the key")
	}
}

func TestCheckPublic(t *testing.T) {
	p := Group2.P
	pm1 := new(big.Int).Sub(p, big.NewInt(1))
	for name, y := range map[string]*big.Int{
		"nil": nil, "0": big.NewInt(0), "1": big.NewInt(1), "-5": big.NewInt(-5),
		"p-1": pm1, "p": p, "p+1": new(big.Int).Add(p, big.NewInt(1)),
		// -2 is a quadratic non-residue for p = 7 mod 8: outside the order-q subgroup.
		"p-2": new(big.Int).Sub(p, big.NewInt(2)),
	} {
		if err := Group2.CheckPublic(y); !errors.Is(err, ErrBadPublicValue) {
			t.Errorf("y = %s accepted: %v", name, err)
		}
		k := &PrivateKey{Group: Group2, x: big.NewInt(3)}
		if _, err := k.SharedSecret(y); !errors.Is(err, ErrBadPublicValue) {
			t.Errorf("SharedSecret with y = %s: %v", name, err)
		}
	}
	if err := Group2.CheckPublic(big.NewInt(2)); err != nil {
		t.Errorf("y = 2 (the generator) refused: %v", err)
	}
}

// The same randomness makes the same key, so a recorded conversation replays.
func TestGenerateKeyDeterministic(t *testing.T) {
	seed := bytes.Repeat([]byte{0x5a}, 4096)
	a, err := GenerateKey(Group14, bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateKey(Group14, bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	if a.Public.Cmp(b.Public) != 0 {
		t.Error("same randomness, different keys")
	}
	if err := Group14.CheckPublic(a.Public); err != nil {
		t.Error(err)
	}
	if _, err := GenerateKey(Group2, bytes.NewReader(nil)); err == nil {
		t.Error("no randomness, yet a key")
	}
	if _, err := GenerateKey(&Group{}, nil); err == nil {
		t.Error("empty group accepted")
	}
}

func TestParseDHPublicValue(t *testing.T) {
	if _, err := ParseDHPublicValue(asn1.BitString{Bytes: []byte{2, 1, 5}, BitLength: 23}); !errors.Is(err, ErrMalformed) {
		t.Errorf("partial octet: %v", err)
	}
	if _, err := ParseDHPublicValue(asn1.BitString{Bytes: []byte{4, 1, 5}, BitLength: 24}); !errors.Is(err, ErrMalformed) {
		t.Errorf("not an INTEGER: %v", err)
	}
	if _, err := ParseDHPublicValue(asn1.BitString{Bytes: []byte{2, 1, 5, 0}, BitLength: 32}); !errors.Is(err, ErrMalformed) {
		t.Errorf("trailing octet: %v", err)
	}
	if _, err := MarshalDHPublicValue(big.NewInt(0)); err == nil {
		t.Error("zero public value encoded")
	}
	alg, err := Group2.AlgorithmIdentifier()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ParseDHPublicKeyInfo(&SubjectPublicKeyInfo{Algorithm: alg}); err == nil {
		t.Error("empty public key accepted")
	}
	if _, _, err := ParseDHPublicKeyInfo(nil); err == nil {
		t.Error("nil accepted")
	}
}

// RFC 4556 3.2.3.1, cross-checked with an independent computation (Python hashlib:
// SHA1(0x00 || x) || SHA1(0x01 || x), x = ZZ || clientDHNonce || serverDHNonce).
func TestOctetString2Key(t *testing.T) {
	zz := make([]byte, 128)
	for i := range zz {
		zz[i] = byte(i)
	}
	cn, sn := bytes.Repeat([]byte{0x11}, 32), bytes.Repeat([]byte{0x22}, 32)
	for _, tc := range []struct {
		etype  int32
		cn, sn []byte
		want   string
	}{
		{18, cn, sn, "867719516574ee29143e1eadf1329417d89ca9a0b42159c9721d08d8015765f6"},
		{17, cn, sn, "867719516574ee29143e1eadf1329417"},
		{20, cn, sn, "867719516574ee29143e1eadf1329417d89ca9a0b42159c9721d08d8015765f6"},
		{19, cn, sn, "867719516574ee29143e1eadf1329417"},
		{23, cn, sn, "867719516574ee29143e1eadf1329417"},
		{18, nil, nil, "d8bbd79126b6c35f240f1ce119906d45785a5232a42bfea88c86e778fdb2a33f"},
	} {
		k, err := OctetString2Key(tc.etype, zz, tc.cn, tc.sn)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(k.KeyValue); got != tc.want || k.KeyType != tc.etype {
			t.Errorf("etype %d: %s, want %s", tc.etype, got, tc.want)
		}
	}
	// DES3: 21 seed octets, then random-to-key's parity expansion to 24.
	k, err := OctetString2Key(16, zz, cn, sn)
	if err != nil || len(k.KeyValue) != 24 {
		t.Errorf("des3: %d octets, %v", len(k.KeyValue), err)
	}
	if _, err := OctetString2Key(1, zz, nil, nil); !errors.Is(err, ErrUnsupportedEtype) {
		t.Errorf("des-cbc-crc: %v", err)
	}
	if _, err := OctetString2Key(18, nil, nil, nil); err == nil {
		t.Error("empty ZZ accepted")
	}
	for etype, n := range map[int32]int{17: 16, 18: 32, 19: 16, 20: 32, 23: 16, 16: 21} {
		if got, err := KeySeedLength(etype); got != n || err != nil {
			t.Errorf("KeySeedLength(%d) = %d, %v", etype, got, err)
		}
	}
}
