package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/gossp/gossp/negoex"
	pluginv1 "github.com/gossp/gossp/proto/gossp/plugin/v1"
	"github.com/gossp/gossp/sspi"
)

// grpcDialOptions are the host's options for its connection to a plugin: the
// protocol's message limits, and static flow-control windows. A unix socket to a
// local process has no bandwidth-delay product to probe: with gRPC's default dynamic
// windows, every call's answer set off a BDP ping and a window update, two more
// frames and wake-ups each way on a call that needs one frame each way. The window
// is large enough that small messages never wait for an update.
func grpcDialOptions() []grpc.DialOption {
	return append([]grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageSize), grpc.MaxCallSendMsgSize(maxMessageSize)),
		grpc.WithInitialWindowSize(flowWindow),
		grpc.WithInitialConnWindowSize(flowWindow),
	}, testDialOptions...)
}

// flowWindow is the static HTTP/2 flow-control window, per stream and per connection,
// on both sides.
const flowWindow = 1 << 20

// testDialOptions are added by tests (a call counter).
var testDialOptions []grpc.DialOption

// result turns a response's Result into an SSPI status and error.
func result(r *pluginv1.Result) (sspi.Status, error) {
	st := sspi.Status(r.GetStatus())
	if !st.IsFailure() {
		return st, nil
	}
	return st, &sspi.Error{Status: st, Err: fmt.Errorf("%s", r.GetMessage())}
}

// remotePackage is a plugin's scheme as an sspi.Package.
type remotePackage struct{ m *managed }

func (p *remotePackage) Info() sspi.PackageInfo {
	p.m.mu.Lock()
	defer p.m.mu.Unlock()
	return p.m.info
}

// call runs f against the live plugin with the host's per-call deadline.
func (m *managed) call(ctx context.Context, f func(ctx context.Context, c pluginv1.AuthSchemeServiceClient) error) (uint64, error) {
	c, gen, err := m.conn()
	if err != nil {
		return 0, err
	}
	cctx, cancel := context.WithTimeout(ctx, m.host.cfg.CallTimeout)
	defer cancel()
	if err := f(cctx, c); err != nil {
		return gen, m.failed(gen, err)
	}
	return gen, nil
}

// AcquireCredentials acquires in the plugin. Material is sent as JSON.
func (p *remotePackage) AcquireCredentials(ctx context.Context, req sspi.CredentialRequest) (sspi.Credential, error) {
	c := &remoteCred{m: p.m, req: req}
	if err := c.acquire(ctx); err != nil {
		return nil, sspi.WithOp(err, p.m.cand.manifest.Name, "AcquireCredentials")
	}
	return c, nil
}

// remoteCred is a credential in a plugin. After a plugin restart it is acquired again
// in the new process, from the request kept here.
type remoteCred struct {
	m   *managed
	req sspi.CredentialRequest

	mu        sync.Mutex
	id, gen   uint64
	principal string
	closed    bool
	lazy      map[*remoteCtx]struct{} // its contexts the plugin has not made yet
}

func (c *remoteCred) acquire(ctx context.Context) error {
	pr := &pluginv1.AcquireCredentialsRequest{
		Credential: c.m.newID(),
		Use:        pluginv1.CredentialUse(c.req.Use),
		Principal:  c.req.Principal,
	}
	if id := c.req.Identity; id != nil {
		pr.Identity = &pluginv1.Identity{User: id.User, Domain: id.Domain, Password: id.Password}
	}
	if c.req.Material != nil {
		b, err := json.Marshal(c.req.Material)
		if err != nil {
			return sspi.Errorf(sspi.ErrUnknownCredentials, "material cannot be sent to a plugin: %w", err)
		}
		pr.Material = b
	}
	var resp *pluginv1.AcquireCredentialsResponse
	gen, err := c.m.call(ctx, func(ctx context.Context, cl pluginv1.AuthSchemeServiceClient) (err error) {
		resp, err = cl.AcquireCredentials(ctx, pr)
		return err
	})
	if err != nil {
		return err
	}
	if _, err := result(resp.GetResult()); err != nil {
		return err
	}
	c.id, c.gen, c.principal = pr.Credential, gen, resp.GetPrincipal()
	return nil
}

// current returns the credential's handle in the live process and that process's
// generation, acquiring the credential again after a restart.
func (c *remoteCred) current(ctx context.Context) (id, gen uint64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, 0, sspi.ErrInvalidHandle
	}
	_, gen, err = c.m.conn()
	if err != nil {
		return 0, 0, err
	}
	if gen != c.gen {
		if err := c.acquire(ctx); err != nil {
			return 0, 0, err
		}
	}
	return c.id, c.gen, nil
}

