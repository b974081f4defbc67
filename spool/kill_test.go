package spool_test

import (
	"bufio"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/spool"
)

const (
	killDirEnv  = "SPOOL_TEST_KILL_DIR"
	killSyncEnv = "SPOOL_TEST_KILL_SYNC"
	killBatch   = 20
)

// TestHelperProcess is the child of TestKill9: it writes batches from
// three goroutines and prints "W id id …" for each acknowledged batch,
// while a fourth replays the spool into a writer that prints
// "R id id …" for each batch it is given. It runs until killed.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(killDirEnv)
	if dir == "" {
		t.Skip("child process of TestKill9")
	}
	var o spool.Options
	o.SegmentBytes = 256 << 10
	if os.Getenv(killSyncEnv) != "" {
		o.SyncInterval = time.Millisecond
	}
	s, err := spool.Open(dir, &o)
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(2)
	}
	var out sync.Mutex
	print := func(tag string, es []activitylog.Event) {
		var b strings.Builder
		b.WriteString(tag)
		for _, e := range es {
			b.WriteString(" ")
			b.WriteString(e.ID.String())
		}
		b.WriteString("\n")
		out.Lock()
		os.Stdout.WriteString(b.String())
		out.Unlock()
	}
	for g := 0; g < 3; g++ {
		go func() {
			for i := 0; ; i++ {
				es := batch(i, killBatch)
				if err := s.Write(context.Background(), es); err != nil {
					os.Stderr.WriteString(err.Error() + "\n")
					os.Exit(3)
				}
				print("W", es)
			}
		}()
	}
	w := writerFunc(func(ctx context.Context, es []activitylog.Event) error { print("R", es); return nil })
	for {
		if _, err := s.Replay(context.Background(), w); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(4)
		}
		time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond)
	}
}

type writerFunc func(ctx context.Context, es []activitylog.Event) error

func (f writerFunc) Write(ctx context.Context, es []activitylog.Event) error { return f(ctx, es) }

// TestKill9 runs the child on one spool directory several times, kills
// it with SIGKILL at a random moment each time, then reopens the spool
// and replays it. Every batch the child acknowledged must be delivered:
// by the child's own replays or by the final one, each id exactly once,
// except that each kill may cost one batch sent twice (a replayed batch
// whose checkpoint the kill prevented).
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	for _, mode := range []string{"fsync", "group"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			acked := map[string]bool{}
			delivered := map[string]int{}
			const rounds = 4
			for r := 0; r < rounds; r++ {
				cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
				cmd.Env = append(os.Environ(), killDirEnv+"="+dir)
				if mode == "group" {
					cmd.Env = append(cmd.Env, killSyncEnv+"=1")
				}
				var stderr strings.Builder
				cmd.Stderr = &stderr
				stdout, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				lines := make(chan string, 1024)
				go func() {
					defer close(lines)
					sc := bufio.NewScanner(stdout)
					sc.Buffer(make([]byte, 64<<10), 1<<20)
					for sc.Scan() {
						lines <- sc.Text()
					}
				}()
				// Kill at a random moment after the child has started writing.
				first, ok := <-lines
				if !ok {
					cmd.Wait()
					t.Fatalf("child printed nothing: %s", stderr.String())
				}
				var all []string
				all = append(all, first)
				timer := time.After(time.Duration(20+rand.IntN(300)) * time.Millisecond)
			collect:
				for {
					select {
					case l, ok := <-lines:
						if !ok {
							break collect
						}
						all = append(all, l)
					case <-timer:
						cmd.Process.Signal(syscall.SIGKILL)
						timer = nil
					}
				}
				err = cmd.Wait()
				if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
					t.Fatalf("child did not die by SIGKILL: %v; stderr: %s", err, stderr.String())
				}
				// The scanner drops a last line without its newline: a
				// line the kill cut short was not fully printed.
				for _, l := range all {
					f := strings.Fields(l)
					if len(f) != killBatch+1 {
						continue
					}
					for _, id := range f[1:] {
						switch f[0] {
						case "W":
							acked[id] = true
						case "R":
							delivered[id]++
						}
					}
				}
				t.Logf("round %d: %d acknowledged, %d delivered so far", r, len(acked), len(delivered))
			}
			s, err := spool.Open(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			final := newMem()
			if _, err := s.Replay(context.Background(), final); err != nil {
				t.Fatal(err)
			}
			for id, n := range final.snapshot() {
				delivered[id.String()] += n
			}
			missing, dups := 0, 0
			for id := range acked {
				if delivered[id] == 0 {
					missing++
				}
			}
			for _, n := range delivered {
				if n > 1 {
					dups += n - 1
				}
			}
			if missing > 0 {
				t.Errorf("%d of %d acknowledged events were never delivered", missing, len(acked))
			}
			if dups > rounds*killBatch {
				t.Errorf("%d events delivered twice; at most one batch (%d) per kill may be", dups, killBatch)
			}
			if len(acked) == 0 {
				t.Error("the child acknowledged nothing")
			}
			t.Logf("%d acknowledged, %d delivered, %d sent twice", len(acked), len(delivered), dups)
		})
	}
}
