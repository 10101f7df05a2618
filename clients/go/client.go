// Package forkjournal is a client of forkjournald, the daemon that records
// VM-template fork and unfork events (docs/protocol.md).
//
// A Client is safe for concurrent use: it keeps a small pool of connections
// and pipelines requests on them, so concurrent writes share the daemon's
// group commits. Every write carries a request_id and is retried with the
// same id after a broken connection, so it is applied exactly once. An
// error that matches ErrNotApplied means the call applied nothing; after any
// other error of a write its outcome is unknown: resend it with the same
// request_id (WithRequestID).
//
// String arguments must be valid UTF-8 (JSON would replace the bad bytes):
// the client refuses one that is not, with ErrInvalidID for an id and
// ErrBadRequest for a name or request_id, and sends nothing.
package forkjournal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Client talks to one forkjournald socket. Create it with Dial, release it
// with Close.
type Client struct {
	path         string
	retryTimeout time.Duration
	slots        []slot
	next         uint64 // round-robin over slots
	closed       atomic.Bool
	dials        atomic.Uint64 // connections dialled, for tests
}

type slot struct {
	mu        sync.Mutex
	c         *conn
	busyUntil time.Time // a dial here was refused busy: prefer others until then
}

// Option configures Dial.
type Option func(*Client)

// WithPoolSize sets how many connections the client keeps (default 8, at
// least 1). Requests are pipelined on each, which saves the round trip, but
// the daemon serves one request per connection at a time: a group commit
// takes at most one write per connection, so n bounds the batch. Use about
// as many connections as goroutines writing at once for the best
// throughput.
func WithPoolSize(n int) Option {
	return func(c *Client) {
		if n < 1 {
			n = 1
		}
		c.slots = make([]slot, n)
	}
}

// WithRetryTimeout bounds how long one call keeps reconnecting and resending
// after broken connections, busy or stopping answers (default 30s); the
// call's context deadline bounds it too, whichever comes first. It does not
// bound the wait for one reply: against a daemon that accepts but does not
// answer (stopped with SIGSTOP, stuck), only the context's deadline ends a
// call. Keep it below the daemon's --request-min-age (default 60s), or a
// late resend may be executed anew instead of answered Replayed.
func WithRetryTimeout(d time.Duration) Option {
	return func(c *Client) { c.retryTimeout = d }
}

