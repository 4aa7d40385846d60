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
			switch {
			case name == "msg-type" && msgTypes[s] != "":
				s = fmt.Sprintf("%s (%s)", msgTypes[s], s)
			case name == "error-code" && errorCodes[s] != "":
				s = fmt.Sprintf("%s (%s)", errorCodes[s], s)
			}
			x.Value = s
		case v.tag == 0x1b || v.tag == 0x18:
			x.Value = d.text(v)
		case v.tag == 0x03 && (name == "kdc-options" || name == "ap-options"):
			flags := kdcOptionNames
			if name == "ap-options" {
				flags = apOptionNames
			}
			h, set, err := d.bitNames(v, flags)
			if err != nil {
				return err
			}
			x.Value = h
			for _, s := range set {
				x.add(s, "set", v.off, v.len())
			}
		case v.tag == 0x03:
			x.Value = hex.EncodeToString(d.buf[v.val:v.end])
		case v.class() == 0x40 && v.tag&0x20 != 0 && depth < 2:
			c, err := d.krbApp(v, depth+1)
			if err != nil {
				return err
			}
			x.Children = append(x.Children, c)
		case v.tag == 0x30 && (name == "cname" || name == "sname"):
			x.Value = d.principal(x, v)
		case v.tag == 0x30 && (name == "enc-part" || name == "authenticator"):
			x.Value = d.encryptedData(x, v)
		case v.tag == 0x30 && name == "req-body" && depth < 2:
			kids, err := d.children(v)
			if err != nil {
				return err
			}
			if err := d.krbFields(x, kids, reqBodyFields, depth+1); err != nil {
				return err
			}
		case v.tag == 0x30 && name == "padata":
			if err := d.padata(x, v); err != nil {
				return err
			}
		case v.tag == 0x30 && name == "etype":
			kids, err := d.children(v)
			if err != nil {
				return err
			}
			x.Value = fmt.Sprint(len(kids))
			for _, k := range kids {
				s, err := d.integer(k)
				if err != nil {
					return err
				}
				x.add("ENCTYPE", etypeName(s), k.off, k.len())
			}
		case v.tag == 0x30 && name == "addresses":
			d.addresses(x, v)
		case v.tag == 0x04 && name == "e-data":
			x.Value = fmt.Sprintf("%d bytes", v.valLen())
			if err := d.eData(x, v); err != nil {
				return err
			}
		default:
			x.Value = fmt.Sprintf("%d bytes", v.valLen())
		}
	}
	return nil
}

// RFC 4120 5.4.1 KDCOptions and 5.5.1 APOptions, bit 0 first, as tshark names them.
var kdcOptionNames = []string{"reserved", "forwardable", "forwarded", "proxiable", "proxy", "allow-postdate", "postdated",
	"unused7", "renewable", "unused9", "unused10", "opt-hardware-auth", "unused12", "unused13", "constrained-delegation",
	"canonicalize", "request-anonymous", "unused17", "unused18", "unused19", "unused20", "unused21", "unused22", "unused23",
	"unused24", "unused25", "disable-transited-check", "renewable-ok", "enc-tkt-in-skey", "unused29", "renew", "validate"}

var apOptionNames = []string{"reserved", "use-session-key", "mutual-required"}

// Encryption types (RFC 3961, 3962, 8009, 4757).
var etypes = map[string]string{"1": "des-cbc-crc", "3": "des-cbc-md5", "16": "des3-cbc-sha1-kd",
	"17": "aes128-cts-hmac-sha1-96", "18": "aes256-cts-hmac-sha1-96", "19": "aes128-cts-hmac-sha256-128",
	"20": "aes256-cts-hmac-sha384-192", "23": "rc4-hmac", "24": "rc4-hmac-exp", "-135": "rc4-hmac-old-exp"}

func etypeName(s string) string {
	if n, ok := etypes[s]; ok {
		return fmt.Sprintf("%s (%s)", n, s)
	}
	return s
}

