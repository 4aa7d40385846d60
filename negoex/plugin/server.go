package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gossp/gossp/negoex"
	pluginv1 "github.com/gossp/gossp/proto/gossp/plugin/v1"
	"github.com/gossp/gossp/sspi"
)

// schemeServer is the plugin end of the protocol: pluginv1.AuthSchemeServiceServer over an
// sspi.Package.
//
// Credentials and contexts are handles the host allocates: the request that makes one
// (AcquireCredentials, NewContext) names it, and later requests name it again. Zero and
// handles in use are refused; credentials and contexts are separate name spaces. Every
// SSPI outcome, including an unknown handle and a scheme that panicked, is a Result in
// the response; a gRPC error is left for the transport (and for Describe, which has no
// Result).
//
// Calls run concurrently. Handshake calls on one context (Step and the meta-data ones)
// are serialised, as a handshake is sequential; the rest go straight to the scheme,
// whose contexts are safe for concurrent use.
type schemeServer struct {
	pluginv1.UnimplementedAuthSchemeServiceServer

	scheme   sspi.Package
	name     string
	log      *slog.Logger
	features features // the additions to v1 served, and announced by Describe

	mu    sync.Mutex
	creds map[uint64]sspi.Credential // nil while being acquired
	ctxs  map[uint64]*servedContext  // nil while being made
}

// servedContext is a context and its side: exactly one of ini and acc is set.
type servedContext struct {
	sc  sspi.SecurityContext
	ini sspi.Initiator
	acc sspi.Acceptor

	handshake sync.Mutex // serialises Step, QueryMetaData and ExchangeMetaData
}

func newSchemeServer(scheme sspi.Package, log *slog.Logger) *schemeServer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &schemeServer{
		scheme:   scheme,
		name:     scheme.Info().Name,
		log:      log,
		features: featuresOf(servedFeatures),
		creds:    make(map[uint64]sspi.Credential),
		ctxs:     make(map[uint64]*servedContext),
	}
}

// resultOK is SEC_E_OK.
func resultOK() *pluginv1.Result { return &pluginv1.Result{} }

// resultOf is the Result of err: SEC_E_OK for nil, else its SSPI status and description.
func resultOf(err error) *pluginv1.Result {
	if err == nil {
		return resultOK()
	}
	st := sspi.StatusOf(err)
	if !st.IsFailure() {
		// An error must not read as success on the host.
		st = sspi.ErrInternal
	}
	return &pluginv1.Result{Status: uint32(st), Message: err.Error()}
}

// withDefaultStatus gives err the status def unless it already carries an SSPI status.
func withDefaultStatus(err error, def sspi.Status) error {
	var e *sspi.Error
	var s sspi.Status
	if err == nil || errors.As(err, &e) || errors.As(err, &s) {
		return err
	}
	return &sspi.Error{Status: def, Err: err}
}

// resultPanicked is what a call answers when the scheme panicked in it.
func resultPanicked() *pluginv1.Result {
	return &pluginv1.Result{Status: uint32(sspi.ErrInternal), Message: "scheme panicked"}
}

// catch turns a panic in the scheme into SEC_E_INTERNAL_ERROR, given to answer, so that
// one bad call cannot take the plugin process and every other context down. Every method
// defers it.
func (s *schemeServer) catch(method string, answer func(*pluginv1.Result)) {
	v := recover()
	if v == nil {
		return
	}
	s.log.Error("scheme panicked", "method", method, "panic", panicText(v), "stack", string(debug.Stack()))
	answer(resultPanicked())
}

// panicText formats a panic value, surviving a value whose formatting panics too.
func panicText(v any) (text string) {
	defer func() {
		if recover() != nil {
			text = fmt.Sprintf("unprintable %T", v)
		}
	}()
	return fmt.Sprint(v)
}

// claimHandle reserves handle h in m for an object being made; release or fill it after.
func claimHandle[V comparable](s *schemeServer, m map[uint64]V, h uint64, what string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if h == 0 {
		return sspi.Errorf(sspi.ErrInvalidHandle, "plugin: %s handle 0 is not a handle", what)
	}
	if _, used := m[h]; used {
		return sspi.Errorf(sspi.ErrInvalidHandle, "plugin: %s handle %d is already in use", what, h)
	}
	var pending V
	m[h] = pending
	return nil
}

// settleHandle fills a claimed handle with v, or releases it when v is the zero value (the
// object could not be made).
func settleHandle[V comparable](s *schemeServer, m map[uint64]V, h uint64, v V) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var zero V
	if v == zero {
		delete(m, h)
		return
	}
	m[h] = v
}

func (s *schemeServer) credential(h uint64) (sspi.Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.creds[h]; c != nil {
		return c, nil
	}
	return nil, sspi.Errorf(sspi.ErrInvalidHandle, "plugin: unknown credential handle %d", h)
}

func (s *schemeServer) context(h uint64) (*servedContext, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.ctxs[h]; e != nil {
		return e, nil
	}
	return nil, sspi.Errorf(sspi.ErrInvalidHandle, "plugin: unknown context handle %d", h)
}

// noJSONValue reports whether JSON data holds no value: empty, or null.
func noJSONValue(data []byte) bool {
	data = bytes.TrimSpace(data)
	return len(data) == 0 || string(data) == "null"
}

// wireSize converts a size for the wire, clamping what does not fit.
func wireSize(n int) uint32 {
	if n < 0 {
		return 0
	}
	if uint64(n) > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(n)
}

func (s *schemeServer) Describe(context.Context, *pluginv1.DescribeRequest) (resp *pluginv1.DescribeResponse, err error) {
	defer s.catch("Describe", func(*pluginv1.Result) {
		resp, err = nil, status.Error(codes.Internal, "scheme panicked")
	})
	info := s.scheme.Info()
	return &pluginv1.DescribeResponse{
		Name:             info.Name,
		Comment:          info.Comment,
		AuthScheme:       info.AuthScheme.String(),
		Capabilities:     uint32(info.Capabilities),
		Version:          uint32(info.Version),
		MaxToken:         wireSize(info.MaxToken),
		ProtocolVersions: []uint32{ProtocolVersion},
		Features:         s.features.list(),
	}, nil
}

// servedFeatures are the additions to v1 this side serves.
var servedFeatures = []pluginv1.Feature{
	pluginv1.Feature_FEATURE_NEW_CONTEXT_IN_CALL,
	pluginv1.Feature_FEATURE_META_DATA_AFTER_EXCHANGE,
	pluginv1.Feature_FEATURE_DELETE_MANY,
}

func (s *schemeServer) Configure(_ context.Context, req *pluginv1.ConfigureRequest) (resp *pluginv1.ConfigureResponse, _ error) {
	defer s.catch("Configure", func(r *pluginv1.Result) { resp = &pluginv1.ConfigureResponse{Result: r} })
	c, ok := s.scheme.(Configurable)
	if !ok {
		if noJSONValue(req.GetConfig()) {
			return &pluginv1.ConfigureResponse{Result: resultOK()}, nil
		}
		return &pluginv1.ConfigureResponse{Result: resultOf(sspi.Errorf(sspi.ErrUnsupportedFunction,
			"plugin: scheme %s takes no configuration", s.name))}, nil
	}
	err := withDefaultStatus(c.Configure(req.GetConfig()), sspi.ErrInvalidParameter)
	return &pluginv1.ConfigureResponse{Result: resultOf(err)}, nil
}

// credentialUseOf maps the wire enum to SECPKG_CRED_*; the numbers are the same.
func credentialUseOf(u pluginv1.CredentialUse) (sspi.CredentialUse, bool) {
	switch u {
	case pluginv1.CredentialUse_CREDENTIAL_USE_INBOUND:
		return sspi.CredentialsInbound, true
	case pluginv1.CredentialUse_CREDENTIAL_USE_OUTBOUND:
		return sspi.CredentialsOutbound, true
	case pluginv1.CredentialUse_CREDENTIAL_USE_BOTH:
		return sspi.CredentialsBoth, true
	}
	return 0, false
}

