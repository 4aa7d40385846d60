// Package httpauth is HTTP Negotiate (RFC 4559) for net/http: server middleware that
// authenticates clients with any gossp credential (Negotiate, NTLM, Kerberos, NegoEx
// schemes), and a client http.RoundTripper that answers 401 (and proxies' 407)
// Negotiate challenges.
//
// Multi-leg mechanisms (NTLM, NegoEx) authenticate a connection, not a request: the
// server keeps a half-done handshake per TCP connection, so install ConnContext (and,
// to free a closed connection's handshake at once, Server.ConnState) on the http.Server.
package httpauth

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gossp/gossp/sspi"
)

// Identity is who authenticated a request.
type Identity struct {
	ClientName string            // "DOMAIN\user", "user@REALM", ...
	Authority  string            // domain or realm
	Package    string            // the package that authenticated ("NTLM", "PSK", ...)
	Path       []string          // ["Negotiate", "NTLM"]
	Flags      sspi.ContextFlags // granted
	Scheme     string            // the HTTP scheme: "Negotiate" or "NTLM"
}

type identityKey struct{}

// FromContext returns the identity the middleware authenticated, if any.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// connKey carries a *connData in a connection's base context.
type connKey struct{}

// connData is what the middleware remembers about one TCP connection. It lives in the
// connection's context, so it goes away with the connection.
type connData struct {
	conn net.Conn
	mu   sync.Mutex
	ids  map[*Server]Identity // connections authenticated with WithPersistentAuth
}

// ConnContext is for http.Server.ConnContext. It tags each connection so multi-leg
// handshakes stay on the connection that began them; without it only single-leg
// mechanisms (Kerberos) work. One ConnContext serves every Server on the http.Server.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connData{conn: c})
}

// Server authenticates requests with HTTP Negotiate. Make it with NewServer; wrap the
// handlers with Middleware and install ConnContext (and ConnState) on the http.Server.
type Server struct {
	cred           sspi.Credential
	ntlm           sspi.Credential // for "Authorization: NTLM"; nil if not offered
	maxPending     int
	pendingTimeout time.Duration
	maxHeader      int
	flags          sspi.ContextFlags
	cert           *x509.Certificate
	allowMissingCB bool
	persist        bool
	proxy          bool
	logger         *slog.Logger
	now            func() time.Time

	bindings *sspi.ChannelBindings

	mu        sync.Mutex
	pending   map[net.Conn]*pending // idle half-done handshakes
	lastSweep time.Time
}

type pending struct {
	acc    sspi.Acceptor
	last   time.Time // when its last leg was answered
	scheme string
}

// Option configures a Server.
type Option func(*Server)

// WithNTLM also offers the NTLM scheme ("WWW-Authenticate: NTLM"), for clients that
// send raw NTLM over HTTP; cred is an inbound credential of the NTLM package.
func WithNTLM(cred sspi.Credential) Option { return func(s *Server) { s.ntlm = cred } }

// WithMaxPending caps half-done handshakes (default 1024); past it a new handshake gets
// 503 with Retry-After.
func WithMaxPending(n int) Option { return func(s *Server) { s.maxPending = n } }

// WithPendingTimeout expires half-done handshakes idle for d (default 30 s).
func WithPendingTimeout(d time.Duration) Option { return func(s *Server) { s.pendingTimeout = d } }

// WithMaxHeader bounds the Authorization header (default 64 KiB); longer ones get 400.
func WithMaxHeader(n int) Option { return func(s *Server) { s.maxHeader = n } }

// WithFlags sets the context flags the server requests.
func WithFlags(f sspi.ContextFlags) Option { return func(s *Server) { s.flags = f } }

// WithTLSCertificate binds authentication to TLS with the server's certificate
// (tls-server-end-point, RFC 5929): clients must send bindings to it. allowMissing
// also accepts clients that send none (but never ones that send others).
func WithTLSCertificate(cert *x509.Certificate, allowMissing bool) Option {
	return func(s *Server) { s.cert, s.allowMissingCB = cert, allowMissing }
}

// WithPersistentAuth keeps a connection authenticated after a handshake, as IIS does:
// later requests on it without an Authorization header carry the same identity. Do not
// use it behind a proxy that shares one backend connection among several clients.
func WithPersistentAuth() Option { return func(s *Server) { s.persist = true } }

// WithProxy makes the Server authenticate as an HTTP proxy: Proxy-Authorization in,
// 407 and Proxy-Authenticate out.
func WithProxy() Option { return func(s *Server) { s.proxy = true } }

// WithLogger sets the logger, which is never given tokens; nil discards.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.logger = l } }

