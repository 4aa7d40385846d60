package decode

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// Kerberos: RFC 4121 token IDs and the application tags of RFC 4120 messages.
var tokenIDs = map[[2]byte]string{
	{1, 0}: "KRB_AP_REQ", {2, 0}: "KRB_AP_REP", {3, 0}: "KRB_ERROR",
	{4, 4}: "MIC token (RFC 4121)", {5, 4}: "Wrap token (RFC 4121)",
	// PKU2U (draft-zhu-pku2u) carries the AS exchange in GSS tokens too.
	{5, 0}: "KRB_AS_REQ (PKU2U)", {6, 0}: "KRB_AS_REP (PKU2U)",
}

func isKerberosTokenID(a, b byte) bool { _, ok := tokenIDs[[2]byte{a, b}]; return ok }

var appTags = map[byte]string{
	1: "Ticket", 10: "AS-REQ", 11: "AS-REP", 12: "TGS-REQ", 13: "TGS-REP", 14: "AP-REQ", 15: "AP-REP",
	20: "KRB-SAFE", 21: "KRB-PRIV", 22: "KRB-CRED", 30: "KRB-ERROR",
}

var msgTypes = map[string]string{"10": "krb-as-req", "11": "krb-as-rep", "12": "krb-tgs-req", "13": "krb-tgs-rep",
	"14": "krb-ap-req", "15": "krb-ap-rep", "20": "krb-safe", "21": "krb-priv", "22": "krb-cred", "30": "krb-error"}

// Field names by application tag, by context tag number.
var krbFields = map[byte][]string{
	1:  {"tkt-vno", "realm", "sname", "enc-part"},
	10: {"", "pvno", "msg-type", "padata", "req-body"},
	12: {"", "pvno", "msg-type", "padata", "req-body"},
	11: {"pvno", "msg-type", "padata", "crealm", "cname", "ticket", "enc-part"},
	13: {"pvno", "msg-type", "padata", "crealm", "cname", "ticket", "enc-part"},
	14: {"pvno", "msg-type", "ap-options", "ticket", "authenticator"},
	15: {"pvno", "msg-type", "enc-part"},
	30: {"pvno", "msg-type", "ctime", "cusec", "stime", "susec", "error-code", "crealm", "cname", "realm", "sname", "e-text", "e-data"},
}

var reqBodyFields = []string{"kdc-options", "cname", "realm", "sname", "from", "till", "rtime", "nonce", "etype", "addresses", "enc-authorization-data", "additional-tickets"}

// krbToken dissects an RFC 4121 token (or PKU2U's): the two-byte token ID and, for the
// context tokens, the Kerberos message after it; the header of MIC and wrap tokens.
func (d *decoder) krbToken(off, n, depth int) (*Node, error) {
	b := d.buf[off : off+n]
	if n < 2 {
		return nil, fail(off, "Kerberos token cut short")
	}
	name, ok := tokenIDs[[2]byte{b[0], b[1]}]
	if !ok {
		return nil, fail(off, "unknown Kerberos token ID %02x %02x", b[0], b[1])
	}
	root := &Node{Name: "Kerberos", Value: name, Offset: off, Length: n}
	root.add("TOK_ID", fmt.Sprintf("%02x %02x (%s)", b[0], b[1], name), off, 2)
	if b[1] == 4 {
		if n < 16 {
			return nil, fail(off+n, "RFC 4121 token header cut short (%d of 16 bytes)", n)
		}
		f := b[2]
		var set []string
		for i, s := range []string{"SentByAcceptor", "Sealed", "AcceptorSubkey"} {
			if f&(1<<i) != 0 {
				set = append(set, s)
			}
		}
		fl := root.add("Flags", fmt.Sprintf("0x%02x", f), off+2, 1)
		for _, s := range set {
			fl.add(s, "set", off+2, 1)
		}
		if b[0] == 4 {
			root.add("Filler", hex.EncodeToString(b[3:8]), off+3, 5)
		} else {
			root.add("Filler", fmt.Sprintf("%02x", b[3]), off+3, 1)
			root.add("EC", fmt.Sprintf("%d", binary.BigEndian.Uint16(b[4:])), off+4, 2)
			root.add("RRC", fmt.Sprintf("%d", binary.BigEndian.Uint16(b[6:])), off+6, 2)
		}
		root.add("SND_SEQ", fmt.Sprintf("%d", binary.BigEndian.Uint64(b[8:])), off+8, 8)
		if n > 16 {
			what := "SGN_CKSUM"
			if b[0] == 5 {
				what = "Data"
			}
			root.add(what, fmt.Sprintf("%d bytes", n-16), off+16, n-16)
		}
		return root, nil
	}
	msg, err := d.krbMessage(off+2, n-2)
	if err != nil {
		return nil, err
	}
	root.Children = append(root.Children, msg)
	return root, nil
}

