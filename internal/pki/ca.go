package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Key types the test CA makes.
const (
	KeyRSA       = "rsa"        // RSA, MinRSABits bits (Windows' choice)
	KeyECDSA     = "ecdsa"      // ECDSA on P-256
	KeyECDSAP384 = "ecdsa-p384" // ECDSA on P-384
)

// File names of a CA directory (CA.WriteFiles, LoadCA).
const (
	CACertFile = "ca.pem"
	CAKeyFile  = "ca.key"
)

// NoKeyUsage in IssueOptions.KeyUsage leaves the key usage extension out.
const NoKeyUsage x509.KeyUsage = -1

// DefaultCAName is the common name of a CA made without one.
const DefaultCAName = "gossp test CA"

// CAOptions are the parameters of NewCA and CA.NewIntermediate.
type CAOptions struct {
	// CommonName is the CA's subject CN; "" means DefaultCAName.
	CommonName string
	// KeyType is KeyRSA (the default when ""), KeyECDSA or KeyECDSAP384.
	KeyType string
	// NotBefore and NotAfter bound the validity; zero values mean an hour ago and ten
	// years from now.
	NotBefore, NotAfter time.Time
}

// CA is a certificate authority for tests and small deployments: a key and its
// certificate (self-signed for a root, or issued by another CA).
type CA struct {
	// Cert is the CA's certificate.
	Cert *x509.Certificate
	// Key is the CA's private key.
	Key crypto.Signer
	// Chain holds the certificates above Cert, nearest first, up to and including
	// the root; it is empty for a root CA.
	Chain []*x509.Certificate
}

// NewCA makes a self-signed root CA: basicConstraints CA:TRUE (critical), key usage
// keyCertSign|cRLSign|digitalSignature, no extended key usage (so it may issue for
// either role), SHA-256 (or SHA-384 for P-384) signatures.
func NewCA(opts CAOptions) (*CA, error) {
	return newCA(nil, opts)
}

// NewIntermediate makes a CA issued by ca, for chains of more than one level.
func (ca *CA) NewIntermediate(opts CAOptions) (*CA, error) {
	return newCA(ca, opts)
}

func newCA(parent *CA, opts CAOptions) (*CA, error) {
	if opts.CommonName == "" {
		opts.CommonName = DefaultCAName
	}
	now := time.Now()
	if opts.NotBefore.IsZero() {
		opts.NotBefore = now.Add(-time.Hour)
	}
	if opts.NotAfter.IsZero() {
		opts.NotAfter = now.AddDate(10, 0, 0)
	}
	key, err := GenerateKey(opts.KeyType)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: opts.CommonName},
		NotBefore:             opts.NotBefore,
		NotAfter:              opts.NotAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	issuerCert, issuerKey := tmpl, crypto.Signer(key)
	var chain []*x509.Certificate
	if parent != nil {
		if opts.NotAfter.After(parent.Cert.NotAfter) {
			return nil, fmt.Errorf("pki: the CA %q would outlive its issuer (until %s)", opts.CommonName, parent.Cert.NotAfter.UTC().Format(time.RFC3339))
		}
		issuerCert, issuerKey = parent.Cert, parent.Key
		chain = append([]*x509.Certificate{parent.Cert}, parent.Chain...)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuerCert, key.Public(), issuerKey)
	if err != nil {
		return nil, fmt.Errorf("pki: signing the CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parsing the new CA certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key, Chain: chain}, nil
}

// Root returns the self-signed certificate at the top of the CA's chain: what a peer
// puts in its trust anchors.
func (ca *CA) Root() *x509.Certificate {
	if len(ca.Chain) > 0 {
		return ca.Chain[len(ca.Chain)-1]
	}
	return ca.Cert
}

// Pool returns a pool holding the CA's root, for VerifyOptions.Roots.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Root())
	return p
}

// IssueOptions are the parameters of CA.Issue.
type IssueOptions struct {
	// CommonName is the subject CN; "" means the UPN, else the first DNS name.
	CommonName string
	// UPN, if set, goes in the subject alternative name as an otherName
	// 1.3.6.1.4.1.311.20.2.3 UTF8String, as in Windows user certificates.
	UPN string
	// DNSNames go in the subject alternative name as dNSNames, as in Windows device
	// certificates.
	DNSNames []string
	// Role selects the extended key usage: clientAuth for RoleInitiator,
	// serverAuth for RoleAcceptor (what Windows issues).
	Role Role
	// KeyType is KeyRSA (the default when ""), KeyECDSA or KeyECDSAP384.
	KeyType string
	// NotBefore and NotAfter bound the validity; zero values mean five minutes ago
	// and a year from now. The certificate may not outlive the CA.
	NotBefore, NotAfter time.Time
	// ExtKeyUsage overrides the role's extended key usage when not nil; an empty,
	// non-nil slice leaves the extension out.
	ExtKeyUsage []asn1.ObjectIdentifier
	// KeyUsage overrides the key usage when not zero: digitalSignature|
	// keyEncipherment for RSA (Windows' 0x05A0), digitalSignature for ECDSA.
	// NoKeyUsage leaves the extension out.
	KeyUsage x509.KeyUsage
}

