package pki

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Sentinel errors. Every error of Verify is a *CertificateError matching exactly one
// of these with errors.Is; a caller maps them to SSPI statuses as the comments say. The
// loaders use ErrMalformed (and ErrKeyMismatch) too, besides the file system's errors.
var (
	// ErrUntrusted: no path from the certificate to a trust anchor (unknown issuer, bad
	// signature, a CA not allowed to issue, name constraints). SEC_E_UNTRUSTED_ROOT.
	ErrUntrusted = errors.New("pki: certificate not trusted")
	// ErrExpired: a certificate of the path is past its NotAfter. SEC_E_CERT_EXPIRED.
	ErrExpired = errors.New("pki: certificate expired")
	// ErrNotYetValid: a certificate of the path is before its NotBefore.
	// SEC_E_CERT_EXPIRED.
	ErrNotYetValid = errors.New("pki: certificate not yet valid")
	// ErrWrongUsage: the extended key usage does not allow the role, or the key usage
	// lacks digitalSignature. SEC_E_CERT_WRONG_USAGE.
	ErrWrongUsage = errors.New("pki: certificate not valid for this use")
	// ErrMalformed: a certificate, key or extension that does not parse, an empty
	// chain, or an unhandled critical extension. SEC_E_CERT_UNKNOWN (or
	// SEC_E_INVALID_TOKEN when it came in a token).
	ErrMalformed = errors.New("pki: malformed certificate")
)

// Role is the side of a PKU2U exchange a certificate authenticates.
type Role int

const (
	// RoleInitiator is the client: its certificate must allow TLS client
	// authentication (1.3.6.1.5.5.7.3.2, what Windows issues), PKINIT client
	// authentication (id-pkinit-KPClientAuth, 1.3.6.1.5.2.3.4) or Microsoft smart card
	// logon (1.3.6.1.4.1.311.20.2.2).
	RoleInitiator Role = iota
	// RoleAcceptor is the server: its certificate must allow TLS server authentication
	// (1.3.6.1.5.5.7.3.1, what Windows issues) or the PKINIT KDC purpose
	// (id-pkinit-KPKdc, 1.3.6.1.5.2.3.5).
	RoleAcceptor
)

// String returns "initiator" or "acceptor".
func (r Role) String() string {
	switch r {
	case RoleInitiator:
		return "initiator"
	case RoleAcceptor:
		return "acceptor"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// Extended key usage OIDs of PKINIT (RFC 4556) and Windows, for IssueOptions.ExtKeyUsage.
var (
	// OIDPKINITClientAuth is id-pkinit-KPClientAuth, a PKINIT client (initiator).
	OIDPKINITClientAuth = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 2, 3, 4}
	// OIDPKINITKDC is id-pkinit-KPKdc, a PKINIT KDC (acceptor).
	OIDPKINITKDC = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 2, 3, 5}
	// OIDMSSmartcardLogon is Microsoft's smart card logon (szOID_KP_SMARTCARD_LOGON), an initiator.
	OIDMSSmartcardLogon = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 2}
	// OIDClientAuth is TLS client authentication, what Windows gives PKU2U users.
	OIDClientAuth = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 2}
	// OIDServerAuth is TLS server authentication, what Windows gives PKU2U devices.
	OIDServerAuth = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 1}
)

// OIDMSUPN is the type of the subject alternative name otherName that holds a user
// principal name (szOID_NT_PRINCIPAL_NAME), a UTF8String.
var OIDMSUPN = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 3}

var (
	oidClientAuth          = OIDClientAuth
	oidServerAuth          = OIDServerAuth
	oidAnyExtendedKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37, 0}
	oidExtKeyUsage         = asn1.ObjectIdentifier{2, 5, 29, 15}
	oidExtSubjectAltName   = asn1.ObjectIdentifier{2, 5, 29, 17}
)

// purposes returns the extended key usages that admit a leaf for r.
func (r Role) purposes() []asn1.ObjectIdentifier {
	if r == RoleAcceptor {
		return []asn1.ObjectIdentifier{oidServerAuth, OIDPKINITKDC}
	}
	return []asn1.ObjectIdentifier{oidClientAuth, OIDPKINITClientAuth, OIDMSSmartcardLogon}
}

