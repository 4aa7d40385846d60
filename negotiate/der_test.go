package negotiate

import (
	"bytes"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// der.go's reader and writer against two references: the cryptobyte codec this package
// used before (der_ref_test.go), which must agree on every input, byte for byte and
// error for error; and encoding/asn1, which must accept whatever we accept, with the
// same values, and encode every token as we do.

// asn1ParseToken decodes a token with encoding/asn1.
func asn1ParseToken(b []byte) (*NegTokenInit, *NegTokenResp, error) {
	var outer asn1.RawValue
	rest, err := asn1.Unmarshal(b, &outer)
	if err != nil {
		return nil, nil, err
	}
	if len(rest) != 0 {
		return nil, nil, fmt.Errorf("trailing data")
	}
	choice := outer
	if outer.Class == asn1.ClassApplication && outer.Tag == 0 && outer.IsCompound {
		var mech asn1.ObjectIdentifier
		inner, err := asn1.Unmarshal(outer.Bytes, &mech)
		if err != nil || !mech.Equal(OID) {
			return nil, nil, fmt.Errorf("not SPNEGO: %v %v", mech, err)
		}
		if rest, err = asn1.Unmarshal(inner, &choice); err != nil || len(rest) != 0 {
			return nil, nil, fmt.Errorf("NegotiationToken: %v", err)
		}
	}
	if choice.Class != asn1.ClassContextSpecific || !choice.IsCompound || choice.Tag > 1 {
		return nil, nil, fmt.Errorf("not a NegotiationToken")
	}
	if choice.Tag == 1 {
		r, err := asn1ParseResp(choice.Bytes)
		return nil, r, err
	}
	t, err := asn1ParseInit(choice.Bytes)
	return t, nil, err
}

// The ASN.1 of RFC 4178 4.2 and MS-SPNG 2.2.1, for encoding/asn1. The raw forms give
// what the typed ones cannot: which optional fields were present, and raw bytes.
type (
	asn1Init struct {
		MechTypes   []asn1.ObjectIdentifier `asn1:"explicit,tag:0"`
		ReqFlags    asn1.BitString          `asn1:"explicit,optional,tag:1"`
		MechToken   []byte                  `asn1:"explicit,optional,tag:2"`
		MechListMIC []byte                  `asn1:"explicit,optional,tag:3"`
	}
	asn1Init2 struct {
		MechTypes   []asn1.ObjectIdentifier `asn1:"explicit,tag:0"`
		ReqFlags    asn1.BitString          `asn1:"explicit,optional,tag:1"`
		MechToken   []byte                  `asn1:"explicit,optional,tag:2"`
		NegHints    asn1Hints               `asn1:"explicit,optional,tag:3"`
		MechListMIC []byte                  `asn1:"explicit,optional,tag:4"`
	}
	asn1Hints struct {
		HintName    asn1.RawValue `asn1:"explicit,optional,tag:0"` // [0] itself: a GeneralString inside
		HintAddress []byte        `asn1:"explicit,optional,tag:1"`
	}
	asn1RawInit struct { // explicit RawValues are the [n] fields themselves
		MechTypes asn1.RawValue `asn1:"explicit,tag:0"`
		F1        asn1.RawValue `asn1:"explicit,optional,tag:1"`
		F2        asn1.RawValue `asn1:"explicit,optional,tag:2"`
		F3        asn1.RawValue `asn1:"explicit,optional,tag:3"`
		F4        asn1.RawValue `asn1:"explicit,optional,tag:4"`
	}
	asn1Resp struct {
		NegState      asn1.RawValue         `asn1:"explicit,optional,tag:0"`
		SupportedMech asn1.ObjectIdentifier `asn1:"explicit,optional,tag:1"`
		ResponseToken []byte                `asn1:"explicit,optional,tag:2"`
		MechListMIC   []byte                `asn1:"explicit,optional,tag:3"`
	}
	asn1RawResp struct {
		F0 asn1.RawValue `asn1:"explicit,optional,tag:0"`
		F1 asn1.RawValue `asn1:"explicit,optional,tag:1"`
		F2 asn1.RawValue `asn1:"explicit,optional,tag:2"`
		F3 asn1.RawValue `asn1:"explicit,optional,tag:3"`
	}
)

// unmarshalAll decodes all of b into v.
func unmarshalAll(b []byte, v any) error {
	rest, err := asn1.Unmarshal(b, v)
	if err == nil && len(rest) != 0 {
		err = fmt.Errorf("trailing data")
	}
	return err
}

// present gives an optional field's value its presence: encoding/asn1 leaves an absent
// []byte nil but may leave a present empty one nil too.
func present(v []byte, raw asn1.RawValue) []byte {
	if raw.FullBytes == nil {
		return nil
	}
	if v == nil {
		return []byte{}
	}
	return v
}

func asn1ParseInit(seq []byte) (*NegTokenInit, error) {
	var raw asn1RawInit
	if err := unmarshalAll(seq, &raw); err != nil {
		return nil, err
	}
	t := &NegTokenInit{RawMechTypes: raw.MechTypes.Bytes}
	if len(raw.F3.Bytes) > 0 && raw.F3.Bytes[0] == 0x30 {
		var v asn1Init2
		if err := unmarshalAll(seq, &v); err != nil {
			return nil, err
		}
		var rawHints struct {
			Name    asn1.RawValue `asn1:"explicit,optional,tag:0"`
			Address asn1.RawValue `asn1:"explicit,optional,tag:1"`
		}
		if err := unmarshalAll(raw.F3.Bytes, &rawHints); err != nil {
			return nil, err
		}
		t.MechTypes, t.ReqFlags = v.MechTypes, v.ReqFlags
		t.MechToken, t.MechListMIC = present(v.MechToken, raw.F2), present(v.MechListMIC, raw.F4)
		t.NegHints = &NegHints{HintAddress: present(v.NegHints.HintAddress, rawHints.Address)}
		if rawHints.Name.FullBytes != nil {
			var gs asn1.RawValue
			if err := unmarshalAll(v.NegHints.HintName.Bytes, &gs); err != nil {
				return nil, err
			}
			if gs.Tag != asn1.TagGeneralString || gs.Class != asn1.ClassUniversal || gs.IsCompound {
				return nil, fmt.Errorf("hintName is not a GeneralString")
			}
			t.NegHints.HintName, t.NegHints.hasName = string(gs.Bytes), true
		}
	} else {
		var v asn1Init
		if err := unmarshalAll(seq, &v); err != nil {
			return nil, err
		}
		if raw.F4.FullBytes != nil {
			return nil, fmt.Errorf("[4] in a NegTokenInit")
		}
		t.MechTypes, t.ReqFlags = v.MechTypes, v.ReqFlags
		t.MechToken, t.MechListMIC = present(v.MechToken, raw.F2), present(v.MechListMIC, raw.F3)
	}
	if raw.F1.FullBytes != nil && t.ReqFlags.Bytes == nil {
		t.ReqFlags.Bytes = []byte{}
	}
	return t, nil
}

func asn1ParseResp(seq []byte) (*NegTokenResp, error) {
	var v asn1Resp
	var raw asn1RawResp
	if err := unmarshalAll(seq, &v); err != nil {
		return nil, err
	}
	if err := unmarshalAll(seq, &raw); err != nil {
		return nil, err
	}
	t := &NegTokenResp{SupportedMech: v.SupportedMech,
		ResponseToken: present(v.ResponseToken, raw.F2), MechListMIC: present(v.MechListMIC, raw.F3)}
	if raw.F0.FullBytes != nil {
		var e asn1.Enumerated
		if err := unmarshalAll(raw.F0.Bytes, &e); err != nil {
			return nil, err
		}
		t.NegState, t.HasNegState = NegState(e), true
	}
	return t, nil
}

// asn1Marshal encodes a token with encoding/asn1.
func asn1Marshal(init *NegTokenInit, resp *NegTokenResp) ([]byte, error) {
	wrap := func(tag int, b []byte) asn1.RawValue {
		return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: tag, IsCompound: true, Bytes: b}
	}
	if resp != nil {
		var v struct {
			NegState      asn1.RawValue         `asn1:"optional"`
			SupportedMech asn1.ObjectIdentifier `asn1:"explicit,optional,tag:1"`
			ResponseToken []byte                `asn1:"explicit,optional,tag:2"`
			MechListMIC   []byte                `asn1:"explicit,optional,tag:3"`
		}
		if resp.HasNegState {
			e, err := asn1.Marshal(asn1.Enumerated(resp.NegState))
			if err != nil {
				return nil, err
			}
			v.NegState = wrap(0, e)
		}
		v.SupportedMech, v.ResponseToken, v.MechListMIC = resp.SupportedMech, resp.ResponseToken, resp.MechListMIC
		seq, err := asn1.Marshal(v)
		if err != nil {
			return nil, err
		}
		return asn1.Marshal(wrap(1, seq))
	}
	raw := init.RawMechTypes
	if raw == nil {
		var err error
		if raw, err = asn1.Marshal(init.MechTypes); err != nil {
			return nil, err
		}
	}
	var seq []byte
	var err error
	if h := init.NegHints; h != nil {
		var name asn1.RawValue
		if h.HintName != "" || h.hasName {
			gs, err := asn1.Marshal(asn1.RawValue{Tag: asn1.TagGeneralString, Bytes: []byte(h.HintName)})
			if err != nil {
				return nil, err
			}
			name = wrap(0, gs)
		}
		seq, err = asn1.Marshal(struct {
			MechTypes asn1.RawValue
			ReqFlags  asn1.BitString `asn1:"explicit,optional,tag:1"`
			MechToken []byte         `asn1:"explicit,optional,tag:2"`
			NegHints  struct {
				HintName    asn1.RawValue `asn1:"optional"`
				HintAddress []byte        `asn1:"explicit,optional,tag:1"`
			} `asn1:"explicit,tag:3"`
			MechListMIC []byte `asn1:"explicit,optional,tag:4"`
		}{MechTypes: wrap(0, raw), ReqFlags: init.ReqFlags, MechToken: init.MechToken, MechListMIC: init.MechListMIC,
			NegHints: struct {
				HintName    asn1.RawValue `asn1:"optional"`
				HintAddress []byte        `asn1:"explicit,optional,tag:1"`
			}{name, h.HintAddress}})
	} else {
		seq, err = asn1.Marshal(struct {
			MechTypes   asn1.RawValue
			ReqFlags    asn1.BitString `asn1:"explicit,optional,tag:1"`
			MechToken   []byte         `asn1:"explicit,optional,tag:2"`
			MechListMIC []byte         `asn1:"explicit,optional,tag:3"`
		}{wrap(0, raw), init.ReqFlags, init.MechToken, init.MechListMIC})
	}
	if err != nil {
		return nil, err
	}
	choice, err := asn1.Marshal(wrap(0, seq))
	if err != nil {
		return nil, err
	}
	oid, err := asn1.Marshal(OID)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(asn1.RawValue{Class: asn1.ClassApplication, Tag: 0, IsCompound: true, Bytes: append(oid, choice...)})
}

