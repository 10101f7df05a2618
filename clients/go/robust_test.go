package forkjournal_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"forkjournal"
)

// A write whose context is done before it is written sends nothing, also on
// a connection that is already open, and says so (ErrNotApplied).
func TestDoneContextSendsNothing(t *testing.T) {
	d := newDaemon(t)
	c := d.dial(t, forkjournal.WithPoolSize(1))
	ctx := ctxFor(t, 20*time.Second)
	if _, err := c.Register(ctx, "tplY", "srcY", ""); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	for _, tc := range []struct {
		ctx  context.Context
		want error
	}{{cancelled, context.Canceled}, {expired, context.DeadlineExceeded}} {
		_, err := c.Fork(tc.ctx, "tplY", "ccN")
		if !errors.Is(err, tc.want) || !errors.Is(err, forkjournal.ErrNotApplied) {
			t.Errorf("Fork with a done context: %v, want %v and ErrNotApplied", err, tc.want)
		}
	}
	tpl, err := c.Template(ctx, "tplY")
	if err != nil || tpl.Forks != 0 || tpl.Seq != 1 {
		t.Fatalf("Template = %+v, %v; want no fork and nothing appended after the register", tpl, err)
	}
	if n := forkjournal.DialCount(c); n != 1 {
		t.Fatalf("%d connections dialled, want 1", n)
	}
}

// staleDeadline is a context whose deadline has passed but whose Done is
// not closed yet, as in the moment between a deadline and its timer firing.
type staleDeadline struct{ context.Context }

func (staleDeadline) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }

// Calls whose deadline has passed, multiplexed on one connection with other
// goroutines' writes, fail (or succeed) alone: the connection is neither
// replaced nor are the other writes resent (they would come back Replayed).
func TestPastDeadlineLeavesSharedConnection(t *testing.T) {
	d := newDaemon(t)
	c := d.dial(t, forkjournal.WithPoolSize(1))
	ctx := ctxFor(t, 30*time.Second)
	if _, err := c.Register(ctx, "tpl0web", "src0web", ""); err != nil {
		t.Fatal(err)
	}
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				r, err := c.Fork(ctx, "tpl0web", fmt.Sprintf("frk-%d-%d", g, i))
				if err != nil || r.Replayed {
					errs <- fmt.Errorf("fork %d-%d: %+v, %v; want applied once, not resent", g, i, r, err)
				}
			}
		}(g)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 100; i++ {
			if _, err := c.Fork(expired, "tpl0web", fmt.Sprintf("late-%d", i)); !errors.Is(err, context.DeadlineExceeded) {
				errs <- fmt.Errorf("fork with an expired deadline: %v", err)
			}
			stale, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			_, _ = c.Counts(staleDeadline{stale})
			cancel()
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := forkjournal.DialCount(c); n != 1 {
		t.Fatalf("%d connections dialled, want 1: a deadline broke the shared connection", n)
	}
	tpl, err := c.Template(ctx, "tpl0web")
	if err != nil || tpl.Forks != 200 {
		t.Fatalf("Template = %d forks, %v; want 200 (none of the expired calls)", tpl.Forks, err)
	}
}

// With the daemon killed, a call that runs out of time names the real
// failure (the refused connect), not the dial its own deadline cut short.
func TestContextEndNamesLastCause(t *testing.T) {
	d := newDaemon(t)
	c := d.dial(t)
	d.kill9()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := c.Fork(ctx, "tpl0web", "frk0web1")
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, forkjournal.ErrNotApplied) {
		t.Fatalf("Fork with the daemon killed: %v, want a deadline error and ErrNotApplied", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "connection refused") || strings.Contains(msg, "i/o timeout") {
		t.Fatalf("Fork with the daemon killed: %q, want the refused connect named", msg)
	}
}

