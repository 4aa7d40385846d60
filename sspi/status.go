package sspi

import (
	"errors"
	"fmt"
)

// Status is an SSPI status code (a SECURITY_STATUS, an HRESULT in the FACILITY_SECURITY
// range) with the numeric value Windows uses, so logs and code ported from C or C# read
// the same.
//
// The failure codes (those with the top bit set) are also errors: every error a gossp
// package returns wraps one of them, and callers branch with errors.Is:
//
//	if errors.Is(err, sspi.ErrLogonDenied) { ... }
type Status uint32

// Success and informational statuses.
const (
	// StatusOK is SEC_E_OK: the call succeeded and, for a handshake step, the context is
	// established.
	StatusOK Status = 0x00000000
	// StatusContinueNeeded is SEC_I_CONTINUE_NEEDED: send the output token to the peer
	// and call again with its answer.
	StatusContinueNeeded Status = 0x00090312
	// StatusCompleteNeeded is SEC_I_COMPLETE_NEEDED. gossp packages never return it
	// (CompleteAuthToken is folded into the step); it is listed for completeness.
	StatusCompleteNeeded Status = 0x00090313
	// StatusCompleteAndContinue is SEC_I_COMPLETE_AND_CONTINUE, likewise never returned.
	StatusCompleteAndContinue Status = 0x00090314
)

// Failure statuses. Each is an error value usable as the target of errors.Is.
const (
	ErrInsufficientMemory       Status = 0x80090300 // SEC_E_INSUFFICIENT_MEMORY
	ErrInvalidHandle            Status = 0x80090301 // SEC_E_INVALID_HANDLE
	ErrUnsupportedFunction      Status = 0x80090302 // SEC_E_UNSUPPORTED_FUNCTION
	ErrTargetUnknown            Status = 0x80090303 // SEC_E_TARGET_UNKNOWN
	ErrInternal                 Status = 0x80090304 // SEC_E_INTERNAL_ERROR
	ErrPackageNotFound          Status = 0x80090305 // SEC_E_SECPKG_NOT_FOUND
	ErrInvalidToken             Status = 0x80090308 // SEC_E_INVALID_TOKEN
	ErrQOPNotSupported          Status = 0x8009030A // SEC_E_QOP_NOT_SUPPORTED
	ErrLogonDenied              Status = 0x8009030C // SEC_E_LOGON_DENIED
	ErrUnknownCredentials       Status = 0x8009030D // SEC_E_UNKNOWN_CREDENTIALS
	ErrNoCredentials            Status = 0x8009030E // SEC_E_NO_CREDENTIALS
	ErrMessageAltered           Status = 0x8009030F // SEC_E_MESSAGE_ALTERED
	ErrOutOfSequence            Status = 0x80090310 // SEC_E_OUT_OF_SEQUENCE
	ErrNoAuthenticatingAuth     Status = 0x80090311 // SEC_E_NO_AUTHENTICATING_AUTHORITY
	ErrContextExpired           Status = 0x80090317 // SEC_E_CONTEXT_EXPIRED
	ErrIncompleteMessage        Status = 0x80090318 // SEC_E_INCOMPLETE_MESSAGE
	ErrIncompleteCredentials    Status = 0x80090320 // SEC_E_INCOMPLETE_CREDENTIALS
	ErrBufferTooSmall           Status = 0x80090321 // SEC_E_BUFFER_TOO_SMALL
	ErrWrongPrincipal           Status = 0x80090322 // SEC_E_WRONG_PRINCIPAL
	ErrTimeSkew                 Status = 0x80090324 // SEC_E_TIME_SKEW
	ErrUntrustedRoot            Status = 0x80090325 // SEC_E_UNTRUSTED_ROOT
	ErrIllegalMessage           Status = 0x80090326 // SEC_E_ILLEGAL_MESSAGE
	ErrCertUnknown              Status = 0x80090327 // SEC_E_CERT_UNKNOWN
	ErrCertExpired              Status = 0x80090328 // SEC_E_CERT_EXPIRED
	ErrEncryptFailure           Status = 0x80090329 // SEC_E_ENCRYPT_FAILURE
	ErrDecryptFailure           Status = 0x80090330 // SEC_E_DECRYPT_FAILURE
	ErrAlgorithmMismatch        Status = 0x80090331 // SEC_E_ALGORITHM_MISMATCH
	ErrUnfinishedContext        Status = 0x80090333 // SEC_E_UNFINISHED_CONTEXT_DELETED
	ErrKDCUnknownEtype          Status = 0x80090342 // SEC_E_KDC_UNKNOWN_ETYPE
	ErrBadBindings              Status = 0x80090346 // SEC_E_BAD_BINDINGS
	ErrCertWrongUsage           Status = 0x80090349 // SEC_E_CERT_WRONG_USAGE
	ErrDowngradeDetected        Status = 0x80090350 // SEC_E_DOWNGRADE_DETECTED
	ErrInvalidParameter         Status = 0x8009035D // SEC_E_INVALID_PARAMETER
	ErrNoContext                Status = 0x80090361 // SEC_E_NO_CONTEXT
	ErrPKU2UCertFailure         Status = 0x80090362 // SEC_E_PKU2U_CERT_FAILURE
	ErrMutualAuthFailed         Status = 0x80090363 // SEC_E_MUTUAL_AUTH_FAILED
	ErrApplicationProtoMismatch Status = 0x80090367 // SEC_E_APPLICATION_PROTOCOL_MISMATCH
)

type statusText struct{ name, text string }

var statusTexts = map[Status]statusText{
	StatusOK:                    {"SEC_E_OK", "the operation completed successfully"},
	StatusContinueNeeded:        {"SEC_I_CONTINUE_NEEDED", "the function completed successfully, but must be called again to complete the context"},
	StatusCompleteNeeded:        {"SEC_I_COMPLETE_NEEDED", "the function completed successfully, but CompleteToken must be called"},
	StatusCompleteAndContinue:   {"SEC_I_COMPLETE_AND_CONTINUE", "the function completed successfully, but both CompleteToken and this function must be called to complete the context"},
	ErrInsufficientMemory:       {"SEC_E_INSUFFICIENT_MEMORY", "not enough memory is available to complete this request"},
	ErrInvalidHandle:            {"SEC_E_INVALID_HANDLE", "the handle specified is invalid"},
	ErrUnsupportedFunction:      {"SEC_E_UNSUPPORTED_FUNCTION", "the function requested is not supported"},
	ErrTargetUnknown:            {"SEC_E_TARGET_UNKNOWN", "the specified target is unknown or unreachable"},
	ErrInternal:                 {"SEC_E_INTERNAL_ERROR", "internal error"},
	ErrPackageNotFound:          {"SEC_E_SECPKG_NOT_FOUND", "the requested security package does not exist"},
	ErrInvalidToken:             {"SEC_E_INVALID_TOKEN", "the token supplied to the function is invalid"},
	ErrQOPNotSupported:          {"SEC_E_QOP_NOT_SUPPORTED", "the per-message quality of protection is not supported by the security package"},
	ErrLogonDenied:              {"SEC_E_LOGON_DENIED", "the logon attempt failed"},
	ErrUnknownCredentials:       {"SEC_E_UNKNOWN_CREDENTIALS", "the credentials supplied to the package were not recognized"},
	ErrNoCredentials:            {"SEC_E_NO_CREDENTIALS", "no credentials are available in the security package"},
	ErrMessageAltered:           {"SEC_E_MESSAGE_ALTERED", "the message or signature supplied for verification has been altered"},
	ErrOutOfSequence:            {"SEC_E_OUT_OF_SEQUENCE", "the message supplied for verification is out of sequence"},
	ErrNoAuthenticatingAuth:     {"SEC_E_NO_AUTHENTICATING_AUTHORITY", "no authority could be contacted for authentication"},
	ErrContextExpired:           {"SEC_E_CONTEXT_EXPIRED", "the context has expired and can no longer be used"},
	ErrIncompleteMessage:        {"SEC_E_INCOMPLETE_MESSAGE", "the supplied message is incomplete"},
	ErrIncompleteCredentials:    {"SEC_E_INCOMPLETE_CREDENTIALS", "the credentials supplied were not complete and could not be verified"},
	ErrBufferTooSmall:           {"SEC_E_BUFFER_TOO_SMALL", "the buffers supplied to a function was too small"},
	ErrWrongPrincipal:           {"SEC_E_WRONG_PRINCIPAL", "the target principal name is incorrect"},
	ErrTimeSkew:                 {"SEC_E_TIME_SKEW", "the clocks on the client and server machines are skewed"},
	ErrUntrustedRoot:            {"SEC_E_UNTRUSTED_ROOT", "the certificate chain was issued by an authority that is not trusted"},
	ErrIllegalMessage:           {"SEC_E_ILLEGAL_MESSAGE", "the message received was unexpected or badly formatted"},
	ErrCertUnknown:              {"SEC_E_CERT_UNKNOWN", "an unknown error occurred while processing the certificate"},
	ErrCertExpired:              {"SEC_E_CERT_EXPIRED", "the received certificate has expired"},
	ErrEncryptFailure:           {"SEC_E_ENCRYPT_FAILURE", "the specified data could not be encrypted"},
	ErrDecryptFailure:           {"SEC_E_DECRYPT_FAILURE", "the specified data could not be decrypted"},
	ErrAlgorithmMismatch:        {"SEC_E_ALGORITHM_MISMATCH", "the client and server cannot communicate, because they do not possess a common algorithm"},
	ErrUnfinishedContext:        {"SEC_E_UNFINISHED_CONTEXT_DELETED", "a security context was deleted before the context was completed"},
	ErrKDCUnknownEtype:          {"SEC_E_KDC_UNKNOWN_ETYPE", "the encryption type requested is not supported by the KDC"},
	ErrBadBindings:              {"SEC_E_BAD_BINDINGS", "the client's supplied channel bindings were incorrect"},
	ErrCertWrongUsage:           {"SEC_E_CERT_WRONG_USAGE", "the certificate is not valid for the requested usage"},
	ErrDowngradeDetected:        {"SEC_E_DOWNGRADE_DETECTED", "the system detected a possible attempt to compromise security"},
	ErrInvalidParameter:         {"SEC_E_INVALID_PARAMETER", "one or more of the parameters passed to the function was invalid"},
	ErrNoContext:                {"SEC_E_NO_CONTEXT", "the requested security context does not exist"},
	ErrPKU2UCertFailure:         {"SEC_E_PKU2U_CERT_FAILURE", "a certificate error occurred in PKU2U"},
	ErrMutualAuthFailed:         {"SEC_E_MUTUAL_AUTH_FAILED", "the server failed mutual authentication"},
	ErrApplicationProtoMismatch: {"SEC_E_APPLICATION_PROTOCOL_MISMATCH", "the application protocols of the client and server do not match"},
}

