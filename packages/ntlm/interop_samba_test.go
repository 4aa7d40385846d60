package ntlm_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/gossp/gossp/internal/interop/ntlmpeer"
	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/sspi"
)

// Interop with two more independent NTLM implementations: Samba's ntlm_auth (4.17, as
// initiator and as an acceptor checking the password locally, without winbindd) and
// impacket (0.10, as an NTLMv2 initiator whose message protection is impacket's own
// ntlm.SIGN and ntlm.SEAL). The user, domain and password are those of the
// gss-ntlmssp tests.

const peerWorkstation = "PEERWS"

// keyFlags are the negotiate flags both sides must agree on for the session keys and
// message protection to match.
const keyFlags = ntlm.FlagSign | ntlm.FlagSeal | ntlm.FlagKeyExch | ntlm.FlagExtendedSessionSecurity |
	ntlm.Flag128 | ntlm.Flag56

// newPeerAcceptor returns our acceptor knowing the test user through a user file.
func newPeerAcceptor(t *testing.T, p *ntlm.Package) *ntlm.Acceptor {
	t.Helper()
	users, err := ntlm.ParseUserFile([]byte(peerUserFile))
	if err != nil {
		t.Fatal(err)
	}
	cred := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: users})
	acc, err := cred.NewAcceptor(sspi.ContextConfig{Flags: protectFlags})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { acc.Close() })
	return acc.(*ntlm.Acceptor)
}

// newPeerInitiator returns our initiator for the test user with password.
func newPeerInitiator(t *testing.T, p *ntlm.Package, password string) *ntlm.Initiator {
	t.Helper()
	cred := acquire(t, p, sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
		Identity: &sspi.Identity{User: peerUser, Domain: peerDomain, Password: password}})
	ini, err := cred.NewInitiator(sspi.ContextConfig{Target: "HTTP/localhost", Flags: protectFlags})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ini.Close() })
	return ini.(*ntlm.Initiator)
}

// samePeerKey checks that the peer exported the same session key and settled on the
// same key-relevant flags as our context. A peer that cannot tell its key is logged,
// not failed: ntlm_auth's GK is a helper extension.
func samePeerKey(t *testing.T, ours interface {
	SessionKey() ([]byte, error)
	NegotiatedFlags() ntlm.NegotiateFlags
}, peer *ntlmpeer.Peer) {
	t.Helper()
	want, err := ours.SessionKey()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := peer.SessionKey(); err != nil {
		t.Logf("the peer gives no session key (%v); not compared", err)
	} else if !bytes.Equal(got, want) || len(want) != 16 {
		t.Errorf("peer session key %x, ours %x", got, want)
	}
	if pf, err := peer.Flags(); err != nil {
		t.Logf("the peer gives no flags (%v); not compared", err)
	} else if of := ours.NegotiatedFlags(); normalize(ntlm.NegotiateFlags(pf)) != normalize(of) {
		t.Errorf("peer flags %v, ours %v", ntlm.NegotiateFlags(pf), of)
	} else {
		t.Logf("peer flags %v, ours %v", ntlm.NegotiateFlags(pf), of)
	}
}

// normalize keeps the key-relevant flags, with 56 dropped when 128 is there: 128 wins
// over 56 (MS-NLMP 3.4.5.3), and a peer may keep 56 next to it.
func normalize(f ntlm.NegotiateFlags) ntlm.NegotiateFlags {
	f &= keyFlags
	if f.Has(ntlm.Flag128) {
		f &^= ntlm.Flag56
	}
	return f
}

// authenticateMIC reports whether an AUTHENTICATE announces a MIC in MsvAvFlags.
func authenticateMIC(t *testing.T, tok []byte) bool {
	t.Helper()
	am, err := ntlm.ParseAuthenticate(tok)
	if err != nil {
		t.Fatal(err)
	}
	if len(am.NTChallengeResponse) < 16+28+4 {
		return false
	}
	pairs, err := ntlm.ParseAVPairs(am.NTChallengeResponse[16+28:])
	if err != nil {
		t.Fatal(err)
	}
	return pairs.Flags()&ntlm.AvFlagMICPresent != 0
}

// micOffset is where the MIC lies in an AUTHENTICATE with a Version field.
const micOffset = 72

