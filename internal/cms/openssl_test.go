package cms

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gossp/gossp/internal/interop"
)

var update = flag.Bool("update", false, "re-record testdata/openssl_*.der with the openssl command")

// opensslContent is what the recorded OpenSSL SignedData encapsulate.
var opensslContent = []byte("gossp internal/cms interop: content signed by openssl cms\n")

// Recorded SignedData made by `openssl cms -sign` (ContentInfo, with OpenSSL's own
// signed attributes: contentType, signingTime, smimeCapabilities, messageDigest).
var opensslRecordings = []struct {
	file string
	ct   asn1.ObjectIdentifier
	s    *testSigner
	args []string
	hash crypto.Hash
	skid bool
}{
	{"openssl_rsa_sha1_authdata.der", oidAuthData, &rsaSigner, []string{"-md", "sha1"}, crypto.SHA1, false},
	{"openssl_rsa_sha256_dhkeydata.der", oidDHKeyData, &rsaSigner, []string{"-md", "sha256"}, crypto.SHA256, false},
	{"openssl_ecdsa_sha384_keyid_authdata.der", oidAuthData, &ecSigner, []string{"-md", "sha384", "-keyid"}, crypto.SHA384, true},
}

// writeSigner writes a test signer's certificate and key as PEM for openssl.
func writeSigner(t *testing.T, dir string, s *testSigner) (certFile, keyFile string) {
	t.Helper()
	p8, err := x509.MarshalPKCS8PrivateKey(s.key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func runOpenSSL(t *testing.T, openssl string, args ...string) []byte {
	t.Helper()
	var stderr interop.Output
	cmd := exec.Command(openssl, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// opensslSign has `openssl cms -sign` make a SignedData of content.
func opensslSign(t *testing.T, openssl string, s *testSigner, ct asn1.ObjectIdentifier, content []byte, extra ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile := writeSigner(t, dir, s)
	in, out := filepath.Join(dir, "in.bin"), filepath.Join(dir, "out.der")
	if err := os.WriteFile(in, content, 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"cms", "-sign", "-in", in, "-signer", certFile, "-inkey", keyFile,
		"-econtent_type", ct.String(), "-nodetach", "-binary", "-outform", "DER", "-out", out}, extra...)
	runOpenSSL(t, openssl, args...)
	der, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// OpenSSL verifies what Sign makes (in a ContentInfo, since OpenSSL reads no bare
// SignedData), and refuses it once damaged.
func TestOpenSSLVerifiesSign(t *testing.T) {
	openssl := interop.Command(t, "openssl")
	signers(t)
	content := []byte("an AuthPack for openssl")
	for _, tc := range []struct {
		name string
		s    *testSigner
		opts SignOptions
	}{
		{"rsa-sha1-windows-shape", &rsaSigner, SignOptions{Hash: crypto.SHA1, ContentInfo: true}},
		{"rsa-sha256-hashoid", &rsaSigner, SignOptions{RSAWithHashOID: true, ContentInfo: true}},
		{"ecdsa-sha256-skid", &ecSigner, SignOptions{SubjectKeyIdentifier: true, ContentInfo: true}},
		{"ecdsa-sha512", &ecSigner, SignOptions{Hash: crypto.SHA512, ContentInfo: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			der, err := Sign(oidAuthData, content, tc.s.key, []*x509.Certificate{tc.s.cert}, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			in, out := filepath.Join(dir, "in.der"), filepath.Join(dir, "out.bin")
			if err := os.WriteFile(in, der, 0o600); err != nil {
				t.Fatal(err)
			}
			runOpenSSL(t, openssl, "cms", "-verify", "-inform", "DER", "-in", in, "-noverify", "-binary", "-out", out)
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, content) {
				t.Errorf("openssl extracted %q", got)
			}
			if printed := runOpenSSL(t, openssl, "cms", "-cmsout", "-print", "-inform", "DER", "-in", in); !bytes.Contains(printed, []byte("eContentType: undefined (1.3.6.1.5.2.3.1)")) {
				t.Errorf("openssl does not see the eContentType:\n%s", printed)
			}

			// Damage the signature: openssl must refuse.
			var sd signedData
			sdw, err := Parse(der)
			if err != nil {
				t.Fatal(err)
			}
			if err := unmarshalAll(sdw.Raw, &sd, "test"); err != nil {
				t.Fatal(err)
			}
			sd.SignerInfos[0].Signature[10] ^= 0x40
			bad := mustMarshal(t, contentInfo{ContentType: OIDSignedData, Content: asn1.RawValue{Class: 2, Tag: 0, IsCompound: true, Bytes: mustMarshal(t, sd)}})
			if err := os.WriteFile(in, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := exec.Command(openssl, "cms", "-verify", "-inform", "DER", "-in", in, "-noverify", "-binary", "-out", out).Run(); err == nil {
				t.Error("openssl accepted a damaged signature")
			}
			if _, err := Verify(bad, VerifyOptions{EContentType: oidAuthData}); !errors.Is(err, ErrBadSignature) {
				t.Errorf("Verify of the damaged signature: %v", err)
			}
		})
	}
}

// Verify accepts what `openssl cms -sign` makes, live.
func TestVerifyOpenSSLSignLive(t *testing.T) {
	openssl := interop.Command(t, "openssl")
	signers(t)
	for _, rec := range opensslRecordings {
		t.Run(rec.file, func(t *testing.T) {
			der := opensslSign(t, openssl, rec.s, rec.ct, opensslContent, rec.args...)
			checkOpenSSLSigned(t, der, rec.ct, rec.hash, rec.skid)
		})
	}
}

// Verify accepts SignedData recorded from `openssl cms -sign`; run with -update (and
// openssl installed) to record them again.
func TestVerifyOpenSSLRecorded(t *testing.T) {
	if *update {
		openssl, err := exec.LookPath("openssl")
		if err != nil {
			t.Fatalf("-update needs openssl: %v", err)
		}
		signers(t)
		for _, rec := range opensslRecordings {
			der := opensslSign(t, openssl, rec.s, rec.ct, opensslContent, rec.args...)
			if err := os.WriteFile(filepath.Join("testdata", rec.file), der, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, rec := range opensslRecordings {
		t.Run(rec.file, func(t *testing.T) {
			der, err := os.ReadFile(filepath.Join("testdata", rec.file))
			if err != nil {
				t.Fatalf("%v (record with: go test ./internal/cms -run OpenSSLRecorded -update)", err)
			}
			checkOpenSSLSigned(t, der, rec.ct, rec.hash, rec.skid)
		})
	}
}

func checkOpenSSLSigned(t *testing.T, der []byte, ct asn1.ObjectIdentifier, hash crypto.Hash, skid bool) {
	t.Helper()
	if der[4] != 0x06 {
		t.Fatalf("openssl made no ContentInfo")
	}
	sd, err := Verify(der, VerifyOptions{EContentType: ct})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sd.EContent, opensslContent) || sd.Hash != hash || len(sd.Certificates) != 1 || sd.Signer != sd.Certificates[0] || (sd.signerID.skid != nil) != skid {
		t.Errorf("content %q, hash %v, %d certs, skid %x", sd.EContent, sd.Hash, len(sd.Certificates), sd.signerID.skid)
	}
	if _, err := Verify(der, VerifyOptions{EContentType: OIDData}); !errors.Is(err, ErrContentType) {
		t.Errorf("wrong eContentType: %v", err)
	}
	// The bare SignedData inside verifies the same.
	if _, err := Verify(sd.Raw, VerifyOptions{EContentType: ct}); err != nil {
		t.Error(err)
	}
}
