package sspi

import (
	"context"
	"encoding/asn1"
	"time"
)

// Credential is an acquired credential handle. One credential may serve many contexts
// at once; implementations must be safe for concurrent use.
type Credential interface {
	// Attributes answers QueryCredentialsAttributes.
	Attributes() CredentialAttributes

	// NewInitiator starts a client context, the state InitializeSecurityContext keeps
	// across legs. It fails with ErrNoCredentials if the credential is inbound only.
	NewInitiator(cfg ContextConfig) (Initiator, error)

	// NewAcceptor starts a server context, the state AcceptSecurityContext keeps
	// across legs. It fails with ErrNoCredentials if the credential is outbound only.
	NewAcceptor(cfg ContextConfig) (Acceptor, error)

	// Close releases the credential (FreeCredentialsHandle). Contexts made from it stay
	// usable; new ones cannot be made.
	Close() error
}

// CredentialAttributes describe a credential.
type CredentialAttributes struct {
	Package   string        // package name
	Use       CredentialUse // inbound, outbound or both
	Principal string        // the identity the credential speaks for, if known
	Expiry    time.Time     // zero if it does not expire
}

// ContextConfig is what a caller asks of a new context: InitializeSecurityContext's and
// AcceptSecurityContext's parameters that stay fixed across legs.
type ContextConfig struct {
	// Target is the service principal name the initiator authenticates to
	// ("HTTP/www.example.com"). Acceptors ignore it.
	Target string

	// Flags are the requested context flags. Packages grant what they can; check
	// ContextAttributes.Flags once the context is established.
	Flags ContextFlags

	// ChannelBindings, if set, bind the authentication to an outer channel such as TLS.
	// An acceptor with bindings refuses initiators that send none or others
	// (ErrBadBindings) unless AllowMissingBindings is set.
	ChannelBindings *ChannelBindings

	// AllowMissingBindings lets an acceptor with ChannelBindings accept initiators that
	// send no bindings (ASC_REQ_ALLOW_MISSING_BINDINGS).
	AllowMissingBindings bool
}

// SecurityContext is the part of a context common to both sides: what
// QueryContextAttributes answers, message protection, and DeleteSecurityContext.
//
// Message protection is available once the context is established (or earlier where the
// package reports it ready). Every method is safe for concurrent use; sequence numbers
// are assigned in the order calls are made.
type SecurityContext interface {
	// Attributes answers QueryContextAttributes for the common attributes. It may be
	// called at any time, including while the handshake is in progress.
	Attributes() ContextAttributes

	// SessionKey returns the context's session key (SECPKG_ATTR_SESSION_KEY). It fails
	// with ErrNoContext before the key exists. The caller owns the returned slice.
	SessionKey() ([]byte, error)

	// MakeSignature returns a signature (MIC token) for msg, consuming the next outbound
	// sequence number.
	MakeSignature(msg []byte) ([]byte, error)

	// VerifySignature checks a signature made by the peer over msg. A signature that does
	// not match fails with ErrMessageAltered; a replayed or reordered one with
	// ErrOutOfSequence or ErrMessageAltered, depending on how the package detects it.
	VerifySignature(msg, sig []byte) error

	// EncryptMessage protects msg as one self-contained token (GSS wrap): encrypted and
	// integrity-protected when FlagConfidentiality is granted, integrity-protected only
	// otherwise. msg is not modified.
	EncryptMessage(msg []byte) ([]byte, error)

	// DecryptMessage checks and opens a token made by the peer's EncryptMessage.
	DecryptMessage(token []byte) ([]byte, error)

	// Close releases the context (DeleteSecurityContext) and wipes its keys. Later calls
	// fail with ErrInvalidHandle. Close is idempotent.
	Close() error
}

// Initiator is a client-side context.
type Initiator interface {
	SecurityContext

	// InitializeContext runs one leg of the handshake: input is the acceptor's last token
	// (nil on the first call); output is the token to send, which may be empty. The
	// status is StatusContinueNeeded while more legs are needed and StatusOK once the
	// context is established. On failure err wraps an SSPI status; output may still hold
	// a token the peer should see (an error or reject token).
	InitializeContext(ctx context.Context, input []byte) (output []byte, status Status, err error)
}

