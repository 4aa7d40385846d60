package plugin_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gossp/gossp/negoex/plugin"
	"github.com/gossp/gossp/negoex/plugin/plugintest"
	"github.com/gossp/gossp/packages/psk"
	pluginv1 "github.com/gossp/gossp/proto/gossp/plugin/v1"
	"github.com/gossp/gossp/sspi"
)

var (
	bridgeKey  = []byte("0123456789abcdef0123456789abcdef")
	testTarget = "host/server.test"
)

// pskScheme is PSK with a JSON material decoder, as plugins/psk serves it.
type pskScheme struct {
	*psk.Package
	store psk.KeyStore // when set, inbound credentials use it instead of "keys"
}

func newPSK() *pskScheme { return &pskScheme{Package: psk.New(psk.Config{})} }

func (s *pskScheme) DecodeMaterial(use sspi.CredentialUse, data []byte) (any, error) {
	var m struct {
		Identity string            `json:"identity"`
		Key      []byte            `json:"key"`
		Keys     map[string][]byte `json:"keys"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("bad material: %w", err) // no status: the bridge adds one
	}
	if use == sspi.CredentialsOutbound {
		return psk.ClientKey{Identity: m.Identity, Key: m.Key}, nil
	}
	if s.store != nil {
		return s.store, nil
	}
	return psk.Keys(m.Keys), nil
}

func outboundMaterial() []byte {
	return fmt.Appendf(nil, `{"identity": "alice", "key": %q}`, base64.StdEncoding.EncodeToString(bridgeKey))
}

func inboundMaterial() []byte {
	return fmt.Appendf(nil, `{"keys": {"alice": %q}}`, base64.StdEncoding.EncodeToString(bridgeKey))
}

// wantStatus fails the test unless r has status st.
func wantStatus(t testing.TB, what string, r *pluginv1.Result, st sspi.Status) {
	t.Helper()
	if got := sspi.Status(r.GetStatus()); got != st {
		t.Fatalf("%s: %v (%q), want %v", what, got, r.GetMessage(), st)
	}
}

// reply is an RPC's response and gRPC error.
type reply[R any] struct {
	resp R
	err  error
}

func rpc[R any](resp R, err error) reply[R] { return reply[R]{resp, err} }

// must fails the test on a gRPC error: SSPI outcomes never are one.
func (r reply[R]) must(t testing.TB, what string) R {
	t.Helper()
	if r.err != nil {
		t.Fatalf("%s: gRPC error %v", what, r.err)
	}
	return r.resp
}

// bridgePeer is one side of a handshake: a client of the bridge and the handles it allocated.
type bridgePeer struct {
	c         pluginv1.AuthSchemeServiceClient
	cred, ctx uint64
}

var testBindings = &pluginv1.ChannelBindings{ApplicationData: []byte("tls-server-end-point:0123")}

// setUpPeers acquires credentials and makes a context on each side, as the host would.
func setUpPeers(t testing.TB, ctx context.Context, ini, acc *bridgePeer) {
	t.Helper()
	r := rpc(ini.c.AcquireCredentials(ctx, &pluginv1.AcquireCredentialsRequest{
		Credential: ini.cred, Use: pluginv1.CredentialUse_CREDENTIAL_USE_OUTBOUND, Material: outboundMaterial(),
	})).must(t, "AcquireCredentials(outbound)")
	wantStatus(t, "AcquireCredentials(outbound)", r.GetResult(), sspi.StatusOK)
	if r.GetPrincipal() != "alice" {
		t.Errorf("outbound principal %q, want alice", r.GetPrincipal())
	}
	r = rpc(acc.c.AcquireCredentials(ctx, &pluginv1.AcquireCredentialsRequest{
		Credential: acc.cred, Use: pluginv1.CredentialUse_CREDENTIAL_USE_INBOUND, Principal: testTarget, Material: inboundMaterial(),
	})).must(t, "AcquireCredentials(inbound)")
	wantStatus(t, "AcquireCredentials(inbound)", r.GetResult(), sspi.StatusOK)
	if r.GetPrincipal() != testTarget {
		t.Errorf("inbound principal %q, want %s", r.GetPrincipal(), testTarget)
	}
	flags := uint32(sspi.FlagIntegrity | sspi.FlagConfidentiality | sspi.FlagMutualAuth)
	for _, p := range []*bridgePeer{ini, acc} {
		nc := rpc(p.c.NewContext(ctx, &pluginv1.NewContextRequest{
			Context: p.ctx, Credential: p.cred, Initiator: p == ini, Target: testTarget, Flags: flags,
			ChannelBindings: testBindings,
		})).must(t, "NewContext")
		wantStatus(t, "NewContext", nc.GetResult(), sspi.StatusOK)
	}
}

// bridgeHandshake runs Step legs, carrying each output to the other side, until both report
// SEC_E_OK.
func bridgeHandshake(t testing.TB, ctx context.Context, ini, acc *bridgePeer) {
	t.Helper()
	sides := [2]*bridgePeer{ini, acc}
	var done [2]bool
	var token []byte
	for leg, side := 0, 0; !done[0] || !done[1]; leg, side = leg+1, 1-side {
		if leg == 6 || done[side] {
			t.Fatalf("handshake does not end: leg %d, done %v", leg, done)
		}
		p := sides[side]
		r := rpc(p.c.Step(ctx, &pluginv1.StepRequest{Context: p.ctx, Input: token})).must(t, "Step")
		switch st := sspi.Status(r.GetResult().GetStatus()); st {
		case sspi.StatusOK:
			done[side] = true
		case sspi.StatusContinueNeeded:
		default:
			t.Fatalf("Step leg %d: %v (%q)", leg, st, r.GetResult().GetMessage())
		}
		token = r.GetOutput()
	}
	if len(token) != 0 {
		t.Fatalf("a token of %d bytes is left over", len(token))
	}
}

// TestServeHandshake drives PSK through the bridge with the initiator and the acceptor
// each behind its own plugin, calling the raw RPCs as the host does.
func TestServeHandshake(t *testing.T) {
	ctx := t.Context()
	ini := &bridgePeer{c: plugintest.Client(t, newPSK()), cred: 11, ctx: 21}
	acc := &bridgePeer{c: plugintest.Client(t, newPSK()), cred: 11, ctx: 21} // another process: same numbers are fine

	d := rpc(ini.c.Describe(ctx, &pluginv1.DescribeRequest{})).must(t, "Describe")
	info := psk.New(psk.Config{}).Info()
	if d.GetName() != psk.Name || d.GetAuthScheme() != psk.AuthScheme.String() ||
		sspi.Capabilities(d.GetCapabilities()) != info.Capabilities || d.GetVersion() != uint32(info.Version) ||
		d.GetMaxToken() != uint32(info.MaxToken) || !slices.Equal(d.GetProtocolVersions(), []uint32{plugin.ProtocolVersion}) {
		t.Errorf("Describe = %v", d)
	}
	if g, err := sspi.ParseGUID(d.GetAuthScheme()); err != nil || g != psk.AuthScheme {
		t.Errorf("auth scheme %q does not parse back: %v", d.GetAuthScheme(), err)
	}
	// PSK takes no configuration: none is fine, some is refused.
	cr := rpc(ini.c.Configure(ctx, &pluginv1.ConfigureRequest{})).must(t, "Configure")
	wantStatus(t, "Configure(none)", cr.GetResult(), sspi.StatusOK)
	cr = rpc(ini.c.Configure(ctx, &pluginv1.ConfigureRequest{Config: []byte(`{"x": 1}`)})).must(t, "Configure")
	wantStatus(t, "Configure(some)", cr.GetResult(), sspi.ErrUnsupportedFunction)

	setUpPeers(t, ctx, ini, acc)

	// PSK has no meta-data: none is reported, and the peer's is ignored.
	for _, p := range []*bridgePeer{ini, acc} {
		q := rpc(p.c.QueryMetaData(ctx, &pluginv1.QueryMetaDataRequest{Context: p.ctx})).must(t, "QueryMetaData")
		wantStatus(t, "QueryMetaData", q.GetResult(), sspi.StatusOK)
		if q.GetHasMetaData() || q.GetMetaData() != nil {
			t.Errorf("QueryMetaData = %v, want none", q)
		}
		x := rpc(p.c.ExchangeMetaData(ctx, &pluginv1.ExchangeMetaDataRequest{Context: p.ctx, MetaData: []byte("x")})).must(t, "ExchangeMetaData")
		wantStatus(t, "ExchangeMetaData", x.GetResult(), sspi.StatusOK)
	}

	// Before the handshake: no keys yet, and no session key.
	q := rpc(ini.c.QueryContext(ctx, &pluginv1.QueryContextRequest{Context: ini.ctx, VerifyKeys: true})).must(t, "QueryContext")
	wantStatus(t, "QueryContext(early)", q.GetResult(), sspi.StatusOK)
	if q.GetEstablished() || q.GetHasVerifyKeys() {
		t.Errorf("QueryContext before the handshake = %v", q)
	}
	q = rpc(ini.c.QueryContext(ctx, &pluginv1.QueryContextRequest{Context: ini.ctx, SessionKey: true})).must(t, "QueryContext")
	wantStatus(t, "QueryContext(early session key)", q.GetResult(), sspi.ErrNoContext)

	bridgeHandshake(t, ctx, ini, acc)

	var got [2]*pluginv1.QueryContextResponse
	for i, p := range []*bridgePeer{ini, acc} {
		q := rpc(p.c.QueryContext(ctx, &pluginv1.QueryContextRequest{Context: p.ctx, SessionKey: true, VerifyKeys: true})).must(t, "QueryContext")
		wantStatus(t, "QueryContext", q.GetResult(), sspi.StatusOK)
		if !q.GetEstablished() || !q.GetHasVerifyKeys() || len(q.GetSessionKey()) == 0 {
			t.Fatalf("QueryContext = %v", q)
		}
		f := sspi.ContextFlags(q.GetFlags())
		if f&(sspi.FlagIntegrity|sspi.FlagConfidentiality|sspi.FlagMutualAuth) != sspi.FlagIntegrity|sspi.FlagConfidentiality|sspi.FlagMutualAuth {
			t.Errorf("flags %v", f)
		}
		if q.GetMaxSignature() == 0 || q.GetSecurityTrailer() == 0 || q.GetServerName() != testTarget {
			t.Errorf("QueryContext = %v", q)
		}
		got[i] = q
	}
	if got[1].GetClientName() != "alice" {
		t.Errorf("acceptor's client name %q, want alice", got[1].GetClientName())
	}
	if !bytes.Equal(got[0].GetSessionKey(), got[1].GetSessionKey()) {
		t.Error("the session keys differ")
	}
	sameKey := func(a, b *pluginv1.Key) bool {
		return a.GetEtype() == b.GetEtype() && len(a.GetValue()) > 0 && bytes.Equal(a.GetValue(), b.GetValue())
	}
	if !sameKey(got[0].GetSignKey(), got[1].GetVerifyKey()) || !sameKey(got[1].GetSignKey(), got[0].GetVerifyKey()) {
		t.Error("one side's sign key is not the other's verify key")
	}
	if sameKey(got[0].GetSignKey(), got[0].GetVerifyKey()) {
		t.Error("both directions have the same key")
	}

	// Message protection: seal one way, sign the other, and a large message.
	for _, msg := range [][]byte{[]byte("hello, acceptor"), bytes.Repeat([]byte{0xA5}, 5<<20)} {
		e := rpc(ini.c.EncryptMessage(ctx, &pluginv1.EncryptMessageRequest{Context: ini.ctx, Message: msg})).must(t, "EncryptMessage")
		wantStatus(t, "EncryptMessage", e.GetResult(), sspi.StatusOK)
		if bytes.Contains(e.GetToken(), msg[:8]) {
			t.Error("the sealed token holds the plaintext")
		}
		dm := rpc(acc.c.DecryptMessage(ctx, &pluginv1.DecryptMessageRequest{Context: acc.ctx, Token: e.GetToken()})).must(t, "DecryptMessage")
		wantStatus(t, "DecryptMessage", dm.GetResult(), sspi.StatusOK)
		if !bytes.Equal(dm.GetMessage(), msg) {
			t.Errorf("unsealed %d bytes, want the %d sealed", len(dm.GetMessage()), len(msg))
		}
	}
	s := rpc(acc.c.MakeSignature(ctx, &pluginv1.MakeSignatureRequest{Context: acc.ctx, Message: []byte("reply")})).must(t, "MakeSignature")
	wantStatus(t, "MakeSignature", s.GetResult(), sspi.StatusOK)
	v := rpc(ini.c.VerifySignature(ctx, &pluginv1.VerifySignatureRequest{Context: ini.ctx, Message: []byte("reply"), Signature: s.GetSignature()})).must(t, "VerifySignature")
	wantStatus(t, "VerifySignature", v.GetResult(), sspi.StatusOK)
	// A refusal is a Result, not a gRPC error.
	e := rpc(ini.c.EncryptMessage(ctx, &pluginv1.EncryptMessageRequest{Context: ini.ctx, Message: []byte("x")})).must(t, "EncryptMessage")
	tok := e.GetToken()
	tok[len(tok)-1] ^= 1
	dm := rpc(acc.c.DecryptMessage(ctx, &pluginv1.DecryptMessageRequest{Context: acc.ctx, Token: tok})).must(t, "DecryptMessage")
	if st := sspi.Status(dm.GetResult().GetStatus()); !st.IsFailure() || dm.GetResult().GetMessage() == "" || dm.GetMessage() != nil {
		t.Errorf("altered token: %v (%q)", st, dm.GetResult().GetMessage())
	}

	// Deleting and freeing are idempotent; a deleted context is gone.
	for _, p := range []*bridgePeer{ini, acc} {
		for range 2 {
			rpc(p.c.DeleteContext(ctx, &pluginv1.DeleteContextRequest{Context: p.ctx})).must(t, "DeleteContext")
			rpc(p.c.FreeCredentials(ctx, &pluginv1.FreeCredentialsRequest{Credential: p.cred})).must(t, "FreeCredentials")
		}
		m := rpc(p.c.MakeSignature(ctx, &pluginv1.MakeSignatureRequest{Context: p.ctx, Message: []byte("x")})).must(t, "MakeSignature")
		wantStatus(t, "MakeSignature after DeleteContext", m.GetResult(), sspi.ErrInvalidHandle)
	}
}

// TestServeBindingsRefused: a failed leg is a failure Result from Step.
func TestServeBindingsRefused(t *testing.T) {
	ctx := t.Context()
	ini := &bridgePeer{c: plugintest.Client(t, newPSK()), cred: 1, ctx: 1}
	acc := &bridgePeer{c: plugintest.Client(t, newPSK()), cred: 1, ctx: 1}
	setUpPeers(t, ctx, ini, acc)
	// Replace the acceptor's context by one expecting other bindings.
	rpc(acc.c.DeleteContext(ctx, &pluginv1.DeleteContextRequest{Context: acc.ctx})).must(t, "DeleteContext")
	nc := rpc(acc.c.NewContext(ctx, &pluginv1.NewContextRequest{
		Context: acc.ctx, Credential: acc.cred,
		ChannelBindings: &pluginv1.ChannelBindings{ApplicationData: []byte("tls-server-end-point:other")},
	})).must(t, "NewContext")
	wantStatus(t, "NewContext", nc.GetResult(), sspi.StatusOK)
	var token []byte
	for i, p := range []*bridgePeer{ini, acc, ini} {
		r := rpc(p.c.Step(ctx, &pluginv1.StepRequest{Context: p.ctx, Input: token})).must(t, "Step")
		wantStatus(t, fmt.Sprintf("Step %d", i), r.GetResult(), []sspi.Status{sspi.StatusContinueNeeded, sspi.StatusContinueNeeded, sspi.StatusOK}[i])
		token = r.GetOutput()
	}
	r := rpc(acc.c.Step(ctx, &pluginv1.StepRequest{Context: acc.ctx, Input: token})).must(t, "Step")
	wantStatus(t, "last Step", r.GetResult(), sspi.ErrBadBindings)
	if r.GetResult().GetMessage() == "" {
		t.Error("a failure without a message")
	}
}

// TestServeHandles: handles are the host's; unknown, zero and reused ones are refused
// with SEC_E_INVALID_HANDLE in the Result, never with a gRPC error.
func TestServeHandles(t *testing.T) {
	ctx := t.Context()
	c := plugintest.Client(t, newPSK())
	out := func(h uint64) *pluginv1.AcquireCredentialsRequest {
		return &pluginv1.AcquireCredentialsRequest{Credential: h, Use: pluginv1.CredentialUse_CREDENTIAL_USE_OUTBOUND, Material: outboundMaterial()}
	}

	a := rpc(c.AcquireCredentials(ctx, out(0))).must(t, "AcquireCredentials")
	wantStatus(t, "credential handle 0", a.GetResult(), sspi.ErrInvalidHandle)
	a = rpc(c.AcquireCredentials(ctx, out(7))).must(t, "AcquireCredentials")
	wantStatus(t, "AcquireCredentials", a.GetResult(), sspi.StatusOK)
	a = rpc(c.AcquireCredentials(ctx, out(7))).must(t, "AcquireCredentials")
	wantStatus(t, "reused credential handle", a.GetResult(), sspi.ErrInvalidHandle)

	nc := func(h, cred uint64) *pluginv1.Result {
		r := rpc(c.NewContext(ctx, &pluginv1.NewContextRequest{Context: h, Credential: cred, Initiator: true, Target: testTarget})).must(t, "NewContext")
		return r.GetResult()
	}
	wantStatus(t, "unknown credential", nc(1, 99), sspi.ErrInvalidHandle)
	wantStatus(t, "context handle 0", nc(0, 7), sspi.ErrInvalidHandle)
	wantStatus(t, "NewContext", nc(1, 7), sspi.StatusOK) // handle 1 was released by the failure above
	wantStatus(t, "reused context handle", nc(1, 7), sspi.ErrInvalidHandle)
	wantStatus(t, "another context of the credential", nc(2, 7), sspi.StatusOK)
	r := rpc(c.NewContext(ctx, &pluginv1.NewContextRequest{Context: 3, Credential: 7})).must(t, "NewContext")
	wantStatus(t, "acceptor from an outbound credential", r.GetResult(), sspi.ErrNoCredentials)

	// The reused handles did not disturb the live ones.
	s := rpc(c.Step(ctx, &pluginv1.StepRequest{Context: 1})).must(t, "Step")
	wantStatus(t, "Step", s.GetResult(), sspi.StatusContinueNeeded)

	const unknown = 12345
	results := map[string]func() (*pluginv1.Result, error){
		"Step": func() (*pluginv1.Result, error) {
			r, err := c.Step(ctx, &pluginv1.StepRequest{Context: unknown})
			return r.GetResult(), err
		},
		"QueryMetaData": func() (*pluginv1.Result, error) {
			r, err := c.QueryMetaData(ctx, &pluginv1.QueryMetaDataRequest{Context: unknown})
			return r.GetResult(), err
		},
		"ExchangeMetaData": func() (*pluginv1.Result, error) {
			r, err := c.ExchangeMetaData(ctx, &pluginv1.ExchangeMetaDataRequest{Context: unknown})
			return r.GetResult(), err
		},
		"QueryContext": func() (*pluginv1.Result, error) {
			r, err := c.QueryContext(ctx, &pluginv1.QueryContextRequest{Context: unknown})
			return r.GetResult(), err
		},
		"MakeSignature": func() (*pluginv1.Result, error) {
			r, err := c.MakeSignature(ctx, &pluginv1.MakeSignatureRequest{Context: unknown})
			return r.GetResult(), err
		},
		"VerifySignature": func() (*pluginv1.Result, error) {
			r, err := c.VerifySignature(ctx, &pluginv1.VerifySignatureRequest{Context: unknown})
			return r.GetResult(), err
		},
		"EncryptMessage": func() (*pluginv1.Result, error) {
			r, err := c.EncryptMessage(ctx, &pluginv1.EncryptMessageRequest{Context: unknown})
			return r.GetResult(), err
		},
		"DecryptMessage": func() (*pluginv1.Result, error) {
			r, err := c.DecryptMessage(ctx, &pluginv1.DecryptMessageRequest{Context: unknown})
			return r.GetResult(), err
		},
	}
	for name, f := range results {
		r, err := f()
		if err != nil {
			t.Errorf("%s on an unknown handle: gRPC error %v", name, err)
			continue
		}
		if sspi.Status(r.GetStatus()) != sspi.ErrInvalidHandle || r.GetMessage() == "" {
			t.Errorf("%s on an unknown handle: %v (%q)", name, sspi.Status(r.GetStatus()), r.GetMessage())
		}
	}
	// Freeing what does not exist is no error.
	rpc(c.DeleteContext(ctx, &pluginv1.DeleteContextRequest{Context: unknown})).must(t, "DeleteContext")
	rpc(c.FreeCredentials(ctx, &pluginv1.FreeCredentialsRequest{Credential: unknown})).must(t, "FreeCredentials")
}

func TestServeAcquireCredentialsRefusals(t *testing.T) {
	ctx := t.Context()
	c := plugintest.Client(t, newPSK())
	plain := plugintest.Client(t, psk.New(psk.Config{})) // no MaterialDecoder
	for _, tc := range []struct {
		name     string
		c        pluginv1.AuthSchemeServiceClient
		use      pluginv1.CredentialUse
		material string
		want     sspi.Status
		msg      string
	}{
		{"unspecified use", c, pluginv1.CredentialUse_CREDENTIAL_USE_UNSPECIFIED, string(outboundMaterial()), sspi.ErrInvalidParameter, "credential use"},
		{"unknown use", c, 9, string(outboundMaterial()), sspi.ErrInvalidParameter, "credential use"},
		{"material the decoder refuses", c, pluginv1.CredentialUse_CREDENTIAL_USE_OUTBOUND, `{"key": 5}`, sspi.ErrUnknownCredentials, "bad material"},
		{"material the scheme refuses", c, pluginv1.CredentialUse_CREDENTIAL_USE_OUTBOUND, `{"identity": "alice", "key": "c2hvcnQ="}`, sspi.ErrUnknownCredentials, "shorter"},
		{"no material", c, pluginv1.CredentialUse_CREDENTIAL_USE_OUTBOUND, ``, sspi.ErrUnknownCredentials, "psk.ClientKey"},
		{"material without a decoder", plain, pluginv1.CredentialUse_CREDENTIAL_USE_OUTBOUND, string(outboundMaterial()), sspi.ErrUnknownCredentials, "takes no credential material"},
		{"null material without a decoder", plain, pluginv1.CredentialUse_CREDENTIAL_USE_OUTBOUND, `null`, sspi.ErrUnknownCredentials, "psk.ClientKey"},
	} {
		r := rpc(tc.c.AcquireCredentials(ctx, &pluginv1.AcquireCredentialsRequest{Credential: 1, Use: tc.use, Material: []byte(tc.material)})).must(t, tc.name)
		wantStatus(t, tc.name, r.GetResult(), tc.want)
		if !strings.Contains(r.GetResult().GetMessage(), tc.msg) {
			t.Errorf("%s: message %q, want it to mention %q", tc.name, r.GetResult().GetMessage(), tc.msg)
		}
	}
	// Every refusal released handle 1.
	r := rpc(c.AcquireCredentials(ctx, &pluginv1.AcquireCredentialsRequest{
		Credential: 1, Use: pluginv1.CredentialUse_CREDENTIAL_USE_OUTBOUND, Material: outboundMaterial()})).must(t, "AcquireCredentials")
	wantStatus(t, "AcquireCredentials", r.GetResult(), sspi.StatusOK)
}

// panicky is PSK whose credential acquisition for "boom" panics, and whose initiators
// panic in their second leg.
type panicky struct{ *pskScheme }

func (p panicky) AcquireCredentials(ctx context.Context, req sspi.CredentialRequest) (sspi.Credential, error) {
	if req.Principal == "boom" {
		panic("boom")
	}
	c, err := p.pskScheme.AcquireCredentials(ctx, req)
	return panickyCred{c}, err
}

type panickyCred struct{ sspi.Credential }

func (c panickyCred) NewInitiator(cfg sspi.ContextConfig) (sspi.Initiator, error) {
	i, err := c.Credential.NewInitiator(cfg)
	return panickyInitiator{i}, err
}

type panickyInitiator struct{ sspi.Initiator }

func (i panickyInitiator) InitializeContext(ctx context.Context, input []byte) ([]byte, sspi.Status, error) {
	if input != nil {
		var m map[string]int
		m["nil map"]++ // a real runtime error, not only panic(string)
	}
	return i.Initiator.InitializeContext(ctx, input)
}

func TestServeSchemePanics(t *testing.T) {
	ctx := t.Context()
	c := plugintest.Client(t, panicky{newPSK()})
	req := &pluginv1.AcquireCredentialsRequest{Credential: 1, Use: pluginv1.CredentialUse_CREDENTIAL_USE_OUTBOUND, Principal: "boom", Material: outboundMaterial()}
	a := rpc(c.AcquireCredentials(ctx, req)).must(t, "AcquireCredentials")
	wantStatus(t, "AcquireCredentials that panics", a.GetResult(), sspi.ErrInternal)
	if a.GetResult().GetMessage() != "scheme panicked" {
		t.Errorf("message %q", a.GetResult().GetMessage())
	}
	// The handle was released, and the server goes on serving.
	req.Principal = ""
	a = rpc(c.AcquireCredentials(ctx, req)).must(t, "AcquireCredentials")
	wantStatus(t, "AcquireCredentials", a.GetResult(), sspi.StatusOK)
	for h := uint64(1); h <= 2; h++ {
		nc := rpc(c.NewContext(ctx, &pluginv1.NewContextRequest{Context: h, Credential: 1, Initiator: true, Target: testTarget})).must(t, "NewContext")
		wantStatus(t, "NewContext", nc.GetResult(), sspi.StatusOK)
		s := rpc(c.Step(ctx, &pluginv1.StepRequest{Context: h})).must(t, "Step")
		wantStatus(t, "Step", s.GetResult(), sspi.StatusContinueNeeded)
	}
	s := rpc(c.Step(ctx, &pluginv1.StepRequest{Context: 1, Input: []byte("challenge")})).must(t, "Step")
	wantStatus(t, "Step that panics", s.GetResult(), sspi.ErrInternal)
	if s.GetResult().GetMessage() != "scheme panicked" || s.GetOutput() != nil {
		t.Errorf("Step that panics = %v", s)
	}
	// The panic released the context's handshake lock: the same context answers again.
	s = rpc(c.Step(ctx, &pluginv1.StepRequest{Context: 1, Input: []byte("again")})).must(t, "Step")
	wantStatus(t, "Step that panics again", s.GetResult(), sspi.ErrInternal)
	q := rpc(c.QueryContext(ctx, &pluginv1.QueryContextRequest{Context: 2})).must(t, "QueryContext")
	wantStatus(t, "QueryContext of another context", q.GetResult(), sspi.StatusOK)
	rpc(c.Describe(ctx, &pluginv1.DescribeRequest{})).must(t, "Describe")
}

// blockingStore is a KeyStore that waits for its context's end, and says so.
type blockingStore struct{ canceled chan struct{} }

func (b blockingStore) LookupKey(ctx context.Context, _ string) ([]byte, error) {
	<-ctx.Done()
	close(b.canceled)
	return nil, ctx.Err()
}

// TestServeDeadline: Step runs under the gRPC call's context, so the host's deadline
// reaches the scheme.
func TestServeDeadline(t *testing.T) {
	ctx := t.Context()
	store := blockingStore{make(chan struct{})}
	scheme := newPSK()
	scheme.store = store
	ini := &bridgePeer{c: plugintest.Client(t, newPSK()), cred: 1, ctx: 1}
	acc := &bridgePeer{c: plugintest.Client(t, scheme), cred: 1, ctx: 1}
	setUpPeers(t, ctx, ini, acc)
	s := rpc(ini.c.Step(ctx, &pluginv1.StepRequest{Context: ini.ctx})).must(t, "Step")
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	r, err := acc.c.Step(short, &pluginv1.StepRequest{Context: acc.ctx, Input: s.GetOutput()})
	// The caller's deadline fires, or the scheme's failure arrives just before it does.
	if status.Code(err) != codes.DeadlineExceeded && !(err == nil && sspi.Status(r.GetResult().GetStatus()).IsFailure()) {
		t.Errorf("Step past its deadline: %v, %v", r, err)
	}
	select {
	case <-store.canceled:
	case <-time.After(10 * time.Second):
		t.Fatal("the scheme never saw the deadline")
	}
}

// TestServeConcurrent runs many handshakes at once through one pair of plugins.
func TestServeConcurrent(t *testing.T) {
	ctx := t.Context()
	ic, ac := plugintest.Client(t, newPSK()), plugintest.Client(t, newPSK())
	var next atomic.Uint64
	var wg sync.WaitGroup
	for range 24 {
		wg.Go(func() {
			t := goroutineTB{t}
			h := next.Add(1)
			ini, acc := &bridgePeer{c: ic, cred: h, ctx: h}, &bridgePeer{c: ac, cred: h, ctx: h}
			setUpPeers(t, ctx, ini, acc)
			bridgeHandshake(t, ctx, ini, acc)
			msg := fmt.Appendf(nil, "message %d", h)
			e := rpc(ic.EncryptMessage(ctx, &pluginv1.EncryptMessageRequest{Context: h, Message: msg})).must(t, "EncryptMessage")
			wantStatus(t, "EncryptMessage", e.GetResult(), sspi.StatusOK)
			d := rpc(ac.DecryptMessage(ctx, &pluginv1.DecryptMessageRequest{Context: h, Token: e.GetToken()})).must(t, "DecryptMessage")
			wantStatus(t, "DecryptMessage", d.GetResult(), sspi.StatusOK)
			if !bytes.Equal(d.GetMessage(), msg) {
				t.Errorf("context %d: unsealed %q", h, d.GetMessage())
			}
			for _, p := range []*bridgePeer{ini, acc} {
				rpc(p.c.DeleteContext(ctx, &pluginv1.DeleteContextRequest{Context: h})).must(t, "DeleteContext")
				rpc(p.c.FreeCredentials(ctx, &pluginv1.FreeCredentialsRequest{Credential: h})).must(t, "FreeCredentials")
			}
		})
	}
	wg.Wait()
}

// goroutineTB lets helpers that fail fast run in a goroutine of a test: Fatal records
// the failure and ends that goroutine only.
type goroutineTB struct{ testing.TB }

func (g goroutineTB) Fatal(args ...any) {
	g.Helper()
	g.Error(args...)
	runtime.Goexit()
}

func (g goroutineTB) Fatalf(format string, args ...any) {
	g.Helper()
	g.Errorf(format, args...)
	runtime.Goexit()
}

// notNegoEx is a package NegoEx cannot negotiate.
type notNegoEx struct{ *psk.Package }

func (n notNegoEx) Info() sspi.PackageInfo {
	i := n.Package.Info()
	i.Capabilities &^= sspi.CapNegotiable2
	return i
}

func TestGRPCPluginRefusesNonNegoExScheme(t *testing.T) {
	for _, scheme := range []sspi.Package{nil, notNegoEx{psk.New(psk.Config{})}} {
		err := (&plugin.GRPCPlugin{Impl: scheme}).GRPCServer(nil, grpc.NewServer())
		if err == nil {
			t.Errorf("GRPCServer(%T) registered a scheme NegoEx cannot negotiate", scheme)
		}
	}
	if err := (&plugin.GRPCPlugin{Impl: newPSK()}).GRPCServer(nil, grpc.NewServer()); err != nil {
		t.Error(err)
	}
}
