// Package httpauth is HTTP Negotiate (RFC 4559) for net/http: server middleware that
// authenticates clients with any gossp credential (Negotiate, NTLM, Kerberos, NegoEx
// schemes), and a client http.RoundTripper that answers 401 Negotiate challenges.
//
// Multi-leg mechanisms (NTLM, NegoEx) authenticate a connection, not a request: the
// server keeps a half-done handshake per TCP connection, so install its ConnContext and
// ConnState on the http.Server.
package httpauth

import (
	"context"
	"crypto/x509"
	"encoding/base64"
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
	Package    string            // the package that authenticated
	Path       []string          // ["Negotiate", "NTLM"]
	Flags      sspi.ContextFlags // granted
}

type identityKey struct{}

// FromContext returns the identity the middleware authenticated, if any.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// Server authenticates requests with HTTP Negotiate. Make it with NewServer; install
// Middleware around the handlers and ConnContext and ConnState on the http.Server.
type Server struct {
	cred           sspi.Credential
	schemes        []string
	maxPending     int
	pendingTimeout time.Duration
	maxHeader      int
	flags          sspi.ContextFlags
	cert           *x509.Certificate
	logger         *slog.Logger
	now            func() time.Time

	mu      sync.Mutex
	pending map[*connID]*pending
}

// connID identifies a TCP connection; its address is the key.
type connID struct{ remote string }

type connKey struct{}

type pending struct {
	acc     sspi.Acceptor
	started time.Time
	scheme  string
}

// Option configures a Server.
type Option func(*Server)

// WithNTLM also offers the NTLM scheme ("WWW-Authenticate: NTLM"), for clients that
// speak raw NTLM over HTTP.
func WithNTLM() Option {
	return func(s *Server) { s.schemes = append(s.schemes, "NTLM") }
}

// WithMaxPending caps half-done handshakes (default 1024); past it new ones get 503.
func WithMaxPending(n int) Option { return func(s *Server) { s.maxPending = n } }

// WithPendingTimeout expires half-done handshakes (default 30 s).
func WithPendingTimeout(d time.Duration) Option { return func(s *Server) { s.pendingTimeout = d } }

// WithFlags sets the context flags the server requests.
func WithFlags(f sspi.ContextFlags) Option { return func(s *Server) { s.flags = f } }

// WithTLSCertificate binds authentication to TLS connections with the server's
// certificate (tls-server-end-point, RFC 5929): clients must send matching bindings.
func WithTLSCertificate(cert *x509.Certificate) Option { return func(s *Server) { s.cert = cert } }

// WithLogger sets the logger (never given tokens); nil discards.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.logger = l } }

// maxTokenHeader bounds the Authorization header: the largest real tokens (Kerberos
// with a PAC) stay well under 48 KiB in base64.
const maxTokenHeader = 64 << 10

// NewServer returns a Server accepting with cred.
func NewServer(cred sspi.Credential, opts ...Option) *Server {
	s := &Server{cred: cred, schemes: []string{"Negotiate"}, maxPending: 1024,
		pendingTimeout: 30 * time.Second, maxHeader: maxTokenHeader, now: time.Now,
		pending: map[*connID]*pending{}}
	for _, o := range opts {
		o(s)
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	return s
}

// ConnContext is for http.Server.ConnContext: it tags each connection so handshakes
// stay on the connection that began them.
func (s *Server) ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connID{remote: c.RemoteAddr().String()})
}

