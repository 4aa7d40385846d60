package cms

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"os"
	"sync"
	"testing"
	"time"
)

var (
	oidAuthData  = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 2, 3, 1}
	oidDHKeyData = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 2, 3, 2}
)

type testSigner struct {
	key  crypto.Signer
	cert *x509.Certificate
}

var (
	signersOnce sync.Once
	rsaSigner   testSigner
	ecSigner    testSigner
	caSigner    testSigner // issues leafSigner
	leafSigner  testSigner
)

func newCert(t testing.TB, key crypto.Signer, cn string, serial int64, parent *testSigner) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  parent == nil,
	}
	issuer, signer := tmpl, key
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signers makes the test keys once per test binary: RSA key generation is slow.
func signers(t testing.TB) {
	signersOnce.Do(func() {
		rk, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		rsaSigner = testSigner{rk, newCert(t, rk, "gossp cms RSA", 1001, nil)}
		ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		ecSigner = testSigner{ek, newCert(t, ek, "gossp cms ECDSA", 1002, nil)}
		ck, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		caSigner = testSigner{ck, newCert(t, ck, "gossp cms CA", 1, nil)}
		lk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		leafSigner = testSigner{lk, newCert(t, lk, "gossp cms leaf", 7, &caSigner)}
	})
	if rsaSigner.key == nil {
		t.Fatal("test keys were not made")
	}
}

