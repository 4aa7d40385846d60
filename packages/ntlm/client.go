package ntlm

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"

	"github.com/gossp/gossp/sspi"
)

// Initiator is NTLM's client context. Beyond sspi.Initiator it answers
// NegotiatedFlags and ResetCipher (for SPNEGO's mechListMIC).
type Initiator struct{ ctxState }

// clientFlags are the flags an initiator asks for before hearing the acceptor.
func (c *Initiator) clientFlags() NegotiateFlags {
	f := FlagUnicode | FlagOEM | FlagRequestTarget | FlagNTLM | FlagAlwaysSign |
		FlagExtendedSessionSecurity | FlagTargetInfo | FlagVersion | Flag128 | Flag56
	req := c.cfg.Flags
	if req&(sspi.FlagIntegrity|sspi.FlagReplayDetect|sspi.FlagSequenceDetect|sspi.FlagConfidentiality) != 0 {
		f |= FlagSign | FlagKeyExch
	}
	if req&sspi.FlagConfidentiality != 0 {
		f |= FlagSeal
	}
	if req&sspi.FlagIdentify != 0 {
		f |= FlagIdentify
	}
	if c.cred.anonymous {
		f |= FlagAnonymous
	}
	return f
}

// InitializeContext implements sspi.Initiator: NEGOTIATE on the first call,
// AUTHENTICATE (and completion) on the second.
func (c *Initiator) InitializeContext(ctx context.Context, input []byte) ([]byte, sspi.Status, error) {
	const op = "InitializeContext"
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, sspi.ErrInvalidHandle, sspi.WithOp(sspi.ErrInvalidHandle, Name, op)
	}
	switch c.phase {
	case phaseStart:
		if len(input) != 0 {
			return c.fail(op, sspi.Errorf(sspi.ErrInvalidToken, "unexpected input on the first call"))
		}
		v := c.cred.pkg.version
		neg := &NegotiateMessage{Flags: c.clientFlags(), Version: &v}
		out := neg.Marshal()
		c.flags = neg.Flags
		c.messages = append(c.messages, out)
		c.phase = phaseWaitChallenge
		return out, sspi.StatusContinueNeeded, nil
	case phaseWaitChallenge:
		out, err := c.authenticate(input)
		if err != nil {
			return c.fail(op, err)
		}
		return out, sspi.StatusOK, nil
	}
	return c.finished(op)
}

// authenticate answers a CHALLENGE.
func (c *Initiator) authenticate(input []byte) ([]byte, error) {
	ch, err := ParseChallenge(input)
	if err != nil {
		return nil, err
	}
	p := c.cred.pkg
	asked := c.flags
	// The acceptor picks from what we offered; anything else is a confused or hostile peer.
	flags := ch.Flags & asked
	if ch.Flags&(FlagSign|FlagSeal|FlagKeyExch|FlagExtendedSessionSecurity)&^asked != 0 {
		return nil, sspi.Errorf(sspi.ErrInvalidToken, "CHALLENGE selects flags that were not offered: %v", ch.Flags&^asked)
	}
	if flags.Has(FlagUnicode) {
		flags &^= FlagOEM
	} else if !flags.Has(FlagOEM) {
		return nil, sspi.Errorf(sspi.ErrInvalidToken, "CHALLENGE selects neither UNICODE nor OEM")
	}
	if !flags.Has(FlagExtendedSessionSecurity) && !p.cfg.AllowNTLMv1 && !c.cred.anonymous {
		return nil, sspi.Errorf(sspi.ErrUnsupportedFunction, "acceptor refuses extended session security; NTLMv1-era session security is not allowed")
	}
	if asked.Has(FlagSign) && !flags.Has(FlagSign) {
		return nil, sspi.Errorf(sspi.ErrUnsupportedFunction, "integrity was requested but the acceptor does not offer signing")
	}
	if asked.Has(FlagSeal) && !flags.Has(FlagSeal) {
		return nil, sspi.Errorf(sspi.ErrUnsupportedFunction, "confidentiality was requested but the acceptor does not offer sealing")
	}
	if flags.Has(FlagExtendedSessionSecurity) {
		flags &^= FlagLMKey
	}
	if !flags.Has(Flag128) && !flags.Has(Flag56) && flags.Has(FlagSeal) {
		return nil, sspi.Errorf(sspi.ErrUnsupportedFunction, "acceptor offers only 40-bit sealing")
	}
	c.flags = flags
	c.messages = append(c.messages, bytes.Clone(input)) // the caller may reuse its buffer

	v := p.version
	am := &AuthenticateMessage{Flags: flags, Version: &v, Workstation: p.cfg.Workstation}
	var exportedKey []byte
	micWanted := false
	switch {
	case c.cred.anonymous:
		// MS-NLMP 3.2.5.1.2: an anonymous AUTHENTICATE has an empty NT response and a
		// one-byte zero LM response; the session key is all zeros.
		am.Flags |= FlagAnonymous
		am.LMChallengeResponse = []byte{0}
		c.anon = true
		exportedKey = make([]byte, 16)
	default:
		am.User, am.Domain = c.cred.user, c.cred.domain
		var kx []byte
		if kx, micWanted, err = c.responses(am, ch); err != nil {
			return nil, err
		}
		exportedKey = kx
		if flags.Has(FlagKeyExch) && (flags.Has(FlagSign) || flags.Has(FlagSeal)) {
			exportedKey = make([]byte, 16)
			if _, err := io.ReadFull(p.rand, exportedKey); err != nil {
				return nil, sspi.Errorf(sspi.ErrInternal, "random session key: %w", err)
			}
			am.EncryptedRandomSessionKey = rc4K(kx, exportedKey)
		}
		c.user, c.domain = am.User, am.Domain
	}
	if micWanted {
		am.MIC = make([]byte, 16)
	}
	out := am.Marshal()
	if micWanted {
		mic := hmacMD5(exportedKey, c.messages[0], c.messages[1], out)
		copy(out[micOffset:authenticateMICEnd], mic)
	}
	c.establish(exportedKey)
	return out, nil
}

