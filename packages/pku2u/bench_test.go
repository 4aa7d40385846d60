package pku2u_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/gossp/gossp/internal/cms"
	"github.com/gossp/gossp/internal/pki"
	"github.com/gossp/gossp/internal/pkinit"
	"github.com/gossp/gossp/packages/pku2u"
	"github.com/gossp/gossp/sspi"
)

// BenchmarkHandshake is a full PKU2U exchange, both sides, in process. The
// PublicKeyOnly sub-benchmark does just the public-key work of one handshake (two DH
// key pairs and agreements, two CMS signatures and their checks, two chain
// validations): the difference is the cost of everything else.
func BenchmarkHandshake(b *testing.B) {
	f := fixtures(b)
	for _, c := range []struct {
		name string
		user *pki.Credential
	}{{"ECDSA", f.user}, {"RSA", f.rsaUser}} {
		b.Run(c.name+"/Full", func(b *testing.B) {
			p := pku2u.New(pku2u.Config{})
			ini := acquire(b, p, sspi.CredentialsOutbound, material(c.user, f.ca.Root()))
			acc := acquire(b, p, sspi.CredentialsInbound, material(f.dev, f.ca.Root()))
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				i, a, err := handshake(ctx, ini, acc, sspi.ContextConfig{Target: "host/" + testHost})
				if err != nil {
					b.Fatal(err)
				}
				i.Close()
				a.Close()
			}
		})
		b.Run(c.name+"/PublicKeyOnly", func(b *testing.B) {
			content := make([]byte, 600)
			b.ReportAllocs()
			for b.Loop() {
				publicKeyWork(b, f, c.user, content)
			}
		})
	}
}

func publicKeyWork(b *testing.B, f fixture, user *pki.Credential, content []byte) {
	x, err := pkinit.GenerateKey(pkinit.Group14, rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	y, err := pkinit.GenerateKey(pkinit.Group14, rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := x.SharedSecret(y.Public); err != nil {
		b.Fatal(err)
	}
	if _, err := y.SharedSecret(x.Public); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for _, s := range []struct {
		cred *pki.Credential
		role pki.Role
	}{{user, pki.RoleInitiator}, {f.dev, pki.RoleAcceptor}} {
		sd, err := cms.Sign(pkinit.OIDPKAuthData, content, s.cred.Key, s.cred.Chain, cms.SignOptions{Hash: crypto.SHA256})
		if err != nil {
			b.Fatal(err)
		}
		v, err := cms.Verify(sd, cms.VerifyOptions{EContentType: pkinit.OIDPKAuthData})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := pki.Verify(v.Certificates, pki.VerifyOptions{Roots: f.ca.Pool(), CurrentTime: now, Role: s.role}); err != nil {
			b.Fatal(err)
		}
	}
	_ = sha256.Sum256(content)
}
