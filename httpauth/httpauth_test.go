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
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
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

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	users = ntlm.Users{{Domain: "TESTDOM", User: "alice", NTHash: ntlm.NTHash("AlicePassw0rd!")}}
	key   = []byte("0123456789abcdef0123456789abcdef")
	alice = &sspi.Identity{User: "alice", Domain: "TESTDOM", Password: "AlicePassw0rd!"}
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
	client, err = neg.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsOutbound, Identity: alice, Material: m})
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

// ntlmStack is NTLM alone, for "Authorization: NTLM".
func ntlmStack(t testing.TB) (client, server sspi.Credential) {
	t.Helper()
	p := ntlm.New(ntlm.Config{})
	client, err := p.AcquireCredentials(context.Background(), sspi.CredentialRequest{Use: sspi.CredentialsOutbound, Identity: alice})
	if err != nil {
		t.Fatal(err)
	}
	server, err = p.AcquireCredentials(context.Background(), sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: users})
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

func mustServer(t testing.TB, cred sspi.Credential, opts ...httpauth.Option) *httpauth.Server {
	t.Helper()
	auth, err := httpauth.NewServer(cred, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(auth.Close)
	return auth
}

func newServer(t testing.TB, cred sspi.Credential, opts ...httpauth.Option) (*httptest.Server, *httpauth.Server) {
	t.Helper()
	auth := mustServer(t, cred, opts...)
	ts := httptest.NewUnstartedServer(auth.Middleware(whoami))
	ts.Config.ConnContext = httpauth.ConnContext
	ts.Config.ConnState = auth.ConnState
	ts.Start()
	t.Cleanup(ts.Close)
	return ts, auth
}

func transport(t testing.TB, cred sspi.Credential, ts *httptest.Server) *httpauth.Transport {
	tr := &httpauth.Transport{Credential: cred, Base: ts.Client().Transport}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func get(t testing.TB, tr http.RoundTripper, url string, body []byte) (int, string, error) {
	t.Helper()
	var rd io.Reader
	method := http.MethodGet
	if body != nil {
		rd, method = bytes.NewReader(body), http.MethodPost
	}
	req, _ := http.NewRequest(method, url, rd)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func TestNegotiateOverHTTP(t *testing.T) {
	for _, c := range []struct {
		name     string
		negoex   bool
		wantPath string
	}{{"NTLM", false, "Negotiate/NTLM"}, {"NegoEx PSK", true, "Negotiate/NegoExtender/PSK"}} {
		t.Run(c.name, func(t *testing.T) {
			client, server := stack(t, c.negoex)
			ts, auth := newServer(t, server)
			tr := transport(t, client, ts)
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

// A redirect to another authenticated URL: the client authenticates again there.
func TestRedirect(t *testing.T) {
	client, server := stack(t, false)
	auth := mustServer(t, server)
	mux := http.NewServeMux()
	mux.Handle("/new", whoami)
	mux.Handle("/old", http.RedirectHandler("/new", http.StatusTemporaryRedirect))
	ts := httptest.NewUnstartedServer(auth.Middleware(mux))
	ts.Config.ConnContext = httpauth.ConnContext
	ts.Start()
	defer ts.Close()
	code, body, err := get(t, transport(t, client, ts), ts.URL+"/old", []byte("body"))
	if err != nil || code != 200 || !strings.Contains(body, "(4 body bytes)") {
		t.Fatalf("%d %q %v", code, body, err)
	}
}

// The server's final token is required when mutual authentication is asked for.
func TestMutualAuthMissing(t *testing.T) {
	client, server := stack(t, false)
	auth := mustServer(t, server)
	ts := httptest.NewUnstartedServer(auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Del("WWW-Authenticate") // a server that does not prove itself
		io.WriteString(w, "trust me")
	})))
	ts.Config.ConnContext = httpauth.ConnContext
	ts.Start()
	defer ts.Close()
	if _, _, err := get(t, transport(t, client, ts), ts.URL, nil); !errors.Is(err, httpauth.ErrMutualAuth) {
		t.Fatalf("err = %v, want ErrMutualAuth", err)
	}
	// NTLM cannot prove the server: RequireMutual refuses it even with the final token.
	ts2, _ := newServer(t, server)
	tr := transport(t, client, ts2)
	tr.RequireMutual = true
	if _, _, err := get(t, tr, ts2.URL, nil); !errors.Is(err, httpauth.ErrMutualAuth) {
		t.Fatalf("RequireMutual over NTLM: err = %v, want ErrMutualAuth", err)
	}
}

func TestNTLMScheme(t *testing.T) {
	_, server := stack(t, false)
	nc, ns := ntlmStack(t)
	ts, _ := newServer(t, server, httpauth.WithNTLM(ns))
	req, _ := http.NewRequest("GET", ts.URL, nil)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Values("WWW-Authenticate"); len(got) != 2 || got[0] != "Negotiate" || got[1] != "NTLM" {
		t.Errorf("challenge %q", got)
	}
	c := oneConn(t, ts)
	ini, _ := nc.NewInitiator(sspi.ContextConfig{Target: "HTTP/127.0.0.1"})
	defer ini.Close()
	code, body := legs(t, c, ts.URL, "NTLM", ini)
	if code != 200 || !strings.Contains(body, `TESTDOM\alice via NTLM`) {
		t.Fatalf("%d %q", code, body)
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
			auth := mustServer(t, server, httpauth.WithTLSCertificate(c.cert, false))
			ts := httptest.NewUnstartedServer(auth.Middleware(whoami))
			ts.Config.ConnContext, ts.Config.ConnState = httpauth.ConnContext, auth.ConnState
			ts.StartTLS()
			defer ts.Close()
			if code, body, err := get(t, transport(t, client, ts), ts.URL, nil); err != nil || code != c.want {
				t.Fatalf("%d %q %v, want %d", code, body, err, c.want)
			}
		})
	}
}

func TestConcurrentClients(t *testing.T) {
	client, server := stack(t, true)
	ts, auth := newServer(t, server)
	tr := transport(t, client, ts)
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

// oneConn is a client that keeps one connection, closed at the end of the test.
func oneConn(t *testing.T, ts *httptest.Server) *http.Client {
	tr := ts.Client().Transport.(*http.Transport).Clone()
	tr.MaxConnsPerHost = 1
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// leg sends token with scheme on c and returns the response's status, token and body.
func leg(t *testing.T, c *http.Client, url, scheme string, token []byte) (int, []byte, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", scheme+" "+base64.StdEncoding.EncodeToString(token))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var in []byte
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		if b, ok := strings.CutPrefix(v, scheme+" "); ok {
			in, _ = base64.StdEncoding.DecodeString(b)
		}
	}
	return resp.StatusCode, in, string(body)
}

// legs runs a whole handshake of ini over c.
func legs(t *testing.T, c *http.Client, url, scheme string, ini sspi.Initiator) (int, string) {
	t.Helper()
	var in []byte
	for range 5 {
		out, _, err := ini.InitializeContext(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		code, tok, body := leg(t, c, url, scheme, out)
		if code != 401 || tok == nil {
			return code, body
		}
		in = tok
	}
	t.Fatal("handshake did not finish")
	return 0, ""
}

// Two handshakes on two connections, their legs interleaved, both succeed.
func TestInterleavedHandshakes(t *testing.T) {
	client, server := stack(t, true)
	ts, auth := newServer(t, server)
	c1, c2 := oneConn(t, ts), oneConn(t, ts)
	i1, _ := client.NewInitiator(sspi.ContextConfig{Target: "HTTP/127.0.0.1"})
	i2, _ := client.NewInitiator(sspi.ContextConfig{Target: "HTTP/127.0.0.1"})
	defer i1.Close()
	defer i2.Close()
	type side struct {
		c    *http.Client
		ini  sspi.Initiator
		in   []byte
		code int
		body string
	}
	sides := []*side{{c: c1, ini: i1}, {c: c2, ini: i2}}
	for round := 0; round < 5; round++ {
		for _, s := range sides {
			if s.code == 200 {
				continue
			}
			out, _, err := s.ini.InitializeContext(context.Background(), s.in)
			if err != nil {
				t.Fatal(err)
			}
			s.code, s.in, s.body = leg(t, s.c, ts.URL, "Negotiate", out)
		}
		if round == 0 && auth.Pending() != 2 {
			t.Errorf("after the first legs: %d pending, want 2", auth.Pending())
		}
	}
	for i, s := range sides {
		if s.code != 200 || !strings.Contains(s.body, "Negotiate/NegoExtender/PSK") {
			t.Errorf("handshake %d: %d %q", i, s.code, s.body)
		}
	}
}

// A client that abandons a handshake leaves nothing behind once it expires, and a
// handshake's next token replayed on another connection is refused.
func TestAbandonedAndReplayedHandshakes(t *testing.T) {
	client, server := stack(t, false)
	ts, auth := newServer(t, server, httpauth.WithPendingTimeout(100*time.Millisecond))
	c1 := oneConn(t, ts)
	ini, _ := client.NewInitiator(sspi.ContextConfig{Target: "HTTP/127.0.0.1"})
	defer ini.Close()
	tok, _, _ := ini.InitializeContext(context.Background(), nil)
	code, in, _ := leg(t, c1, ts.URL, "Negotiate", tok)
	if code != 401 || in == nil || auth.Pending() != 1 {
		t.Fatalf("first leg: %d, pending %d", code, auth.Pending())
	}
	out, _, err := ini.InitializeContext(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	// The next leg, replayed on a different connection, is refused there...
	if code, _, _ := leg(t, oneConn(t, ts), ts.URL, "Negotiate", out); code != 401 {
		t.Fatalf("a second leg on another connection: %d, want 401", code)
	}
	// ...and the abandoned one expires: a later request sweeps it.
	time.Sleep(150 * time.Millisecond)
	i2, _ := client.NewInitiator(sspi.ContextConfig{Target: "HTTP/127.0.0.1"})
	defer i2.Close()
	tok2, _, _ := i2.InitializeContext(context.Background(), nil)
	leg(t, oneConn(t, ts), ts.URL, "Negotiate", tok2)
	if n := auth.Pending(); n != 1 {
		t.Fatalf("after expiry: %d pending, want only the new one", n)
	}
	// The expired handshake's connection cannot finish it.
	if code, _, _ := leg(t, c1, ts.URL, "Negotiate", out); code != 401 {
		t.Fatalf("finishing an expired handshake: %d, want 401", code)
	}
}

// Half-done handshakes are capped: past the cap a new one gets 503.
func TestMaxPending(t *testing.T) {
	client, server := stack(t, false)
	ts, auth := newServer(t, server, httpauth.WithMaxPending(1))
	for i, want := range []int{401, 503} {
		ini, _ := client.NewInitiator(sspi.ContextConfig{Target: "HTTP/127.0.0.1"})
		tok, _, _ := ini.InitializeContext(context.Background(), nil)
		if code, _, _ := leg(t, oneConn(t, ts), ts.URL, "Negotiate", tok); code != want {
			t.Errorf("handshake %d: %d, want %d", i, code, want)
		}
		ini.Close()
	}
	if auth.Pending() != 1 {
		t.Errorf("%d pending, want 1", auth.Pending())
	}
}

// With WithPersistentAuth a connection authenticates once; the transport reuses it.
func TestPersistentAuthReusesConnection(t *testing.T) {
	client, server := stack(t, false)
	auth := mustServer(t, server, httpauth.WithPersistentAuth())
	var withHeader, conns atomic.Int32
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			withHeader.Add(1)
		}
		auth.Middleware(whoami).ServeHTTP(w, r)
	}))
	ts.Config.ConnContext = httpauth.ConnContext
	ts.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	ts.Start()
	defer ts.Close()
	tr := transport(t, client, ts)
	for i := range 5 {
		if code, body, err := get(t, tr, ts.URL, nil); err != nil || code != 200 || !strings.Contains(body, `TESTDOM\alice`) {
			t.Fatalf("request %d: %d %q %v", i, code, body, err)
		}
	}
	if withHeader.Load() != 2 || conns.Load() != 1 { // Negotiate over NTLM: two legs with a token
		t.Errorf("%d requests carried Authorization over %d connections, want 2 over 1", withHeader.Load(), conns.Load())
	}
}

func TestHostileHeaders(t *testing.T) {
	_, server := stack(t, false)
	ts, _ := newServer(t, server, httpauth.WithMaxPending(2))
	cases := map[string]struct {
		header []string
		want   int
	}{
		"no header":        {nil, 401},
		"other scheme":     {[]string{"Basic YWxpY2U6cHc="}, 401},
		"NTLM not offered": {[]string{"NTLM TlRMTVNTUAABAAAA"}, 401},
		"scheme only":      {[]string{"Negotiate"}, 400},
		"not base64":       {[]string{"Negotiate !!!"}, 400},
		"empty token":      {[]string{"Negotiate "}, 400},
		"two headers":      {[]string{"Negotiate YQ==", "Negotiate YQ=="}, 400},
		"garbage token":    {[]string{"Negotiate " + base64.StdEncoding.EncodeToString([]byte("garbage"))}, 401},
		"garbage DER":      {[]string{"Negotiate " + base64.StdEncoding.EncodeToString([]byte{0x60, 0x84, 0xff, 0xff, 0xff, 0xff, 0x06})}, 401},
		"oversized header": {[]string{"Negotiate " + strings.Repeat("A", 100<<10)}, 400},
	}
	for name, c := range cases {
		req, _ := http.NewRequest("GET", ts.URL, nil)
		for _, h := range c.header {
			req.Header.Add("Authorization", h)
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
	defer bad.Close()
	code, _, err := get(t, transport(t, bad, ts), ts.URL, nil)
	if err != nil || code != 401 {
		t.Fatalf("wrong password: %d %v, want 401", code, err)
	}
}

// testProxy is an HTTP proxy that authenticates its clients with Negotiate: it
// forwards plain requests and tunnels CONNECT. Like Squid with connection-oriented
// schemes, it keeps a client's connection authenticated.
func testProxy(t *testing.T, cred sspi.Credential) *httptest.Server {
	auth := mustServer(t, cred, httpauth.WithProxy(), httpauth.WithPersistentAuth())
	fwd := &http.Transport{}
	t.Cleanup(fwd.CloseIdleConnections)
	var wg sync.WaitGroup
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect {
			up, err := net.Dial("tcp", r.Host)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				up.Close()
				return
			}
			fmt.Fprintf(brw, "HTTP/1.1 200 Connection established\r\n")
			w.Header().Write(brw) // the final Proxy-Authenticate token
			brw.WriteString("\r\n")
			brw.Flush()
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(up, brw); up.(*net.TCPConn).CloseWrite() }()
			go func() { defer wg.Done(); io.Copy(conn, up); conn.Close() }()
			return
		}
		out := r.Clone(r.Context())
		out.RequestURI = ""
		out.Header.Del("Proxy-Authorization")
		resp, err := fwd.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})
	ts := httptest.NewUnstartedServer(auth.Middleware(h))
	ts.Config.ConnContext = httpauth.ConnContext
	ts.Start()
	t.Cleanup(func() { ts.Close(); wg.Wait() })
	return ts
}

