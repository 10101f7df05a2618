package forkjournal

import (
	"errors"
	"fmt"
	"strings"
)

// Error is a refusal or failure the daemon answered with: Code is one of the
// codes of docs/protocol.md, Message the daemon's explanation. ByClient
// marks a request this client refused itself before sending it (a string
// that is not UTF-8), with the code the daemon gives such a request: its
// text then says so instead of naming forkjournald, which never saw it.
//
// errors.Is(err, ErrInUse) (and the other sentinels) matches any *Error with
// the same Code, whatever its Message, from the daemon or the client.
type Error struct {
	Code     string `json:"code"`
	Message  string `json:"message"`
	ByClient bool   `json:"-"`
}

func (e *Error) Error() string {
	who := "forkjournald: "
	if e.ByClient {
		who = "forkjournal: refused by the client, not sent: "
	}
	if e.Message == "" {
		return who + e.Code
	}
	return fmt.Sprintf("%s%s: %s", who, e.Code, e.Message)
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

// One sentinel per error code of docs/protocol.md. ErrTooSlow ends a
// subscription only, which this client does not make.
var (
	ErrBadRequest    = &Error{Code: "bad_request"}
	ErrTooSlow       = &Error{Code: "too_slow"}
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
	// ErrUnavailable is returned when the retry budget (WithRetryTimeout)
	// ran out before the daemon answered; the message names the last
	// connection error.
	ErrUnavailable = errors.New("forkjournal: daemon unavailable")
	// ErrSocketPath means the socket path cannot be connected to and a
	// retry would not change that: permission denied, a path too long for
	// a socket address, a component that is not a directory, a file that is
	// not a socket. It is returned at once; errors.Is also matches the
	// system's error (syscall.EACCES, ...).
	ErrSocketPath = errors.New("forkjournal: unusable socket path")
	// ErrNotApplied is matched by every error of a call that certainly
	// applied nothing: the request was never sent (the context was done
	// first, the client closed, an invalid argument, the socket unusable or
	// never reached), or the daemon answered it with a refusal (an *Error).
	// Any other error of a write leaves its outcome unknown: resend it with
	// the same request_id (WithRequestID) to learn it.
	ErrNotApplied = errors.New("forkjournal: not applied")
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

func (e *transportError) Error() string { return "connection: " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// socketPathError is a connect failure retrying cannot clear.
type socketPathError struct{ err error }

func (e *socketPathError) Error() string        { return "unusable socket path: " + e.err.Error() }
func (e *socketPathError) Unwrap() error        { return e.err }
func (e *socketPathError) Is(target error) bool { return target == ErrSocketPath }

// callError is how a call failed: err (matched by errors.Is and errors.As)
// ended it, after the last other failure cause, if any; notApplied says
// that nothing of it was applied (ErrNotApplied).
type callError struct {
	op         string
	err        error
	note       string
	cause      error
	notApplied bool
}

func (e *callError) Error() string {
	s := "forkjournal " + e.op + ": " + strings.TrimPrefix(e.err.Error(), "forkjournal: ") + e.note
	if e.cause != nil {
		s += " (last error: " + e.cause.Error() + ")"
	}
	return s
}

func (e *callError) Unwrap() error { return e.err }

func (e *callError) Is(target error) bool { return target == ErrNotApplied && e.notApplied }
