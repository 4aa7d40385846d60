package pku2u_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/messages"

	"github.com/gossp/gossp/internal/cms"
	"github.com/gossp/gossp/internal/gssframe"
	"github.com/gossp/gossp/internal/pki"
	"github.com/gossp/gossp/internal/pkinit"
	"github.com/gossp/gossp/negoex"
	"github.com/gossp/gossp/packages/pku2u"
	"github.com/gossp/gossp/sspi"
)

// wantStatus checks err carries st.
func wantStatus(t *testing.T, what string, err error, st sspi.Status) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: accepted, want %v", what, st)
	}
	if !errors.Is(err, st) {
		t.Fatalf("%s: %v, want %v", what, err, st)
	}
}

// issue makes a certificate of the test CA with opts.
func issue(t *testing.T, opts pki.IssueOptions) *pki.Credential {
	t.Helper()
	if opts.KeyType == "" {
		opts.KeyType = pki.KeyECDSA
	}
	c, err := fixtures(t).ca.Issue(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCertificateRefusals: the acceptor refuses initiator certificates, and the
// initiator refuses acceptor certificates, with the status that says why; the
// initiator learns the acceptor's reason from the KRB-ERROR.
func TestCertificateRefusals(t *testing.T) {
	f := fixtures(t)
	now := time.Now()
	ctx := context.Background()
	for _, c := range []struct {
		name     string
		user     *pki.Credential
		dev      *pki.Credential
		want     sspi.Status
		peerWant sspi.Status // what the initiator reports from the acceptor's KRB-ERROR
	}{
		{"untrusted issuer", f.stranger, f.dev, sspi.ErrUntrustedRoot, sspi.ErrUntrustedRoot},
		{"expired initiator", issue(t, pki.IssueOptions{UPN: "old@contoso.test", Role: pki.RoleInitiator,
			NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)}), f.dev, sspi.ErrCertExpired, sspi.ErrPKU2UCertFailure},
		{"initiator not yet valid", issue(t, pki.IssueOptions{UPN: "young@contoso.test", Role: pki.RoleInitiator,
			NotBefore: now.Add(24 * time.Hour), NotAfter: now.Add(48 * time.Hour)}), f.dev, sspi.ErrCertExpired, sspi.ErrPKU2UCertFailure},
		{"initiator with a server certificate", issue(t, pki.IssueOptions{UPN: "srv@contoso.test", Role: pki.RoleAcceptor}), f.dev, sspi.ErrCertWrongUsage, sspi.ErrPKU2UCertFailure},
		{"acceptor with a client certificate", f.user, issue(t, pki.IssueOptions{DNSNames: []string{testHost}, Role: pki.RoleInitiator}), sspi.ErrCertWrongUsage, 0},
		{"acceptor naming another host", f.user, issue(t, pki.IssueOptions{DNSNames: []string{"other.contoso.test"}, Role: pki.RoleAcceptor}), sspi.ErrWrongPrincipal, 0},
		{"expired acceptor", f.user, issue(t, pki.IssueOptions{DNSNames: []string{testHost}, Role: pki.RoleAcceptor,
			NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)}), sspi.ErrCertExpired, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := pku2u.New(pku2u.Config{})
			ini := acquire(t, p, sspi.CredentialsOutbound, material(c.user, f.ca.Root()))
			acc := acquire(t, p, sspi.CredentialsInbound, material(c.dev, f.ca.Root()))
			s := newStepper(t, ini, acc)
			asReq := s.init(nil)
			asRep, _, err := s.a.AcceptContext(ctx, asReq)
			if c.peerWant == 0 { // the initiator refuses the acceptor
				if err != nil {
					t.Fatalf("acceptor: %v", err)
				}
				_, _, err = s.i.InitializeContext(ctx, asRep)
				wantStatus(t, "initiator", err, c.want)
				return
			}
			wantStatus(t, "acceptor", err, c.want)
			if len(asRep) == 0 {
				t.Fatal("no KRB-ERROR for the initiator")
			}
			_, _, err = s.i.InitializeContext(ctx, asRep)
			wantStatus(t, "initiator from the KRB-ERROR", err, c.peerWant)
		})
	}
}

