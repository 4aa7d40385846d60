package sspi

import "strings"

// ContextFlags are the context requirements a caller requests and the package grants:
// SSPI's ISC_REQ_*/ASC_REQ_* and ISC_RET_*/ASC_RET_*, and GSS-API's GSS_C_*_FLAG, as one
// set. Windows numbers the initiator's and acceptor's flags differently (INTEGRITY is
// 0x10000 for ISC_REQ but 0x20000 for ASC_REQ); the conversion methods produce each.
type ContextFlags uint32

// Context flags. The bit values are gossp's own; use the ISC/ASC/GSS methods for the
// numbers other APIs use.
const (
	FlagDelegate        ContextFlags = 1 << iota // forward the client's credentials (delegation)
	FlagMutualAuth                               // the server authenticates to the client
	FlagReplayDetect                             // replayed messages are detected
	FlagSequenceDetect                           // out-of-sequence messages are detected
	FlagConfidentiality                          // EncryptMessage encrypts
	FlagIntegrity                                // MakeSignature / message integrity
	FlagAnonymous                                // anonymous (NULL session) authentication
	FlagIdentify                                 // the server may identify but not impersonate
	FlagDatagram                                 // datagram-style (connectionless) context
	FlagConnection                               // connection-style context
	FlagDCEStyle                                 // DCE-style three-leg authentication
	FlagExtendedError                            // errors produce an error token for the peer
	FlagNoIntegrity                              // ISC_REQ_NO_INTEGRITY: explicitly no signing
)

var flagNames = []string{
	"Delegate", "MutualAuth", "ReplayDetect", "SequenceDetect", "Confidentiality",
	"Integrity", "Anonymous", "Identify", "Datagram", "Connection", "DCEStyle",
	"ExtendedError", "NoIntegrity",
}

// String lists the set flags, "MutualAuth|Integrity", or "0".
func (f ContextFlags) String() string {
	var parts []string
	for i, n := range flagNames {
		if f&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	if rest := f &^ (1<<len(flagNames) - 1); rest != 0 {
		parts = append(parts, "0x"+hex32(uint32(rest)))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}

func hex32(v uint32) string {
	const digits = "0123456789ABCDEF"
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = digits[v&0xF]
		v >>= 4
	}
	return string(b)
}

// flagMap pairs a gossp flag with its Windows and GSS-API numbers. Zero means the API has
// no such flag.
type flagMap struct {
	flag                   ContextFlags
	iscReq, ascReq         uint32
	iscRet, ascRet, gssAPI uint32
}

var flagTable = []flagMap{
	{FlagDelegate, 0x1, 0x1, 0x1, 0x1, 0x1},
	{FlagMutualAuth, 0x2, 0x2, 0x2, 0x2, 0x2},
	{FlagReplayDetect, 0x4, 0x4, 0x4, 0x4, 0x4},
	{FlagSequenceDetect, 0x8, 0x8, 0x8, 0x8, 0x8},
	{FlagConfidentiality, 0x10, 0x10, 0x10, 0x10, 0x10},
	{FlagIntegrity, 0x10000, 0x20000, 0x10000, 0x20000, 0x20},
	{FlagAnonymous, 0x40000, 0x100000, 0x40000, 0x100000, 0x40},
	{FlagIdentify, 0x20000, 0x80000, 0x20000, 0x80000, 0x2000},
	{FlagDatagram, 0x400, 0x400, 0x400, 0x400, 0},
	{FlagConnection, 0x800, 0x800, 0x800, 0x800, 0},
	{FlagDCEStyle, 0x200, 0x200, 0x200, 0x200, 0x1000},
	{FlagExtendedError, 0x4000, 0x8000, 0x4000, 0x8000, 0x4000},
	{FlagNoIntegrity, 0x800000, 0, 0, 0, 0},
}

func (f ContextFlags) to(pick func(flagMap) uint32) uint32 {
	var v uint32
	for _, m := range flagTable {
		if f&m.flag != 0 {
			v |= pick(m)
		}
	}
	return v
}

func from(v uint32, pick func(flagMap) uint32) ContextFlags {
	var f ContextFlags
	for _, m := range flagTable {
		if n := pick(m); n != 0 && v&n == n {
			f |= m.flag
		}
	}
	return f
}

// ISCReq returns the flags as ISC_REQ_* bits (InitializeSecurityContext's fContextReq).
func (f ContextFlags) ISCReq() uint32 { return f.to(func(m flagMap) uint32 { return m.iscReq }) }

// ASCReq returns the flags as ASC_REQ_* bits (AcceptSecurityContext's fContextReq).
func (f ContextFlags) ASCReq() uint32 { return f.to(func(m flagMap) uint32 { return m.ascReq }) }

// ISCRet returns the flags as ISC_RET_* bits (InitializeSecurityContext's pfContextAttr).
func (f ContextFlags) ISCRet() uint32 { return f.to(func(m flagMap) uint32 { return m.iscRet }) }

// ASCRet returns the flags as ASC_RET_* bits (AcceptSecurityContext's pfContextAttr).
func (f ContextFlags) ASCRet() uint32 { return f.to(func(m flagMap) uint32 { return m.ascRet }) }

// GSS returns the flags as GSS-API req_flags/ret_flags bits (RFC 2744), which is also the
// layout of the Flags field of the RFC 4121 authenticator checksum.
func (f ContextFlags) GSS() uint32 { return f.to(func(m flagMap) uint32 { return m.gssAPI }) }

// FlagsFromISCReq converts ISC_REQ_* bits; bits without a gossp flag are dropped.
func FlagsFromISCReq(v uint32) ContextFlags {
	return from(v, func(m flagMap) uint32 { return m.iscReq })
}

// FlagsFromASCReq converts ASC_REQ_* bits; bits without a gossp flag are dropped.
func FlagsFromASCReq(v uint32) ContextFlags {
	return from(v, func(m flagMap) uint32 { return m.ascReq })
}

// FlagsFromISCRet converts ISC_RET_* bits; bits without a gossp flag are dropped.
func FlagsFromISCRet(v uint32) ContextFlags {
	return from(v, func(m flagMap) uint32 { return m.iscRet })
}

// FlagsFromASCRet converts ASC_RET_* bits; bits without a gossp flag are dropped.
func FlagsFromASCRet(v uint32) ContextFlags {
	return from(v, func(m flagMap) uint32 { return m.ascRet })
}

// FlagsFromGSS converts GSS-API flag bits; bits without a gossp flag are dropped.
func FlagsFromGSS(v uint32) ContextFlags {
	return from(v, func(m flagMap) uint32 { return m.gssAPI })
}

// ProtectionFlags are the flags both ends of an established context must agree on,
// because they change what the message protection calls do.
const ProtectionFlags = FlagIntegrity | FlagConfidentiality | FlagReplayDetect | FlagSequenceDetect
