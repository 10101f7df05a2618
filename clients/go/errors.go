package forkjournal

import (
	"errors"
	"fmt"
)

// Error is a refusal or failure the daemon answered with: Code is one of the
// codes of docs/protocol.md, Message the daemon's explanation.
//
// errors.Is(err, ErrInUse) (and the other sentinels) matches any *Error with
// the same Code, whatever its Message.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "forkjournald: " + e.Code
	}
	return fmt.Sprintf("forkjournald: %s: %s", e.Code, e.Message)
}

// Is reports whether target is an *Error with the same Code and either no
// Message (a sentinel) or the same Message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// One sentinel per error code of docs/protocol.md.
var (
	ErrBadRequest    = &Error{Code: "bad_request"}
	ErrUnknownOp     = &Error{Code: "unknown_op"}
	ErrInvalidID     = &Error{Code: "invalid_id"}
	ErrTooLarge      = &Error{Code: "too_large"}
	ErrAlreadyExists = &Error{Code: "already_exists"}
	ErrNotFound      = &Error{Code: "not_found"}
	ErrRetired       = &Error{Code: "retired"}
	ErrAlreadyLive   = &Error{Code: "already_live"}
	ErrInUse         = &Error{Code: "in_use"}
	ErrJournalFull   = &Error{Code: "journal_full"}
	ErrBusy          = &Error{Code: "busy"}
	ErrTimeout       = &Error{Code: "timeout"}
	ErrStopping      = &Error{Code: "stopping"}
	ErrInternal      = &Error{Code: "internal"}
)

var (
	// ErrClosed is returned by every call on a Client after Close.
	ErrClosed = errors.New("forkjournal: client closed")
	// ErrUnavailable wraps the last connection error when the retry budget
	// (WithRetryTimeout) ran out before the daemon answered.
	ErrUnavailable = errors.New("forkjournal: daemon unavailable")
	// ErrProtocol means the daemon sent something this client cannot read;
	// the connection is dropped and the request retried.
	ErrProtocol = errors.New("forkjournal: protocol error")
)

// retryableCode reports the codes after which the same request (with the
// same request_id) may simply be sent again on a new connection: the daemon
// did not apply it.
func retryableCode(code string) bool {
	switch code {
	case "busy", "stopping", "timeout":
		return true
	}
	return false
}

// transportError marks a connection failure (end of file, reset, refused
// connect): the request's outcome is unknown and it is sent again.
type transportError struct{ err error }

func (e *transportError) Error() string { return "forkjournal: connection: " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }
