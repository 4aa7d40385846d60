package sspi

import (
	"context"
	"encoding/asn1"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
)

// Package is a security package: NTLM, Kerberos, Negotiate, NegoEx, or a scheme served
// by a plugin. It is the analogue of an SSP loaded by Windows' security support provider
// interface, with the function table reduced to what a caller needs.
//
// Implementations must be safe for concurrent use.
type Package interface {
	// Info describes the package, as QuerySecurityPackageInfo does.
	Info() PackageInfo

	// AcquireCredentials returns a credential handle, as AcquireCredentialsHandle does.
	// It fails with ErrNoCredentials or ErrUnknownCredentials when the request names no
	// usable material, and with ErrUnsupportedFunction for a use the package cannot serve.
	AcquireCredentials(ctx context.Context, req CredentialRequest) (Credential, error)
}

// PackageInfo describes a package: SecPkgInfo plus what gossp needs to negotiate it.
type PackageInfo struct {
	Name         string       // e.g. "NTLM", "Kerberos", "Negotiate"
	Comment      string       // one line for humans
	Capabilities Capabilities // SECPKG_FLAG_* bits
	Version      uint16       // package version
	RPCID        uint16       // DCE-RPC authentication service id (RPC_C_AUTHN_*), 0xFFFF if none
	MaxToken     int          // largest token a handshake step produces, in bytes

	// MechOID is the GSS-API mechanism OID SPNEGO offers for this package, if it has one.
	MechOID asn1.ObjectIdentifier
	// AuthScheme is the NegoEx auth scheme GUID, for packages NegoEx negotiates
	// (Capabilities has CapNegotiable2); the zero GUID otherwise.
	AuthScheme GUID
	// Origin tells whether the package is compiled in or served by a plugin process.
	Origin Origin
}

// Capabilities are SECPKG_FLAG_* bits, with Windows' values.
type Capabilities uint32

// Package capability bits (SECPKG_FLAG_*).
const (
	CapIntegrity        Capabilities = 0x00000001 // supports MakeSignature/VerifySignature
	CapPrivacy          Capabilities = 0x00000002 // supports EncryptMessage/DecryptMessage
	CapTokenOnly        Capabilities = 0x00000004 // only security tokens, no message protection
	CapDatagram         Capabilities = 0x00000008 // datagram-style authentication
	CapConnection       Capabilities = 0x00000010 // connection-style authentication
	CapMultiRequired    Capabilities = 0x00000020 // multiple legs are required
	CapClientOnly       Capabilities = 0x00000040 // no acceptor side
	CapExtendedError    Capabilities = 0x00000080 // extended error tokens
	CapImpersonation    Capabilities = 0x00000100 // supports impersonation
	CapAcceptWin32Name  Capabilities = 0x00000200 // accepts Windows names
	CapStream           Capabilities = 0x00000400 // stream semantics
	CapNegotiable       Capabilities = 0x00000800 // Negotiate may select it
	CapGSSCompatible    Capabilities = 0x00001000 // interoperates with GSS-API peers
	CapLogon            Capabilities = 0x00002000 // supports LsaLogonUser-style logon
	CapASCIIBuffers     Capabilities = 0x00004000 // token buffers are ASCII
	CapFragment         Capabilities = 0x00008000 // tokens may be fragmented
	CapMutualAuth       Capabilities = 0x00010000 // supports mutual authentication
	CapDelegation       Capabilities = 0x00020000 // supports delegation
	CapReadOnlyChecksum Capabilities = 0x00040000 // checksums of read-only buffers
	CapRestrictedTokens Capabilities = 0x00080000 // supports restricted callers
	CapNegoExtender     Capabilities = 0x00100000 // extends Negotiate (NegoEx)
	CapNegotiable2      Capabilities = 0x00200000 // negotiated by NegoEx; has an auth scheme GUID
)

var capNames = []struct {
	c    Capabilities
	name string
}{
	{CapIntegrity, "INTEGRITY"}, {CapPrivacy, "PRIVACY"}, {CapTokenOnly, "TOKEN_ONLY"},
	{CapDatagram, "DATAGRAM"}, {CapConnection, "CONNECTION"},
	{CapMultiRequired, "MULTI_REQUIRED"}, {CapClientOnly, "CLIENT_ONLY"},
	{CapExtendedError, "EXTENDED_ERROR"}, {CapImpersonation, "IMPERSONATION"},
	{CapAcceptWin32Name, "ACCEPT_WIN32_NAME"}, {CapStream, "STREAM"},
	{CapNegotiable, "NEGOTIABLE"}, {CapGSSCompatible, "GSS_COMPATIBLE"},
	{CapLogon, "LOGON"}, {CapASCIIBuffers, "ASCII_BUFFERS"}, {CapFragment, "FRAGMENT"},
	{CapMutualAuth, "MUTUAL_AUTH"}, {CapDelegation, "DELEGATION"},
	{CapReadOnlyChecksum, "READONLY_WITH_CHECKSUM"}, {CapRestrictedTokens, "RESTRICTED_TOKENS"},
	{CapNegoExtender, "NEGO_EXTENDER"}, {CapNegotiable2, "NEGOTIABLE2"},
}

// String lists the capabilities by their SECPKG_FLAG_ suffixes, "INTEGRITY|PRIVACY".
func (c Capabilities) String() string {
	var parts []string
	rest := c
	for _, n := range capNames {
		if c&n.c != 0 {
			parts = append(parts, n.name)
			rest &^= n.c
		}
	}
	if rest != 0 {
		parts = append(parts, "0x"+hex32(uint32(rest)))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, "|")
}

// Origin says where a package's code runs.
type Origin int

const (
	// OriginBuiltin is a package compiled into the process.
	OriginBuiltin Origin = iota
	// OriginPlugin is a package served by a plugin process from a packages directory.
	OriginPlugin
)

func (o Origin) String() string {
	switch o {
	case OriginBuiltin:
		return "built-in"
	case OriginPlugin:
		return "plugin"
	}
	return "unknown"
}

// CredentialUse says which side of a handshake a credential serves
// (SECPKG_CRED_INBOUND / OUTBOUND / BOTH).
type CredentialUse int

// The values are Windows' SECPKG_CRED_* numbers.
const (
	// CredentialsInbound are an acceptor's (server's) credentials (SECPKG_CRED_INBOUND).
	CredentialsInbound CredentialUse = 1
	// CredentialsOutbound are an initiator's (client's) credentials (SECPKG_CRED_OUTBOUND).
	CredentialsOutbound CredentialUse = 2
	// CredentialsBoth serve either side (SECPKG_CRED_BOTH).
	CredentialsBoth CredentialUse = 3
)

func (u CredentialUse) String() string {
	switch u {
	case CredentialsOutbound:
		return "outbound"
	case CredentialsInbound:
		return "inbound"
	case CredentialsBoth:
		return "both"
	}
	return "invalid"
}

// Outbound reports whether the credential may initiate contexts.
func (u CredentialUse) Outbound() bool { return u == CredentialsOutbound || u == CredentialsBoth }

// Inbound reports whether the credential may accept contexts.
func (u CredentialUse) Inbound() bool { return u == CredentialsInbound || u == CredentialsBoth }

// CredentialRequest is what AcquireCredentials is asked for.
type CredentialRequest struct {
	Use CredentialUse

	// Principal names the credential to use, when the package can find it on its own
	// (a Kerberos principal in a credential cache or keytab). Optional.
	Principal string

	// Identity is a user name, domain and password (SEC_WINNT_AUTH_IDENTITY). Optional.
	Identity *Identity

	// Material is package-specific: a keytab, a certificate and key, a user database.
	// Each package documents the types it accepts; others fail with
	// ErrUnknownCredentials.
	Material any
}

// Identity is an explicit user identity, as SEC_WINNT_AUTH_IDENTITY carries it.
type Identity struct {
	User     string
	Domain   string
	Password string
}

// String names the identity without its password: "DOMAIN\user".
func (id Identity) String() string {
	if id.Domain == "" {
		return id.User
	}
	return id.Domain + `\` + id.User
}

// GoString keeps the password out of %#v output.
func (id Identity) GoString() string {
	return "sspi.Identity{User:" + strconv.Quote(id.User) + ", Domain:" + strconv.Quote(id.Domain) + ", Password:<redacted>}"
}

// Format prints the identity without its password whatever the verb, so no format
// string can leak it.
func (id Identity) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, id.GoString())
		return
	}
	io.WriteString(f, id.String())
}

// MarshalJSON encodes the identity without its password.
func (id Identity) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct{ User, Domain string }{id.User, id.Domain})
}

// LogValue logs the identity as "DOMAIN\user", never the password.
func (id Identity) LogValue() slog.Value { return slog.StringValue(id.String()) }
