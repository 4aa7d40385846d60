package negotiate

import (
	"bytes"
	"context"
	"encoding/asn1"
	"errors"
	"log/slog"
	"slices"
	"sync"

	"github.com/gossp/gossp/internal/delegate"
	"github.com/gossp/gossp/sspi"
)

type phase int

const (
	phaseStart       phase = iota
	phaseHinted            // acceptor: sent NegTokenInit2, waiting for the initiator's NegTokenInit
	phaseNegotiating       // waiting for the peer's NegTokenResp
	phaseDone
	phaseFailed
)

// hintName is what Windows puts in NegTokenInit2's negHints.
const hintName = "not_defined_in_RFC4178@please_ignore"

// cipherResetter is implemented by mechanisms (NTLM) whose sealing state SPNEGO must
// reset after the mechListMIC (MS-SPNG 3.3.5.1).
type cipherResetter interface{ ResetCipher() error }

// ctxState is what both sides share. Message protection is the chosen mechanism's.
type ctxState struct {
	delegate.Protection

	cred      *credential
	cfg       sspi.ContextConfig
	initiator bool

	mu     sync.Mutex
	phase  phase
	closed bool

	rawMechTypes []byte     // MechTypeList's DER as it traveled: what the mechListMIC covers
	offered      []*subCred // initiator: the mechanisms it offered, in order (read only)
	sel          *subCred
	selOID       asn1.ObjectIdentifier // the negotiated OID, one of sel.oids
	selDER       []byte                // its DER contents
	inner        sspi.SecurityContext
	innerDone    bool
	optimistic   bool // initiator: the first choice is unconfirmed
	firstChoice  bool // the selected mechanism is the initiator's first
	micRequired  bool // the MIC exchange is mandatory (RFC 4178 5)
	sentMIC      bool
	gotMIC       bool
}

func (s *ctxState) fail(op string, err error, out []byte) ([]byte, sspi.Status, error) {
	s.phase = phaseFailed
	if s.inner != nil {
		s.inner.Close()
	}
	err = sspi.WithOp(err, Name, op)
	return out, sspi.StatusOf(err), err
}

func (s *ctxState) finished(op string) ([]byte, sspi.Status, error) {
	err := sspi.WithOp(sspi.Errorf(sspi.ErrInvalidToken, "the handshake has already ended"), Name, op)
	return nil, sspi.StatusOf(err), err
}

func closedErr(op string) ([]byte, sspi.Status, error) {
	return nil, sspi.ErrInvalidHandle, sspi.WithOp(sspi.ErrInvalidHandle, Name, op)
}

// integrity reports whether the inner context can sign the mechanism list.
func (s *ctxState) integrity() bool {
	return s.inner != nil && s.inner.Attributes().Flags&sspi.FlagIntegrity != 0
}

// makeMIC signs the mechanism list with the inner context.
func (s *ctxState) makeMIC() ([]byte, error) {
	mic, err := s.inner.MakeSignature(s.rawMechTypes)
	if err != nil {
		return nil, err
	}
	s.sentMIC = true
	if r, ok := s.inner.(cipherResetter); ok {
		if err := r.ResetCipher(); err != nil {
			return nil, err
		}
	}
	return mic, nil
}

// verifyMIC checks the peer's mechListMIC. A failure means the mechanism list was
// altered: a downgrade.
func (s *ctxState) verifyMIC(mic []byte) error {
	if err := s.inner.VerifySignature(s.rawMechTypes, mic); err != nil {
		return sspi.Errorf(sspi.ErrDowngradeDetected, "the mechListMIC does not verify: %w", err)
	}
	s.gotMIC = true
	if r, ok := s.inner.(cipherResetter); ok {
		return r.ResetCipher()
	}
	return nil
}

func marshalResp(t *NegTokenResp) []byte {
	b, err := t.Marshal()
	if err != nil {
		panic("negotiate: marshal NegTokenResp: " + err.Error()) // only fails on invalid OIDs, which we never build
	}
	return b
}

