package negoex

import (
	"context"
	"io"
	"sync"

	"github.com/gossp/gossp/internal/delegate"
	"github.com/gossp/gossp/sspi"
)

type phase int

const (
	phaseStart phase = iota
	phaseNegotiating
	phaseDone
	phaseFailed
)

// scheme is one auth scheme in a conversation.
type scheme struct {
	sub  *subCred
	ctx  sspi.SecurityContext
	done bool
}

func (s *scheme) guid() sspi.GUID { return s.sub.info.AuthScheme }

func (s *scheme) keys() (sign, verify Key, ok bool) {
	if k, is := s.ctx.(KeyedContext); is {
		return k.VerifyKeys()
	}
	return Key{}, Key{}, false
}

// pendingVerify is a peer VERIFY that arrived before we had the key to check it.
type pendingVerify struct {
	typ        uint32
	sum        []byte
	transcript int // length of the transcript the checksum covers
}

// ctxState is what both sides share. Message protection is the selected scheme's.
type ctxState struct {
	delegate.Protection

	cred      *credential
	cfg       sspi.ContextConfig
	initiator bool

	mu     sync.Mutex
	phase  phase
	closed bool

	conv       sspi.GUID
	seq        uint32    // the next sequence number, shared by both directions
	transcript []byte    // every message so far, both directions, in wire order
	schemes    []*scheme // the conversation's schemes, in negotiated order
	sel        *scheme   // the selected scheme

	sentVerify   bool
	resendVerify bool // the peer said VERIFY_NO_KEY
	peerVerified bool
	pending      *pendingVerify
	out          []byte // messages being built for this leg

	// Initiator only.
	gotAcceptorNego bool
	needStart       bool // the selected scheme has yet to produce its first token
	started         bool // the selected scheme was started after the first leg
}

func (s *ctxState) fail(op string, err error) ([]byte, sspi.Status, error) {
	s.phase = phaseFailed
	s.closeSchemes()
	err = sspi.WithOp(err, Name, op)
	return nil, sspi.StatusOf(err), err
}

func (s *ctxState) closeSchemes() {
	for _, sc := range s.schemes {
		sc.ctx.Close()
	}
}

func (s *ctxState) finished(op string) ([]byte, sspi.Status, error) {
	err := sspi.WithOp(sspi.Errorf(sspi.ErrInvalidToken, "the handshake has already ended"), Name, op)
	return nil, sspi.StatusOf(err), err
}

// emit appends an outgoing message with the next sequence number.
func (s *ctxState) emit(m *Message) {
	m.Seq, m.ConversationID = s.seq, s.conv
	s.seq++
	start := len(s.out)
	s.out = m.Append(s.out)
	s.transcript = append(s.transcript, s.out[start:]...)
}

// receive parses a token, checks conversation and sequence, and appends each message
// to the transcript as it is handed to f.
func (s *ctxState) receive(token []byte, f func(m *Message, before int) error) error {
	msgs, err := ParseMessages(token)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.ConversationID != s.conv {
			return invalid("%v belongs to another conversation", m.Type)
		}
		if m.Seq != s.seq {
			return invalid("%v has sequence number %d, expected %d", m.Type, m.Seq, s.seq)
		}
		s.seq++
		before := len(s.transcript)
		s.transcript = append(s.transcript, m.Raw...)
		if err := f(m, before); err != nil {
			return err
		}
	}
	return nil
}

func (s *ctxState) find(g sspi.GUID) *scheme {
	for _, sc := range s.schemes {
		if sc.guid() == g {
			return sc
		}
	}
	return nil
}

// usages: ours and the peer's VERIFY key usage.
func (s *ctxState) usages() (ours, peers uint32) {
	if s.initiator {
		return usageInitiatorVerify, usageAcceptorVerify
	}
	return usageAcceptorVerify, usageInitiatorVerify
}

// onVerify handles the peer's VERIFY for the selected scheme: check it now, or keep it
// until the scheme has keys.
func (s *ctxState) onVerify(m *Message, before int) error {
	if s.sel == nil || m.AuthScheme != s.sel.guid() {
		return nil // a VERIFY for a scheme we did not select carries no weight
	}
	s.pending = &pendingVerify{typ: m.ChecksumType, sum: m.Checksum, transcript: before}
	return nil
}

