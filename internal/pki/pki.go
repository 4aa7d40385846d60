// Package pki is the certificate side of PKU2U: loading a peer's certificate chain and
// private key, loading trust anchors, validating a peer's chain for its role, naming the
// peer from its certificate, choosing a credential from the issuers a peer trusts, and a
// small certificate authority that makes test certificates shaped like Windows' own.
//
// Only the standard library's crypto/x509 is used. Private keys never appear in errors
// or logs: errors about a key name the file and the PEM block type, never its bytes.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// MinRSABits is the smallest RSA modulus accepted for a credential's key and made by
// the test CA: Windows issues 2048-bit PKU2U certificates.
const MinRSABits = 2048

// Credential is a certificate chain with the private key of its leaf: what a PKU2U peer
// signs its PKINIT messages with and sends to the other side.
type Credential struct {
	// Chain is the leaf certificate first, then the intermediates that lead to a
	// trust anchor, each issued by the next. The anchor itself is usually left out.
	Chain []*x509.Certificate
	// Key is the private key of Chain[0]: *rsa.PrivateKey or *ecdsa.PrivateKey
	// (P-256 or P-384) when loaded from files, any crypto.Signer otherwise.
	Key crypto.Signer
}

// Leaf returns the credential's own certificate, Chain[0], or nil for an empty chain.
func (c *Credential) Leaf() *x509.Certificate {
	if c == nil || len(c.Chain) == 0 {
		return nil
	}
	return c.Chain[0]
}

// Identity describes the credential's leaf certificate as Verify would name it. It
// does not validate the chain: use it to show one's own credential, never to
// authenticate a peer.
func (c *Credential) Identity() (*Identity, error) {
	leaf := c.Leaf()
	if leaf == nil {
		return nil, fmt.Errorf("%w: credential has no certificate", ErrMalformed)
	}
	return IdentityOf(leaf)
}

// LoadCredential reads a PEM certificate chain (leaf first, then intermediates) from
// certFile and its private key from keyFile (PKCS #8 "PRIVATE KEY", PKCS #1 "RSA
// PRIVATE KEY" or SEC 1 "EC PRIVATE KEY"). An empty keyFile reads the key from
// certFile too. It checks that the key belongs to the leaf; see ParseCredential.
func LoadCredential(certFile, keyFile string) (*Credential, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("pki: reading certificate: %w", err)
	}
	keyPEM := certPEM
	if keyFile != "" && keyFile != certFile {
		if keyPEM, err = os.ReadFile(keyFile); err != nil {
			return nil, fmt.Errorf("pki: reading private key: %w", err)
		}
	} else {
		keyFile = certFile
	}
	cred, err := parseCredential(certPEM, keyPEM, certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return cred, nil
}

// ParseCredential is LoadCredential on PEM data held in memory. Blocks of other types
// are skipped, so a single file holding the chain and the key may be passed as both
// arguments. Encrypted keys are refused. RSA keys must have at least MinRSABits bits;
// ECDSA keys must be on P-256 or P-384. The chain must be in order (each certificate's
// issuer is the next one's subject) and the key must match the leaf's public key.
func ParseCredential(certPEM, keyPEM []byte) (*Credential, error) {
	return parseCredential(certPEM, keyPEM, "certificate PEM", "key PEM")
}

func parseCredential(certPEM, keyPEM []byte, certName, keyName string) (*Credential, error) {
	chain, err := parseCertificates(certPEM, certName)
	if err != nil {
		return nil, err
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("%w: %s holds no CERTIFICATE block", ErrMalformed, certName)
	}
	for i := 0; i+1 < len(chain); i++ {
		if !bytes.Equal(chain[i].RawIssuer, chain[i+1].RawSubject) {
			return nil, fmt.Errorf("%w: %s: certificate %d (%q) is not issued by the next one (%q): the chain must run leaf first, then its issuers",
				ErrMalformed, certName, i+1, FormatName(chain[i].RawSubject), FormatName(chain[i+1].RawSubject))
		}
	}
	key, err := parsePrivateKey(keyPEM, keyName)
	if err != nil {
		return nil, err
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	pub, ok := key.Public().(equaler)
	if !ok || !pub.Equal(chain[0].PublicKey) {
		return nil, fmt.Errorf("%w: the private key in %s does not match the certificate %q in %s",
			ErrKeyMismatch, keyName, FormatName(chain[0].RawSubject), certName)
	}
	return &Credential{Chain: chain, Key: key}, nil
}

// ErrKeyMismatch reports a private key that does not belong to the leaf certificate.
var ErrKeyMismatch = errors.New("pki: private key does not match the certificate")

// parseCertificates returns every CERTIFICATE block of data in order, skipping others.
func parseCertificates(data []byte, name string) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: PEM block %d: %w", ErrMalformed, name, n, err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// parsePrivateKey returns the first private key of data. Its parse errors are not
// wrapped: they would describe the key's structure.
func parsePrivateKey(data []byte, name string) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("%w: %s holds no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block", ErrMalformed, name)
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY", "EC PRIVATE KEY":
			if _, encrypted := block.Headers["DEK-Info"]; encrypted {
				return nil, fmt.Errorf("%w: %s: the %s is encrypted; decrypt it first (openssl pkey -in FILE -out PLAIN)", ErrMalformed, name, block.Type)
			}
			if block.Type == "RSA PRIVATE KEY" {
				key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
			} else {
				key, err = x509.ParseECPrivateKey(block.Bytes)
			}
		case "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("%w: %s: the PKCS #8 key is encrypted; decrypt it first (openssl pkey -in FILE -out PLAIN)", ErrMalformed, name)
		default:
			continue // CERTIFICATE, EC PARAMETERS, ...
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: the %s block does not parse", ErrMalformed, name, block.Type)
		}
		return checkKey(key, name)
	}
}

// checkKey accepts the key types and sizes PKU2U peers use.
func checkKey(key any, name string) (crypto.Signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < MinRSABits {
			return nil, fmt.Errorf("%w: %s: RSA key of %d bits; at least %d are required", ErrMalformed, name, bits, MinRSABits)
		}
		return k, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return nil, fmt.Errorf("%w: %s: ECDSA key on %s; P-256 or P-384 is required", ErrMalformed, name, k.Curve.Params().Name)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("%w: %s: unsupported key type %T; RSA or ECDSA is required", ErrMalformed, name, key)
	}
}

// LoadPool reads trust anchors from PEM files (bundles of CERTIFICATE blocks) into a
// pool, returning the certificates too (for TrustedIssuers). A file without any
// certificate is an error, so a wrong path is not silently an empty trust store.
func LoadPool(files ...string) (*x509.CertPool, []*x509.Certificate, error) {
	pool := x509.NewCertPool()
	var all []*x509.Certificate
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("pki: reading trust anchors: %w", err)
		}
		certs, err := parseCertificates(data, f)
		if err != nil {
			return nil, nil, err
		}
		if len(certs) == 0 {
			return nil, nil, fmt.Errorf("%w: %s holds no CERTIFICATE block", ErrMalformed, f)
		}
		for _, c := range certs {
			pool.AddCert(c)
		}
		all = append(all, certs...)
	}
	return pool, all, nil
}
