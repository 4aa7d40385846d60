package ntlm

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// The MS-NLMP 4.2 test vectors, as cross-checked in ../shared/testdata/ntlm.

func h(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func eq(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	if w := h(t, want); !bytes.Equal(got, w) {
		t.Errorf("%s = %x, want %x", what, got, w)
	}
}

var (
	vecUser            = "User"
	vecDomain          = "Domain"
	vecPassword        = "Password"
	vecWorkstation     = "COMPUTER"
	vecServerChallenge = []byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	vecClientChallenge = bytes.Repeat([]byte{0xaa}, 8)
	vecRandomKey       = bytes.Repeat([]byte{0x55}, 16)
	vecPlaintext       = encodeUTF16LE("Plaintext")
)

func TestVectorsNTLMv1(t *testing.T) {
	flags := NegotiateFlags(0xe2028233)
	lm := lmowfV1(vecPassword)
	nt := ntowfV1(vecPassword)
	eq(t, "LMOWFv1", lm, "e52cac67419a9a224a3b108f3fa6cb6d")
	eq(t, "NTOWFv1", nt, "a4f49c406510bdcab6824ee7c30fd852")
	ntResp, lmResp, sbk := ntlmV1Responses(flags, nt, lm, vecServerChallenge, nil)
	eq(t, "SessionBaseKey", sbk, "d87262b0cde4b1cb7499becccdf10784")
	eq(t, "LMv1 response", lmResp, "98def7b87f88aa5dafe2df779688a172def11c7d5ccdef13")
	eq(t, "NTLMv1 response", ntResp, "67c43011f30298a2ad35ece64f16331c44bdbed927841f94")

	kx := kxKey(flags, false, sbk, lmResp, lm, vecServerChallenge)
	eq(t, "EncryptedRandomSessionKey", rc4K(kx, vecRandomKey), "518822b1b3f350c8958682ecbb3e3cb7")
	kx = kxKey(flags|FlagRequestNonNTSessionKey, false, sbk, lmResp, lm, vecServerChallenge)
	eq(t, "KXKEY (NON_NT_SESSION_KEY)", kx, "e52cac67419a9a220000000000000000")
	eq(t, "EncryptedRandomSessionKey (NON_NT_SESSION_KEY)", rc4K(kx, vecRandomKey), "7452ca55c225a1ca04b48fae32cf56fc")
	kx = kxKey(flags|FlagLMKey, false, sbk, lmResp, lm, vecServerChallenge)
	eq(t, "KXKEY (LM_KEY)", kx, "b09e379f7fbecb1eaf0afdcb0383c8a0")
	eq(t, "EncryptedRandomSessionKey (LM_KEY)", rc4K(kx, vecRandomKey), "4cd7bb57d697ef9b549f02b8f9b37864")

	s := newSession(flags, vecRandomKey, true)
	sealed, _ := s.seal(vecPlaintext)
	eq(t, "sealed Plaintext", sealed[signatureLen:], "56fe04d861f9319af0d7238a2e3b4d457fb8")
	eq(t, "signature", sealed[:signatureLen], "010000000000000009dcd1df2e459d36")

	// The receiving side (one shared state without ESS) opens it, and also accepts the
	// spec's rendering with the encrypted RandomPad kept.
	r := newSession(flags, vecRandomKey, false)
	if msg, err := r.unseal(sealed); err != nil || !bytes.Equal(msg, vecPlaintext) {
		t.Errorf("unseal: %x, %v", msg, err)
	}
	r = newSession(flags, vecRandomKey, false)
	specForm := append(h(t, "0100000045c844e509dcd1df2e459d36"), sealed[signatureLen:]...)
	if _, err := r.unseal(specForm); err != nil {
		t.Errorf("unseal of the spec's signature form: %v", err)
	}
}

func TestVectorsNTLMv1ESS(t *testing.T) {
	flags := NegotiateFlags(0x820a8233)
	lm := lmowfV1(vecPassword)
	nt := ntowfV1(vecPassword)
	ntResp, lmResp, sbk := ntlmV1Responses(flags, nt, lm, vecServerChallenge, vecClientChallenge)
	eq(t, "LM response", lmResp, "aaaaaaaaaaaaaaaa00000000000000000000000000000000")
	eq(t, "NT response", ntResp, "7537f803ae367128ca458204bde7caf81e97ed2683267232")
	eq(t, "SessionBaseKey", sbk, "d87262b0cde4b1cb7499becccdf10784")
	kx := kxKey(flags, false, sbk, lmResp, lm, vecServerChallenge)
	eq(t, "KeyExchangeKey", kx, "eb93429a8bd952f8b89c55b87f475edc")
	eq(t, "SealKey", sealKey(flags, kx, true), "04dd7f014d8504d265a25cc86a3a7c06")
	eq(t, "SignKey", signKey(flags, kx, true), "60e799be5c72fc92922ae8ebe961fb8d")
	s := newSession(flags, kx, true)
	sealed, _ := s.seal(vecPlaintext)
	eq(t, "sealed Plaintext", sealed[signatureLen:], "a02372f6530273f3aa1eb90190ce5200c99d")
	eq(t, "signature", sealed[:signatureLen], "01000000ff2aeb52f681793a00000000")
	r := newSession(flags, kx, false)
	if msg, err := r.unseal(sealed); err != nil || !bytes.Equal(msg, vecPlaintext) {
		t.Errorf("unseal: %x, %v", msg, err)
	}
}

const vecTargetInfo = "02000c0044006f006d00610069006e0001000c0053006500720076006500720000000000"

func TestVectorsNTLMv2(t *testing.T) {
	flags := NegotiateFlags(0xe28a8233)
	ti := h(t, vecTargetInfo)
	respKey := ntowfV2(ntowfV1(vecPassword), vecUser, vecDomain)
	eq(t, "NTOWFv2", respKey, "0c868a403bfd7a93a3001ef22ef02e3f")
	eq(t, "LMv2 response", lmV2Response(respKey, vecServerChallenge, vecClientChallenge),
		"86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa")
	blob := ntlmV2Blob(0, vecClientChallenge, ti)
	eq(t, "temp", blob, "01010000000000000000000000000000aaaaaaaaaaaaaaaa00000000"+vecTargetInfo+"00000000")
	_, proof, sbk := ntlmV2Response(respKey, vecServerChallenge, blob)
	eq(t, "NTProofStr", proof, "68cd0ab851e51c96aabc927bebef6a1c")
	eq(t, "SessionBaseKey", sbk, "8de40ccadbc14a82f15cb0ad0de95ca3")
	kx := kxKey(flags, true, sbk, nil, nil, vecServerChallenge)
	eq(t, "EncryptedRandomSessionKey", rc4K(kx, vecRandomKey), "c5dad2544fc9799094ce1ce90bc9d03e")
	eq(t, "client seal key", sealKey(flags, vecRandomKey, true), "59f600973cc4960a25480a7c196e4c58")
	eq(t, "client sign key", signKey(flags, vecRandomKey, true), "4788dc861b4782f35d43fd98fe1a2d39")
	eq(t, "server seal key", sealKey(flags, vecRandomKey, false), "9355f3a957c1583d25c4c2f11e40390e")
	eq(t, "server sign key", signKey(flags, vecRandomKey, false), "d04d6f10741041d1d246d64188d7a8ad")
	for _, c := range []struct {
		bits NegotiateFlags
		cli  string
		srv  string
	}{
		{Flag56, "a5f7253c1065e8d3d68642040e71cfe0", "583e2f98959b385cd158f3734b5f5d3f"},
		{0, "42f964a471091a02ff4a77455366e4e5", "c5d3853b406b7c1241c595f0ce0750e2"},
	} {
		f := flags&^(Flag128|Flag56) | c.bits
		eq(t, "ESS seal key client "+f.String(), sealKey(f, vecRandomKey, true), c.cli)
		eq(t, "ESS seal key server "+f.String(), sealKey(f, vecRandomKey, false), c.srv)
	}
	nonESS := flags &^ FlagExtendedSessionSecurity
	eq(t, "non-ESS LM_KEY+56 seal key", sealKey(nonESS|FlagLMKey|Flag56, vecRandomKey, true), "55555555555555a0")
	eq(t, "non-ESS LM_KEY seal key", sealKey(nonESS&^Flag56|FlagLMKey, vecRandomKey, true), "5555555555e538b0")

	s := newSession(flags, vecRandomKey, true)
	sealed, _ := s.seal(vecPlaintext)
	eq(t, "sealed Plaintext", sealed[signatureLen:], "54e50165bf1936dc996020c1811b0f06fb5f")
	eq(t, "signature", sealed[:signatureLen], "010000007fb38ec5c55d497600000000")
	noKX := newSession(flags&^FlagKeyExch, vecRandomKey, true)
	sig, _ := noKX.sign(vecPlaintext)
	eq(t, "signature without KEY_EXCH", sig, "0100000070352851f256430900000000")

	r := newSession(flags, vecRandomKey, false)
	if msg, err := r.unseal(sealed); err != nil || !bytes.Equal(msg, vecPlaintext) {
		t.Errorf("server unseal: %x, %v", msg, err)
	}
}

func TestVectorMessages(t *testing.T) {
	for _, c := range []struct {
		name, challenge, authenticate string
	}{
		{"NTLMv1",
			"4e544c4d53535000020000000c000c0038000000338202e20123456789abcdef00000000000000000000000000000000060070170000000f530065007200760065007200",
			"4e544c4d5353500003000000180018006c00000018001800840000000c000c00480000000800080054000000100010005c000000100010009c000000358280e20501280a0000000f44006f006d00610069006e00550073006500720043004f004d005000550054004500520098def7b87f88aa5dafe2df779688a172def11c7d5ccdef1367c43011f30298a2ad35ece64f16331c44bdbed927841f94518822b1b3f350c8958682ecbb3e3cb7"},
		{"NTLMv2",
			"4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef00000000000000002400240044000000060070170000000f53006500720076006500720002000c0044006f006d00610069006e0001000c0053006500720076006500720000000000",
			"4e544c4d5353500003000000180018006c00000054005400840000000c000c00480000000800080054000000100010005c00000010001000d8000000358288e20501280a0000000f44006f006d00610069006e00550073006500720043004f004d005000550054004500520086c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa68cd0ab851e51c96aabc927bebef6a1c01010000000000000000000000000000aaaaaaaaaaaaaaaa0000000002000c0044006f006d00610069006e0001000c005300650072007600650072000000000000000000c5dad2544fc9799094ce1ce90bc9d03e"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ch, err := ParseChallenge(h(t, c.challenge))
			if err != nil {
				t.Fatal(err)
			}
			if ch.TargetName != "Server" || !bytes.Equal(ch.ServerChallenge[:], vecServerChallenge) {
				t.Errorf("challenge: %+v", ch)
			}
			if ch.Version == nil || ch.Version.Major != 6 || ch.Version.Build != 6000 || ch.Version.NTLMRevision != 15 {
				t.Errorf("challenge version %v", ch.Version)
			}
			eq(t, "re-marshalled CHALLENGE", ch.Marshal(), c.challenge)

			am, err := ParseAuthenticate(h(t, c.authenticate))
			if err != nil {
				t.Fatal(err)
			}
			if am.User != vecUser || am.Domain != vecDomain || am.Workstation != vecWorkstation {
				t.Errorf("names %q %q %q", am.User, am.Domain, am.Workstation)
			}
			if am.micPresent || am.MIC != nil {
				t.Error("a MIC was found in a message whose payload starts at 72")
			}
			if am.Version == nil || am.Version.Major != 5 || am.Version.Minor != 1 || am.Version.Build != 2600 {
				t.Errorf("authenticate version %v", am.Version)
			}
			eq(t, "re-marshalled AUTHENTICATE", am.Marshal(), c.authenticate)
		})
	}
}