// Acceptor is a server-side context.
type Acceptor interface {
	SecurityContext

	// AcceptContext runs one leg of the handshake: input is the initiator's token;
	// output is the token to send back, which may be empty (send nothing). Status and
	// errors are as for InitializeContext.
	AcceptContext(ctx context.Context, input []byte) (output []byte, status Status, err error)
}

// NegotiationState is SECPKG_ATTR_NEGOTIATION_INFO's NegotiationState.
type NegotiationState int

const (
	// NegotiationInProgress: the handshake is under way (SECPKG_NEGOTIATION_IN_PROGRESS).
	NegotiationInProgress NegotiationState = iota
	// NegotiationOptimistic: a mechanism was chosen optimistically and the peer has not
	// confirmed it yet (SECPKG_NEGOTIATION_OPTIMISTIC).
	NegotiationOptimistic
	// NegotiationComplete: the context is established (SECPKG_NEGOTIATION_COMPLETE).
	NegotiationComplete
	// NegotiationFailed: the handshake failed and the context is unusable.
	NegotiationFailed
)

func (s NegotiationState) String() string {
	switch s {
	case NegotiationInProgress:
		return "in progress"
	case NegotiationOptimistic:
		return "optimistic"
	case NegotiationComplete:
		return "complete"
	case NegotiationFailed:
		return "failed"
	}
	return "unknown"
}

// Sizes is SECPKG_ATTR_SIZES.
type Sizes struct {
	MaxToken        int // largest handshake token
	MaxSignature    int // size of a MakeSignature result
	BlockSize       int // cipher block size; messages need not be padded to it
	SecurityTrailer int // bytes EncryptMessage adds to a message
}

// ContextAttributes are what QueryContextAttributes answers about a context.
type ContextAttributes struct {
	// Package is the package that authenticated (SECPKG_ATTR_PACKAGE_INFO,
	// SECPKG_ATTR_NEGOTIATION_INFO's PackageInfo): for Negotiate, the mechanism it chose.
	Package PackageInfo
	// Path lists the packages from the one the application called to the one that
	// authenticated: ["Negotiate", "NegoExtender", "PKU2U"].
	Path []string
	// MechOID is the GSS mechanism of the authenticating package, where it has one.
	MechOID asn1.ObjectIdentifier
	// State is the negotiation state.
	State NegotiationState
	// Established reports whether the handshake has completed successfully.
	Established bool
	// Initiator reports whether this is the client side.
	Initiator bool

	// ClientName is the authenticated client (SECPKG_ATTR_NAMES), in the package's
	// native form: "DOMAIN\user" for NTLM, "user@REALM" for Kerberos. Empty for
	// anonymous contexts and before the acceptor knows it.
	ClientName string
	// ServerName is the target (SECPKG_ATTR_NATIVE_NAMES' server name).
	ServerName string
	// Authority is the domain or realm that vouched for the client (SECPKG_ATTR_AUTHORITY).
	Authority string

	// Flags are the granted context flags (ISC_RET / ASC_RET).
	Flags ContextFlags
	// Sizes are the token and trailer sizes.
	Sizes Sizes
	// Expiry is when the context stops being usable (SECPKG_ATTR_LIFESPAN); zero if it
	// does not expire.
	Expiry time.Time
}

// Unwrapper is implemented by contexts that wrap another, such as Negotiate's around the
// mechanism it chose. ContextAs follows it.
type Unwrapper interface {
	Unwrap() SecurityContext
}

// ContextAs finds the first context in c's wrapping chain that is a T, the way errors.As
// walks an error chain. Use it to reach a package's own attributes through Negotiate:
//
//	if k, ok := sspi.ContextAs[kerberos.Context](ctx); ok { ... }
func ContextAs[T any](c SecurityContext) (T, bool) {
	for c != nil {
		if t, ok := c.(T); ok {
			return t, true
		}
		u, ok := c.(Unwrapper)
		if !ok {
			break
		}
		c = u.Unwrap()
	}
	var zero T
	return zero, false
}
