package ntlm

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"

	"github.com/gossp/gossp/sspi"
)

// Benchmarks, each beside a baseline measured in the same run: the cryptographic floor
// (MS-NLMP's primitives alone, no encoding, no state machine).
//
//	go test -run '^$' -bench . -benchmem ./packages/ntlm

func benchCreds(b *testing.B) (ini, acc sspi.Credential) {
	p := New(Config{})
	ctx := context.Background()
	var err error
	ini, err = p.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
		Identity: &sspi.Identity{User: "alice", Domain: "TESTDOM", Password: "AlicePassw0rd!"}})
	if err != nil {
		b.Fatal(err)
	}
	acc, err = p.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsInbound,
		Material: Users{{Domain: "TESTDOM", User: "alice", NTHash: NTHash("AlicePassw0rd!")}}})
	if err != nil {
		b.Fatal(err)
	}
	return ini, acc
}

var benchFlags = sspi.FlagIntegrity | sspi.FlagConfidentiality | sspi.FlagReplayDetect | sspi.FlagSequenceDetect

func handshake(b *testing.B, ini, acc sspi.Credential) (sspi.Initiator, sspi.Acceptor) {
	ctx := context.Background()
	c, _ := ini.NewInitiator(sspi.ContextConfig{Target: "HTTP/server", Flags: benchFlags})
	s, _ := acc.NewAcceptor(sspi.ContextConfig{Flags: benchFlags})
	neg, _, err := c.InitializeContext(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	ch, _, err := s.AcceptContext(ctx, neg)
	if err != nil {
		b.Fatal(err)
	}
	auth, _, err := c.InitializeContext(ctx, ch)
	if err != nil {
		b.Fatal(err)
	}
	if _, st, err := s.AcceptContext(ctx, auth); err != nil || st != sspi.StatusOK {
		b.Fatal(err)
	}
	return c, s
}

// BenchmarkHandshake is a complete three-leg handshake, both sides, in process.
func BenchmarkHandshake(b *testing.B) {
	ini, acc := benchCreds(b)
	b.ReportAllocs()
	for b.Loop() {
		c, s := handshake(b, ini, acc)
		c.Close()
		s.Close()
	}
}

// BenchmarkHandshakeCryptoFloor is the same work's cryptography alone: NTOWFv2 on both
// sides, the NTLMv2 proof and key, key exchange, MIC, and the four sealing/signing keys
// with their RC4 and HMAC setup.
func BenchmarkHandshakeCryptoFloor(b *testing.B) {
	ntHash := NTHash("AlicePassw0rd!")
	sc, cc := make([]byte, 8), make([]byte, 8)
	rand.Read(sc)
	ti := AVPairs{{AvNbDomainName, encodeUTF16LE("TESTDOM")}, {AvTimestamp, make([]byte, 8)}}.Marshal()
	flags := FlagExtendedSessionSecurity | FlagKeyExch | FlagSign | FlagSeal | Flag128
	neg, chal, auth := make([]byte, 40), make([]byte, 120), make([]byte, 300)
	b.ReportAllocs()
	for b.Loop() {
		rand.Read(cc)
		for range 2 { // client and server each derive
			key := ntowfV2(ntHash, "alice", "TESTDOM")
			_, _, sbk := ntlmV2Response(key, sc, ntlmV2Blob(0, cc, ti))
			exported := rc4K(sbk, sc[:8])
			hmacMD5(exported, neg, chal, auth)
			s := newSession(flags, append(exported, exported[:8]...), true)
			s.send.setup()
			s.recv.setup()
		}
	}
}

func benchPair(b *testing.B) (sspi.Initiator, sspi.Acceptor) {
	ini, acc := benchCreds(b)
	c, s := handshake(b, ini, acc)
	b.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

// BenchmarkSealUnseal1KiB is EncryptMessage then DecryptMessage of 1 KiB.
func BenchmarkSealUnseal1KiB(b *testing.B) {
	c, s := benchPair(b)
	msg := bytes.Repeat([]byte{7}, 1024)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		tok, err := c.EncryptMessage(msg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.DecryptMessage(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealUnseal1KiBCryptoFloor is RC4 both ways and the two HMAC-MD5s alone.
func BenchmarkSealUnseal1KiBCryptoFloor(b *testing.B) {
	flags := FlagExtendedSessionSecurity | FlagKeyExch | FlagSign | FlagSeal | Flag128
	key := bytes.Repeat([]byte{0x55}, 16)
	tx, rx := newSealState(flags, key, true), newSealState(flags, key, true)
	tx.setup()
	rx.setup()
	msg := bytes.Repeat([]byte{7}, 1024)
	buf := make([]byte, len(msg))
	var sum [16]byte
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		tx.handle.XORKeyStream(buf, msg)
		tx.mac.Reset()
		tx.mac.Write(msg)
		tx.mac.Sum(sum[:0])
		rx.handle.XORKeyStream(buf, buf)
		rx.mac.Reset()
		rx.mac.Write(buf)
		rx.mac.Sum(sum[:0])
	}
}

// BenchmarkSignVerify1KiB is MakeSignature then VerifySignature over 1 KiB.
func BenchmarkSignVerify1KiB(b *testing.B) {
	c, s := benchPair(b)
	msg := bytes.Repeat([]byte{7}, 1024)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		sig, err := c.MakeSignature(msg)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.VerifySignature(msg, sig); err != nil {
			b.Fatal(err)
		}
	}
}