// asRepParts decodes an AS-REP token down to its signed DH reply.
func asRepParts(t *testing.T, tok []byte) (rep messages.ASRep, pa pkinit.PAPKASRep, sd *cms.SignedData) {
	t.Helper()
	_, _, inner, err := gssframe.Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Unmarshal(inner); err != nil {
		t.Fatal(err)
	}
	if err := pa.Unmarshal(rep.PAData[0].PADataValue); err != nil {
		t.Fatal(err)
	}
	if sd, err = cms.Parse(pa.DHInfo.DHSignedData); err != nil {
		t.Fatal(err)
	}
	return rep, pa, sd
}

// flipAt returns tok with the byte at the start of the first occurrence of part, plus
// off, flipped.
func flipAt(t *testing.T, tok, part []byte, off int) []byte {
	t.Helper()
	i := bytes.Index(tok, part)
	if i < 0 {
		t.Fatal("part not found in the token")
	}
	out := bytes.Clone(tok)
	out[i+off] ^= 0x01
	return out
}

// TestTamperedExchange: every signed or bound part of the exchange, altered in
// transit, is caught by the side that checks it.
func TestTamperedExchange(t *testing.T) {
	ctx := context.Background()
	p := pku2u.New(pku2u.Config{})
	ini, acc := pair(t, p)

	t.Run("AS-REP signature", func(t *testing.T) {
		s := newStepper(t, ini, acc)
		asRep := s.accept(s.init(nil))
		_, pa, _ := asRepParts(t, asRep)
		sig := pa.DHInfo.DHSignedData
		bad := flipAt(t, asRep, sig, len(sig)-1) // the signature ends the SignedData
		_, _, err := s.i.InitializeContext(ctx, bad)
		wantStatus(t, "initiator", err, sspi.ErrMessageAltered)
	})
	t.Run("AS-REP DH value", func(t *testing.T) {
		s := newStepper(t, ini, acc)
		asRep := s.accept(s.init(nil))
		_, _, sd := asRepParts(t, asRep)
		var kdh pkinit.KDCDHKeyInfo
		if err := kdh.Unmarshal(sd.EContent); err != nil {
			t.Fatal(err)
		}
		y := kdh.SubjectPublicKey.Bytes
		_, _, err := s.i.InitializeContext(ctx, flipAt(t, asRep, y, len(y)/2))
		wantStatus(t, "initiator", err, sspi.ErrMessageAltered)
	})
	t.Run("AS-REQ DH value", func(t *testing.T) {
		s := newStepper(t, ini, acc)
		asReq := s.init(nil)
		_, _, inner, _ := gssframe.Parse(asReq)
		var req messages.ASReq
		if err := req.Unmarshal(inner); err != nil {
			t.Fatal(err)
		}
		var pr pkinit.PAPKASReq
		if err := pr.Unmarshal(req.PAData[0].PADataValue); err != nil {
			t.Fatal(err)
		}
		sd, err := cms.Parse(pr.SignedAuthPack)
		if err != nil {
			t.Fatal(err)
		}
		var ap pkinit.AuthPack
		if err := ap.Unmarshal(sd.EContent); err != nil {
			t.Fatal(err)
		}
		y := ap.ClientPublicValue.PublicKey.Bytes
		_, _, err = s.a.AcceptContext(ctx, flipAt(t, asReq, y, len(y)/2))
		wantStatus(t, "acceptor", err, sspi.ErrMessageAltered)
	})
	t.Run("AS-REQ body", func(t *testing.T) {
		// The till time is outside the signature but inside the paChecksum.
		s := newStepper(t, ini, acc)
		asReq := s.init(nil)
		_, _, inner, _ := gssframe.Parse(asReq)
		var req messages.ASReq
		if err := req.Unmarshal(inner); err != nil {
			t.Fatal(err)
		}
		till := []byte(req.ReqBody.Till.UTC().Format("20060102150405Z"))
		_, _, err := s.a.AcceptContext(ctx, flipAt(t, asReq, till, 3))
		wantStatus(t, "acceptor", err, sspi.ErrMessageAltered)
	})
	t.Run("AS-REP outside the signature", func(t *testing.T) {
		// The realm of the AS-REP is signed by nothing but KRB-FINISHED: the acceptor
		// sees the change when the AP-REQ's checksum disagrees with its transcript.
		s := newStepper(t, ini, acc)
		asRep := s.accept(s.init(nil))
		bad := bytes.Replace(asRep, []byte("WELLKNOWN:PKU2U"), []byte("WELLKNOWN:PKU2V"), 1)
		apReq, _, err := s.i.InitializeContext(ctx, bad)
		if err != nil {
			t.Fatalf("initiator: %v", err)
		}
		_, _, err = s.a.AcceptContext(ctx, apReq)
		wantStatus(t, "acceptor", err, sspi.ErrMessageAltered)
	})
	t.Run("AP-REP", func(t *testing.T) {
		s := newStepper(t, ini, acc)
		apRep := s.accept(s.init(s.accept(s.init(nil))))
		bad := bytes.Clone(apRep)
		bad[len(bad)-3] ^= 0x01
		_, _, err := s.i.InitializeContext(ctx, bad)
		wantStatus(t, "initiator", err, sspi.ErrMutualAuthFailed)
	})
}

