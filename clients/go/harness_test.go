package forkjournal_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"forkjournal"
)

// TestMain refuses to run without the daemon: a missing binary must fail the
// suite, not skip it.
func TestMain(m *testing.M) {
	bin := os.Getenv("FORKJOURNALD")
	if bin == "" {
		fmt.Fprintln(os.Stderr, "FORKJOURNALD must name the forkjournald binary (e.g. build/bin/forkjournald)")
		os.Exit(2)
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		fmt.Fprintf(os.Stderr, "FORKJOURNALD=%s: not a file: %v\n", bin, err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// daemon is one forkjournald child on a journal and socket of its own.
type daemon struct {
	dir, journal, socket, log string
	extra                     []string
	cmd                       *exec.Cmd
	exited                    chan error // receives the Wait result; nil when not running
	starts                    int
}

// newDaemon starts forkjournald on a new journal in a short temporary
// directory (a socket path has at most 107 bytes) and waits until it
// answers a ping. It is killed when the test ends.
func newDaemon(tb testing.TB, extra ...string) *daemon {
	tb.Helper()
	dir, err := os.MkdirTemp("", "fjgo")
	if err != nil {
		tb.Fatal(err)
	}
	d := &daemon{dir: dir, journal: filepath.Join(dir, "journal"), socket: filepath.Join(dir, "sock"), extra: extra}
	tb.Cleanup(func() {
		d.kill9()
		if !tb.Failed() {
			os.RemoveAll(dir)
		} else {
			tb.Logf("daemon files kept in %s", dir)
		}
	})
	d.start(tb)
	return d
}

// start runs the daemon (again) on the same journal and socket.
func (d *daemon) start(tb testing.TB) {
	tb.Helper()
	d.starts++
	d.log = filepath.Join(d.dir, fmt.Sprintf("daemon%d.log", d.starts))
	logf, err := os.Create(d.log)
	if err != nil {
		tb.Fatal(err)
	}
	defer logf.Close()
	args := append([]string{"--journal", d.journal, "--socket", d.socket}, d.extra...)
	d.cmd = exec.Command(os.Getenv("FORKJOURNALD"), args...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan error, 1)
	go func(cmd *exec.Cmd) { exited <- cmd.Wait() }(d.cmd)
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			b, _ := os.ReadFile(d.log)
			tb.Fatalf("forkjournald ended (%v) before serving:\n%s", err, b)
		default:
		}
		if d.pings() {
			d.exited = exited
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("forkjournald does not answer on %s after 10 s", d.socket)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// pings reports whether the daemon serves (not just queues) connections.
func (d *daemon) pings() bool {
	nc, err := net.DialTimeout("unix", d.socket, time.Second)
	if err != nil {
		return false
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Write([]byte(`{"op":"ping"}` + "\n")); err != nil {
		return false
	}
	buf := make([]byte, 256)
	n, _ := nc.Read(buf)
	return n > 0
}

// kill9 kills the daemon with SIGKILL (no snapshot, no socket removal) and
// reaps it.
func (d *daemon) kill9() {
	if d.exited == nil {
		return
	}
	_ = d.cmd.Process.Kill()
	<-d.exited
	d.exited = nil
}

// dial connects a client with a short retry timeout unless opts say more.
func (d *daemon) dial(tb testing.TB, opts ...forkjournal.Option) *forkjournal.Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := forkjournal.Dial(ctx, d.socket, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

func ctxFor(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}
