package sspi_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/gossp/gossp/sspi"
)

// windowsStatuses are the SECURITY_STATUS values as winerror.h and the SSPI reference
// document them, typed in independently of status.go so that a wrong constant fails.
var windowsStatuses = []struct {
	s     sspi.Status
	name  string
	value uint32
}{
	{sspi.StatusOK, "SEC_E_OK", 0x00000000},
	{sspi.StatusContinueNeeded, "SEC_I_CONTINUE_NEEDED", 0x00090312},
	{sspi.StatusCompleteNeeded, "SEC_I_COMPLETE_NEEDED", 0x00090313},
	{sspi.StatusCompleteAndContinue, "SEC_I_COMPLETE_AND_CONTINUE", 0x00090314},
	{sspi.ErrInsufficientMemory, "SEC_E_INSUFFICIENT_MEMORY", 0x80090300},
	{sspi.ErrInvalidHandle, "SEC_E_INVALID_HANDLE", 0x80090301},
	{sspi.ErrUnsupportedFunction, "SEC_E_UNSUPPORTED_FUNCTION", 0x80090302},
	{sspi.ErrTargetUnknown, "SEC_E_TARGET_UNKNOWN", 0x80090303},
	{sspi.ErrInternal, "SEC_E_INTERNAL_ERROR", 0x80090304},
	{sspi.ErrPackageNotFound, "SEC_E_SECPKG_NOT_FOUND", 0x80090305},
	{sspi.ErrInvalidToken, "SEC_E_INVALID_TOKEN", 0x80090308},
	{sspi.ErrQOPNotSupported, "SEC_E_QOP_NOT_SUPPORTED", 0x8009030A},
	{sspi.ErrLogonDenied, "SEC_E_LOGON_DENIED", 0x8009030C},
	{sspi.ErrUnknownCredentials, "SEC_E_UNKNOWN_CREDENTIALS", 0x8009030D},
	{sspi.ErrNoCredentials, "SEC_E_NO_CREDENTIALS", 0x8009030E},
	{sspi.ErrMessageAltered, "SEC_E_MESSAGE_ALTERED", 0x8009030F},
	{sspi.ErrOutOfSequence, "SEC_E_OUT_OF_SEQUENCE", 0x80090310},
	{sspi.ErrNoAuthenticatingAuth, "SEC_E_NO_AUTHENTICATING_AUTHORITY", 0x80090311},
	{sspi.ErrContextExpired, "SEC_E_CONTEXT_EXPIRED", 0x80090317},
	{sspi.ErrIncompleteMessage, "SEC_E_INCOMPLETE_MESSAGE", 0x80090318},
	{sspi.ErrIncompleteCredentials, "SEC_E_INCOMPLETE_CREDENTIALS", 0x80090320},
	{sspi.ErrBufferTooSmall, "SEC_E_BUFFER_TOO_SMALL", 0x80090321},
	{sspi.ErrWrongPrincipal, "SEC_E_WRONG_PRINCIPAL", 0x80090322},
	{sspi.ErrTimeSkew, "SEC_E_TIME_SKEW", 0x80090324},
	{sspi.ErrUntrustedRoot, "SEC_E_UNTRUSTED_ROOT", 0x80090325},
	{sspi.ErrIllegalMessage, "SEC_E_ILLEGAL_MESSAGE", 0x80090326},
	{sspi.ErrCertUnknown, "SEC_E_CERT_UNKNOWN", 0x80090327},
	{sspi.ErrCertExpired, "SEC_E_CERT_EXPIRED", 0x80090328},
	{sspi.ErrEncryptFailure, "SEC_E_ENCRYPT_FAILURE", 0x80090329},
	{sspi.ErrDecryptFailure, "SEC_E_DECRYPT_FAILURE", 0x80090330},
	{sspi.ErrAlgorithmMismatch, "SEC_E_ALGORITHM_MISMATCH", 0x80090331},
	{sspi.ErrUnfinishedContext, "SEC_E_UNFINISHED_CONTEXT_DELETED", 0x80090333},
	{sspi.ErrKDCUnknownEtype, "SEC_E_KDC_UNKNOWN_ETYPE", 0x80090342},
	{sspi.ErrBadBindings, "SEC_E_BAD_BINDINGS", 0x80090346},
	{sspi.ErrCertWrongUsage, "SEC_E_CERT_WRONG_USAGE", 0x80090349},
	{sspi.ErrDowngradeDetected, "SEC_E_DOWNGRADE_DETECTED", 0x80090350},
	{sspi.ErrInvalidParameter, "SEC_E_INVALID_PARAMETER", 0x8009035D},
	{sspi.ErrNoContext, "SEC_E_NO_CONTEXT", 0x80090361},
	{sspi.ErrPKU2UCertFailure, "SEC_E_PKU2U_CERT_FAILURE", 0x80090362},
	{sspi.ErrMutualAuthFailed, "SEC_E_MUTUAL_AUTH_FAILED", 0x80090363},
	{sspi.ErrApplicationProtoMismatch, "SEC_E_APPLICATION_PROTOCOL_MISMATCH", 0x80090367},
}