// VerifyOptions are the parameters of Verify.
type VerifyOptions struct {
	// Roots are the trust anchors. Nil is refused (ErrUntrusted): a PKU2U peer is
	// never trusted through the system's web roots by accident.
	Roots *x509.CertPool
	// Intermediates are extra CA certificates a path may use besides chain[1:].
	Intermediates *x509.CertPool
	// CurrentTime is the time of the validity checks; zero means time.Now().
	CurrentTime time.Time
	// Role is the side the chain's leaf must be fit for.
	Role Role
}

// Verify validates a peer's chain (leaf first, then any intermediates it sent) and names
// the peer. It checks, in order:
//
//   - the leaf's validity period (ErrExpired, ErrNotYetValid);
//   - the key usage: when the leaf has a key usage extension it must include
//     digitalSignature, since PKINIT signs with the key (ErrWrongUsage);
//   - a path to one of opts.Roots through x509.Certificate.Verify: signatures, CA
//     basic constraints and path lengths, keyCertSign in an issuer's key usage, name
//     constraints, every certificate's validity, unhandled critical extensions
//     (ErrUntrusted, ErrExpired, ErrNotYetValid, ErrMalformed);
//   - the extended key usage for opts.Role, which crypto/x509 cannot express for the
//     PKINIT and Microsoft OIDs: x509 is asked for any usage and the check is made
//     here along the path. The leaf must carry an EKU extension naming one of the
//     role's purposes (a leaf without one, or with only anyExtendedKeyUsage, is
//     refused, as MIT's pkinit_eku_checking does); each CA of the path that has an
//     EKU extension must allow anyExtendedKeyUsage or one of the purposes the leaf was
//     admitted for (ErrWrongUsage).
//
// When several paths exist, the first that passes every check is used. The error
// (a *CertificateError) names the certificate and the reason; errors.Is matches the
// sentinel.
func Verify(chain []*x509.Certificate, opts VerifyOptions) (*Identity, error) {
	if len(chain) == 0 || chain[0] == nil {
		return nil, &CertificateError{Kind: ErrMalformed, Reason: "no certificate"}
	}
	leaf := chain[0]
	if opts.Role != RoleInitiator && opts.Role != RoleAcceptor {
		return nil, certErr(ErrWrongUsage, leaf, fmt.Sprintf("unknown role %s", opts.Role), nil)
	}
	if opts.Roots == nil {
		return nil, certErr(ErrUntrusted, leaf, "no trust anchors configured", nil)
	}
	now := opts.CurrentTime
	if now.IsZero() {
		now = time.Now()
	}
	if err := checkValidity(leaf, now); err != nil {
		return nil, err
	}
	if hasExtension(leaf, oidExtKeyUsage) && leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return nil, certErr(ErrWrongUsage, leaf, "key usage lacks digitalSignature", nil)
	}
	if _, err := leafPurposes(leaf, opts.Role); err != nil {
		return nil, err
	}
	inter := x509.NewCertPool()
	if opts.Intermediates != nil {
		inter = opts.Intermediates.Clone()
	}
	for _, c := range chain[1:] {
		if c == nil {
			return nil, certErr(ErrMalformed, leaf, "nil certificate in the chain", nil)
		}
		inter.AddCert(c)
	}
	paths, err := leaf.Verify(x509.VerifyOptions{
		Roots:         opts.Roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, mapX509Error(err, leaf, now)
	}
	var first error
	for _, path := range paths {
		if err := checkPath(path, opts.Role); err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		id, err := IdentityOf(leaf)
		if err != nil {
			return nil, err
		}
		id.Chain = path
		return id, nil
	}
	return nil, first
}

// checkValidity checks c's validity period at now.
func checkValidity(c *x509.Certificate, now time.Time) error {
	if now.Before(c.NotBefore) {
		return certErr(ErrNotYetValid, c, fmt.Sprintf("valid from %s, now %s",
			c.NotBefore.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)), nil)
	}
	if now.After(c.NotAfter) {
		return certErr(ErrExpired, c, fmt.Sprintf("valid until %s, now %s",
			c.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)), nil)
	}
	return nil
}

