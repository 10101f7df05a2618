// Package forkjournal is a client of forkjournald, the daemon that records
// VM-template fork and unfork events (docs/protocol.md).
//
// A Client is safe for concurrent use: it keeps a small pool of connections
// and pipelines requests on them, so concurrent writes share the daemon's
// group commits. Every write carries a request_id and is retried with the
// same id after a broken connection, so it is applied exactly once.
package forkjournal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Client talks to one forkjournald socket. Create it with Dial, release it
// with Close.
type Client struct {
	path         string
	retryTimeout time.Duration
	slots        []slot
	next         uint64 // round-robin over slots
	closed       atomic.Bool
}

type slot struct {
	mu sync.Mutex
	c  *conn
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
// call's context deadline bounds it too, whichever comes first.
func WithRetryTimeout(d time.Duration) Option {
	return func(c *Client) { c.retryTimeout = d }
}

// Dial connects to the daemon at socketPath and checks it answers a ping
// (retrying within ctx and the retry timeout while it restarts).
func Dial(ctx context.Context, socketPath string, opts ...Option) (*Client, error) {
	c := &Client{path: socketPath, retryTimeout: 30 * time.Second, slots: make([]slot, 8)}
	for _, o := range opts {
		o(c)
	}
	if _, err := c.Ping(ctx); err != nil {
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
)

// do sends the request until it is answered, reconnecting after connection
// failures and answers that applied nothing (busy, stopping, timeout), with
// backoff, within ctx and the retry timeout. fields must already hold the
// request_id of a write: the same one is sent on every attempt. The success
// reply is decoded into out.
func (c *Client) do(ctx context.Context, op string, fields map[string]interface{}, out interface{}) error {
	if fields == nil {
		fields = map[string]interface{}{}
	}
	fields["op"] = op
	giveUp := time.Now().Add(c.retryTimeout)
	backoff := firstBackoff
	var last error
	for {
		if c.closed.Load() {
			return ErrClosed
		}
		err := c.attempt(ctx, fields, out)
		if err == nil {
			return nil
		}
		var te *transportError
		var pe *Error
		switch {
		case errors.Is(err, ErrClosed):
			return err
		case errors.As(err, &pe) && !retryableCode(pe.Code):
			return err
		case errors.As(err, &pe):
			last = pe
		case errors.As(err, &te):
			last = te
		case ctx.Err() != nil:
			// Ended while waiting: the outcome of a write is unknown; the
			// caller may resend it with the same request_id (WithRequestID).
		default:
			return err
		}
		if ctx.Err() != nil {
			if last == nil {
				return fmt.Errorf("forkjournal %s: %w", op, ctx.Err())
			}
			return fmt.Errorf("forkjournal %s: %w (last error: %v)", op, ctx.Err(), last)
		}
		if time.Now().Add(backoff).After(giveUp) {
			if pe != nil {
				return fmt.Errorf("forkjournal %s: gave up after %v: %w", op, c.retryTimeout, pe)
			}
			return fmt.Errorf("forkjournal %s: %w: gave up after %v: %v", op, ErrUnavailable, c.retryTimeout, last)
		}
		t := time.NewTimer(backoff)
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

func (c *Client) attempt(ctx context.Context, fields map[string]interface{}, out interface{}) error {
	s := c.pick()
	cn, err := c.conn(ctx, s)
	if err != nil {
		return err
	}
	line, err := cn.roundtrip(ctx, fields)
	if err != nil {
		return err
	}
	var h header
	if err := json.Unmarshal(line, &h); err != nil {
		return &transportError{ErrProtocol}
	}
	if !h.OK {
		if h.Error == nil {
			return &transportError{ErrProtocol}
		}
		return h.Error
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(line, out)
}

// pick returns the slot with the fewest requests waiting, starting the scan
// round-robin so that ties spread; a slot without a live connection counts
// as empty.
func (c *Client) pick() *slot {
	n := uint64(len(c.slots))
	start := atomic.AddUint64(&c.next, 1)
	best, bestLoad := &c.slots[start%n], -1
	for i := uint64(0); i < n; i++ {
		s := &c.slots[(start+i)%n]
		s.mu.Lock()
		load := 0
		if s.c != nil {
			load = s.c.load()
		}
		s.mu.Unlock()
		if bestLoad < 0 || load < bestLoad {
			best, bestLoad = s, load
		}
		if load == 0 {
			break
		}
	}
	return best
}