// Error codes (RFC 4120 7.5.9, RFC 4556 3.5) a PKU2U or Kerberos peer sends.
var errorCodes = map[string]string{"6": "KDC_ERR_C_PRINCIPAL_UNKNOWN", "7": "KDC_ERR_S_PRINCIPAL_UNKNOWN",
	"14": "KDC_ERR_ETYPE_NOSUPP", "24": "KDC_ERR_PREAUTH_FAILED", "25": "KDC_ERR_PREAUTH_REQUIRED",
	"31": "KRB_AP_ERR_BAD_INTEGRITY", "34": "KRB_AP_ERR_REPEAT", "37": "KRB_AP_ERR_SKEW", "41": "KRB_AP_ERR_MODIFIED",
	"50": "KRB_AP_ERR_INAPP_CKSUM", "60": "KRB_ERR_GENERIC", "62": "KDC_ERR_CLIENT_NOT_TRUSTED",
	"63": "KDC_ERR_KDC_NOT_TRUSTED", "64": "KDC_ERR_INVALID_SIG", "65": "KDC_ERR_DH_KEY_PARAMETERS_NOT_ACCEPTED",
	"70": "KDC_ERR_CANT_VERIFY_CERTIFICATE", "71": "KDC_ERR_INVALID_CERTIFICATE", "72": "KDC_ERR_REVOKED_CERTIFICATE",
	"75": "KDC_ERR_CLIENT_NAME_MISMATCH", "76": "KDC_ERR_KDC_NAME_MISMATCH"}

// principal shows a PrincipalName as "name/parts (name-type N)", with its name-type
// and name-string parts as children; best effort.
func (d *decoder) principal(x *Node, t tlv) string {
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
			x.add("name-type", typ, k.off, k.len())
		case 0xa1:
			if ss, err := d.children(v); err == nil {
				for _, s := range ss {
					parts = append(parts, d.text(s))
					x.add("name-string", d.text(s), s.off, s.len())
				}
			}
		}
	}
	return fmt.Sprintf("%s (name-type %s)", strings.Join(parts, "/"), typ)
}

// encryptedData shows an EncryptedData's etype, kvno and cipher length, with a child
// for each; best effort.
func (d *decoder) encryptedData(x *Node, t tlv) string {
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
			x.add("etype", etypeName(s), k.off, k.len())
		case 0xa1:
			s, _ := d.integer(v)
			out = append(out, "kvno "+s)
			x.add("kvno", s, k.off, k.len())
		case 0xa2:
			out = append(out, fmt.Sprintf("cipher %d bytes", v.valLen()))
			x.add("cipher", fmt.Sprintf("%d bytes", v.valLen()), k.off, k.len())
		}
	}
	return strings.Join(out, ", ")
}

// addresses shows HostAddresses: NetBIOS names (Windows sends its own) and IP
// addresses; best effort.
func (d *decoder) addresses(x *Node, t tlv) {
	kids, err := d.children(t)
	if err != nil {
		x.Value = fmt.Sprintf("%d bytes", t.valLen())
		return
	}
	x.Value = fmt.Sprint(len(kids))
	for _, k := range kids {
		var typ, val string
		var raw []byte
		if fs, err := d.children(k); err == nil {
			for _, f := range fs {
				v, err := d.readTLV(f.val, f.end)
				if err != nil {
					continue
				}
				switch f.tag {
				case 0xa0:
					typ, _ = d.integer(v)
				case 0xa1:
					raw = d.buf[v.val:v.end]
				}
			}
		}
		switch {
		case typ == "20":
			val = "netbios " + strings.TrimRight(string(raw), " \x00")
		case typ == "2" && len(raw) == 4:
			val = fmt.Sprintf("ipv4 %d.%d.%d.%d", raw[0], raw[1], raw[2], raw[3])
		default:
			val = fmt.Sprintf("addr-type %s, %d bytes", typ, len(raw))
		}
		x.add("HostAddress", strings.ToValidUTF8(val, "\uFFFD"), k.off, k.len())
	}
}
