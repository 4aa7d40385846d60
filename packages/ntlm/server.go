package ntlm

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"io"

	"github.com/gossp/gossp/sspi"
)

// Acceptor is NTLM's server context. Beyond sspi.Acceptor it answers NegotiatedFlags,
// Workstation and ResetCipher (for SPNEGO's mechListMIC).
type Acceptor struct {
	ctxState
	serverChallenge [8]byte
}

// serverFlags are the flags an acceptor can grant.
const serverFlags = FlagUnicode | FlagOEM | FlagRequestTarget | FlagSign | FlagSeal |
	FlagNTLM | FlagAlwaysSign | FlagExtendedSessionSecurity | FlagIdentify |
	FlagTargetInfo | FlagVersion | Flag128 | FlagKeyExch | Flag56 | FlagAnonymous

// AcceptContext implements sspi.Acceptor: CHALLENGE for a NEGOTIATE, then completion
// (with no output token) for a valid AUTHENTICATE.
func (c *Acceptor) AcceptContext(ctx context.Context, input []byte) ([]byte, sspi.Status, error) {
	const op = "AcceptContext"
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, sspi.ErrInvalidHandle, sspi.WithOp(sspi.ErrInvalidHandle, Name, op)
	}
	switch c.phase {
	case phaseStart:
		out, err := c.challenge(input)
		if err != nil {
			return c.fail(op, err)
		}
		c.phase = phaseWaitAuthenticate
		return out, sspi.StatusContinueNeeded, nil
	case phaseWaitAuthenticate:
		if err := c.verify(ctx, input); err != nil {
			return c.fail(op, err)
		}
		return nil, sspi.StatusOK, nil
	}
	return c.finished(op)
}

func (c *Acceptor) challenge(input []byte) ([]byte, error) {
	neg, err := ParseNegotiate(input)
	if err != nil {
		return nil, err
	}
	p := c.cred.pkg
	offered := neg.Flags
	flags := offered & serverFlags
	switch {
	case flags.Has(FlagUnicode):
		flags &^= FlagOEM
	case !flags.Has(FlagOEM):
		return nil, sspi.Errorf(sspi.ErrInvalidToken, "NEGOTIATE offers neither UNICODE nor OEM")
	}
	if !flags.Has(FlagNTLM) {
		return nil, sspi.Errorf(sspi.ErrUnsupportedFunction, "NEGOTIATE does not offer NTLM")
	}
	if !flags.Has(FlagExtendedSessionSecurity) && !p.cfg.AllowNTLMv1 {
		return nil, sspi.Errorf(sspi.ErrUnsupportedFunction, "client does not offer extended session security; NTLMv1-era session security is not allowed")
	}
	if flags.Has(FlagSeal) && !flags.Has(Flag128) && !flags.Has(Flag56) {
		return nil, sspi.Errorf(sspi.ErrUnsupportedFunction, "client offers only 40-bit sealing")
	}
	// 128 and 56 both stay when both were offered (MS-NLMP 2.2.2.5: the server MUST
	// return 56 if the client sent it); SEALKEY takes 128 first.
	flags |= FlagTargetInfo | FlagTargetTypeDomain | FlagVersion
	if _, err := io.ReadFull(p.rand, c.serverChallenge[:]); err != nil {
		return nil, sspi.Errorf(sspi.ErrInternal, "random challenge: %w", err)
	}
	ti := make([]byte, 0, len(p.targetInfo)+12+4)
	ti = append(ti, p.targetInfo...)
	ti = binary.LittleEndian.AppendUint16(ti, AvTimestamp)
	ti = binary.LittleEndian.AppendUint16(ti, 8)
	ti = binary.LittleEndian.AppendUint64(ti, filetime(p.now()))
	ti = append(ti, 0, 0, 0, 0) // MsvAvEOL
	v := p.version
	ch := &ChallengeMessage{
		Flags:           flags,
		ServerChallenge: c.serverChallenge,
		Version:         &v,
		rawTargetInfo:   ti,
		rawTargetName:   p.targetName,
	}
	out := ch.Marshal()
	c.flags = flags
	c.messages = append(c.messages, bytes.Clone(input), out) // the caller may reuse its buffer
	return out, nil
}

