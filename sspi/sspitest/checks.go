package sspitest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/gossp/gossp/sspi"
)

func (s *suite) checkHandshake() {
	p, ok := s.establish()
	if !ok {
		return
	}
	defer p.close()
	if len(p.tokens) == 0 {
		s.errorf("handshake exchanged no tokens")
	}
	for _, side := range []struct {
		name string
		c    sspi.SecurityContext
	}{{"initiator", p.ini}, {"acceptor", p.acc}} {
		a := side.c.Attributes()
		if !a.Established {
			s.errorf("%s: Attributes().Established is false after SEC_E_OK", side.name)
		}
		if a.State != sspi.NegotiationComplete {
			s.errorf("%s: negotiation state %v after SEC_E_OK, want complete", side.name, a.State)
		}
	}
}

func (s *suite) checkAttributes() {
	p, ok := s.establish()
	if !ok {
		return
	}
	defer p.close()
	ia, aa := p.ini.Attributes(), p.acc.Attributes()
	if !ia.Initiator || aa.Initiator {
		s.errorf("Initiator attribute: initiator says %v, acceptor says %v", ia.Initiator, aa.Initiator)
	}
	for _, x := range []struct {
		side string
		a    sspi.ContextAttributes
	}{{"initiator", ia}, {"acceptor", aa}} {
		if x.a.Package.Name == "" {
			s.errorf("%s: no package name", x.side)
		}
		if n := len(x.a.Path); n == 0 || x.a.Path[n-1] != x.a.Package.Name {
			s.errorf("%s: Path %q does not end with the authenticating package %q", x.side, x.a.Path, x.a.Package.Name)
		}
		if x.a.Sizes.MaxToken <= 0 {
			s.errorf("%s: Sizes.MaxToken is %d", x.side, x.a.Sizes.MaxToken)
		}
		if x.a.Flags&sspi.FlagIntegrity != 0 && x.a.Sizes.MaxSignature <= 0 {
			s.errorf("%s: integrity granted but Sizes.MaxSignature is %d", x.side, x.a.Sizes.MaxSignature)
		}
		if !x.a.Expiry.IsZero() && !x.a.Expiry.After(time.Now()) {
			s.errorf("%s: context expires at %v, already past", x.side, x.a.Expiry)
		}
	}
	if ia.Package.Name != aa.Package.Name {
		s.errorf("the sides disagree on the package: %q and %q", ia.Package.Name, aa.Package.Name)
	}
	if ip, ap := ia.Flags&sspi.ProtectionFlags, aa.Flags&sspi.ProtectionFlags; ip != ap {
		s.errorf("the sides disagree on protection flags: initiator %v, acceptor %v", ip, ap)
	}
	caps := ia.Package.Capabilities
	req := s.cfg.Flags
	if req&sspi.FlagIntegrity != 0 && caps&sspi.CapIntegrity != 0 && ia.Flags&sspi.FlagIntegrity == 0 {
		s.errorf("integrity requested and supported (CapIntegrity) but not granted: %v", ia.Flags)
	}
	if req&sspi.FlagConfidentiality != 0 && caps&sspi.CapPrivacy != 0 && ia.Flags&sspi.FlagConfidentiality == 0 {
		s.errorf("confidentiality requested and supported (CapPrivacy) but not granted: %v", ia.Flags)
	}
	if req&sspi.FlagMutualAuth != 0 && caps&sspi.CapMutualAuth != 0 && ia.Flags&sspi.FlagMutualAuth == 0 {
		s.errorf("mutual authentication requested and supported (CapMutualAuth) but not granted: %v", ia.Flags)
	}
	anonymous := aa.Flags&sspi.FlagAnonymous != 0
	if !anonymous {
		if aa.ClientName == "" {
			s.errorf("acceptor reports no client name")
		}
		if s.cfg.ExpectedClientName != "" && !strings.EqualFold(aa.ClientName, s.cfg.ExpectedClientName) {
			s.errorf("acceptor reports client %q, want %q", aa.ClientName, s.cfg.ExpectedClientName)
		}
		if ia.ClientName != "" && !strings.EqualFold(ia.ClientName, aa.ClientName) {
			s.errorf("initiator says the client is %q, acceptor says %q", ia.ClientName, aa.ClientName)
		}
	}
	if s.cfg.Target != "" && !strings.EqualFold(ia.ServerName, s.cfg.Target) {
		s.errorf("initiator reports server %q, want the target %q", ia.ServerName, s.cfg.Target)
	}
	ik, ierr := p.ini.SessionKey()
	ak, aerr := p.acc.SessionKey()
	switch {
	case ierr != nil || aerr != nil:
		s.errorf("SessionKey: initiator %v, acceptor %v", ierr, aerr)
	case len(ik) < 16:
		s.errorf("session key of %d bytes; want at least 16", len(ik))
	case !bytes.Equal(ik, ak):
		s.errorf("the sides disagree on the session key")
	}
	// A returned key is the caller's: scribbling on it must not change the context's.
	if len(ik) > 0 {
		ik[0] ^= 0xFF
		if again, err := p.ini.SessionKey(); err == nil && len(again) > 0 && again[0] == ik[0] {
			s.errorf("SessionKey returns the context's own buffer, not a copy")
		}
	}
}

