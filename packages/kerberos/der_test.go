package kerberos

import (
	"bytes"
	"fmt"
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
		if got := marshalAuthenticator(&a); !bytes.Equal(got, want) {
			t.Errorf("authenticator %d:\n got %x\nwant %x", i, got, want)
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
			tder, _, err := tc.get("HTTP/server.example.test", &tkt, key)
			if err != nil {
				t.Fatal(err)
			}
			got := marshalAPReq(req.APOptions.Bytes, tder, req.EncryptedAuthenticator)
			if !bytes.Equal(got, want) {
				t.Errorf("AP-REQ mutual=%v kvno=%d:\n got %x\nwant %x", mutual, kvno, got, want)
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
		got := marshalEncAPRepPart(&e)
		if !bytes.Equal(got, want) {
			t.Errorf("EncAPRepPart %d:\n got %x\nwant %x", i, got, want)
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
	if got := marshalAPRep(ed); !bytes.Equal(got, want) {
		t.Errorf("AP-REP:\n got %x\nwant %x", got, want)
	}
}

// TestTicketDER: the cache gives a ticket's encoding and key back only for the same
// ticket and session key.
func TestTicketDER(t *testing.T) {
	var c ticketDER
	sname := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "HTTP/a")
	key := types.EncryptionKey{KeyType: 17, KeyValue: make([]byte, 16)}
	tkt := messages.Ticket{TktVNO: 5, Realm: "R", SName: sname, EncPart: types.EncryptedData{EType: 18, Cipher: []byte{1, 2, 3}}}
	a, ka, _ := c.get("HTTP/a", &tkt, key)
	if a2, ka2, _ := c.get("HTTP/a", &tkt, key); !bytes.Equal(a, a2) || ka != ka2 {
		t.Fatal("the same ticket was not reused")
	}
	key.KeyValue = bytes.Repeat([]byte{1}, 16)
	if _, kb, _ := c.get("HTTP/a", &tkt, key); kb == ka {
		t.Fatal("another session key got the old key")
	}
	tkt.EncPart.Cipher = []byte{1, 2, 4}
	b, _, _ := c.get("HTTP/a", &tkt, key)
	if bytes.Equal(a, b) {
		t.Fatal("a new ticket got the old ticket's encoding")
	}
	want, _ := tkt.Marshal()
	if !bytes.Equal(b, want) {
		t.Fatalf("%x, want %x", b, want)
	}
	tkt.EncPart.Cipher[2] = 5 // the caller's slice changes: the cache kept its own copy
	if c2, _, _ := c.get("HTTP/a", &tkt, key); bytes.Equal(c2, b) {
		t.Fatal("the cache aliased the caller's cipher")
	}
	c.close()
	if len(c.m) != 0 {
		t.Fatal("close left entries")
	}
}

// theirs decodes b with gokrb5 into the same type as our parser's result.
func decodeBoth(b []byte) (ours, theirs [5]string, okOurs, okTheirs [5]bool) {
	show := func(v any) string { return fmt.Sprintf("%+v", v) }
	if v, err := parseAPReq(b); err == nil {
		ours[0], okOurs[0] = show(v), true
	}
	var r messages.APReq
	if err := r.Unmarshal(b); err == nil {
		theirs[0], okTheirs[0] = show(r), true
	}
	if v, err := parseEncTicketPart(b); err == nil {
		ours[1], okOurs[1] = show(v), true
	}
	var e messages.EncTicketPart
	if err := e.Unmarshal(b); err == nil {
		theirs[1], okTheirs[1] = show(e), true
	}
	if v, err := parseAuthenticator(b); err == nil {
		ours[2], okOurs[2] = show(v), true
	}
	var a types.Authenticator
	if err := a.Unmarshal(b); err == nil {
		theirs[2], okTheirs[2] = show(a), true
	}
	if v, err := parseAPRep(b); err == nil {
		ours[3], okOurs[3] = show(v), true
	}
	var p messages.APRep
	if err := p.Unmarshal(b); err == nil {
		theirs[3], okTheirs[3] = show(p), true
	}
	if v, err := parseEncAPRepPart(b); err == nil {
		ours[4], okOurs[4] = show(v), true
	}
	var ep messages.EncAPRepPart
	if err := ep.Unmarshal(b); err == nil {
		theirs[4], okTheirs[4] = show(ep), true
	}
	return
}

// derSamples are encodings of each message the decoders take, optional fields present
// and absent.
func derSamples(t testing.TB) [][]byte {
	now := time.Date(2026, 11, 27, 2, 36, 18, 0, time.UTC)
	cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "alice")
	sname := types.NewPrincipalName(nametype.KRB_NT_SRV_INST, "HTTP/server.example.test")
	key := types.EncryptionKey{KeyType: 18, KeyValue: bytes.Repeat([]byte{0xA5}, 32)}
	var out [][]byte
	add := func(b []byte, err error) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	tkt := messages.Ticket{TktVNO: 5, Realm: "EXAMPLE.TEST", SName: sname,
		EncPart: types.EncryptedData{EType: 18, KVNO: 3, Cipher: bytes.Repeat([]byte{9}, 200)}}
	req := messages.APReq{PVNO: 5, MsgType: 14, APOptions: types.NewKrbFlags(), Ticket: tkt,
		EncryptedAuthenticator: types.EncryptedData{EType: 18, Cipher: bytes.Repeat([]byte{3}, 150)}}
	types.SetFlag(&req.APOptions, flags.APOptionMutualRequired)
	add(req.Marshal())
	for _, e := range []messages.EncTicketPart{
		{Flags: types.NewKrbFlags(), Key: key, CRealm: "EXAMPLE.TEST", CName: cname, AuthTime: now, EndTime: now.Add(time.Hour),
			Transited: messages.TransitedEncoding{TRType: 1, Contents: []byte{}}},
		{Flags: types.NewKrbFlags(), Key: key, CRealm: "EXAMPLE.TEST", CName: cname, AuthTime: now, StartTime: now,
			EndTime: now.Add(time.Hour), RenewTill: now.Add(7 * time.Hour),
			Transited: messages.TransitedEncoding{TRType: 1, Contents: []byte("OTHER.REALM,")},
			CAddr:     types.HostAddresses{{AddrType: 2, Address: []byte{127, 0, 0, 1}}},
			AuthorizationData: types.AuthorizationData{{ADType: 1, ADData: []byte{0x30, 0x03, 0x02, 0x01, 0x05}},
				{ADType: 128, ADData: bytes.Repeat([]byte{8}, 400)}}},
	} {
		b, err := asn1.Marshal(e)
		add(asn1tools.AddASNAppTag(b, asnAppTag.EncTicketPart), err)
	}
	for _, a := range []types.Authenticator{
		{AVNO: 5, CRealm: "EXAMPLE.TEST", CName: cname, Cusec: 7, CTime: now},
		{AVNO: 5, CRealm: "EXAMPLE.TEST", CName: cname, Cusec: 999999, CTime: now,
			Cksum: types.Checksum{CksumType: chksumGSS, Checksum: make([]byte, 24)}, SubKey: key, SeqNumber: 0x7fffffff,
			AuthorizationData: types.AuthorizationData{{ADType: 1, ADData: []byte{0x30, 0}}}},
	} {
		add(a.Marshal())
	}
	b, err := asn1.Marshal(messages.APRep{PVNO: 5, MsgType: 15, EncPart: types.EncryptedData{EType: 18, Cipher: []byte{1, 2, 3}}})
	add(asn1tools.AddASNAppTag(b, asnAppTag.APREP), err)
	for _, e := range []messages.EncAPRepPart{{CTime: now, Cusec: 1}, {CTime: now, Cusec: 2, Subkey: key, SequenceNumber: 12345}} {
		b, err := asn1.Marshal(e)
		add(asn1tools.AddASNAppTag(b, asnAppTag.EncAPRepPart), err)
	}
	return out
}

// TestDERDecoders: on gokrb5's encodings our decoders give gokrb5's values.
func TestDERDecoders(t *testing.T) {
	for i, b := range derSamples(t) {
		ours, theirs, okOurs, okTheirs := decodeBoth(b)
		n := 0
		for k := range ours {
			if okOurs[k] {
				n++
				if !okTheirs[k] || ours[k] != theirs[k] {
					t.Errorf("sample %d parser %d:\n ours   %s\n gokrb5 %s (%v)", i, k, ours[k], theirs[k], okTheirs[k])
				}
			} else if okTheirs[k] {
				t.Errorf("sample %d parser %d: gokrb5 decodes %s, we do not", i, k, theirs[k])
			}
		}
		if n != 1 {
			t.Errorf("sample %d: %d of our decoders take it", i, n)
		}
	}
}

// FuzzDecoders: our decoders never panic, and whatever they take gokrb5 takes too, with
// the same values.
func FuzzDecoders(f *testing.F) {
	for _, b := range derSamples(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ours, theirs, okOurs, okTheirs := decodeBoth(b)
		for k := range ours {
			if okOurs[k] && (!okTheirs[k] || ours[k] != theirs[k]) {
				t.Fatalf("parser %d:\n ours   %s\n gokrb5 %s (%v)", k, ours[k], theirs[k], okTheirs[k])
			}
		}
	})
}
