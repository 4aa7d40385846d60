package decode

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"
	"unicode/utf16"

	"github.com/gossp/gossp/packages/ntlm"
)

var le = binary.LittleEndian

var avNames = map[uint16]string{
	ntlm.AvEOL: "MsvAvEOL", ntlm.AvNbComputerName: "MsvAvNbComputerName",
	ntlm.AvNbDomainName: "MsvAvNbDomainName", ntlm.AvDNSComputerName: "MsvAvDnsComputerName",
	ntlm.AvDNSDomainName: "MsvAvDnsDomainName", ntlm.AvDNSTreeName: "MsvAvDnsTreeName",
	ntlm.AvFlags: "MsvAvFlags", ntlm.AvTimestamp: "MsvAvTimestamp", ntlm.AvSingleHost: "MsvAvSingleHost",
	ntlm.AvTargetName: "MsvAvTargetName", ntlm.AvChannelBindings: "MsvAvChannelBindings",
}

// filetime shows a Windows FILETIME as UTC time.
func filetime(b []byte) string {
	ft := le.Uint64(b)
	return time.Unix(int64(ft/1e7)-11644473600, int64(ft%1e7)*100).UTC().Format(time.RFC3339Nano)
}

func utf16le(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = le.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// ntlmText shows an NTLM string field as the flags say it is encoded.
func ntlmText(flags ntlm.NegotiateFlags, b []byte) string {
	if flags.Has(ntlm.FlagUnicode) {
		return utf16le(b)
	}
	return string(b)
}

// field is a security buffer: its descriptor's offset and what it points to.
type field struct {
	name      string
	desc      int // descriptor offset in the message
	off, size int // payload offset in the message, length
}

// ntlm dissects an NTLMSSP message: the project's parser judges it, and the layout is
// walked here for the offsets.
func (d *decoder) ntlm(off, n int) (*Node, error) {
	b := d.buf[off : off+n]
	if n < 12 {
		return nil, fail(off+n, "NTLMSSP message cut short (%d bytes)", n)
	}
	typ := le.Uint32(b[8:])
	root := &Node{Name: "NTLMSSP", Offset: off, Length: n}
	root.add("NTLMSSP identifier", "NTLMSSP", off, 8)
	names := map[uint32]string{1: "NTLMSSP_NEGOTIATE", 2: "NTLMSSP_CHALLENGE", 3: "NTLMSSP_AUTH"}
	if names[typ] == "" {
		return nil, fail(off+8, "unknown NTLMSSP message type %d", typ)
	}
	root.add("NTLM Message Type", fmt.Sprintf("%s (0x%08x)", names[typ], typ), off+8, 4)
	// Descriptors, checked here first so an error names the descriptor's offset.
	desc := func(name string, at int) (field, error) {
		if at+8 > n {
			return field{}, fail(off+at, "%s descriptor cut short", name)
		}
		f := field{name: name, desc: at, size: int(le.Uint16(b[at:])), off: int(le.Uint32(b[at+4:]))}
		if f.size > 0 && (f.off > n || f.size > n-f.off) {
			return f, fail(off+at, "%s (offset %d, length %d) lies outside the %d-byte message", name, f.off, f.size, n)
		}
		return f, nil
	}
	addDesc := func(parent *Node, f field, value string) *Node {
		x := parent.add(f.name, value, off+f.off, f.size)
		if f.size == 0 {
			x.Offset = off + f.desc
		}
		x.add("Length", fmt.Sprintf("%d", f.size), off+f.desc, 2)
		x.add("Maxlen", fmt.Sprintf("%d", le.Uint16(b[f.desc+2:])), off+f.desc+2, 2)
		x.add("Offset", fmt.Sprintf("%d", f.off), off+f.desc+4, 4)
		return x
	}
	payload := func(f field) []byte {
		if f.size == 0 {
			return nil // an empty field may point anywhere
		}
		return b[f.off : f.off+f.size]
	}
	switch typ {
	case ntlm.TypeNegotiate:
		var dom, ws field
		if n >= 32 {
			var err error
			if dom, err = desc("Calling workstation domain", 16); err != nil {
				return nil, err
			}
			if ws, err = desc("Calling workstation name", 24); err != nil {
				return nil, err
			}
		}
		m, err := ntlm.ParseNegotiate(b)
		if err != nil {
			return nil, asDecodeError(err, off)
		}
		addFlags(root, m.Flags, off+12)
		if n >= 32 {
			addDesc(root, dom, string(payload(dom)))
			addDesc(root, ws, string(payload(ws)))
		}
		if m.Version != nil {
			addVersion(root, b, off, 32)
		}
	case ntlm.TypeChallenge:
		tn, err := desc("Target Name", 12)
		if err != nil {
			return nil, err
		}
		m, err := ntlm.ParseChallenge(b)
		if err != nil {
			return nil, asDecodeError(err, off)
		}
		addDesc(root, tn, m.TargetName)
		addFlags(root, m.Flags, off+20)
		root.add("NTLM Server Challenge", hex.EncodeToString(b[24:32]), off+24, 8)
		if n >= 48 {
			root.add("Reserved", hex.EncodeToString(b[32:40]), off+32, 8)
			ti, err := desc("Target Info", 40)
			if err != nil {
				return nil, err
			}
			x := addDesc(root, ti, "")
			if ti.size > 0 {
				if err := d.avPairs(x, off+ti.off, ti.size, false); err != nil {
					return nil, err
				}
			}
		}
		if m.Version != nil {
			addVersion(root, b, off, 48)
		}
	case ntlm.TypeAuthenticate:
		var fs [6]field
		for i, x := range []struct {
			name string
			at   int
		}{{"Lan Manager Response", 12}, {"NTLM Response", 20}, {"Domain name", 28}, {"User name", 36}, {"Host name", 44}, {"Session Key", 52}} {
			var err error
			if fs[i], err = desc(x.name, x.at); err != nil {
				return nil, err
			}
		}
		m, err := ntlm.ParseAuthenticate(b)
		if err != nil {
			return nil, asDecodeError(err, off)
		}
		lm := addDesc(root, fs[0], hex.EncodeToString(payload(fs[0])))
		if fs[0].size == 24 {
			lm.add("LMv2 Client Challenge", hex.EncodeToString(payload(fs[0])[16:]), off+fs[0].off+16, 8)
		}
		nt := addDesc(root, fs[1], fmt.Sprintf("%d bytes", fs[1].size))
		var v2 *Node
		if fs[1].size > 24 {
			var err error
			if v2, err = d.ntlmv2Response(nt, off+fs[1].off, fs[1].size); err != nil {
				return nil, err
			}
		} else if fs[1].size == 24 {
			nt.Value += " (NTLMv1)"
		}
		addDesc(root, fs[2], m.Domain)
		addDesc(root, fs[3], m.User)
		addDesc(root, fs[4], m.Workstation)
		addDesc(root, fs[5], hex.EncodeToString(payload(fs[5])))
		addFlags(root, m.Flags, off+60)
		if m.Version != nil {
			addVersion(root, b, off, 64)
		}
		if m.MIC != nil {
			v := hex.EncodeToString(m.MIC)
			if v2 != nil {
				if f := v2.Find("MsvAvFlags"); f != nil && f.Children != nil && f.Find("MIC present") != nil {
					v += " (MsvAvFlags: MIC present)"
				} else {
					v += " (MsvAvFlags does not announce a MIC)"
				}
			}
			root.add("MIC", v, off+72, 16)
		}
	}
	return root, nil
}

func addFlags(parent *Node, f ntlm.NegotiateFlags, at int) {
	x := parent.add("Negotiate Flags", fmt.Sprintf("0x%08x", uint32(f)), at, 4)
	for _, name := range f.Names() {
		x.add(name, "set", at, 4)
	}
}

func addVersion(parent *Node, b []byte, off, at int) {
	v := parent.add("Version", fmt.Sprintf("%d.%d.%d (NTLM revision %d)", b[at], b[at+1], le.Uint16(b[at+2:]), b[at+7]), off+at, 8)
	v.add("Major Version", fmt.Sprintf("%d", b[at]), off+at, 1)
	v.add("Minor Version", fmt.Sprintf("%d", b[at+1]), off+at+1, 1)
	v.add("Build Number", fmt.Sprintf("%d", le.Uint16(b[at+2:])), off+at+2, 2)
	v.add("NTLM Current Revision", fmt.Sprintf("%d", b[at+7]), off+at+7, 1)
}

// ntlmv2Response dissects an NTLMv2_RESPONSE (MS-NLMP 2.2.2.8) at off.
func (d *decoder) ntlmv2Response(parent *Node, off, n int) (*Node, error) {
	if n < 16+28 {
		return nil, fail(off, "NTLMv2 response of %d bytes is shorter than its %d-byte fixed part", n, 16+28)
	}
	b := d.buf[off : off+n]
	parent.Value += " (NTLMv2)"
	r := parent.add("NTLMv2 Response", "", off, n)
	r.add("NTProofStr", hex.EncodeToString(b[:16]), off, 16)
	r.add("Response Version", fmt.Sprintf("%d", b[16]), off+16, 1)
	r.add("Hi Response Version", fmt.Sprintf("%d", b[17]), off+17, 1)
	r.add("Time", filetime(b[24:32]), off+24, 8)
	r.add("NTLMv2 Client Challenge", hex.EncodeToString(b[32:40]), off+32, 8)
	if err := d.avPairs(r, off+44, n-44, true); err != nil {
		return nil, err
	}
	return r, nil
}

// avPairs dissects an AV_PAIR list; the project's parser judges it first. In an
// NTLMv2 response the list may be followed by padding.
func (d *decoder) avPairs(parent *Node, off, n int, padded bool) error {
	b := d.buf[off : off+n]
	if _, err := ntlm.ParseAVPairs(b); err != nil {
		// Find where it breaks, for the offset.
		for p := 0; ; {
			if p+4 > n {
				return fail(off+p, "AV pair list cut short (no MsvAvEOL)")
			}
			l := int(le.Uint16(b[p+2:]))
			if le.Uint16(b[p:]) == ntlm.AvEOL {
				break
			}
			if l > n-p-4 {
				return fail(off+p, "AV pair %d of %d bytes overruns the list", le.Uint16(b[p:]), l)
			}
			p += 4 + l
		}
		return asDecodeError(err, off)
	}
	for p := 0; p+4 <= n; {
		id, l := le.Uint16(b[p:]), int(le.Uint16(b[p+2:]))
		if id == ntlm.AvEOL {
			// MsvAvEOL ends the list whatever its length field says.
			parent.add("MsvAvEOL", "", off+p, 4)
			if padded && p+4 < n {
				parent.add("Padding", fmt.Sprintf("%d bytes", n-p-4), off+p+4, n-p-4)
			}
			break
		}
		if l > n-p-4 {
			return fail(off+p, "AV pair %d of %d bytes overruns the list", id, l)
		}
		name := avNames[id]
		if name == "" {
			name = fmt.Sprintf("AvId %d", id)
		}
		v := b[p+4 : p+4+l]
		x := parent.add(name, avValue(id, v), off+p, 4+l)
		if id == ntlm.AvFlags && len(v) == 4 {
			f := le.Uint32(v)
			for _, fl := range []struct {
				bit  uint32
				name string
			}{{ntlm.AvFlagConstrained, "Constrained authentication"}, {ntlm.AvFlagMICPresent, "MIC present"}, {ntlm.AvFlagUntrustedSPN, "Untrusted SPN source"}} {
				if f&fl.bit != 0 {
					x.add(fl.name, "set", off+p+4, 4)
				}
			}
		}
		p += 4 + l
	}
	return nil
}

func avValue(id uint16, v []byte) string {
	switch id {
	case ntlm.AvEOL:
		return ""
	case ntlm.AvNbComputerName, ntlm.AvNbDomainName, ntlm.AvDNSComputerName, ntlm.AvDNSDomainName, ntlm.AvDNSTreeName, ntlm.AvTargetName:
		return utf16le(v)
	case ntlm.AvTimestamp:
		if len(v) == 8 {
			return filetime(v)
		}
	case ntlm.AvFlags:
		if len(v) == 4 {
			return fmt.Sprintf("0x%08x", le.Uint32(v))
		}
	case ntlm.AvChannelBindings:
		if len(v) == 16 && string(v) == string(make([]byte, 16)) {
			return hex.EncodeToString(v) + " (none)"
		}
	}
	return hex.EncodeToString(v)
}