// rejectToken is the NegTokenResp that tells the peer negotiation failed.
func rejectToken() []byte {
	return marshalResp(&NegTokenResp{NegState: Reject, HasNegState: true})
}

// initiator is Negotiate's client context.
type initiator struct{ ctxState }

func (c *initiator) InitializeContext(ctx context.Context, input []byte) ([]byte, sspi.Status, error) {
	const op = "InitializeContext"
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return closedErr(op)
	case c.phase == phaseStart:
		out, err := c.start(ctx, input)
		if err != nil {
			return c.fail(op, err, nil)
		}
		return out, sspi.StatusContinueNeeded, nil
	case c.phase == phaseNegotiating:
		out, done, err := c.step(ctx, input)
		if err != nil {
			return c.fail(op, err, nil)
		}
		if done {
			c.phase = phaseDone
			return out, sspi.StatusOK, nil
		}
		return out, sspi.StatusContinueNeeded, nil
	}
	return c.finished(op)
}

// start builds the NegTokenInit with the optimistic token of the first mechanism that
// can produce one. input may be an acceptor-first NegTokenInit2, whose list then
// restricts ours.
func (c *initiator) start(ctx context.Context, input []byte) ([]byte, error) {
	candidates := c.cred.subs // shared with the credential: cloned before any change
	if len(input) > 0 || c.cred.pkg.ntlm == NTLMOnlyIfNoOther {
		candidates = slices.Clone(candidates)
	}
	if len(input) > 0 {
		var hint token
		if err := decodeToken(input, &hint); err != nil {
			return nil, err
		}
		if hint.resp {
			return nil, invalid("expected the acceptor's NegTokenInit2, got a NegTokenResp")
		}
		candidates = slices.DeleteFunc(candidates, func(s *subCred) bool { return !s.listed(hint.mechTypes) })
	}
	var mechToken []byte
	if c.cred.pkg.ntlm == NTLMOnlyIfNoOther {
		// Try the others first; NTLM stays only if none of them can start.
		slices.SortStableFunc(candidates, func(a, b *subCred) int { return boolInt(a.isNTLM()) - boolInt(b.isNTLM()) })
	}
	var errs []error
	for i, s := range candidates {
		if c.cred.pkg.ntlm == NTLMOnlyIfNoOther && s.isNTLM() && c.inner != nil {
			candidates = slices.DeleteFunc(candidates, (*subCred).isNTLM)
			break
		}
		if c.inner != nil {
			continue
		}
		inner, err := s.cred.NewInitiator(c.cfg)
		if err == nil {
			var tok []byte
			if tok, _, err = inner.InitializeContext(ctx, nil); err == nil && len(tok) > 0 {
				c.inner, c.sel, c.selOID = inner, s, s.oids[0]
				if s.derErr == nil { // else the mechTypes below fail
					c.selDER = s.der[0]
				}
				mechToken = tok
				// Mechanisms before this one could not start: they are not offered.
				candidates = candidates[i:]
				continue
			}
			inner.Close()
			if err == nil {
				err = sspi.Errorf(sspi.ErrInternal, "%s produced no initial token", s.info.Name)
			}
		}
		if l := c.cred.pkg.logger; l.Enabled(ctx, slog.LevelDebug) {
			l.DebugContext(ctx, "negotiate: mechanism cannot start", "package", s.info.Name, "err", err)
		}
		errs = append(errs, err)
	}
	if c.inner == nil {
		if len(errs) == 0 {
			return nil, sspi.Errorf(sspi.ErrNoCredentials, "no mechanism in common with the acceptor's hints")
		}
		return nil, sspi.Errorf(sspi.StatusOf(errs[0]), "no mechanism could start: %w", errors.Join(errs...))
	}
	// Offering every mechanism of the credential, as usual, is offering the list the
	// credential encoded once; mechanisms only read what they sign.
	raw, err := c.cred.mechTypes, c.cred.mechTypesErr
	if !slices.Equal(candidates, c.cred.subs) {
		raw, err = mechTypes(candidates)
	}
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrInternal, "mechTypes: %w", err)
	}
	c.rawMechTypes = raw
	c.offered = candidates
	c.optimistic, c.firstChoice = true, true
	c.phase = phaseNegotiating
	tok := &NegTokenInit{RawMechTypes: raw, MechToken: mechToken}
	return tok.Marshal()
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// step handles a NegTokenResp from the acceptor.
func (c *initiator) step(ctx context.Context, input []byte) (out []byte, done bool, err error) {
	var resp token
	if err := decodeToken(input, &resp); err != nil {
		return nil, false, err
	}
	if !resp.resp {
		return nil, false, invalid("expected a NegTokenResp, got a NegTokenInit")
	}
	if resp.hasNegState && resp.negState == Reject {
		if len(resp.responseToken) > 0 && !c.innerDone {
			// The mechanism's own error (a KRB-ERROR) says more than "reject".
			if _, _, ierr := c.inner.(sspi.Initiator).InitializeContext(ctx, bytes.Clone(resp.responseToken)); ierr != nil {
				return nil, false, ierr
			}
		}
		return nil, false, sspi.Errorf(sspi.ErrLogonDenied, "the acceptor rejected the negotiation")
	}
	var mechOut []byte
	if c.optimistic {
		c.optimistic = false
		if resp.supportedMech == nil {
			return nil, false, invalid("the acceptor's first answer names no mechanism")
		}
		if c.sel.index(resp.supportedMech) < 0 {
			// The acceptor chose a later mechanism: drop the optimistic context and
			// start the chosen one. The MIC exchange is now mandatory.
			s, _ := findIn(c.offered, resp.supportedMech)
			if s == nil {
				return nil, false, invalid("the acceptor chose %v, which was not offered", parseOID(resp.supportedMech))
			}
			c.inner.Close()
			c.inner = nil
			// The mechanism must be able to sign the now mandatory MIC, so it is asked
			// for integrity even when the application was not (as Windows' Negotiate
			// does): NTLM negotiates no signing otherwise, MIT and Samba then complete
			// without the MIC their own request-mic asked for, and the fall-back can
			// never succeed.
			cfg := c.cfg
			cfg.Flags |= sspi.FlagIntegrity
			inner, err := s.cred.NewInitiator(cfg)
			if err != nil {
				return nil, false, err
			}
			c.inner, c.sel, c.firstChoice, c.micRequired = inner, s, false, true
			if len(resp.responseToken) > 0 {
				return nil, false, invalid("the acceptor sent a mechanism token for a mechanism not yet started")
			}
			if mechOut, _, err = inner.InitializeContext(ctx, nil); err != nil {
				return nil, false, err
			}
		}
		i := c.sel.index(resp.supportedMech)
		c.selOID, c.selDER = c.sel.oids[i], c.sel.der[i]
	} else if resp.supportedMech != nil && !bytes.Equal(resp.supportedMech, c.selDER) {
		return nil, false, invalid("the acceptor changed the mechanism mid-negotiation")
	}
	if resp.hasNegState && resp.negState == RequestMIC {
		c.micRequired = true
	}
	acceptorDone := resp.hasNegState && resp.negState == AcceptCompleted

	if len(resp.responseToken) > 0 && mechOut == nil {
		if c.innerDone {
			return nil, false, invalid("a mechanism token after the mechanism completed")
		}
		var st sspi.Status
		// The mechanism gets its own copy, which it may keep (NTLM keeps its messages
		// for its MIC): the caller may reuse input once we return.
		if mechOut, st, err = c.inner.(sspi.Initiator).InitializeContext(ctx, bytes.Clone(resp.responseToken)); err != nil {
			return nil, false, err
		}
		c.innerDone = st == sspi.StatusOK
	}
	if !c.innerDone {
		if acceptorDone {
			return nil, false, invalid("the acceptor completed before the mechanism did")
		}
		if len(mechOut) == 0 {
			return nil, false, invalid("the mechanism needs another token but produced none")
		}
		return marshalResp(&NegTokenResp{ResponseToken: mechOut}), false, nil
	}

	// The mechanism is established: the mechListMIC exchange.
	if resp.mechListMIC != nil {
		// Old servers echo the response token as the MIC. Accept that only when no
		// downgrade was possible: the first choice, and no MIC demanded.
		echoed := bytes.Equal(resp.mechListMIC, resp.responseToken) && c.firstChoice && !c.micRequired
		if !echoed {
			if err := c.verifyMIC(resp.mechListMIC); err != nil {
				return nil, false, err
			}
		}
	}
	if acceptorDone {
		if c.micRequired && !c.gotMIC {
			return nil, false, sspi.Errorf(sspi.ErrDowngradeDetected, "the acceptor completed without the required mechListMIC")
		}
		if len(mechOut) > 0 {
			return nil, false, invalid("the acceptor completed but the mechanism has a token to send")
		}
		return nil, true, nil
	}
	// Send our MIC with the mechanism's last token (as Windows does whenever the
	// mechanism can sign), or alone when the exchange is mandatory.
	var mic []byte
	if !c.sentMIC && (len(mechOut) > 0 || c.micRequired || c.gotMIC) && c.integrity() {
		if mic, err = c.makeMIC(); err != nil {
			return nil, false, err
		}
	}
	if len(mechOut) == 0 && mic == nil {
		return nil, false, invalid("the acceptor expects more but there is nothing to send")
	}
	// Having checked the acceptor's MIC, our MIC is the last word: the acceptor
	// completes on it without answering.
	return marshalResp(&NegTokenResp{ResponseToken: mechOut, MechListMIC: mic}), c.gotMIC && mic != nil, nil
}