// leafPurposes returns the purposes of role that leaf's EKU extension grants.
func leafPurposes(leaf *x509.Certificate, role Role) ([]asn1.ObjectIdentifier, error) {
	ekus := extKeyUsages(leaf)
	if len(ekus) == 0 {
		return nil, certErr(ErrWrongUsage, leaf, fmt.Sprintf("no extended key usage; an %s certificate needs %s", role, purposeNames(role.purposes())), nil)
	}
	var granted []asn1.ObjectIdentifier
	for _, p := range role.purposes() {
		if containsOID(ekus, p) {
			granted = append(granted, p)
		}
	}
	if len(granted) == 0 {
		return nil, certErr(ErrWrongUsage, leaf, fmt.Sprintf("extended key usage %s does not allow the %s role (%s)",
			purposeNames(ekus), role, purposeNames(role.purposes())), nil)
	}
	return granted, nil
}

// checkPath checks the EKU nesting along a verified path.
func checkPath(path []*x509.Certificate, role Role) error {
	granted, err := leafPurposes(path[0], role)
	if err != nil {
		return err
	}
	for _, c := range path[1:] {
		ekus := extKeyUsages(c)
		if len(ekus) == 0 || containsOID(ekus, oidAnyExtendedKeyUsage) {
			continue
		}
		granted = slices.DeleteFunc(granted, func(p asn1.ObjectIdentifier) bool { return !containsOID(ekus, p) })
		if len(granted) == 0 {
			return certErr(ErrWrongUsage, c, fmt.Sprintf("CA extended key usage %s does not allow the %s role (%s)",
				purposeNames(ekus), role, purposeNames(role.purposes())), nil)
		}
	}
	return nil
}

// mapX509Error turns an error of x509.Certificate.Verify into a *CertificateError.
func mapX509Error(err error, leaf *x509.Certificate, now time.Time) error {
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) {
		c := inv.Cert
		if c == nil {
			c = leaf
		}
		switch inv.Reason {
		case x509.Expired:
			if verr := checkValidity(c, now); verr != nil {
				return verr
			}
			return certErr(ErrExpired, c, "outside its validity period", err)
		case x509.IncompatibleUsage:
			return certErr(ErrWrongUsage, c, "incompatible key usage", err)
		default:
			return certErr(ErrUntrusted, c, "", err)
		}
	}
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		c := unknown.Cert
		if c == nil {
			c = leaf
		}
		return certErr(ErrUntrusted, c, fmt.Sprintf("no valid path from its issuer %q to a trust anchor", FormatName(c.RawIssuer)), err)
	}
	var crit x509.UnhandledCriticalExtension
	if errors.As(err, &crit) {
		return certErr(ErrMalformed, leaf, "", err)
	}
	return certErr(ErrUntrusted, leaf, "", err)
}

// CertificateError is the error of Verify: which certificate failed and why. It
// matches its Kind (one of the sentinels) and its underlying crypto/x509 error, if any,
// with errors.Is and errors.As.
type CertificateError struct {
	// Kind is ErrUntrusted, ErrExpired, ErrNotYetValid, ErrWrongUsage or ErrMalformed.
	Kind error
	// Subject is the distinguished name of the certificate at fault (RFC 4514 form),
	// or "" when there was none.
	Subject string
	// Reason says what is wrong, in words; it may be empty when Err says it.
	Reason string
	// Err is the underlying error, if any.
	Err error
}

