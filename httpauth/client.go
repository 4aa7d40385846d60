package httpauth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/gossp/gossp/sspi"
)

// Transport is an http.RoundTripper that answers "401 WWW-Authenticate: Negotiate"
// with a handshake of Credential's package. Each handshake runs on one connection of
// its own (NTLM and NegoEx authenticate the connection), then the response is the
// server's answer to the authenticated request.
type Transport struct {
	// Base makes the requests; it must be an *http.Transport (cloned for each
	// handshake's connection), or nil for http.DefaultTransport.
	Base *http.Transport
	// Credential is an outbound credential, of Negotiate usually.
	Credential sspi.Credential
	// Flags are requested; zero means MutualAuth.
	Flags sspi.ContextFlags
	// SPN names the service for a URL; nil means "HTTP/" + the host name.
	SPN func(*url.URL) string
	// RequireMutual fails a response whose final token does not complete the context.
	RequireMutual bool
}

// ErrMutualAuth is wrapped by errors from a server that did not prove itself.
var ErrMutualAuth = errors.New("httpauth: the server did not complete mutual authentication")

func (t *Transport) base() *http.Transport {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport.(*http.Transport)
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	// The handshake's connection: one, kept for every leg.
	conn := t.base().Clone()
	conn.MaxConnsPerHost = 1
	conn.MaxIdleConnsPerHost = 1
	first, err := conn.RoundTrip(req)
	if err != nil || first.StatusCode != http.StatusUnauthorized || !offersNegotiate(first.Header) {
		return closeAfter(first, conn), err
	}
	if req.Body != nil && req.GetBody == nil {
		return closeAfter(first, conn), nil // the body is gone: the caller sees the 401
	}
	io.Copy(io.Discard, io.LimitReader(first.Body, 1<<20))
	first.Body.Close()

	cfg := sspi.ContextConfig{Target: t.spn(req.URL), Flags: t.Flags}
	if cfg.Flags == 0 {
		cfg.Flags = sspi.FlagMutualAuth
	}
	if first.TLS != nil {
		if cb, err := sspi.TLSServerEndPointFromState(*first.TLS); err == nil {
			cfg.ChannelBindings = cb
		}
	}
	ini, err := t.Credential.NewInitiator(cfg)
	if err != nil {
		conn.CloseIdleConnections()
		return nil, err
	}
	defer ini.Close()
	var in []byte
	for range 10 {
		out, st, err := ini.InitializeContext(req.Context(), in)
		if err != nil {
			conn.CloseIdleConnections()
			return nil, fmt.Errorf("httpauth: %w", err)
		}
		r2, err := authorized(req, out)
		if err != nil {
			conn.CloseIdleConnections()
			return nil, err
		}
		resp, err := conn.RoundTrip(r2)
		if err != nil {
			conn.CloseIdleConnections()
			return nil, err
		}
		tok := serverToken(resp.Header)
		if resp.StatusCode == http.StatusUnauthorized && tok != nil && st == sspi.StatusContinueNeeded {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			in = tok
			continue
		}
		if resp.StatusCode != http.StatusUnauthorized && st == sspi.StatusContinueNeeded && tok != nil {
			// The final token (mutual authentication) rides on the success.
			if _, _, err := ini.InitializeContext(req.Context(), tok); err != nil {
				resp.Body.Close()
				conn.CloseIdleConnections()
				return nil, fmt.Errorf("%w: %v", ErrMutualAuth, err)
			}
		}
		if resp.StatusCode != http.StatusUnauthorized && t.RequireMutual &&
			(!ini.Attributes().Established || ini.Attributes().Flags&sspi.FlagMutualAuth == 0) {
			resp.Body.Close()
			conn.CloseIdleConnections()
			return nil, ErrMutualAuth
		}
		return closeAfter(resp, conn), nil
	}
	conn.CloseIdleConnections()
	return nil, errors.New("httpauth: the handshake did not finish")
}

func (t *Transport) spn(u *url.URL) string {
	if t.SPN != nil {
		return t.SPN(u)
	}
	return "HTTP/" + u.Hostname()
}

// authorized clones req with its body rewound and the token in Authorization.
func authorized(req *http.Request, token []byte) (*http.Request, error) {
	r := req.Clone(req.Context())
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r.Body = body
	}
	r.Header.Set("Authorization", "Negotiate "+base64.StdEncoding.EncodeToString(token))
	return r, nil
}

func offersNegotiate(h http.Header) bool {
	for _, v := range h.Values("WWW-Authenticate") {
		if s, _, _ := strings.Cut(v, " "); strings.EqualFold(s, "Negotiate") {
			return true
		}
	}
	return false
}

// serverToken is the token in "WWW-Authenticate: Negotiate <b64>", nil without one.
func serverToken(h http.Header) []byte {
	for _, v := range h.Values("WWW-Authenticate") {
		s, b64, ok := strings.Cut(v, " ")
		if !ok || !strings.EqualFold(s, "Negotiate") {
			continue
		}
		if tok, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64)); err == nil && len(tok) > 0 {
			return tok
		}
	}
	return nil
}

// closeAfter makes closing the response body also close the handshake's connection.
func closeAfter(resp *http.Response, conn *http.Transport) *http.Response {
	if resp == nil {
		conn.CloseIdleConnections()
		return nil
	}
	resp.Body = &closer{ReadCloser: resp.Body, conn: conn}
	return resp
}

type closer struct {
	io.ReadCloser
	conn *http.Transport
}

func (c *closer) Close() error {
	err := c.ReadCloser.Close()
	c.conn.CloseIdleConnections()
	return err
}