// acceptor is Negotiate's server context.
type acceptor struct{ ctxState }

func (c *acceptor) AcceptContext(ctx context.Context, input []byte) ([]byte, sspi.Status, error) {
	const op = "AcceptContext"
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return closedErr(op)
	case c.phase == phaseStart && len(input) == 0:
		// Acceptor first (SMB2): advertise our mechanisms in a NegTokenInit2.
		c.phase = phaseHinted
		return c.hints()
	case c.phase == phaseStart || c.phase == phaseHinted:
		out, done, err := c.first(ctx, input)
		if err != nil {
			if out == nil {
				out = rejectToken()
			}
			return c.fail(op, err, out)
		}
		if done {
			c.phase = phaseDone
			return out, sspi.StatusOK, nil
		}
		c.phase = phaseNegotiating
		return out, sspi.StatusContinueNeeded, nil
	case c.phase == phaseNegotiating:
		out, done, err := c.step(ctx, input)
		if err != nil {
			return c.fail(op, err, rejectToken())
		}
		if done {
			c.phase = phaseDone
			return out, sspi.StatusOK, nil
		}
		return out, sspi.StatusContinueNeeded, nil
	}
	return c.finished(op)
}

func (c *acceptor) hints() ([]byte, sspi.Status, error) {
	err := c.cred.mechTypesErr
	var out []byte
	if err == nil {
		tok := &NegTokenInit{RawMechTypes: c.cred.mechTypes, NegHints: &NegHints{HintName: hintName}}
		out, err = tok.Marshal()
	}
	if err != nil {
		return c.fail("AcceptContext", sspi.Errorf(sspi.ErrInternal, "NegTokenInit2: %w", err), nil)
	}
	return out, sspi.StatusContinueNeeded, nil
}

