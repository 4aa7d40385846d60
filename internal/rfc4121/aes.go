package rfc4121

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"hash"
	"sync"
	"sync/atomic"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/types"
)

// The AES cryptosystems, written on crypto/aes and crypto/hmac so that the usage keys
// Kc, Ke and Ki are derived once per session rather than on every message:
//
//   - aes128-cts-hmac-sha1-96 (17) and aes256-cts-hmac-sha1-96 (18), RFC 3962: keys
//     derived with RFC 3961's DK (n-fold, then AES); ciphertext AES-CBC-CTS(Ke, 0,
//     confounder|plaintext) followed by HMAC-SHA1-96(Ki, confounder|plaintext);
//     checksum HMAC-SHA1-96(Kc, data).
//   - aes128-cts-hmac-sha256-128 (19) and aes256-cts-hmac-sha384-192 (20), RFC 8009:
//     keys from KDF-HMAC-SHA2; the integrity tag covers the zero IV and the ciphertext
//     (encrypt-then-MAC); checksum HMAC(Kc, data) truncated.

// Derivation constants of RFC 3961 5.3 / RFC 8009 5.
const (
	constKc = 0x99
	constKe = 0xAA
	constKi = 0x55
)

// aesEngine is one of the four AES enctypes bound to a base key.
type aesEngine struct {
	id      int32
	rfc8009 bool
	hashFn  func() hash.Hash
	tag     int // truncated HMAC length: checksums and integrity tags
	kcLen   int // bytes of Kc and Ki
	keLen   int // bytes of Ke

	base      []byte
	baseOnce  sync.Once
	baseBlock cipher.Block // RFC 3961 DK's cipher under the base key

	usages [4]usageKeys // key usages 22-25, derived on first use

	mu    sync.Mutex
	extra []extraKeys // other usages, derived on first use
}

// extraKeys are the derived keys of a usage outside 22-25.
type extraKeys struct {
	usage uint32
	keys  *usageKeys
}

// maxExtraUsages bounds the other usages an engine keeps keys for.
const maxExtraUsages = 16

// usageKeys are the derived keys of one key usage, ready to use.
type usageKeys struct {
	ckOnce, encOnce sync.Once
	kc, ki          macPool
	ke              cipher.Block
	cbc             cbcPool // CBC encryption under ke
}

// cbcPool keeps one CBC encrypter under a key for reuse, reset to the zero IV before
// each use; under concurrent use a caller that finds none makes a new one.
type cbcPool struct {
	b    cipher.Block
	idle atomic.Pointer[cbcState]
}

type cbcState struct{ m cipher.BlockMode }

type ivSetter interface{ SetIV([]byte) }

// encrypt CBC-encrypts p, whole blocks, in place with a zero IV.
func (p *cbcPool) encrypt(b []byte) {
	if len(b) == 0 {
		return
	}
	st := p.idle.Swap(nil)
	if st != nil {
		st.m.(ivSetter).SetIV(zeroIV[:])
	} else {
		st = &cbcState{m: cipher.NewCBCEncrypter(p.b, zeroIV[:])}
	}
	st.m.CryptBlocks(b, b)
	if _, ok := st.m.(ivSetter); ok {
		p.idle.Store(st)
	}
}

// macPool hands out HMAC states keyed once: one is kept for reuse (the common case of
// one goroutine per direction), and Reset brings it back to its keyed start. Under
// concurrent use a caller that finds none makes a new one.
type macPool struct {
	key  []byte
	fn   func() hash.Hash
	idle atomic.Pointer[macState]
}

type macState struct {
	h   hash.Hash
	sum [sha512.Size]byte
}

func (p *macPool) init(fn func() hash.Hash, key []byte) { p.key, p.fn = key, fn }

func (p *macPool) get() *macState {
	if st := p.idle.Swap(nil); st != nil {
		st.h.Reset()
		return st
	}
	return &macState{h: hmac.New(p.fn, p.key)}
}

func (p *macPool) put(st *macState) { p.idle.Store(st) }

