package sspi_test

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/gossp/gossp/sspi"
)

// pku2uGUID is Windows' PKU2U auth scheme, with its on-the-wire bytes as NegoEx
// messages from Windows carry them (Data1..Data3 little-endian).
const (
	pku2uGUID = "0d53335c-f9ea-4d0d-b2ec-4ae3786ec308"
	pku2uWire = "5c33530deaf90d4db2ec4ae3786ec308"
)

func TestParseGUID(t *testing.T) {
	g, err := sspi.ParseGUID(pku2uGUID)
	if err != nil {
		t.Fatal(err)
	}
	// Text order is held as is: the first byte is 0x0d.
	if want, _ := hex.DecodeString("0d53335cf9ea4d0db2ec4ae3786ec308"); !bytes.Equal(g[:], want) {
		t.Errorf("ParseGUID bytes = %x, want %x", g[:], want)
	}
	if got := g.String(); got != pku2uGUID {
		t.Errorf("String() = %q, want %q", got, pku2uGUID)
	}
	for _, s := range []string{"{" + pku2uGUID + "}", strings.ToUpper(pku2uGUID), "{" + strings.ToUpper(pku2uGUID) + "}"} {
		g2, err := sspi.ParseGUID(s)
		if err != nil {
			t.Errorf("ParseGUID(%q): %v", s, err)
			continue
		}
		if g2 != g {
			t.Errorf("ParseGUID(%q) = %v, want %v", s, g2, g)
		}
	}
	if g.IsZero() {
		t.Error("IsZero() of a real GUID")
	}
	if !(sspi.GUID{}).IsZero() {
		t.Error("IsZero() of the nil GUID = false")
	}
	if got := (sspi.GUID{}).String(); got != "00000000-0000-0000-0000-000000000000" {
		t.Errorf("nil GUID String() = %q", got)
	}
}

func TestParseGUIDRejects(t *testing.T) {
	for _, s := range []string{
		"",
		"0d53335c",
		"0d53335cf9ea4d0db2ec4ae3786ec308",         // no dashes
		"0d53335c-f9ea-4d0d-b2ec-4ae3786ec30",      // one digit short
		"0d53335c-f9ea-4d0d-b2ec-4ae3786ec3088",    // one digit long
		"0d53335-cf9ea-4d0d-b2ec-4ae3786ec308",     // dash misplaced
		"0d53335c-f9ea-4d0d-b2ec-4ae3786ec30g",     // not hex
		"0d53335c-f9ea-4d0d-b2ec-4ae3786ec3-8",     // dash in the last group
		"0d53335c-f9ea-4d0d-b2ec+4ae3786ec308",     // wrong separator
		"{0d53335c-f9ea-4d0d-b2ec-4ae3786ec308",    // unbalanced brace
		"0d53335c-f9ea-4d0d-b2ec-4ae3786ec308}",    // unbalanced brace
		"(0d53335c-f9ea-4d0d-b2ec-4ae3786ec308)",   // wrong brackets
		"{{0d53335c-f9ea-4d0d-b2ec-4ae3786ec308}}", // doubled braces
		" 0d53335c-f9ea-4d0d-b2ec-4ae3786ec308",    // space
	} {
		if g, err := sspi.ParseGUID(s); err == nil {
			t.Errorf("ParseGUID(%q) = %v, want an error", s, g)
		} else if g != (sspi.GUID{}) {
			t.Errorf("ParseGUID(%q) failed but returned %v, want the zero GUID", s, g)
		}
	}
}

func TestMustParseGUID(t *testing.T) {
	if got := sspi.MustParseGUID(pku2uGUID).String(); got != pku2uGUID {
		t.Errorf("MustParseGUID = %s", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("MustParseGUID of a malformed GUID did not panic")
		}
	}()
	sspi.MustParseGUID("not a guid")
}

func TestGUIDWireOrder(t *testing.T) {
	g := sspi.MustParseGUID(pku2uGUID)
	wire := g.AppendWire(nil)
	if got := hex.EncodeToString(wire); got != pku2uWire {
		t.Errorf("AppendWire = %s, want %s", got, pku2uWire)
	}
	// AppendWire appends; it does not overwrite what is there.
	prefixed := g.AppendWire([]byte("NEGOEXTS"))
	if !bytes.HasPrefix(prefixed, []byte("NEGOEXTS")) || hex.EncodeToString(prefixed[8:]) != pku2uWire {
		t.Errorf("AppendWire with a prefix = %x", prefixed)
	}
	raw, _ := hex.DecodeString(pku2uWire + "ffff") // trailing bytes are ignored
	if got := sspi.GUIDFromWire(raw); got != g {
		t.Errorf("GUIDFromWire = %v, want %v", got, g)
	}
	// The wire order is not the text order: decoding the wire bytes as text-order bytes
	// must give a different GUID (catches an AppendWire that forgets to swap).
	var naive sspi.GUID
	copy(naive[:], raw)
	if naive == g {
		t.Error("wire order equals text order for a GUID whose first fields are not palindromes")
	}
}

// FuzzParseGUID checks that ParseGUID never panics and that every GUID it accepts
// formats back to its input (modulo case and braces) and survives the wire round trip.
func FuzzParseGUID(f *testing.F) {
	for _, s := range []string{
		pku2uGUID, "{" + pku2uGUID + "}", strings.ToUpper(pku2uGUID),
		"7d3f1a42-6c0e-4b8a-9f15-2e9c7b5d0a61", "00000000-0000-0000-0000-000000000000",
		"", "{}", "0d53335c-f9ea-4d0d-b2ec-4ae3786ec30g", "{0d53335c-f9ea-4d0d-b2ec-4ae3786ec308",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := sspi.ParseGUID(s)
		if err != nil {
			if g != (sspi.GUID{}) {
				t.Fatalf("error with a non-zero GUID %v", g)
			}
			return
		}
		text := s
		if len(text) == 38 {
			text = text[1:37]
		}
		if !strings.EqualFold(g.String(), text) {
			t.Fatalf("ParseGUID(%q).String() = %q", s, g.String())
		}
		if g2, err := sspi.ParseGUID(g.String()); err != nil || g2 != g {
			t.Fatalf("ParseGUID(String()) = %v, %v; want %v", g2, err, g)
		}
		if g3 := sspi.GUIDFromWire(g.AppendWire(nil)); g3 != g {
			t.Fatalf("wire round trip = %v, want %v", g3, g)
		}
	})
}
