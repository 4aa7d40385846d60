package pkinit

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/gossp/gossp/internal/cms"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// windowsIssuer is the issuer of the certificate in Windows' PA-PK-AS-REQ: the DER
// Name CN=MS-Organization-P2P-Access [2021] (a BMPString), the issuer Windows names
// in its PKU2U meta-data.
func windowsIssuer(t *testing.T) []byte {
	t.Helper()
	var req PAPKASReq
	if err := req.Unmarshal(readTestdata(t, "pa_pk_as_req.der")); err != nil {
		t.Fatal(err)
	}
	sd, err := cms.Parse(req.SignedAuthPack)
	if err != nil {
		t.Fatal(err)
	}
	if sd.Signer.Issuer.CommonName != "MS-Organization-P2P-Access [2021]" {
		t.Fatalf("issuer %q", sd.Signer.Issuer.CommonName)
	}
	return sd.Signer.RawIssuer
}

// The meta-data encodings picky-rs (whose PKU2U interoperates with Windows) expects in
// its tests.
const (
	pickyInitiatorMetaData = "3081e6a081a93081a63051804f304d314b304906035504031e42004d0053002d004f007200670061006e0069007a006100740069006f006e002d005000320050002d0041006300630065007300730020005b0032003000320031005d3051804f304d314b304906035504031e42004d0053002d004f007200670061006e0069007a006100740069006f006e002d005000320050002d0041006300630065007300730020005b0032003000320031005da1383036a0111b0f57454c4c4b4e4f574e3a504b553255a121301fa003020102a11830161b075445524d5352561b0b415a52444f574e2d573130"
	pickyAcceptorMetaData  = "308180a07e307c3051804f304d314b304906035504031e42004d0053002d004f007200670061006e0069007a006100740069006f006e002d005000320050002d0041006300630065007300730020005b0032003000320031005d3027802530233121301f06035504031318546f6b656e205369676e696e67205075626c6963204b6579"
)

func TestMetaData(t *testing.T) {
	issuer := windowsIssuer(t)
	im := InitiatorMetaData{
		TrustedCertifiers: []ExternalPrincipalIdentifier{{SubjectName: issuer}, {SubjectName: issuer}},
		TargetRealm:       "WELLKNOWN:PKU2U",
		TargetName:        types.PrincipalName{NameType: 2, NameString: []string{"TERMSRV", "AZRDOWN-W10"}},
	}
	der, err := im.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, pickyInitiatorMetaData); !bytes.Equal(der, want) {
		t.Fatalf("initiator meta-data\n got %x\nwant %x", der, want)
	}
	var back InitiatorMetaData
	if err := back.Unmarshal(der); err != nil || !reflect.DeepEqual(back, im) {
		t.Fatalf("initiator meta-data decodes to %+v, %v", back, err)
	}

	signing := mustDER(t, pkix.Name{CommonName: "Token Signing Public Key"}.ToRDNSequence())
	am := AcceptorMetaData{TrustedCertifiers: []ExternalPrincipalIdentifier{{SubjectName: issuer}, {SubjectName: signing}}}
	der, err = am.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, pickyAcceptorMetaData); !bytes.Equal(der, want) {
		t.Fatalf("acceptor meta-data\n got %x\nwant %x", der, want)
	}
	var aback AcceptorMetaData
	if err := aback.Unmarshal(der); err != nil || !reflect.DeepEqual(aback, am) {
		t.Fatalf("acceptor meta-data decodes to %+v, %v", aback, err)
	}
	// An acceptor reading the initiator's meta-data sees its trusted issuers.
	if err := aback.Unmarshal(unhex(t, pickyInitiatorMetaData)); err != nil || len(aback.TrustedCertifiers) != 2 {
		t.Errorf("initiator meta-data as acceptor's: %+v, %v", aback, err)
	}
	// Without a target the [1] element is left out.
	der, err = (&InitiatorMetaData{}).Marshal()
	if err != nil || !bytes.Equal(der, []byte{0x30, 0x04, 0xa0, 0x02, 0x30, 0x00}) {
		t.Errorf("empty initiator meta-data: %x, %v", der, err)
	}
	if err := back.Unmarshal(der); err != nil || back.TargetRealm != "" || back.TrustedCertifiers != nil {
		t.Errorf("empty initiator meta-data decodes to %+v, %v", back, err)
	}
	if err := back.Unmarshal(append(der, 0)); !errors.Is(err, ErrMalformed) {
		t.Errorf("trailing byte: %v", err)
	}
}