func (s *suite) checkIncomplete() {
	p, ok := s.newPair(s.cfg.Initiator, s.contextConfig(), s.contextConfig())
	if !ok {
		return
	}
	defer p.close()
	s.probeIncomplete("initiator before the first leg", p.ini)
	s.probeIncomplete("acceptor before the first leg", p.acc)
	r, ok := s.step("InitializeContext (leg 1)", func(ctx context.Context) ([]byte, sspi.Status, error) {
		return p.ini.InitializeContext(ctx, nil)
	})
	if !ok || r.err != nil || r.status != sspi.StatusContinueNeeded {
		if ok && r.err != nil {
			s.errorf("first InitializeContext: %v", r.err)
		}
		return // single-leg packages have no half-open state to probe
	}
	s.probeIncomplete("initiator after the first leg", p.ini)
	r, ok = s.step("AcceptContext (leg 2)", func(ctx context.Context) ([]byte, sspi.Status, error) {
		return p.acc.AcceptContext(ctx, r.out)
	})
	if ok && r.err == nil && r.status == sspi.StatusContinueNeeded {
		s.probeIncomplete("acceptor after its first leg", p.acc)
	}
}

// probeIncomplete checks that a context in mid-handshake reports so and refuses what
// needs an established one, without panicking.
func (s *suite) probeIncomplete(what string, c sspi.SecurityContext) {
	var a sspi.ContextAttributes
	if _, _, ok := s.protect(what+": Attributes", func() ([]byte, error) { a = c.Attributes(); return nil, nil }); !ok {
		return
	}
	if a.Established {
		s.errorf("%s: Attributes().Established is true", what)
	}
	if a.State == sspi.NegotiationComplete {
		s.errorf("%s: negotiation state is complete", what)
	}
	// Some packages have a key before they finish (GSS PROT_READY), so only a panic
	// counts against SessionKey here.
	s.protect(what+": SessionKey", c.SessionKey)
	if _, err, ok := s.protect(what+": VerifySignature", func() ([]byte, error) { return nil, c.VerifySignature([]byte("m"), make([]byte, 64)) }); ok {
		s.checkFailure(what+": VerifySignature of garbage", err)
	}
	if _, err, ok := s.protect(what+": DecryptMessage", func() ([]byte, error) { return c.DecryptMessage(make([]byte, 64)) }); ok {
		s.checkFailure(what+": DecryptMessage of garbage", err)
	}
	if _, err, ok := s.protect(what+": MakeSignature", func() ([]byte, error) { return c.MakeSignature([]byte("m")) }); ok && err != nil {
		s.checkFailure(what+": MakeSignature", err)
	}
}

// direction is one way messages flow over an established pair.
type direction struct {
	name     string
	from, to sspi.SecurityContext
}

func directions(p *pair) []direction {
	return []direction{
		{"initiator to acceptor", p.ini, p.acc},
		{"acceptor to initiator", p.acc, p.ini},
	}
}

var messageSizes = []int{0, 1, 13, 1024, 65536 + 3}

