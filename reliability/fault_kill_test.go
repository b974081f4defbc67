package reliability

import (
	"bufio"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/spool"
	"github.com/activitylog/activitylog/sqlite"
)

const (
	killDirEnv = "ACTIVITYLOG_TEST_RELIABILITY_KILL_DIR"
	killGroup  = 10 // events committed together
	killAction = "kill9"
)

// TestKillChild is TestFaultKill9's child: a Recorder writing to SQLite
// through a spool.Fallback whose primary fails half the time (30ms down,
// 30ms up), so that batches go to the store, to the spool, and back from
// the spool in replays. Four goroutines commit groups of events and
// print "A id id …" once a group is committed, to the store or the
// spool. It runs until killed.
func TestKillChild(t *testing.T) {
	dir := os.Getenv(killDirEnv)
	if dir == "" {
		t.Skip("child process of TestFaultKill9")
	}
	die := func(err error) { os.Stderr.WriteString(err.Error() + "\n"); os.Exit(2) }
	store, err := sqlite.Open(filepath.Join(dir, "audit.db"), nil)
	if err != nil {
		die(err)
	}
	sp, err := spool.Open(filepath.Join(dir, "spool"), &spool.Options{SegmentBytes: 64 << 10})
	if err != nil {
		die(err)
	}
	sw := &switchWriter{w: store}
	go func() {
		for down := true; ; down = !down {
			sw.set(down)
			time.Sleep(30 * time.Millisecond)
		}
	}()
	fb := spool.NewFallback(sw, sp, &spool.FallbackOptions{Timeout: time.Second, ReplayInterval: 20 * time.Millisecond, Logger: discard})
	rec := activitylog.NewRecorder(fb, &activitylog.Options{BatchSize: 50, FlushInterval: 2 * time.Millisecond, Logger: discard})
	var out sync.Mutex
	for range 4 {
		go func() {
			for {
				es := make([]activitylog.Event, killGroup)
				for i := range es {
					es[i] = activitylog.Event{ID: activitylog.NewID(time.Now()), Kind: activitylog.KindCustom, Action: killAction}
				}
				if err := rec.Commit(context.Background(), es); err != nil {
					die(err)
				}
				var b strings.Builder
				b.WriteString("A")
				for _, e := range es {
					b.WriteString(" " + e.ID.String())
				}
				b.WriteString("\n")
				out.Lock()
				os.Stdout.WriteString(b.String())
				out.Unlock()
			}
		}()
	}
	select {}
}

// TestFaultKill9 runs TestKillChild on one store and spool several
// times, kills it with SIGKILL at a random moment each time (mid-batch,
// mid-replay), then reopens the spool and replays it into the store, as
// the next start does. Every event the child reported committed must be
// stored exactly once.
func TestFaultKill9(t *testing.T) {
	dir := t.TempDir()
	acked := map[string]bool{}
	const rounds = 3
	for r := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), killDirEnv+"="+dir)
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
		var all []string
		first, ok := <-lines
		if !ok {
			cmd.Wait()
			t.Fatalf("child printed nothing: %s", stderr.String())
		}
		all = append(all, first)
		timer := time.After(time.Duration(100+rand.IntN(400)) * time.Millisecond)
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
		// A last line the kill cut short has too few fields.
		for _, l := range all {
			f := strings.Fields(l)
			if len(f) == killGroup+1 && f[0] == "A" {
				for _, id := range f[1:] {
					acked[id] = true
				}
			}
		}
		t.Logf("round %d: %d events committed so far", r, len(acked))
	}
	if len(acked) == 0 {
		t.Fatal("the child committed nothing")
	}

	// The next start: reopen, replay what the spool holds.
	ctx := context.Background()
	store, err := sqlite.Open(filepath.Join(dir, "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sp, err := spool.Open(filepath.Join(dir, "spool"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	waiting, _ := sp.Len()
	replayed, err := sp.Replay(ctx, store)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	stored := map[string]int{}
	f := activitylog.Filter{Kind: activitylog.KindCustom, Action: killAction, PageSize: activitylog.MaxPageSize, Ordering: "time"}
	for {
		p, err := store.Query(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Events {
			stored[e.ID.String()]++
		}
		if p.Next == "" {
			break
		}
		f.Cursor = p.Next
	}
	var missing, dups int
	for id := range acked {
		if stored[id] == 0 {
			missing++
		}
	}
	for _, n := range stored {
		if n > 1 {
			dups += n - 1
		}
	}
	t.Logf("%d events committed by the child; %d stored (%d waited in the spool, %d replayed at the restart)", len(acked), len(stored), waiting, replayed)
	if missing > 0 || dups > 0 {
		t.Errorf("of %d committed events, %d are not stored; %d stored twice", len(acked), missing, dups)
	}
	report(t, map[string]any{
		"test": "fault_kill9", "rounds": rounds, "committed": len(acked), "stored": len(stored),
		"spooled_at_restart": waiting, "replayed_at_restart": replayed, "events_lost": missing, "duplicates": dups,
	})
}