func TestSignVerify(t *testing.T) {
	signers(t)
	content := []byte("an AuthPack, say")
	for _, tc := range []struct {
		name string
		s    *testSigner
		opts SignOptions
		alg  asn1.ObjectIdentifier
	}{
		{"rsa-sha1-windows", &rsaSigner, SignOptions{Hash: crypto.SHA1}, OIDRSAEncryption},
		{"rsa-sha256-default", &rsaSigner, SignOptions{}, OIDRSAEncryption},
		{"rsa-sha384-hashoid-contentinfo", &rsaSigner, SignOptions{Hash: crypto.SHA384, RSAWithHashOID: true, ContentInfo: true}, OIDSHA384WithRSA},
		{"rsa-sha512-skid", &rsaSigner, SignOptions{Hash: crypto.SHA512, SubjectKeyIdentifier: true}, OIDRSAEncryption},
		{"ecdsa-sha256", &ecSigner, SignOptions{}, OIDECDSAWithSHA256},
		{"ecdsa-sha1-contentinfo-skid", &ecSigner, SignOptions{Hash: crypto.SHA1, ContentInfo: true, SubjectKeyIdentifier: true}, OIDECDSAWithSHA1},
		{"ecdsa-sha512", &ecSigner, SignOptions{Hash: crypto.SHA512}, OIDECDSAWithSHA512},
	} {
		t.Run(tc.name, func(t *testing.T) {
			der, err := Sign(oidAuthData, content, tc.s.key, []*x509.Certificate{tc.s.cert}, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if tc.opts.ContentInfo != (der[4] == 0x06) {
				t.Errorf("ContentInfo %v, but output starts % x", tc.opts.ContentInfo, der[:6])
			}
			sd, err := Verify(der, VerifyOptions{EContentType: oidAuthData})
			if err != nil {
				t.Fatal(err)
			}
			want := tc.opts.Hash
			if want == 0 {
				want = crypto.SHA256
			}
			if !bytes.Equal(sd.EContent, content) || sd.Signer != sd.Certificates[0] || !sd.Signer.Equal(tc.s.cert) ||
				sd.Hash != want || !sd.SignatureAlgorithm.Equal(tc.alg) || !sd.EContentType.Equal(oidAuthData) {
				t.Errorf("got %+v", sd)
			}
			// The bare SignedData inside is what Parse reports as Raw, and verifies too.
			if _, err := Verify(sd.Raw, VerifyOptions{EContentType: oidAuthData}); err != nil {
				t.Error(err)
			}
			if _, err := Verify(der, VerifyOptions{EContentType: oidDHKeyData}); !errors.Is(err, ErrContentType) {
				t.Errorf("wrong eContentType: %v", err)
			}
		})
	}
}

// The signed attributes are a DER SET: sorted, whatever order they were built in.
func TestSignedAttributesSorted(t *testing.T) {
	body, err := signedAttributes(oidAuthData, make([]byte, 20))
	if err != nil {
		t.Fatal(err)
	}
	var a, b asn1.RawValue
	rest, err := asn1.Unmarshal(body, &a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := asn1.Unmarshal(rest, &b); err != nil {
		t.Fatal(err)
	}
	if bytes.Compare(a.FullBytes, b.FullBytes) >= 0 {
		t.Errorf("attributes out of DER order")
	}
}

func TestVerifyChainAndExternalSigner(t *testing.T) {
	signers(t)
	chain := []*x509.Certificate{leafSigner.cert, caSigner.cert}
	der, err := Sign(oidDHKeyData, []byte("x"), leafSigner.key, chain, SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sd, err := Verify(der, VerifyOptions{EContentType: oidDHKeyData})
	if err != nil {
		t.Fatal(err)
	}
	if len(sd.Certificates) != 2 || !sd.Signer.Equal(leafSigner.cert) {
		t.Errorf("certificates %d, signer %v", len(sd.Certificates), sd.Signer.Subject)
	}

	// A SignedData whose signer certificate is not embedded verifies only with the
	// certificate supplied.
	der, err = Sign(oidDHKeyData, []byte("x"), leafSigner.key, []*x509.Certificate{leafSigner.cert}, SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stripped := stripCertificates(t, der)
	if _, err := Verify(stripped, VerifyOptions{EContentType: oidDHKeyData}); !errors.Is(err, ErrNoSigner) {
		t.Fatalf("no certificates: %v", err)
	}
	if _, err := Verify(stripped, VerifyOptions{EContentType: oidDHKeyData, Certificates: []*x509.Certificate{rsaSigner.cert}}); !errors.Is(err, ErrNoSigner) {
		t.Fatalf("wrong certificate: %v", err)
	}
	sd, err = Verify(stripped, VerifyOptions{EContentType: oidDHKeyData, Certificates: []*x509.Certificate{caSigner.cert, leafSigner.cert}})
	if err != nil {
		t.Fatal(err)
	}
	if !sd.Signer.Equal(leafSigner.cert) || len(sd.Certificates) != 0 {
		t.Errorf("signer %v, %d certificates", sd.Signer.Subject, len(sd.Certificates))
	}
}

func stripCertificates(t *testing.T, der []byte) []byte {
	t.Helper()
	var sd signedData
	if err := unmarshalAll(der, &sd, "test"); err != nil {
		t.Fatal(err)
	}
	sd.Certificates = asn1.RawValue{}
	out, err := asn1.Marshal(sd)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSignRefuses(t *testing.T) {
	signers(t)
	if _, err := Sign(oidAuthData, nil, rsaSigner.key, []*x509.Certificate{ecSigner.cert}, SignOptions{}); err == nil {
		t.Error("a key that is not the certificate's was used")
	}
	if _, err := Sign(oidAuthData, nil, rsaSigner.key, nil, SignOptions{}); err == nil {
		t.Error("no certificate")
	}
	if _, err := Sign(nil, nil, rsaSigner.key, []*x509.Certificate{rsaSigner.cert}, SignOptions{}); err == nil {
		t.Error("no eContentType")
	}
	if _, err := Sign(oidAuthData, nil, rsaSigner.key, []*x509.Certificate{rsaSigner.cert}, SignOptions{Hash: crypto.MD5}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("MD5: %v", err)
	}
}

// Each kind of damage is reported with its own error.
func TestVerifyFailures(t *testing.T) {
	signers(t)
	content := []byte("content to be signed")
	der, err := Sign(oidAuthData, content, rsaSigner.key, []*x509.Certificate{rsaSigner.cert}, SignOptions{Hash: crypto.SHA1})
	if err != nil {
		t.Fatal(err)
	}
	opts := VerifyOptions{EContentType: oidAuthData}

	flip := func(b []byte, find []byte) []byte {
		i := bytes.Index(b, find)
		if i < 0 {
			t.Fatalf("% x not found", find)
		}
		out := bytes.Clone(b)
		out[i+len(find)-1] ^= 1
		return out
	}
	var sd signedData
	if err := unmarshalAll(der, &sd, "test"); err != nil {
		t.Fatal(err)
	}
	sig := sd.SignerInfos[0].Signature
	md := sha1.Sum(content)

	for _, tc := range []struct {
		name string
		der  []byte
		opts VerifyOptions
		want error
	}{
		{"content", flip(der, content), opts, ErrDigestMismatch},
		{"signature", flip(der, sig[:16]), opts, ErrBadSignature},
		{"messageDigest", flip(der, md[:]), opts, ErrDigestMismatch},
		{"eContentType", der, VerifyOptions{EContentType: oidDHKeyData}, ErrContentType},
		{"hash not allowed", der, VerifyOptions{EContentType: oidAuthData, Hashes: []crypto.Hash{crypto.SHA256}}, ErrUnsupported},
		{"truncated", der[:len(der)-1], opts, ErrMalformed},
		{"trailing", append(bytes.Clone(der), 0), opts, ErrMalformed},
		{"empty", nil, opts, ErrMalformed},
		{"not a sequence", []byte{0x04, 0x00}, opts, ErrMalformed},
		{"contentinfo of data", mustMarshal(t, contentInfo{ContentType: OIDData, Content: asn1.RawValue{Class: 2, Tag: 0, IsCompound: true, Bytes: []byte{4, 0}}}), opts, ErrContentType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Verify(tc.der, tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := Verify(der, VerifyOptions{}); err == nil {
		t.Error("Verify without an expected eContentType")
	}
}

// A contentType attribute that disagrees with eContentType is refused even when the
// signature is good (the signer signed the attribute, not the eContentType).
func TestVerifyContentTypeAttribute(t *testing.T) {
	signers(t)
	der, err := Sign(oidDHKeyData, []byte("c"), ecSigner.key, []*x509.Certificate{ecSigner.cert}, SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var sd signedData
	if err := unmarshalAll(der, &sd, "test"); err != nil {
		t.Fatal(err)
	}
	sd.EncapContentInfo.EContentType = oidAuthData
	swapped := mustMarshal(t, sd)
	if _, err := Verify(swapped, VerifyOptions{EContentType: oidAuthData}); !errors.Is(err, ErrContentType) {
		t.Fatalf("got %v", err)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The SignedData Windows put in a PKU2U PA-PK-AS-REQ and PA-PK-AS-REP (bare, SHA-1,
// rsaEncryption, signer certificate embedded) parse, re-encode byte for byte and
// verify.
func TestWindowsSignedData(t *testing.T) {
	for _, tc := range []struct {
		file    string
		ct      asn1.ObjectIdentifier
		subject string
	}{
		{"windows_authdata.der", oidAuthData, "mamoreau@downhillpro.xyz"},
		{"windows_dhkeydata.der", oidDHKeyData, "cc3d96b4-0a0d-4a5d-8bfb-8d6ea8d955d2"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			der, err := os.ReadFile("testdata/" + tc.file)
			if err != nil {
				t.Fatal(err)
			}
			var w signedData
			if err := unmarshalAll(der, &w, "test"); err != nil {
				t.Fatal(err)
			}
			if again := mustMarshal(t, w); !bytes.Equal(again, der) {
				t.Error("SignedData does not re-encode byte for byte")
			}
			sd, err := Verify(der, VerifyOptions{EContentType: tc.ct})
			if err != nil {
				t.Fatal(err)
			}
			if sd.Hash != crypto.SHA1 || !sd.SignatureAlgorithm.Equal(OIDRSAEncryption) || len(sd.Certificates) != 1 ||
				sd.Signer.Subject.CommonName != tc.subject || sd.signerID.skid != nil {
				t.Errorf("hash %v, alg %v, %d certs, signer %q", sd.Hash, sd.SignatureAlgorithm, len(sd.Certificates), sd.Signer.Subject.CommonName)
			}
			if _, err := Verify(der, VerifyOptions{EContentType: tc.ct, Hashes: []crypto.Hash{crypto.SHA256}}); !errors.Is(err, ErrUnsupported) {
				t.Errorf("SHA-1 refused by policy: %v", err)
			}
		})
	}
}

// Sign with SHA-1 makes what Windows makes: signing Windows' own AuthPack gives the
// same digestAlgorithms, encapContentInfo, digest and signature algorithms, and signed
// attributes byte for byte (only the certificate, the signer's name and the signature
// differ, being another key's).
func TestSignMatchesWindows(t *testing.T) {
	signers(t)
	win, err := os.ReadFile("testdata/windows_authdata.der")
	if err != nil {
		t.Fatal(err)
	}
	wsd, err := Parse(win)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := Sign(wsd.EContentType, wsd.EContent, rsaSigner.key, []*x509.Certificate{rsaSigner.cert}, SignOptions{Hash: crypto.SHA1})
	if err != nil {
		t.Fatal(err)
	}
	var w, o signedData
	if err := unmarshalAll(win, &w, "windows"); err != nil {
		t.Fatal(err)
	}
	if err := unmarshalAll(ours, &o, "ours"); err != nil {
		t.Fatal(err)
	}
	wi, oi := w.SignerInfos[0], o.SignerInfos[0]
	for _, f := range []struct {
		name   string
		wv, ov any
	}{
		{"version", w.Version, o.Version},
		{"digestAlgorithms", w.DigestAlgorithms, o.DigestAlgorithms},
		{"encapContentInfo", w.EncapContentInfo.EContent.FullBytes, o.EncapContentInfo.EContent.FullBytes},
		{"signerInfo version", wi.Version, oi.Version},
		{"digestAlgorithm", mustMarshal(t, wi.DigestAlgorithm), mustMarshal(t, oi.DigestAlgorithm)},
		{"signedAttrs", wi.SignedAttrs.FullBytes, oi.SignedAttrs.FullBytes},
		{"signatureAlgorithm", mustMarshal(t, wi.SignatureAlgorithm), mustMarshal(t, oi.SignatureAlgorithm)},
		{"sid is IssuerAndSerialNumber", wi.SID.Tag, oi.SID.Tag},
	} {
		if fmt.Sprint(f.wv) != fmt.Sprint(f.ov) {
			t.Errorf("%s: Windows %v, ours %v", f.name, f.wv, f.ov)
		}
	}
}