func TestStatusWindowsValues(t *testing.T) {
	seenText := map[string]sspi.Status{}
	for _, tc := range windowsStatuses {
		if uint32(tc.s) != tc.value {
			t.Errorf("%s = 0x%08X, Windows has 0x%08X", tc.name, uint32(tc.s), tc.value)
		}
		if got := tc.s.Name(); got != tc.name {
			t.Errorf("Status(0x%08X).Name() = %q, want %q", tc.value, got, tc.name)
		}
		wantString := fmt.Sprintf("%s (0x%08X)", tc.name, tc.value)
		if got := tc.s.String(); got != wantString {
			t.Errorf("String() = %q, want %q", got, wantString)
		}
		// Error reads like Windows' message text and ends with the symbolic name, so a
		// log line can be searched for either.
		msg := tc.s.Error()
		if !strings.HasSuffix(msg, " ("+tc.name+")") || len(msg) <= len(tc.name)+3 {
			t.Errorf("Error() = %q, want a description followed by (%s)", msg, tc.name)
		}
		if prev, dup := seenText[msg]; dup {
			t.Errorf("%v and %v share the message %q", prev, tc.s, msg)
		}
		seenText[msg] = tc.s
		if want := tc.value&0x80000000 != 0; tc.s.IsFailure() != want {
			t.Errorf("%s.IsFailure() = %v, want %v", tc.name, tc.s.IsFailure(), want)
		}
	}
}

func TestStatusDocumentedExamples(t *testing.T) {
	// The values the design notes call out; checked by number so a typo in the table
	// above cannot hide a typo in the constants.
	for s, want := range map[sspi.Status]uint32{
		sspi.ErrInvalidToken:      0x80090308,
		sspi.ErrLogonDenied:       0x8009030C,
		sspi.StatusContinueNeeded: 0x90312,
		sspi.ErrBadBindings:       0x80090346,
		sspi.ErrDowngradeDetected: 0x80090350,
	} {
		if uint32(s) != want {
			t.Errorf("%s = 0x%X, want 0x%X", s.Name(), uint32(s), want)
		}
	}
	if got, want := sspi.ErrInvalidToken.String(), "SEC_E_INVALID_TOKEN (0x80090308)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := sspi.ErrLogonDenied.Error(), "the logon attempt failed (SEC_E_LOGON_DENIED)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestStatusUnknown(t *testing.T) {
	s := sspi.Status(0x80091234)
	if got, want := s.Name(), "SECURITY_STATUS(0x80091234)"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	if got, want := s.String(), "SECURITY_STATUS(0x80091234) (0x80091234)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := s.Error(); got != s.String() {
		t.Errorf("Error() = %q, want String() %q", got, s.String())
	}
	if !s.IsFailure() {
		t.Error("unknown SEC_E-range status is not a failure")
	}
	if sspi.Status(0x00091234).IsFailure() {
		t.Error("unknown success-range status reported as failure")
	}
}

