package rfc4121

import "github.com/gossp/gossp/sspi"

// Protector gives a security context the SSPI message functions over its Session:
// a Kerberos-family package embeds it and sets Session to the lookup that checks the
// context's state (closed, established) and returns the session. Session methods are
// safe for concurrent use, so the lookup need hold its lock only while it reads.
type Protector struct {
	// Package names the package in errors.
	Package string
	// Session returns the context's session for op, or the error to report.
	Session func(op string) (*Session, error)
}

// MakeSignature implements sspi.SecurityContext: an RFC 4121 MIC token.
func (p Protector) MakeSignature(msg []byte) ([]byte, error) {
	s, err := p.Session("MakeSignature")
	if err != nil {
		return nil, err
	}
	tok, err := s.MakeSignature(msg)
	return tok, sspi.WithOp(err, p.Package, "MakeSignature")
}

// VerifySignature implements sspi.SecurityContext.
func (p Protector) VerifySignature(msg, sig []byte) error {
	s, err := p.Session("VerifySignature")
	if err != nil {
		return err
	}
	return sspi.WithOp(s.VerifySignature(msg, sig), p.Package, "VerifySignature")
}

// EncryptMessage implements sspi.SecurityContext: a wrap token, sealed when the
// session was made with Confidentiality.
func (p Protector) EncryptMessage(msg []byte) ([]byte, error) {
	s, err := p.Session("EncryptMessage")
	if err != nil {
		return nil, err
	}
	tok, err := s.EncryptMessage(msg)
	return tok, sspi.WithOp(err, p.Package, "EncryptMessage")
}

// DecryptMessage implements sspi.SecurityContext.
func (p Protector) DecryptMessage(tok []byte) ([]byte, error) {
	s, err := p.Session("DecryptMessage")
	if err != nil {
		return nil, err
	}
	msg, err := s.DecryptMessage(tok)
	return msg, sspi.WithOp(err, p.Package, "DecryptMessage")
}

// Wrap is gss_wrap with an explicit choice of sealing.
func (p Protector) Wrap(msg []byte, conf bool) ([]byte, error) {
	s, err := p.Session("Wrap")
	if err != nil {
		return nil, err
	}
	tok, err := s.Wrap(msg, conf)
	return tok, sspi.WithOp(err, p.Package, "Wrap")
}

// Unwrap is gss_unwrap: it also reports whether the token was sealed.
func (p Protector) Unwrap(tok []byte) ([]byte, bool, error) {
	s, err := p.Session("Unwrap")
	if err != nil {
		return nil, false, err
	}
	msg, sealed, err := s.Unwrap(tok)
	return msg, sealed, sspi.WithOp(err, p.Package, "Unwrap")
}
