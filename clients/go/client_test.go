package forkjournal_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"forkjournal"
)

func TestEveryOp(t *testing.T) {
	d := newDaemon(t)
	c := d.dial(t)
	ctx := ctxFor(t, 20*time.Second)

	v, err := c.Ping(ctx)
	if err != nil || v == "" {
		t.Fatalf("Ping = %q, %v", v, err)
	}
	reg, err := c.Register(ctx, "tpl0web", "src0web", "web")
	if err != nil || reg.Seq != 1 || reg.Replayed || reg.RequestID == "" {
		t.Fatalf("Register = %+v, %v", reg, err)
	}
	if _, err := c.Register(ctx, "tpl0db", "src0db", ""); err != nil {
		t.Fatal(err)
	}
	f1, err := c.Fork(ctx, "tpl0web", "frk0web1")
	if err != nil || f1.Seq != 3 {
		t.Fatalf("Fork = %+v, %v", f1, err)
	}
	if _, err := c.Fork(ctx, "tpl0web", "frk0web2"); err != nil {
		t.Fatal(err)
	}
	u, err := c.Unfork(ctx, "tpl0web", "frk0web1")
	if err != nil || u.Seq != 5 || u.Noop {
		t.Fatalf("Unfork = %+v, %v", u, err)
	}

	counts, err := c.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := forkjournal.Counts{Seq: 5, Templates: []forkjournal.TemplateCount{
		{Template: "tpl0db", Source: "src0db", Name: "", State: forkjournal.StateActive, Forks: 0},
		{Template: "tpl0web", Source: "src0web", Name: "web", State: forkjournal.StateActive, Forks: 1},
	}}
	if !reflect.DeepEqual(counts, want) {
		t.Fatalf("Counts = %+v, want %+v", counts, want)
	}

	tpl, err := c.Template(ctx, "tpl0web")
	if err != nil {
		t.Fatal(err)
	}
	wantTpl := forkjournal.Template{Template: "tpl0web", Source: "src0web", Name: "web",
		State: forkjournal.StateActive, Forks: 1, LiveForks: []string{"frk0web2"}, LastSeq: 5, Seq: 5}
	if !reflect.DeepEqual(tpl, wantTpl) {
		t.Fatalf("Template = %+v, want %+v", tpl, wantTpl)
	}

	snap, err := c.Snapshot(ctx)
	if err != nil || snap != 5 {
		t.Fatalf("Snapshot = %d, %v", snap, err)
	}
	ret, err := c.Retire(ctx, "tpl0db")
	if err != nil || ret.Seq != 6 {
		t.Fatalf("Retire = %+v, %v", ret, err)
	}
	tpl, err = c.Template(ctx, "tpl0db")
	if err != nil || tpl.State != forkjournal.StateRetired {
		t.Fatalf("Template(retired) = %+v, %v", tpl, err)
	}

	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.HeadSeq != 6 || st.Events != 6 || st.Appended != 6 || st.Commits == 0 || st.Requests < 6 ||
		st.AverageBatch <= 0 || st.Snapshots == 0 || st.UptimeSeconds <= 0 || st.Ship != nil {
		t.Fatalf("Stats = %+v (Ship nil without --ship)", st)
	}

	// Without --data-root the daemon refuses to reconcile.
	if _, err := c.Reconcile(ctx, true); !errors.Is(err, forkjournal.ErrBadRequest) {
		t.Fatalf("Reconcile without a data root: %v, want bad_request", err)
	}
}

