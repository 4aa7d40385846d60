package decode

import (
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/gossp/gossp/negotiate"
)

// oidPKU2U is PKU2U's mechanism OID (draft-zhu-pku2u).
var oidPKU2U = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 2, 7}

// Mechanism OIDs by name.
var mechNames = map[string]string{
	negotiate.OID.String():           "SPNEGO",
	negotiate.OIDKerberos.String():   "Kerberos 5",
	negotiate.OIDKerberosMS.String(): "MS Kerberos 5",
	negotiate.OIDNTLM.String():       "NTLMSSP",
	negotiate.OIDNegoEx.String():     "NegoEx",
	oidPKU2U.String():                "PKU2U",
	"1.2.840.113554.1.2.2.3":         "Kerberos 5 user-to-user",
}

func mechName(oid asn1.ObjectIdentifier) string {
	if n, ok := mechNames[oid.String()]; ok {
		return oid.String() + " (" + n + ")"
	}
	return oid.String()
}

func mechHint(oid asn1.ObjectIdentifier) string {
	switch {
	case oid.Equal(negotiate.OIDNTLM):
		return hintNTLM
	case oid.Equal(negotiate.OIDKerberos), oid.Equal(negotiate.OIDKerberosMS), oid.Equal(oidPKU2U):
		return hintKerberos
	case oid.Equal(negotiate.OIDNegoEx):
		return hintNegoEx
	}
	return hintNone
}

// gss dissects RFC 2743 3.1 InitialContextToken framing and what it carries.
func (d *decoder) gss(off, n, depth int) (*Node, error) {
	t, err := d.expect(off, off+n, 0x60, "GSS-API InitialContextToken")
	if err != nil {
		return nil, err
	}
	if t.end != off+n {
		return nil, fail(t.end, "%d bytes after the GSS-API token", off+n-t.end)
	}
	ot, err := d.expect(t.val, t.end, 0x06, "GSS-API thisMech")
	if err != nil {
		return nil, err
	}
	oid, err := d.oid(ot)
	if err != nil {
		return nil, err
	}
	root := &Node{Name: "GSS-API InitialContextToken", Offset: off, Length: n}
	root.add("thisMech", mechName(oid), ot.off, ot.len())
	body, blen := ot.end, t.end-ot.end
	if blen == 0 {
		return nil, fail(body, "GSS-API token without an inner token")
	}
	var child *Node
	switch mechHint(oid) {
	case hintNone:
		if oid.Equal(negotiate.OID) {
			child, err = d.spnego(body, blen, hintNone, depth+1)
		} else {
			child = &Node{Name: "innerContextToken", Value: hex.EncodeToString(d.buf[body:t.end]), Offset: body, Length: blen}
		}
	case hintKerberos:
		child, err = d.krbToken(body, blen, depth+1)
	default:
		child, err = d.any(body, blen, mechHint(oid), depth+1)
	}
	if err != nil {
		return nil, err
	}
	root.Children = append(root.Children, child)
	return root, nil
}

var reqFlagNames = []string{"delegFlag", "mutualFlag", "replayFlag", "sequenceFlag", "anonFlag", "confFlag", "integFlag"}

// spnego dissects a NegotiationToken (RFC 4178, MS-SPNG's NegTokenInit2).
func (d *decoder) spnego(off, n int, hint string, depth int) (*Node, error) {
	t, err := d.readTLV(off, off+n)
	if err != nil {
		return nil, err
	}
	if t.end != off+n {
		return nil, fail(t.end, "%d bytes after the SPNEGO token", off+n-t.end)
	}
	root := &Node{Name: "SPNEGO", Offset: off, Length: n}
	seq, err := d.inner(t, 0x30, "NegotiationToken")
	if err != nil {
		return nil, err
	}
	fields, err := d.children(seq)
	if err != nil {
		return nil, err
	}
	// The token must also pass gossp's own parser.
	init, resp, perr := negotiate.ParseToken(d.buf[off : off+n])
	switch t.tag {
	case 0xa0:
		err = d.negTokenInit(root, seq, fields, init, depth)
	case 0xa1:
		err = d.negTokenResp(root, seq, fields, resp, hint, depth)
	default:
		return nil, fail(off, "SPNEGO NegotiationToken: tag 0x%02x, want [0] or [1]", t.tag)
	}
	if err != nil {
		return nil, err
	}
	if perr != nil {
		return nil, fail(off, "%v", perr)
	}
	return root, nil
}