// sameToken compares decoded tokens, holding a nil and an empty slice different.
func sameToken(ai *NegTokenInit, ar *NegTokenResp, bi *NegTokenInit, br *NegTokenResp) bool {
	return reflect.DeepEqual(ai, bi) && reflect.DeepEqual(ar, br)
}

// checkDER is the property both the tests and the fuzz target hold every input to.
func checkDER(t *testing.T, b []byte) {
	t.Helper()
	init, resp, err := ParseToken(b)
	rinit, rresp, rerr := refParseToken(b)
	if (err == nil) != (rerr == nil) || (err != nil && err.Error() != rerr.Error()) {
		t.Fatalf("%x:\n ours      %v\n reference %v", b, err, rerr)
	}
	if err != nil {
		return
	}
	if !sameToken(init, resp, rinit, rresp) {
		t.Fatalf("%x:\n ours      %+v %+v\n reference %+v %+v", b, init, resp, rinit, rresp)
	}
	ainit, aresp, aerr := asn1ParseToken(b)
	if aerr != nil {
		t.Fatalf("%x: we accept what encoding/asn1 does not: %v", b, aerr)
	}
	if !sameToken(init, resp, ainit, aresp) {
		t.Fatalf("%x:\n ours          %+v %+v\n encoding/asn1 %+v %+v", b, init, resp, ainit, aresp)
	}
	// Whatever decodes re-encodes to its own bytes: a framed NegTokenInit, an unframed
	// NegTokenResp.
	again := checkMarshal(t, init, resp)
	if (init != nil && b[0] == tagGSSFraming || resp != nil && b[0] != tagGSSFraming) && !bytes.Equal(again, b) {
		t.Fatalf("not canonical:\n in %x\nout %x", b, again)
	}
}

