package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"path"
	"slices"
	"sync"
	"testing"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/gossp/gossp/negoex"
	"github.com/gossp/gossp/packages/psk"
	pluginv1 "github.com/gossp/gossp/proto/gossp/plugin/v1"
	"github.com/gossp/gossp/sspi"
)

// recScheme is PSK that records what the bridge asks of it, optionally with NegoEx
// meta-data.
type recScheme struct {
	*psk.Package
	meta   bool
	refuse bool // acceptors cannot be made

	mu    sync.Mutex
	calls []string
}

func (s *recScheme) record(format string, a ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, fmt.Sprintf(format, a...))
}

func (s *recScheme) recorded() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func (s *recScheme) DecodeMaterial(use sspi.CredentialUse, data []byte) (any, error) {
	var m struct {
		Identity string            `json:"identity"`
		Key      []byte            `json:"key"`
		Keys     map[string][]byte `json:"keys"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	if use == sspi.CredentialsOutbound {
		return psk.ClientKey{Identity: m.Identity, Key: m.Key}, nil
	}
	return psk.Keys(m.Keys), nil
}

func (s *recScheme) AcquireCredentials(ctx context.Context, req sspi.CredentialRequest) (sspi.Credential, error) {
	c, err := s.Package.AcquireCredentials(ctx, req)
	if err != nil {
		return nil, err
	}
	return &recCred{Credential: c, s: s}, nil
}

type recCred struct {
	sspi.Credential
	s *recScheme
}

func (c *recCred) NewInitiator(cfg sspi.ContextConfig) (sspi.Initiator, error) {
	c.s.record("NewInitiator %s", cfg.Target)
	i, err := c.Credential.NewInitiator(cfg)
	if err != nil {
		return nil, err
	}
	x := &recIni{Initiator: i, s: c.s}
	if c.s.meta {
		return &recIniMeta{x}, nil
	}
	return x, nil
}

func (c *recCred) NewAcceptor(cfg sspi.ContextConfig) (sspi.Acceptor, error) {
	c.s.record("NewAcceptor")
	if c.s.refuse {
		return nil, sspi.Errorf(sspi.ErrNoCredentials, "no acceptors today")
	}
	a, err := c.Credential.NewAcceptor(cfg)
	if err != nil {
		return nil, err
	}
	x := &recAcc{Acceptor: a, s: c.s}
	if c.s.meta {
		return &recAccMeta{x}, nil
	}
	return x, nil
}

type recIni struct {
	sspi.Initiator
	s *recScheme
}

func (x *recIni) InitializeContext(ctx context.Context, in []byte) ([]byte, sspi.Status, error) {
	x.s.record("InitializeContext %d", len(in))
	return x.Initiator.InitializeContext(ctx, in)
}

func (x *recIni) VerifyKeys() (sign, verify negoex.Key, ok bool) {
	return x.Initiator.(negoex.KeyedContext).VerifyKeys()
}

func (x *recIni) Close() error {
	x.s.record("Close initiator")
	return x.Initiator.Close()
}

type recIniMeta struct{ *recIni }

func (x *recIniMeta) MetaData(context.Context) ([]byte, error) {
	x.s.record("MetaData initiator")
	return []byte("initiator's"), nil
}

func (x *recIniMeta) PeerMetaData(_ context.Context, data []byte) error {
	x.s.record("PeerMetaData initiator %q", data)
	return nil
}

type recAcc struct {
	sspi.Acceptor
	s *recScheme
}

func (x *recAcc) AcceptContext(ctx context.Context, in []byte) ([]byte, sspi.Status, error) {
	x.s.record("AcceptContext %d", len(in))
	return x.Acceptor.AcceptContext(ctx, in)
}

func (x *recAcc) VerifyKeys() (sign, verify negoex.Key, ok bool) {
	return x.Acceptor.(negoex.KeyedContext).VerifyKeys()
}

func (x *recAcc) Close() error {
	x.s.record("Close acceptor")
	return x.Acceptor.Close()
}

type recAccMeta struct{ *recAcc }

func (x *recAccMeta) MetaData(context.Context) ([]byte, error) {
	x.s.record("MetaData acceptor")
	return []byte("acceptor's"), nil
}

func (x *recAccMeta) PeerMetaData(_ context.Context, data []byte) error {
	x.s.record("PeerMetaData acceptor %q", data)
	return nil
}

// inMemoryHost is a Host whose one package is served in this process over an
// in-memory connection, serving the protocol additions fs (nil: a plugin of v1's first
// release). calls counts the host's calls by method since it was last asked.
func inMemoryHost(t *testing.T, scheme sspi.Package, fs []pluginv1.Feature) (h *Host, srv *schemeServer, calls func() map[string]int) {
	t.Helper()
	srv = newSchemeServer(scheme, slog.New(slog.DiscardHandler))
	srv.features = featuresOf(fs)
	gs := newPluginGRPCServer(nil)
	pluginv1.RegisterAuthSchemeServiceServer(gs, srv)
	lis := bufconn.Listen(1 << 20)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)

	var mu sync.Mutex
	counts := map[string]int{}
	calls = func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		c := counts
		counts = map[string]int{}
		return c
	}
	conn, err := grpc.NewClient("passthrough:///plugin", append(grpcDialOptions(),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			mu.Lock()
			counts[path.Base(method)]++
			mu.Unlock()
			return invoker(ctx, method, req, reply, cc, opts...)
		}))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	rpc := pluginv1.NewAuthSchemeServiceClient(conn)
	desc, err := rpc.Describe(t.Context(), &pluginv1.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	info := scheme.Info()
	info.Origin = sspi.OriginPlugin
	h = &Host{cfg: HostConfig{CallTimeout: 10 * time.Second}, logger: slog.New(slog.DiscardHandler)}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	m := &managed{host: h, cand: &candidate{manifest: Manifest{Name: info.Name}}, state: StateRunning,
		client: &goplugin.Client{}, rpc: rpc, gen: 1, features: featuresOf(desc.GetFeatures()), info: info,
		delWake: make(chan struct{}, 1)}
	h.pkgs = []*managed{m}
	h.wg.Add(1)
	go m.deleter()
	t.Cleanup(func() { h.Close() })
	calls() // Describe
	return h, srv, calls
}

// handshake runs a NegoEx handshake over h's scheme and closes both contexts.
func handshake(t *testing.T, h *Host) error {
	t.Helper()
	nx, err := negoex.New(negoex.Config{Schemes: h.Schemes()})
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("0123456789abcdef0123456789abcdef")
	m := negoex.Options{Material: map[string]any{psk.Name: map[string]any{"identity": "alice", "key": key, "keys": map[string][]byte{"alice": key}}}}
	ctx := t.Context()
	ini, err := nx.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsOutbound, Material: m})
	if err != nil {
		t.Fatal(err)
	}
	defer ini.Close()
	acc, err := nx.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: m})
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	c, err := ini.NewInitiator(sspi.ContextConfig{Target: "host/server.test"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := acc.NewAcceptor(sspi.ContextConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer s.Close()
	var in []byte
	for range 10 {
		out, st, err := c.InitializeContext(ctx, in)
		if err != nil {
			return err
		}
		if len(out) == 0 {
			break
		}
		back, ast, err := s.AcceptContext(ctx, out)
		if err != nil {
			return err
		}
		if st == sspi.StatusOK && ast == sspi.StatusOK {
			break
		}
		in = back
	}
	if !c.Attributes().Established || !s.Attributes().Established {
		t.Fatal("not established")
	}
	return nil
}

// waitContexts waits until the plugin holds no context: deletion runs in the background.
func waitContexts(t *testing.T, srv *schemeServer) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		srv.mu.Lock()
		n := len(srv.ctxs)
		srv.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the plugin still holds %d contexts", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHostFeatures: the round trips a NegoEx handshake costs with a plugin that serves
// the protocol's additions and with one of v1's first release, and that the scheme is
// asked exactly the same things, in the same order, either way.
func TestHostFeatures(t *testing.T) {
	all := servedFeatures
	for _, meta := range []bool{false, true} {
		var first []string
		for _, tc := range []struct {
			name     string
			features []pluginv1.Feature
			want     map[string]int
		}{
			{"v1.0", nil, map[string]int{"NewContext": 2, "QueryMetaData": 2, "Step": 4, "DeleteContext": 2}},
			// Both contexts are deleted in one call, unless their closes were further
			// apart than the deleter waits.
			{"current", all, map[string]int{"QueryMetaData": 2, "Step": 4, "DeleteContext": 1}},
		} {
			if meta {
				tc.want["ExchangeMetaData"] = 2
				if tc.features != nil {
					tc.want["QueryMetaData"] = 1 // the acceptor's comes with the initiator's
				}
			}
			t.Run(fmt.Sprintf("%s/meta=%v", tc.name, meta), func(t *testing.T) {
				scheme := &recScheme{Package: psk.New(psk.Config{}), meta: meta}
				h, srv, calls := inMemoryHost(t, scheme, tc.features)
				if err := handshake(t, h); err != nil {
					t.Fatal(err)
				}
				waitContexts(t, srv)
				got := calls()
				delete(got, "AcquireCredentials")
				delete(got, "FreeCredentials")
				if tc.features != nil && got["DeleteContext"] == 2 {
					got["DeleteContext"] = 1
				}
				if !maps.Equal(got, tc.want) {
					t.Errorf("calls %v, want %v", got, tc.want)
				}
				rec := scheme.recorded()
				if first == nil {
					first = rec
					t.Logf("the scheme was asked: %q", rec)
				} else if !slices.Equal(rec, first) {
					t.Errorf("the scheme was asked\n%q\nnot, as with v1.0,\n%q", rec, first)
				}
			})
		}
	}
}

// TestHostFeaturesRefusal: a scheme that cannot make a context fails the handshake
// with the same error whether the plugin makes contexts on their first call or not.
func TestHostFeaturesRefusal(t *testing.T) {
	var errs []string
	for _, fs := range [][]pluginv1.Feature{nil, servedFeatures} {
		for _, meta := range []bool{false, true} {
			scheme := &recScheme{Package: psk.New(psk.Config{}), meta: meta, refuse: true}
			h, srv, _ := inMemoryHost(t, scheme, fs)
			err := handshake(t, h)
			if !errors.Is(err, sspi.ErrNoCredentials) {
				t.Fatalf("features %v, meta-data %v: %v, want SEC_E_NO_CREDENTIALS", fs, meta, err)
			}
			errs = append(errs, err.Error())
			waitContexts(t, srv)
		}
	}
	if errs[0] != errs[2] || errs[1] != errs[3] {
		t.Errorf("errors differ with the protocol's additions:\n%q", errs)
	}
}

// TestServeAdditions: the protocol's additions as the plugin serves them, call by call.
func TestServeAdditions(t *testing.T) {
	scheme := &recScheme{Package: psk.New(psk.Config{}), meta: true}
	srv := newSchemeServer(scheme, slog.New(slog.DiscardHandler))
	ctx := t.Context()
	key := []byte("0123456789abcdef0123456789abcdef")
	material, _ := json.Marshal(map[string]any{"identity": "alice", "key": key, "keys": map[string][]byte{"alice": key}})
	for h, use := range map[uint64]pluginv1.CredentialUse{1: pluginv1.CredentialUse_CREDENTIAL_USE_OUTBOUND, 2: pluginv1.CredentialUse_CREDENTIAL_USE_INBOUND} {
		r, _ := srv.AcquireCredentials(ctx, &pluginv1.AcquireCredentialsRequest{Credential: h, Use: use, Material: material})
		if st := sspi.Status(r.GetResult().GetStatus()); st != sspi.StatusOK {
			t.Fatalf("AcquireCredentials: %v", r.GetResult())
		}
	}
	ini := &pluginv1.NewContextRequest{Context: 7, Credential: 1, Initiator: true, Target: "host/server.test"}
	status := func(r *pluginv1.Result) sspi.Status { return sspi.Status(r.GetStatus()) }

	qm, _ := srv.QueryMetaData(ctx, &pluginv1.QueryMetaDataRequest{Context: 8, NewContext: ini})
	if status(qm.GetResult()) != sspi.ErrInvalidHandle {
		t.Errorf("a call naming another context than it makes: %v", qm.GetResult())
	}
	qm, _ = srv.QueryMetaData(ctx, &pluginv1.QueryMetaDataRequest{Context: 7, NewContext: ini})
	if status(qm.GetResult()) != sspi.StatusOK || string(qm.GetMetaData()) != "initiator's" {
		t.Fatalf("QueryMetaData making the context: %v", qm)
	}
	st, _ := srv.Step(ctx, &pluginv1.StepRequest{Context: 7, NewContext: ini})
	if status(st.GetResult()) != sspi.ErrInvalidHandle {
		t.Errorf("making a context twice: %v", st.GetResult())
	}
	st, _ = srv.Step(ctx, &pluginv1.StepRequest{Context: 7})
	if status(st.GetResult()) != sspi.StatusContinueNeeded {
		t.Fatalf("Step: %v", st.GetResult())
	}

	acc := &pluginv1.NewContextRequest{Context: 9, Credential: 2}
	em, _ := srv.ExchangeMetaData(ctx, &pluginv1.ExchangeMetaDataRequest{Context: 9, MetaData: []byte("initiator's"), NewContext: acc, QueryMetaData: true})
	if status(em.GetResult()) != sspi.StatusOK || string(em.GetMetaData().GetMetaData()) != "acceptor's" || !em.GetMetaData().GetHasMetaData() {
		t.Fatalf("ExchangeMetaData making the context, with this side's meta-data: %v", em)
	}
	em, _ = srv.ExchangeMetaData(ctx, &pluginv1.ExchangeMetaDataRequest{Context: 9, MetaData: []byte("again")})
	if status(em.GetResult()) != sspi.StatusOK || em.GetMetaData() != nil {
		t.Errorf("ExchangeMetaData without query_meta_data: %v", em)
	}
	if _, err := srv.Step(ctx, &pluginv1.StepRequest{Context: 9, NewContext: &pluginv1.NewContextRequest{Context: 9, Credential: 5}}); err != nil {
		t.Fatal(err)
	}

	srv.DeleteContext(ctx, &pluginv1.DeleteContextRequest{Context: 7, MoreContexts: []uint64{9, 42}})
	if len(srv.ctxs) != 0 {
		t.Errorf("%d contexts left after deleting them all in one call", len(srv.ctxs))
	}
	want := []string{"NewInitiator host/server.test", "MetaData initiator", "InitializeContext 0",
		"NewAcceptor", `PeerMetaData acceptor "initiator's"`, "MetaData acceptor", `PeerMetaData acceptor "again"`,
		"Close initiator", "Close acceptor"}
	if got := scheme.recorded(); !slices.Equal(got, want) {
		t.Errorf("the scheme was asked\n%q\nwant\n%q", got, want)
	}
}

// TestHostContextOutlivesCredential: a context whose credential is closed before its
// first call still works, whether the plugin makes contexts on their first call or not.
func TestHostContextOutlivesCredential(t *testing.T) {
	for _, fs := range [][]pluginv1.Feature{nil, servedFeatures} {
		scheme := &recScheme{Package: psk.New(psk.Config{})}
		h, srv, _ := inMemoryHost(t, scheme, fs)
		pkg := h.Schemes()[0].Package
		key := []byte("0123456789abcdef0123456789abcdef")
		ctx := t.Context()
		ic, err := pkg.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsOutbound, Material: map[string]any{"identity": "alice", "key": key}})
		if err != nil {
			t.Fatal(err)
		}
		ac, err := pkg.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: map[string]any{"keys": map[string][]byte{"alice": key}}})
		if err != nil {
			t.Fatal(err)
		}
		c, err := ic.NewInitiator(sspi.ContextConfig{Target: "host/server.test"})
		if err != nil {
			t.Fatal(err)
		}
		s, err := ac.NewAcceptor(sspi.ContextConfig{})
		if err != nil {
			t.Fatal(err)
		}
		ic.Close()
		ac.Close()
		var in []byte
		for range 5 {
			out, st, err := c.InitializeContext(ctx, in)
			if err != nil {
				t.Fatalf("features %v: %v", fs, err)
			}
			if len(out) == 0 {
				break
			}
			back, ast, err := s.AcceptContext(ctx, out)
			if err != nil {
				t.Fatalf("features %v: %v", fs, err)
			}
			if st == sspi.StatusOK && ast == sspi.StatusOK {
				break
			}
			in = back
		}
		if !c.Attributes().Established || !s.Attributes().Established {
			t.Fatalf("features %v: not established", fs)
		}
		c.Close()
		s.Close()
		waitContexts(t, srv)
	}
}
