package kerberos

import (
	"context"
	"strings"
	"sync"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gossp/gossp/sspi"
)

// clientSource adapts a gokrb5 client: it logs in (AS exchange) once, on first use, and
// asks for service tickets (TGS exchange), which gokrb5 caches.
type clientSource struct {
	cl       *client.Client
	pkg      *Package
	owned    bool
	mu       sync.Mutex
	loggedIn bool
}

func newClientSource(cl *client.Client, p *Package) *clientSource {
	return &clientSource{cl: cl, pkg: p, owned: true}
}

func (s *clientSource) Client() (types.PrincipalName, string) {
	return s.cl.Credentials.CName(), s.cl.Credentials.Domain()
}

func (s *clientSource) ServiceTicket(ctx context.Context, spn string) (messages.Ticket, types.EncryptionKey, error) {
	s.mu.Lock()
	if !s.loggedIn {
		if err := s.cl.AffirmLogin(); err != nil {
			s.mu.Unlock()
			return messages.Ticket{}, types.EncryptionKey{}, kdcError("login", err, sspi.ErrLogonDenied)
		}
		s.loggedIn = true
	}
	s.mu.Unlock()
	tkt, key, err := s.cl.GetServiceTicket(spn)
	if err != nil {
		return tkt, key, kdcError("service ticket for "+spn, err, sspi.ErrLogonDenied)
	}
	return tkt, key, nil
}

func (s *clientSource) destroy() {
	if s.owned {
		s.cl.Destroy()
	}
}

// kdcError maps an error of gokrb5's KDC exchanges to an SSPI status by the Kerberos
// error it names (gokrb5 reports them as text).
func kdcError(what string, err error, def sspi.Status) error {
	msg := err.Error()
	st := def
	switch {
	case strings.Contains(msg, "KDC_ERR_S_PRINCIPAL_UNKNOWN"):
		st = sspi.ErrTargetUnknown
	case strings.Contains(msg, "KDC_ERR_C_PRINCIPAL_UNKNOWN"), strings.Contains(msg, "KDC_ERR_PREAUTH_FAILED"),
		strings.Contains(msg, "KDC_ERR_CLIENT_REVOKED"), strings.Contains(msg, "Decrypting_Error"):
		st = sspi.ErrLogonDenied
	case strings.Contains(msg, "KRB_AP_ERR_SKEW"):
		st = sspi.ErrTimeSkew
	case strings.Contains(msg, "KDC_ERR_ETYPE_NOSUPP"):
		st = sspi.ErrKDCUnknownEtype
	case strings.Contains(msg, "Networking_Error"), strings.Contains(msg, "could not"), strings.Contains(msg, "no KDC"):
		st = sspi.ErrNoAuthenticatingAuth
	}
	return sspi.Errorf(st, "%s: %v", what, err)
}