// A socket path no retry can make usable fails at once with ErrSocketPath
// and the system's error; a missing socket (a daemon restarting) is
// retried.
func TestUnusableSocketPathFailsAtOnce(t *testing.T) {
	dir, err := os.MkdirTemp("", "fjgo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	type pathCase struct {
		name, path string
		errno      error
	}
	cases := []pathCase{
		{"parent is a file", filepath.Join(file, "sock"), syscall.ENOTDIR},
		{"path too long", filepath.Join(dir, strings.Repeat("x", 120)), syscall.EINVAL},
		{"not a socket", file, syscall.ECONNREFUSED},
	}
	if os.Geteuid() != 0 { // root passes a mode 0000 directory
		locked := filepath.Join(dir, "locked")
		if err := os.Mkdir(locked, 0); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, pathCase{"permission denied", filepath.Join(locked, "sock"), syscall.EACCES})
	}
	for _, tc := range cases {
		start := time.Now()
		c, err := forkjournal.Dial(ctxFor(t, 10*time.Second), tc.path, forkjournal.WithRetryTimeout(5*time.Second))
		if err == nil {
			c.Close()
			t.Fatalf("%s: Dial succeeded", tc.name)
		}
		if !errors.Is(err, forkjournal.ErrSocketPath) || !errors.Is(err, tc.errno) || !errors.Is(err, forkjournal.ErrNotApplied) {
			t.Errorf("%s: Dial: %v, want ErrSocketPath and %v", tc.name, err, tc.errno)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("%s: Dial failed after %v, want at once (retry timeout 5s)", tc.name, took)
		}
	}

	// A missing socket is what a restart looks like: Dial waits for it.
	d := newDaemon(t)
	d.kill9()
	if err := os.Remove(d.socket); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	_, err = forkjournal.Dial(ctxFor(t, 10*time.Second), d.socket, forkjournal.WithRetryTimeout(time.Second))
	took := time.Since(began)
	if !errors.Is(err, forkjournal.ErrUnavailable) || errors.Is(err, forkjournal.ErrSocketPath) {
		t.Fatalf("Dial of a missing socket: %v, want ErrUnavailable", err)
	}
	// The whole budget is used (a last attempt at its end, not a give-up
	// when the next backoff would pass it), and the message says how long.
	if took < time.Second || took > 3*time.Second {
		t.Fatalf("Dial of a missing socket with a 1s retry timeout returned after %v", took)
	}
	if m := regexp.MustCompile(`unavailable after (1\.\d+s|1s)`).FindString(err.Error()); m == "" {
		t.Fatalf("Dial of a missing socket: %q, want 'unavailable after 1.xs', the time spent", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "forkjournal dial: ") || strings.Count(msg, "forkjournal") != 1 ||
		!strings.Contains(msg, "no such file or directory") {
		t.Fatalf("Dial of a missing socket: %q, want one 'forkjournal dial:' prefix and the cause", msg)
	}
	dialled := make(chan error, 1)
	go func() {
		c, err := forkjournal.Dial(ctxFor(t, 10*time.Second), d.socket, forkjournal.WithRetryTimeout(10*time.Second))
		if err == nil {
			c.Close()
		}
		dialled <- err
	}()
	time.Sleep(300 * time.Millisecond)
	d.start(t)
	if err := <-dialled; err != nil {
		t.Fatalf("Dial while the daemon starts: %v", err)
	}
}

// A pool larger than the daemon's --max-connections uses the connections
// the daemon serves rather than dialling the others again and again (each
// refused busy): every call succeeds, with few dials.
func TestPoolLargerThanMaxConnections(t *testing.T) {
	d := newDaemon(t, "--max-connections", "2")
	c := d.dial(t, forkjournal.WithPoolSize(8), forkjournal.WithRetryTimeout(5*time.Second))
	ctx := ctxFor(t, 60*time.Second)
	if _, err := c.Register(ctx, "tpl0web", "src0web", ""); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 16*50)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if _, err := c.Fork(ctx, "tpl0web", fmt.Sprintf("frk-%d-%d", g, i)); err != nil {
					errs <- err
				}
			}
		}(g)
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// 2 served connections, and each of the 6 other slots dialled about
	// once a second (refused busy, then passed over for a second); twice
	// that leaves room for dials racing a refusal, while a pool that keeps
	// redialling its refused slots makes about 160 a second.
	dials := forkjournal.DialCount(c)
	if limit := 2 + 2*6*(uint64(took/time.Second)+2); dials > limit {
		t.Fatalf("%d dials in %v, want at most %d", dials, took, limit)
	}
	t.Logf("800 forks in %v with %d dials", took, dials)
}