func (s *schemeServer) AcquireCredentials(ctx context.Context, req *pluginv1.AcquireCredentialsRequest) (resp *pluginv1.AcquireCredentialsResponse, _ error) {
	defer s.catch("AcquireCredentials", func(r *pluginv1.Result) { resp = &pluginv1.AcquireCredentialsResponse{Result: r} })
	fail := func(err error) (*pluginv1.AcquireCredentialsResponse, error) {
		return &pluginv1.AcquireCredentialsResponse{Result: resultOf(err)}, nil
	}
	use, ok := credentialUseOf(req.GetUse())
	if !ok {
		return fail(sspi.Errorf(sspi.ErrInvalidParameter, "plugin: credential use %v", req.GetUse()))
	}
	h := req.GetCredential()
	if err := claimHandle(s, s.creds, h, "credential"); err != nil {
		return fail(err)
	}
	var cred sspi.Credential
	defer func() { settleHandle(s, s.creds, h, cred) }() // runs on a panic too

	creq := sspi.CredentialRequest{Use: use, Principal: req.GetPrincipal()}
	if id := req.GetIdentity(); id != nil {
		creq.Identity = &sspi.Identity{User: id.GetUser(), Domain: id.GetDomain(), Password: id.GetPassword()}
	}
	if !noJSONValue(req.GetMaterial()) {
		d, ok := s.scheme.(MaterialDecoder)
		if !ok {
			return fail(sspi.Errorf(sspi.ErrUnknownCredentials, "plugin: scheme %s takes no credential material", s.name))
		}
		m, err := d.DecodeMaterial(use, req.GetMaterial())
		if err != nil {
			return fail(withDefaultStatus(err, sspi.ErrUnknownCredentials))
		}
		creq.Material = m
	}
	c, err := s.scheme.AcquireCredentials(ctx, creq)
	if err != nil {
		return fail(err)
	}
	if c == nil {
		return fail(sspi.Errorf(sspi.ErrInternal, "plugin: scheme %s returned no credential", s.name))
	}
	cred = c
	return &pluginv1.AcquireCredentialsResponse{Result: resultOK(), Principal: c.Attributes().Principal}, nil
}

func (s *schemeServer) FreeCredentials(_ context.Context, req *pluginv1.FreeCredentialsRequest) (resp *pluginv1.FreeCredentialsResponse, _ error) {
	defer s.catch("FreeCredentials", func(*pluginv1.Result) { resp = &pluginv1.FreeCredentialsResponse{} })
	h := req.GetCredential()
	s.mu.Lock()
	c := s.creds[h]
	if c != nil {
		delete(s.creds, h)
	}
	s.mu.Unlock()
	if c != nil {
		if err := c.Close(); err != nil {
			s.log.Debug("closing a credential failed", "handle", h, "error", err)
		}
	}
	return &pluginv1.FreeCredentialsResponse{}, nil
}

func bindingsOf(cb *pluginv1.ChannelBindings) *sspi.ChannelBindings {
	if cb == nil {
		return nil
	}
	return &sspi.ChannelBindings{
		InitiatorAddrType: cb.GetInitiatorAddrType(),
		InitiatorAddress:  cb.GetInitiatorAddress(),
		AcceptorAddrType:  cb.GetAcceptorAddrType(),
		AcceptorAddress:   cb.GetAcceptorAddress(),
		ApplicationData:   cb.GetApplicationData(),
	}
}

func (s *schemeServer) NewContext(_ context.Context, req *pluginv1.NewContextRequest) (resp *pluginv1.NewContextResponse, _ error) {
	defer s.catch("NewContext", func(r *pluginv1.Result) { resp = &pluginv1.NewContextResponse{Result: r} })
	return &pluginv1.NewContextResponse{Result: resultOf(s.newContext(req))}, nil
}