// errLogonDenied is the one answer to every credential failure, so a client learns
// nothing about which part was wrong.
func errLogonDenied() error {
	return sspi.Errorf(sspi.ErrLogonDenied, "the user name or password is incorrect")
}

func (c *Acceptor) verify(ctx context.Context, input []byte) error {
	am, err := ParseAuthenticate(input)
	if err != nil {
		return err
	}
	p := c.cred.pkg
	const keyFlags = FlagSign | FlagSeal | FlagKeyExch | FlagExtendedSessionSecurity | Flag128 | Flag56
	if extra := am.Flags & keyFlags &^ c.flags; extra != 0 {
		return sspi.Errorf(sspi.ErrInvalidToken, "AUTHENTICATE claims flags the CHALLENGE did not offer: %v", extra)
	}
	// The AUTHENTICATE's flags are the final word on what was negotiated, within what
	// we offered.
	c.flags = am.Flags & c.flags
	c.ws = am.Workstation

	if am.User == "" && len(am.NTChallengeResponse) == 0 &&
		(len(am.LMChallengeResponse) == 0 || (len(am.LMChallengeResponse) == 1 && am.LMChallengeResponse[0] == 0)) {
		if !p.cfg.AllowAnonymous {
			p.logger.DebugContext(ctx, "ntlm: anonymous logon refused")
			return sspi.Errorf(sspi.ErrLogonDenied, "anonymous logons are not allowed")
		}
		c.anon = true
		c.establish(make([]byte, 16))
		return nil
	}
	if am.User == "" {
		return errLogonDenied()
	}
	acct, err := c.cred.db.LookupUser(ctx, am.Domain, am.User)
	unknown := false
	switch {
	case errors.Is(err, ErrNoSuchUser):
		// Go on with a key nobody has, so an unknown user costs the same work and gets
		// the same answer as a wrong password.
		unknown = true
		acct = Account{User: am.User, Domain: am.Domain, NTHash: make([]byte, 16)}
		if _, err := io.ReadFull(p.rand, acct.NTHash); err != nil {
			return sspi.Errorf(sspi.ErrInternal, "random: %w", err)
		}
	case err != nil:
		return sspi.Errorf(sspi.ErrNoAuthenticatingAuth, "user database: %w", err)
	case len(acct.NTHash) != 16:
		return sspi.Errorf(sspi.ErrInternal, "user database returned an NT hash of %d bytes", len(acct.NTHash))
	}

	var kx []byte
	var clientPairs AVPairs
	switch n := len(am.NTChallengeResponse); {
	case n == 24:
		if !p.cfg.AllowNTLMv1 {
			p.logger.DebugContext(ctx, "ntlm: NTLMv1 response refused")
			return sspi.Errorf(sspi.ErrLogonDenied, "NTLMv1 responses are not allowed")
		}
		if kx, err = c.verifyV1(am, acct); err != nil {
			return err
		}
	case n >= 16+28+4:
		if kx, clientPairs, err = c.verifyV2(am, acct); err != nil {
			return err
		}
	default:
		return sspi.Errorf(sspi.ErrInvalidToken, "NT response of %d bytes is neither NTLMv1 nor NTLMv2", n)
	}
	if unknown {
		return errLogonDenied() // verifyV2 cannot succeed with a random key; belt and braces
	}

	exportedKey := kx
	switch {
	case c.flags.Has(FlagKeyExch) && (c.flags.Has(FlagSign) || c.flags.Has(FlagSeal)):
		if len(am.EncryptedRandomSessionKey) != 16 {
			return sspi.Errorf(sspi.ErrInvalidToken, "KEY_EXCH negotiated but the encrypted session key has %d bytes", len(am.EncryptedRandomSessionKey))
		}
		exportedKey = rc4K(kx, am.EncryptedRandomSessionKey)
	case c.flags.Has(FlagKeyExch) && len(am.EncryptedRandomSessionKey) == 16:
		// MS-NLMP exchanges the key only with SIGN or SEAL, and its clients send no
		// EncryptedRandomSessionKey without them. Samba's and impacket's clients send
		// one whenever KEY_EXCH is negotiated and use it as the exported session key,
		// MIC included (Samba's and gss-ntlmssp's acceptors take it likewise): take the
		// key the client sent, so both ends hold the same session key.
		exportedKey = rc4K(kx, am.EncryptedRandomSessionKey)
	}

	avFlags := clientPairs.Flags()
	switch {
	case avFlags&AvFlagMICPresent != 0:
		if !am.micPresent {
			return sspi.Errorf(sspi.ErrInvalidToken, "MsvAvFlags announces a MIC but the message has no room for one")
		}
		zeroed := append([]byte(nil), input...)
		clear(zeroed[micOffset:authenticateMICEnd])
		want := hmacMD5(exportedKey, c.messages[0], c.messages[1], zeroed)
		if !hmac.Equal(want, am.MIC) {
			return sspi.Errorf(sspi.ErrMessageAltered, "the MIC does not verify: the handshake was altered")
		}
	case p.cfg.RequireMIC:
		return sspi.Errorf(sspi.ErrLogonDenied, "the client sent no MIC and one is required")
	}

	var cb [16]byte
	if v, ok := clientPairs.Get(AvChannelBindings); ok && len(v) == 16 {
		copy(cb[:], v)
	}
	if err := sspi.CheckBindings(c.cfg.ChannelBindings, cb, c.cfg.AllowMissingBindings); err != nil {
		return err
	}

	c.user, c.domain = am.User, am.Domain
	if acct.User != "" {
		c.user = acct.User
	}
	if acct.Domain != "" {
		c.domain = acct.Domain
	}
	c.establish(exportedKey)
	return nil
}

