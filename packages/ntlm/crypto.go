package ntlm

import (
	"crypto/des"
	"crypto/md5"
	"crypto/rc4"
	"encoding/binary"
	"hash"
	"hash/crc32"
	"strings"
	"sync"
	"unicode/utf16"

	"golang.org/x/crypto/md4"
)

// This file holds MS-NLMP's cryptographic functions (3.3 and 3.4), each named as the
// specification names it so the two can be read side by side.

// encodeUTF16LE is UNICODE(s): UTF-16 little-endian without a terminator.
func encodeUTF16LE(s string) []byte {
	b := make([]byte, 0, 2*len(s))
	for _, r := range s {
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			b = append(b, byte(r1), byte(r1>>8), byte(r2), byte(r2>>8))
			continue
		}
		b = append(b, byte(r), byte(r>>8))
	}
	return b
}

// decodeUTF16LE decodes UTF-16LE bytes; an odd trailing byte is dropped by the caller's
// length check, not here.
func decodeUTF16LE(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// ntowfV1 is NTOWFv1: MD4(UNICODE(password)), the NT hash.
func ntowfV1(password string) []byte {
	h := md4.New()
	h.Write(encodeUTF16LE(password))
	return h.Sum(nil)
}

// lmowfV1 is LMOWFv1: the LM hash, DES of "KGS!@#$%" under the upper-cased, 14-byte
// padded OEM password.
func lmowfV1(password string) []byte {
	p := make([]byte, 14)
	copy(p, strings.ToUpper(password)) // OEM code page approximated by the bytes of the upper-cased string
	magic := []byte("KGS!@#$%")
	out := make([]byte, 16)
	desEncrypt(out[0:8], p[0:7], magic)
	desEncrypt(out[8:16], p[7:14], magic)
	return out
}

// ntowfV2 is NTOWFv2 = HMAC_MD5(NT hash, UNICODE(Uppercase(user) + domain)).
func ntowfV2(ntHash []byte, user, domain string) []byte {
	return hmacMD5(ntHash, encodeUTF16LE(strings.ToUpper(user)+domain))
}

// hmacState is the scratch of one HMAC-MD5 computation. Handshakes compute a dozen
// HMACs under as many keys; pooling the two MD5 states (rather than hmac.New per call)
// takes most of the handshake's allocations away.
type hmacState struct {
	inner, outer hash.Hash
	pad          [md5.BlockSize]byte
	sum          [md5.Size]byte
}

var hmacPool = sync.Pool{New: func() any { return &hmacState{inner: md5.New(), outer: md5.New()} }}

// hmacMD5 is HMAC_MD5(key, parts...) (RFC 2104). Keys here are 16 bytes, never longer
// than the block.
func hmacMD5(key []byte, parts ...[]byte) []byte {
	st := hmacPool.Get().(*hmacState)
	for i := range st.pad {
		st.pad[i] = 0x36
	}
	for i, k := range key {
		st.pad[i] ^= k
	}
	st.inner.Reset()
	st.inner.Write(st.pad[:])
	for _, p := range parts {
		st.inner.Write(p)
	}
	inner := st.inner.Sum(st.sum[:0])
	for i := range st.pad {
		st.pad[i] ^= 0x36 ^ 0x5c
	}
	st.outer.Reset()
	st.outer.Write(st.pad[:])
	st.outer.Write(inner)
	out := st.outer.Sum(make([]byte, 0, md5.Size))
	clear(st.pad[:])
	clear(st.sum[:])
	hmacPool.Put(st)
	return out
}

// desKey expands a 7-byte key into DES's 8 bytes with (ignored) parity bits.
func desKey(k7 []byte) []byte {
	k := make([]byte, 8)
	k[0] = k7[0]
	k[1] = k7[0]<<7 | k7[1]>>1
	k[2] = k7[1]<<6 | k7[2]>>2
	k[3] = k7[2]<<5 | k7[3]>>3
	k[4] = k7[3]<<4 | k7[4]>>4
	k[5] = k7[4]<<3 | k7[5]>>5
	k[6] = k7[5]<<2 | k7[6]>>6
	k[7] = k7[6] << 1
	return k
}

// desEncrypt is DES(K, D) with a 7-byte key.
func desEncrypt(dst, k7, data []byte) {
	c, err := des.NewCipher(desKey(k7))
	if err != nil {
		panic("ntlm: DES key of the wrong size") // desKey always returns 8 bytes
	}
	c.Encrypt(dst, data)
}

// desl is DESL(K, D): D encrypted under three 7-byte slices of K padded to 21 bytes.
func desl(k16, data []byte) []byte {
	k := make([]byte, 21)
	copy(k, k16)
	out := make([]byte, 24)
	desEncrypt(out[0:8], k[0:7], data)
	desEncrypt(out[8:16], k[7:14], data)
	desEncrypt(out[16:24], k[14:21], data)
	return out
}

// rc4K is RC4K(key, data): a one-shot RC4 encryption.
func rc4K(key, data []byte) []byte {
	c, err := rc4.NewCipher(key)
	if err != nil {
		panic("ntlm: RC4 key of the wrong size") // keys here are 5 to 16 bytes
	}
	out := make([]byte, len(data))
	c.XORKeyStream(out, data)
	return out
}

// ntlmV2Blob is the "temp" structure of the NTLMv2 response (MS-NLMP 3.3.2):
// Responserversion, HiResponserversion, Z(6), Time, ClientChallenge, Z(4), target info,
// Z(4).
func ntlmV2Blob(timestamp uint64, clientChallenge, targetInfo []byte) []byte {
	b := make([]byte, 28, 28+len(targetInfo)+4)
	b[0], b[1] = 1, 1
	binary.LittleEndian.PutUint64(b[8:], timestamp)
	copy(b[16:24], clientChallenge)
	b = append(b, targetInfo...)
	return append(b, 0, 0, 0, 0)
}

// ntlmV2Response computes the NTLMv2 NtChallengeResponse, its NTProofStr and the
// session base key from ResponseKeyNT (NTOWFv2), the server challenge and the blob.
func ntlmV2Response(responseKeyNT, serverChallenge, blob []byte) (ntResponse, ntProofStr, sessionBaseKey []byte) {
	ntProofStr = hmacMD5(responseKeyNT, serverChallenge, blob)
	ntResponse = append(append(make([]byte, 0, 16+len(blob)), ntProofStr...), blob...)
	sessionBaseKey = hmacMD5(responseKeyNT, ntProofStr)
	return ntResponse, ntProofStr, sessionBaseKey
}

// lmV2Response is HMAC_MD5(ResponseKeyLM, ServerChallenge || ClientChallenge) ||
// ClientChallenge.
func lmV2Response(responseKeyLM, serverChallenge, clientChallenge []byte) []byte {
	return append(hmacMD5(responseKeyLM, serverChallenge, clientChallenge), clientChallenge...)
}

// kxKey is KXKEY (MS-NLMP 3.4.5.1). For NTLMv2 it is the session base key; the other
// branches serve NTLMv1.
func kxKey(flags NegotiateFlags, v2 bool, sessionBaseKey, lmResponse, lmowf, serverChallenge []byte) []byte {
	switch {
	case v2:
		return sessionBaseKey
	case flags.Has(FlagExtendedSessionSecurity):
		return hmacMD5(sessionBaseKey, serverChallenge, lmResponse[:8])
	case flags.Has(FlagLMKey):
		out := make([]byte, 16)
		desEncrypt(out[0:8], lmowf[0:7], lmResponse[0:8])
		desEncrypt(out[8:16], []byte{lmowf[7], 0xBD, 0xBD, 0xBD, 0xBD, 0xBD, 0xBD}, lmResponse[0:8])
		return out
	case flags.Has(FlagRequestNonNTSessionKey):
		return append(append(make([]byte, 0, 16), lmowf[:8]...), make([]byte, 8)...)
	}
	return sessionBaseKey
}

var (
	clientSignMagic = []byte("session key to client-to-server signing key magic constant\x00")
	serverSignMagic = []byte("session key to server-to-client signing key magic constant\x00")
	clientSealMagic = []byte("session key to client-to-server sealing key magic constant\x00")
	serverSealMagic = []byte("session key to server-to-client sealing key magic constant\x00")
)

// signKey is SIGNKEY (MS-NLMP 3.4.5.2); nil without extended session security.
func signKey(flags NegotiateFlags, exportedKey []byte, client bool) []byte {
	if !flags.Has(FlagExtendedSessionSecurity) {
		return nil
	}
	magic := serverSignMagic
	if client {
		magic = clientSignMagic
	}
	return md5Concat(exportedKey, magic)
}

// md5Concat is MD5(a || b) for the short inputs of key derivation.
func md5Concat(a, b []byte) []byte {
	var buf [128]byte
	n := copy(buf[:], a)
	n += copy(buf[n:], b)
	sum := md5.Sum(buf[:n])
	clear(buf[:n])
	return sum[:]
}

// sealKey is SEALKEY (MS-NLMP 3.4.5.3).
func sealKey(flags NegotiateFlags, exportedKey []byte, client bool) []byte {
	if flags.Has(FlagExtendedSessionSecurity) {
		var k []byte
		switch {
		case flags.Has(Flag128):
			k = exportedKey
		case flags.Has(Flag56):
			k = exportedKey[:7]
		default:
			k = exportedKey[:5]
		}
		magic := serverSealMagic
		if client {
			magic = clientSealMagic
		}
		return md5Concat(k, magic)
	}
	if flags.Has(FlagLMKey) || flags.Has(FlagDatagram) {
		if flags.Has(Flag56) {
			return append(append(make([]byte, 0, 8), exportedKey[:7]...), 0xA0)
		}
		return append(append(make([]byte, 0, 8), exportedKey[:5]...), 0xE5, 0x38, 0xB0)
	}
	return exportedKey
}

// crc32Sum is the CRC32 the non-ESS signature uses.
func crc32Sum(msg []byte) uint32 { return crc32.ChecksumIEEE(msg) }

// ntlmV1Responses computes NTLMv1's NtChallengeResponse and LmChallengeResponse (MS-NLMP
// 3.3.1), with the client challenge folded in under extended session security, and the
// session base key MD4(NTOWFv1).
func ntlmV1Responses(flags NegotiateFlags, ntHash, lmHash, serverChallenge, clientChallenge []byte) (nt, lm, sessionBaseKey []byte) {
	if flags.Has(FlagExtendedSessionSecurity) {
		h := md5.Sum(append(append(make([]byte, 0, 16), serverChallenge...), clientChallenge...))
		nt = desl(ntHash, h[:8])
		lm = append(append(make([]byte, 0, 24), clientChallenge...), make([]byte, 16)...)
	} else {
		nt = desl(ntHash, serverChallenge)
		lm = desl(lmHash, serverChallenge)
	}
	k := md4.New()
	k.Write(ntHash)
	return nt, lm, k.Sum(nil)
}