// newAESEngine returns the engine for the AES enctypes, nil for the others. The key
// has the enctype's size (newEngine checked).
func newAESEngine(key types.EncryptionKey) engine {
	e := &aesEngine{id: key.KeyType}
	switch key.KeyType {
	case etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96:
		e.hashFn, e.tag, e.kcLen, e.keLen = sha1.New, 12, len(key.KeyValue), len(key.KeyValue)
	case etypeID.AES128_CTS_HMAC_SHA256_128:
		e.rfc8009, e.hashFn, e.tag, e.kcLen, e.keLen = true, sha256.New, 16, 16, 16
	case etypeID.AES256_CTS_HMAC_SHA384_192:
		e.rfc8009, e.hashFn, e.tag, e.kcLen, e.keLen = true, sha512.New384, 24, 24, 32
	default:
		return nil
	}
	e.base = append([]byte(nil), key.KeyValue...)
	return e
}

func (e *aesEngine) etype() int32   { return e.id }
func (e *aesEngine) cksumSize() int { return e.tag }
func (e *aesEngine) confSize() int  { return aes.BlockSize }
func (e *aesEngine) tagSize() int   { return e.tag }

func (e *aesEngine) wipe() {
	clear(e.base)
	for i := range e.usages {
		e.usages[i].wipe()
	}
	e.mu.Lock()
	for _, x := range e.extra {
		x.keys.wipe()
	}
	e.mu.Unlock()
}

func (k *usageKeys) wipe() {
	clear(k.kc.key)
	clear(k.ki.key)
}

// derive returns the usage key for usage and constant (Kc, Ke or Ki) of n bytes.
func (e *aesEngine) derive(usage uint32, c byte, n int) []byte {
	var label [5]byte
	binary.BigEndian.PutUint32(label[:], usage)
	label[4] = c
	if e.rfc8009 {
		return kdfHMACSHA2(e.hashFn, e.base, label[:], n)
	}
	// RFC 3961 5.1 DK: DR(base, n-fold(label)) with AES as the block function; for AES
	// random-to-key is the identity.
	e.baseOnce.Do(func() { e.baseBlock, _ = aes.NewCipher(e.base) })
	out := make([]byte, (n+aes.BlockSize-1)/aes.BlockSize*aes.BlockSize)
	if usage < foldedUsages {
		copy(out, foldedConsts()[usage][constIndex(c)][:])
	} else {
		nfold(out[:aes.BlockSize], label[:])
	}
	e.baseBlock.Encrypt(out[:aes.BlockSize], out[:aes.BlockSize])
	for i := aes.BlockSize; i < len(out); i += aes.BlockSize {
		e.baseBlock.Encrypt(out[i:i+aes.BlockSize], out[i-aes.BlockSize:i])
	}
	return out[:n]
}

// foldedUsages bounds the usages whose folded constants are tabulated.
const foldedUsages = 64

// foldedConsts is 128-fold(usage | Kc, Ke, Ki constant) for the usages below
// foldedUsages, computed once.
var foldedConsts = sync.OnceValue(func() *[foldedUsages][3][aes.BlockSize]byte {
	t := new([foldedUsages][3][aes.BlockSize]byte)
	for u := range t {
		for i, c := range []byte{constKc, constKe, constKi} {
			var label [5]byte
			binary.BigEndian.PutUint32(label[:], uint32(u))
			label[4] = c
			nfold(t[u][i][:], label[:])
		}
	}
	return t
})

func constIndex(c byte) int {
	switch c {
	case constKc:
		return 0
	case constKe:
		return 1
	}
	return 2
}

// kdfHMACSHA2 is RFC 8009 5's KDF-HMAC-SHA2(key, label, k) with an empty context:
// k-truncate(HMAC(key, 00000001 | label | 00 | k)), k in bits.
func kdfHMACSHA2(fn func() hash.Hash, key, label []byte, n int) []byte {
	m := hmac.New(fn, key)
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], 1)
	m.Write(b[:])
	m.Write(label)
	m.Write([]byte{0})
	binary.BigEndian.PutUint32(b[:], uint32(n*8))
	m.Write(b[:])
	return m.Sum(nil)[:n]
}