func mustDER(t *testing.T, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testCert(t *testing.T, cn string) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(4242),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		SubjectKeyId: []byte("ski:" + cn),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func TestExternalPrincipalIdentifier(t *testing.T) {
	c, _ := testCert(t, "peer")
	other, _ := testCert(t, "other")
	id, err := IdentifierOf(c)
	if err != nil {
		t.Fatal(err)
	}
	if !id.Matches(c) || id.Matches(other) || id.Matches(nil) {
		t.Error("IdentifierOf does not match its own certificate only")
	}
	for _, partial := range []ExternalPrincipalIdentifier{
		{SubjectName: id.SubjectName}, {IssuerAndSerialNumber: id.IssuerAndSerialNumber}, {SubjectKeyIdentifier: id.SubjectKeyIdentifier},
	} {
		if !partial.Matches(c) {
			t.Errorf("%+v does not match", partial)
		}
	}
	if (ExternalPrincipalIdentifier{}).Matches(c) || (ExternalPrincipalIdentifier{IssuerAndSerialNumber: []byte{1}}).Matches(c) {
		t.Error("empty or malformed identifier matches")
	}

	// TD-TRUSTED-CERTIFIERS and TD-INVALID-CERTIFICATES.
	ids := []ExternalPrincipalIdentifier{id, {SubjectName: other.RawSubject}}
	der, err := MarshalExternalPrincipalIdentifiers(ids)
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalExternalPrincipalIdentifiers(der)
	if err != nil || !reflect.DeepEqual(back, ids) {
		t.Fatalf("identifiers decode to %+v, %v", back, err)
	}
	if der, err := MarshalExternalPrincipalIdentifiers(nil); err != nil || !bytes.Equal(der, []byte{0x30, 0}) {
		t.Errorf("empty list: %x, %v", der, err)
	}
	if _, err := UnmarshalExternalPrincipalIdentifiers([]byte{0x30, 3, 0x30, 1}); !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated: %v", err)
	}

	// TD-DH-PARAMETERS.
	a14, err := Group14.AlgorithmIdentifier()
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := Group2.AlgorithmIdentifier()
	der, err = MarshalDHParameters([]pkix.AlgorithmIdentifier{a14, a2})
	if err != nil {
		t.Fatal(err)
	}
	algs, err := UnmarshalDHParameters(der)
	if err != nil || len(algs) != 2 {
		t.Fatal(err)
	}
	var dp DomainParameters
	if _, err := asn1.Unmarshal(algs[0].Parameters.FullBytes, &dp); err != nil {
		t.Fatal(err)
	}
	if g, err := GroupOf(dp); g != Group14 || err != nil {
		t.Errorf("first TD-DH-PARAMETERS group %v, %v", g, err)
	}
}