func TestReconcile(t *testing.T) {
	root, err := os.MkdirTemp("", "fjgo-root")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.MkdirAll(filepath.Join(root, "guests"), 0o755); err != nil {
		t.Fatal(err)
	}
	// No grace: a fork with no directory is lost at once, not pending.
	d := newDaemon(t, "--data-root", root, "--fork-grace", "0")
	c := d.dial(t)
	ctx := ctxFor(t, 20*time.Second)

	dry, err := c.Reconcile(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if !dry.DryRun || dry.Committed || len(dry.Corrections) != 0 || len(dry.Raw) == 0 {
		t.Fatalf("dry run = %+v", dry)
	}
	// A fork recorded whose directory never appeared is corrected as lost;
	// the template, without files, is swept (retired).
	if _, err := c.Register(ctx, "tpl0web", "src0web", "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Fork(ctx, "tpl0web", "frk0web1"); err != nil {
		t.Fatal(err)
	}
	rep, err := c.Reconcile(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Corrections) != 1 {
		t.Fatalf("reconcile = %+v, want one correction", rep)
	}
	lost := []forkjournal.Correction{{Type: "fork_lost", Template: "tpl0web", Fork: "frk0web1",
		Reason: "instance_missing", Evidence: rep.Corrections[0].Evidence}}
	if rep.DryRun || rep.BasedOnSeq != 2 || !rep.Committed || rep.FirstSeq != 3 ||
		!reflect.DeepEqual(rep.Corrections, lost) || !reflect.DeepEqual(rep.Swept, []string{"tpl0web"}) {
		t.Fatalf("reconcile = %+v", rep)
	}
	tpl, err := c.Template(ctx, "tpl0web")
	if err != nil || tpl.Forks != 0 || tpl.State != forkjournal.StateRetired || tpl.Seq != rep.LastSeq {
		t.Fatalf("Template after the reconcile = %+v, %v", tpl, err)
	}
	// The VM manager's unfork after the reconciler recorded the loss is a
	// no-op answering the loss's seq.
	u, err := c.Unfork(ctx, "tpl0web", "frk0web1")
	if err != nil || !u.Noop || u.Seq != 3 {
		t.Fatalf("Unfork after the loss was recorded = %+v, %v", u, err)
	}
}

// A fork recorded moments ago with no directory yet is pending, not lost,
// within the daemon's default grace: its template stays in use.
func TestReconcileKeepsARecentForkPending(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "guests", "src0web"), 0o755); err != nil {
		t.Fatal(err)
	}
	d := newDaemon(t, "--data-root", root)
	c := d.dial(t)
	ctx := ctxFor(t, 20*time.Second)
	if _, err := c.Register(ctx, "tpl0web", "src0web", "web"); err != nil {
		t.Fatal(err)
	}
	f, err := c.Fork(ctx, "tpl0web", "frk0web1")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := c.Reconcile(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Corrections) != 0 || len(rep.Pending) != 1 {
		t.Fatalf("reconcile = %+v, want one pending fork and no correction", rep)
	}
	p := rep.Pending[0]
	if p.Fork != "frk0web1" || p.Template != "tpl0web" || p.Seq != f.Seq || p.AgeSeconds < 0 {
		t.Fatalf("pending = %+v, want frk0web1 of tpl0web at seq %d", p, f.Seq)
	}
	if _, err := c.Retire(ctx, "tpl0web"); !errors.Is(err, forkjournal.ErrInUse) {
		t.Fatalf("Retire with a pending fork: %v, want ErrInUse", err)
	}
}

