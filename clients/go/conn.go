package forkjournal

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// conn is one connection to the daemon with requests pipelined on it: the
// daemon answers each connection's requests in order, so replies are matched
// to a FIFO of waiting calls. One goroutine reads replies; writers take wsem.
// Once broken (any read or write error), a conn stays broken: every waiting
// call gets the error and the pool dials a new one.
type conn struct {
	nc net.Conn

	// wsem serialises request lines and is held across the write; a
	// channel, so that a call waiting for it can give up when its context
	// ends.
	wsem   chan struct{}
	nextID uint64 // guarded by wsem

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
	c := &conn{nc: nc, wsem: make(chan struct{}, 1)}
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
// read and dropped, so the connection stays usable. wrote reports whether
// any byte of the request went out: if not, the daemon cannot have seen it.
//
// The connection is shared, so one call's context must not break it for the
// others: nothing is written once ctx is done, and ctx's end interrupts only
// this call's own write. Only a line cut off midway breaks the connection.
func (c *conn) roundtrip(ctx context.Context, fields map[string]interface{}) (line []byte, wrote bool, err error) {
	select {
	case c.wsem <- struct{}{}:
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	if err := ctx.Err(); err != nil {
		<-c.wsem
		return nil, false, err
	}
	c.nextID++
	fields["id"] = c.nextID
	line, err = json.Marshal(fields)
	if err != nil {
		<-c.wsem
		return nil, false, err
	}
	line = append(line, '\n')
	cl := &call{id: strconv.FormatUint(c.nextID, 10), done: make(chan reply, 1)}
	c.pmu.Lock()
	if c.err != nil {
		err := c.err
		c.pmu.Unlock()
		<-c.wsem
		return nil, false, err
	}
	c.pending = append(c.pending, cl)
	c.pmu.Unlock()
	n, err := c.write(ctx, line)
	if err != nil && n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
		// ctx ended before a byte went out: the stream is intact; only
		// this call gives up. Writers hold wsem, so cl is the newest call
		// unless the reader has failed them all meanwhile.
		c.pmu.Lock()
		if k := len(c.pending) - 1; k >= 0 && c.pending[k] == cl {
			c.pending = c.pending[:k]
		}
		c.pmu.Unlock()
		<-c.wsem
		if ctx.Err() == nil {
			return nil, false, context.DeadlineExceeded
		}
		return nil, false, ctx.Err()
	}
	if err != nil {
		// A partial line would corrupt the stream, and a failed write means
		// the daemon closed: the connection is done. The daemon may have
		// said why before closing (busy), so the reader gets a moment to
		// take that line; then every call fails with it. Nobody else writes
		// here again, so the deadline harms no one.
		c.pmu.Lock()
		if c.err == nil {
			c.err = &transportError{err}
		}
		c.pmu.Unlock()
		_ = c.nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	}
	<-c.wsem
	select {
	case r := <-cl.done:
		return r.line, n > 0, r.err
	case <-ctx.Done():
		return nil, n > 0, ctx.Err()
	}
}

// write writes line, giving up when ctx ends (a daemon that stopped reading
// fills the socket buffer). The caller holds wsem, so the write deadline it
// sets concerns its own write only; the caller's context deadline is not
// copied onto the socket, as a deadline already past would fail the write.
func (c *conn) write(ctx context.Context, line []byte) (int, error) {
	_ = c.nc.SetWriteDeadline(time.Time{})
	if ctx.Done() == nil {
		return c.nc.Write(line)
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-ctx.Done():
			_ = c.nc.SetWriteDeadline(time.Unix(1, 0))
		case <-stop:
		}
	}()
	n, err := c.nc.Write(line)
	close(stop)
	<-stopped // its deadline must not reach the next writer
	return n, err
}

// dial connects to the daemon's socket. A failure that retrying cannot
// clear is a *socketPathError, any other a *transportError.
func dial(ctx context.Context, path string) (*conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if perr := permanentDialError(path, err); perr != nil {
			return nil, &socketPathError{perr}
		}
		return nil, &transportError{err}
	}
	return newConn(nc), nil
}

// permanentDialError returns err, described, if it names a fault of the
// path that a restarting daemon does not clear: a path forbidden to us, too
// long for a socket address (EINVAL), through a non-directory, or a file
// that is not a socket. A missing socket (ENOENT) and a refused connect on
// a stale one are what a restart looks like: nil.
func permanentDialError(path string, err error) error {
	for _, e := range []syscall.Errno{syscall.EACCES, syscall.EPERM, syscall.EINVAL,
		syscall.ENAMETOOLONG, syscall.ENOTDIR, syscall.ELOOP, syscall.ENOTSOCK, syscall.EPROTOTYPE} {
		if errors.Is(err, e) {
			return err
		}
	}
	// Linux refuses a connect to a file that is not a socket, and the
	// daemon does not replace such a file (it refuses to start).
	if errors.Is(err, syscall.ECONNREFUSED) {
		if st, serr := os.Stat(path); serr == nil && st.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("%w (%s is not a socket)", err, path)
		}
	}
	return nil
}
