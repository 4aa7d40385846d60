package pku2u_test

import (
	"context"
	"crypto/x509"
	"sync"
	"testing"
	"time"

	"github.com/gossp/gossp/internal/pki"
	"github.com/gossp/gossp/packages/pku2u"
	"github.com/gossp/gossp/sspi"
)

const (
	testUPN  = "alice@contoso.test"
	testHost = "server.contoso.test"
)

// fixture is a CA, an initiator (user) certificate and an acceptor (device)
// certificate, made once: key generation dominates the package's test time.
type fixture struct {
	ca, other *pki.CA
	user, dev *pki.Credential
	rsaUser   *pki.Credential
	stranger  *pki.Credential // a user of the other CA
}

var (
	fixOnce sync.Once
	fix     fixture
	fixErr  error
)

func fixtures(t testing.TB) fixture {
	t.Helper()
	fixOnce.Do(func() {
		var f fixture
		if f.ca, fixErr = pki.NewCA(pki.CAOptions{CommonName: "gossp test P2P CA", KeyType: pki.KeyECDSA}); fixErr != nil {
			return
		}
		if f.other, fixErr = pki.NewCA(pki.CAOptions{CommonName: "someone else's CA", KeyType: pki.KeyECDSA}); fixErr != nil {
			return
		}
		if f.user, fixErr = f.ca.Issue(pki.IssueOptions{UPN: testUPN, Role: pki.RoleInitiator, KeyType: pki.KeyECDSA}); fixErr != nil {
			return
		}
		if f.dev, fixErr = f.ca.Issue(pki.IssueOptions{DNSNames: []string{testHost}, Role: pki.RoleAcceptor, KeyType: pki.KeyECDSA}); fixErr != nil {
			return
		}
		if f.rsaUser, fixErr = f.ca.Issue(pki.IssueOptions{UPN: "bob@contoso.test", Role: pki.RoleInitiator, KeyType: pki.KeyRSA}); fixErr != nil {
			return
		}
		if f.stranger, fixErr = f.other.Issue(pki.IssueOptions{UPN: "mallory@elsewhere.test", Role: pki.RoleInitiator, KeyType: pki.KeyECDSA}); fixErr != nil {
			return
		}
		fix = f
	})
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

func material(c *pki.Credential, trust ...*x509.Certificate) pku2u.Credentials {
	return pku2u.Credentials{Certificates: []pku2u.Certificate{{Chain: c.Chain, Key: c.Key}}, Trust: trust}
}

func acquire(t testing.TB, p *pku2u.Package, use sspi.CredentialUse, m pku2u.Credentials) sspi.Credential {
	t.Helper()
	c, err := p.AcquireCredentials(context.Background(), sspi.CredentialRequest{Use: use, Material: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// pair returns initiator and acceptor credentials of one package.
func pair(t testing.TB, p *pku2u.Package) (ini, acc sspi.Credential) {
	f := fixtures(t)
	return acquire(t, p, sspi.CredentialsOutbound, material(f.user, f.ca.Root())),
		acquire(t, p, sspi.CredentialsInbound, material(f.dev, f.ca.Root()))
}

// handshake runs a full exchange and returns both contexts, or the first error.
func handshake(ctx context.Context, ini, acc sspi.Credential, cfg sspi.ContextConfig) (sspi.Initiator, sspi.Acceptor, error) {
	i, err := ini.NewInitiator(cfg)
	if err != nil {
		return nil, nil, err
	}
	a, err := acc.NewAcceptor(sspi.ContextConfig{ChannelBindings: cfg.ChannelBindings})
	if err != nil {
		return nil, nil, err
	}
	var in []byte
	for leg := 0; leg < 6; leg++ {
		out, st, err := i.InitializeContext(ctx, in)
		if err != nil {
			return i, a, err
		}
		if st == sspi.StatusOK && len(out) == 0 {
			return i, a, nil
		}
		out, ast, err := a.AcceptContext(ctx, out)
		if err != nil {
			return i, a, err
		}
		if st == sspi.StatusOK && ast == sspi.StatusOK {
			return i, a, nil
		}
		in = out
	}
	return i, a, sspi.Errorf(sspi.ErrInternal, "no completion")
}

// stepper drives a handshake leg by leg, for tests that tamper with tokens.
type stepper struct {
	t   testing.TB
	ctx context.Context
	i   sspi.Initiator
	a   sspi.Acceptor
}

func newStepper(t testing.TB, ini, acc sspi.Credential) *stepper {
	t.Helper()
	i, err := ini.NewInitiator(sspi.ContextConfig{Target: "host/" + testHost, Flags: sspi.FlagMutualAuth | sspi.FlagReplayDetect | sspi.FlagSequenceDetect})
	if err != nil {
		t.Fatal(err)
	}
	a, err := acc.NewAcceptor(sspi.ContextConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return &stepper{t: t, ctx: context.Background(), i: i, a: a}
}

func (s *stepper) init(in []byte) []byte {
	s.t.Helper()
	out, _, err := s.i.InitializeContext(s.ctx, in)
	if err != nil {
		s.t.Fatalf("InitializeContext: %v", err)
	}
	return out
}

func (s *stepper) accept(in []byte) []byte {
	s.t.Helper()
	out, _, err := s.a.AcceptContext(s.ctx, in)
	if err != nil {
		s.t.Fatalf("AcceptContext: %v", err)
	}
	return out
}

// at is a clock fixed at t, for skew tests.
func at(t time.Time) func() time.Time { return func() time.Time { return t } }
