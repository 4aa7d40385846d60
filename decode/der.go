package decode

import (
	"encoding/asn1"
	"fmt"
	"math/big"
	"strings"
)

// tlv is one DER element of d.buf: its tag byte, where it starts, where its contents
// start, and where it ends.
type tlv struct {
	tag      byte
	off, val int // element start, contents start
	end      int // one past the last content byte
}

func (t tlv) len() int     { return t.end - t.off }
func (t tlv) valLen() int  { return t.end - t.val }
func (t tlv) class() byte  { return t.tag & 0xc0 }
func (t tlv) number() byte { return t.tag & 0x1f }

// readTLV reads the element at off, which must end by limit. Only single-byte tags
// (numbers below 31) occur in the protocols dissected here; DER's definite, minimal
// lengths are required.
func (d *decoder) readTLV(off, limit int) (tlv, error) {
	if off >= limit {
		return tlv{}, fail(off, "DER element expected, found the end of its container")
	}
	t := tlv{tag: d.buf[off], off: off}
	if t.tag&0x1f == 0x1f {
		return t, fail(off, "DER tag 0x%02x: multi-byte tag numbers are not used here", t.tag)
	}
	p := off + 1
	if p >= limit {
		return t, fail(p, "DER length missing")
	}
	l := int(d.buf[p])
	p++
	if l&0x80 != 0 {
		k := l & 0x7f
		switch {
		case k == 0:
			return t, fail(p-1, "indefinite DER length (BER only)")
		case k > 3:
			return t, fail(p-1, "DER length of %d octets is too long", k)
		case p+k > limit:
			return t, fail(p, "DER length cut short")
		}
		l = 0
		for i := range k {
			l = l<<8 | int(d.buf[p+i])
		}
		if d.buf[p] == 0 || l < 0x80 {
			return t, fail(p-1, "DER length %d not in minimal form", l)
		}
		p += k
	}
	t.val = p
	t.end = p + l
	if l > limit-p {
		return t, fail(off, "DER element (tag 0x%02x) of %d bytes runs %d bytes past the end of its container", t.tag, l, l-(limit-p))
	}
	return t, nil
}

// children reads every element inside t.
func (d *decoder) children(t tlv) ([]tlv, error) {
	var out []tlv
	for p := t.val; p < t.end; {
		c, err := d.readTLV(p, t.end)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		p = c.end
	}
	return out, nil
}

// expect reads the element at off and requires its tag.
func (d *decoder) expect(off, limit int, tag byte, what string) (tlv, error) {
	t, err := d.readTLV(off, limit)
	if err != nil {
		return t, err
	}
	if t.tag != tag {
		return t, fail(off, "%s: tag 0x%02x, want 0x%02x", what, t.tag, tag)
	}
	return t, nil
}

// inner reads the single element a context-specific explicit tag wraps.
func (d *decoder) inner(t tlv, tag byte, what string) (tlv, error) {
	c, err := d.expect(t.val, t.end, tag, what)
	if err != nil {
		return c, err
	}
	if c.end != t.end {
		return c, fail(c.end, "%s: %d bytes after the value", what, t.end-c.end)
	}
	return c, nil
}

func (d *decoder) oid(t tlv) (asn1.ObjectIdentifier, error) {
	var oid asn1.ObjectIdentifier
	rest, err := asn1.Unmarshal(d.buf[t.off:t.end], &oid)
	if err != nil || len(rest) != 0 {
		return nil, fail(t.off, "malformed OBJECT IDENTIFIER")
	}
	return oid, nil
}

func (d *decoder) integer(t tlv) (string, error) {
	if t.tag != 0x02 && t.tag != 0x0a {
		return "", fail(t.off, "INTEGER expected, tag 0x%02x", t.tag)
	}
	if t.valLen() == 0 || t.valLen() > 16 {
		return "", fail(t.off, "INTEGER of %d bytes", t.valLen())
	}
	v := new(big.Int).SetBytes(d.buf[t.val:t.end])
	if d.buf[t.val]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*t.valLen())))
	}
	return v.String(), nil
}

// text shows a string-like element (GeneralString, KerberosTime, ...) as text.
func (d *decoder) text(t tlv) string {
	return strings.ToValidUTF8(string(d.buf[t.val:t.end]), "\uFFFD")
}

// bitNames shows a BIT STRING's set bits by name, bit 0 the most significant.
func (d *decoder) bitNames(t tlv, names []string) (string, []string, error) {
	if t.tag != 0x03 || t.valLen() < 1 || d.buf[t.val] > 7 {
		return "", nil, fail(t.off, "malformed BIT STRING")
	}
	bits := d.buf[t.val+1 : t.end]
	var set []string
	for i := 0; i < 8*len(bits); i++ {
		if bits[i/8]&(0x80>>(i%8)) != 0 {
			if i < len(names) {
				set = append(set, names[i])
			} else {
				set = append(set, fmt.Sprintf("bit%d", i))
			}
		}
	}
	return fmt.Sprintf("%x", bits), set, nil
}
