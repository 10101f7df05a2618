package forkjournal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
)

type requestIDKey struct{}

// WithRequestID returns a context whose write (Register, Fork, Unfork,
// Retire) carries id as its request_id (1–128 bytes of printable ASCII).
// Sending the same write again with the same id after an unknown outcome
// (a deadline that expired, a crash of the caller) applies it at most once:
// the daemon answers the original seq with Replayed set.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// requestID is the caller's request_id, or a new random one.
func requestID(ctx context.Context) (string, error) {
	if id, ok := ctx.Value(requestIDKey{}).(string); ok {
		return id, nil
	}
	return NewRequestID()
}

// NewRequestID returns a random request_id ("go-" and 32 hex digits).
func NewRequestID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "go-" + hex.EncodeToString(b[:]), nil
}
