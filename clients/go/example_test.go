package forkjournal_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"forkjournal"
)

// A VM manager records each step in the order that lets every crash window
// heal at the next reconcile: a fork is recorded before its directory is
// created, an unfork after its data is gone, a retirement before the
// template's files are removed.
func Example() {
	dir, err := os.MkdirTemp("", "fjex")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	socket, stop := startExampleDaemon(dir)
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := forkjournal.Dial(ctx, socket)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	dataRoot := filepath.Join(dir, "data")
	templateDir := filepath.Join(dataRoot, "templates", "tpl0web")
	forkDir := filepath.Join(dataRoot, "guests", "frk0web1")
	if err := os.MkdirAll(templateDir, 0o755); err != nil {
		log.Fatal(err)
	}
	if _, err := c.Register(ctx, "tpl0web", "src0web", "web"); err != nil {
		log.Fatal(err)
	}

	// Fork: record, then create.
	f, err := c.Fork(ctx, "tpl0web", "frk0web1")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(forkDir, 0o755); err != nil {
		log.Fatal(err)
	}
	fmt.Println("fork recorded at seq", f.Seq)

	// The template cannot be retired while the fork lives.
	_, err = c.Retire(ctx, "tpl0web")
	fmt.Println("retire refused, in use:", errors.Is(err, forkjournal.ErrInUse))

	// Unfork: remove the data, then record.
	if err := os.RemoveAll(forkDir); err != nil {
		log.Fatal(err)
	}
	u, err := c.Unfork(ctx, "tpl0web", "frk0web1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("unfork recorded at seq", u.Seq)

	// Retire: record, then remove the template's files.
	r, err := c.Retire(ctx, "tpl0web")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.RemoveAll(templateDir); err != nil {
		log.Fatal(err)
	}
	fmt.Println("retired at seq", r.Seq)

	counts, err := c.Counts(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range counts.Templates {
		fmt.Println(t.Template, t.State, t.Forks, "forks")
	}
	// Output:
	// fork recorded at seq 2
	// retire refused, in use: true
	// unfork recorded at seq 3
	// retired at seq 4
	// tpl0web retired 0 forks
}

// startExampleDaemon runs $FORKJOURNALD on a journal in dir and waits until
// its socket accepts connections (Dial then waits for the end of its boot).
func startExampleDaemon(dir string) (socket string, stop func()) {
	socket = filepath.Join(dir, "sock")
	cmd := exec.Command(os.Getenv("FORKJOURNALD"), "--journal", filepath.Join(dir, "journal"), "--socket", socket)
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		if nc, err := net.Dial("unix", socket); err == nil {
			nc.Close()
			break
		}
		if time.Now().After(deadline) {
			log.Fatal("forkjournald did not listen on ", socket)
		}
	}
	return socket, func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}
}
