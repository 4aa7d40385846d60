package sspitest

import (
	"context"
	"fmt"

	"github.com/gossp/gossp/sspi"
)

// pair is an initiator and an acceptor context that talk to each other.
type pair struct {
	ini sspi.Initiator
	acc sspi.Acceptor
	// tokens are the handshake tokens in wire order; even indexes go to the acceptor.
	tokens [][]byte
}

func (p *pair) close() {
	if p == nil {
		return
	}
	if p.ini != nil {
		p.ini.Close()
	}
	if p.acc != nil {
		p.acc.Close()
	}
}

func (s *suite) contextConfig() sspi.ContextConfig {
	return sspi.ContextConfig{Target: s.cfg.Target, Flags: s.cfg.Flags}
}

// newPair makes fresh contexts from cred (the initiator's) and the configured acceptor.
func (s *suite) newPair(cred sspi.Credential, iniCfg, accCfg sspi.ContextConfig) (*pair, bool) {
	ini, err := cred.NewInitiator(iniCfg)
	if err != nil {
		s.errorf("NewInitiator: %v", err)
		return nil, false
	}
	acc, err := s.cfg.Acceptor.NewAcceptor(accCfg)
	if err != nil {
		ini.Close()
		s.errorf("NewAcceptor: %v", err)
		return nil, false
	}
	return &pair{ini: ini, acc: acc}, true
}

// mutator may replace the token at wire index i before it is delivered.
type mutator func(i int, toAcceptor bool, tok []byte) []byte

// outcome is how a driven handshake ended.
type outcome struct {
	established bool
	err         error // the package's error, if a step failed
	side        string
	index       int // wire index of the token whose delivery failed; -1 for the first initiator call
	aborted     bool
}

// drive runs the handshake of p to its end. Protocol violations by the package (a
// continue without a token, a token after completion, too many legs, panics, hangs) are
// recorded as failures and abort; a step that returns an error ends the handshake with
// that error in the outcome, for the caller to judge.
func (s *suite) drive(p *pair, mutate mutator) outcome {
	var toIni, toAcc []byte
	iniDone, accDone := false, false
	legs := 0
	for {
		if !iniDone {
			idx := len(p.tokens) - 1
			r, ok := s.step(fmt.Sprintf("InitializeContext (leg %d)", legs+1), func(ctx context.Context) ([]byte, sspi.Status, error) {
				return p.ini.InitializeContext(ctx, toIni)
			})
			if !ok {
				return outcome{aborted: true}
			}
			legs++
			if r.err != nil {
				return outcome{err: r.err, side: "initiator", index: idx}
			}
			if !s.validStatus("InitializeContext", r.status) {
				return outcome{aborted: true}
			}
			iniDone = r.status == sspi.StatusOK
			toAcc = r.out
			if len(toAcc) == 0 {
				switch {
				case !iniDone:
					s.errorf("InitializeContext leg %d: continue-needed without an output token", legs)
					return outcome{aborted: true}
				case accDone:
					return outcome{established: true}
				default:
					s.errorf("InitializeContext leg %d: complete with no token while the acceptor still waits", legs)
					return outcome{aborted: true}
				}
			}
		} else if len(toIni) > 0 {
			s.errorf("acceptor sent a token after the initiator had completed")
			return outcome{aborted: true}
		}
		if accDone {
			s.errorf("initiator sent a token after the acceptor had completed")
			return outcome{aborted: true}
		}
		idx := len(p.tokens)
		p.tokens = append(p.tokens, toAcc)
		if mutate != nil {
			toAcc = mutate(idx, true, toAcc)
		}
		r, ok := s.step(fmt.Sprintf("AcceptContext (leg %d)", legs+1), func(ctx context.Context) ([]byte, sspi.Status, error) {
			return p.acc.AcceptContext(ctx, toAcc)
		})
		if !ok {
			return outcome{aborted: true}
		}
		legs++
		if r.err != nil {
			return outcome{err: r.err, side: "acceptor", index: idx}
		}
		if !s.validStatus("AcceptContext", r.status) {
			return outcome{aborted: true}
		}
		accDone = r.status == sspi.StatusOK
		toIni = r.out
		if len(toIni) == 0 {
			switch {
			case !accDone:
				s.errorf("AcceptContext leg %d: continue-needed without an output token", legs)
				return outcome{aborted: true}
			case iniDone:
				return outcome{established: true}
			default:
				s.errorf("AcceptContext leg %d: complete with no token while the initiator still waits", legs)
				return outcome{aborted: true}
			}
		}
		if iniDone {
			s.errorf("acceptor sent a token after the initiator had completed")
			return outcome{aborted: true}
		}
		idx = len(p.tokens)
		p.tokens = append(p.tokens, toIni)
		if mutate != nil {
			toIni = mutate(idx, false, toIni)
		}
		if legs >= s.cfg.MaxLegs {
			s.errorf("handshake not finished after %d legs", legs)
			return outcome{aborted: true}
		}
	}
}

func (s *suite) validStatus(op string, st sspi.Status) bool {
	if st != sspi.StatusOK && st != sspi.StatusContinueNeeded {
		s.errorf("%s: status %v with a nil error; want SEC_E_OK or SEC_I_CONTINUE_NEEDED", op, st)
		return false
	}
	return true
}

// establish makes a pair with the configured credentials and completes its handshake.
func (s *suite) establish() (*pair, bool) {
	return s.establishWith(s.cfg.Initiator, s.contextConfig(), s.contextConfig())
}

func (s *suite) establishWith(cred sspi.Credential, iniCfg, accCfg sspi.ContextConfig) (*pair, bool) {
	p, ok := s.newPair(cred, iniCfg, accCfg)
	if !ok {
		return nil, false
	}
	o := s.drive(p, nil)
	if o.aborted {
		p.close()
		return nil, false
	}
	if !o.established {
		s.errorf("handshake failed on the %s: %v", o.side, o.err)
		p.close()
		return nil, false
	}
	return p, true
}