// keys returns usage's derived keys.
func (e *aesEngine) keys(usage uint32) *usageKeys {
	if usage >= KeyUsageAcceptorSeal && usage <= KeyUsageInitiatorSign {
		return &e.usages[usage-KeyUsageAcceptorSeal]
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, x := range e.extra {
		if x.usage == usage {
			return x.keys
		}
	}
	k := new(usageKeys)
	if len(e.extra) < maxExtraUsages {
		e.extra = append(e.extra, extraKeys{usage, k})
	}
	return k
}

func (e *aesEngine) kc(usage uint32) *macPool {
	k := e.keys(usage)
	k.ckOnce.Do(func() { k.kc.init(e.hashFn, e.derive(usage, constKc, e.kcLen)) })
	return &k.kc
}

func (e *aesEngine) enc(usage uint32) *usageKeys {
	k := e.keys(usage)
	k.encOnce.Do(func() {
		ke := e.derive(usage, constKe, e.keLen)
		k.ke, _ = aes.NewCipher(ke)
		k.cbc.b = k.ke
		clear(ke)
		k.ki.init(e.hashFn, e.derive(usage, constKi, e.kcLen))
	})
	return k
}

// mac appends to dst the truncated HMAC of a|b under p's key.
func (e *aesEngine) mac(dst []byte, p *macPool, a, b []byte) []byte {
	st := p.get()
	st.h.Write(a)
	st.h.Write(b)
	sum := st.h.Sum(st.sum[:0])
	dst = append(dst, sum[:e.tag]...)
	p.put(st)
	return dst
}

// macEqual compares the truncated HMAC of a|b under p's key with got, in constant time.
func (e *aesEngine) macEqual(p *macPool, a, b, got []byte) bool {
	st := p.get()
	st.h.Write(a)
	st.h.Write(b)
	sum := st.h.Sum(st.sum[:0])
	ok := len(got) == e.tag && subtle.ConstantTimeCompare(sum[:e.tag], got) == 1
	p.put(st)
	return ok
}

func (e *aesEngine) checksum(dst []byte, usage uint32, a, b []byte) ([]byte, error) {
	return e.mac(dst, e.kc(usage), a, b), nil
}

func (e *aesEngine) verify(usage uint32, a, b, got []byte) (bool, error) {
	return e.macEqual(e.kc(usage), a, b, got), nil
}

var zeroIV [aes.BlockSize]byte

func (e *aesEngine) encrypt(dst []byte, usage uint32, a, b []byte) ([]byte, error) {
	k := e.enc(usage)
	dst, p := e.layout(dst, a, b)
	rand.Read(p[:aes.BlockSize]) // the confounder; crypto/rand.Read does not fail
	return e.seal(dst, k, p), nil
}

// layout extends dst by a block for the confounder, then a and b, with room for the
// tag, and returns it with the extension p.
func (e *aesEngine) layout(dst, a, b []byte) ([]byte, []byte) {
	start := len(dst)
	n := aes.BlockSize + len(a) + len(b)
	if cap(dst)-start < n+e.tag {
		grown := make([]byte, start, start+n+e.tag)
		copy(grown, dst)
		dst = grown
	}
	dst = dst[:start+n]
	p := dst[start:]
	copy(p[aes.BlockSize:], a)
	copy(p[aes.BlockSize+len(a):], b)
	return dst, p
}

// seal encrypts p, confounder|plaintext at the end of dst, in place and appends the
// integrity tag.
func (e *aesEngine) seal(dst []byte, k *usageKeys, p []byte) []byte {
	if e.rfc8009 {
		ctsEncrypt(k.ke, &k.cbc, p)
		return e.mac(dst, &k.ki, zeroIV[:], p)
	}
	dst = e.mac(dst, &k.ki, p, nil)
	ctsEncrypt(k.ke, &k.cbc, p)
	return dst
}

func (e *aesEngine) decrypt(buf []byte, usage uint32, ct []byte) ([]byte, error) {
	if len(ct) < aes.BlockSize+e.tag {
		return nil, errShort
	}
	k := e.enc(usage)
	c, tag := ct[:len(ct)-e.tag], ct[len(ct)-e.tag:]
	buf = buf[:len(c)]
	if e.rfc8009 {
		if !e.macEqual(&k.ki, zeroIV[:], c, tag) {
			return nil, errIntegrity
		}
		ctsDecrypt(k.ke, buf, c)
		return buf[aes.BlockSize:], nil
	}
	ctsDecrypt(k.ke, buf, c)
	if !e.macEqual(&k.ki, buf, nil, tag) {
		return nil, errIntegrity
	}
	return buf[aes.BlockSize:], nil
}

// xor16 sets dst to a XOR b, one AES block.
func xor16(dst, a, b []byte) {
	_, _, _ = dst[15], a[15], b[15]
	binary.NativeEndian.PutUint64(dst, binary.NativeEndian.Uint64(a)^binary.NativeEndian.Uint64(b))
	binary.NativeEndian.PutUint64(dst[8:], binary.NativeEndian.Uint64(a[8:])^binary.NativeEndian.Uint64(b[8:]))
}

// ctsEncrypt encrypts p (at least one block) in place with AES-CBC and ciphertext
// stealing, zero IV, as RFC 3962 5 defines it: CBC over zero-padded blocks, the last two
// ciphertext blocks swapped and the output cut to len(p). cbc, if not nil, does the
// plain CBC part (crypto/cipher's, faster than a loop over b for long messages).
func ctsEncrypt(b cipher.Block, cbc *cbcPool, p []byte) {
	const bs = aes.BlockSize
	if len(p) == bs {
		b.Encrypt(p, p)
		return
	}
	full := (len(p) - 1) / bs * bs // the bytes before the last (possibly partial) block
	if cbc != nil {
		cbc.encrypt(p[:full])
	} else {
		for off := 0; off < full; off += bs {
			blk := p[off : off+bs]
			if off > 0 {
				xor16(blk, blk, p[off-bs:off])
			}
			b.Encrypt(blk, blk)
		}
	}
	prev := p[full-bs : full]
	// prev is C(m-1); the last block Pm, zero-padded, is chained from it, and C(m-1),
	// cut to Pm's length, moves to the end.
	tail := p[full:]
	for j := range tail {
		c := prev[j]
		prev[j] = tail[j] ^ c
		tail[j] = c
	}
	b.Encrypt(prev, prev)
}

// ctsDecrypt undoes ctsEncrypt: dst and src have the same length (at least one block)
// and are either the same slice or do not overlap.
func ctsDecrypt(b cipher.Block, dst, src []byte) {
	const bs = aes.BlockSize
	if len(src) == bs {
		b.Decrypt(dst, src)
		return
	}
	full := (len(src) - 1) / bs * bs
	a := full - bs
	// src[a:full] is Cm; its decryption is (Pm|0) XOR C(m-1), and C(m-1) is
	// src[full:] followed by the rest of that decryption.
	last := dst[a:full]
	b.Decrypt(last, src[a:full])
	for j := full; j < len(src); j++ {
		c := src[j]
		dst[j] = last[j-full] ^ c
		last[j-full] = c
	}
	b.Decrypt(last, last)
	if a > 0 {
		xor16(last, last, src[a-bs:a])
	}
	// Plain CBC for the rest, from the end so that src may be dst.
	for off := a - bs; off >= 0; off -= bs {
		b.Decrypt(dst[off:off+bs], src[off:off+bs])
		if off > 0 {
			xor16(dst[off:off+bs], dst[off:off+bs], src[off-bs:off])
		}
	}
}

// nfold is RFC 3961 5.1's n-fold of in into out (len(out) bytes): in replicated to the
// least common multiple of the lengths, each copy rotated right by 13 bits more than the
// previous, and the out-sized pieces added with end-around carry (after MIT's
// krb5int_nfold).
func nfold(out, in []byte) {
	inb, outb := len(in), len(out)
	a, b := outb, inb
	for b != 0 {
		a, b = b, a%b
	}
	lcm := outb * inb / a
	clear(out)
	acc := 0
	for i := lcm - 1; i >= 0; i-- {
		msbit := ((inb << 3) - 1 + ((inb<<3)+13)*(i/inb) + ((inb - i%inb) << 3)) % (inb << 3)
		acc += ((int(in[((inb-1)-(msbit>>3))%inb])<<8 | int(in[(inb-(msbit>>3))%inb])) >> ((msbit & 7) + 1)) & 0xff
		acc += int(out[i%outb])
		out[i%outb] = byte(acc)
		acc >>= 8
	}
	if acc != 0 {
		for i := outb - 1; i >= 0; i-- {
			acc += int(out[i])
			out[i] = byte(acc)
			acc >>= 8
		}
	}
}