// TestReplays: a replayed AS-REQ, an AP-REQ from another exchange of the same
// acceptor, and a ticket from another acceptor are refused.
func TestReplays(t *testing.T) {
	ctx := context.Background()
	p := pku2u.New(pku2u.Config{})
	ini, acc := pair(t, p)
	f := fixtures(t)

	s1 := newStepper(t, ini, acc)
	asReq := s1.init(nil)
	asRep := s1.accept(asReq)
	apReq := s1.init(asRep)

	t.Run("AS-REQ", func(t *testing.T) {
		a, _ := acc.NewAcceptor(sspi.ContextConfig{})
		_, _, err := a.AcceptContext(ctx, asReq)
		wantStatus(t, "replayed AS-REQ", err, sspi.ErrLogonDenied)
	})
	t.Run("AP-REQ to another exchange", func(t *testing.T) {
		s2 := newStepper(t, ini, acc)
		s2.accept(s2.init(nil))
		_, _, err := s2.a.AcceptContext(ctx, apReq)
		wantStatus(t, "AP-REQ of exchange 1 on exchange 2", err, sspi.ErrLogonDenied)
	})
	t.Run("ticket from another acceptor", func(t *testing.T) {
		acc2 := acquire(t, p, sspi.CredentialsInbound, material(f.dev, f.ca.Root()))
		s3 := newStepper(t, ini, acc2)
		s3.accept(s3.init(nil))
		_, _, err := s3.a.AcceptContext(ctx, apReq)
		wantStatus(t, "AP-REQ with another acceptor's ticket", err, sspi.ErrLogonDenied)
	})
	t.Run("AP-REQ twice", func(t *testing.T) {
		if _, _, err := s1.a.AcceptContext(ctx, apReq); err != nil {
			t.Fatal(err)
		}
		_, _, err := s1.a.AcceptContext(ctx, apReq)
		if err == nil {
			t.Fatal("a second AP-REQ on an established context was accepted")
		}
	})
}

// TestClockSkew: an initiator whose clock is off by more than the allowed skew is
// refused with SEC_E_TIME_SKEW, on both sides.
func TestClockSkew(t *testing.T) {
	ctx := context.Background()
	f := fixtures(t)
	skewed := pku2u.New(pku2u.Config{Now: func() time.Time { return time.Now().Add(10 * time.Minute) }})
	p := pku2u.New(pku2u.Config{})
	ini := acquire(t, skewed, sspi.CredentialsOutbound, material(f.user, f.ca.Root()))
	acc := acquire(t, p, sspi.CredentialsInbound, material(f.dev, f.ca.Root()))
	s := newStepper(t, ini, acc)
	out, _, err := s.a.AcceptContext(ctx, s.init(nil))
	wantStatus(t, "acceptor", err, sspi.ErrTimeSkew)
	_, _, err = s.i.InitializeContext(ctx, out)
	wantStatus(t, "initiator", err, sspi.ErrTimeSkew)
}

