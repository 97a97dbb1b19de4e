// Package fhir holds the platform's FHIR R4 resource model: resources as JSON objects,
// the coded domain error, and OperationOutcome.
package fhir

import (
	"errors"
	"fmt"
)

// Code classifies a domain error. The HTTP edge maps each code once to a status.
type Code string

const (
	Invalid            Code = "invalid"             // 400 (or 422 for business rules)
	NotFound           Code = "not-found"           // 404
	Gone               Code = "gone"                // 410: deleted
	Conflict           Code = "conflict"            // 409
	PreconditionFailed Code = "precondition-failed" // 412
	Unauthorized       Code = "unauthorized"        // 401: no or an invalid access token
	Forbidden          Code = "forbidden"           // 403
	Throttled          Code = "throttled"           // 429: over a rate limit
	Unavailable        Code = "unavailable"         // 503: a part the answer needs is down
	TooLarge           Code = "too-large"           // 413
	NotSupported       Code = "not-supported"       // 405/406/415 depending on context
	Unprocessable      Code = "unprocessable"       // 422
	Internal           Code = "internal"            // 500
)

// Issue is one OperationOutcome.issue.
type Issue struct {
	Severity    string   // fatal | error | warning | information
	Code        string   // FHIR issue-type code (structure, value, required, not-found, ...)
	Diagnostics string   // human-readable, public
	Expression  []string // FHIRPath locations, e.g. Patient.birthDate
}

// Error is the one error type of the domain. Message and Issues are public; Err is
// internal detail that is logged, never shown.
type Error struct {
	Code    Code
	Message string
	Issues  []Issue
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error with a public message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the Code of the first *Error in err's chain, Internal otherwise.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// AsError returns the first *Error in err's chain, or wraps err as Internal.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: Internal, Message: "internal server error", Err: err}
}

// IssueType is the OperationOutcome issue-type code matching an error code.
func (c Code) IssueType() string {
	switch c {
	case Invalid, Unprocessable:
		return "invalid"
	case NotFound, Gone:
		return "not-found"
	case Conflict:
		return "conflict"
	case PreconditionFailed:
		return "conflict"
	case Forbidden:
		return "forbidden"
	case Unauthorized:
		return "login"
	case Throttled:
		return "throttled"
	case Unavailable:
		return "transient"
	case TooLarge:
		return "too-costly"
	case NotSupported:
		return "not-supported"
	default:
		return "exception"
	}
}
