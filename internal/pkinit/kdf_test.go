package pkinit

import (
	"bytes"
	"encoding/asn1"
	"encoding/hex"
	"testing"

	"github.com/jcmturner/gokrb5/v8/types"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 8636 Appendix A (also MIT krb5's pkinit_kdf_test.c): Z is 256 zero octets,
// partyU lha@SU.SE and partyV krbtgt/SU.SE@SU.SE (NT-PRINCIPAL), as-REQ ten 0xaa
// octets, pk-as-rep nine 0xbb octets.
func TestRFC8636Vectors(t *testing.T) {
	base := KDFParams{
		ZZ:          make([]byte, 256),
		ClientRealm: "SU.SE",
		Client:      types.PrincipalName{NameType: 1, NameString: []string{"lha"}},
		KDCRealm:    "SU.SE",
		KDC:         types.PrincipalName{NameType: 1, NameString: []string{"krbtgt", "SU.SE"}},
		ASReq:       bytes.Repeat([]byte{0xaa}, 10),
		PKASRep:     bytes.Repeat([]byte{0xbb}, 9),
	}
	for _, tc := range []struct {
		name  string
		kdf   asn1.ObjectIdentifier
		etype int32
		want  string
	}{
		{"sha1-aes256", OIDKDFSHA1, 18, "e6ab38c9413e035bb079201ed0b6b73d8d49a814a737c04ee6649614206f73ad"},
		{"sha256-aes256", OIDKDFSHA256, 18, "77ef4e48c420ae3fec75109d7981697eed5d295c90c62564f7bfd101fa9bc1d5"},
		{"sha512-des3", OIDKDFSHA512, 16, "d3c78a79d65213efe9a826f75dfb01f72362fb16fb01dad6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := base
			p.KDF = tc.kdf
			p.EType = tc.etype
			k, err := DeriveKeyRFC8636(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(k.KeyValue); got != tc.want || k.KeyType != tc.etype {
				t.Errorf("key %s (etype %d), want %s", got, k.KeyType, tc.want)
			}
		})
	}
}