func TestErrorIsAs(t *testing.T) {
	base := &sspi.Error{Status: sspi.ErrLogonDenied, Package: "NTLM", Op: "AcceptContext"}
	wrapped := fmt.Errorf("http auth: %w", base)

	if !errors.Is(wrapped, sspi.ErrLogonDenied) {
		t.Error("errors.Is(wrapped, ErrLogonDenied) = false")
	}
	if errors.Is(wrapped, sspi.ErrInvalidToken) {
		t.Error("errors.Is(wrapped, ErrInvalidToken) = true for a logon failure")
	}
	if errors.Is(wrapped, sspi.StatusOK) {
		t.Error("errors.Is(wrapped, StatusOK) = true")
	}
	var se *sspi.Error
	if !errors.As(wrapped, &se) || se != base {
		t.Fatalf("errors.As did not find the *Error: %v", se)
	}
	if got := sspi.StatusOf(wrapped); got != sspi.ErrLogonDenied {
		t.Errorf("StatusOf = %v, want ErrLogonDenied", got)
	}
	if got, want := base.Error(), "NTLM: AcceptContext: the logon attempt failed (SEC_E_LOGON_DENIED)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}

	// A bare Status is itself an error and a target of errors.As.
	var st sspi.Status
	if !errors.As(fmt.Errorf("x: %w", sspi.ErrNoCredentials), &st) || st != sspi.ErrNoCredentials {
		t.Errorf("errors.As(Status) = %v", st)
	}
}

func TestErrorf(t *testing.T) {
	err := sspi.Errorf(sspi.ErrInvalidToken, "NEGOTIATE: %d bytes", 3)
	if got, want := err.Error(), "NEGOTIATE: 3 bytes (SEC_E_INVALID_TOKEN)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, sspi.ErrInvalidToken) {
		t.Error("Errorf result does not match its status")
	}

	// %w wraps the cause as fmt.Errorf does; both the status and the cause are visible.
	err = sspi.Errorf(sspi.ErrInvalidToken, "reading token: %w", io.ErrUnexpectedEOF)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Error("Errorf with %w lost the cause")
	}
	if !errors.Is(err, sspi.ErrInvalidToken) {
		t.Error("Errorf with %w lost the status")
	}
	if got := sspi.StatusOf(err); got != sspi.ErrInvalidToken {
		t.Errorf("StatusOf = %v", got)
	}

	// Wrapping another status: the outer one is the error's status, the inner one is
	// still found by errors.Is.
	err = sspi.Errorf(sspi.ErrInvalidToken, "inner: %w", sspi.ErrLogonDenied)
	if got := sspi.StatusOf(err); got != sspi.ErrInvalidToken {
		t.Errorf("StatusOf = %v, want the outer ErrInvalidToken", got)
	}
	if !errors.Is(err, sspi.ErrLogonDenied) || !errors.Is(err, sspi.ErrInvalidToken) {
		t.Error("errors.Is does not see both statuses")
	}

	// %v does not wrap.
	err = sspi.Errorf(sspi.ErrInternal, "no wrap: %v", io.EOF)
	if errors.Is(err, io.EOF) {
		t.Error("Errorf with the v verb wrapped its operand")
	}
}