// settleVerify checks a pending peer VERIFY once keys exist, and says whether the
// peer must be told VERIFY_NO_KEY.
func (s *ctxState) settleVerify() (noKey bool, err error) {
	if s.pending == nil {
		return false, nil
	}
	_, verify, ok := s.sel.keys()
	if !ok || len(verify.Value) == 0 {
		return true, nil
	}
	_, usage := s.usages()
	if err := checkChecksum(verify, usage, s.transcript[:s.pending.transcript], s.pending.typ, s.pending.sum); err != nil {
		return false, err
	}
	s.pending, s.peerVerified = nil, true
	return false, nil
}

// maybeVerify emits our VERIFY once keys exist: once, and again only after the peer
// said it had no key.
func (s *ctxState) maybeVerify() error {
	if s.sentVerify && !s.resendVerify {
		return nil
	}
	sign, _, ok := s.sel.keys()
	if !ok {
		return nil
	}
	usage, _ := s.usages()
	typ, sum, err := makeChecksum(sign, usage, s.transcript)
	if err != nil {
		return err
	}
	s.emit(&Message{Type: Verify, AuthScheme: s.sel.guid(), ChecksumType: typ, Checksum: sum})
	s.sentVerify, s.resendVerify = true, false
	return nil
}

func (s *ctxState) alertNoKey() {
	s.emit(&Message{Type: Alert, AuthScheme: s.sel.guid(), Alerts: []AlertEntry{{Type: alertPulse, Value: pulseNoKey()}}})
}

// complete reports whether NegoEx is done: the scheme complete and both VERIFYs
// exchanged, the peer's checked.
func (s *ctxState) complete() bool {
	return s.sel != nil && s.sel.done && s.peerVerified && s.sentVerify
}

// finishLeg settles VERIFY, emits ours if due and returns the leg's result.
func (s *ctxState) finishLeg(op string) ([]byte, sspi.Status, error) {
	if s.sel != nil && s.sel.done {
		if _, verify, ok := s.sel.keys(); !ok || len(verify.Value) == 0 {
			return s.fail(op, sspi.Errorf(sspi.ErrInternal, "NegoEx: auth scheme %s completed without a key to VERIFY with", s.sel.sub.info.Name))
		}
	}
	noKey, err := s.settleVerify()
	if err != nil {
		return s.fail(op, err)
	}
	if noKey {
		s.alertNoKey()
	}
	if err := s.maybeVerify(); err != nil {
		return s.fail(op, err)
	}
	out := s.out
	s.out = nil
	if s.complete() {
		s.phase = phaseDone
		for _, sc := range s.schemes {
			if sc != s.sel {
				sc.ctx.Close()
			}
		}
		s.schemes = []*scheme{s.sel}
		return out, sspi.StatusOK, nil
	}
	if len(out) == 0 {
		return s.fail(op, invalid("the conversation stalled: nothing to send and not complete"))
	}
	return out, sspi.StatusContinueNeeded, nil
}

// initiator is NegoEx's client context.
type initiator struct{ ctxState }

func (c *initiator) InitializeContext(ctx context.Context, input []byte) ([]byte, sspi.Status, error) {
	const op = "InitializeContext"
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return nil, sspi.ErrInvalidHandle, sspi.WithOp(sspi.ErrInvalidHandle, Name, op)
	case c.phase == phaseStart:
		if len(input) > 0 {
			return c.fail(op, invalid("unexpected input on the first call"))
		}
		if err := c.start(ctx); err != nil {
			return c.fail(op, err)
		}
		c.phase = phaseNegotiating
		return c.finishLeg(op)
	case c.phase == phaseNegotiating:
		if err := c.step(ctx, input); err != nil {
			return c.fail(op, err)
		}
		return c.finishLeg(op)
	}
	return c.finished(op)
}