// first handles the initiator's NegTokenInit: choose the first mechanism in the
// initiator's order that we have, and run its optimistic token if it is that first one.
func (c *acceptor) first(ctx context.Context, input []byte) (out []byte, done bool, err error) {
	var init token
	if err := decodeToken(input, &init); err != nil {
		return nil, false, err
	}
	if init.resp {
		return nil, false, invalid("expected a NegTokenInit, got a NegTokenResp")
	}
	if init.hints {
		return nil, false, invalid("a NegTokenInit2 is the acceptor's, not the initiator's")
	}
	c.rawMechTypes = bytes.Clone(init.rawMechTypes)
	for l := init.mechTypes; len(l) > 0; {
		before := init.mechTypes[:len(init.mechTypes)-len(l)]
		var oid []byte
		oid, l = l.next()
		if s, i := c.cred.find(oid); s != nil {
			c.sel, c.selOID, c.selDER = s, s.oids[i], s.der[i]
			// Kerberos is offered under two OIDs; either being first makes it first.
			c.firstChoice = len(before) == 0 || s.listed(before)
			break
		}
	}
	if c.sel == nil {
		return nil, false, sspi.Errorf(sspi.ErrNoCredentials, "no mechanism in common with the initiator's %v", init.mechTypes.oids())
	}
	inner, err := c.sel.cred.NewAcceptor(c.cfg)
	if err != nil {
		return nil, false, err
	}
	c.inner = inner
	if !c.firstChoice || init.mechToken == nil {
		// The optimistic token, if any, was for another mechanism: ask for the chosen
		// one's first token, and demand the MIC exchange that protects this choice.
		c.micRequired = !c.firstChoice
		st := AcceptIncomplete
		if c.micRequired {
			st = RequestMIC
		}
		return marshalResp(&NegTokenResp{NegState: st, HasNegState: true, SupportedMech: c.selOID}), false, nil
	}
	out, done, err = c.mech(ctx, init.mechToken, init.mechListMIC, true)
	if err != nil && errors.Is(err, sspi.ErrNoCredentials) {
		// The first choice has nothing in common with the initiator after all — NegoEx
		// with no shared auth scheme, as when a Windows 11 client offers NegoEx first —
		// so choose the next common mechanism, as Windows' acceptor does, and protect
		// that choice with the MIC exchange.
		if next := c.nextCommon(init.mechTypes); next != nil {
			c.inner.Close()
			c.innerDone = false
			inner, nerr := next.cred.NewAcceptor(c.cfg)
			if nerr != nil {
				return nil, false, nerr
			}
			c.inner, c.sel, c.firstChoice, c.micRequired = inner, next, false, true
			for l := init.mechTypes; len(l) > 0; {
				var oid []byte
				oid, l = l.next()
				if i := next.index(oid); i >= 0 {
					c.selOID, c.selDER = next.oids[i], next.der[i]
					break
				}
			}
			return marshalResp(&NegTokenResp{NegState: RequestMIC, HasNegState: true, SupportedMech: c.selOID}), false, nil
		}
	}
	return out, done, err
}