// checkMarshal: our encoding is the reference's and encoding/asn1's; where ours fails,
// the reference's does too.
func checkMarshal(t *testing.T, init *NegTokenInit, resp *NegTokenResp) []byte {
	t.Helper()
	var ours, ref []byte
	var err, rerr error
	if init != nil {
		ours, err = init.Marshal()
		ref, rerr = refMarshalInit(init)
	} else {
		ours, err = resp.Marshal()
		ref, rerr = refMarshalResp(resp)
		if resp.HasNegState && (resp.NegState < 0 || resp.NegState > RequestMIC) {
			// The one difference: the reference wrote byte(negState) for any value.
			if err == nil {
				t.Fatalf("%v encoded", resp.NegState)
			}
			return nil
		}
		if resp.SupportedMech != nil && oidHasNegative(resp.SupportedMech) {
			// asn1.Marshal encoded negative arcs as nothing; cryptobyte and we refuse.
			if err == nil {
				t.Fatalf("%v encoded", resp.SupportedMech)
			}
			return nil
		}
	}
	if (err == nil) != (rerr == nil) || !bytes.Equal(ours, ref) {
		t.Fatalf("%+v %+v:\n ours      %x %v\n reference %x %v", init, resp, ours, err, ref, rerr)
	}
	if err != nil {
		return nil
	}
	theirs, aerr := asn1Marshal(init, resp)
	if aerr != nil || !bytes.Equal(ours, theirs) {
		t.Fatalf("%+v %+v:\n ours          %x\n encoding/asn1 %x %v", init, resp, ours, theirs, aerr)
	}
	return ours
}

