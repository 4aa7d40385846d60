package httpauth_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gossp/gossp/httpauth"
	"github.com/gossp/gossp/negoex"
	"github.com/gossp/gossp/negotiate"
	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/packages/psk"
	"github.com/gossp/gossp/sspi"
)

var (
	users = ntlm.Users{{Domain: "TESTDOM", User: "alice", NTHash: ntlm.NTHash("AlicePassw0rd!")}}
	key   = []byte("0123456789abcdef0123456789abcdef")
)

// stack is the default gossp stack: Negotiate over NegoEx (PSK) and NTLM.
func stack(t testing.TB, withNegoEx bool) (client, server sspi.Credential) {
	t.Helper()
	pkgs := []sspi.Package{ntlm.New(ntlm.Config{})}
	if withNegoEx {
		nx, err := negoex.New(negoex.Config{Schemes: []negoex.Scheme{{Package: psk.New(psk.Config{})}}})
		if err != nil {
			t.Fatal(err)
		}
		pkgs = append([]sspi.Package{nx}, pkgs...)
	}
	neg, err := negotiate.New(negotiate.Config{Packages: pkgs})
	if err != nil {
		t.Fatal(err)
	}
	pskCred := psk.Credentials{ClientKey: psk.ClientKey{Identity: "alice", Key: key}, KeyStore: psk.Keys{"alice": key}}
	m := negotiate.Options{Material: map[string]any{negoex.Name: negoex.Options{Material: map[string]any{psk.Name: pskCred}}, ntlm.Name: users}}
	ctx := context.Background()
	client, err = neg.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
		Identity: &sspi.Identity{User: "alice", Domain: "TESTDOM", Password: "AlicePassw0rd!"}, Material: m})
	if err != nil {
		t.Fatal(err)
	}
	server, err = neg.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// whoami answers with the authenticated identity.
var whoami = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	id, ok := httpauth.FromContext(r.Context())
	if !ok {
		http.Error(w, "no identity", 500)
		return
	}
	body, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "%s via %s (%d body bytes)", id.ClientName, strings.Join(id.Path, "/"), len(body))
})

func newServer(t testing.TB, cred sspi.Credential, opts ...httpauth.Option) (*httptest.Server, *httpauth.Server) {
	t.Helper()
	auth := httpauth.NewServer(cred, opts...)
	ts := httptest.NewUnstartedServer(auth.Middleware(whoami))
	ts.Config.ConnContext = auth.ConnContext
	ts.Config.ConnState = auth.ConnState
	ts.Start()
	t.Cleanup(ts.Close)
	return ts, auth
}

