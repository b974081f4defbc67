package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for the concurrent writes of a
// running server's log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serve runs in this process too, so that the race detector sees it,
// and twice, so that the expvar is published once and then follows the
// newest recorder: the first run has the demo record events, the
// second records none and must show a count of 0.
func TestRunServeInProcess(t *testing.T) {
	db := filepath.Join(t.TempDir(), "in.db")
	re := regexp.MustCompile(`(?m)^activitylog: listening on (http://127\.0\.0\.1:\d+)$`)
	keyRE := regexp.MustCompile(`(?m)^activitylog:\s+(alk_[0-9a-f]+_[a-z2-7]+)$`)
	var key string // the superuser key the first round prints
	for round := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		var stdout, stderr lockedBuffer
		code := make(chan int, 1)
		args := []string{"serve", "--addr", "127.0.0.1:0", "--db", db}
		withDemo := round == 0
		if withDemo {
			args = append(args, "--demo", "--demo-interval", "5ms")
		}
		go func() {
			code <- run(ctx, args, strings.NewReader(""), &stdout, &stderr, func(string) (string, bool) { return "", false })
		}()
		var url string
		for deadline := time.Now().Add(10 * time.Second); url == ""; {
			if m := re.FindStringSubmatch(stderr.String()); m != nil {
				url = m[1]
				if k := keyRE.FindStringSubmatch(stderr.String()); k != nil {
					key = k[1]
				}
			} else if time.Now().After(deadline) {
				cancel()
				t.Fatalf("round %d: no listening line:\n%s", round, stderr.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		recorded := func() uint64 {
			var vars struct {
				Activitylog struct {
					Recorded uint64 `json:"recorded"`
				} `json:"activitylog"`
			}
			req, _ := http.NewRequest("GET", url+"/debug/vars", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 {
				t.Fatalf("/debug/vars with the superuser key: %d", resp.StatusCode)
			}
			defer resp.Body.Close()
			if err := json.NewDecoder(resp.Body).Decode(&vars); err != nil {
				t.Fatal(err)
			}
			return vars.Activitylog.Recorded
		}
		if withDemo {
			for deadline := time.Now().Add(10 * time.Second); recorded() == 0; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the demo recorded nothing in 10s")
				}
			}
		} else if n := recorded(); n != 0 {
			t.Errorf("/debug/vars shows %d recorded: the previous run's recorder, not this one's", n)
		}
		cancel()
		select {
		case c := <-code:
			if c != 0 {
				t.Fatalf("round %d: exit %d:\n%s", round, c, stderr.String())
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("round %d: serve did not return within 15s of its context ending", round)
		}
	}
}
