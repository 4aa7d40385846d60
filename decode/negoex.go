package decode

import (
	"encoding/hex"
	"fmt"

	"github.com/gossp/gossp/negoex"
	"github.com/gossp/gossp/packages/pku2u"
	"github.com/gossp/gossp/sspi"
)

var negoexHeaderLens = [...]int{96, 96, 64, 64, 64, 64, 80, 72}

// negoex dissects a NegoEx token, a run of messages (MS-NEGOEX 2.2).
func (d *decoder) negoex(off, n, depth int) (*Node, error) {
	b := d.buf[off : off+n]
	// Walk the headers first, so an error names the offset of the broken message.
	for p := 0; p < n; {
		if n-p < 40 {
			return nil, fail(off+p, "NegoEx message header cut short (%d of 40 bytes)", n-p)
		}
		if string(b[p:p+8]) != "NEGOEXTS" {
			return nil, fail(off+p, "no NEGOEXTS signature")
		}
		typ, hdr, total := le.Uint32(b[p+8:]), int(le.Uint32(b[p+16:])), int(le.Uint32(b[p+20:]))
		if typ >= uint32(len(negoexHeaderLens)) {
			return nil, fail(off+p+8, "unknown NegoEx message type %d", typ)
		}
		if hdr != negoexHeaderLens[typ] {
			return nil, fail(off+p+16, "%v header length %d, want %d", negoex.MessageType(typ), hdr, negoexHeaderLens[typ])
		}
		if total < hdr || total > n-p {
			return nil, fail(off+p+20, "%v message length %d outside %d..%d", negoex.MessageType(typ), total, hdr, n-p)
		}
		p += total
	}
	msgs, err := negoex.ParseMessages(b)
	if err != nil {
		return nil, asDecodeError(err, off)
	}
	root := &Node{Name: "NEGOEX", Offset: off, Length: n}
	p := off
	for _, m := range msgs {
		d.negoexMessage(root, m, p, depth)
		p += len(m.Raw)
	}
	return root, nil
}

func guid(b []byte) string { return sspi.GUIDFromWire(b).String() }

