package httpauth

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gossp/gossp/sspi"
)

// Transport is an http.RoundTripper that answers "401 WWW-Authenticate: Negotiate"
// and a proxy's "407 Proxy-Authenticate: Negotiate" (for plain requests through it
// and for the CONNECT of https ones) with a handshake of Credential's package.
//
// NTLM and NegoEx authenticate the connection, so every request runs on a connection
// of its own for as long as it lasts: Base is cloned into single-connection
// transports, each used by one request at a time and kept for reuse afterwards (a
// server that keeps connections authenticated then answers later requests at once).
type Transport struct {
	// Base makes the requests; nil means http.DefaultTransport. An *http.Transport is
	// cloned into single-connection transports; any other RoundTripper is used as it
	// is and must itself keep a handshake's legs on one connection.
	Base http.RoundTripper
	// Credential is an outbound credential, of Negotiate usually.
	Credential sspi.Credential
	// ProxyCredential answers proxies; nil means Credential.
	ProxyCredential sspi.Credential
	// Target names the service for a URL (the server's, or the proxy's); nil means
	// "HTTP/" + the host name.
	Target func(*url.URL) string
	// Flags are requested; zero means MutualAuth. With MutualAuth a server's success
	// must complete the context (carry its final token), or RoundTrip fails with
	// ErrMutualAuth.
	Flags sspi.ContextFlags
	// RequireMutual also fails unless the package granted MutualAuth (NTLM never
	// does: it cannot prove the server).
	RequireMutual bool
	// MaxIdleConnsPerHost is how many authenticated connections are kept per host
	// for reuse; zero means 2, negative none.
	MaxIdleConnsPerHost int

	mu   sync.Mutex
	idle map[string][]*http.Transport
}

// ErrMutualAuth is wrapped by errors from a server that did not prove itself.
var ErrMutualAuth = errors.New("httpauth: the server did not complete mutual authentication")

// maxLegs bounds a handshake; real ones take two or three.
const maxLegs = 10

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt, release, err := t.pin(req)
	if err != nil {
		return nil, err
	}
	resp, err := t.roundTrip(req, rt)
	if err != nil {
		release(false)
		return nil, err
	}
	resp.Body = &releaser{ReadCloser: resp.Body, release: release}
	return resp, nil
}

func (t *Transport) roundTrip(req *http.Request, rt http.RoundTripper) (*http.Response, error) {
	resp, err := rt.RoundTrip(req)
	for range 2 { // the proxy's authentication, then the server's
		if err != nil {
			return nil, err
		}
		switch {
		case resp.StatusCode == http.StatusProxyAuthRequired && offersNegotiate(resp.Header, "Proxy-Authenticate"):
			proxy, perr := t.proxyURL(req)
			if perr != nil || proxy == nil {
				return resp, nil
			}
			resp, err = t.handshake(req, rt, resp, true, t.target(proxy))
		case resp.StatusCode == http.StatusUnauthorized && offersNegotiate(resp.Header, "WWW-Authenticate"):
			resp, err = t.handshake(req, rt, resp, false, t.target(req.URL))
			if err == nil && resp.StatusCode == http.StatusProxyAuthRequired {
				continue
			}
			return resp, err
		default:
			return resp, nil
		}
	}
	return resp, err
}

// handshake answers a challenge (401, or 407 when proxy) by resending req with
// tokens until the peer stops challenging.
func (t *Transport) handshake(req *http.Request, rt http.RoundTripper, resp *http.Response, proxy bool, target string) (*http.Response, error) {
	authz, authn, status := "Authorization", "WWW-Authenticate", http.StatusUnauthorized
	cred := t.Credential
	if proxy {
		authz, authn, status = "Proxy-Authorization", "Proxy-Authenticate", http.StatusProxyAuthRequired
		if t.ProxyCredential != nil {
			cred = t.ProxyCredential
		}
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return resp, nil // the body is spent: the caller sees the challenge
	}
	cfg := sspi.ContextConfig{Target: target, Flags: t.flags()}
	if !proxy && resp.TLS != nil {
		if cb, err := sspi.TLSServerEndPointFromState(*resp.TLS); err == nil {
			cfg.ChannelBindings = cb
		}
	}
	drain(resp)
	ini, err := cred.NewInitiator(cfg)
	if err != nil {
		return nil, fmt.Errorf("httpauth: %w", err)
	}
	defer ini.Close()
	out, st, err := ini.InitializeContext(req.Context(), nil)
	if err != nil {
		return nil, fmt.Errorf("httpauth: %w", err)
	}
	for range maxLegs {
		r2, err := withToken(req, authz, out)
		if err != nil {
			return nil, err
		}
		resp, err := rt.RoundTrip(r2)
		if err != nil {
			return nil, err
		}
		tok := peerToken(resp.Header, authn)
		if resp.StatusCode == status {
			if tok == nil || st != sspi.StatusContinueNeeded {
				return resp, nil // refused: the caller sees the challenge
			}
			next, nst, err := ini.InitializeContext(req.Context(), tok)
			if err != nil {
				// A refusal with a last token (SPNEGO's reject, as MIT's acceptor in
				// Apache sends it): the caller sees the refusal, not our reading of it.
				return resp, nil
			}
			drain(resp)
			out, st = next, nst
			continue
		}
		if !proxy && resp.StatusCode == http.StatusProxyAuthRequired {
			return resp, nil // the proxy wants this request authenticated too
		}
		if err := t.verify(req.Context(), ini, st, tok); err != nil {
			drain(resp)
			return nil, err
		}
		return resp, nil
	}
	return nil, errors.New("httpauth: the handshake did not finish")
}

