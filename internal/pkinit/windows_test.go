package pkinit

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/gossp/gossp/internal/cms"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The PA-PK-AS-REQ Windows sent: every layer decodes, re-encodes byte for byte, and
// holds what the capture's README describes.
func TestWindowsPAPKASReq(t *testing.T) {
	der := readTestdata(t, "pa_pk_as_req.der")
	var req PAPKASReq
	if err := req.Unmarshal(der); err != nil {
		t.Fatal(err)
	}
	if again, err := req.Marshal(); err != nil || !bytes.Equal(again, der) {
		t.Fatalf("PA-PK-AS-REQ does not round-trip (err %v)", err)
	}
	if req.TrustedCertifiers != nil || req.KDCPkID != nil {
		t.Errorf("unexpected optional fields: %+v", req)
	}
	if req.SignedAuthPack[0] != 0x30 || req.SignedAuthPack[4] != 0x02 {
		t.Errorf("signedAuthPack is not a bare SignedData")
	}
	sd, err := cms.Verify(req.SignedAuthPack, cms.VerifyOptions{EContentType: OIDPKAuthData})
	if err != nil {
		t.Fatalf("Windows' signedAuthPack does not verify: %v", err)
	}
	var ap AuthPack
	if err := ap.Unmarshal(sd.EContent); err != nil {
		t.Fatal(err)
	}
	if again, err := ap.Marshal(); err != nil || !bytes.Equal(again, sd.EContent) {
		t.Fatalf("AuthPack does not round-trip (err %v)\n%x\n%x", err, again, sd.EContent)
	}
	pa := ap.PKAuthenticator
	if pa.Nonce != 0 || len(pa.PAChecksum) != 20 || pa.Cusec != 0x06dbfb ||
		!pa.CTime.Equal(time.Date(2022, 5, 17, 20, 25, 59, 0, time.UTC)) || pa.FreshnessToken != nil {
		t.Errorf("PKAuthenticator %+v", pa)
	}
	if ap.SupportedCMSTypes != nil || ap.SupportedKDFs != nil || len(ap.ClientDHNonce) != 32 {
		t.Errorf("AuthPack: cms types %v, kdfs %v, nonce %d bytes", ap.SupportedCMSTypes, ap.SupportedKDFs, len(ap.ClientDHNonce))
	}
	var dp DomainParameters
	params := ap.ClientPublicValue.Algorithm.Parameters.FullBytes
	if err := dp.Unmarshal(params); err != nil {
		t.Fatal(err)
	}
	if again, err := dp.Marshal(); err != nil || !bytes.Equal(again, params) || dp.J != nil || dp.ValidationParms.FullBytes != nil ||
		dp.P.Cmp(Group2.P) != 0 || dp.G.Int64() != 2 || dp.Q.Cmp(Group2.Q) != 0 {
		t.Errorf("DomainParameters: p, g, q only, of Oakley group 2, round-tripping (err %v)", err)
	}
	spkiDER, err := ap.ClientPublicValue.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(sd.EContent, spkiDER) {
		t.Error("clientPublicValue does not re-encode as sent")
	}
	g, y, err := ParseDHPublicKeyInfo(ap.ClientPublicValue)
	if err != nil {
		t.Fatal(err)
	}
	if g != Group2 || y.BitLen() < 1000 {
		t.Errorf("group %v, y of %d bits", g.Name, y.BitLen())
	}
	t.Logf("signer %s", sd.Signer.Subject)
}

func TestWindowsPAPKASRep(t *testing.T) {
	der := readTestdata(t, "pa_pk_as_rep.der")
	var rep PAPKASRep
	if err := rep.Unmarshal(der); err != nil {
		t.Fatal(err)
	}
	if again, err := rep.Marshal(); err != nil || !bytes.Equal(again, der) {
		t.Fatalf("PA-PK-AS-REP does not round-trip (err %v)", err)
	}
	var dri DHRepInfo
	if err := dri.Unmarshal(der[4:]); err != nil {
		t.Fatal(err)
	}
	if again, err := dri.Marshal(); err != nil || !bytes.Equal(again, der[4:]) {
		t.Errorf("DHRepInfo does not round-trip (err %v)", err)
	}
	if rep.DHInfo == nil || rep.EncKeyPack != nil || len(rep.DHInfo.ServerDHNonce) != 32 || rep.DHInfo.KDF != nil {
		t.Fatalf("PA-PK-AS-REP %+v", rep)
	}
	sd, err := cms.Verify(rep.DHInfo.DHSignedData, cms.VerifyOptions{EContentType: OIDPKDHKeyData})
	if err != nil {
		t.Fatalf("Windows' dhSignedData does not verify: %v", err)
	}
	var ki KDCDHKeyInfo
	if err := ki.Unmarshal(sd.EContent); err != nil {
		t.Fatal(err)
	}
	if again, err := ki.Marshal(); err != nil || !bytes.Equal(again, sd.EContent) {
		t.Fatalf("KDCDHKeyInfo does not round-trip (err %v)", err)
	}
	y, err := ParseDHPublicValue(ki.SubjectPublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := Group2.CheckPublic(y); err != nil {
		t.Error(err)
	}
	if ki.Nonce != 0 || !ki.DHKeyExpiration.IsZero() {
		t.Errorf("KDCDHKeyInfo %+v", ki)
	}
	t.Logf("signer %s", sd.Signer.Subject)
}