// responses fills the LM and NT responses of am and returns the key exchange key and
// whether the message carries a MIC.
func (c *Initiator) responses(am *AuthenticateMessage, ch *ChallengeMessage) (kx []byte, mic bool, err error) {
	p := c.cred.pkg
	clientChallenge := make([]byte, 8)
	if _, err := io.ReadFull(p.rand, clientChallenge); err != nil {
		return nil, false, sspi.Errorf(sspi.ErrInternal, "random client challenge: %w", err)
	}
	if !ch.Flags.Has(FlagTargetInfo) || ch.rawTargetInfo == nil {
		// No target info means an NTLMv1-only acceptor.
		if !p.cfg.AllowNTLMv1 {
			return nil, false, sspi.Errorf(sspi.ErrUnsupportedFunction, "acceptor sent no target info, so only NTLMv1 is possible, and NTLMv1 is not allowed")
		}
		if c.cred.lmHash == nil && !am.Flags.Has(FlagExtendedSessionSecurity) {
			return nil, false, sspi.Errorf(sspi.ErrUnsupportedFunction, "NTLMv1 without extended session security needs the password, not only its NT hash")
		}
		lmHash := c.cred.lmHash
		if lmHash == nil {
			lmHash = make([]byte, 16)
		}
		nt, lm, sbk := ntlmV1Responses(am.Flags, c.cred.ntHash, lmHash, ch.ServerChallenge[:], clientChallenge)
		am.NTChallengeResponse, am.LMChallengeResponse = nt, lm
		return kxKey(am.Flags, false, sbk, lm, lmHash, ch.ServerChallenge[:]), false, nil
	}

	// NTLMv2. Echo the acceptor's target info with our own pairs added.
	ts, hasTS := ch.TargetInfo.Timestamp()
	if !hasTS {
		ts = filetime(p.now())
	}
	pairs := make(AVPairs, 0, len(ch.TargetInfo)+3)
	avFlags := ch.TargetInfo.Flags()
	for _, a := range ch.TargetInfo {
		switch a.ID {
		case AvFlags, AvChannelBindings, AvTargetName:
			continue // ours replace them
		}
		pairs = append(pairs, a)
	}
	if hasTS {
		// With a timestamp the acceptor can check a MIC: send one and say so.
		avFlags |= AvFlagMICPresent
		mic = true
	}
	if avFlags != 0 {
		pairs = append(pairs, AVPair{ID: AvFlags, Value: binary.LittleEndian.AppendUint32(nil, avFlags)})
	}
	cb := c.cfg.ChannelBindings.MD5()
	pairs = append(pairs, AVPair{ID: AvChannelBindings, Value: cb[:]})
	if c.cfg.Target != "" {
		pairs = append(pairs, AVPair{ID: AvTargetName, Value: encodeUTF16LE(c.cfg.Target)})
	}
	responseKey := ntowfV2(c.cred.ntHash, am.User, am.Domain)
	blob := ntlmV2Blob(ts, clientChallenge, pairs.Marshal())
	nt, _, sbk := ntlmV2Response(responseKey, ch.ServerChallenge[:], blob)
	am.NTChallengeResponse = nt
	if hasTS {
		// MS-NLMP 3.1.5.1.2: with a timestamp the LM response is Z(24).
		am.LMChallengeResponse = make([]byte, 24)
	} else {
		am.LMChallengeResponse = lmV2Response(responseKey, ch.ServerChallenge[:], clientChallenge)
	}
	return sbk, mic, nil
}