// ConnState is for http.Server.ConnState: it drops a connection's half-done handshake
// when the connection closes.
func (s *Server) ConnState(c net.Conn, st http.ConnState) {
	if st != http.StateClosed && st != http.StateHijacked {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, p := range s.pending {
		if id.remote == c.RemoteAddr().String() {
			p.acc.Close()
			delete(s.pending, id)
		}
	}
}

// Pending reports how many handshakes are half done.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// expire drops handshakes older than the timeout; the caller holds s.mu.
func (s *Server) expire() {
	now := s.now()
	for id, p := range s.pending {
		if now.Sub(p.started) > s.pendingTimeout {
			p.acc.Close()
			delete(s.pending, id)
		}
	}
}

func (s *Server) challenge(w http.ResponseWriter, token []byte, scheme string) {
	if token != nil {
		w.Header().Add("WWW-Authenticate", scheme+" "+base64.StdEncoding.EncodeToString(token))
	} else {
		for _, sc := range s.schemes {
			w.Header().Add("WWW-Authenticate", sc)
		}
	}
	http.Error(w, "authentication required", http.StatusUnauthorized)
}

// Middleware authenticates every request before next sees it.
func (s *Server) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" {
			s.challenge(w, nil, "")
			return
		}
		if len(h) > s.maxHeader {
			http.Error(w, "authorization header too large", http.StatusRequestHeaderFieldsTooLarge)
			return
		}
		scheme, b64, _ := strings.Cut(h, " ")
		if !s.offers(scheme) {
			s.challenge(w, nil, "")
			return
		}
		token, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil || len(token) == 0 {
			http.Error(w, "malformed authorization header", http.StatusBadRequest)
			return
		}
		id, _ := r.Context().Value(connKey{}).(*connID)
		acc, err := s.acceptor(id, scheme)
		if err != nil {
			w.Header().Set("Retry-After", "1")
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		out, st, err := acc.AcceptContext(r.Context(), token)
		if err != nil {
			s.forget(id, acc)
			acc.Close()
			s.logger.InfoContext(r.Context(), "http negotiate: authentication failed", "remote", r.RemoteAddr, "status", sspi.StatusOf(err).Name())
			s.challenge(w, nil, "")
			return
		}
		if st == sspi.StatusContinueNeeded {
			if id == nil {
				// Without ConnContext a multi-leg handshake cannot continue.
				acc.Close()
				s.logger.WarnContext(r.Context(), "http negotiate: multi-leg handshake without httpauth ConnContext installed")
				http.Error(w, "server not configured for multi-leg authentication", http.StatusInternalServerError)
				return
			}
			s.challenge(w, out, scheme)
			return
		}
		s.forget(id, acc)
		a := acc.Attributes()
		acc.Close()
		if len(out) > 0 {
			w.Header().Set("WWW-Authenticate", scheme+" "+base64.StdEncoding.EncodeToString(out))
		}
		ident := Identity{ClientName: a.ClientName, Authority: a.Authority, Package: a.Package.Name, Path: a.Path, Flags: a.Flags}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, ident)))
	})
}

func (s *Server) offers(scheme string) bool {
	for _, sc := range s.schemes {
		if strings.EqualFold(sc, scheme) {
			return true
		}
	}
	return false
}

// acceptor returns the connection's half-done handshake or starts one.
func (s *Server) acceptor(id *connID, scheme string) (sspi.Acceptor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire()
	if id != nil {
		if p, ok := s.pending[id]; ok && strings.EqualFold(p.scheme, scheme) {
			return p.acc, nil
		}
		if len(s.pending) >= s.maxPending {
			return nil, sspi.Errorf(sspi.ErrInsufficientMemory, "too many authentications in progress")
		}
	}
	cfg := sspi.ContextConfig{Flags: s.flags}
	if s.cert != nil {
		cb, err := sspi.TLSServerEndPoint(s.cert)
		if err != nil {
			return nil, err
		}
		cfg.ChannelBindings = cb
	}
	acc, err := s.cred.NewAcceptor(cfg)
	if err != nil {
		return nil, err
	}
	if id != nil {
		s.pending[id] = &pending{acc: acc, started: s.now(), scheme: scheme}
	}
	return acc, nil
}

func (s *Server) forget(id *connID, acc sspi.Acceptor) {
	if id == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.pending[id]; ok && p.acc == acc {
		delete(s.pending, id)
	}
}
