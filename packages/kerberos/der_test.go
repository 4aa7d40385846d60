package kerberos

import (
	"bytes"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// TestDEREncoders: our encoders give gokrb5's bytes, with and without the optional
// fields, and gokrb5 decodes them back.
func TestDEREncoders(t *testing.T) {
	now := time.Date(2026, 11, 27, 2, 36, 18, 0, time.UTC)
	cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "alice")
	sname := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "HTTP/server.example.test")
	key := types.EncryptionKey{KeyType: 18, KeyValue: bytes.Repeat([]byte{0xA5}, 32)}
	auths := []types.Authenticator{
		{AVNO: iana.PVNO, CRealm: "EXAMPLE.TEST", CName: cname, Cusec: 999999, CTime: now},
		{AVNO: iana.PVNO, CRealm: "EXAMPLE.TEST", CName: sname, Cusec: 0, CTime: now,
			Cksum:     types.Checksum{CksumType: chksumGSS, Checksum: bytes.Repeat([]byte{1}, 24)},
			SubKey:    key,
			SeqNumber: 0x3fffffff,
			AuthorizationData: types.AuthorizationData{
				{ADType: 1, ADData: []byte{0x30, 0}}, {ADType: 128, ADData: bytes.Repeat([]byte{7}, 300)},
			}},
		{AVNO: iana.PVNO, CRealm: "R", CName: cname, Cusec: 128, CTime: now, SeqNumber: 128,
			Cksum: types.Checksum{CksumType: 16, Checksum: make([]byte, 12)}},
	}
	for i, a := range auths {
		want, err := a.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := marshalAuthenticator(&a)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("authenticator %d:\n got %x %v\nwant %x", i, got, err, want)
		}
	}

	tkt := messages.Ticket{TktVNO: 5, Realm: "EXAMPLE.TEST", SName: sname,
		EncPart: types.EncryptedData{EType: 18, KVNO: 3, Cipher: bytes.Repeat([]byte{9}, 200)}}
	for _, mutual := range []bool{false, true} {
		for _, kvno := range []int{0, 3} {
			req := messages.APReq{PVNO: iana.PVNO, MsgType: msgtype.KRB_AP_REQ, APOptions: types.NewKrbFlags(), Ticket: tkt,
				EncryptedAuthenticator: types.EncryptedData{EType: 18, KVNO: kvno, Cipher: bytes.Repeat([]byte{3}, 150)}}
			if mutual {
				types.SetFlag(&req.APOptions, flags.APOptionMutualRequired)
			}
			want, err := req.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			var tc ticketDER
			tder, err := tc.encode("HTTP/server.example.test", &tkt)
			if err != nil {
				t.Fatal(err)
			}
			got, err := marshalAPReq(req.APOptions.Bytes, tder, req.EncryptedAuthenticator)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("AP-REQ mutual=%v kvno=%d:\n got %x %v\nwant %x", mutual, kvno, got, err, want)
			}
			var back messages.APReq
			if err := back.Unmarshal(got); err != nil || !sameTicket(&back.Ticket, &tkt) {
				t.Errorf("AP-REQ does not decode: %v", err)
			}
		}
	}

	for i, e := range []messages.EncAPRepPart{
		{CTime: now, Cusec: 5},
		{CTime: now, Cusec: 123456, Subkey: key, SequenceNumber: 0x12345678},
		{CTime: now, Cusec: 0, SequenceNumber: 0xffffffff},
	} {
		b, err := asn1.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		want := asn1tools.AddASNAppTag(b, asnAppTag.EncAPRepPart)
		got, err := marshalEncAPRepPart(&e)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("EncAPRepPart %d:\n got %x %v\nwant %x", i, got, err, want)
		}
		var back messages.EncAPRepPart
		if err := back.Unmarshal(got); err != nil || !back.CTime.Equal(e.CTime) || back.Cusec != e.Cusec || back.SequenceNumber != e.SequenceNumber {
			t.Errorf("EncAPRepPart %d decodes as %+v, %v", i, back, err)
		}
	}

	ed := types.EncryptedData{EType: 18, Cipher: bytes.Repeat([]byte{4}, 100)}
	b, err := asn1.Marshal(messages.APRep{PVNO: iana.PVNO, MsgType: msgtype.KRB_AP_REP, EncPart: ed})
	if err != nil {
		t.Fatal(err)
	}
	want := asn1tools.AddASNAppTag(b, asnAppTag.APREP)
	if got, err := marshalAPRep(ed); err != nil || !bytes.Equal(got, want) {
		t.Errorf("AP-REP:\n got %x %v\nwant %x", got, err, want)
	}
}

// TestTicketDER: the cache gives a ticket's encoding back only for the same ticket.
func TestTicketDER(t *testing.T) {
	var c ticketDER
	sname := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "HTTP/a")
	tkt := messages.Ticket{TktVNO: 5, Realm: "R", SName: sname, EncPart: types.EncryptedData{EType: 18, Cipher: []byte{1, 2, 3}}}
	a, _ := c.encode("HTTP/a", &tkt)
	tkt.EncPart.Cipher = []byte{1, 2, 4}
	b, _ := c.encode("HTTP/a", &tkt)
	if bytes.Equal(a, b) {
		t.Fatal("a new ticket got the old ticket's encoding")
	}
	want, _ := tkt.Marshal()
	if !bytes.Equal(b, want) {
		t.Fatalf("%x, want %x", b, want)
	}
	tkt.EncPart.Cipher[2] = 5 // the caller's slice changes: the cache kept its own copy
	if c2, _ := c.encode("HTTP/a", &tkt); bytes.Equal(c2, b) {
		t.Fatal("the cache aliased the caller's cipher")
	}
}