func (c *initiator) start(ctx context.Context) error {
	pkg := c.cred.pkg
	var random [32]byte
	var conv [16]byte
	if _, err := io.ReadFull(pkg.rand, conv[:]); err != nil {
		return sspi.Errorf(sspi.ErrInternal, "random: %w", err)
	}
	if _, err := io.ReadFull(pkg.rand, random[:]); err != nil {
		return sspi.Errorf(sspi.ErrInternal, "random: %w", err)
	}
	c.conv = sspi.GUIDFromWire(conv[:])
	metas := map[*scheme][]byte{}
	for _, sub := range c.cred.subs {
		ini, err := sub.cred.NewInitiator(c.cfg)
		if err != nil {
			pkg.logger.DebugContext(ctx, "negoex: scheme cannot initiate", "scheme", sub.info.Name, "err", err)
			continue
		}
		sc := &scheme{sub: sub, ctx: ini}
		if md, ok := ini.(MetaDataContext); ok {
			meta, err := md.MetaData(ctx)
			if err != nil {
				pkg.logger.DebugContext(ctx, "negoex: scheme meta-data failed", "scheme", sub.info.Name, "err", err)
				ini.Close()
				continue
			}
			metas[sc] = meta
		}
		c.schemes = append(c.schemes, sc)
	}
	// The optimistic token of the first scheme that can produce one; schemes that
	// fail before it are dropped, so the acceptor never picks them.
	var optimistic []byte
	if !pkg.noOptimist {
		for len(c.schemes) > 0 {
			sc := c.schemes[0]
			tok, st, err := sc.ctx.(sspi.Initiator).InitializeContext(ctx, nil)
			if err == nil {
				optimistic, sc.done = tok, st == sspi.StatusOK
				c.sel = sc
				break
			}
			pkg.logger.DebugContext(ctx, "negoex: scheme failed to start", "scheme", sc.sub.info.Name, "err", err)
			sc.ctx.Close()
			c.schemes = c.schemes[1:]
		}
	} else if len(c.schemes) > 0 {
		c.sel = c.schemes[0]
	}
	if len(c.schemes) == 0 {
		return sspi.Errorf(sspi.ErrNoCredentials, "no auth scheme can initiate")
	}
	nego := &Message{Type: InitiatorNego, Random: random}
	for _, sc := range c.schemes {
		nego.AuthSchemes = append(nego.AuthSchemes, sc.guid())
	}
	c.emit(nego)
	for _, sc := range c.schemes {
		if meta := metas[sc]; meta != nil {
			c.emit(&Message{Type: InitiatorMetaData, AuthScheme: sc.guid(), Exchange: meta})
		}
	}
	if len(optimistic) > 0 {
		c.emit(&Message{Type: APRequest, AuthScheme: c.sel.guid(), Exchange: optimistic})
	}
	return nil
}