// DefaultMaxHeader bounds the Authorization header: the largest real tokens (Kerberos
// with a big PAC) stay well under 48 KiB in base64.
const DefaultMaxHeader = 64 << 10

// NewServer returns a Server accepting with cred, an inbound credential (of Negotiate
// usually).
func NewServer(cred sspi.Credential, opts ...Option) (*Server, error) {
	s := &Server{cred: cred, maxPending: 1024, pendingTimeout: 30 * time.Second,
		maxHeader: DefaultMaxHeader, now: time.Now, pending: map[net.Conn]*pending{}}
	for _, o := range opts {
		o(s)
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.cert != nil {
		cb, err := sspi.TLSServerEndPoint(s.cert)
		if err != nil {
			return nil, err
		}
		s.bindings = cb
	}
	if s.maxPending <= 0 || s.pendingTimeout <= 0 || s.maxHeader <= 0 {
		return nil, errors.New("httpauth: limits must be positive")
	}
	return s, nil
}

// Middleware returns middleware authenticating with NewServer(cred, opts...). Use
// NewServer instead to install Server.ConnState or watch Server.Pending.
func Middleware(cred sspi.Credential, opts ...Option) (func(http.Handler) http.Handler, error) {
	s, err := NewServer(cred, opts...)
	if err != nil {
		return nil, err
	}
	return s.Middleware, nil
}

// ConnState is for http.Server.ConnState: it drops a connection's half-done handshake
// as soon as the connection closes (expiry would, later).
func (s *Server) ConnState(c net.Conn, st http.ConnState) {
	if st != http.StateClosed && st != http.StateHijacked {
		return
	}
	s.mu.Lock()
	p := s.pending[c]
	delete(s.pending, c)
	s.mu.Unlock()
	if p != nil {
		p.acc.Close()
	}
}

// Pending reports how many handshakes are half done.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// Close drops every half-done handshake.
func (s *Server) Close() {
	s.mu.Lock()
	ps := s.pending
	s.pending = map[net.Conn]*pending{}
	s.mu.Unlock()
	for _, p := range ps {
		p.acc.Close()
	}
}

func (s *Server) headers() (authz, authn string, status int) {
	if s.proxy {
		return "Proxy-Authorization", "Proxy-Authenticate", http.StatusProxyAuthRequired
	}
	return "Authorization", "WWW-Authenticate", http.StatusUnauthorized
}

// challenge answers 401 (407): with a continuation token, or offering every scheme.
func (s *Server) challenge(w http.ResponseWriter, token []byte, scheme string) {
	_, authn, status := s.headers()
	if token != nil {
		w.Header().Set(authn, scheme+" "+base64.StdEncoding.EncodeToString(token))
	} else {
		w.Header().Del(authn)
		w.Header().Add(authn, "Negotiate")
		if s.ntlm != nil {
			w.Header().Add(authn, "NTLM")
		}
	}
	http.Error(w, http.StatusText(status), status)
}

// Middleware authenticates every request before next sees it.
func (s *Server) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authz, authn, _ := s.headers()
		cd, _ := r.Context().Value(connKey{}).(*connData)
		vals := r.Header.Values(authz)
		if len(vals) == 0 {
			if id, ok := cd.identity(s); ok {
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
				return
			}
			s.challenge(w, nil, "")
			return
		}
		if len(vals) > 1 {
			http.Error(w, "more than one "+authz+" header", http.StatusBadRequest)
			return
		}
		h := vals[0]
		if len(h) > s.maxHeader {
			http.Error(w, authz+" header too large", http.StatusBadRequest)
			return
		}
		scheme, b64, _ := strings.Cut(strings.TrimSpace(h), " ")
		cred := s.credFor(scheme)
		if cred == nil {
			s.challenge(w, nil, "")
			return
		}
		token, err := decodeToken(b64)
		if err != nil {
			http.Error(w, "malformed "+authz+" header", http.StatusBadRequest)
			return
		}
		cd.forget(s) // a new Authorization starts over, whatever the connection had
		var conn net.Conn
		if cd != nil {
			conn = cd.conn
		}
		acc, err := s.acceptor(conn, cred, scheme)
		if err != nil {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "too many authentications in progress", http.StatusServiceUnavailable)
			return
		}
		out, st, err := acc.AcceptContext(r.Context(), token)
		if err != nil {
			acc.Close()
			s.logger.InfoContext(r.Context(), "http negotiate: authentication failed",
				"remote", r.RemoteAddr, "scheme", scheme, "status", sspi.StatusOf(err).Name())
			s.challenge(w, nil, "")
			return
		}
		if st == sspi.StatusContinueNeeded {
			if conn == nil {
				acc.Close()
				s.logger.WarnContext(r.Context(), "http negotiate: multi-leg handshake but httpauth.ConnContext is not installed")
				http.Error(w, "server not configured for multi-leg authentication", http.StatusInternalServerError)
				return
			}
			if !s.park(conn, acc, scheme) {
				w.Header().Set("Retry-After", "1")
				http.Error(w, "too many authentications in progress", http.StatusServiceUnavailable)
				return
			}
			s.challenge(w, out, scheme)
			return
		}
		a := acc.Attributes()
		acc.Close()
		if len(out) > 0 {
			w.Header().Set(authn, scheme+" "+base64.StdEncoding.EncodeToString(out))
		}
		id := Identity{ClientName: a.ClientName, Authority: a.Authority, Package: a.Package.Name,
			Path: a.Path, Flags: a.Flags, Scheme: scheme}
		if s.persist {
			cd.remember(s, id)
		}
		s.logger.DebugContext(r.Context(), "http negotiate: authenticated", "remote", r.RemoteAddr,
			"client", id.ClientName, "package", id.Package)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	})
}