// newContext makes the context req names, for NewContext or for the call that carries
// it (FEATURE_NEW_CONTEXT_IN_CALL).
func (s *schemeServer) newContext(req *pluginv1.NewContextRequest) (err error) {
	h := req.GetContext()
	if err := claimHandle(s, s.ctxs, h, "context"); err != nil {
		return err
	}
	var entry *servedContext
	defer func() { settleHandle(s, s.ctxs, h, entry) }() // runs on a panic too

	cred, err := s.credential(req.GetCredential())
	if err != nil {
		return err
	}
	cfg := sspi.ContextConfig{
		Target:               req.GetTarget(),
		Flags:                sspi.ContextFlags(req.GetFlags()),
		ChannelBindings:      bindingsOf(req.GetChannelBindings()),
		AllowMissingBindings: req.GetAllowMissingBindings(),
	}
	e := &servedContext{}
	if req.GetInitiator() {
		e.ini, err = cred.NewInitiator(cfg)
		e.sc = e.ini
	} else {
		e.acc, err = cred.NewAcceptor(cfg)
		e.sc = e.acc
	}
	if err != nil {
		return err
	}
	if e.sc == nil {
		return sspi.Errorf(sspi.ErrInternal, "plugin: scheme %s returned no context", s.name)
	}
	entry = e
	return nil
}

// handshakeContext is the context a handshake call names, made first when the call
// carries its NewContextRequest.
func (s *schemeServer) handshakeContext(h uint64, nc *pluginv1.NewContextRequest) (*servedContext, error) {
	if nc != nil && s.features.has(pluginv1.Feature_FEATURE_NEW_CONTEXT_IN_CALL) {
		if nc.GetContext() != h {
			return nil, sspi.Errorf(sspi.ErrInvalidHandle, "plugin: the call names context %d and makes context %d", h, nc.GetContext())
		}
		if err := s.newContext(nc); err != nil {
			return nil, err
		}
	}
	return s.context(h)
}

func (s *schemeServer) QueryMetaData(ctx context.Context, req *pluginv1.QueryMetaDataRequest) (resp *pluginv1.QueryMetaDataResponse, _ error) {
	defer s.catch("QueryMetaData", func(r *pluginv1.Result) { resp = &pluginv1.QueryMetaDataResponse{Result: r} })
	e, err := s.handshakeContext(req.GetContext(), req.GetNewContext())
	if err != nil {
		return &pluginv1.QueryMetaDataResponse{Result: resultOf(err)}, nil
	}
	e.handshake.Lock()
	defer e.handshake.Unlock()
	return queryMetaData(ctx, e), nil
}

// queryMetaData asks a context for its meta-data; the caller holds e.handshake.
func queryMetaData(ctx context.Context, e *servedContext) *pluginv1.QueryMetaDataResponse {
	md, ok := e.sc.(negoex.MetaDataContext)
	if !ok {
		return &pluginv1.QueryMetaDataResponse{Result: resultOK()}
	}
	data, err := md.MetaData(ctx)
	if err != nil {
		return &pluginv1.QueryMetaDataResponse{Result: resultOf(err)}
	}
	return &pluginv1.QueryMetaDataResponse{Result: resultOK(), MetaData: data, HasMetaData: data != nil}
}