// verify checks the end of a handshake the peer answered with a success.
func (t *Transport) verify(ctx context.Context, ini sspi.Initiator, st sspi.Status, tok []byte) error {
	if st == sspi.StatusContinueNeeded && tok != nil {
		// The final token (mutual authentication) rides on the success.
		if _, st2, err := ini.InitializeContext(ctx, tok); err != nil {
			return fmt.Errorf("%w: %v", ErrMutualAuth, err)
		} else if st2 != sspi.StatusOK {
			return fmt.Errorf("%w: the final token did not complete the context", ErrMutualAuth)
		}
	}
	a := ini.Attributes()
	if t.flags()&sspi.FlagMutualAuth != 0 && !a.Established {
		return fmt.Errorf("%w: no final token", ErrMutualAuth)
	}
	if t.RequireMutual && a.Flags&sspi.FlagMutualAuth == 0 {
		return fmt.Errorf("%w: %s does not authenticate the server", ErrMutualAuth, a.Package.Name)
	}
	return nil
}

func (t *Transport) flags() sspi.ContextFlags {
	if t.Flags == 0 {
		return sspi.FlagMutualAuth
	}
	return t.Flags
}

func (t *Transport) target(u *url.URL) string {
	if t.Target != nil {
		return t.Target(u)
	}
	return "HTTP/" + u.Hostname()
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

func (t *Transport) proxyURL(req *http.Request) (*url.URL, error) {
	if b, ok := t.base().(*http.Transport); ok && b.Proxy != nil {
		return b.Proxy(req)
	}
	return nil, nil
}

// pin returns the RoundTripper req runs on and a function giving it back: a
// single-connection clone of Base, from the idle pool or new.
func (t *Transport) pin(req *http.Request) (http.RoundTripper, func(reuse bool), error) {
	b, ok := t.base().(*http.Transport)
	if !ok {
		return t.base(), func(bool) {}, nil
	}
	proxy, err := t.proxyURL(req)
	if err != nil {
		return nil, nil, err
	}
	key := req.URL.Scheme + "://" + req.URL.Host
	if proxy != nil {
		key += " via " + proxy.String()
	}
	t.mu.Lock()
	var c *http.Transport
	if l := t.idle[key]; len(l) > 0 {
		c, t.idle[key] = l[len(l)-1], l[:len(l)-1]
	}
	t.mu.Unlock()
	if c == nil {
		c = b.Clone()
		c.MaxConnsPerHost, c.MaxIdleConnsPerHost, c.MaxIdleConns = 1, 1, 1
		c.ForceAttemptHTTP2 = false // one request per connection at a time
		c.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		if proxy != nil && req.URL.Scheme == "https" {
			// Go's own CONNECT cannot answer a multi-leg 407: tunnel ourselves.
			c.Proxy = nil
			c.OnProxyConnectResponse = nil
			c.DialContext = t.tunnelDialer(b, proxy)
		}
	}
	var once sync.Once
	return c, func(reuse bool) {
		once.Do(func() { t.release(key, c, reuse) })
	}, nil
}

func (t *Transport) release(key string, c *http.Transport, reuse bool) {
	max := t.MaxIdleConnsPerHost
	if max == 0 {
		max = 2
	}
	t.mu.Lock()
	if reuse && len(t.idle[key]) < max {
		if t.idle == nil {
			t.idle = map[string][]*http.Transport{}
		}
		t.idle[key] = append(t.idle[key], c)
		c = nil
	}
	t.mu.Unlock()
	if c != nil {
		c.CloseIdleConnections()
	}
}

// CloseIdleConnections closes the kept connections (http.Client.CloseIdleConnections
// calls it).
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, l := range idle {
		for _, c := range l {
			c.CloseIdleConnections()
		}
	}
	if c, ok := t.base().(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// tunnelDialer dials proxy and opens a CONNECT tunnel to the address asked for,
// answering 407 Negotiate challenges on that connection.
func (t *Transport) tunnelDialer(b *http.Transport, proxy *url.URL) func(context.Context, string, string) (net.Conn, error) {
	dial := b.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		paddr := proxy.Host
		if proxy.Port() == "" {
			paddr = net.JoinHostPort(proxy.Hostname(), "80")
		}
		conn, err := dial(ctx, network, paddr)
		if err != nil {
			return nil, err
		}
		if err := t.connect(ctx, conn, proxy, addr); err != nil {
			conn.Close()
			return nil, err
		}
		return conn, nil
	}
}

func (t *Transport) connect(ctx context.Context, conn net.Conn, proxy *url.URL, addr string) error {
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
		defer conn.SetDeadline(time.Time{})
	}
	br := bufio.NewReader(conn)
	send := func(h http.Header) (*http.Response, error) {
		req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: addr}, Host: addr, Header: h}
		if err := req.Write(conn); err != nil {
			return nil, err
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK { // a 200's "body" is the tunnel
			drain(resp)
		}
		return resp, nil
	}
	resp, err := send(http.Header{})
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusProxyAuthRequired && offersNegotiate(resp.Header, "Proxy-Authenticate") {
		cred := t.Credential
		if t.ProxyCredential != nil {
			cred = t.ProxyCredential
		}
		ini, err := cred.NewInitiator(sspi.ContextConfig{Target: t.target(proxy), Flags: t.flags()})
		if err != nil {
			return fmt.Errorf("httpauth: %w", err)
		}
		defer ini.Close()
		var in []byte
		for range maxLegs {
			out, st, err := ini.InitializeContext(ctx, in)
			if err != nil {
				return fmt.Errorf("httpauth: proxy: %w", err)
			}
			resp, err = send(http.Header{"Proxy-Authorization": {"Negotiate " + base64.StdEncoding.EncodeToString(out)}})
			if err != nil {
				return err
			}
			tok := peerToken(resp.Header, "Proxy-Authenticate")
			if resp.StatusCode == http.StatusProxyAuthRequired && tok != nil && st == sspi.StatusContinueNeeded {
				in = tok
				continue
			}
			if resp.StatusCode == http.StatusOK {
				if err := t.verify(ctx, ini, st, tok); err != nil {
					return fmt.Errorf("proxy: %w", err)
				}
			}
			break
		}
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("httpauth: proxy CONNECT %s: %s", addr, resp.Status)
	}
	if br.Buffered() > 0 {
		return errors.New("httpauth: proxy sent data before the tunnel was used")
	}
	return nil
}