func (d *decoder) negTokenInit(root *Node, seq tlv, fields []tlv, init *negotiate.NegTokenInit, depth int) error {
	n := root.add("negTokenInit", "", seq.off, seq.len())
	var first asn1.ObjectIdentifier
	for _, f := range fields {
		switch f.tag {
		case 0xa0:
			list, err := d.inner(f, 0x30, "mechTypes")
			if err != nil {
				return err
			}
			oids, err := d.children(list)
			if err != nil {
				return err
			}
			mt := n.add("mechTypes", fmt.Sprintf("%d", len(oids)), f.off, f.len())
			for _, o := range oids {
				if o.tag != 0x06 {
					return fail(o.off, "mechTypes: tag 0x%02x, want OBJECT IDENTIFIER", o.tag)
				}
				oid, err := d.oid(o)
				if err != nil {
					return err
				}
				if first == nil {
					first = oid
				}
				mt.add("MechType", mechName(oid), o.off, o.len())
			}
		case 0xa1:
			bs, err := d.inner(f, 0x03, "reqFlags")
			if err != nil {
				return err
			}
			v, set, err := d.bitNames(bs, reqFlagNames)
			if err != nil {
				return err
			}
			rf := n.add("reqFlags", v, f.off, f.len())
			for _, s := range set {
				rf.add(s, "set", bs.off, bs.len())
			}
		case 0xa2:
			os, err := d.inner(f, 0x04, "mechToken")
			if err != nil {
				return err
			}
			c := n.add("mechToken", fmt.Sprintf("%d bytes", os.valLen()), f.off, f.len())
			if err := d.carried(c, os, mechHint(first), depth); err != nil {
				return err
			}
		case 0xa3:
			if f.val < f.end && d.buf[f.val] == 0x30 {
				if err := d.negHints(n, f); err != nil {
					return err
				}
				n.Name = "negTokenInit2"
				continue
			}
			if err := d.mic(n, f, hintNone); err != nil {
				return err
			}
		case 0xa4:
			if err := d.mic(n, f, hintNone); err != nil {
				return err
			}
		default:
			return fail(f.off, "negTokenInit: unknown field tag 0x%02x", f.tag)
		}
	}
	_ = init
	return nil
}

func (d *decoder) negHints(n *Node, f tlv) error {
	seq, err := d.inner(f, 0x30, "negHints")
	if err != nil {
		return err
	}
	h := n.add("negHints", "", f.off, f.len())
	fields, err := d.children(seq)
	if err != nil {
		return err
	}
	for _, c := range fields {
		switch c.tag {
		case 0xa0:
			s, err := d.inner(c, 0x1b, "hintName")
			if err != nil {
				return err
			}
			h.add("hintName", d.text(s), c.off, c.len())
		case 0xa1:
			s, err := d.inner(c, 0x04, "hintAddress")
			if err != nil {
				return err
			}
			h.add("hintAddress", hex.EncodeToString(d.buf[s.val:s.end]), c.off, c.len())
		default:
			return fail(c.off, "negHints: unknown field tag 0x%02x", c.tag)
		}
	}
	return nil
}