// TestInteropSambaClient: ntlm_auth --helper-protocol=ntlmssp-client-1 -> our acceptor.
func TestInteropSambaClient(t *testing.T) {
	ntlmpeer.NtlmAuth(t) // gate the whole test, not each subtest
	p := ntlm.New(ntlm.Config{})
	for _, c := range []struct {
		name     string
		password string
		wantOK   bool
	}{{"right password", peerPassword, true}, {"wrong password", "nope", false}} {
		t.Run(c.name, func(t *testing.T) {
			peer := ntlmpeer.Start(t, ntlmpeer.Options{Role: ntlmpeer.SambaClient, Domain: peerDomain,
				User: peerUser, Password: c.password, Workstation: peerWorkstation})
			acc := newPeerAcceptor(t, p)
			tr, err := acceptFrom(t, acc, peer)
			if !c.wantOK {
				if !errors.Is(err, sspi.ErrLogonDenied) {
					t.Fatalf("wrong password: %v, want SEC_E_LOGON_DENIED", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			a := acc.Attributes()
			if !a.Established || a.ClientName != peerDomain+`\`+peerUser {
				t.Errorf("attributes %+v", a)
			}
			if ws := acc.Workstation(); ws != peerWorkstation {
				t.Errorf("workstation %q, want %q", ws, peerWorkstation)
			}
			// ntlm_auth fills the MIC field but does not announce it in MsvAvFlags
			// (only its SPNEGO mode does), so our acceptor rightly leaves it unchecked.
			// It is computed with Samba's exported session key, a KEY_EXCH key that
			// ntlm_auth sends without SIGN or SEAL: it must verify under our key too.
			if authenticateMIC(t, tr.tokens[2]) {
				t.Logf("ntlm_auth announced its MIC; the handshake verified it")
			}
			samePeerKey(t, acc, peer)
			key, err := acc.SessionKey()
			if err != nil {
				t.Fatal(err)
			}
			if !checkMIC(key, tr.tokens) {
				t.Errorf("ntlm_auth's MIC does not verify under the session key we agreed on")
			}
		})
	}
}

// checkMIC reports whether the MIC of tokens[2], an AUTHENTICATE with a MIC field,
// is HMAC_MD5(key, NEGOTIATE || CHALLENGE || AUTHENTICATE with the MIC zeroed).
func checkMIC(key []byte, tokens [][]byte) bool {
	if len(tokens) < 3 || len(tokens[2]) < micOffset+16 {
		return false
	}
	auth := bytes.Clone(tokens[2])
	mic := bytes.Clone(auth[micOffset : micOffset+16])
	clear(auth[micOffset : micOffset+16])
	m := hmac.New(md5.New, key)
	m.Write(tokens[0])
	m.Write(tokens[1])
	m.Write(auth)
	return hmac.Equal(m.Sum(nil), mic)
}

// TestInteropSambaServer: our initiator -> ntlm_auth --helper-protocol=squid-2.5-ntlmssp
// with a local password check.
func TestInteropSambaServer(t *testing.T) {
	ntlmpeer.NtlmAuth(t) // gate the whole test, not each subtest
	p := ntlm.New(ntlm.Config{Workstation: "GOSSPTEST"})
	for _, c := range []struct {
		name     string
		password string
		wantOK   bool
	}{{"right password", peerPassword, true}, {"wrong password", "nope", false}} {
		t.Run(c.name, func(t *testing.T) {
			peer := ntlmpeer.Start(t, ntlmpeer.Options{Role: ntlmpeer.SambaServer, Domain: peerDomain,
				User: peerUser, Password: peerPassword})
			ini := newPeerInitiator(t, p, c.password)
			tr, err := initiateTo(t, ini, peer)
			if !c.wantOK {
				if !errors.Is(err, ntlmpeer.ErrDenied) {
					t.Fatalf("wrong password: %v, want ntlm_auth to answer NA", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if user, err := peer.User(); err != nil || user != peerDomain+`\`+peerUser {
				t.Errorf("ntlm_auth authenticated %q (%v), want %s\\%s", user, err, peerDomain, peerUser)
			}
			if !authenticateMIC(t, tr.tokens[2]) {
				t.Errorf("our AUTHENTICATE announces no MIC")
			}
			samePeerKey(t, ini, peer)
		})
	}
	t.Run("altered MIC", func(t *testing.T) {
		// ntlm_auth checks a MIC that MsvAvFlags announces: with one bit of ours
		// flipped it refuses, so its AF above vouched for our MIC too.
		peer := ntlmpeer.Start(t, ntlmpeer.Options{Role: ntlmpeer.SambaServer, Domain: peerDomain,
			User: peerUser, Password: peerPassword})
		ini := newPeerInitiator(t, p, peerPassword)
		neg, _, err := ini.InitializeContext(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		ch, _, err := peer.Step(neg)
		if err != nil {
			t.Fatal(err)
		}
		auth, _, err := ini.InitializeContext(t.Context(), ch)
		if err != nil {
			t.Fatal(err)
		}
		auth[micOffset] ^= 1
		if _, _, err := peer.Step(auth); !errors.Is(err, ntlmpeer.ErrDenied) {
			t.Fatalf("altered MIC: %v, want ntlm_auth to answer NA", err)
		}
	})
}

// TestInteropImpacketClient: impacket.ntlm (NTLMv2) -> our acceptor, then message
// protection both ways with impacket's own SIGN and SEAL.
func TestInteropImpacketClient(t *testing.T) {
	ntlmpeer.Python(t, true) // gate the whole test, not each subtest
	p := ntlm.New(ntlm.Config{})
	for _, c := range []struct {
		name     string
		password string
		wantOK   bool
	}{{"right password", peerPassword, true}, {"wrong password", "nope", false}} {
		t.Run(c.name, func(t *testing.T) {
			peer := ntlmpeer.Start(t, ntlmpeer.Options{Role: ntlmpeer.ImpacketClient, Domain: peerDomain,
				User: peerUser, Password: c.password, Workstation: peerWorkstation})
			acc := newPeerAcceptor(t, p)
			tr, err := acceptFrom(t, acc, peer)
			if len(tr.tokens) > 0 && len(tr.tokens[0]) != 32 {
				// impacket's NEGOTIATE has no Version field; we take it as it is sent,
				// where gss-ntlmssp needs it padded to 40 bytes.
				t.Errorf("impacket's NEGOTIATE has %d bytes, want the 32-byte short form", len(tr.tokens[0]))
			}
			if !c.wantOK {
				if !errors.Is(err, sspi.ErrLogonDenied) {
					t.Fatalf("wrong password: %v, want SEC_E_LOGON_DENIED", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			a := acc.Attributes()
			if !a.Established || a.ClientName != peerDomain+`\`+peerUser || a.Flags&sspi.FlagConfidentiality == 0 {
				t.Errorf("attributes %+v", a)
			}
			if ws := acc.Workstation(); ws != peerWorkstation {
				t.Errorf("workstation %q, want %q", ws, peerWorkstation)
			}
			samePeerKey(t, acc, peer)
			impacketProtect(t, acc, peer)
		})
	}
}

// impacketProtect exchanges sealed and signed messages both ways between our acceptor
// and impacket, then checks that altered messages are refused both ways.
func impacketProtect(t *testing.T, acc *ntlm.Acceptor, peer *ntlmpeer.Peer) {
	t.Helper()
	for i, msg := range [][]byte{[]byte("impacket to gossp"), bytes.Repeat([]byte{0x5A}, 1000), {0}, {}} {
		ptok, err := peer.Seal(msg)
		if err != nil {
			t.Fatalf("impacket seal %d: %v", i, err)
		}
		if got, err := acc.DecryptMessage(ptok); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("DecryptMessage of impacket's token %d: %q %v", i, got, err)
		}
		psig, err := peer.Sign(msg)
		if err != nil {
			t.Fatalf("impacket sign %d: %v", i, err)
		}
		if err := acc.VerifySignature(msg, psig); err != nil {
			t.Fatalf("we reject impacket's signature %d: %v", i, err)
		}

		tok, err := acc.EncryptMessage(msg)
		if err != nil {
			t.Fatalf("EncryptMessage %d: %v", i, err)
		}
		// Our wrap token: the 16-byte signature (version 1, checksum, sequence number)
		// followed by the sealed message.
		if len(tok) != 16+len(msg) || binary.LittleEndian.Uint32(tok) != 1 ||
			binary.LittleEndian.Uint32(tok[12:]) != uint32(2*i) ||
			(len(msg) > 1 && bytes.Equal(tok[16:], msg)) {
			t.Fatalf("our token %d has an unexpected layout: %x", i, tok)
		}
		if got, err := peer.Unseal(tok); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("impacket unseal of our token %d: %q %v", i, got, err)
		}
		sig, err := acc.MakeSignature(msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := peer.Verify(msg, sig); err != nil {
			t.Fatalf("impacket rejects our signature %d: %v", i, err)
		}
	}

	// An altered impacket token is refused.
	ptok, err := peer.Seal([]byte("tamper"))
	if err != nil {
		t.Fatal(err)
	}
	ptok[len(ptok)-1] ^= 1
	if _, err := acc.DecryptMessage(ptok); !errors.Is(err, sspi.ErrMessageAltered) {
		t.Fatalf("altered impacket token: %v, want SEC_E_MESSAGE_ALTERED", err)
	}
	// An altered token of ours is refused by impacket's check (last: it leaves
	// impacket's RC4 state advanced).
	tok, err := acc.EncryptMessage([]byte("tamper"))
	if err != nil {
		t.Fatal(err)
	}
	tok[len(tok)-1] ^= 1
	if _, err := peer.Unseal(tok); !errors.Is(err, ntlmpeer.ErrPeer) {
		t.Fatalf("impacket unsealed an altered token of ours: %v", err)
	}
}