func (s *schemeServer) ExchangeMetaData(ctx context.Context, req *pluginv1.ExchangeMetaDataRequest) (resp *pluginv1.ExchangeMetaDataResponse, _ error) {
	defer s.catch("ExchangeMetaData", func(r *pluginv1.Result) { resp = &pluginv1.ExchangeMetaDataResponse{Result: r} })
	e, err := s.handshakeContext(req.GetContext(), req.GetNewContext())
	if err != nil {
		return &pluginv1.ExchangeMetaDataResponse{Result: resultOf(err)}, nil
	}
	e.handshake.Lock()
	defer e.handshake.Unlock()
	// As in process: a scheme without meta-data ignores the peer's.
	if md, ok := e.sc.(negoex.MetaDataContext); ok {
		if err := md.PeerMetaData(ctx, req.GetMetaData()); err != nil {
			return &pluginv1.ExchangeMetaDataResponse{Result: resultOf(err)}, nil
		}
	}
	resp = &pluginv1.ExchangeMetaDataResponse{Result: resultOK()}
	if req.GetQueryMetaData() && s.features.has(pluginv1.Feature_FEATURE_META_DATA_AFTER_EXCHANGE) {
		resp.MetaData = queryMetaData(ctx, e)
	}
	return resp, nil
}

func (s *schemeServer) Step(ctx context.Context, req *pluginv1.StepRequest) (resp *pluginv1.StepResponse, _ error) {
	defer s.catch("Step", func(r *pluginv1.Result) { resp = &pluginv1.StepResponse{Result: r} })
	e, err := s.handshakeContext(req.GetContext(), req.GetNewContext())
	if err != nil {
		return &pluginv1.StepResponse{Result: resultOf(err)}, nil
	}
	e.handshake.Lock()
	defer e.handshake.Unlock()
	var out []byte
	var st sspi.Status
	if e.ini != nil {
		out, st, err = e.ini.InitializeContext(ctx, req.GetInput())
	} else {
		out, st, err = e.acc.AcceptContext(ctx, req.GetInput())
	}
	r := resultOf(err)
	if err == nil {
		r.Status = uint32(st)
		if st.IsFailure() {
			r.Message = st.Error()
		}
	}
	// On failure the output may still hold a token for the peer (an error token).
	resp = &pluginv1.StepResponse{Result: r, Output: out}
	if err == nil {
		resp.State = s.state(e, false, true)
	}
	return resp, nil
}

func (s *schemeServer) QueryContext(_ context.Context, req *pluginv1.QueryContextRequest) (resp *pluginv1.QueryContextResponse, _ error) {
	defer s.catch("QueryContext", func(r *pluginv1.Result) { resp = &pluginv1.QueryContextResponse{Result: r} })
	e, err := s.context(req.GetContext())
	if err != nil {
		return &pluginv1.QueryContextResponse{Result: resultOf(err)}, nil
	}
	return s.state(e, req.GetSessionKey(), req.GetVerifyKeys()), nil
}

// state describes a context: its attributes and, on request, its session key and
// NegoEx keys.
func (s *schemeServer) state(e *servedContext, sessionKey, verifyKeys bool) *pluginv1.QueryContextResponse {
	a := e.sc.Attributes()
	resp := &pluginv1.QueryContextResponse{
		Result:          resultOK(),
		Established:     a.Established,
		Flags:           uint32(a.Flags),
		ClientName:      a.ClientName,
		ServerName:      a.ServerName,
		Authority:       a.Authority,
		MaxSignature:    wireSize(a.Sizes.MaxSignature),
		SecurityTrailer: wireSize(a.Sizes.SecurityTrailer),
		BlockSize:       wireSize(a.Sizes.BlockSize),
		Expiry:          expiryUnix(a.Expiry),
	}
	if sessionKey {
		key, err := e.sc.SessionKey()
		if err != nil {
			resp.Result = resultOf(err)
			return resp
		}
		resp.SessionKey = key
	}
	if verifyKeys {
		if k, ok := e.sc.(negoex.KeyedContext); ok {
			if sign, verify, ok := k.VerifyKeys(); ok {
				resp.HasVerifyKeys = true
				resp.SignKey = &pluginv1.Key{Etype: sign.Etype, Value: sign.Value}
				resp.VerifyKey = &pluginv1.Key{Etype: verify.Etype, Value: verify.Value}
			}
		}
	}
	return resp
}