// nextCommon is the first mechanism after the selected one, in the initiator's order,
// that we have credentials for.
func (c *acceptor) nextCommon(offered mechList) *subCred {
	for l := offered; len(l) > 0; {
		var oid []byte
		oid, l = l.next()
		if s, _ := c.cred.find(oid); s != nil && s != c.sel {
			return s
		}
	}
	return nil
}

// step handles a NegTokenResp from the initiator.
func (c *acceptor) step(ctx context.Context, input []byte) (out []byte, done bool, err error) {
	var resp token
	if err := decodeToken(input, &resp); err != nil {
		return nil, false, err
	}
	if !resp.resp {
		return nil, false, invalid("expected a NegTokenResp, got a NegTokenInit")
	}
	// MIT's initiator sends negState in its tokens; only a reject means anything.
	if resp.hasNegState && resp.negState == Reject {
		return nil, false, sspi.Errorf(sspi.ErrLogonDenied, "the initiator rejected the negotiation")
	}
	if resp.supportedMech != nil && !bytes.Equal(resp.supportedMech, c.selDER) {
		return nil, false, invalid("the initiator changed the mechanism")
	}
	return c.mech(ctx, resp.responseToken, resp.mechListMIC, false)
}

// mech feeds a mechanism token (and a MIC) to the inner acceptor and builds the answer.
// tok and mic alias the caller's input.
func (c *acceptor) mech(ctx context.Context, tok, mic []byte, first bool) (out []byte, done bool, err error) {
	var mechOut []byte
	if len(tok) > 0 {
		if c.innerDone {
			return nil, false, invalid("a mechanism token after the mechanism completed")
		}
		var st sspi.Status
		// The mechanism gets its own copy, which it may keep (NTLM keeps its messages
		// for its MIC): the caller may reuse input once we return.
		mechOut, st, err = c.inner.(sspi.Acceptor).AcceptContext(ctx, bytes.Clone(tok))
		if err != nil {
			// Pass the mechanism's error token (a KRB-ERROR) inside the reject.
			return marshalResp(&NegTokenResp{NegState: Reject, HasNegState: true, ResponseToken: mechOut}), false, err
		}
		c.innerDone = st == sspi.StatusOK
	} else if mic == nil {
		return nil, false, invalid("a NegTokenResp with neither a mechanism token nor a MIC")
	}
	resp := &NegTokenResp{ResponseToken: mechOut, HasNegState: true}
	if first {
		resp.SupportedMech = c.selOID
	}
	if !c.innerDone {
		if mic != nil {
			return nil, false, invalid("a mechListMIC before the mechanism completed")
		}
		resp.NegState = AcceptIncomplete
		return marshalResp(resp), false, nil
	}
	if mic != nil {
		if err := c.verifyMIC(mic); err != nil {
			return nil, false, err
		}
	}
	if c.micRequired && !c.gotMIC {
		if c.sentMIC || len(tok) == 0 {
			return nil, false, sspi.Errorf(sspi.ErrDowngradeDetected, "the initiator did not send the required mechListMIC")
		}
		// We completed first (a mechanism whose last token is ours): send our MIC and
		// wait for the initiator's.
		if !c.integrity() {
			return nil, false, sspi.Errorf(sspi.ErrDowngradeDetected, "the mechanism cannot sign the mechListMIC the negotiation requires")
		}
		if resp.MechListMIC, err = c.makeMIC(); err != nil {
			return nil, false, err
		}
		resp.NegState = AcceptIncomplete
		return marshalResp(resp), false, nil
	}
	if c.sentMIC {
		return nil, true, nil // the initiator's MIC answered ours: nothing more to say
	}
	resp.NegState = AcceptCompleted
	if c.gotMIC && c.integrity() {
		if resp.MechListMIC, err = c.makeMIC(); err != nil {
			return nil, false, err
		}
	}
	return marshalResp(resp), true, nil
}