// Dial connects to the daemon at socketPath and checks it answers a ping
// (retrying within ctx and the retry timeout while it restarts). A path
// that cannot work (ErrSocketPath) fails at once.
func Dial(ctx context.Context, socketPath string, opts ...Option) (*Client, error) {
	c := &Client{path: socketPath, retryTimeout: 30 * time.Second, slots: make([]slot, 8)}
	for _, o := range opts {
		o(c)
	}
	if err := c.call(ctx, "dial", "ping", nil, nil); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close closes every connection. Calls waiting for a reply return an error;
// later calls return ErrClosed.
func (c *Client) Close() error {
	c.closed.Store(true)
	for i := range c.slots {
		s := &c.slots[i]
		s.mu.Lock()
		if s.c != nil {
			s.c.close()
			s.c = nil
		}
		s.mu.Unlock()
	}
	return nil
}

// conn returns the slot's connection, dialling a new one if it is broken.
func (c *Client) conn(ctx context.Context, s *slot) (*conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if s.c != nil && !s.c.broken() {
		return s.c, nil
	}
	s.c = nil
	c.dials.Add(1)
	nc, err := dial(ctx, c.path)
	if err != nil {
		return nil, err
	}
	s.c = nc
	return nc, nil
}

const (
	firstBackoff = 5 * time.Millisecond
	maxBackoff   = 250 * time.Millisecond
	// busyPause is how long a slot whose new connection was refused busy
	// is passed over while other slots have live connections.
	busyPause = time.Second
)

func (c *Client) do(ctx context.Context, op string, fields map[string]interface{}, out interface{}) error {
	return c.call(ctx, op, op, fields, out)
}

// call sends the request op until it is answered, reconnecting after
// connection failures and answers that applied nothing (busy, stopping,
// timeout), with backoff, within ctx and the retry timeout. label names the
// call in errors. fields must already hold the request_id of a write: the
// same one is sent on every attempt. The success reply is decoded into out.
func (c *Client) call(ctx context.Context, label, op string, fields map[string]interface{}, out interface{}) error {
	if ctx == nil {
		return &callError{op: label, err: errNilContext, notApplied: true}
	}
	if fields == nil {
		fields = map[string]interface{}{}
	}
	if err := checkUTF8(fields); err != nil {
		return &callError{op: label, err: err, notApplied: true}
	}
	fields["op"] = op
	started := time.Now()
	giveUp := started.Add(c.retryTimeout)
	backoff := firstBackoff
	var last error   // the last failure that was not the context ending
	unknown := false // an attempt went out unanswered: it may have applied
	fail := func(err error) *callError {
		return &callError{op: label, err: err, cause: last, notApplied: !unknown}
	}
	for {
		if c.closed.Load() {
			return fail(ErrClosed)
		}
		// A context done before the request is written sends nothing, also
		// after a backoff that its end cut short.
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		wrote, err := c.attempt(ctx, fields, out)
		if err == nil {
			return nil
		}
		var pe *Error
		if errors.As(err, &pe) {
			if !retryableCode(pe.Code) {
				// Definitive even after an unanswered attempt: had that one
				// applied, this one, with its request_id, would have been
				// answered with its seq.
				return &callError{op: label, err: pe, notApplied: true}
			}
			last = pe
		} else {
			if wrote {
				unknown = true
			}
			var te *transportError
			switch {
			case errors.Is(err, ErrClosed):
				return fail(ErrClosed)
			case errors.As(err, &te):
				if ctx.Err() == nil || !endedBy(err) {
					last = te
				}
			case ctx.Err() != nil:
				// Ended while waiting: the loop's top returns its error.
			default:
				return fail(err)
			}
		}
		if ctx.Err() != nil {
			continue
		}
		// The budget is used to its end: a backoff that would pass it is cut
		// short to a last attempt at the deadline, so the time the message
		// gives is the time spent, not less.
		now := time.Now()
		if !now.Before(giveUp) {
			spent := now.Sub(started).Round(time.Millisecond)
			e := fail(ErrUnavailable)
			e.note = fmt.Sprintf(" after %v", spent)
			if pe, ok := last.(*Error); ok {
				e.err, e.cause, e.note = pe, nil, fmt.Sprintf(", gave up after %v", spent)
			}
			return e
		}
		wait := backoff
		if left := giveUp.Sub(now); left < wait {
			wait = left
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		if backoff *= 2; backoff > maxBackoff {
			backoff = maxBackoff
		}
	}
}

var errNilContext = errors.New("nil context")

// endedBy reports whether a connection error is a context's end showing
// through a dial or a write ("i/o timeout", "operation was canceled").
func endedBy(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, os.ErrDeadlineExceeded)
}

// checkUTF8 refuses a string field that is not valid UTF-8: JSON encoding
// would replace the bad bytes with U+FFFD and the daemon store that.
func checkUTF8(fields map[string]interface{}) error {
	for k, v := range fields {
		if s, ok := v.(string); ok && !utf8.ValidString(s) {
			code := "bad_request"
			switch k {
			case "template", "fork", "source":
				code = "invalid_id"
			}
			return &Error{Code: code, Message: fmt.Sprintf("%s %q is not valid UTF-8", k, s), ByClient: true}
		}
	}
	return nil
}

// attempt sends the request once; wrote reports whether any of it went out.
func (c *Client) attempt(ctx context.Context, fields map[string]interface{}, out interface{}) (wrote bool, err error) {
	s := c.pick()
	cn, err := c.conn(ctx, s)
	if err != nil {
		return false, err
	}
	line, wrote, err := cn.roundtrip(ctx, fields)
	if err != nil {
		return wrote, err
	}
	var h header
	if err := json.Unmarshal(line, &h); err != nil {
		return true, &transportError{ErrProtocol}
	}
	if !h.OK {
		if h.Error == nil {
			return true, &transportError{ErrProtocol}
		}
		if h.Error.Code == "busy" {
			// Refused at connect: the daemon serves its maximum. Prefer the
			// live connections for a while rather than dial here again.
			s.mu.Lock()
			s.busyUntil = time.Now().Add(busyPause)
			s.mu.Unlock()
		}
		return true, h.Error
	}
	if out == nil {
		return true, nil
	}
	return true, json.Unmarshal(line, out)
}

// pick returns the live connection's slot with the fewest requests waiting,
// starting the scan round-robin so that ties spread. An idle live
// connection wins at once; only when every live one has requests waiting
// does a slot without one get dialled, unless a dial there was refused busy
// within busyPause.
func (c *Client) pick() *slot {
	n := uint64(len(c.slots))
	start := atomic.AddUint64(&c.next, 1)
	now := time.Now()
	var best, empty *slot
	bestLoad := 0
	for i := uint64(0); i < n; i++ {
		s := &c.slots[(start+i)%n]
		s.mu.Lock()
		live := s.c != nil && !s.c.broken()
		load := 0
		if live {
			load = s.c.load()
		}
		paused := now.Before(s.busyUntil)
		s.mu.Unlock()
		switch {
		case live && load == 0:
			return s
		case live && (best == nil || load < bestLoad):
			best, bestLoad = s, load
		case !live && !paused && empty == nil:
			empty = s
		}
	}
	switch {
	case empty != nil:
		return empty
	case best != nil:
		return best
	}
	return &c.slots[start%n] // every slot paused and none live: dial anyway
}