// expiryUnix is an expiry in Unix seconds, 0 for none.
func expiryUnix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func (s *schemeServer) MakeSignature(_ context.Context, req *pluginv1.MakeSignatureRequest) (resp *pluginv1.MakeSignatureResponse, _ error) {
	defer s.catch("MakeSignature", func(r *pluginv1.Result) { resp = &pluginv1.MakeSignatureResponse{Result: r} })
	e, err := s.context(req.GetContext())
	if err != nil {
		return &pluginv1.MakeSignatureResponse{Result: resultOf(err)}, nil
	}
	sig, err := e.sc.MakeSignature(req.GetMessage())
	if err != nil {
		return &pluginv1.MakeSignatureResponse{Result: resultOf(err)}, nil
	}
	return &pluginv1.MakeSignatureResponse{Result: resultOK(), Signature: sig}, nil
}

func (s *schemeServer) VerifySignature(_ context.Context, req *pluginv1.VerifySignatureRequest) (resp *pluginv1.VerifySignatureResponse, _ error) {
	defer s.catch("VerifySignature", func(r *pluginv1.Result) { resp = &pluginv1.VerifySignatureResponse{Result: r} })
	e, err := s.context(req.GetContext())
	if err == nil {
		err = e.sc.VerifySignature(req.GetMessage(), req.GetSignature())
	}
	return &pluginv1.VerifySignatureResponse{Result: resultOf(err)}, nil
}

func (s *schemeServer) EncryptMessage(_ context.Context, req *pluginv1.EncryptMessageRequest) (resp *pluginv1.EncryptMessageResponse, _ error) {
	defer s.catch("EncryptMessage", func(r *pluginv1.Result) { resp = &pluginv1.EncryptMessageResponse{Result: r} })
	e, err := s.context(req.GetContext())
	if err != nil {
		return &pluginv1.EncryptMessageResponse{Result: resultOf(err)}, nil
	}
	tok, err := e.sc.EncryptMessage(req.GetMessage())
	if err != nil {
		return &pluginv1.EncryptMessageResponse{Result: resultOf(err)}, nil
	}
	return &pluginv1.EncryptMessageResponse{Result: resultOK(), Token: tok}, nil
}

func (s *schemeServer) DecryptMessage(_ context.Context, req *pluginv1.DecryptMessageRequest) (resp *pluginv1.DecryptMessageResponse, _ error) {
	defer s.catch("DecryptMessage", func(r *pluginv1.Result) { resp = &pluginv1.DecryptMessageResponse{Result: r} })
	e, err := s.context(req.GetContext())
	if err != nil {
		return &pluginv1.DecryptMessageResponse{Result: resultOf(err)}, nil
	}
	msg, err := e.sc.DecryptMessage(req.GetToken())
	if err != nil {
		return &pluginv1.DecryptMessageResponse{Result: resultOf(err)}, nil
	}
	return &pluginv1.DecryptMessageResponse{Result: resultOK(), Message: msg}, nil
}

func (s *schemeServer) DeleteContext(_ context.Context, req *pluginv1.DeleteContextRequest) (resp *pluginv1.DeleteContextResponse, _ error) {
	defer s.catch("DeleteContext", func(*pluginv1.Result) { resp = &pluginv1.DeleteContextResponse{} })
	s.deleteContext(req.GetContext())
	if s.features.has(pluginv1.Feature_FEATURE_DELETE_MANY) {
		for _, h := range req.GetMoreContexts() {
			s.deleteContext(h)
		}
	}
	return &pluginv1.DeleteContextResponse{}, nil
}

// deleteContext deletes a context; a panic in its Close is caught here, so that the
// other contexts of the call are deleted too.
func (s *schemeServer) deleteContext(h uint64) {
	defer s.catch("DeleteContext", func(*pluginv1.Result) {})
	s.mu.Lock()
	e := s.ctxs[h]
	if e != nil {
		delete(s.ctxs, h)
	}
	s.mu.Unlock()
	if e != nil {
		if err := e.sc.Close(); err != nil {
			s.log.Debug("closing a context failed", "handle", h, "error", err)
		}
	}
}