func (d *decoder) negTokenResp(root *Node, seq tlv, fields []tlv, resp *negotiate.NegTokenResp, hint string, depth int) error {
	n := root.add("negTokenResp", "", seq.off, seq.len())
	for _, f := range fields {
		switch f.tag {
		case 0xa0:
			e, err := d.inner(f, 0x0a, "negState")
			if err != nil {
				return err
			}
			v, err := d.integer(e)
			if err != nil {
				return err
			}
			var st int
			fmt.Sscan(v, &st)
			n.add("negState", fmt.Sprintf("%s (%s)", negotiate.NegState(st), v), f.off, f.len())
		case 0xa1:
			o, err := d.inner(f, 0x06, "supportedMech")
			if err != nil {
				return err
			}
			oid, err := d.oid(o)
			if err != nil {
				return err
			}
			hint = mechHint(oid)
			n.add("supportedMech", mechName(oid), f.off, f.len())
		case 0xa2:
			os, err := d.inner(f, 0x04, "responseToken")
			if err != nil {
				return err
			}
			c := n.add("responseToken", fmt.Sprintf("%d bytes", os.valLen()), f.off, f.len())
			if err := d.carried(c, os, hint, depth); err != nil {
				return err
			}
		case 0xa3:
			if err := d.mic(n, f, hint); err != nil {
				return err
			}
		default:
			return fail(f.off, "negTokenResp: unknown field tag 0x%02x", f.tag)
		}
	}
	_ = resp
	return nil
}

// carried dissects the mechanism token inside an OCTET STRING.
func (d *decoder) carried(c *Node, os tlv, hint string, depth int) error {
	if os.valLen() == 0 {
		return nil
	}
	child, err := d.any(os.val, os.valLen(), hint, depth+1)
	if de, ok := err.(*DecodeError); ok && de.Offset == os.val && strings.HasPrefix(de.Reason, "unknown token") {
		// A mechanism decode does not know: its bytes, undissected.
		c.add("undissected", hex.EncodeToString(d.buf[os.val:os.end]), os.val, os.valLen())
		return nil
	}
	if err != nil {
		return err
	}
	c.Children = append(c.Children, child)
	return nil
}

// mic shows a mechListMIC: as an NTLMSSP signature when the mechanism is NTLM (or,
// with no mechanism named, when it has that shape), as an RFC 4121 MIC token for
// Kerberos, else as bytes.
func (d *decoder) mic(n *Node, f tlv, hint string) error {
	os, err := d.inner(f, 0x04, "mechListMIC")
	if err != nil {
		return err
	}
	b := d.buf[os.val:os.end]
	m := n.add("mechListMIC", hex.EncodeToString(b), f.off, f.len())
	ntlmShape := len(b) == 16 && binary.LittleEndian.Uint32(b) == 1
	switch {
	case ntlmShape && (hint == hintNTLM || hint == hintNone):
		s, _ := d.ntlmSignature(os.val, os.valLen())
		m.Children = append(m.Children, s)
	case hint == hintKerberos && len(b) >= 16 && b[0] == 4 && b[1] == 4:
		k, err := d.krbToken(os.val, os.valLen(), 0)
		if err == nil {
			m.Children = append(m.Children, k)
		}
	}
	return nil
}

// ntlmSignature dissects an NTLMSSP_MESSAGE_SIGNATURE (MS-NLMP 2.2.2.9), with the
// sealed message that follows it in a wrap token.
func (d *decoder) ntlmSignature(off, n int) (*Node, error) {
	if n < 16 {
		return nil, fail(off+n, "NTLMSSP message signature cut short (%d of 16 bytes)", n)
	}
	b := d.buf[off:]
	root := &Node{Name: "NTLMSSP Verifier", Offset: off, Length: 16}
	root.add("Version", fmt.Sprintf("%d", binary.LittleEndian.Uint32(b)), off, 4)
	root.add("Checksum", hex.EncodeToString(b[4:12]), off+4, 8)
	root.add("SeqNum", fmt.Sprintf("%d", binary.LittleEndian.Uint32(b[12:])), off+12, 4)
	if n > 16 {
		w := &Node{Name: "NTLMSSP wrap token", Offset: off, Length: n}
		w.Children = append(w.Children, root)
		w.add("Sealed data", fmt.Sprintf("%d bytes", n-16), off+16, n-16)
		return w, nil
	}
	return root, nil
}
