package cms

import (
	"encoding/asn1"
	"os"
	"path/filepath"
	"testing"
)

// addSeeds seeds a fuzz target with every recorded SignedData: Windows' two and
// OpenSSL's.
func addSeeds(f *testing.F) {
	files, err := filepath.Glob("testdata/*.der")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, der []byte) {
		sd, err := Parse(der)
		if err != nil {
			return
		}
		if sd.Raw == nil || sd.signedAttrs[0] != 0x31 || len(sd.Certificates) > MaxCertificates {
			t.Fatalf("inconsistent SignedData %+v", sd)
		}
		if sd.Signer != nil && !sd.signerID.matches(sd.Signer) {
			t.Fatal("signer does not match its identifier")
		}
	})
}

func FuzzVerify(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, der []byte) {
		for _, ct := range []asn1.ObjectIdentifier{oidAuthData, oidDHKeyData} {
			sd, err := Verify(der, VerifyOptions{EContentType: ct})
			if err != nil {
				continue
			}
			if sd.Signer == nil || !sd.EContentType.Equal(ct) {
				t.Fatalf("verified without a signer or with content type %v", sd.EContentType)
			}
		}
	})
}