func (c *remoteCred) Attributes() sspi.CredentialAttributes {
	return sspi.CredentialAttributes{Package: c.m.cand.manifest.Name, Use: c.req.Use, Principal: c.principal}
}

// newContext makes a context. A plugin that makes contexts on their first call
// (FEATURE_NEW_CONTEXT_IN_CALL) is not called now: the request goes with the context's
// first handshake call, which NegoEx makes at once (meta-data), saving a round trip. A
// scheme's refusal to make the context is then that call's error; NegoEx drops the
// scheme either way.
func (c *remoteCred) newContext(cfg sspi.ContextConfig, initiator bool) (*remoteCtx, error) {
	ctx := context.Background()
	credID, gen, err := c.current(ctx)
	if err != nil {
		return nil, err
	}
	x := &remoteCtx{m: c.m, cred: c, id: c.m.newID(), gen: gen, initiator: initiator, features: c.m.featuresOf(gen)}
	req := &pluginv1.NewContextRequest{
		Context: x.id, Credential: credID, Initiator: initiator, Target: cfg.Target,
		Flags: uint32(cfg.Flags), AllowMissingBindings: cfg.AllowMissingBindings,
	}
	if cb := cfg.ChannelBindings; cb != nil {
		req.ChannelBindings = &pluginv1.ChannelBindings{
			InitiatorAddrType: cb.InitiatorAddrType, InitiatorAddress: cb.InitiatorAddress,
			AcceptorAddrType: cb.AcceptorAddrType, AcceptorAddress: cb.AcceptorAddress,
			ApplicationData: cb.ApplicationData,
		}
	}
	if x.features.has(pluginv1.Feature_FEATURE_NEW_CONTEXT_IN_CALL) {
		x.newReq = req
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed {
			return nil, sspi.ErrInvalidHandle
		}
		if c.lazy == nil {
			c.lazy = make(map[*remoteCtx]struct{})
		}
		c.lazy[x] = struct{}{}
		return x, nil
	}
	x.made = true
	var resp *pluginv1.NewContextResponse
	x.gen, err = c.m.call(ctx, func(ctx context.Context, cl pluginv1.AuthSchemeServiceClient) (err error) {
		resp, err = cl.NewContext(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	if _, err := result(resp.GetResult()); err != nil {
		return nil, err
	}
	return x, nil
}

func (c *remoteCred) NewInitiator(cfg sspi.ContextConfig) (sspi.Initiator, error) {
	x, err := c.newContext(cfg, true)
	if err != nil {
		return nil, sspi.WithOp(err, c.m.cand.manifest.Name, "NewInitiator")
	}
	return x, nil
}

func (c *remoteCred) NewAcceptor(cfg sspi.ContextConfig) (sspi.Acceptor, error) {
	x, err := c.newContext(cfg, false)
	if err != nil {
		return nil, sspi.WithOp(err, c.m.cand.manifest.Name, "NewAcceptor")
	}
	return x, nil
}

func (c *remoteCred) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	lazy := c.lazy
	c.lazy = nil
	c.mu.Unlock()
	// Its contexts outlive it, as contexts do: those the plugin has not made yet are
	// made now, while it can.
	for x := range lazy {
		x.makeNow()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Only the process that holds it can free it; a crashed one took it along.
	if _, gen, err := c.m.conn(); err == nil && gen == c.gen {
		c.m.call(context.Background(), func(ctx context.Context, cl pluginv1.AuthSchemeServiceClient) error {
			_, err := cl.FreeCredentials(ctx, &pluginv1.FreeCredentialsRequest{Credential: c.id})
			return err
		})
	}
	return nil
}

// remoteCtx is a context in a plugin. It lives and dies with the process generation
// that made it: after a crash every call fails cleanly.
type remoteCtx struct {
	m         *managed
	cred      *remoteCred
	id, gen   uint64
	initiator bool
	features  features // of the process generation gen

	// making is held by the call that makes the context in the plugin, so that no
	// other call overtakes it.
	making sync.Mutex
	newReq *pluginv1.NewContextRequest // not sent yet: the plugin has no such context

	mu     sync.Mutex
	closed bool
	made   bool // a call that makes the context has been sent: Close must delete it
	// Once established, a context's attributes and keys no longer change: they are
	// fetched once, not on every question NegoEx and Negotiate ask.
	attrs    *sspi.ContextAttributes
	keysSet  bool
	sign, vk negoex.Key
	// metaData is this side's meta-data, answered with the peer's (an acceptor's, which
	// NegoEx asks for next): the next MetaData takes it instead of a round trip.
	metaData *pluginv1.QueryMetaDataResponse
}

// invoke calls the plugin for this context, refusing if the process that holds it is
// gone. A context not yet made in the plugin is made first: by the call itself when it
// can carry the NewContextRequest (f receives it, else nil), or by a NewContext call.
func (x *remoteCtx) invoke(ctx context.Context, op string, carries bool, f func(ctx context.Context, cl pluginv1.AuthSchemeServiceClient, nc *pluginv1.NewContextRequest) (*pluginv1.Result, error)) (sspi.Status, error) {
	if x.isClosed() {
		return sspi.ErrInvalidHandle, sspi.WithOp(sspi.ErrInvalidHandle, x.m.cand.manifest.Name, op)
	}
	nc := x.pending()
	if nc != nil {
		defer x.making.Unlock()
		x.sending()
		if !carries {
			st, err := x.call(ctx, op, func(ctx context.Context, cl pluginv1.AuthSchemeServiceClient) (*pluginv1.Result, error) {
				r, err := cl.NewContext(ctx, nc)
				return r.GetResult(), err
			})
			if err != nil {
				return st, err
			}
			nc = nil
		}
	}
	return x.call(ctx, op, func(ctx context.Context, cl pluginv1.AuthSchemeServiceClient) (*pluginv1.Result, error) {
		return f(ctx, cl, nc)
	})
}

// makeNow makes the context in the plugin if no call has yet.
func (x *remoteCtx) makeNow() {
	nc := x.pending()
	if nc == nil {
		return
	}
	defer x.making.Unlock()
	x.sending()
	// A failure shows in the context's next call, which the plugin will not know.
	x.call(context.Background(), "NewContext", func(ctx context.Context, cl pluginv1.AuthSchemeServiceClient) (*pluginv1.Result, error) {
		r, err := cl.NewContext(ctx, nc)
		return r.GetResult(), err
	})
}

// sending records that the request making the context is being sent: the plugin
// makes the context or says why not. The caller holds x.making.
func (x *remoteCtx) sending() {
	x.newReq = nil
	x.mu.Lock()
	x.made = true
	x.mu.Unlock()
	x.cred.mu.Lock()
	delete(x.cred.lazy, x)
	x.cred.mu.Unlock()
}

// pending returns the context's NewContextRequest while the plugin has not been sent
// it, holding x.making; nil otherwise.
func (x *remoteCtx) pending() *pluginv1.NewContextRequest {
	x.making.Lock()
	if x.newReq == nil {
		x.making.Unlock()
		return nil
	}
	return x.newReq
}

func (x *remoteCtx) isClosed() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.closed
}

// call runs one call of this context with the host's per-call deadline.
func (x *remoteCtx) call(ctx context.Context, op string, f func(ctx context.Context, cl pluginv1.AuthSchemeServiceClient) (*pluginv1.Result, error)) (sspi.Status, error) {
	var res *pluginv1.Result
	gen, err := x.m.call(ctx, func(ctx context.Context, cl pluginv1.AuthSchemeServiceClient) (err error) {
		res, err = f(ctx, cl)
		return err
	})
	if err == nil && gen != x.gen {
		err = sspi.Errorf(sspi.ErrInternal, "plugin %s restarted: the context was lost", x.m.cand.manifest.Name)
	}
	if err != nil {
		return sspi.StatusOf(err), sspi.WithOp(err, x.m.cand.manifest.Name, op)
	}
	st, err := result(res)
	return st, sspi.WithOp(err, x.m.cand.manifest.Name, op)
}

func (x *remoteCtx) step(ctx context.Context, op string, input []byte) ([]byte, sspi.Status, error) {
	var out []byte
	var state *pluginv1.QueryContextResponse
	st, err := x.invoke(ctx, op, true, func(ctx context.Context, cl pluginv1.AuthSchemeServiceClient, nc *pluginv1.NewContextRequest) (*pluginv1.Result, error) {
		r, err := cl.Step(ctx, &pluginv1.StepRequest{Context: x.id, Input: input, NewContext: nc})
		out, state = r.GetOutput(), r.GetState()
		return r.GetResult(), err
	})
	if err == nil {
		x.mu.Lock()
		// The step's answer carries what NegoEx asks next (keys, and the attributes
		// once established): keep it rather than ask again. A verify key may come a leg
		// after the sign key (PKU2U's initiator).
		if state.GetHasVerifyKeys() && (!x.keysSet || len(x.vk.Value) == 0) {
			x.sign = negoex.Key{Etype: state.GetSignKey().GetEtype(), Value: state.GetSignKey().GetValue()}
			x.vk = negoex.Key{Etype: state.GetVerifyKey().GetEtype(), Value: state.GetVerifyKey().GetValue()}
			x.keysSet = true
		}
		x.mu.Unlock()
		if state.GetEstablished() {
			x.cacheAttributes(state)
		}
	}
	return out, st, err
}

func (x *remoteCtx) InitializeContext(ctx context.Context, input []byte) ([]byte, sspi.Status, error) {
	return x.step(ctx, "InitializeContext", input)
}

func (x *remoteCtx) AcceptContext(ctx context.Context, input []byte) ([]byte, sspi.Status, error) {
	return x.step(ctx, "AcceptContext", input)
}

// MetaData implements negoex.MetaDataContext.
func (x *remoteCtx) MetaData(ctx context.Context) ([]byte, error) {
	x.mu.Lock()
	r := x.metaData
	x.metaData = nil
	x.mu.Unlock()
	if r != nil && !x.isClosed() {
		// Answered with the peer's meta-data, a moment ago.
		_, err := result(r.GetResult())
		return metaDataOf(r), sspi.WithOp(err, x.m.cand.manifest.Name, "QueryMetaData")
	}
	_, err := x.invoke(ctx, "QueryMetaData", true, func(ctx context.Context, cl pluginv1.AuthSchemeServiceClient, nc *pluginv1.NewContextRequest) (*pluginv1.Result, error) {
		resp, err := cl.QueryMetaData(ctx, &pluginv1.QueryMetaDataRequest{Context: x.id, NewContext: nc})
		r = resp
		return resp.GetResult(), err
	})
	if err != nil {
		return nil, err
	}
	return metaDataOf(r), nil
}

// metaDataOf is the meta-data of an answer: nil for none, never nil when there is
// some, even empty.
func metaDataOf(r *pluginv1.QueryMetaDataResponse) []byte {
	if !r.GetHasMetaData() {
		return nil
	}
	if md := r.GetMetaData(); md != nil {
		return md
	}
	return []byte{}
}

// PeerMetaData implements negoex.MetaDataContext. An acceptor's plugin answers this
// side's meta-data with it, which NegoEx asks for next.
func (x *remoteCtx) PeerMetaData(ctx context.Context, data []byte) error {
	query := !x.initiator && x.features.has(pluginv1.Feature_FEATURE_META_DATA_AFTER_EXCHANGE)
	var own *pluginv1.QueryMetaDataResponse
	_, err := x.invoke(ctx, "ExchangeMetaData", true, func(ctx context.Context, cl pluginv1.AuthSchemeServiceClient, nc *pluginv1.NewContextRequest) (*pluginv1.Result, error) {
		r, err := cl.ExchangeMetaData(ctx, &pluginv1.ExchangeMetaDataRequest{Context: x.id, MetaData: data, NewContext: nc, QueryMetaData: query})
		own = r.GetMetaData()
		return r.GetResult(), err
	})
	if err == nil && query && own != nil {
		x.mu.Lock()
		x.metaData = own
		x.mu.Unlock()
	}
	return err
}

func (x *remoteCtx) query(sessionKey, verifyKeys bool) (*pluginv1.QueryContextResponse, error) {
	var resp *pluginv1.QueryContextResponse
	_, err := x.invoke(context.Background(), "QueryContext", false, func(ctx context.Context, cl pluginv1.AuthSchemeServiceClient, _ *pluginv1.NewContextRequest) (*pluginv1.Result, error) {
		r, err := cl.QueryContext(ctx, &pluginv1.QueryContextRequest{Context: x.id, SessionKey: sessionKey, VerifyKeys: verifyKeys})
		resp = r
		return r.GetResult(), err
	})
	return resp, err
}

// VerifyKeys implements negoex.KeyedContext. Keys appear only with a step, and every
// step's answer carries them, so this never needs a round trip of its own.
func (x *remoteCtx) VerifyKeys() (sign, verify negoex.Key, ok bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.sign, x.vk, x.keysSet
}

func (x *remoteCtx) Attributes() sspi.ContextAttributes {
	x.mu.Lock()
	if x.attrs != nil {
		defer x.mu.Unlock()
		a := *x.attrs
		a.Path = append([]string(nil), a.Path...)
		return a
	}
	x.mu.Unlock()
	r, err := x.query(false, false)
	if err != nil {
		a := x.attrsFrom(nil)
		a.State = sspi.NegotiationFailed
		return a
	}
	if r.GetEstablished() {
		return x.cacheAttributes(r)
	}
	return x.attrsFrom(r)
}

// attrsFrom builds attributes from a plugin's description of the context.
func (x *remoteCtx) attrsFrom(r *pluginv1.QueryContextResponse) sspi.ContextAttributes {
	x.m.mu.Lock()
	info := x.m.info
	x.m.mu.Unlock()
	a := sspi.ContextAttributes{Package: info, Path: []string{info.Name}, Initiator: x.initiator,
		Sizes: sspi.Sizes{MaxToken: info.MaxToken}}
	if r == nil {
		return a
	}
	a.Established = r.GetEstablished()
	if a.Established {
		a.State = sspi.NegotiationComplete
	}
	a.Flags = sspi.ContextFlags(r.GetFlags())
	a.ClientName, a.ServerName, a.Authority = r.GetClientName(), r.GetServerName(), r.GetAuthority()
	a.Sizes.MaxSignature = int(r.GetMaxSignature())
	a.Sizes.SecurityTrailer = int(r.GetSecurityTrailer())
	a.Sizes.BlockSize = int(r.GetBlockSize())
	if e := r.GetExpiry(); e != 0 {
		a.Expiry = time.Unix(e, 0)
	}
	return a
}

// cacheAttributes keeps an established context's attributes: they no longer change.
func (x *remoteCtx) cacheAttributes(r *pluginv1.QueryContextResponse) sspi.ContextAttributes {
	a := x.attrsFrom(r)
	x.mu.Lock()
	x.attrs = &a
	x.mu.Unlock()
	return a
}

func (x *remoteCtx) SessionKey() ([]byte, error) {
	r, err := x.query(true, false)
	if err != nil {
		return nil, err
	}
	return r.GetSessionKey(), nil
}

func (x *remoteCtx) MakeSignature(msg []byte) ([]byte, error) {
	var sig []byte
	_, err := x.invoke(context.Background(), "MakeSignature", false, func(ctx context.Context, cl pluginv1.AuthSchemeServiceClient, _ *pluginv1.NewContextRequest) (*pluginv1.Result, error) {
		r, err := cl.MakeSignature(ctx, &pluginv1.MakeSignatureRequest{Context: x.id, Message: msg})
		sig = r.GetSignature()
		return r.GetResult(), err
	})
	return sig, err
}

func (x *remoteCtx) VerifySignature(msg, sig []byte) error {
	_, err := x.invoke(context.Background(), "VerifySignature", false, func(ctx context.Context, cl pluginv1.AuthSchemeServiceClient, _ *pluginv1.NewContextRequest) (*pluginv1.Result, error) {
		r, err := cl.VerifySignature(ctx, &pluginv1.VerifySignatureRequest{Context: x.id, Message: msg, Signature: sig})
		return r.GetResult(), err
	})
	return err
}

func (x *remoteCtx) EncryptMessage(msg []byte) ([]byte, error) {
	var tok []byte
	_, err := x.invoke(context.Background(), "EncryptMessage", false, func(ctx context.Context, cl pluginv1.AuthSchemeServiceClient, _ *pluginv1.NewContextRequest) (*pluginv1.Result, error) {
		r, err := cl.EncryptMessage(ctx, &pluginv1.EncryptMessageRequest{Context: x.id, Message: msg})
		tok = r.GetToken()
		return r.GetResult(), err
	})
	return tok, err
}

func (x *remoteCtx) DecryptMessage(tok []byte) ([]byte, error) {
	var msg []byte
	_, err := x.invoke(context.Background(), "DecryptMessage", false, func(ctx context.Context, cl pluginv1.AuthSchemeServiceClient, _ *pluginv1.NewContextRequest) (*pluginv1.Result, error) {
		r, err := cl.DecryptMessage(ctx, &pluginv1.DecryptMessageRequest{Context: x.id, Token: tok})
		msg = r.GetMessage()
		return r.GetResult(), err
	})
	if err == nil && msg == nil {
		msg = []byte{}
	}
	return msg, err
}

// Close releases the context. The plugin's copy is deleted in the background, with
// others closed about then, in one call (see managed.deleteLater); a context no call
// has made in the plugin costs no call at all.
func (x *remoteCtx) Close() error {
	x.making.Lock() // a making call in flight ends first
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		x.making.Unlock()
		return nil
	}
	x.closed = true
	made := x.made
	x.metaData = nil
	x.mu.Unlock()
	if x.newReq != nil {
		x.newReq = nil // never to be made
		x.cred.mu.Lock()
		delete(x.cred.lazy, x)
		x.cred.mu.Unlock()
	}
	x.making.Unlock()
	if made {
		x.m.deleteLater(x.gen, x.id)
	}
	return nil
}
