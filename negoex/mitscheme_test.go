package negoex

import (
	"bytes"
	"context"

	"github.com/gossp/gossp/sspi"
)

// mitScheme reproduces MIT krb5's negoextest mechanism, so our NegoEx can be run
// against MIT's recorded conversations message for message: its tokens are a GSS
// framing of the scheme's OID and one byte, the hops left, which each side counts down;
// whoever sends or receives zero is done. Both sides send the meta-data byte 'X'.
type mitScheme struct {
	name     string
	guid     sspi.GUID
	oid      []byte // OID content octets, as MIT derives the GUID from them
	hops     int
	initKeys bool // KEY=init-always: the initiator has its keys from the start
}

func (s *mitScheme) Info() sspi.PackageInfo {
	return sspi.PackageInfo{Name: s.name, AuthScheme: s.guid, Capabilities: sspi.CapNegotiable2, MaxToken: 64}
}

func (s *mitScheme) AcquireCredentials(context.Context, sspi.CredentialRequest) (sspi.Credential, error) {
	return &mitCred{s}, nil
}

type mitCred struct{ s *mitScheme }

func (c *mitCred) Attributes() sspi.CredentialAttributes {
	return sspi.CredentialAttributes{Package: c.s.name, Use: sspi.CredentialsBoth}
}
func (c *mitCred) NewInitiator(sspi.ContextConfig) (sspi.Initiator, error) {
	return &mitCtx{s: c.s, initiator: true}, nil
}
func (c *mitCred) NewAcceptor(sspi.ContextConfig) (sspi.Acceptor, error) {
	return &mitCtx{s: c.s}, nil
}
func (c *mitCred) Close() error { return nil }

type mitCtx struct {
	s         *mitScheme
	initiator bool
	done      bool
}

func (c *mitCtx) framed(v byte) []byte {
	return append(append([]byte{0x60, byte(3 + len(c.s.oid)), 0x06, byte(len(c.s.oid))}, c.s.oid...), v)
}

func (c *mitCtx) InitializeContext(_ context.Context, in []byte) ([]byte, sspi.Status, error) {
	v := byte(c.s.hops)
	if in != nil {
		if len(in) != 1 {
			return nil, sspi.ErrInvalidToken, sspi.ErrInvalidToken
		}
		v = in[0]
	}
	if v == 0 {
		c.done = true
		return nil, sspi.StatusOK, nil
	}
	c.done = v == 1
	st := sspi.StatusContinueNeeded
	if c.done {
		st = sspi.StatusOK
	}
	return c.framed(v - 1), st, nil
}

func (c *mitCtx) AcceptContext(_ context.Context, in []byte) ([]byte, sspi.Status, error) {
	if len(in) != len(c.framed(0)) || !bytes.Equal(in[:len(in)-1], c.framed(0)[:len(in)-1]) {
		return nil, sspi.ErrInvalidToken, sspi.ErrInvalidToken
	}
	v := in[len(in)-1]
	if v == 0 {
		c.done = true
		return nil, sspi.StatusOK, nil
	}
	c.done = v == 1
	st := sspi.StatusContinueNeeded
	if c.done {
		st = sspi.StatusOK
	}
	return []byte{v - 1}, st, nil
}

func (c *mitCtx) MetaData(context.Context) ([]byte, error)   { return []byte("X"), nil }
func (c *mitCtx) PeerMetaData(context.Context, []byte) error { return nil }
func (c *mitCtx) VerifyKeys() (sign, verify Key, ok bool) {
	if c.initiator {
		return mitInitiatorKey, mitAcceptorKey, c.done || c.s.initKeys
	}
	return mitAcceptorKey, mitInitiatorKey, c.done
}
func (c *mitCtx) Attributes() sspi.ContextAttributes {
	return sspi.ContextAttributes{Package: c.s.Info(), Path: []string{c.s.name}, Established: c.done}
}
func (c *mitCtx) SessionKey() ([]byte, error)           { return nil, sspi.ErrUnsupportedFunction }
func (c *mitCtx) MakeSignature([]byte) ([]byte, error)  { return nil, sspi.ErrUnsupportedFunction }
func (c *mitCtx) VerifySignature(_, _ []byte) error     { return sspi.ErrUnsupportedFunction }
func (c *mitCtx) EncryptMessage([]byte) ([]byte, error) { return nil, sspi.ErrUnsupportedFunction }
func (c *mitCtx) DecryptMessage([]byte) ([]byte, error) { return nil, sspi.ErrUnsupportedFunction }
func (c *mitCtx) Close() error                          { return nil }