// A string that is not UTF-8 is refused by the client, naming the field,
// and nothing is sent (JSON would store U+FFFD in its place).
func TestInvalidUTF8Refused(t *testing.T) {
	d := newDaemon(t)
	c := d.dial(t)
	ctx := ctxFor(t, 20*time.Second)
	if _, err := c.Register(ctx, "tpl0web", "src0web", ""); err != nil {
		t.Fatal(err)
	}
	s1, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	perStats := s2.Requests - s1.Requests
	cases := []struct {
		field string
		call  func() error
		want  error
	}{
		{"name", func() error { _, err := c.Register(ctx, "tplN", "src", "bad\xffname"); return err }, forkjournal.ErrBadRequest},
		{"fork", func() error { _, err := c.Fork(ctx, "tpl0web", "frk\xff"); return err }, forkjournal.ErrInvalidID},
		{"template", func() error { _, err := c.Template(ctx, "tpl\xfe"); return err }, forkjournal.ErrInvalidID},
		{"request_id", func() error {
			_, err := c.Retire(forkjournal.WithRequestID(ctx, "id\xff"), "tpl0web")
			return err
		}, forkjournal.ErrBadRequest},
	}
	for _, tc := range cases {
		err := tc.call()
		if !errors.Is(err, tc.want) || !errors.Is(err, forkjournal.ErrNotApplied) || !strings.Contains(err.Error(), tc.field+` "`) {
			t.Errorf("%s not UTF-8: %v, want %v naming the field", tc.field, err, tc.want)
		}
		// Not presented as the daemon's answer: the daemon never saw it.
		var fe *forkjournal.Error
		if !errors.As(err, &fe) || !fe.ByClient || strings.Contains(err.Error(), "forkjournald") ||
			!strings.Contains(err.Error(), "refused by the client, not sent") {
			t.Errorf("%s not UTF-8: %q, want a client-side refusal (ByClient, no 'forkjournald')", tc.field, err)
		}
	}
	// A refusal the daemon made still names it.
	_, err = c.Template(ctx, "tplmissing")
	var fe *forkjournal.Error
	if !errors.As(err, &fe) || fe.ByClient || !strings.Contains(err.Error(), "forkjournald: not_found") {
		t.Errorf("the daemon's not_found: %q, want it named as forkjournald's answer", err)
	}
	s3, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s3.Requests-s2.Requests != perStats || s3.Appended != 1 {
		t.Fatalf("after the refusals: %d requests (want %d, the stats call's), %d appended (want 1)",
			s3.Requests-s2.Requests, perStats, s3.Appended)
	}
}

// A nil context is an error, the same for every call, not a panic.
func TestNilContext(t *testing.T) {
	d := newDaemon(t)
	c := d.dial(t)
	var nilCtx context.Context
	_, ferr := c.Fork(nilCtx, "tpl0web", "frk0web1")
	_, perr := c.Ping(nilCtx)
	for _, err := range []error{ferr, perr} {
		if err == nil || !strings.Contains(err.Error(), "nil context") || !errors.Is(err, forkjournal.ErrNotApplied) {
			t.Errorf("call with a nil context: %v", err)
		}
	}
}

// Every error code of docs/protocol.md has a sentinel.
func TestSentinelForEveryCode(t *testing.T) {
	f, err := os.Open("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	have := map[string]bool{}
	for _, e := range []*forkjournal.Error{forkjournal.ErrBadRequest, forkjournal.ErrTooSlow, forkjournal.ErrUnknownOp,
		forkjournal.ErrInvalidID, forkjournal.ErrTooLarge, forkjournal.ErrAlreadyExists, forkjournal.ErrNotFound,
		forkjournal.ErrRetired, forkjournal.ErrAlreadyLive, forkjournal.ErrInUse, forkjournal.ErrJournalFull,
		forkjournal.ErrBusy, forkjournal.ErrTimeout, forkjournal.ErrStopping, forkjournal.ErrInternal} {
		have[e.Code] = true
	}
	codes := 0
	in := false
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## Error codes"
			continue
		}
		if in && strings.HasPrefix(line, "| `") {
			code := strings.SplitN(line, "`", 3)[1]
			codes++
			if !have[code] {
				t.Errorf("code %q has no sentinel", code)
			}
		}
	}
	if codes != len(have) {
		t.Fatalf("protocol.md lists %d codes, the client has %d sentinels", codes, len(have))
	}
}
