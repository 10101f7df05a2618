package forkjournal_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"forkjournal"
)

// BenchmarkGroupCommit64: 64 goroutines fork through one client against a
// daemon in its default --sync full mode; concurrent writes share fsyncs.
// The daemon serves one request per connection at a time, so a commit
// batches at most one write per connection: the pool has one connection per
// goroutine. Reports events/s and the average batch (events per commit).
func BenchmarkGroupCommit64(b *testing.B) {
	const goroutines = 64
	d := newDaemon(b)
	c := d.dial(b, forkjournal.WithPoolSize(goroutines))
	ctx := ctxFor(b, 10*time.Minute)
	if _, err := c.Register(ctx, "tpl0bench", "src0bench", "bench"); err != nil {
		b.Fatal(err)
	}
	var next int64
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	b.ResetTimer()
	start := time.Now()
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := atomic.AddInt64(&next, 1)
				if i > int64(b.N) {
					return
				}
				if _, err := c.Fork(ctx, "tpl0bench", fmt.Sprintf("frk-%d", i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	if st, err := c.Stats(ctx); err == nil {
		b.ReportMetric(st.AverageBatch, "events/commit")
	}
}