// Error returns "pki: certificate not trusted: "CN=x": reason: underlying error".
func (e *CertificateError) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.Error())
	if e.Subject != "" {
		fmt.Fprintf(&b, ": %q", e.Subject)
	}
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the sentinel and the underlying error.
func (e *CertificateError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

func certErr(kind error, c *x509.Certificate, reason string, err error) *CertificateError {
	return &CertificateError{Kind: kind, Subject: subjectName(c), Reason: reason, Err: err}
}

// subjectName names c for a message: its subject, or its serial number and issuer
// when the subject is empty (as it may be when the SAN carries the name).
func subjectName(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	if s := FormatName(c.RawSubject); s != "" {
		return s
	}
	return fmt.Sprintf("serial %s issued by %s", c.SerialNumber, FormatName(c.RawIssuer))
}

// extKeyUsages returns c's extended key usages as OIDs, known or not.
func extKeyUsages(c *x509.Certificate) []asn1.ObjectIdentifier {
	out := slices.Clone(c.UnknownExtKeyUsage)
	for _, u := range c.ExtKeyUsage {
		if oid, ok := oidFromExtKeyUsage(u); ok {
			out = append(out, oid)
		}
	}
	return out
}

// extKeyUsageOIDs is crypto/x509's private table, for the usages this package names.
var extKeyUsageOIDs = map[x509.ExtKeyUsage]asn1.ObjectIdentifier{
	x509.ExtKeyUsageAny:                            oidAnyExtendedKeyUsage,
	x509.ExtKeyUsageServerAuth:                     oidServerAuth,
	x509.ExtKeyUsageClientAuth:                     oidClientAuth,
	x509.ExtKeyUsageCodeSigning:                    {1, 3, 6, 1, 5, 5, 7, 3, 3},
	x509.ExtKeyUsageEmailProtection:                {1, 3, 6, 1, 5, 5, 7, 3, 4},
	x509.ExtKeyUsageIPSECEndSystem:                 {1, 3, 6, 1, 5, 5, 7, 3, 5},
	x509.ExtKeyUsageIPSECTunnel:                    {1, 3, 6, 1, 5, 5, 7, 3, 6},
	x509.ExtKeyUsageIPSECUser:                      {1, 3, 6, 1, 5, 5, 7, 3, 7},
	x509.ExtKeyUsageTimeStamping:                   {1, 3, 6, 1, 5, 5, 7, 3, 8},
	x509.ExtKeyUsageOCSPSigning:                    {1, 3, 6, 1, 5, 5, 7, 3, 9},
	x509.ExtKeyUsageMicrosoftServerGatedCrypto:     {1, 3, 6, 1, 4, 1, 311, 10, 3, 3},
	x509.ExtKeyUsageNetscapeServerGatedCrypto:      {2, 16, 840, 1, 113730, 4, 1},
	x509.ExtKeyUsageMicrosoftCommercialCodeSigning: {1, 3, 6, 1, 4, 1, 311, 2, 1, 22},
	x509.ExtKeyUsageMicrosoftKernelCodeSigning:     {1, 3, 6, 1, 4, 1, 311, 61, 1, 1},
}

func oidFromExtKeyUsage(u x509.ExtKeyUsage) (asn1.ObjectIdentifier, bool) {
	oid, ok := extKeyUsageOIDs[u]
	return oid, ok
}

func containsOID(list []asn1.ObjectIdentifier, oid asn1.ObjectIdentifier) bool {
	return slices.ContainsFunc(list, oid.Equal)
}

func hasExtension(c *x509.Certificate, oid asn1.ObjectIdentifier) bool {
	return slices.ContainsFunc(c.Extensions, func(e pkix.Extension) bool { return e.Id.Equal(oid) })
}

// purposeNames renders EKU OIDs with their names where known.
func purposeNames(oids []asn1.ObjectIdentifier) string {
	names := make([]string, len(oids))
	for i, o := range oids {
		names[i] = oidName(o)
	}
	return strings.Join(names, ", ")
}

func oidName(o asn1.ObjectIdentifier) string {
	switch {
	case o.Equal(oidClientAuth):
		return "clientAuth"
	case o.Equal(oidServerAuth):
		return "serverAuth"
	case o.Equal(OIDPKINITClientAuth):
		return "id-pkinit-KPClientAuth"
	case o.Equal(OIDPKINITKDC):
		return "id-pkinit-KPKdc"
	case o.Equal(OIDMSSmartcardLogon):
		return "smartcardLogon"
	case o.Equal(oidAnyExtendedKeyUsage):
		return "anyExtendedKeyUsage"
	}
	return o.String()
}

// sameName reports whether two DER names are byte-for-byte equal.
func sameName(a, b []byte) bool { return len(a) > 0 && bytes.Equal(a, b) }
