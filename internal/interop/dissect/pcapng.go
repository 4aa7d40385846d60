package dissect

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// The capture the tokens travel in: a pcapng file of link type WIRESHARK_UPPER_PDU
// ("exported PDU"), one packet per token in wire order. Each packet starts with tags that
// name the dissector to run on the token and say who sent it: the initiator from
// 192.0.2.1:49152 over TCP, the acceptor from 192.0.2.2:445. (Independent exchanges
// in one run take the initiator ports after 49152.)
//
// The endpoints matter twice. The dissectors keep their state per conversation: a bare
// NegTokenResp carries no mechanism OID, and only the earlier tokens tell the spnego
// dissector to hand its responseToken to ntlmssp. And the spnego dissector reads a
// NegTokenInit as MS-SPNG's NegTokenInit2 (with negHints at [3]) only in a TCP packet
// from a port below 1024, taking that for the server (spnego.cnf); from anywhere else,
// [3] is RFC 4178's mechListMIC, and a NegTokenInit2's negHints is "malformed".

// Dissector names for Options.Dissector. "gssapi" handles the [APPLICATION 0] framing
// and dispatches on the OID; "spnego" a bare NegotiationToken (it does not decode framed
// tokens); there is no "kerberos" dissector name, so raw Kerberos tokens go to
// "spnego-krb5", which reads AP-REQ, AP-REP, KRB-ERROR and RFC 4121 tokens only.
// KerberosUDP is no dissector name but a decode-as: see below.
const (
	GSSAPI      = "gssapi"
	SPNEGO      = "spnego"
	NTLMSSP     = "ntlmssp"
	NegoEx      = "negoex"
	Kerberos    = "spnego-krb5"
	KerberosUDP = "udp.port==88"
)

// KerberosUDP hands the token, a whole RFC 4120 message (AS-REQ, AS-REP, AP-REQ, AP-REP,
// KRB-ERROR, ...), to the kerberos dissector as the payload of a UDP datagram to port
// 88: the packet names the dissector table "udp.port" and the value 88 instead of a
// dissector (tshark 4.0 registers no name for the kerberos dissector). That is the way
// to have tshark read a PKU2U AS exchange, which no dissector finds inside GSS-API
// framing or NegoEx.

var dissectors = []string{GSSAPI, SPNEGO, NTLMSSP, NegoEx, Kerberos, KerberosUDP}

// pickDissector chooses a dissector by a token's first bytes.
func pickDissector(tok []byte) string {
	switch {
	case len(tok) == 0:
		return GSSAPI
	case len(tok) >= 8 && string(tok[:8]) == "NTLMSSP\x00":
		return NTLMSSP
	case len(tok) >= 8 && string(tok[:8]) == "NEGOEXTS":
		return NegoEx
	case tok[0] == 0x60:
		return GSSAPI
	case tok[0] == 0xa0 || tok[0] == 0xa1:
		return SPNEGO
	case tok[0] == 0x6e || tok[0] == 0x6f || tok[0] == 0x7e:
		return Kerberos // AP-REQ, AP-REP, KRB-ERROR
	case len(tok) >= 2 && tok[0] <= 0x05 && tok[1] <= 0x04:
		return Kerberos // an RFC 4121 per-message token's TOK_ID
	}
	return GSSAPI
}

const linktypeUpperPDU = 252 // LINKTYPE_WIRESHARK_UPPER_PDU

// Exported-PDU tags (wsutil/exported_pdu_tlvs.h).
const (
	tagEnd            = 0
	tagDissectorName  = 12
	tagTableName      = 14 // EXP_PDU_TAG_DISSECTOR_TABLE_NAME
	tagTableValue     = 32 // EXP_PDU_TAG_DISSECTOR_TABLE_NAME_NUM_VAL
	tagIPv4Src        = 20
	tagIPv4Dst        = 21
	tagPortType       = 24
	tagSrcPort        = 25
	tagDstPort        = 26
	exportedPortTCP   = 2
	initiatorPort     = 49152 // plus the exchange's number
	maxConversations  = 65536 - initiatorPort
	acceptorPort      = 445 // below 1024: the server, to the spnego dissector
	maxTokenInCapture = 1 << 20
)