// verifyV2 checks an NTLMv2 response and returns the key exchange key and the client's
// AV pairs.
func (c *Acceptor) verifyV2(am *AuthenticateMessage, acct Account) ([]byte, AVPairs, error) {
	resp := am.NTChallengeResponse
	proof, blob := resp[:16], resp[16:]
	if blob[0] != 1 || blob[1] != 1 {
		return nil, nil, sspi.Errorf(sspi.ErrInvalidToken, "NTLMv2 response version %d.%d", blob[0], blob[1])
	}
	pairs, err := ParseAVPairs(blob[28:])
	if err != nil {
		return nil, nil, err
	}
	// The client computed NTOWFv2 with the domain it typed; try that first, then the
	// account's own domain and no domain, as Windows and Samba do.
	domains := []string{am.Domain}
	if acct.Domain != "" && acct.Domain != am.Domain {
		domains = append(domains, acct.Domain)
	}
	if am.Domain != "" {
		domains = append(domains, "")
	}
	for _, d := range domains {
		key := ntowfV2(acct.NTHash, am.User, d)
		want := hmacMD5(key, c.serverChallenge[:], blob)
		if subtle.ConstantTimeCompare(want, proof) == 1 {
			return hmacMD5(key, want), pairs, nil
		}
	}
	return nil, nil, errLogonDenied()
}

// verifyV1 checks an NTLMv1 response (legacy opt-in only) and returns the key exchange
// key. Only the NT hash is known, so LM_KEY and NON_NT_SESSION_KEY cannot be served.
func (c *Acceptor) verifyV1(am *AuthenticateMessage, acct Account) ([]byte, error) {
	if c.flags.Has(FlagLMKey) || c.flags.Has(FlagRequestNonNTSessionKey) {
		return nil, sspi.Errorf(sspi.ErrUnsupportedFunction, "LM session keys are not supported")
	}
	var clientChallenge []byte
	if c.flags.Has(FlagExtendedSessionSecurity) {
		if len(am.LMChallengeResponse) < 8 {
			return nil, sspi.Errorf(sspi.ErrInvalidToken, "NTLMv1 with extended session security needs the client challenge in the LM response")
		}
		clientChallenge = am.LMChallengeResponse[:8]
	}
	nt, _, sbk := ntlmV1Responses(c.flags, acct.NTHash, make([]byte, 16), c.serverChallenge[:], clientChallenge)
	if subtle.ConstantTimeCompare(nt, am.NTChallengeResponse) != 1 {
		return nil, errLogonDenied()
	}
	lm := am.LMChallengeResponse
	if len(lm) < 8 {
		lm = make([]byte, 24)
	}
	return kxKey(c.flags, false, sbk, lm, nil, c.serverChallenge[:]), nil
}