// krbMessage outlines an RFC 4120 message: its name, msg-type and top fields.
func (d *decoder) krbMessage(off, n int) (*Node, error) {
	t, err := d.readTLV(off, off+n)
	if err != nil {
		return nil, err
	}
	if t.end != off+n {
		return nil, fail(t.end, "%d bytes after the Kerberos message", off+n-t.end)
	}
	if t.class() != 0x40 || t.tag&0x20 == 0 {
		return nil, fail(off, "not a Kerberos message: tag 0x%02x is not a constructed APPLICATION tag", t.tag)
	}
	return d.krbApp(t, 0)
}

func (d *decoder) krbApp(t tlv, depth int) (*Node, error) {
	name, ok := appTags[t.number()]
	if !ok {
		name = fmt.Sprintf("[APPLICATION %d]", t.number())
	}
	root := &Node{Name: name, Offset: t.off, Length: t.len()}
	seq, err := d.inner(t, 0x30, name)
	if err != nil {
		return nil, err
	}
	fields, err := d.children(seq)
	if err != nil {
		return nil, err
	}
	if err := d.krbFields(root, fields, krbFields[t.number()], depth); err != nil {
		return nil, err
	}
	if mt := root.Find("msg-type"); mt != nil {
		root.Value = mt.Value
	}
	return root, nil
}

// krbFields outlines a SEQUENCE of context-tagged fields.
func (d *decoder) krbFields(parent *Node, fields []tlv, names []string, depth int) error {
	for _, f := range fields {
		if f.class() != 0x80 || f.tag&0x20 == 0 {
			return fail(f.off, "Kerberos field: tag 0x%02x, want a context tag", f.tag)
		}
		num := int(f.number())
		name := fmt.Sprintf("[%d]", num)
		if num < len(names) && names[num] != "" {
			name = names[num]
		}
		v, err := d.readTLV(f.val, f.end)
		if err != nil {
			return err
		}
		x := parent.add(name, "", f.off, f.len())
		switch {
		case v.tag == 0x02:
			s, err := d.integer(v)
			if err != nil {
				return err
			}
			if name == "msg-type" && msgTypes[s] != "" {
				s = fmt.Sprintf("%s (%s)", msgTypes[s], s)
			}
			x.Value = s
		case v.tag == 0x1b || v.tag == 0x18:
			x.Value = d.text(v)
		case v.tag == 0x03:
			x.Value = hex.EncodeToString(d.buf[v.val:v.end])
		case v.class() == 0x40 && v.tag&0x20 != 0 && depth < 2:
			c, err := d.krbApp(v, depth+1)
			if err != nil {
				return err
			}
			x.Children = append(x.Children, c)
		case v.tag == 0x30 && (name == "cname" || name == "sname"):
			x.Value = d.principal(v)
		case v.tag == 0x30 && (name == "enc-part" || name == "authenticator"):
			x.Value = d.encryptedData(v)
		case v.tag == 0x30 && name == "req-body" && depth < 2:
			kids, err := d.children(v)
			if err != nil {
				return err
			}
			if err := d.krbFields(x, kids, reqBodyFields, depth+1); err != nil {
				return err
			}
		default:
			x.Value = fmt.Sprintf("%d bytes", v.valLen())
		}
	}
	return nil
}

// principal shows a PrincipalName as "name/parts (name-type N)"; best effort.
func (d *decoder) principal(t tlv) string {
	kids, err := d.children(t)
	if err != nil {
		return fmt.Sprintf("%d bytes", t.valLen())
	}
	var typ string
	var parts []string
	for _, k := range kids {
		v, err := d.readTLV(k.val, k.end)
		if err != nil {
			continue
		}
		switch k.tag {
		case 0xa0:
			typ, _ = d.integer(v)
		case 0xa1:
			if ss, err := d.children(v); err == nil {
				for _, s := range ss {
					parts = append(parts, d.text(s))
				}
			}
		}
	}
	return fmt.Sprintf("%s (name-type %s)", strings.Join(parts, "/"), typ)
}

// encryptedData shows an EncryptedData's etype, kvno and cipher length; best effort.
func (d *decoder) encryptedData(t tlv) string {
	kids, err := d.children(t)
	if err != nil {
		return fmt.Sprintf("%d bytes", t.valLen())
	}
	var out []string
	for _, k := range kids {
		v, err := d.readTLV(k.val, k.end)
		if err != nil {
			continue
		}
		switch k.tag {
		case 0xa0:
			s, _ := d.integer(v)
			out = append(out, "etype "+s)
		case 0xa1:
			s, _ := d.integer(v)
			out = append(out, "kvno "+s)
		case 0xa2:
			out = append(out, fmt.Sprintf("cipher %d bytes", v.valLen()))
		}
	}
	return strings.Join(out, ", ")
}