var (
	initiatorAddr = []byte{192, 0, 2, 1}
	acceptorAddr  = []byte{192, 0, 2, 2}
)

// pduHeader is the tags before a token: its dissector and its sender.
func pduHeader(dissector string, fromAcceptor bool, conv int) ([]byte, error) {
	if !slices.Contains(dissectors, dissector) {
		return nil, fmt.Errorf("dissect: unknown dissector %q (have %v)", dissector, dissectors)
	}
	be := binary.BigEndian
	var h []byte
	tag := func(t uint16, v []byte) {
		pad := (4 - len(v)%4) % 4
		h = be.AppendUint16(h, t)
		h = be.AppendUint16(h, uint16(len(v)+pad))
		h = append(h, v...)
		h = append(h, make([]byte, pad)...)
	}
	u32 := func(v uint32) []byte { return be.AppendUint32(nil, v) }
	src, dst, sport, dport := initiatorAddr, acceptorAddr, uint32(initiatorPort+conv), uint32(acceptorPort)
	if fromAcceptor {
		src, dst, sport, dport = dst, src, dport, sport
	}
	if dissector == KerberosUDP {
		tag(tagTableName, []byte("udp.port"))
		tag(tagTableValue, u32(88))
	} else {
		tag(tagDissectorName, []byte(dissector))
	}
	tag(tagIPv4Src, src)
	tag(tagIPv4Dst, dst)
	tag(tagPortType, u32(exportedPortTCP))
	tag(tagSrcPort, u32(sport))
	tag(tagDstPort, u32(dport))
	tag(tagEnd, nil)
	return h, nil
}

// pcapng returns a capture of the tokens and sets each one's offset in its packet.
func pcapng(toks []*Token) ([]byte, error) {
	le := binary.LittleEndian
	block := func(b []byte, typ uint32, body []byte) []byte {
		n := uint32(12 + len(body))
		b = le.AppendUint32(b, typ)
		b = le.AppendUint32(b, n)
		b = append(b, body...)
		return le.AppendUint32(b, n)
	}
	// Section Header Block: byte-order magic, version 1.0, section length unknown.
	var shb []byte
	shb = le.AppendUint32(shb, 0x1A2B3C4D)
	shb = le.AppendUint16(shb, 1)
	shb = le.AppendUint16(shb, 0)
	shb = le.AppendUint64(shb, ^uint64(0))
	out := block(nil, 0x0A0D0D0A, shb)
	// Interface Description Block: link type, reserved, snap length 0 (no limit).
	var idb []byte
	idb = le.AppendUint16(idb, linktypeUpperPDU)
	idb = le.AppendUint16(idb, 0)
	idb = le.AppendUint32(idb, 0)
	out = block(out, 1, idb)

	for i, t := range toks {
		if len(t.Bytes) > maxTokenInCapture {
			return nil, fmt.Errorf("dissect: token %d is %d bytes", t.Index, len(t.Bytes))
		}
		hdr, err := pduHeader(t.Dissector, t.FromAcceptor, t.conv)
		if err != nil {
			return nil, err
		}
		pkt := append(hdr, t.Bytes...)
		// Enhanced Packet Block: interface 0, timestamp (microseconds; one per token),
		// captured and original length, data padded to 32 bits.
		var epb []byte
		epb = le.AppendUint32(epb, 0)
		ts := uint64(1_700_000_000_000_000 + i)
		epb = le.AppendUint32(epb, uint32(ts>>32))
		epb = le.AppendUint32(epb, uint32(ts))
		epb = le.AppendUint32(epb, uint32(len(pkt)))
		epb = le.AppendUint32(epb, uint32(len(pkt)))
		epb = append(epb, pkt...)
		for len(epb)%4 != 0 {
			epb = append(epb, 0)
		}
		out = block(out, 6, epb)
	}
	return out, nil
}
