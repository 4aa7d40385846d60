// Package delegate gives wrapping security packages (Negotiate around its mechanism,
// NegoEx around its scheme) message protection by their inner context, written once.
package delegate

import "github.com/gossp/gossp/sspi"

// Protection implements the message-protection half of sspi.SecurityContext by handing
// each call to the inner context that Inner returns — or returning Inner's error, which
// says why there is none yet (not established, closed).
type Protection struct {
	Inner func(op string) (sspi.SecurityContext, error)
}

// SessionKey implements sspi.SecurityContext.
func (p Protection) SessionKey() ([]byte, error) {
	in, err := p.Inner("SessionKey")
	if err != nil {
		return nil, err
	}
	return in.SessionKey()
}

// MakeSignature implements sspi.SecurityContext.
func (p Protection) MakeSignature(msg []byte) ([]byte, error) {
	in, err := p.Inner("MakeSignature")
	if err != nil {
		return nil, err
	}
	return in.MakeSignature(msg)
}

// VerifySignature implements sspi.SecurityContext.
func (p Protection) VerifySignature(msg, sig []byte) error {
	in, err := p.Inner("VerifySignature")
	if err != nil {
		return err
	}
	return in.VerifySignature(msg, sig)
}

// EncryptMessage implements sspi.SecurityContext.
func (p Protection) EncryptMessage(msg []byte) ([]byte, error) {
	in, err := p.Inner("EncryptMessage")
	if err != nil {
		return nil, err
	}
	return in.EncryptMessage(msg)
}

// DecryptMessage implements sspi.SecurityContext.
func (p Protection) DecryptMessage(tok []byte) ([]byte, error) {
	in, err := p.Inner("DecryptMessage")
	if err != nil {
		return nil, err
	}
	return in.DecryptMessage(tok)
}