func TestWithOp(t *testing.T) {
	if sspi.WithOp(nil, "PSK", "Op") != nil {
		t.Fatal("WithOp(nil) != nil")
	}

	t.Run("bare status", func(t *testing.T) {
		err := sspi.WithOp(sspi.ErrInvalidToken, "NTLM", "AcceptContext")
		want := "NTLM: AcceptContext: the token supplied to the function is invalid (SEC_E_INVALID_TOKEN)"
		if got := err.Error(); got != want {
			t.Errorf("Error() = %q, want %q", got, want)
		}
		// The text must not be repeated, as it would be if the Status were kept as the
		// cause and the status appended again.
		if n := strings.Count(err.Error(), "the token supplied"); n != 1 {
			t.Errorf("description appears %d times in %q", n, err.Error())
		}
		if n := strings.Count(err.Error(), "SEC_E_INVALID_TOKEN"); n != 1 {
			t.Errorf("status name appears %d times in %q", n, err.Error())
		}
		if !errors.Is(err, sspi.ErrInvalidToken) || sspi.StatusOf(err) != sspi.ErrInvalidToken {
			t.Error("status lost")
		}
		var se *sspi.Error
		if !errors.As(err, &se) || se.Package != "NTLM" || se.Op != "AcceptContext" {
			t.Errorf("errors.As = %+v", se)
		}
	})

	t.Run("fresh Error is annotated in place of nesting", func(t *testing.T) {
		orig := sspi.Errorf(sspi.ErrLogonDenied, "wrong key")
		err := sspi.WithOp(orig, "PSK", "AcceptContext")
		if got, want := err.Error(), "PSK: AcceptContext: wrong key (SEC_E_LOGON_DENIED)"; got != want {
			t.Errorf("Error() = %q, want %q", got, want)
		}
		// The original must not be modified: it may be a shared sentinel.
		if got, want := orig.Error(), "wrong key (SEC_E_LOGON_DENIED)"; got != want {
			t.Errorf("original changed to %q", got)
		}
		if errors.Unwrap(err) == orig {
			t.Error("WithOp nested a fresh *Error instead of annotating a copy")
		}
	})

	t.Run("plain error gets ErrInternal", func(t *testing.T) {
		cause := errors.New("disk on fire")
		err := sspi.WithOp(cause, "Kerberos", "AcquireCredentials")
		if sspi.StatusOf(err) != sspi.ErrInternal || !errors.Is(err, sspi.ErrInternal) {
			t.Errorf("status = %v, want ErrInternal", sspi.StatusOf(err))
		}
		if !errors.Is(err, cause) {
			t.Error("cause lost")
		}
		if got, want := err.Error(), "Kerberos: AcquireCredentials: disk on fire (SEC_E_INTERNAL_ERROR)"; got != want {
			t.Errorf("Error() = %q, want %q", got, want)
		}
	})

	t.Run("status deep in a chain is kept", func(t *testing.T) {
		err := sspi.WithOp(fmt.Errorf("lookup: %w", sspi.ErrTargetUnknown), "Kerberos", "InitializeContext")
		if sspi.StatusOf(err) != sspi.ErrTargetUnknown {
			t.Errorf("status = %v, want ErrTargetUnknown", sspi.StatusOf(err))
		}
	})

	t.Run("already annotated error is wrapped, status kept", func(t *testing.T) {
		inner := sspi.WithOp(sspi.Errorf(sspi.ErrLogonDenied, "bad proof"), "PSK", "AcceptContext")
		err := sspi.WithOp(inner, "Negotiate", "AcceptContext")
		if !errors.Is(err, sspi.ErrLogonDenied) || sspi.StatusOf(err) != sspi.ErrLogonDenied {
			t.Errorf("status = %v", sspi.StatusOf(err))
		}
		if !strings.HasPrefix(err.Error(), "Negotiate: AcceptContext: PSK: AcceptContext: bad proof") {
			t.Errorf("Error() = %q", err.Error())
		}
		var se *sspi.Error
		if !errors.As(err, &se) || se.Package != "Negotiate" {
			t.Errorf("outermost *Error = %+v", se)
		}
	})
}

// TestWithOpNestedStatusNameOnce documents a known defect: when an *Error wraps a cause
// that already ends in the same status name, the name is printed twice.
func TestWithOpNestedStatusNameOnce(t *testing.T) {
	inner := sspi.WithOp(sspi.Errorf(sspi.ErrLogonDenied, "bad proof"), "PSK", "AcceptContext")
	for _, err := range []error{
		sspi.WithOp(inner, "Negotiate", "AcceptContext"),
		sspi.WithOp(fmt.Errorf("step: %w", sspi.ErrLogonDenied), "Negotiate", "AcceptContext"),
	} {
		if n := strings.Count(err.Error(), "SEC_E_LOGON_DENIED"); n != 1 {
			t.Errorf("status name appears %d times in %q", n, err.Error())
		}
	}
}

func TestStatusOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want sspi.Status
	}{
		{"nil", nil, sspi.StatusOK},
		{"plain", errors.New("x"), sspi.ErrInternal},
		{"bare status", sspi.ErrTimeSkew, sspi.ErrTimeSkew},
		{"wrapped status", fmt.Errorf("a: %w", sspi.ErrTimeSkew), sspi.ErrTimeSkew},
		{"Error", &sspi.Error{Status: sspi.ErrWrongPrincipal}, sspi.ErrWrongPrincipal},
		{"wrapped Error", fmt.Errorf("a: %w", &sspi.Error{Status: sspi.ErrWrongPrincipal}), sspi.ErrWrongPrincipal},
		{"joined", errors.Join(errors.New("x"), sspi.ErrNoContext), sspi.ErrNoContext},
	}
	for _, tc := range tests {
		if got := sspi.StatusOf(tc.err); got != tc.want {
			t.Errorf("%s: StatusOf = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestErrorWithCauseFormat(t *testing.T) {
	err := &sspi.Error{Status: sspi.ErrMessageAltered, Package: "PSK", Err: errors.New("tag mismatch")}
	if got, want := err.Error(), "PSK: tag mismatch (SEC_E_MESSAGE_ALTERED)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	err = &sspi.Error{Status: sspi.ErrMessageAltered}
	if got, want := err.Error(), sspi.ErrMessageAltered.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
