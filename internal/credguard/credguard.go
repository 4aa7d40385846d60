// Package credguard holds what every credential checks before it makes a context: that
// it is still open, and that its use allows the side asked for.
package credguard

import (
	"sync"

	"github.com/gossp/gossp/sspi"
)

// Guard is a credential's use and closed state. The zero value is an open credential
// with no use; set Use and Package when acquiring.
type Guard struct {
	Use     sspi.CredentialUse
	Package string // for error messages

	mu     sync.Mutex
	closed bool
}

// Check fails with ErrInvalidHandle once closed, and with ErrNoCredentials when the
// credential's use does not allow the side (outbound for an initiator).
func (g *Guard) Check(outbound bool) error {
	op := "NewAcceptor"
	if outbound {
		op = "NewInitiator"
	}
	g.mu.Lock()
	closed := g.closed
	g.mu.Unlock()
	switch {
	case closed:
		return sspi.WithOp(sspi.ErrInvalidHandle, g.Package, op)
	case outbound && !g.Use.Outbound():
		return sspi.WithOp(sspi.Errorf(sspi.ErrNoCredentials, "credential is inbound only"), g.Package, op)
	case !outbound && !g.Use.Inbound():
		return sspi.WithOp(sspi.Errorf(sspi.ErrNoCredentials, "credential is outbound only"), g.Package, op)
	}
	return nil
}

// Close marks the credential closed and reports whether this call closed it.
func (g *Guard) Close() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	first := !g.closed
	g.closed = true
	return first
}