// decodeToken reads the base64 of a header; padding is optional, empty is an error.
func decodeToken(b64 string) ([]byte, error) {
	b64 = strings.TrimSpace(b64)
	tok, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		tok, err = base64.RawStdEncoding.DecodeString(b64)
	}
	if err == nil && len(tok) == 0 {
		err = errors.New("empty token")
	}
	return tok, err
}

func (s *Server) credFor(scheme string) sspi.Credential {
	switch {
	case strings.EqualFold(scheme, "Negotiate"):
		return s.cred
	case strings.EqualFold(scheme, "NTLM") && s.ntlm != nil:
		return s.ntlm
	}
	return nil
}

// acceptor takes the connection's half-done handshake out of the table (so two
// requests multiplexed on one HTTP/2 connection never share one), or starts one.
func (s *Server) acceptor(conn net.Conn, cred sspi.Credential, scheme string) (sspi.Acceptor, error) {
	s.mu.Lock()
	s.sweep()
	var stale *pending
	if conn != nil {
		if p, ok := s.pending[conn]; ok {
			delete(s.pending, conn)
			if strings.EqualFold(p.scheme, scheme) {
				s.mu.Unlock()
				return p.acc, nil
			}
			stale = p
		}
		if len(s.pending) >= s.maxPending {
			s.mu.Unlock()
			if stale != nil {
				stale.acc.Close()
			}
			return nil, sspi.Errorf(sspi.ErrInsufficientMemory, "too many authentications in progress")
		}
	}
	s.mu.Unlock()
	if stale != nil {
		stale.acc.Close()
	}
	return cred.NewAcceptor(sspi.ContextConfig{Flags: s.flags, ChannelBindings: s.bindings,
		AllowMissingBindings: s.allowMissingCB})
}

// park keeps a half-done handshake for the connection's next leg; false (and the
// acceptor closed) if the table is full.
func (s *Server) park(conn net.Conn, acc sspi.Acceptor, scheme string) bool {
	s.mu.Lock()
	old := s.pending[conn]
	full := old == nil && len(s.pending) >= s.maxPending
	if !full {
		s.pending[conn] = &pending{acc: acc, last: s.now(), scheme: scheme}
	}
	s.mu.Unlock()
	if old != nil {
		old.acc.Close()
	}
	if full {
		acc.Close()
	}
	return !full
}

// sweep drops handshakes idle past the timeout, at most a few times per timeout; the
// caller holds s.mu.
func (s *Server) sweep() {
	now := s.now()
	if now.Sub(s.lastSweep) < s.pendingTimeout/4 && len(s.pending) < s.maxPending {
		return
	}
	s.lastSweep = now
	for c, p := range s.pending {
		if now.Sub(p.last) > s.pendingTimeout {
			p.acc.Close() // cheap: no I/O for in-process packages
			delete(s.pending, c)
		}
	}
}

func (cd *connData) identity(s *Server) (Identity, bool) {
	if cd == nil || !s.persist {
		return Identity{}, false
	}
	cd.mu.Lock()
	defer cd.mu.Unlock()
	id, ok := cd.ids[s]
	return id, ok
}

func (cd *connData) remember(s *Server, id Identity) {
	if cd == nil {
		return
	}
	cd.mu.Lock()
	defer cd.mu.Unlock()
	if cd.ids == nil {
		cd.ids = map[*Server]Identity{}
	}
	cd.ids[s] = id
}

func (cd *connData) forget(s *Server) {
	if cd == nil {
		return
	}
	cd.mu.Lock()
	defer cd.mu.Unlock()
	delete(cd.ids, s)
}
