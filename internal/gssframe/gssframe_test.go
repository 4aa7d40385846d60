package gssframe

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"testing"
)

var pku2u = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 2, 7}

func TestRoundTrip(t *testing.T) {
	for _, n := range []int{0, 5, 0x70, 0x80, 0x1000, 0x10000} {
		inner := bytes.Repeat([]byte{0xab}, n)
		tok := Frame(OIDBytes(pku2u), 0x0500, inner)
		oid, id, got, err := Parse(tok)
		if err != nil || !oid.Equal(pku2u) || id != 0x0500 || !bytes.Equal(got, inner) {
			t.Fatalf("n=%d: %v %v %x", n, oid, err, id)
		}
	}
	// The PKU2U AS-REQ prefix Windows sends: 60 len 06 06 2b 06 01 05 02 07 05 00.
	tok := Frame(OIDBytes(pku2u), 0x0500, []byte{0x6a, 0x00})
	if want := []byte{0x60, 0x0c, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x02, 0x07, 0x05, 0x00, 0x6a, 0x00}; !bytes.Equal(tok, want) {
		t.Fatalf("frame % x, want % x", tok, want)
	}
}

func TestMalformed(t *testing.T) {
	good := Frame(OIDBytes(pku2u), 0x0100, []byte{1, 2, 3})
	for name, b := range map[string][]byte{
		"empty":       nil,
		"tag":         append([]byte{0x61}, good[1:]...),
		"long length": append([]byte{0x60, 0x81, 0x05}, good[2:]...),
		"truncated":   good[:len(good)-1],
		"no OID":      {0x60, 0x02, 0x05, 0x00},
		"bad length":  {0x60, 0x85, 0, 0, 0, 0, 1},
		"short len":   {0x60, 0x82, 0x00},
	} {
		if _, _, _, err := Parse(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(Frame(OIDBytes(pku2u), 0x0500, []byte{0x6a, 0x00}))
	f.Add([]byte{0x60, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		oid, id, inner, err := Parse(b)
		if err != nil {
			return
		}
		if again := Frame(OIDBytes(oid), id, inner); len(again) > len(b) {
			t.Fatalf("re-framing grew the token: %d > %d", len(again), len(b))
		}
	})
}
