package dissect

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// der builds a DER element of fewer than 128 content bytes.
func der(tag byte, parts ...[]byte) []byte {
	body := bytes.Join(parts, nil)
	return append([]byte{tag, byte(len(body))}, body...)
}

// asReq is a minimal AS-REQ: pvno 5, msg-type 10, req-body { kdc-options, realm
// EXAMPLE.COM, till, nonce 7, etype { 18 } }.
var asReq = der(0x6a, der(0x30,
	der(0xa1, der(0x02, []byte{5})),
	der(0xa2, der(0x02, []byte{10})),
	der(0xa4, der(0x30,
		der(0xa0, der(0x03, []byte{0, 0x40, 0x81, 0x00, 0x10})),
		der(0xa2, der(0x1b, []byte("EXAMPLE.COM"))),
		der(0xa5, der(0x18, []byte("20370913024805Z"))),
		der(0xa7, der(0x02, []byte{7})),
		der(0xa8, der(0x30, der(0x02, []byte{18})))))))

// TestKerberosUDPHeader checks the decode-as tags: the udp.port table and 88 instead
// of a dissector name.
func TestKerberosUDPHeader(t *testing.T) {
	h, err := pduHeader(KerberosUDP, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	be := binary.BigEndian
	tags := map[uint16][]byte{}
	for off := 0; off+4 <= len(h); {
		tag, n := be.Uint16(h[off:]), int(be.Uint16(h[off+2:]))
		tags[tag] = h[off+4 : off+4+n]
		off += 4 + n
	}
	if _, ok := tags[tagDissectorName]; ok {
		t.Error("a dissector name beside the table")
	}
	if !bytes.Equal(bytes.TrimRight(tags[tagTableName], "\x00"), []byte("udp.port")) || be.Uint32(tags[tagTableValue]) != 88 {
		t.Errorf("table %q, value %x", tags[tagTableName], tags[tagTableValue])
	}
}

// TestKerberosUDP checks that tshark reads a whole Kerberos message through
// KerberosUDP, and that spnego-krb5, which reads only AP and error messages, does not
// read an AS-REQ.
func TestKerberosUDP(t *testing.T) {
	r := Options{Dissector: KerberosUDP}.Check(t, asReq)
	tok := r.Tokens[0]
	if tok.Field("kerberos.msg_type") != "10" || tok.Field("kerberos.realm") != "EXAMPLE.COM" || tok.Field("kerberos.nonce") != "7" {
		t.Errorf("AS-REQ through udp.port 88:\n%s", tok.Report())
	}
	r = Options{Dissector: Kerberos}.Dissect(t, asReq)
	if tok := r.Tokens[0]; tok.Clean() || tok.Has("kerberos.msg_type") {
		t.Errorf("spnego-krb5 read an AS-REQ:\n%s", tok.Report())
	}
}