func TestKDCReqBody(t *testing.T) {
	opts := types.NewKrbFlags()
	types.SetFlags(&opts, []int{1, 8, 15, 27}) // 0x40810010, what Windows sends
	body := messages.KDCReqBody{
		KDCOptions: opts,
		CName:      types.PrincipalName{NameType: -128, NameString: []string{`AzureAD\Issuer\S-1-12-1-1`}},
		Realm:      "WELLKNOWN:PKU2U",
		SName:      types.PrincipalName{NameType: -128, NameString: []string{"host.example"}},
		Till:       time.Date(2037, 9, 13, 2, 48, 5, 0, time.UTC),
		Nonce:      0,
		EType:      []int32{18, 17, 23, 24, -135},
	}
	want, err := body.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	req := messages.ASReq{KDCReqFields: messages.KDCReqFields{
		PVNO: 5, MsgType: 10, ReqBody: body,
		PAData: types.PADataSequence{{PADataType: PADataPKASReq, PADataValue: []byte{0x30, 0x00}}},
	}}
	der, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := KDCReqBody(der)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("req-body\n got %x\nwant %x", got, want)
	}
	if sum := PAChecksum(got); len(sum) != 20 || !CheckPAChecksum(want, sum) || CheckPAChecksum(want[1:], sum) || CheckPAChecksum(want, sum[:19]) {
		t.Error("paChecksum")
	}

	// A TGS-REQ has its req-body found the same way.
	tgs := messages.TGSReq{KDCReqFields: messages.KDCReqFields{PVNO: 5, MsgType: 12, ReqBody: body}}
	der2, err := tgs.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := KDCReqBody(der2); err != nil || !bytes.Equal(got, want) {
		t.Errorf("TGS-REQ: %v", err)
	}

	bad := bytes.Clone(der)
	bad[0] = 0x6b // [APPLICATION 11] AS-REP
	for name, b := range map[string][]byte{
		"as-rep":   bad,
		"trailing": append(bytes.Clone(der), 0),
		"empty":    nil,
		"no body":  {0x6a, 0x0a, 0x30, 0x08, 0xa1, 0x03, 0x02, 0x01, 0x05, 0xa2, 0x01, 0x00},
		"order":    {0x6a, 0x0c, 0x30, 0x0a, 0xa2, 0x03, 0x02, 0x01, 0x0a, 0xa1, 0x03, 0x02, 0x01, 0x05},
		"not seq":  {0x6a, 0x0b, 0x30, 0x09, 0xa4, 0x07, 0x04, 0x05, 'h', 'e', 'l', 'l', 'o'},
	} {
		if _, err := KDCReqBody(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// The exchange end to end, both roles on this package and package cms: the client's
// signed AuthPack, the server's signed KDCDHKeyInfo, and the same reply key on both
// sides.
func TestPKINITExchange(t *testing.T) {
	clientCert, clientKey := testCert(t, "client")
	serverCert, serverKey := testCert(t, "server")
	reqBody := []byte{0x30, 0x03, 0x02, 0x01, 0x00} // stands for the KDC-REQ-BODY

	// Client.
	priv, err := GenerateKey(Group14, nil)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := priv.PublicKeyInfo()
	if err != nil {
		t.Fatal(err)
	}
	clientNonce := bytes.Repeat([]byte{1}, 32)
	ap := AuthPack{
		PKAuthenticator:   PKAuthenticator{Cusec: 123456, CTime: time.Now(), Nonce: 0, PAChecksum: PAChecksum(reqBody)},
		ClientPublicValue: spki,
		ClientDHNonce:     clientNonce,
	}
	apDER, err := ap.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := cms.Sign(OIDPKAuthData, apDER, clientKey, []*x509.Certificate{clientCert}, cms.SignOptions{Hash: crypto.SHA1})
	if err != nil {
		t.Fatal(err)
	}
	padata, err := (&PAPKASReq{SignedAuthPack: signed}).Marshal()
	if err != nil {
		t.Fatal(err)
	}

	// Server.
	var req PAPKASReq
	if err := req.Unmarshal(padata); err != nil {
		t.Fatal(err)
	}
	sd, err := cms.Verify(req.SignedAuthPack, cms.VerifyOptions{EContentType: OIDPKAuthData})
	if err != nil || !sd.Signer.Equal(clientCert) {
		t.Fatal(err)
	}
	var got AuthPack
	if err := got.Unmarshal(sd.EContent); err != nil {
		t.Fatal(err)
	}
	if !CheckPAChecksum(reqBody, got.PKAuthenticator.PAChecksum) {
		t.Fatal("paChecksum")
	}
	group, clientY, err := ParseDHPublicKeyInfo(got.ClientPublicValue)
	if err != nil {
		t.Fatal(err)
	}
	spriv, err := GenerateKey(group, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := MarshalDHPublicValue(spriv.Public)
	if err != nil {
		t.Fatal(err)
	}
	kiDER, err := (&KDCDHKeyInfo{SubjectPublicKey: pub, Nonce: got.PKAuthenticator.Nonce}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	dhSigned, err := cms.Sign(OIDPKDHKeyData, kiDER, serverKey, []*x509.Certificate{serverCert}, cms.SignOptions{Hash: crypto.SHA1})
	if err != nil {
		t.Fatal(err)
	}
	serverNonce := bytes.Repeat([]byte{2}, 32)
	repDER, err := (&PAPKASRep{DHInfo: &DHRepInfo{DHSignedData: dhSigned, ServerDHNonce: serverNonce}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	zzServer, err := spriv.SharedSecret(clientY)
	if err != nil {
		t.Fatal(err)
	}
	serverKeyOut, err := OctetString2Key(18, zzServer, got.ClientDHNonce, serverNonce)
	if err != nil {
		t.Fatal(err)
	}

	// Client.
	var rep PAPKASRep
	if err := rep.Unmarshal(repDER); err != nil {
		t.Fatal(err)
	}
	rsd, err := cms.Verify(rep.DHInfo.DHSignedData, cms.VerifyOptions{EContentType: OIDPKDHKeyData})
	if err != nil || !rsd.Signer.Equal(serverCert) {
		t.Fatal(err)
	}
	var ki KDCDHKeyInfo
	if err := ki.Unmarshal(rsd.EContent); err != nil {
		t.Fatal(err)
	}
	serverY, err := ParseDHPublicValue(ki.SubjectPublicKey)
	if err != nil {
		t.Fatal(err)
	}
	zzClient, err := priv.SharedSecret(serverY)
	if err != nil {
		t.Fatal(err)
	}
	clientKeyOut, err := OctetString2Key(18, zzClient, clientNonce, rep.DHInfo.ServerDHNonce)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(clientKeyOut.KeyValue, serverKeyOut.KeyValue) || len(clientKeyOut.KeyValue) != 32 {
		t.Fatal("client and server derive different reply keys")
	}
}

func TestMessagesRoundTrip(t *testing.T) {
	ctime := time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC)
	a14, _ := Group14.AlgorithmIdentifier()
	spki := &SubjectPublicKeyInfo{Algorithm: a14, PublicKey: asn1.BitString{Bytes: []byte{2, 1, 2}, BitLength: 24}}
	full := AuthPack{
		PKAuthenticator: PKAuthenticator{Cusec: 999999, CTime: ctime, Nonce: 0xffffffff,
			PAChecksum: bytes.Repeat([]byte{3}, 20), FreshnessToken: []byte("token")},
		ClientPublicValue: spki,
		SupportedCMSTypes: []pkix.AlgorithmIdentifier{{Algorithm: cms.OIDSHA256WithRSA, Parameters: asn1.NullRawValue}},
		ClientDHNonce:     bytes.Repeat([]byte{4}, 32),
		SupportedKDFs:     []asn1.ObjectIdentifier{OIDKDFSHA256, OIDKDFSHA1},
	}
	der, err := full.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var back AuthPack
	if err := back.Unmarshal(der); err != nil {
		t.Fatal(err)
	}
	if again, _ := back.Marshal(); !bytes.Equal(again, der) || !back.PKAuthenticator.CTime.Equal(ctime) || back.PKAuthenticator.Nonce != 0xffffffff ||
		len(back.SupportedKDFs) != 2 || !back.SupportedKDFs[0].Equal(OIDKDFSHA256) || string(back.PKAuthenticator.FreshnessToken) != "token" {
		t.Errorf("AuthPack came back as %+v", back)
	}

	// Times are sent as UTC whole seconds.
	local := time.Date(2024, 3, 1, 1, 2, 3, 456, time.FixedZone("X", 3600))
	pa := PKAuthenticator{CTime: local}
	der, err = pa.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(der, []byte("20240301000203Z")) {
		t.Errorf("ctime not UTC whole seconds: %x", der)
	}
	var pback PKAuthenticator
	if err := pback.Unmarshal(der); err != nil || !pback.CTime.Equal(local.Truncate(time.Second)) {
		t.Errorf("PKAuthenticator back: %+v, %v", pback, err)
	}
	if _, err := (&PKAuthenticator{Cusec: 1000000}).Marshal(); err == nil {
		t.Error("cusec 1000000 encoded")
	}

	// PA-PK-AS-REQ with every field.
	req := PAPKASReq{SignedAuthPack: []byte{0x30, 0}, TrustedCertifiers: []ExternalPrincipalIdentifier{{SubjectName: []byte{0x30, 0}}}, KDCPkID: []byte{1, 2}}
	der, err = req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var rback PAPKASReq
	if err := rback.Unmarshal(der); err != nil || !reflect.DeepEqual(rback, req) {
		t.Errorf("PA-PK-AS-REQ back: %+v, %v", rback, err)
	}
	if _, err := (&PAPKASReq{}).Marshal(); err == nil {
		t.Error("empty PA-PK-AS-REQ encoded")
	}

	// PA-PK-AS-REP: exactly one choice.
	der, err = (&PAPKASRep{EncKeyPack: []byte{0x30, 0}}).Marshal()
	if err != nil || der[0] != 0x81 {
		t.Fatalf("encKeyPack: %x, %v", der, err)
	}
	var rep PAPKASRep
	if err := rep.Unmarshal(der); err != nil || rep.DHInfo != nil || !bytes.Equal(rep.EncKeyPack, []byte{0x30, 0}) {
		t.Errorf("encKeyPack back: %+v, %v", rep, err)
	}
	if _, err := (&PAPKASRep{}).Marshal(); err == nil {
		t.Error("empty PA-PK-AS-REP encoded")
	}
	if _, err := (&PAPKASRep{DHInfo: &DHRepInfo{DHSignedData: []byte{1}}, EncKeyPack: []byte{1}}).Marshal(); err == nil {
		t.Error("both choices encoded")
	}
	der, err = (&PAPKASRep{DHInfo: &DHRepInfo{DHSignedData: []byte{0x30, 0}, KDF: OIDKDFSHA512}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Unmarshal(der); err != nil || !rep.DHInfo.KDF.Equal(OIDKDFSHA512) || rep.DHInfo.ServerDHNonce != nil {
		t.Errorf("DHRepInfo with kdf back: %+v, %v", rep.DHInfo, err)
	}
	for name, b := range map[string][]byte{
		"[2]":                   {0xa2, 0},
		"universal":             {0x30, 0},
		"primitive [0]":         {0x80, 0},
		"empty dhSignedData":    {0xa0, 4, 0x30, 2, 0x80, 0},
		"constructed [1]":       {0xa1, 0},
		"empty signedAuthPack?": {},
	} {
		if err := rep.Unmarshal(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("PA-PK-AS-REP %s: %v", name, err)
		}
	}
	if err := rback.Unmarshal([]byte{0x30, 2, 0x80, 0}); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty signedAuthPack: %v", err)
	}

	// KDCDHKeyInfo with an expiration.
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	ki := KDCDHKeyInfo{SubjectPublicKey: asn1.BitString{Bytes: []byte{2, 1, 7}, BitLength: 24}, Nonce: 7, DHKeyExpiration: exp}
	der, err = ki.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var kback KDCDHKeyInfo
	if err := kback.Unmarshal(der); err != nil || !kback.DHKeyExpiration.Equal(exp) || kback.Nonce != 7 {
		t.Errorf("KDCDHKeyInfo back: %+v, %v", kback, err)
	}
	// A nonce outside 0..2^32-1 is refused.
	big := mustDER(t, kdcDHKeyInfoASN1{SubjectPublicKey: ki.SubjectPublicKey, Nonce: 1 << 32})
	if err := kback.Unmarshal(big); !errors.Is(err, ErrMalformed) {
		t.Errorf("nonce 2^32: %v", err)
	}
}