// Name is the Windows symbolic name, such as "SEC_E_INVALID_TOKEN".
func (s Status) Name() string {
	if t, ok := statusTexts[s]; ok {
		return t.name
	}
	return fmt.Sprintf("SECURITY_STATUS(0x%08X)", uint32(s))
}

// String is the symbolic name and the numeric value: "SEC_E_INVALID_TOKEN (0x80090308)".
func (s Status) String() string {
	return fmt.Sprintf("%s (0x%08X)", s.Name(), uint32(s))
}

// Error makes a Status usable as an error; it reads like Windows' message text.
func (s Status) Error() string {
	if t, ok := statusTexts[s]; ok {
		return t.text + " (" + t.name + ")"
	}
	return s.String()
}

// IsFailure reports whether s is a failure code (SEC_E_*), as the FAILED() macro does.
func (s Status) IsFailure() bool { return s&0x80000000 != 0 }

// Error is a failure with its status and a description. It never holds key material,
// passwords or tokens: packages describe what was wrong, not the bytes.
type Error struct {
	Status  Status // the SSPI status
	Package string // package that failed, e.g. "NTLM"; may be empty
	Op      string // operation, e.g. "AcceptContext"; may be empty
	Err     error  // underlying cause; may be nil
}

func (e *Error) Error() string {
	msg := ""
	if e.Package != "" {
		msg = e.Package + ": "
	}
	if e.Op != "" {
		msg += e.Op + ": "
	}
	if e.Err == nil {
		return msg + e.Status.Error()
	}
	if s, ok := statusIn(e.Err); ok && s == e.Status {
		return msg + e.Err.Error() // the cause already names the status
	}
	return msg + e.Err.Error() + " (" + e.Status.Name() + ")"
}

// Unwrap returns the cause, so errors.Is and errors.As see through an Error.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is this error's status, so
// errors.Is(err, sspi.ErrInvalidToken) works whatever wraps it.
func (e *Error) Is(target error) bool {
	s, ok := target.(Status)
	return ok && s == e.Status
}

// Errorf returns an *Error with the given status whose cause is fmt.Errorf(format, a...);
// %w in format wraps a cause as usual.
func Errorf(status Status, format string, a ...any) error {
	return &Error{Status: status, Err: fmt.Errorf(format, a...)}
}

// WithOp returns err annotated with a package and operation name, keeping its status. A
// nil err stays nil; an error without a status gets ErrInternal.
func WithOp(err error, pkg, op string) error {
	if err == nil {
		return nil
	}
	if s, ok := err.(Status); ok {
		return &Error{Status: s, Package: pkg, Op: op}
	}
	var e *Error
	if errors.As(err, &e) && e == err && e.Package == "" && e.Op == "" {
		c := *e
		c.Package, c.Op = pkg, op
		return &c
	}
	return &Error{Status: StatusOf(err), Package: pkg, Op: op, Err: err}
}

// StatusOf returns the SSPI status an error carries: StatusOK for nil, the status of the
// first *Error in its chain, else of the first Status in it, and ErrInternal for any
// other error.
func StatusOf(err error) Status {
	if err == nil {
		return StatusOK
	}
	if s, ok := statusIn(err); ok {
		return s
	}
	return ErrInternal
}

// statusIn finds the status err's chain carries, if any.
func statusIn(err error) (Status, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Status, true
	}
	var s Status
	if errors.As(err, &s) {
		return s, true
	}
	return 0, false
}