// withToken clones req with its body rewound and the token in the header.
func withToken(req *http.Request, header string, token []byte) (*http.Request, error) {
	r := req.Clone(req.Context())
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r.Body = body
	}
	r.Header.Set(header, "Negotiate "+base64.StdEncoding.EncodeToString(token))
	return r, nil
}

func offersNegotiate(h http.Header, name string) bool {
	for _, v := range h.Values(name) {
		for _, c := range strings.Split(v, ",") { // "Negotiate, NTLM" in one header
			if s, _, _ := strings.Cut(strings.TrimSpace(c), " "); strings.EqualFold(s, "Negotiate") {
				return true
			}
		}
	}
	return false
}

// peerToken is the token in "Negotiate <b64>", nil without one.
func peerToken(h http.Header, name string) []byte {
	for _, v := range h.Values(name) {
		s, b64, ok := strings.Cut(strings.TrimSpace(v), " ")
		if !ok || !strings.EqualFold(s, "Negotiate") {
			continue
		}
		if tok, err := decodeToken(b64); err == nil {
			return tok
		}
	}
	return nil
}

// drain reads a little of a body we do not use, so its connection can be reused.
func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// releaser gives the request's connection back when the caller closes the body.
type releaser struct {
	io.ReadCloser
	release func(reuse bool)
}

func (r *releaser) Close() error {
	err := r.ReadCloser.Close()
	r.release(true)
	return err
}