func (d *decoder) negoexMessage(root *Node, m *negoex.Message, off, depth int) {
	b := m.Raw
	n := root.add(m.Type.String(), fmt.Sprintf("seq %d", m.Seq), off, len(b))
	h := n.add("Header", "", off, int(le.Uint32(b[16:])))
	h.add("Signature", "NEGOEXTS", off, 8)
	h.add("MessageType", fmt.Sprintf("%s (%d)", m.Type, uint32(m.Type)), off+8, 4)
	h.add("SequenceNum", fmt.Sprintf("%d", m.Seq), off+12, 4)
	h.add("cbHeaderLength", fmt.Sprintf("%d", le.Uint32(b[16:])), off+16, 4)
	h.add("cbMessageLength", fmt.Sprintf("%d", le.Uint32(b[20:])), off+20, 4)
	h.add("ConversationId", m.ConversationID.String(), off+24, 16)
	vector := func(name string, at, size int, countIs16 bool) (*Node, int, int) {
		vo := int(le.Uint32(b[at:]))
		var cnt int
		if countIs16 {
			cnt = int(le.Uint16(b[at+4:]))
		} else {
			cnt = int(le.Uint32(b[at+4:]))
		}
		x := n.add(name, fmt.Sprintf("%d", cnt), off+vo, cnt*size)
		if cnt == 0 {
			x.Offset, x.Length = off+at, 8
		}
		x.add("Offset", fmt.Sprintf("%d", vo), off+at, 4)
		x.add("Count", fmt.Sprintf("%d", cnt), off+at+4, 4)
		return x, vo, cnt
	}
	switch m.Type {
	case negoex.InitiatorNego, negoex.AcceptorNego:
		n.add("Random", hex.EncodeToString(m.Random[:]), off+40, 32)
		n.add("ProtocolVersion", fmt.Sprintf("%d", m.ProtocolVersion), off+72, 8)
		x, vo, cnt := vector("AuthSchemes", 80, 16, true)
		for i := range cnt {
			x.add("AuthScheme", guid(b[vo+16*i:]), off+vo+16*i, 16)
		}
		x, vo, cnt = vector("Extensions", 88, 12, true)
		for i := range cnt {
			e := m.Extensions[i]
			crit := ""
			if e.Critical() {
				crit = ", critical"
			}
			ex := x.add("Extension", fmt.Sprintf("type 0x%08x%s, %d bytes", e.Type, crit, len(e.Value)), off+vo+12*i, 12)
			if len(e.Value) > 0 {
				ex.add("ExtensionValue", hex.EncodeToString(e.Value), off+int(le.Uint32(b[vo+12*i+4:])), len(e.Value))
			}
		}
	case negoex.InitiatorMetaData, negoex.AcceptorMetaData, negoex.Challenge, negoex.APRequest:
		n.add("AuthScheme", m.AuthScheme.String(), off+40, 16)
		vo := int(le.Uint32(b[56:]))
		x := n.add("Exchange", fmt.Sprintf("%d bytes", len(m.Exchange)), off+vo, len(m.Exchange))
		if len(m.Exchange) == 0 {
			x.Offset, x.Length = off+56, 8
		}
		x.add("Offset", fmt.Sprintf("%d", vo), off+56, 4)
		x.add("Length", fmt.Sprintf("%d", len(m.Exchange)), off+60, 4)
		isMeta := m.Type == negoex.InitiatorMetaData || m.Type == negoex.AcceptorMetaData
		if len(m.Exchange) > 0 && isMeta && m.AuthScheme == pku2u.AuthScheme {
			// PKU2U's meta-data: trusted issuers and the target.
			if c, err := d.pku2uMetaData(off+vo, len(m.Exchange), m.Type == negoex.InitiatorMetaData); err == nil {
				x.Children = append(x.Children, c)
			} else {
				x.add("ExchangeBytes", hex.EncodeToString(m.Exchange), off+vo, len(m.Exchange))
				x.add("error", err.Error(), off+vo, len(m.Exchange))
			}
		} else if len(m.Exchange) > 0 {
			// A scheme's token: dissect it when it is one we know, else show the bytes.
			if c, err := d.any(off+vo, len(m.Exchange), hintNone, depth+1); err == nil {
				x.Children = append(x.Children, c)
			} else {
				x.add("ExchangeBytes", hex.EncodeToString(m.Exchange), off+vo, len(m.Exchange))
				if m.AuthScheme == pku2u.AuthScheme {
					// A PKU2U token should dissect: say why it did not.
					x.add("error", err.Error(), off+vo, len(m.Exchange))
				}
			}
		}
	case negoex.Verify:
		n.add("AuthScheme", m.AuthScheme.String(), off+40, 16)
		c := n.add("Checksum", "", off+56, int(le.Uint32(b[56:])))
		c.add("cbHeaderLength", fmt.Sprintf("%d", le.Uint32(b[56:])), off+56, 4)
		c.add("ChecksumScheme", fmt.Sprintf("%d (RFC 3961)", le.Uint32(b[60:])), off+60, 4)
		c.add("ChecksumType", checksumType(m.ChecksumType), off+64, 4)
		cv := c.add("ChecksumValue", hex.EncodeToString(m.Checksum), off+68, 8)
		if len(m.Checksum) > 0 {
			cv.Offset, cv.Length = off+int(le.Uint32(b[68:])), len(m.Checksum)
		}
	case negoex.Alert:
		n.add("AuthScheme", m.AuthScheme.String(), off+40, 16)
		n.add("ErrorCode", fmt.Sprintf("0x%08x", m.ErrorCode), off+56, 4)
		x, vo, cnt := vector("Alerts", 60, 12, true)
		for i := range cnt {
			a := m.Alerts[i]
			v := fmt.Sprintf("type %d, %d bytes", a.Type, len(a.Value))
			an := x.add("Alert", v, off+vo+12*i, 12)
			if a.Type == 1 {
				an.Value = fmt.Sprintf("ALERT_TYPE_PULSE, %d bytes", len(a.Value))
			}
			if len(a.Value) > 0 {
				ao := off + int(le.Uint32(b[vo+12*i+4:]))
				if a.Type == 1 && len(a.Value) >= 8 {
					reason := fmt.Sprintf("%d", le.Uint32(a.Value[4:]))
					if le.Uint32(a.Value[4:]) == 1 {
						reason = "ALERT_VERIFY_NO_KEY (1)"
					}
					an.add("cbHeaderLength", fmt.Sprintf("%d", le.Uint32(a.Value)), ao, 4)
					an.add("Reason", reason, ao+4, 4)
				} else {
					an.add("AlertValue", hex.EncodeToString(a.Value), ao, len(a.Value))
				}
			}
		}
	}
}

// checksumType names RFC 3961 checksum types.
func checksumType(t uint32) string {
	names := map[uint32]string{1: "CRC32", 7: "rsa-md5", 8: "rsa-md5-des", 12: "hmac-sha1-des3-kd",
		15: "hmac-sha1-96-aes128", 16: "hmac-sha1-96-aes256", 19: "hmac-sha256-128-aes128",
		20: "hmac-sha384-192-aes256", 0xffffff76: "hmac-md5 (RC4)"}
	if s, ok := names[t]; ok {
		return fmt.Sprintf("%d (%s)", t, s)
	}
	return fmt.Sprintf("%d", t)
}