func (c *initiator) step(ctx context.Context, input []byte) error {
	first := !c.gotAcceptorNego
	var challenge []byte
	var challengeFor *scheme
	err := c.receive(input, func(m *Message, before int) error {
		switch m.Type {
		case AcceptorNego:
			if !first || c.gotAcceptorNego {
				return invalid("a second ACCEPTOR_NEGO")
			}
			c.gotAcceptorNego = true
			if err := checkExtensions(m); err != nil {
				return err
			}
			if len(m.AuthSchemes) == 0 {
				return sspi.Errorf(sspi.ErrNoCredentials, "NegoEx: the acceptor has no auth scheme in common")
			}
			sel := c.find(m.AuthSchemes[0])
			if sel == nil {
				return invalid("the acceptor selected auth scheme %v, which was not offered", m.AuthSchemes[0])
			}
			if sel != c.sel {
				// The acceptor refused our optimistic choice: start again with its.
				if c.sel != nil {
					c.sel.ctx.Close()
					c.schemes = deleteScheme(c.schemes, c.sel)
				}
				c.sel, c.needStart = sel, true
				c.sentVerify, c.pending = false, nil
			} else if !c.startedSel() {
				c.needStart = true
			}
		case AcceptorMetaData:
			if first && !c.gotAcceptorNego {
				return invalid("ACCEPTOR_META_DATA before ACCEPTOR_NEGO")
			}
			if sc := c.find(m.AuthScheme); sc != nil {
				if md, ok := sc.ctx.(MetaDataContext); ok {
					if err := md.PeerMetaData(ctx, m.Exchange); err != nil && sc == c.sel {
						return err
					}
				}
			}
		case Challenge:
			if c.sel == nil || m.AuthScheme != c.sel.guid() {
				return invalid("CHALLENGE for auth scheme %v, not the selected one", m.AuthScheme)
			}
			if challengeFor != nil {
				return invalid("two CHALLENGE messages in one token")
			}
			challenge, challengeFor = m.Exchange, c.sel
		case Verify:
			return c.onVerify(m, before)
		case Alert:
			if c.sel != nil && m.AuthScheme == c.sel.guid() && m.VerifyNoKey() {
				c.resendVerify = true
			}
		default:
			return invalid("%v from the acceptor", m.Type)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if first && !c.gotAcceptorNego {
		return invalid("the acceptor's first token has no ACCEPTOR_NEGO")
	}
	ini := c.sel.ctx.(sspi.Initiator)
	var out []byte
	switch {
	case c.needStart:
		c.needStart = false
		if challenge != nil {
			return invalid("a CHALLENGE for a scheme that has not started")
		}
		tok, st, err := ini.InitializeContext(ctx, nil)
		if err != nil {
			return err
		}
		out, c.sel.done = tok, st == sspi.StatusOK
		c.started = true
	case challenge != nil:
		if c.sel.done {
			return invalid("a CHALLENGE after the scheme completed")
		}
		tok, st, err := ini.InitializeContext(ctx, challenge)
		if err != nil {
			return err
		}
		out, c.sel.done = tok, st == sspi.StatusOK
	}
	if len(out) > 0 {
		c.emit(&Message{Type: APRequest, AuthScheme: c.sel.guid(), Exchange: out})
	}
	return nil
}

func (c *initiator) startedSel() bool { return c.started || c.sel.done || !c.cred.pkg.noOptimist }

func deleteScheme(list []*scheme, s *scheme) []*scheme {
	out := list[:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// checkExtensions refuses critical extensions: NegoEx defines none we understand.
func checkExtensions(m *Message) error {
	for _, e := range m.Extensions {
		if e.Critical() {
			return sspi.Errorf(sspi.ErrUnsupportedFunction, "NegoEx: critical extension 0x%08x is not understood", e.Type)
		}
	}
	return nil
}

// acceptor is NegoEx's server context.
type acceptor struct{ ctxState }

func (c *acceptor) AcceptContext(ctx context.Context, input []byte) ([]byte, sspi.Status, error) {
	const op = "AcceptContext"
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return nil, sspi.ErrInvalidHandle, sspi.WithOp(sspi.ErrInvalidHandle, Name, op)
	case c.phase == phaseStart:
		if err := c.first(ctx, input); err != nil {
			return c.fail(op, err)
		}
		c.phase = phaseNegotiating
		return c.finishLeg(op)
	case c.phase == phaseNegotiating:
		if err := c.step(ctx, input); err != nil {
			return c.fail(op, err)
		}
		return c.finishLeg(op)
	}
	return c.finished(op)
}

func (c *acceptor) first(ctx context.Context, input []byte) error {
	pkg := c.cred.pkg
	msgs, err := ParseMessages(input)
	if err != nil {
		return err
	}
	if msgs[0].Type != InitiatorNego || msgs[0].Seq != 0 {
		return invalid("the first message is %v seq %d, not INITIATOR_NEGO seq 0", msgs[0].Type, msgs[0].Seq)
	}
	c.conv = msgs[0].ConversationID
	var offered []sspi.GUID
	metas := map[sspi.GUID][]byte{}
	var apFor sspi.GUID
	var apTok []byte
	var verifies []*Message
	var verifyAt []int
	err = c.receive(input, func(m *Message, before int) error {
		switch m.Type {
		case InitiatorNego:
			if offered != nil {
				return invalid("a second INITIATOR_NEGO")
			}
			if err := checkExtensions(m); err != nil {
				return err
			}
			offered = m.AuthSchemes
			if len(offered) == 0 {
				return invalid("INITIATOR_NEGO offers no auth scheme")
			}
		case InitiatorMetaData:
			metas[m.AuthScheme] = m.Exchange
		case APRequest:
			if apTok != nil {
				return invalid("two AP_REQUEST messages in one token")
			}
			apFor, apTok = m.AuthScheme, m.Exchange
		case Verify:
			verifies, verifyAt = append(verifies, m), append(verifyAt, before)
		case Alert:
		default:
			return invalid("%v from the initiator", m.Type)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Our schemes, in our preference order, that the initiator offered and whose
	// meta-data exchange works.
	ownMeta := map[*scheme][]byte{}
	for _, sub := range c.cred.subs {
		if !contains(offered, sub.info.AuthScheme) {
			continue
		}
		acc, err := sub.cred.NewAcceptor(c.cfg)
		if err != nil {
			continue
		}
		sc := &scheme{sub: sub, ctx: acc}
		if md, ok := acc.(MetaDataContext); ok {
			if peer, sent := metas[sub.info.AuthScheme]; sent {
				if err := md.PeerMetaData(ctx, peer); err != nil {
					pkg.logger.DebugContext(ctx, "negoex: scheme refused the initiator's meta-data", "scheme", sub.info.Name, "err", err)
					acc.Close()
					continue
				}
			}
			meta, err := md.MetaData(ctx)
			if err != nil {
				acc.Close()
				continue
			}
			ownMeta[sc] = meta
		}
		c.schemes = append(c.schemes, sc)
	}
	if len(c.schemes) == 0 {
		return sspi.Errorf(sspi.ErrNoCredentials, "NegoEx: no auth scheme in common with the initiator's %v", offered)
	}
	c.sel = c.schemes[0]
	var random [32]byte
	if _, err := io.ReadFull(pkg.rand, random[:]); err != nil {
		return sspi.Errorf(sspi.ErrInternal, "random: %w", err)
	}
	nego := &Message{Type: AcceptorNego, Random: random}
	for _, sc := range c.schemes {
		nego.AuthSchemes = append(nego.AuthSchemes, sc.guid())
	}
	c.emit(nego)
	for _, sc := range c.schemes {
		if meta := ownMeta[sc]; meta != nil {
			c.emit(&Message{Type: AcceptorMetaData, AuthScheme: sc.guid(), Exchange: meta})
		}
	}
	// The optimistic token counts only if it is for our first choice.
	if apTok != nil && apFor == c.sel.guid() {
		if err := c.acceptToken(ctx, apTok); err != nil {
			return err
		}
		for i, v := range verifies {
			if err := c.onVerify(v, verifyAt[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func contains(list []sspi.GUID, g sspi.GUID) bool {
	for _, x := range list {
		if x == g {
			return true
		}
	}
	return false
}

// acceptToken steps the selected scheme with an AP_REQUEST and emits its CHALLENGE.
func (c *acceptor) acceptToken(ctx context.Context, tok []byte) error {
	if c.sel.done {
		return invalid("an AP_REQUEST after the scheme completed")
	}
	out, st, err := c.sel.ctx.(sspi.Acceptor).AcceptContext(ctx, tok)
	if err != nil {
		return err
	}
	c.sel.done = st == sspi.StatusOK
	if len(out) > 0 {
		c.emit(&Message{Type: Challenge, AuthScheme: c.sel.guid(), Exchange: out})
	}
	return nil
}

func (c *acceptor) step(ctx context.Context, input []byte) error {
	var apTok []byte
	var verify *Message
	var verifyAt int
	err := c.receive(input, func(m *Message, before int) error {
		switch m.Type {
		case APRequest:
			if m.AuthScheme != c.sel.guid() {
				return invalid("AP_REQUEST for auth scheme %v, not the selected one", m.AuthScheme)
			}
			if apTok != nil {
				return invalid("two AP_REQUEST messages in one token")
			}
			apTok = m.Exchange
		case Verify:
			verify, verifyAt = m, before
		case Alert:
			if m.AuthScheme == c.sel.guid() && m.VerifyNoKey() {
				c.resendVerify = true
			}
		case InitiatorMetaData:
			// Late meta-data is allowed by the draft; it matters only before the scheme runs.
		default:
			return invalid("%v from the initiator after the first leg", m.Type)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if apTok != nil {
		if err := c.acceptToken(ctx, apTok); err != nil {
			return err
		}
	}
	if verify != nil {
		return c.onVerify(verify, verifyAt)
	}
	return nil
}

// Attributes implements sspi.SecurityContext: the selected scheme's attributes, with
// NegoEx in the path.
func (s *ctxState) Attributes() sspi.ContextAttributes {
	s.mu.Lock()
	defer s.mu.Unlock()
	var a sspi.ContextAttributes
	if s.sel != nil {
		a = s.sel.ctx.Attributes()
		// The scheme as NegoEx knows it: its registered name and GUID.
		a.Package, a.Path = s.sel.sub.info, []string{s.sel.sub.info.Name}
	} else {
		a.Package = s.cred.pkg.Info()
		a.Sizes.MaxToken = a.Package.MaxToken
	}
	a.Path = append([]string{Name}, a.Path...)
	a.MechOID = OID
	a.Initiator = s.initiator
	a.Established = s.phase == phaseDone
	switch s.phase {
	case phaseDone:
		a.State = sspi.NegotiationComplete
	case phaseFailed:
		a.State = sspi.NegotiationFailed
	default:
		a.State = sspi.NegotiationInProgress
	}
	if m := s.cred.pkg.Info().MaxToken; a.Sizes.MaxToken < m {
		a.Sizes.MaxToken = m
	}
	return a
}

// Unwrap returns the selected scheme's context, for sspi.ContextAs.
func (s *ctxState) Unwrap() sspi.SecurityContext {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sel == nil {
		return nil
	}
	return s.sel.ctx
}

func (s *ctxState) established(op string) (sspi.SecurityContext, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, sspi.WithOp(sspi.ErrInvalidHandle, Name, op)
	case s.phase != phaseDone:
		return nil, sspi.WithOp(sspi.Errorf(sspi.ErrNoContext, "NegoEx is not complete"), Name, op)
	}
	return s.sel.ctx, nil
}

// Close implements sspi.SecurityContext.
func (s *ctxState) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.closeSchemes()
	}
	return nil
}