// Issue makes a key and a certificate for a peer, shaped like Windows' PKU2U
// certificates: a user (initiator) has a UPN in the subject alternative name and
// clientAuth; a device (acceptor) has its host name as a dNSName and serverAuth. The
// credential's chain is the new certificate followed by the CA's, without the root.
func (ca *CA) Issue(opts IssueOptions) (*Credential, error) {
	cn := opts.CommonName
	switch {
	case cn != "":
	case opts.UPN != "":
		cn = opts.UPN
	case len(opts.DNSNames) > 0:
		cn = opts.DNSNames[0]
	default:
		return nil, errors.New("pki: a certificate needs a common name, a UPN or a DNS name")
	}
	now := time.Now()
	if opts.NotBefore.IsZero() {
		opts.NotBefore = now.Add(-5 * time.Minute)
	}
	if opts.NotAfter.IsZero() {
		opts.NotAfter = now.AddDate(1, 0, 0)
	}
	if !opts.NotAfter.After(opts.NotBefore) {
		return nil, errors.New("pki: NotAfter must follow NotBefore")
	}
	if opts.NotAfter.After(ca.Cert.NotAfter) {
		return nil, fmt.Errorf("pki: the certificate would outlive its CA (valid until %s)", ca.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	key, err := GenerateKey(opts.KeyType)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             opts.NotBefore,
		NotAfter:              opts.NotAfter,
		BasicConstraintsValid: true,
	}
	switch {
	case opts.KeyUsage == NoKeyUsage:
	case opts.KeyUsage != 0:
		tmpl.KeyUsage = opts.KeyUsage
	case isRSA(key):
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	default:
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	}
	switch {
	case opts.ExtKeyUsage != nil:
		tmpl.UnknownExtKeyUsage = opts.ExtKeyUsage
	case opts.Role == RoleAcceptor:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	default:
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	if opts.UPN != "" || len(opts.DNSNames) > 0 {
		san, err := marshalSAN(opts.UPN, opts.DNSNames)
		if err != nil {
			return nil, err
		}
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: oidExtSubjectAltName, Value: san})
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: signing the certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parsing the new certificate: %w", err)
	}
	chain := []*x509.Certificate{cert}
	if len(ca.Chain) > 0 { // an intermediate: send it and those above it, not the root
		chain = append(chain, ca.Cert)
		chain = append(chain, ca.Chain[:len(ca.Chain)-1]...)
	}
	return &Credential{Chain: chain, Key: key}, nil
}

// GenerateKey makes a key of a type the test CA knows: KeyRSA ("" too), KeyECDSA or
// KeyECDSAP384.
func GenerateKey(keyType string) (crypto.Signer, error) {
	var (
		key crypto.Signer
		err error
	)
	switch keyType {
	case KeyRSA, "":
		key, err = rsa.GenerateKey(rand.Reader, MinRSABits)
	case KeyECDSA:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyECDSAP384:
		key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	default:
		return nil, fmt.Errorf("pki: unknown key type %q (want %s, %s or %s)", keyType, KeyRSA, KeyECDSA, KeyECDSAP384)
	}
	if err != nil {
		return nil, fmt.Errorf("pki: generating a %s key: %w", keyType, err)
	}
	return key, nil
}

func isRSA(k crypto.Signer) bool {
	_, ok := k.Public().(*rsa.PublicKey)
	return ok
}

// newSerial returns a random positive 127-bit serial number.
func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// WriteFiles writes the credential into dir as name.pem (the chain, mode 0644) and
// name.key (the PKCS #8 private key, mode 0600), creating dir (0700) if needed. It
// refuses to overwrite existing files (fs.ErrExist). It returns the two paths.
func (c *Credential) WriteFiles(dir, name string) (certFile, keyFile string, err error) {
	if name == "" || name != filepath.Base(name) || name == "." || name == ".." {
		return "", "", fmt.Errorf("pki: %q is not a file name", name)
	}
	return writePair(dir, name+".pem", name+".key", c.Chain, c.Key)
}

// WriteFiles writes the CA into dir as CACertFile (its certificate then the chain
// above it, 0644) and CAKeyFile (PKCS #8, 0600), creating dir (0700) if needed and
// refusing to overwrite existing files (fs.ErrExist). It returns the two paths.
func (ca *CA) WriteFiles(dir string) (certFile, keyFile string, err error) {
	return writePair(dir, CACertFile, CAKeyFile, append([]*x509.Certificate{ca.Cert}, ca.Chain...), ca.Key)
}

// LoadCA reads a CA written by CA.WriteFiles (or by hand: CACertFile holding the CA
// certificate, then the certificates above it; CAKeyFile its key). The certificate
// must be a CA allowed to sign certificates.
func LoadCA(dir string) (*CA, error) {
	cred, err := LoadCredential(filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, err
	}
	c := cred.Chain[0]
	if !c.IsCA || (c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0) {
		return nil, fmt.Errorf("%w: %q in %s is not a CA certificate allowed to sign certificates",
			ErrWrongUsage, FormatName(c.RawSubject), filepath.Join(dir, CACertFile))
	}
	return &CA{Cert: c, Key: cred.Key, Chain: cred.Chain[1:]}, nil
}

func writePair(dir, certName, keyName string, chain []*x509.Certificate, key crypto.Signer) (string, string, error) {
	if len(chain) == 0 || key == nil {
		return "", "", errors.New("pki: nothing to write: no certificate or no key")
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("pki: encoding the private key: %w", err)
	}
	var certPEM []byte
	for _, c := range chain {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("pki: %w", err)
	}
	certPath, keyPath := filepath.Join(dir, certName), filepath.Join(dir, keyName)
	// Check both first so a refusal leaves nothing half written.
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", "", fmt.Errorf("pki: %s already exists; remove it first: %w", p, fs.ErrExist)
		}
	}
	if err := writeNew(keyPath, keyPEM, 0o600); err != nil {
		return "", "", err
	}
	if err := writeNew(certPath, certPEM, 0o644); err != nil {
		os.Remove(keyPath)
		return "", "", err
	}
	return certPath, keyPath, nil
}

// writeNew creates path (which must not exist) with mode perm and writes data.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr != nil || cerr != nil {
		os.Remove(path)
		return fmt.Errorf("pki: writing %s: %w", path, errors.Join(werr, cerr))
	}
	return nil
}
