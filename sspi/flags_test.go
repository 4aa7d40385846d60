package sspi_test

import (
	"testing"

	"github.com/gossp/gossp/sspi"
)

// allFlags lists every defined ContextFlags bit.
var allFlags = []sspi.ContextFlags{
	sspi.FlagDelegate, sspi.FlagMutualAuth, sspi.FlagReplayDetect, sspi.FlagSequenceDetect,
	sspi.FlagConfidentiality, sspi.FlagIntegrity, sspi.FlagAnonymous, sspi.FlagIdentify,
	sspi.FlagDatagram, sspi.FlagConnection, sspi.FlagDCEStyle, sspi.FlagExtendedError,
	sspi.FlagNoIntegrity,
}

// flagNumbers are the numbers sspi.h (ISC_REQ_*, ASC_REQ_*, ISC_RET_*, ASC_RET_*) and
// RFC 2744 / gssapi_krb5.h (GSS_C_*_FLAG) give each flag, typed in independently of
// flags.go. Zero: the API has no such flag.
var flagNumbers = []struct {
	f                                   sspi.ContextFlags
	iscReq, ascReq, iscRet, ascRet, gss uint32
}{
	{sspi.FlagDelegate, 0x1, 0x1, 0x1, 0x1, 1},                       // GSS_C_DELEG_FLAG
	{sspi.FlagMutualAuth, 0x2, 0x2, 0x2, 0x2, 2},                     // GSS_C_MUTUAL_FLAG
	{sspi.FlagReplayDetect, 0x4, 0x4, 0x4, 0x4, 4},                   // GSS_C_REPLAY_FLAG
	{sspi.FlagSequenceDetect, 0x8, 0x8, 0x8, 0x8, 8},                 // GSS_C_SEQUENCE_FLAG
	{sspi.FlagConfidentiality, 0x10, 0x10, 0x10, 0x10, 16},           // GSS_C_CONF_FLAG
	{sspi.FlagIntegrity, 0x10000, 0x20000, 0x10000, 0x20000, 32},     // GSS_C_INTEG_FLAG
	{sspi.FlagAnonymous, 0x40000, 0x100000, 0x40000, 0x100000, 64},   // NULL_SESSION; GSS_C_ANON_FLAG
	{sspi.FlagIdentify, 0x20000, 0x80000, 0x20000, 0x80000, 0x2000},  // GSS_C_IDENTIFY_FLAG
	{sspi.FlagDatagram, 0x400, 0x400, 0x400, 0x400, 0},               // no GSS flag
	{sspi.FlagConnection, 0x800, 0x800, 0x800, 0x800, 0},             // no GSS flag
	{sspi.FlagDCEStyle, 0x200, 0x200, 0x200, 0x200, 0x1000},          // GSS_C_DCE_STYLE
	{sspi.FlagExtendedError, 0x4000, 0x8000, 0x4000, 0x8000, 0x4000}, // GSS_C_EXTENDED_ERROR_FLAG
	{sspi.FlagNoIntegrity, 0x800000, 0, 0, 0, 0},                     // ISC_REQ_NO_INTEGRITY only
}

func TestFlagNumbers(t *testing.T) {
	if len(flagNumbers) != len(allFlags) {
		t.Fatalf("table covers %d flags, %d defined", len(flagNumbers), len(allFlags))
	}
	for _, tc := range flagNumbers {
		if got := tc.f.ISCReq(); got != tc.iscReq {
			t.Errorf("%v.ISCReq() = 0x%X, want 0x%X", tc.f, got, tc.iscReq)
		}
		if got := tc.f.ASCReq(); got != tc.ascReq {
			t.Errorf("%v.ASCReq() = 0x%X, want 0x%X", tc.f, got, tc.ascReq)
		}
		if got := tc.f.ISCRet(); got != tc.iscRet {
			t.Errorf("%v.ISCRet() = 0x%X, want 0x%X", tc.f, got, tc.iscRet)
		}
		if got := tc.f.ASCRet(); got != tc.ascRet {
			t.Errorf("%v.ASCRet() = 0x%X, want 0x%X", tc.f, got, tc.ascRet)
		}
		if got := tc.f.GSS(); got != tc.gss {
			t.Errorf("%v.GSS() = 0x%X, want 0x%X", tc.f, got, tc.gss)
		}
		check := func(api string, from func(uint32) sspi.ContextFlags, v uint32) {
			if v == 0 {
				return
			}
			if got := from(v); got != tc.f {
				t.Errorf("FlagsFrom%s(0x%X) = %v, want %v", api, v, got, tc.f)
			}
		}
		check("ISCReq", sspi.FlagsFromISCReq, tc.iscReq)
		check("ASCReq", sspi.FlagsFromASCReq, tc.ascReq)
		check("ISCRet", sspi.FlagsFromISCRet, tc.iscRet)
		check("ASCRet", sspi.FlagsFromASCRet, tc.ascRet)
		check("GSS", sspi.FlagsFromGSS, tc.gss)
	}
}