func TestTypedErrors(t *testing.T) {
	d := newDaemon(t)
	c := d.dial(t)
	ctx := ctxFor(t, 20*time.Second)
	if _, err := c.Register(ctx, "tpl0web", "src0web", "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Fork(ctx, "tpl0web", "frk0web1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(ctx, "tpl0gone", "src0gone", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Retire(ctx, "tpl0gone"); err != nil {
		t.Fatal(err)
	}
	reused := forkjournal.WithRequestID(ctx, "go-test-reused")
	if _, err := c.Fork(reused, "tpl0web", "frk0web9"); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		call func() error
		want *forkjournal.Error
	}{
		{"retire with a live fork", func() error { _, err := c.Retire(ctx, "tpl0web"); return err }, forkjournal.ErrInUse},
		{"fork already live", func() error { _, err := c.Fork(ctx, "tpl0web", "frk0web1"); return err }, forkjournal.ErrAlreadyLive},
		{"register twice", func() error { _, err := c.Register(ctx, "tpl0web", "src0web", ""); return err }, forkjournal.ErrAlreadyExists},
		{"fork of an unknown template", func() error { _, err := c.Fork(ctx, "tpl0none", "frk0x"); return err }, forkjournal.ErrNotFound},
		{"unfork of a fork not live", func() error { _, err := c.Unfork(ctx, "tpl0web", "frk0none"); return err }, forkjournal.ErrNotFound},
		{"template unknown", func() error { _, err := c.Template(ctx, "tpl0none"); return err }, forkjournal.ErrNotFound},
		{"fork of a retired template", func() error { _, err := c.Fork(ctx, "tpl0gone", "frk0y"); return err }, forkjournal.ErrRetired},
		{"retire twice", func() error { _, err := c.Retire(ctx, "tpl0gone"); return err }, forkjournal.ErrRetired},
		{"invalid id", func() error { _, err := c.Fork(ctx, "tpl/web", "frk0z"); return err }, forkjournal.ErrInvalidID},
		{"request_id reused for another request", func() error { _, err := c.Fork(reused, "tpl0web", "frk0web8"); return err }, forkjournal.ErrBadRequest},
		{"request_id not printable", func() error {
			_, err := c.Fork(forkjournal.WithRequestID(ctx, "bad\x01id"), "tpl0web", "frk0web7")
			return err
		}, forkjournal.ErrBadRequest},
	}
	for _, tc := range cases {
		err := tc.call()
		var fe *forkjournal.Error
		if !errors.Is(err, tc.want) || !errors.As(err, &fe) || fe.Message == "" {
			t.Errorf("%s: %v, want %s with a message", tc.name, err, tc.want.Code)
			continue
		}
		for _, other := range []error{forkjournal.ErrInternal, forkjournal.ErrBusy, forkjournal.ErrTimeout} {
			if errors.Is(err, other) {
				t.Errorf("%s: %v also matches %v", tc.name, err, other)
			}
		}
	}
	// Refusals leave the connections usable and store nothing.
	tpl, err := c.Template(ctx, "tpl0web")
	if err != nil || !reflect.DeepEqual(tpl.LiveForks, []string{"frk0web1", "frk0web9"}) {
		t.Fatalf("Template = %+v, %v", tpl, err)
	}
}

// The busy error (--max-connections reached) is typed and retried until the
// retry timeout; the client uses a connection once one is free.
func TestBusy(t *testing.T) {
	d := newDaemon(t, "--max-connections", "1")
	holder := d.dial(t, forkjournal.WithPoolSize(1))
	ctx := ctxFor(t, 20*time.Second)
	if _, err := holder.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	other, err := forkjournal.Dial(ctx, d.socket, forkjournal.WithRetryTimeout(300*time.Millisecond))
	if err == nil {
		other.Close()
		t.Fatal("a second client was served past --max-connections 1")
	}
	if !errors.Is(err, forkjournal.ErrBusy) {
		t.Fatalf("Dial past --max-connections: %v, want busy", err)
	}
	holder.Close()
	late, err := forkjournal.Dial(ctx, d.socket, forkjournal.WithPoolSize(1))
	if err != nil {
		t.Fatalf("Dial once the connection is free: %v", err)
	}
	late.Close()
}

// 64 goroutines fork through one client; every fork is counted once.
func TestConcurrentForks(t *testing.T) {
	d := newDaemon(t)
	c := d.dial(t)
	ctx := ctxFor(t, 30*time.Second)
	if _, err := c.Register(ctx, "tpl0web", "src0web", "web"); err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 64, 20
	var wg sync.WaitGroup
	seqs := make(chan uint64, goroutines*each)
	errs := make(chan error, goroutines*each)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				r, err := c.Fork(ctx, "tpl0web", fmt.Sprintf("frk-%d-%d", g, i))
				if err != nil {
					errs <- err
					continue
				}
				seqs <- r.Seq
			}
		}(g)
	}
	wg.Wait()
	close(seqs)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var all []uint64
	for s := range seqs {
		all = append(all, s)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	for i, s := range all {
		if s != uint64(i)+2 {
			t.Fatalf("seqs are not 2..%d without gaps or repeats: %v", goroutines*each+1, all)
		}
	}
	counts, err := c.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(counts.Templates) != 1 || counts.Templates[0].Forks != goroutines*each {
		t.Fatalf("Counts = %+v, want %d forks", counts, goroutines*each)
	}
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d forks in %d commits (average batch %.1f)", st.Appended-1, st.Commits, st.AverageBatch)
}

// With the daemon gone, a call returns when its context ends.
func TestDeadlineWhenDaemonGone(t *testing.T) {
	d := newDaemon(t)
	c := d.dial(t)
	d.kill9()
	for _, timeout := range []time.Duration{200 * time.Millisecond, 500 * time.Millisecond} {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		start := time.Now()
		_, err := c.Fork(ctx, "tpl0web", "frk0web1")
		took := time.Since(start)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Fork with the daemon gone: %v, want a deadline error", err)
		}
		if took < timeout || took > timeout+time.Second {
			t.Fatalf("Fork with a %v deadline returned after %v", timeout, took)
		}
	}
	// Cancellation, too.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := c.Ping(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Ping cancelled: %v", err)
	}
	// Without a deadline the retry timeout bounds it.
	short, err := forkjournal.Dial(context.Background(), d.socket, forkjournal.WithRetryTimeout(200*time.Millisecond))
	if err == nil {
		short.Close()
		t.Fatal("Dial succeeded with no daemon")
	}
	if !errors.Is(err, forkjournal.ErrUnavailable) {
		t.Fatalf("Dial with no daemon: %v, want ErrUnavailable", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Ping(context.Background()); !errors.Is(err, forkjournal.ErrClosed) {
		t.Fatalf("Ping after Close: %v", err)
	}
}
