package kerberos_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gossp/gossp/packages/kerberos"
	"github.com/gossp/gossp/sspi"
)

const (
	testRealm = "EXAMPLE.TEST"
	testSPN   = "HTTP/server.example.test"
)

// minter is a KDC-less TicketSource: it mints service tickets itself with the service's
// keytab, as a KDC would.
type minter struct {
	kt    *keytab.Keytab
	etype int32
	now   func() time.Time
}

func (m minter) Client() (types.PrincipalName, string) {
	return types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "alice"), testRealm
}

func (m minter) ServiceTicket(_ context.Context, spn string) (messages.Ticket, types.EncryptionKey, error) {
	now := time.Now().UTC()
	if m.now != nil {
		now = m.now().UTC()
	}
	cname, _ := m.Client()
	sname := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, spn)
	return mintTicket(m.kt, cname, sname, m.etype, now)
}

// mintTicket is messages.NewTicket with a session key of the right size (gokrb5's
// GenerateEncryptionKey makes 24-byte keys for aes256-cts-hmac-sha384-192).
func mintTicket(kt *keytab.Keytab, cname, sname types.PrincipalName, etypeID int32, now time.Time) (messages.Ticket, types.EncryptionKey, error) {
	et, err := crypto.GetEtype(etypeID)
	if err != nil {
		return messages.Ticket{}, types.EncryptionKey{}, err
	}
	sk := types.EncryptionKey{KeyType: etypeID, KeyValue: make([]byte, kerberos.KeySize(et))}
	rand.Read(sk.KeyValue)
	etp := messages.EncTicketPart{Flags: types.NewKrbFlags(), Key: sk, CRealm: testRealm, CName: cname,
		AuthTime: now, StartTime: now, EndTime: now.Add(10 * time.Hour), RenewTill: now.Add(10 * time.Hour)}
	b, err := asn1.Marshal(etp)
	if err != nil {
		return messages.Ticket{}, types.EncryptionKey{}, err
	}
	b = asn1tools.AddASNAppTag(b, asnAppTag.EncTicketPart)
	skey, _, err := kt.GetEncryptionKey(sname, testRealm, 1, etypeID)
	if err != nil {
		return messages.Ticket{}, types.EncryptionKey{}, err
	}
	ed, err := crypto.GetEncryptedData(b, skey, keyusage.KDC_REP_TICKET, 1)
	if err != nil {
		return messages.Ticket{}, types.EncryptionKey{}, err
	}
	return messages.Ticket{TktVNO: 5, Realm: testRealm, SName: sname, EncPart: ed}, sk, nil
}

func serviceKeytab(t testing.TB, password string) *keytab.Keytab {
	t.Helper()
	kt := keytab.New()
	for _, et := range []int32{17, 18, 19, 20} {
		if err := kt.AddEntry(testSPN, testRealm, password, time.Now(), 1, et); err != nil {
			t.Fatal(err)
		}
	}
	return kt
}

func acquire(t testing.TB, p sspi.Package, req sspi.CredentialRequest) sspi.Credential {
	t.Helper()
	c, err := p.AcquireCredentials(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// creds returns an initiator minting etype tickets and an acceptor with the right key,
// plus an initiator whose tickets are made with the wrong key.
func creds(t testing.TB, p *kerberos.Package, etype int32) (ini, acc, bad sspi.Credential) {
	kt := serviceKeytab(t, "service-secret")
	ini = acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsOutbound, Material: minter{kt: kt, etype: etype}})
	bad = acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsOutbound, Material: minter{kt: serviceKeytab(t, "not-the-secret"), etype: etype}})
	acc = acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: kerberos.Keytab{Keytab: kt}})
	return ini, acc, bad
}

// handshake runs a full handshake and returns both contexts.
func handshake(t testing.TB, ini, acc sspi.Credential, icfg, acfg sspi.ContextConfig) (sspi.Initiator, sspi.Acceptor, error) {
	t.Helper()
	i, err := ini.NewInitiator(icfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := acc.NewAcceptor(acfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { i.Close(); a.Close() })
	ctx := context.Background()
	tok, st, err := i.InitializeContext(ctx, nil)
	if err != nil {
		return i, a, err
	}
	for {
		out, ast, err := a.AcceptContext(ctx, tok)
		if err != nil {
			return i, a, err
		}
		if st == sspi.StatusOK {
			if ast != sspi.StatusOK {
				t.Fatalf("acceptor status %v after the initiator finished", ast)
			}
			return i, a, nil
		}
		tok, st, err = i.InitializeContext(ctx, out)
		if err != nil {
			return i, a, err
		}
		if st == sspi.StatusOK && len(tok) == 0 {
			return i, a, nil
		}
	}
}