func get(t testing.TB, tr http.RoundTripper, url string, body []byte) (int, string, error) {
	t.Helper()
	var rd io.Reader
	method := http.MethodGet
	if body != nil {
		rd, method = bytes.NewReader(body), http.MethodPost
	}
	req, _ := http.NewRequest(method, url, rd)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func TestNegotiateOverHTTP(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for _, c := range []struct {
		name     string
		negoex   bool
		wantPath string
	}{{"NTLM", false, "Negotiate/NTLM"}, {"NegoEx PSK", true, "Negotiate/NegoExtender/PSK"}} {
		t.Run(c.name, func(t *testing.T) {
			client, server := stack(t, c.negoex)
			ts, auth := newServer(t, server)
			tr := &httpauth.Transport{Credential: client, Base: ts.Client().Transport.(*http.Transport)}
			code, body, err := get(t, tr, ts.URL, []byte("a request body sent on every leg"))
			if err != nil || code != 200 || !strings.Contains(body, c.wantPath) || !strings.Contains(body, "alice") {
				t.Fatalf("%d %q %v", code, body, err)
			}
			if !strings.Contains(body, "(32 body bytes)") {
				t.Errorf("body not rewound: %q", body)
			}
			if auth.Pending() != 0 {
				t.Errorf("%d handshakes left pending", auth.Pending())
			}
		})
	}
}

func TestTLSChannelBindings(t *testing.T) {
	client, server := stack(t, false)
	// Every httptest TLS server has the same certificate: learn it from a throwaway one.
	ref := httptest.NewTLSServer(nil)
	cert := ref.Certificate()
	ref.Close()
	for _, c := range []struct {
		name string
		cert *x509.Certificate
		want int
	}{{"matching bindings", cert, 200}, {"bindings to another certificate", otherCert(t), 401}} {
		t.Run(c.name, func(t *testing.T) {
			auth := httpauth.NewServer(server, httpauth.WithTLSCertificate(c.cert))
			ts := httptest.NewUnstartedServer(auth.Middleware(whoami))
			ts.Config.ConnContext, ts.Config.ConnState = auth.ConnContext, auth.ConnState
			ts.StartTLS()
			defer ts.Close()
			tr := &httpauth.Transport{Credential: client, Base: ts.Client().Transport.(*http.Transport)}
			if code, body, err := get(t, tr, ts.URL, nil); err != nil || code != c.want {
				t.Fatalf("%d %q %v, want %d", code, body, err, c.want)
			}
		})
	}
}

func TestConcurrentClients(t *testing.T) {
	client, server := stack(t, true)
	ts, auth := newServer(t, server)
	tr := &httpauth.Transport{Credential: client, Base: ts.Client().Transport.(*http.Transport)}
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			if code, body, err := get(t, tr, ts.URL, nil); err != nil || code != 200 {
				errs <- fmt.Errorf("%d %q %v", code, body, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := auth.Pending(); n != 0 {
		t.Errorf("%d pending", n)
	}
}

// legs drives a raw handshake over one keep-alive connection of c, returning the
// Authorization headers it sent.
func firstLeg(t *testing.T, c *http.Client, url string, client sspi.Credential) (sspi.Initiator, *http.Response) {
	t.Helper()
	ini, _ := client.NewInitiator(sspi.ContextConfig{Target: "HTTP/127.0.0.1"})
	tok, _, err := ini.InitializeContext(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Negotiate "+base64.StdEncoding.EncodeToString(tok))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return ini, resp
}

// A client that abandons a handshake leaves nothing behind once it expires, and a
// handshake's next token replayed on another connection is refused.
func TestAbandonedAndReplayedHandshakes(t *testing.T) {
	client, server := stack(t, false)
	ts, auth := newServer(t, server, httpauth.WithPendingTimeout(100*time.Millisecond))
	c1 := &http.Client{Transport: ts.Client().Transport.(*http.Transport).Clone()}
	ini, resp := firstLeg(t, c1, ts.URL, client)
	if resp.StatusCode != 401 || auth.Pending() != 1 {
		t.Fatalf("first leg: %d, pending %d", resp.StatusCode, auth.Pending())
	}
	// The next leg, sent on a different connection, starts nothing there and fails.
	var in []byte
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		if b, ok := strings.CutPrefix(v, "Negotiate "); ok {
			in, _ = base64.StdEncoding.DecodeString(b)
		}
	}
	out, _, err := ini.InitializeContext(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	c2 := &http.Client{Transport: ts.Client().Transport.(*http.Transport).Clone()}
	req, _ := http.NewRequest("GET", ts.URL, nil)
	req.Header.Set("Authorization", "Negotiate "+base64.StdEncoding.EncodeToString(out))
	r2, err := c2.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 401 {
		t.Fatalf("a second leg on another connection: %d, want 401", r2.StatusCode)
	}
	// The abandoned one expires.
	time.Sleep(150 * time.Millisecond)
	c3 := &http.Client{Transport: ts.Client().Transport.(*http.Transport).Clone()}
	firstLeg(t, c3, ts.URL, client) // any request sweeps
	if n := auth.Pending(); n != 1 {
		t.Fatalf("after expiry: %d pending, want only the new one", n)
	}
	c1.CloseIdleConnections()
	c2.CloseIdleConnections()
	c3.CloseIdleConnections()
}

func TestHostileHeaders(t *testing.T) {
	_, server := stack(t, false)
	ts, _ := newServer(t, server, httpauth.WithMaxPending(2))
	cases := map[string]struct {
		header string
		want   int
	}{
		"no header":        {"", 401},
		"other scheme":     {"Basic YWxpY2U6cHc=", 401},
		"not base64":       {"Negotiate !!!", 400},
		"empty token":      {"Negotiate ", 400},
		"garbage token":    {"Negotiate " + base64.StdEncoding.EncodeToString([]byte("garbage")), 401},
		"oversized header": {"Negotiate " + strings.Repeat("A", 100<<10), 431},
	}
	for name, c := range cases {
		req, _ := http.NewRequest("GET", ts.URL, nil)
		if c.header != "" {
			req.Header.Set("Authorization", c.header)
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", name, resp.StatusCode, c.want)
		}
		if c.want == 401 && !strings.Contains(strings.Join(resp.Header.Values("WWW-Authenticate"), ","), "Negotiate") {
			t.Errorf("%s: no Negotiate challenge", name)
		}
	}
}

func TestWrongPassword(t *testing.T) {
	_, server := stack(t, false)
	ts, _ := newServer(t, server)
	neg, _ := negotiate.New(negotiate.Config{Packages: []sspi.Package{ntlm.New(ntlm.Config{})}})
	bad, _ := neg.AcquireCredentials(context.Background(), sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
		Identity: &sspi.Identity{User: "alice", Domain: "TESTDOM", Password: "wrong"}})
	tr := &httpauth.Transport{Credential: bad, Base: ts.Client().Transport.(*http.Transport)}
	code, _, err := get(t, tr, ts.URL, nil)
	if err != nil && !errors.Is(err, sspi.ErrLogonDenied) || err == nil && code != 401 {
		t.Fatalf("wrong password: %d %v", code, err)
	}
}

func otherCert(t *testing.T) *x509.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "other"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