// Attributes implements sspi.SecurityContext: the inner mechanism's attributes under
// Negotiate's path and negotiation state.
func (s *ctxState) Attributes() sspi.ContextAttributes {
	s.mu.Lock()
	defer s.mu.Unlock()
	var a sspi.ContextAttributes
	if s.inner != nil {
		a = s.inner.Attributes()
	} else {
		a.Package = s.cred.pkg.Info()
		a.Sizes = sspi.Sizes{MaxToken: a.Package.MaxToken}
	}
	a.Path = append([]string{Name}, a.Path...)
	if s.selOID != nil {
		a.MechOID = slices.Clone(s.selOID) // s.selOID is the sub-package's own
	}
	a.Initiator = s.initiator
	a.Established = s.phase == phaseDone
	switch {
	case s.phase == phaseDone:
		a.State = sspi.NegotiationComplete
	case s.phase == phaseFailed:
		a.State = sspi.NegotiationFailed
	case s.optimistic:
		a.State = sspi.NegotiationOptimistic
	default:
		a.State = sspi.NegotiationInProgress
	}
	if a.Sizes.MaxToken < s.cred.pkg.Info().MaxToken {
		a.Sizes.MaxToken = s.cred.pkg.Info().MaxToken
	}
	if s.initiator && a.ServerName == "" {
		a.ServerName = s.cfg.Target
	}
	return a
}

// Unwrap returns the chosen mechanism's context, for sspi.ContextAs.
func (s *ctxState) Unwrap() sspi.SecurityContext {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inner
}

// established returns the inner context once Negotiate has completed.
func (s *ctxState) established(op string) (sspi.SecurityContext, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return nil, sspi.WithOp(sspi.ErrInvalidHandle, Name, op)
	case s.phase != phaseDone:
		return nil, sspi.WithOp(sspi.Errorf(sspi.ErrNoContext, "negotiation is not complete"), Name, op)
	}
	return s.inner, nil
}

// Close implements sspi.SecurityContext.
func (s *ctxState) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.inner != nil {
		return s.inner.Close()
	}
	return nil
}