// TestNegoExVerify: through NegoEx, a VERIFY that does not match is refused.
func TestNegoExVerify(t *testing.T) {
	ctx := context.Background()
	p := pku2u.New(pku2u.Config{})
	f := fixtures(t)
	nx, err := negoex.New(negoex.Config{Schemes: []negoex.Scheme{{Package: p}}})
	if err != nil {
		t.Fatal(err)
	}
	cred := func(use sspi.CredentialUse, c *pki.Credential) sspi.Credential {
		cr, err := nx.AcquireCredentials(ctx, sspi.CredentialRequest{Use: use,
			Material: negoex.Options{Material: map[string]any{pku2u.Name: material(c, f.ca.Root())}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cr.Close() })
		return cr
	}
	ini, acc := cred(sspi.CredentialsOutbound, f.user), cred(sspi.CredentialsInbound, f.dev)

	// A clean run first: Negotiate's view of PKU2U through NegoEx.
	i, a, err := handshake(ctx, ini, acc, sspi.ContextConfig{Target: "host/" + testHost})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Attributes(); got.ClientName != testUPN || got.Package.Name != pku2u.Name {
		t.Fatalf("acceptor attributes %+v", got)
	}
	i.Close()
	a.Close()

	// Then one whose initiator VERIFY is altered.
	s := newStepper(t, ini, acc)
	tok := s.accept(s.init(nil))
	for leg := 0; leg < 4; leg++ {
		out := s.init(tok)
		msgs, err := negoex.ParseMessages(out)
		if err != nil {
			t.Fatal(err)
		}
		var altered bool
		var b []byte
		for _, m := range msgs {
			if m.Type == negoex.Verify {
				m.Checksum[0] ^= 0x01
				altered = true
			}
			b = m.Append(b)
		}
		if !altered {
			tok = s.accept(out)
			continue
		}
		_, _, err = s.a.AcceptContext(ctx, b)
		wantStatus(t, "altered VERIFY", err, sspi.ErrMessageAltered)
		return
	}
	t.Fatal("the initiator sent no VERIFY")
}

// TestModp1024: Windows' 1024-bit group is refused by default, with TD-DH-PARAMETERS
// naming group 14 in the KRB-ERROR, and accepted with AllowModp1024.
func TestModp1024(t *testing.T) {
	ctx := context.Background()
	f := fixtures(t)
	windowsLike := pku2u.New(pku2u.Config{InitiatorModp1024: true})
	ini := acquire(t, windowsLike, sspi.CredentialsOutbound, material(f.user, f.ca.Root()))

	strict := pku2u.New(pku2u.Config{})
	s := newStepper(t, ini, acquire(t, strict, sspi.CredentialsInbound, material(f.dev, f.ca.Root())))
	out, _, err := s.a.AcceptContext(ctx, s.init(nil))
	wantStatus(t, "default acceptor", err, sspi.ErrAlgorithmMismatch)
	_, _, inner, _ := gssframe.Parse(out)
	var ke messages.KRBError
	if err := ke.Unmarshal(inner); err != nil || ke.ErrorCode != 65 || len(ke.EData) == 0 {
		t.Fatalf("KRB-ERROR %d with %d bytes of e-data (%v), want 65 with TD-DH-PARAMETERS", ke.ErrorCode, len(ke.EData), err)
	}
	_, _, err = s.i.InitializeContext(ctx, out)
	wantStatus(t, "initiator", err, sspi.ErrAlgorithmMismatch)

	lenient := pku2u.New(pku2u.Config{AllowModp1024: true})
	if _, _, err := handshake(ctx, ini, acquire(t, lenient, sspi.CredentialsInbound, material(f.dev, f.ca.Root())), sspi.ContextConfig{Target: "host/" + testHost}); err != nil {
		t.Fatalf("AllowModp1024: %v", err)
	}
}