func message(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func (s *suite) checkSignatures() {
	p, ok := s.establish()
	if !ok {
		return
	}
	flags := p.ini.Attributes().Flags
	if flags&sspi.FlagIntegrity == 0 {
		p.close()
		s.skip = "integrity not granted"
		return
	}
	maxSig := p.ini.Attributes().Sizes.MaxSignature
	for _, d := range directions(p) {
		for _, n := range messageSizes {
			msg := message(n, 1)
			sig, err, ok := s.protect("MakeSignature", func() ([]byte, error) { return d.from.MakeSignature(msg) })
			if !ok || err != nil {
				s.errorf("%s: MakeSignature of %d bytes: %v", d.name, n, err)
				continue
			}
			if len(sig) > maxSig {
				s.errorf("%s: signature of %d bytes exceeds Sizes.MaxSignature %d", d.name, len(sig), maxSig)
			}
			if _, err, ok := s.protect("VerifySignature", func() ([]byte, error) { return nil, d.to.VerifySignature(msg, sig) }); ok && err != nil {
				s.errorf("%s: VerifySignature of %d bytes: %v", d.name, n, err)
			}
		}
	}
	p.close()

	// Each attack runs on a fresh pair: what a package does to its sequence state after
	// a failed check (NTLM's RC4 keystream advances) is its own business.
	s.attack("altered message", func(d direction) {
		msg := message(100, 2)
		sig, err := d.from.MakeSignature(msg)
		if err != nil {
			s.errorf("%s: MakeSignature: %v", d.name, err)
			return
		}
		msg[50] ^= 0x01
		s.checkFailure(d.name+": VerifySignature of an altered message", d.to.VerifySignature(msg, sig), sspi.ErrMessageAltered)
	})
	s.attack("altered signature", func(d direction) {
		msg := message(100, 3)
		sig, err := d.from.MakeSignature(msg)
		if err != nil {
			s.errorf("%s: MakeSignature: %v", d.name, err)
			return
		}
		sig[len(sig)-1] ^= 0x01
		s.checkFailure(d.name+": VerifySignature with an altered signature", d.to.VerifySignature(msg, sig), sspi.ErrMessageAltered, sspi.ErrOutOfSequence, sspi.ErrInvalidToken)
	})
	s.attack("truncated signature", func(d direction) {
		msg := message(10, 4)
		sig, err := d.from.MakeSignature(msg)
		if err != nil {
			s.errorf("%s: MakeSignature: %v", d.name, err)
			return
		}
		for _, n := range []int{0, 1, len(sig) / 2, len(sig) - 1} {
			err, ok := s.protectErr(func() error { return d.to.VerifySignature(msg, sig[:n]) })
			if ok {
				s.checkFailure(fmt.Sprintf("%s: VerifySignature with the signature cut to %d bytes", d.name, n), err)
			}
		}
	})
	if flags&sspi.FlagReplayDetect != 0 {
		s.attack("replayed signature", func(d direction) {
			msg := message(10, 5)
			sig, err := d.from.MakeSignature(msg)
			if err != nil {
				s.errorf("%s: MakeSignature: %v", d.name, err)
				return
			}
			if err := d.to.VerifySignature(msg, sig); err != nil {
				s.errorf("%s: VerifySignature: %v", d.name, err)
				return
			}
			s.checkFailure(d.name+": VerifySignature of a replayed signature", d.to.VerifySignature(msg, sig), sspi.ErrOutOfSequence, sspi.ErrMessageAltered)
		})
	}
	if flags&sspi.FlagSequenceDetect != 0 {
		s.attack("reordered signatures", func(d direction) {
			m1, m2 := message(10, 6), message(10, 7)
			_, err1 := d.from.MakeSignature(m1)
			s2, err2 := d.from.MakeSignature(m2)
			if err1 != nil || err2 != nil {
				s.errorf("%s: MakeSignature: %v %v", d.name, err1, err2)
				return
			}
			s.checkFailure(d.name+": VerifySignature of the second message first", d.to.VerifySignature(m2, s2), sspi.ErrOutOfSequence, sspi.ErrMessageAltered)
		})
	}
	s.attack("reflected signature", func(d direction) {
		msg := message(10, 8)
		sig, err := d.from.MakeSignature(msg)
		if err != nil {
			s.errorf("%s: MakeSignature: %v", d.name, err)
			return
		}
		s.checkFailure(d.name+": a context verifying its own signature", d.from.VerifySignature(msg, sig), sspi.ErrMessageAltered, sspi.ErrOutOfSequence, sspi.ErrInvalidToken)
	})
}

// attack runs f in both directions, each on a fresh established pair, recovering panics.
func (s *suite) attack(name string, f func(d direction)) {
	for i := range 2 {
		p, ok := s.establish()
		if !ok {
			return
		}
		d := directions(p)[i]
		s.protect(name+": "+d.name, func() ([]byte, error) { f(d); return nil, nil })
		p.close()
	}
}

func (s *suite) protectErr(f func() error) (error, bool) {
	_, err, ok := s.protect("call", func() ([]byte, error) { return nil, f() })
	return err, ok
}

// marker is a plaintext that must not appear in an encrypted token.
var marker = []byte("sspitest plaintext marker: this must never appear in a sealed token")

func (s *suite) checkEncryption() {
	p, ok := s.establish()
	if !ok {
		return
	}
	attrs := p.ini.Attributes()
	if attrs.Flags&(sspi.FlagConfidentiality|sspi.FlagIntegrity) == 0 {
		p.close()
		s.skip = "neither confidentiality nor integrity granted"
		return
	}
	conf := attrs.Flags&sspi.FlagConfidentiality != 0
	for _, d := range directions(p) {
		sizes := d.from.Attributes().Sizes
		for _, n := range messageSizes {
			msg := message(n, 9)
			tok, err, ok := s.protect("EncryptMessage", func() ([]byte, error) { return d.from.EncryptMessage(msg) })
			if !ok || err != nil {
				s.errorf("%s: EncryptMessage of %d bytes: %v", d.name, n, err)
				continue
			}
			if over := len(tok) - n; over > sizes.SecurityTrailer+sizes.BlockSize {
				s.errorf("%s: EncryptMessage added %d bytes; Sizes promise at most %d (trailer) + %d (block)", d.name, over, sizes.SecurityTrailer, sizes.BlockSize)
			}
			got, err, ok := s.protect("DecryptMessage", func() ([]byte, error) { return d.to.DecryptMessage(tok) })
			if ok && err != nil {
				s.errorf("%s: DecryptMessage of %d bytes: %v", d.name, n, err)
			} else if ok && !bytes.Equal(got, msg) {
				s.errorf("%s: DecryptMessage returned %d bytes that differ from the %d sent", d.name, len(got), n)
			}
		}
		if conf {
			tok, err := d.from.EncryptMessage(marker)
			if err == nil && bytes.Contains(tok, marker[:32]) {
				s.errorf("%s: confidentiality granted but the plaintext is visible in the token", d.name)
			}
			if err == nil {
				d.to.DecryptMessage(tok) // keep the sequence in step
			}
		}
	}
	p.close()

	s.attack("altered token", func(d direction) {
		tok, err := d.from.EncryptMessage(message(64, 10))
		if err != nil {
			s.errorf("%s: EncryptMessage: %v", d.name, err)
			return
		}
		for _, i := range []int{0, len(tok) / 2, len(tok) - 1} {
			bad := bytes.Clone(tok)
			bad[i] ^= 0x01
			err, ok := s.protectErr(func() error { _, err := d.to.DecryptMessage(bad); return err })
			if ok {
				s.checkFailure(fmt.Sprintf("%s: DecryptMessage with byte %d altered", d.name, i), err)
			}
		}
	})
	s.attack("truncated token", func(d direction) {
		tok, err := d.from.EncryptMessage(message(64, 11))
		if err != nil {
			s.errorf("%s: EncryptMessage: %v", d.name, err)
			return
		}
		for _, n := range []int{0, 1, len(tok) / 2, len(tok) - 1} {
			err, ok := s.protectErr(func() error { _, err := d.to.DecryptMessage(tok[:n]); return err })
			if ok {
				s.checkFailure(fmt.Sprintf("%s: DecryptMessage of the token cut to %d bytes", d.name, n), err)
			}
		}
	})
	if attrs.Flags&sspi.FlagReplayDetect != 0 {
		s.attack("replayed token", func(d direction) {
			tok, err := d.from.EncryptMessage(message(10, 12))
			if err != nil {
				s.errorf("%s: EncryptMessage: %v", d.name, err)
				return
			}
			if _, err := d.to.DecryptMessage(tok); err != nil {
				s.errorf("%s: DecryptMessage: %v", d.name, err)
				return
			}
			_, err = d.to.DecryptMessage(tok)
			s.checkFailure(d.name+": DecryptMessage of a replayed token", err, sspi.ErrOutOfSequence, sspi.ErrMessageAltered)
		})
	}
	s.attack("reflected token", func(d direction) {
		tok, err := d.from.EncryptMessage(message(10, 13))
		if err != nil {
			s.errorf("%s: EncryptMessage: %v", d.name, err)
			return
		}
		_, err = d.from.DecryptMessage(tok)
		s.checkFailure(d.name+": a context decrypting its own token", err)
	})
}

// tokenVariant is a hostile replacement for a handshake token.
type tokenVariant struct {
	name    string
	make    func(tok []byte) []byte
	mustErr bool // delivery must fail at once; otherwise only no panic/hang is demanded
}

func hostileVariants(maxToken int) []tokenVariant {
	oversize := max(2*maxToken, 1<<16)
	v := []tokenVariant{
		{"empty", func([]byte) []byte { return []byte{} }, true},
		{"one byte", func(t []byte) []byte { return t[:1] }, true},
		{"truncated to half", func(t []byte) []byte { return t[:len(t)/2] }, true},
		{"truncated by one byte", func(t []byte) []byte { return t[:len(t)-1] }, true},
		{"random bytes of the same length", func(t []byte) []byte { return message(len(t), 14) }, true},
		{fmt.Sprintf("%d random bytes", oversize), func([]byte) []byte { return message(oversize, 15) }, true},
		{"the token followed by 64 KiB of zeros", func(t []byte) []byte { return append(bytes.Clone(t), make([]byte, 1<<16)...) }, false},
	}
	return v
}

// flipPositions picks up to n byte offsets spread over a token of length l.
func flipPositions(l, n int) []int {
	if l <= n {
		pos := make([]int, l)
		for i := range pos {
			pos[i] = i
		}
		return pos
	}
	pos := make([]int, 0, n)
	for i := range n {
		pos = append(pos, i*(l-1)/(n-1))
	}
	return pos
}

func (s *suite) checkHostileTokens() {
	ref, ok := s.establish()
	if !ok {
		return
	}
	maxToken := ref.ini.Attributes().Package.MaxToken
	ref.close()
	lengths := make([]int, len(ref.tokens))
	for i, t := range ref.tokens {
		lengths[i] = len(t)
	}
	for idx := range ref.tokens {
		to := "acceptor"
		if idx%2 == 1 {
			to = "initiator"
		}
		for _, v := range hostileVariants(maxToken) {
			if lengths[idx] < 2 && v.mustErr && strings.HasPrefix(v.name, "truncated") {
				continue
			}
			mustErr := v.mustErr
			if idx == 0 && v.name == "empty" && s.cfg.AcceptorFirst {
				mustErr = false // an empty first token asks the acceptor to speak first
			}
			if s.cfg.ConcatenatedMessages && strings.HasPrefix(v.name, "truncated") {
				mustErr = false
			}
			s.hostile(idx, fmt.Sprintf("token %d to the %s: %s", idx+1, to, v.name), v.make, mustErr)
		}
		for _, pos := range flipPositions(lengths[idx], 12) {
			s.hostile(idx, fmt.Sprintf("token %d to the %s: byte %d flipped", idx+1, to, pos), func(t []byte) []byte {
				b := bytes.Clone(t)
				if pos < len(b) {
					b[pos] ^= 0xFF
				}
				return b
			}, false)
		}
		if s.failed() {
			return // one broken leg says enough; the rest would repeat it
		}
	}
}

// hostile replaces the token at wire index idx and judges the outcome.
func (s *suite) hostile(idx int, what string, replace func([]byte) []byte, mustErr bool) {
	p, ok := s.newPair(s.cfg.Initiator, s.contextConfig(), s.contextConfig())
	if !ok {
		return
	}
	defer p.close()
	inner := &suite{cfg: s.cfg}
	o := inner.drive(p, func(i int, _ bool, tok []byte) []byte {
		if i == idx {
			return replace(tok)
		}
		return tok
	})
	for _, e := range inner.errs {
		s.errorf("%s: %v", what, e)
	}
	if o.aborted {
		return
	}
	if o.err != nil {
		s.checkFailure(what, o.err)
		if mustErr && o.index != idx {
			s.errorf("%s: the failure came at token %d, not at the bad token", what, o.index+1)
		}
		return
	}
	if mustErr {
		s.errorf("%s: the handshake went on as if the token were good", what)
		return
	}
	if o.established {
		ik, ierr := p.ini.SessionKey()
		ak, aerr := p.acc.SessionKey()
		if ierr == nil && aerr == nil && !bytes.Equal(ik, ak) {
			s.errorf("%s: both sides completed but with different session keys: tampering went undetected", what)
		}
	}
}

func (s *suite) checkOutOfOrder() {
	ref, ok := s.establish()
	if !ok {
		return
	}
	tokens := ref.tokens
	// Calls after completion must fail, not restart or corrupt the context.
	if len(tokens) > 0 {
		last := tokens[len(tokens)-1]
		r, ok := s.step("InitializeContext after completion", func(ctx context.Context) ([]byte, sspi.Status, error) {
			return ref.ini.InitializeContext(ctx, last)
		})
		if ok {
			s.checkFailure("InitializeContext after completion", r.err)
		}
		r, ok = s.step("AcceptContext after completion", func(ctx context.Context) ([]byte, sspi.Status, error) {
			return ref.acc.AcceptContext(ctx, tokens[0])
		})
		if ok {
			s.checkFailure("AcceptContext after completion", r.err)
		}
		// A stray token must not have destroyed the established contexts.
		if ref.ini.Attributes().Flags&sspi.FlagIntegrity != 0 {
			msg := []byte("still usable after a stray handshake token")
			sig, err := ref.ini.MakeSignature(msg)
			if err == nil {
				err = ref.acc.VerifySignature(msg, sig)
			}
			if err != nil {
				s.errorf("message protection after a stray handshake call: %v", err)
			}
		}
	}
	ref.close()

	// The acceptor given its first token again where the next one belongs.
	if len(tokens) >= 3 {
		s.hostileReplay("the first token delivered twice to the acceptor", 2, func(p *pair) []byte { return p.tokens[0] })
	}
	// The initiator given its own token back.
	if len(tokens) >= 2 {
		s.hostileReplay("the initiator's own token reflected to it", 1, func(p *pair) []byte { return p.tokens[0] })
	}
	// A fresh acceptor given a later token first.
	if len(tokens) >= 3 {
		p, ok := s.newPair(s.cfg.Initiator, s.contextConfig(), s.contextConfig())
		if !ok {
			return
		}
		defer p.close()
		r, ok := s.step("AcceptContext", func(ctx context.Context) ([]byte, sspi.Status, error) {
			return p.acc.AcceptContext(ctx, tokens[2])
		})
		if ok {
			s.checkFailure("a fresh acceptor given the third token first", r.err)
		}
	}
}

// hostileReplay delivers, at wire index idx, a token chosen from the pair's own earlier
// traffic, and demands that this delivery fails.
func (s *suite) hostileReplay(what string, idx int, pick func(p *pair) []byte) {
	p, ok := s.newPair(s.cfg.Initiator, s.contextConfig(), s.contextConfig())
	if !ok {
		return
	}
	defer p.close()
	inner := &suite{cfg: s.cfg}
	o := inner.drive(p, func(i int, _ bool, tok []byte) []byte {
		if i == idx {
			return bytes.Clone(pick(p))
		}
		return tok
	})
	for _, e := range inner.errs {
		s.errorf("%s: %v", what, e)
	}
	if o.aborted {
		return
	}
	if o.err == nil {
		s.errorf("%s: accepted", what)
		return
	}
	s.checkFailure(what, o.err)
}

func (s *suite) checkHandshakeReplay() {
	if s.cfg.ReplayableHandshake {
		s.skip = "the package declares its handshake replayable"
		return
	}
	ref, ok := s.establish()
	if !ok {
		return
	}
	ref.close()
	acc, err := s.cfg.Acceptor.NewAcceptor(s.contextConfig())
	if err != nil {
		s.errorf("NewAcceptor: %v", err)
		return
	}
	defer acc.Close()
	for i := 0; i < len(ref.tokens); i += 2 {
		r, ok := s.step("AcceptContext with a replayed token", func(ctx context.Context) ([]byte, sspi.Status, error) {
			return acc.AcceptContext(ctx, ref.tokens[i])
		})
		if !ok {
			return
		}
		if r.err != nil {
			s.checkFailure(fmt.Sprintf("replayed token %d", i+1), r.err)
			return
		}
		if r.status == sspi.StatusOK {
			s.errorf("an acceptor fed the initiator tokens of another handshake was established")
			return
		}
	}
	s.errorf("an acceptor fed the initiator tokens of another handshake never failed")
}

func (s *suite) checkWrongCredentials() {
	if s.cfg.BadInitiator == nil {
		s.skip = "no BadInitiator credential configured"
		return
	}
	p, ok := s.newPair(s.cfg.BadInitiator, s.contextConfig(), s.contextConfig())
	if !ok {
		return
	}
	defer p.close()
	o := s.drive(p, nil)
	if o.aborted {
		return
	}
	if o.established {
		s.errorf("a handshake with wrong credentials was established")
		return
	}
	// Certificate packages (PKU2U) refuse a peer's certificate with the status that
	// says why, as Windows does.
	s.checkFailure("wrong credentials on the "+o.side, o.err, sspi.ErrLogonDenied, sspi.ErrMutualAuthFailed, sspi.ErrUnknownCredentials,
		sspi.ErrUntrustedRoot, sspi.ErrCertExpired, sspi.ErrCertWrongUsage, sspi.ErrCertUnknown, sspi.ErrPKU2UCertFailure)
}

func (s *suite) checkChannelBindings() {
	if !s.cfg.ChannelBindings {
		s.skip = "the package does not declare channel binding support"
		return
	}
	cbA := &sspi.ChannelBindings{ApplicationData: []byte("tls-server-end-point:sspitest-A")}
	cbB := &sspi.ChannelBindings{ApplicationData: []byte("tls-server-end-point:sspitest-B")}
	with := func(cb *sspi.ChannelBindings, allowMissing bool) sspi.ContextConfig {
		c := s.contextConfig()
		c.ChannelBindings, c.AllowMissingBindings = cb, allowMissing
		return c
	}
	if p, ok := s.establishWith(s.cfg.Initiator, with(cbA, false), with(cbA, false)); ok {
		p.close()
	} else {
		s.errorf("matching channel bindings were refused")
	}
	run := func(what string, ini, acc sspi.ContextConfig, wantOK bool) {
		p, ok := s.newPair(s.cfg.Initiator, ini, acc)
		if !ok {
			return
		}
		defer p.close()
		o := s.drive(p, nil)
		switch {
		case o.aborted:
		case wantOK && !o.established:
			s.errorf("%s: refused: %v", what, o.err)
		case !wantOK && o.established:
			s.errorf("%s: accepted", what)
		case !wantOK:
			s.checkFailure(what, o.err, sspi.ErrBadBindings)
		}
	}
	run("mismatched channel bindings", with(cbB, false), with(cbA, false), false)
	run("missing channel bindings", with(nil, false), with(cbA, false), false)
	run("missing channel bindings with AllowMissingBindings", with(nil, false), with(cbA, true), true)
	run("initiator bindings the acceptor did not ask for", with(cbA, false), with(nil, false), true)
}

func (s *suite) checkCredentialUse() {
	checked := false
	if s.cfg.Initiator.Attributes().Use == sspi.CredentialsOutbound {
		checked = true
		acc, err := s.cfg.Initiator.NewAcceptor(s.contextConfig())
		if err == nil {
			acc.Close()
		}
		s.checkFailure("NewAcceptor on an outbound credential", err, sspi.ErrNoCredentials)
	}
	if s.cfg.Acceptor.Attributes().Use == sspi.CredentialsInbound {
		checked = true
		ini, err := s.cfg.Acceptor.NewInitiator(s.contextConfig())
		if err == nil {
			ini.Close()
		}
		s.checkFailure("NewInitiator on an inbound credential", err, sspi.ErrNoCredentials)
	}
	if !checked {
		s.skip = "both credentials serve both directions"
	}
}

func (s *suite) checkClose() {
	// Closing a half-open context.
	if p, ok := s.newPair(s.cfg.Initiator, s.contextConfig(), s.contextConfig()); ok {
		r, ok := s.step("InitializeContext (leg 1)", func(ctx context.Context) ([]byte, sspi.Status, error) {
			return p.ini.InitializeContext(ctx, nil)
		})
		if ok && r.err == nil {
			if err := p.ini.Close(); err != nil {
				s.errorf("Close of a half-open initiator: %v", err)
			}
			r2, ok := s.step("InitializeContext after Close", func(ctx context.Context) ([]byte, sspi.Status, error) {
				return p.ini.InitializeContext(ctx, []byte("x"))
			})
			if ok {
				s.checkFailure("InitializeContext after Close", r2.err, sspi.ErrInvalidHandle)
			}
		}
		p.close()
	}

	p, ok := s.establish()
	if !ok {
		return
	}
	sig, _ := p.ini.MakeSignature([]byte("m"))
	tok, _ := p.ini.EncryptMessage([]byte("m"))
	for _, x := range []struct {
		name string
		c    sspi.SecurityContext
	}{{"initiator", p.ini}, {"acceptor", p.acc}} {
		if err := x.c.Close(); err != nil {
			s.errorf("%s: Close: %v", x.name, err)
		}
		if err := x.c.Close(); err != nil {
			s.errorf("%s: second Close: %v", x.name, err)
		}
		s.protect(x.name+": Attributes after Close", func() ([]byte, error) { x.c.Attributes(); return nil, nil })
		calls := []struct {
			name string
			f    func() error
		}{
			{"MakeSignature", func() error { _, err := x.c.MakeSignature([]byte("m")); return err }},
			{"VerifySignature", func() error { return x.c.VerifySignature([]byte("m"), sig) }},
			{"EncryptMessage", func() error { _, err := x.c.EncryptMessage([]byte("m")); return err }},
			{"DecryptMessage", func() error { _, err := x.c.DecryptMessage(tok); return err }},
			{"SessionKey", func() error { _, err := x.c.SessionKey(); return err }},
		}
		for _, c := range calls {
			if err, ok := s.protectErr(c.f); ok {
				s.checkFailure(x.name+": "+c.name+" after Close", err, sspi.ErrInvalidHandle)
			}
		}
	}
}

func (s *suite) checkConcurrency() {
	var mu sync.Mutex // guards s.errs against the goroutines below
	report := func(format string, a ...any) {
		mu.Lock()
		s.errorf(format, a...)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for g := range s.cfg.Concurrency {
		wg.Go(func() {
			inner := &suite{cfg: s.cfg}
			p, ok := inner.establish()
			for _, e := range inner.errs {
				report("handshake %d: %v", g, e)
			}
			if !ok {
				return
			}
			defer p.close()
			s.duplex(p, report)
		})
	}
	wg.Wait()
	if s.failed() {
		return
	}

	// Many goroutines signing on one context at once must each get their own sequence
	// number.
	p, ok := s.establish()
	if !ok {
		return
	}
	defer p.close()
	if p.ini.Attributes().Flags&sspi.FlagIntegrity == 0 {
		return
	}
	sigs := make([][]byte, 32)
	for i := range sigs {
		wg.Go(func() {
			sig, err := p.ini.MakeSignature(marker)
			if err != nil {
				report("concurrent MakeSignature: %v", err)
			}
			sigs[i] = sig
		})
	}
	wg.Wait()
	if p.ini.Attributes().Flags&(sspi.FlagSequenceDetect|sspi.FlagReplayDetect) != 0 {
		seen := map[string]bool{}
		for _, sig := range sigs {
			if seen[string(sig)] {
				s.errorf("concurrent MakeSignature calls produced the same signature twice: a sequence number was reused")
				break
			}
			seen[string(sig)] = true
		}
	}
}

// duplex sends protected messages both ways at once over p, with a third goroutine
// querying attributes, as a full-duplex connection would.
func (s *suite) duplex(p *pair, report func(string, ...any)) {
	const n = 50
	integrity := p.ini.Attributes().Flags&sspi.FlagIntegrity != 0
	var wg sync.WaitGroup
	for _, d := range directions(p) {
		ch := make(chan [2][]byte, n)
		wg.Go(func() {
			defer close(ch)
			for i := range n {
				msg := message(i*7, uint64(i))
				var tok []byte
				var err error
				if i%2 == 0 || !integrity {
					tok, err = d.from.EncryptMessage(msg)
				} else {
					tok, err = d.from.MakeSignature(msg)
				}
				if err != nil {
					report("%s: message %d: %v", d.name, i, err)
					return
				}
				ch <- [2][]byte{msg, tok}
			}
		})
		wg.Go(func() {
			i := 0
			for m := range ch {
				var err error
				if i%2 == 0 || !integrity {
					var got []byte
					got, err = d.to.DecryptMessage(m[1])
					if err == nil && !bytes.Equal(got, m[0]) {
						report("%s: message %d decrypted to other bytes", d.name, i)
					}
				} else {
					err = d.to.VerifySignature(m[0], m[1])
				}
				if err != nil {
					report("%s: message %d: %v", d.name, i, err)
				}
				i++
			}
		})
	}
	wg.Go(func() {
		for range n {
			p.ini.Attributes()
			p.acc.Attributes()
		}
	})
	wg.Wait()
}
