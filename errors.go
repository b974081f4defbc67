package activitylog

import (
	"errors"
	"strconv"
)

// Error categories. Every error that activitylog returns wraps one of
// these, so callers (and the API, which maps each to an HTTP status)
// can tell them apart with errors.Is.
var (
	// ErrInvalid: the input was refused. The error is a *FieldError that
	// names the field and the value.
	ErrInvalid = errors.New("invalid input")
	// ErrNotFound: no event has that id.
	ErrNotFound = errors.New("not found")
	// ErrForbidden: the principal is known, and what it asked for is
	// not its to see or do. The error is a *ForbiddenError.
	ErrForbidden = errors.New("forbidden")
	// ErrUnavailable: a store or writer could not be reached.
	ErrUnavailable = errors.New("unavailable")
	// ErrQueueFull: the Recorder's queue was full and the event was not
	// accepted.
	ErrQueueFull = errors.New("audit queue full")
	// ErrClosed: the Recorder has been shut down.
	ErrClosed = errors.New("recorder closed")
)

// FieldError says which field of an input was refused, with what value
// and why. It wraps ErrInvalid.
type FieldError struct {
	Field  string // the field or parameter name, e.g. "actor.type" or "page_size"
	Value  string // the value that was refused, possibly truncated
	Reason string // why, e.g. "must be between 1 and 1000"
}

func (e *FieldError) Error() string {
	return "invalid " + e.Field + " " + strconv.Quote(e.Value) + ": " + e.Reason
}

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Invalid returns a *FieldError for field with value and reason.
func Invalid(field, value, reason string) error {
	return &FieldError{Field: field, Value: value, Reason: reason}
}

func invalid(field, value, reason string) error { return Invalid(field, value, reason) }
