package httpauth_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/config"

	"github.com/gossp/gossp/httpauth"
	"github.com/gossp/gossp/internal/interop/apache"
	"github.com/gossp/gossp/internal/interop/krb5kdc"
	"github.com/gossp/gossp/negotiate"
	"github.com/gossp/gossp/packages/kerberos"
	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/sspi"
)

// fetch GETs url through tr and returns the response with its body read.
func fetch(t *testing.T, tr *httpauth.Transport, url string) (*http.Response, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// Our client against Apache httpd with mod_auth_gssapi and gss-ntlmssp: SPNEGO from
// gossp's Negotiate (NegoEx and NTLM offered) to MIT's SPNEGO, which may only choose
// NTLM; the legs ride one connection (GssapiConnectionBound) and MIT's final
// accept-completed, with its mechListMIC, comes on the 200.
func TestInteropApacheNTLM(t *testing.T) {
	srv := apache.StartNTLM(t, "TESTDOM:alice:AlicePassw0rd!\n")
	for _, c := range []struct {
		name     string
		password string
		wantOK   bool
	}{{"right password", "AlicePassw0rd!", true}, {"wrong password", "not her password", false}} {
		t.Run(c.name, func(t *testing.T) {
			// Negotiate over NegoEx (PSK) and NTLM: Apache has no NegoEx scheme, so
			// SPNEGO must fall to NTLM.
			client, _ := stack(t, true)
			if c.password != alice.Password {
				neg, err := negotiate.New(negotiate.Config{Packages: []sspi.Package{ntlm.New(ntlm.Config{})}})
				if err != nil {
					t.Fatal(err)
				}
				client, err = neg.AcquireCredentials(context.Background(), sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
					Identity: &sspi.Identity{User: "alice", Domain: "TESTDOM", Password: c.password}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { client.Close() })
			}
			tr := &httpauth.Transport{Credential: client}
			t.Cleanup(tr.CloseIdleConnections)
			resp, body, err := fetch(t, tr, srv.URL)
			if !c.wantOK {
				if err != nil {
					t.Fatalf("wrong password: %v, want a 401", err)
				}
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("wrong password: %s, want 401\n%s", resp.Status, body)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK || body != apache.Body {
				t.Fatalf("%s %q", resp.Status, body)
			}
			if got := resp.Header.Get(apache.HeaderUser); !strings.EqualFold(got, `TESTDOM\alice`) {
				t.Errorf("Apache authenticated %q, want TESTDOM\\alice", got)
			}
			if got := resp.Header.Get(apache.HeaderMech); got != "Negotiate/NTLM" {
				t.Errorf("Apache's mechanism %q, want Negotiate/NTLM", got)
			}
			// Apache writes its access log after the answer, escaping the backslash.
			if !srv.WaitAccessLog(`" 200 user=TESTDOM\\alice`) {
				t.Errorf("access log:\n%s", srv.AccessLog())
			}
		})
	}
}

// kerberosClient is Negotiate over Kerberos with the KDC harness's user, by password.
func kerberosClient(t *testing.T, k *krb5kdc.KDC, password string) sspi.Credential {
	t.Helper()
	conf, err := config.Load(k.Krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	neg, err := negotiate.New(negotiate.Config{Packages: []sspi.Package{kerberos.New(kerberos.Config{Krb5Conf: conf})}})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := neg.AcquireCredentials(context.Background(), sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
		Identity: &sspi.Identity{User: krb5kdc.User + "@" + krb5kdc.Realm, Password: password}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cred.Close() })
	return cred
}

// Our client against Apache with Kerberos (MIT KDC realm on loopback): SPNEGO with one
// leg each way, and the Transport checks Apache's AP-REP (mutual authentication) before
// it hands the 200 over.
func TestInteropApacheKerberos(t *testing.T) {
	k := krb5kdc.Start(t)
	srv := apache.StartKerberos(t, k)
	t.Run("right password", func(t *testing.T) {
		tr := &httpauth.Transport{Credential: kerberosClient(t, k, krb5kdc.Password), RequireMutual: true}
		t.Cleanup(tr.CloseIdleConnections)
		resp, body, err := fetch(t, tr, srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || body != apache.Body {
			t.Fatalf("%s %q", resp.Status, body)
		}
		want := krb5kdc.User + "@" + krb5kdc.Realm
		if got := resp.Header.Get(apache.HeaderUser); got != want {
			t.Errorf("Apache authenticated %q, want %q", got, want)
		}
		if got := resp.Header.Get(apache.HeaderMech); got != "Negotiate/krb5" {
			t.Errorf("Apache's mechanism %q, want Negotiate/krb5", got)
		}
		if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Negotiate ") {
			t.Errorf("no final token on the 200: %q", resp.Header.Values("WWW-Authenticate"))
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		// The KDC refuses the login, so no token ever reaches Apache.
		tr := &httpauth.Transport{Credential: kerberosClient(t, k, "not the password"), RequireMutual: true}
		t.Cleanup(tr.CloseIdleConnections)
		resp, _, err := fetch(t, tr, srv.URL)
		if !errors.Is(err, sspi.ErrLogonDenied) {
			t.Fatalf("wrong password: %v (response %v), want SEC_E_LOGON_DENIED", err, resp)
		}
	})
	t.Run("server not proven", func(t *testing.T) {
		// Apache's success, with its final token stripped: RequireMutual must refuse it.
		tr := &httpauth.Transport{Credential: kerberosClient(t, k, krb5kdc.Password), RequireMutual: true,
			Base: stripFinalToken{http.DefaultTransport.(*http.Transport).Clone()}}
		t.Cleanup(tr.CloseIdleConnections)
		_, _, err := fetch(t, tr, srv.URL)
		if !errors.Is(err, httpauth.ErrMutualAuth) {
			t.Fatalf("a success without Apache's AP-REP: %v, want ErrMutualAuth", err)
		}
	})
}

// stripFinalToken removes the server's token from successes.
type stripFinalToken struct{ *http.Transport }

func (s stripFinalToken) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.Transport.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusOK {
		resp.Header.Del("WWW-Authenticate")
	}
	return resp, err
}
