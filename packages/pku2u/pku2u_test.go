package pku2u_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/gossp/gossp/packages/pku2u"
	"github.com/gossp/gossp/sspi"
	"github.com/gossp/gossp/sspi/sspitest"
)

func TestInfo(t *testing.T) {
	info := pku2u.New(pku2u.Config{}).Info()
	if info.Name != "pku2u" || info.AuthScheme.String() != "0d53335c-f9ea-4d0d-b2ec-4ae3786ec308" || !info.MechOID.Equal(pku2u.OID) {
		t.Fatalf("info %+v", info)
	}
}

func TestConformance(t *testing.T) {
	p := pku2u.New(pku2u.Config{})
	ini, acc := pair(t, p)
	f := fixtures(t)
	sspitest.Run(t, sspitest.Config{
		Initiator:          ini,
		Acceptor:           acc,
		BadInitiator:       acquire(t, p, sspi.CredentialsOutbound, material(f.stranger, f.ca.Root())),
		Target:             "host/" + testHost,
		ExpectedClientName: testUPN,
		ChannelBindings:    true,
	})
}

func TestHandshake(t *testing.T) {
	ctx := context.Background()
	p := pku2u.New(pku2u.Config{})
	ini, acc := pair(t, p)
	i, a, err := handshake(ctx, ini, acc, sspi.ContextConfig{Target: "host/" + testHost})
	if err != nil {
		t.Fatal(err)
	}
	ia, aa := i.Attributes(), a.Attributes()
	if !ia.Established || !aa.Established {
		t.Fatalf("not established: %+v %+v", ia, aa)
	}
	if aa.ClientName != testUPN || ia.ServerName != "host/"+testHost || ia.ClientName != testUPN {
		t.Fatalf("names: initiator %q/%q, acceptor %q/%q", ia.ClientName, ia.ServerName, aa.ClientName, aa.ServerName)
	}
	ik, _ := i.SessionKey()
	ak, _ := a.SessionKey()
	if len(ik) == 0 || !bytes.Equal(ik, ak) {
		t.Fatal("session keys differ")
	}
	sealed, err := i.EncryptMessage([]byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if msg, err := a.DecryptMessage(sealed); err != nil || string(msg) != "hello" {
		t.Fatalf("DecryptMessage: %q %v", msg, err)
	}
	c, ok := sspi.ContextAs[pku2u.Context](a)
	if !ok || len(c.PeerCertificates()) == 0 || c.PeerCertificates()[0].Subject.CommonName != testUPN {
		t.Fatalf("peer certificates (%v)", ok)
	}
}