func TestProxy(t *testing.T) {
	client, server := stack(t, false)
	proxy := testProxy(t, server)
	pu, _ := url.Parse(proxy.URL)
	for _, tlsOn := range []bool{false, true} {
		name := map[bool]string{false: "http through the proxy", true: "https through CONNECT"}[tlsOn]
		t.Run(name, func(t *testing.T) {
			auth := mustServer(t, server)
			ts := httptest.NewUnstartedServer(auth.Middleware(whoami))
			ts.Config.ConnContext = httpauth.ConnContext
			if tlsOn {
				ts.StartTLS()
			} else {
				ts.Start()
			}
			defer ts.Close()
			base := ts.Client().Transport.(*http.Transport).Clone()
			base.Proxy = http.ProxyURL(pu)
			tr := &httpauth.Transport{Credential: client, Base: base}
			defer tr.CloseIdleConnections()
			code, body, err := get(t, tr, ts.URL, []byte("through the proxy"))
			if err != nil || code != 200 || !strings.Contains(body, `TESTDOM\alice via Negotiate/NTLM (17 body bytes)`) {
				t.Fatalf("%d %q %v", code, body, err)
			}
			// Without credentials the proxy refuses.
			code, _, err = get(t, base, ts.URL, nil)
			if err == nil && code != http.StatusProxyAuthRequired {
				t.Errorf("without proxy authentication: %d %v", code, err)
			}
			base.CloseIdleConnections()
		})
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
