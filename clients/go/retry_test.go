package forkjournal_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"forkjournal"
)

// kill -9 the daemon three times while 32 goroutines fork through one
// client, restart it on the same journal and socket each time: every fork
// the client reported is live exactly once, and none it did not report.
func TestKillAndRetryExactlyOnce(t *testing.T) {
	d := newDaemon(t)
	c := d.dial(t, forkjournal.WithRetryTimeout(20*time.Second))
	ctx := ctxFor(t, 45*time.Second)
	if _, err := c.Register(ctx, "tpl0web", "src0web", "web"); err != nil {
		t.Fatal(err)
	}

	var (
		mu       sync.Mutex
		ok       = map[string]forkjournal.WriteResult{}
		failed   []error
		stop     atomic.Bool
		wg       sync.WaitGroup
		reported atomic.Int64
	)
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				fork := fmt.Sprintf("frk-%d-%d", g, i)
				r, err := c.Fork(ctx, "tpl0web", fork)
				mu.Lock()
				if err != nil {
					failed = append(failed, fmt.Errorf("%s: %w", fork, err))
				} else {
					ok[fork] = r
				}
				mu.Unlock()
				reported.Add(1)
			}
		}(g)
	}
	for kill := 0; kill < 3; kill++ {
		// Kill while writes are in flight: some were sent and not answered.
		for target := reported.Load() + 50; reported.Load() < target; {
			time.Sleep(time.Millisecond)
		}
		d.kill9()
		time.Sleep(20 * time.Millisecond)
		d.start(t)
	}
	for target := reported.Load() + 50; reported.Load() < target; {
		time.Sleep(time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()

	for _, err := range failed {
		t.Errorf("a write failed across restarts: %v", err)
	}
	var want []string
	seqs := map[uint64]string{}
	replayed := 0
	for fork, r := range ok {
		want = append(want, fork)
		if other, dup := seqs[r.Seq]; dup {
			t.Errorf("%s and %s both report seq %d", fork, other, r.Seq)
		}
		seqs[r.Seq] = fork
		if r.Replayed {
			replayed++
		}
	}
	sort.Strings(want)
	tpl, err := c.Template(ctx, "tpl0web")
	if err != nil {
		t.Fatal(err)
	}
	if tpl.Forks != uint64(len(want)) || !reflect.DeepEqual(tpl.LiveForks, want) {
		t.Fatalf("after 3 kills: %d live forks, the client reported %d successes", tpl.Forks, len(want))
	}
	counts, err := c.Counts(ctx)
	if err != nil || len(counts.Templates) != 1 || counts.Templates[0].Forks != uint64(len(want)) {
		t.Fatalf("Counts = %+v, %v; want %d forks", counts, err, len(want))
	}
	// Nothing but the register and the reported forks was ever appended.
	if tpl.Seq != uint64(len(want))+1 {
		t.Fatalf("head seq %d, want %d (1 register + %d forks)", tpl.Seq, len(want)+1, len(want))
	}
	t.Logf("%d forks across 3 kill -9s, %d answered as replayed", len(want), replayed)
}

// A write whose reply was lost (the daemon was killed after reading it, or
// after applying it) is resent with its request_id and applied once.
func TestReplayAfterRestart(t *testing.T) {
	d := newDaemon(t)
	c := d.dial(t, forkjournal.WithRetryTimeout(10*time.Second))
	ctx := ctxFor(t, 20*time.Second)
	if _, err := c.Register(ctx, "tpl0web", "src0web", "web"); err != nil {
		t.Fatal(err)
	}
	raw, err := net.Dial("unix", d.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// Applied and answered, but the answer never reached the client.
	if _, err := io.WriteString(raw, `{"op":"fork","template":"tpl0web","fork":"frk0a","request_id":"vmm-a"}`+"\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(raw).ReadString('\n'); err != nil || line != `{"id":null,"ok":true,"seq":2}`+"\n" {
		t.Fatalf("raw fork: %q, %v", line, err)
	}
	// Sent, and the daemon killed before anyone read a reply.
	if _, err := io.WriteString(raw, `{"op":"fork","template":"tpl0web","fork":"frk0b","request_id":"vmm-b"}`+"\n"); err != nil {
		t.Fatal(err)
	}
	d.kill9()
	d.start(t)

	a, err := c.Fork(forkjournal.WithRequestID(ctx, "vmm-a"), "tpl0web", "frk0a")
	if err != nil || !a.Replayed || a.Seq != 2 || a.RequestID != "vmm-a" {
		t.Fatalf("resent vmm-a = %+v, %v; want seq 2 replayed", a, err)
	}
	b, err := c.Fork(forkjournal.WithRequestID(ctx, "vmm-b"), "tpl0web", "frk0b")
	if err != nil || b.Seq != 3 {
		t.Fatalf("resent vmm-b = %+v, %v; want seq 3", b, err)
	}
	again, err := c.Fork(forkjournal.WithRequestID(ctx, "vmm-b"), "tpl0web", "frk0b")
	if err != nil || !again.Replayed || again.Seq != 3 {
		t.Fatalf("vmm-b a third time = %+v, %v; want seq 3 replayed", again, err)
	}
	tpl, err := c.Template(ctx, "tpl0web")
	if err != nil || !reflect.DeepEqual(tpl.LiveForks, []string{"frk0a", "frk0b"}) || tpl.Seq != 3 {
		t.Fatalf("Template = %+v, %v", tpl, err)
	}
}

// The client itself resends a write whose reply was lost with the same
// request_id: a proxy drops the connection instead of passing the reply on.
func TestClientRetriesLostReply(t *testing.T) {
	d := newDaemon(t)
	p := newProxy(t, d.socket, filepath.Join(d.dir, "proxy"))
	c, err := forkjournal.Dial(ctxFor(t, 10*time.Second), p.path, forkjournal.WithPoolSize(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := ctxFor(t, 20*time.Second)
	if _, err := c.Register(ctx, "tpl0web", "src0web", "web"); err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"fork", "unfork", "fork again", "unfork again", "retire"} {
		p.dropNext.Store(true)
		var r forkjournal.WriteResult
		var err error
		switch op {
		case "fork", "fork again":
			r, err = c.Fork(ctx, "tpl0web", "frk0web1")
		case "unfork", "unfork again":
			r, err = c.Unfork(ctx, "tpl0web", "frk0web1")
		case "retire":
			r, err = c.Retire(ctx, "tpl0web")
		}
		if err != nil || !r.Replayed {
			t.Fatalf("%s with its reply dropped: %+v, %v; want replayed", op, r, err)
		}
	}
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Appended != 6 {
		t.Fatalf("%d events appended, want 6 (register, fork, unfork, fork, unfork, retire)", st.Appended)
	}
}

// proxy passes lines between clients and the daemon; with dropNext set it
// swallows the next reply and closes that connection.
type proxy struct {
	path     string
	dropNext atomic.Bool
}

func newProxy(t *testing.T, target, path string) *proxy {
	p := &proxy{path: path}
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("unix", target)
			if err != nil {
				client.Close()
				continue
			}
			go func() {
				_, _ = io.Copy(server, client)
				server.Close()
			}()
			go func() {
				defer client.Close()
				defer server.Close()
				r := bufio.NewReader(server)
				for {
					line, err := r.ReadBytes('\n')
					if err != nil {
						return
					}
					if p.dropNext.CompareAndSwap(true, false) {
						return
					}
					if _, err := client.Write(line); err != nil {
						return
					}
				}
			}()
		}
	}()
	return p
}
