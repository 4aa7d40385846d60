package pku2u_test

import (
	"context"
	"testing"

	"github.com/gossp/gossp/packages/pku2u"
	"github.com/gossp/gossp/sspi"
)

// FuzzAcceptor feeds hostile first and second tokens to an acceptor, seeded with a real
// exchange's AS-REQ and AP-REQ: no panic, and a refusal is an SSPI status.
func FuzzAcceptor(f *testing.F) {
	p := pku2u.New(pku2u.Config{})
	ini, acc := pair(f, p)
	s := newStepper(f, ini, acc)
	asReq := s.init(nil)
	apReq := s.init(s.accept(asReq))
	f.Add(asReq, apReq)
	f.Add(asReq[:len(asReq)/2], apReq)
	f.Fuzz(func(t *testing.T, first, second []byte) {
		ctx := context.Background()
		a, err := acc.NewAcceptor(sspi.ContextConfig{})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		for _, tok := range [][]byte{first, second} {
			if _, _, err := a.AcceptContext(ctx, tok); err != nil {
				if sspi.StatusOf(err) == sspi.StatusOK {
					t.Fatalf("an error without a status: %v", err)
				}
				return
			}
		}
	})
}

// FuzzInitiator feeds hostile AS-REPs and AP-REPs to an initiator, seeded with a real
// exchange's.
func FuzzInitiator(f *testing.F) {
	p := pku2u.New(pku2u.Config{})
	ini, acc := pair(f, p)
	s := newStepper(f, ini, acc)
	asRep := s.accept(s.init(nil))
	apRep := s.accept(s.init(asRep))
	f.Add(asRep, apRep)
	f.Add(asRep[:10], apRep)
	f.Fuzz(func(t *testing.T, first, second []byte) {
		ctx := context.Background()
		i, err := ini.NewInitiator(sspi.ContextConfig{Target: "host/" + testHost})
		if err != nil {
			t.Fatal(err)
		}
		defer i.Close()
		if _, _, err := i.InitializeContext(ctx, nil); err != nil {
			t.Fatal(err)
		}
		for _, tok := range [][]byte{first, second} {
			if _, _, err := i.InitializeContext(ctx, tok); err != nil {
				if sspi.StatusOf(err) == sspi.StatusOK {
					t.Fatalf("an error without a status: %v", err)
				}
				return
			}
		}
	})
}
