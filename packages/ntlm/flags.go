package ntlm

import "strings"

// NegotiateFlags are the NTLMSSP_NEGOTIATE_* bits of MS-NLMP 2.2.2.5.
type NegotiateFlags uint32

// Negotiate flags, with MS-NLMP's names shortened.
const (
	FlagUnicode                 NegotiateFlags = 0x00000001 // NTLMSSP_NEGOTIATE_UNICODE
	FlagOEM                     NegotiateFlags = 0x00000002 // NTLM_NEGOTIATE_OEM
	FlagRequestTarget           NegotiateFlags = 0x00000004 // NTLMSSP_REQUEST_TARGET
	FlagSign                    NegotiateFlags = 0x00000010 // NTLMSSP_NEGOTIATE_SIGN
	FlagSeal                    NegotiateFlags = 0x00000020 // NTLMSSP_NEGOTIATE_SEAL
	FlagDatagram                NegotiateFlags = 0x00000040 // NTLMSSP_NEGOTIATE_DATAGRAM
	FlagLMKey                   NegotiateFlags = 0x00000080 // NTLMSSP_NEGOTIATE_LM_KEY
	FlagNTLM                    NegotiateFlags = 0x00000200 // NTLMSSP_NEGOTIATE_NTLM
	FlagAnonymous               NegotiateFlags = 0x00000800 // NTLMSSP_ANONYMOUS
	FlagOEMDomainSupplied       NegotiateFlags = 0x00001000 // NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED
	FlagOEMWorkstationSupplied  NegotiateFlags = 0x00002000 // NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED
	FlagAlwaysSign              NegotiateFlags = 0x00008000 // NTLMSSP_NEGOTIATE_ALWAYS_SIGN
	FlagTargetTypeDomain        NegotiateFlags = 0x00010000 // NTLMSSP_TARGET_TYPE_DOMAIN
	FlagTargetTypeServer        NegotiateFlags = 0x00020000 // NTLMSSP_TARGET_TYPE_SERVER
	FlagExtendedSessionSecurity NegotiateFlags = 0x00080000 // NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
	FlagIdentify                NegotiateFlags = 0x00100000 // NTLMSSP_NEGOTIATE_IDENTIFY
	FlagRequestNonNTSessionKey  NegotiateFlags = 0x00400000 // NTLMSSP_REQUEST_NON_NT_SESSION_KEY
	FlagTargetInfo              NegotiateFlags = 0x00800000 // NTLMSSP_NEGOTIATE_TARGET_INFO
	FlagVersion                 NegotiateFlags = 0x02000000 // NTLMSSP_NEGOTIATE_VERSION
	Flag128                     NegotiateFlags = 0x20000000 // NTLMSSP_NEGOTIATE_128
	FlagKeyExch                 NegotiateFlags = 0x40000000 // NTLMSSP_NEGOTIATE_KEY_EXCH
	Flag56                      NegotiateFlags = 0x80000000 // NTLMSSP_NEGOTIATE_56
)

var negotiateFlagNames = []struct {
	f    NegotiateFlags
	name string
}{
	{FlagUnicode, "UNICODE"}, {FlagOEM, "OEM"}, {FlagRequestTarget, "REQUEST_TARGET"},
	{FlagSign, "SIGN"}, {FlagSeal, "SEAL"}, {FlagDatagram, "DATAGRAM"}, {FlagLMKey, "LM_KEY"},
	{FlagNTLM, "NTLM"}, {FlagAnonymous, "ANONYMOUS"},
	{FlagOEMDomainSupplied, "OEM_DOMAIN_SUPPLIED"}, {FlagOEMWorkstationSupplied, "OEM_WORKSTATION_SUPPLIED"},
	{FlagAlwaysSign, "ALWAYS_SIGN"}, {FlagTargetTypeDomain, "TARGET_TYPE_DOMAIN"},
	{FlagTargetTypeServer, "TARGET_TYPE_SERVER"}, {FlagExtendedSessionSecurity, "EXTENDED_SESSIONSECURITY"},
	{FlagIdentify, "IDENTIFY"}, {FlagRequestNonNTSessionKey, "REQUEST_NON_NT_SESSION_KEY"},
	{FlagTargetInfo, "TARGET_INFO"}, {FlagVersion, "VERSION"}, {Flag128, "128"},
	{FlagKeyExch, "KEY_EXCH"}, {Flag56, "56"},
}

// Names lists the set flags by their MS-NLMP suffixes, with unnamed bits in hex.
func (f NegotiateFlags) Names() []string {
	var names []string
	rest := f
	for _, n := range negotiateFlagNames {
		if f&n.f != 0 {
			names = append(names, n.name)
			rest &^= n.f
		}
	}
	for bit := NegotiateFlags(1); bit != 0; bit <<= 1 {
		if rest&bit != 0 {
			names = append(names, "0x"+hex8(uint32(bit)))
		}
	}
	return names
}

// String joins Names with "|".
func (f NegotiateFlags) String() string {
	if f == 0 {
		return "0"
	}
	return strings.Join(f.Names(), "|")
}

func hex8(v uint32) string {
	const digits = "0123456789abcdef"
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = digits[v&0xF]
		v >>= 4
	}
	return string(b[:])
}

// Has reports whether all bits of g are set in f.
func (f NegotiateFlags) Has(g NegotiateFlags) bool { return f&g == g }