func oidHasNegative(o asn1.ObjectIdentifier) bool {
	for _, v := range o {
		if v < 0 {
			return true
		}
	}
	return false
}

// derSamples are real tokens (MIT's, in-process handshakes', an acceptor's
// NegTokenInit2) and hand-made ones at the edges of the grammar.
func derSamples(t testing.TB) [][]byte {
	var out [][]byte
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.txt"))
	for _, p := range paths {
		out = append(out, readTokens(t, p)...)
	}
	for _, h := range []string{
		// reqFlags: empty; with trailing data in [1] (refused); padding bits set (refused)
		"602106062b0601050502a0173015a00e300c060a2b06010401823702020aa103030100",
		"602306062b0601050502a0193017a00e300c060a2b06010401823702020aa1050301000500",
		"602206062b0601050502a0183016a00e300c060a2b06010401823702020aa10403020101",
		"602206062b0601050502a0183016a00e300c060a2b06010401823702020aa10403020780",
		// NegTokenInit2: empty hintName, empty hintAddress, empty negHints; MIC in [3] and [4]
		"602506062b0601050502a01b3019a00e300c060a2b06010401823702020aa3073005a0031b0100",
		"602706062b0601050502a01d301ba00e300c060a2b06010401823702020aa3093007a0031b0100a100",
		"602206062b0601050502a0183016a00e300c060a2b06010401823702020aa3043002a400",
		"602206062b0601050502a0183016a00e300c060a2b06010401823702020aa30404020102",
		// unframed NegTokenInit; empty mechTypes; non-minimal OID; long-form length
		"a0123010a00e300c060a2b06010401823702020a",
		"601206062b0601050502a0083006a0043002",
		"602106062b0601050502a0173015a011300f060d2b0601040180823702020a",
		"60811c06062b0601050502a0123010a00e300c060a2b06010401823702020a",
		// NegTokenResp: empty; negState 3 and 4 (refused); MIT's framed; unknown field
		"a1023000", "a1073005a0030a0103", "a1073005a0030a0104",
		"600f06062b0601050502a1053003a20100",
		"a1093007a0030a0100a400",
		// supportedMech with a five-octet arc at 2^31-1 and at 2^31 (refused)
		"a10e300ca10a06082a8647ffffff7f01", "a10e300ca10a06082a86478880808001",
	} {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(h, err)
		}
		out = append(out, b)
	}
	// Long lengths: a response token of 200 and of 70000 bytes.
	for _, n := range []int{200, 70000} {
		tok, err := (&NegTokenResp{NegState: AcceptIncomplete, HasNegState: true, SupportedMech: OIDNTLM,
			ResponseToken: bytes.Repeat([]byte{7}, n), MechListMIC: []byte{}}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tok)
	}
	hints, err := (&NegTokenInit{MechTypes: []asn1.ObjectIdentifier{OIDKerberosMS, OIDKerberos, OIDNegoEx, OIDNTLM},
		NegHints: &NegHints{HintName: hintName, HintAddress: []byte{1, 2}}, MechListMIC: []byte{3}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return append(out, hints)
}

func TestDERReferences(t *testing.T) {
	n := 0
	for _, b := range derSamples(t) {
		checkDER(t, b)
		if _, _, err := ParseToken(b); err == nil {
			n++
		}
		// And every prefix, which exercises each length and truncation check.
		for i := range b {
			if i < 200 || i%97 == 0 {
				checkDER(t, b[:i])
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d samples decode", n)
	}
}

func FuzzDER(f *testing.F) {
	for _, b := range derSamples(f) {
		f.Add(b)
	}
	f.Fuzz(checkDER)
}

// fuzzOIDs makes OIDs of every shape, valid or not, from fuzz bytes.
func fuzzOIDs(b []byte) []asn1.ObjectIdentifier {
	var out []asn1.ObjectIdentifier
	for len(b) > 0 && len(out) < 4 {
		n := int(b[0] % 6)
		b = b[1:]
		oid := asn1.ObjectIdentifier{}
		for ; n > 0 && len(b) >= 2; n-- {
			v := int(int8(b[0]))<<8 | int(b[1])
			switch b[0] >> 6 {
			case 1:
				v = int(b[1]) // small arcs, mostly valid
			case 2:
				v = int(b[1]) << 24 // arcs near and above 2^31
			}
			if len(oid) == 0 {
				v = int(b[1] % 4)
			}
			oid = append(oid, v)
			b = b[2:]
		}
		out = append(out, oid)
	}
	return out
}

// FuzzDEREncode: built from arbitrary field values, ours, the reference and
// encoding/asn1 encode every token alike.
func FuzzDEREncode(f *testing.F) {
	f.Add(uint8(0), []byte{2, 0x41, 1, 0x41, 3, 0x41, 6}, []byte("NTLMSSP"), []byte{}, []byte("name"), uint16(0))
	f.Add(uint8(0xff), []byte{3, 0x41, 2, 0x41, 40, 0x80, 0x80}, []byte(nil), []byte{1}, []byte(nil), uint16(300))
	f.Add(uint8(0x53), []byte{5, 0xff, 0xff, 0x3f, 0xff, 0, 1, 0x80, 0xff, 0xc0, 1}, bytes.Repeat([]byte{9}, 130), []byte{}, []byte{}, uint16(1))
	f.Fuzz(func(t *testing.T, sel uint8, oids, tok, mic, name []byte, big uint16) {
		if len(tok) > 0 && big > 0 && len(tok)*int(big) <= 1<<18 {
			tok = bytes.Repeat(tok, int(big)) // lengths across the long forms
		}
		if sel&1 == 0 {
			init := &NegTokenInit{MechTypes: fuzzOIDs(oids), MechToken: tok, MechListMIC: mic}
			if sel&2 != 0 {
				init.ReqFlags = asn1.BitString{Bytes: name, BitLength: len(name) * 8}
				if sel&4 != 0 && len(name) > 0 {
					init.ReqFlags.Bytes = append([]byte{}, name...)
					init.ReqFlags.Bytes[len(name)-1] &^= 1
					init.ReqFlags.BitLength--
				}
			}
			if sel&8 != 0 {
				init.NegHints = &NegHints{HintName: string(name), HintAddress: mic, hasName: sel&16 != 0}
			}
			if sel&32 != 0 && len(init.MechTypes) > 0 {
				raw, err := refMarshalMechTypes(init.MechTypes)
				if err == nil {
					init.RawMechTypes = raw
				}
			}
			checkMarshal(t, init, nil)
			return
		}
		resp := &NegTokenResp{NegState: NegState(int(sel>>1) - 3), HasNegState: sel&2 != 0, ResponseToken: tok, MechListMIC: mic}
		if o := fuzzOIDs(oids); len(o) > 0 {
			resp.SupportedMech = o[0]
		}
		checkMarshal(t, nil, resp)
	})
}

// TestOIDCodec: our OID writer and reader against encoding/asn1's at the edges.
func TestOIDCodec(t *testing.T) {
	for _, oid := range []asn1.ObjectIdentifier{
		{0, 0}, {0, 39}, {1, 39}, {2, 0}, {2, 39}, {2, 40}, {2, 47}, {2, 48}, {2, 999}, {2, 1<<31 - 81},
		{1, 2, 840, 113554, 1, 2, 2}, {1, 3, 6, 1, 4, 1, 311, 2, 2, 30}, {1, 2, 127, 128, 16383, 16384, 1<<31 - 1},
		{1, 2, 1 << 40}, {2, math.MaxInt32 - 80, 0},
	} {
		want, err := asn1.Marshal(oid)
		if err != nil {
			t.Fatal(oid, err)
		}
		got, err := oidDER(oid)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%v: %x %v, want %x", oid, got, err, want)
			continue
		}
		var back asn1.ObjectIdentifier
		_, aerr := asn1.Unmarshal(want, &back)
		body := oidContents(got)
		if validOID(body) != (aerr == nil) {
			t.Errorf("%v: valid %v, encoding/asn1 says %v", oid, validOID(body), aerr)
		} else if aerr == nil && !parseOID(body).Equal(back) {
			t.Errorf("%v: decodes as %v, encoding/asn1 %v", oid, parseOID(body), back)
		}
	}
	for _, oid := range []asn1.ObjectIdentifier{nil, {}, {1}, {3, 1}, {0, 40}, {1, 40}, {1, -1}, {-1, 2}, {1, 2, -3}} {
		if b, err := oidDER(oid); err == nil {
			t.Errorf("%v encoded as %x", oid, b)
		}
	}
}

// The codec allocates only its output.
func TestDERAllocs(t *testing.T) {
	toks := readTokens(t, "testdata/mit-spnego-ntlm.txt")
	var tok token
	if n := testing.AllocsPerRun(100, func() {
		for _, b := range toks {
			if err := decodeToken(b, &tok); err != nil {
				t.Fatal(err)
			}
		}
	}); n != 0 {
		t.Errorf("decoding allocates %v times", n)
	}
	resp := &NegTokenResp{NegState: AcceptIncomplete, HasNegState: true, SupportedMech: OIDNTLM, ResponseToken: []byte("NTLMSSP")}
	init := &NegTokenInit{RawMechTypes: mustRaw(t), MechToken: []byte("NTLMSSP")}
	if n := testing.AllocsPerRun(100, func() {
		resp.Marshal()
		init.Marshal()
	}); n != 2 {
		t.Errorf("encoding allocates %v times, want one per token", n)
	}
	if !strings.HasPrefix(hex.EncodeToString(spnegoOID), "2b0601050502") {
		t.Errorf("SPNEGO's OID is %x", spnegoOID)
	}
}

func mustRaw(t *testing.T) []byte {
	raw, err := marshalMechTypes([]asn1.ObjectIdentifier{OIDNTLM})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
