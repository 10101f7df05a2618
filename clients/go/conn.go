package forkjournal

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"sync"
	"time"
)

// conn is one connection to the daemon with requests pipelined on it: the
// daemon answers each connection's requests in order, so replies are matched
// to a FIFO of waiting calls. One goroutine reads replies; writers take wmu.
// Once broken (any read or write error), a conn stays broken: every waiting
// call gets the error and the pool dials a new one.
type conn struct {
	nc net.Conn

	wmu    sync.Mutex // serialises request lines; held across the write
	nextID uint64     // guarded by wmu

	pmu     sync.Mutex // guards pending and err; never held while blocking
	pending []*call
	err     error
}

type call struct {
	id   string
	done chan reply // buffered: the reader never blocks on an abandoned call
}

type reply struct {
	line []byte
	err  error
}

func newConn(nc net.Conn) *conn {
	c := &conn{nc: nc}
	go c.readLoop()
	return c
}

func (c *conn) broken() bool {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	return c.err != nil
}

// load is how many requests wait for their reply.
func (c *conn) load() int {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	return len(c.pending)
}

// fail breaks the connection and hands err to every waiting call.
func (c *conn) fail(err error) {
	c.pmu.Lock()
	if c.err == nil {
		c.err = err
	}
	calls := c.pending
	c.pending = nil
	err = c.err
	c.pmu.Unlock()
	_ = c.nc.Close()
	for _, cl := range calls {
		cl.done <- reply{err: err}
	}
}

func (c *conn) close() { c.fail(ErrClosed) }

// header is the part of every reply the connection itself reads.
type header struct {
	ID    json.RawMessage `json:"id"`
	OK    bool            `json:"ok"`
	Error *Error          `json:"error"`
}

func (c *conn) readLoop() {
	r := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			c.fail(&transportError{err})
			return
		}
		var h header
		if err := json.Unmarshal(line, &h); err != nil {
			c.fail(&transportError{ErrProtocol})
			return
		}
		c.pmu.Lock()
		var cl *call
		if len(c.pending) > 0 {
			cl = c.pending[0]
			c.pending = c.pending[1:]
		}
		c.pmu.Unlock()
		if string(h.ID) == "null" && !h.OK && h.Error != nil {
			// busy, timeout and too_large answer the connection rather than a
			// request and are followed by its close: the call that got it
			// sees the code (to retry or report), the others the close.
			if cl != nil {
				cl.done <- reply{line: line}
			}
			cause := error(h.Error)
			if !retryableCode(h.Error.Code) {
				cause = errors.New("closed by the daemon after " + h.Error.Code)
			}
			c.fail(&transportError{cause})
			return
		}
		if cl == nil || string(h.ID) != cl.id {
			if cl != nil {
				cl.done <- reply{err: &transportError{ErrProtocol}}
			}
			c.fail(&transportError{ErrProtocol})
			return
		}
		cl.done <- reply{line: line}
	}
}

// roundtrip sends fields (plus "op" and a connection-local "id") and waits
// for the reply line or ctx's end. A reply that arrives after ctx ended is
// read and dropped, so the connection stays usable.
func (c *conn) roundtrip(ctx context.Context, fields map[string]interface{}) ([]byte, error) {
	c.wmu.Lock()
	c.nextID++
	id := strconv.FormatUint(c.nextID, 10)
	fields["id"] = c.nextID
	line, err := json.Marshal(fields)
	if err != nil {
		c.wmu.Unlock()
		return nil, err
	}
	line = append(line, '\n')
	cl := &call{id: id, done: make(chan reply, 1)}
	c.pmu.Lock()
	if c.err != nil {
		err := c.err
		c.pmu.Unlock()
		c.wmu.Unlock()
		return nil, err
	}
	c.pending = append(c.pending, cl)
	c.pmu.Unlock()
	deadline, _ := ctx.Deadline()
	_ = c.nc.SetWriteDeadline(deadline)
	_, err = c.nc.Write(line)
	c.wmu.Unlock()
	if err != nil {
		// A partial line would corrupt the stream: the connection is done.
		// The daemon may have said why before closing (busy), so the reader
		// gets a moment to take that line; then every call fails with it.
		_ = c.nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	}
	select {
	case r := <-cl.done:
		return r.line, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// dial connects to the daemon's socket.
func dial(ctx context.Context, path string) (*conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, &transportError{err}
	}
	return newConn(nc), nil
}