func TestIntegrityDiffersBySide(t *testing.T) {
	if got := sspi.FlagIntegrity.ISCReq(); got != 0x10000 {
		t.Errorf("ISC_REQ_INTEGRITY = 0x%X, want 0x10000", got)
	}
	if got := sspi.FlagIntegrity.ASCReq(); got != 0x20000 {
		t.Errorf("ASC_REQ_INTEGRITY = 0x%X, want 0x20000", got)
	}
	// Feeding one side's number to the other side's converter must not produce
	// integrity: 0x10000 is ASC_REQ_STREAM, 0x20000 is ISC_REQ_IDENTIFY.
	if got := sspi.FlagsFromASCReq(0x10000); got != 0 {
		t.Errorf("FlagsFromASCReq(ASC_REQ_STREAM) = %v, want 0", got)
	}
	if got := sspi.FlagsFromISCReq(0x20000); got != sspi.FlagIdentify {
		t.Errorf("FlagsFromISCReq(0x20000) = %v, want Identify", got)
	}
}

func TestFlagsUnknownBitsDropped(t *testing.T) {
	// ISC_REQ_ALLOCATE_MEMORY, ISC_REQ_USE_SESSION_KEY, ISC_REQ_STREAM have no gossp flag.
	if got := sspi.FlagsFromISCReq(0x100 | 0x20 | 0x8000); got != 0 {
		t.Errorf("FlagsFromISCReq(unmapped bits) = %v, want 0", got)
	}
	// GSS_C_PROT_READY_FLAG and GSS_C_TRANS_FLAG.
	if got := sspi.FlagsFromGSS(128 | 256 | 2); got != sspi.FlagMutualAuth {
		t.Errorf("FlagsFromGSS = %v, want MutualAuth", got)
	}
	// Bits above the defined flags are not converted to anything.
	if got := sspi.ContextFlags(1 << 30).ISCReq(); got != 0 {
		t.Errorf("undefined flag ISCReq = 0x%X", got)
	}
}

// TestFlagsRoundTrip converts every subset of the defined flags out and back. Each API
// loses exactly the flags it has no number for.
func TestFlagsRoundTrip(t *testing.T) {
	var all sspi.ContextFlags
	for _, f := range allFlags {
		all |= f
	}
	apis := []struct {
		name string
		to   func(sspi.ContextFlags) uint32
		from func(uint32) sspi.ContextFlags
		lost sspi.ContextFlags
	}{
		{"ISCReq", sspi.ContextFlags.ISCReq, sspi.FlagsFromISCReq, 0},
		{"ASCReq", sspi.ContextFlags.ASCReq, sspi.FlagsFromASCReq, sspi.FlagNoIntegrity},
		{"ISCRet", sspi.ContextFlags.ISCRet, sspi.FlagsFromISCRet, sspi.FlagNoIntegrity},
		{"ASCRet", sspi.ContextFlags.ASCRet, sspi.FlagsFromASCRet, sspi.FlagNoIntegrity},
		{"GSS", sspi.ContextFlags.GSS, sspi.FlagsFromGSS, sspi.FlagDatagram | sspi.FlagConnection | sspi.FlagNoIntegrity},
	}
	for _, api := range apis {
		for f := sspi.ContextFlags(0); f <= all; f++ {
			if got, want := api.from(api.to(f)), f&^api.lost; got != want {
				t.Fatalf("%s round trip of %v = %v, want %v", api.name, f, got, want)
			}
		}
	}
}

func TestContextFlagsString(t *testing.T) {
	tests := []struct {
		f    sspi.ContextFlags
		want string
	}{
		{0, "0"},
		{sspi.FlagMutualAuth | sspi.FlagIntegrity, "MutualAuth|Integrity"},
		{sspi.FlagDelegate, "Delegate"},
		{sspi.FlagNoIntegrity, "NoIntegrity"},
		{sspi.FlagConfidentiality | 1<<20, "Confidentiality|0x00100000"},
		{1 << 31, "0x80000000"},
	}
	for _, tc := range tests {
		if got := tc.f.String(); got != tc.want {
			t.Errorf("ContextFlags(0x%X).String() = %q, want %q", uint32(tc.f), got, tc.want)
		}
	}
	// Every defined flag has its own name, none of them hex.
	seen := map[string]bool{}
	for _, f := range allFlags {
		s := f.String()
		if seen[s] || len(s) == 0 || s[0] == '0' {
			t.Errorf("flag 0x%X has name %q", uint32(f), s)
		}
		seen[s] = true
	}
}

func TestProtectionFlags(t *testing.T) {
	want := sspi.FlagIntegrity | sspi.FlagConfidentiality | sspi.FlagReplayDetect | sspi.FlagSequenceDetect
	if sspi.ProtectionFlags != want {
		t.Errorf("ProtectionFlags = %v, want %v", sspi.ProtectionFlags, want)
	}
}
