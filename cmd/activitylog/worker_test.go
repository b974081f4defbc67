package main

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Two serve replicas and a worker over NATS JetStream: an event posted
// to replica A is published, stored by the worker, read back through
// replica B, and shown on B's live stream (through the live subject),
// each exactly once.
func TestServeWorkerNATS(t *testing.T) {
	t.Parallel()
	u := os.Getenv("ACTIVITYLOG_TEST_NATS_URL")
	if u == "" {
		t.Skip("set ACTIVITYLOG_TEST_NATS_URL=nats://127.0.0.1:4222 to run serve and worker over NATS JetStream")
	}
	suffix := strings.ReplaceAll(activitylog.NewID(time.Now()).String()[24:], "-", "")
	stream, prefix := "ALCLI_"+suffix, "alcli"+suffix
	nc, err := nats.Connect(u)
	if err != nil {
		t.Fatalf("connect to %s: %v", u, err)
	}
	defer nc.Close()
	t.Cleanup(func() {
		js, _ := jetstream.New(nc)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		js.DeleteStream(ctx, stream)
	})
	dir := t.TempDir()
	control, events := filepath.Join(dir, "control.db"), filepath.Join(dir, "events.db")
	natsArgs := []string{"--nats-url", u, "--nats-stream", stream, "--nats-prefix", prefix}

	a := startServe(t, append([]string{"--db", control, "--store", "sqlite://" + events}, natsArgs...)...)
	b := startServe(t, append([]string{"--db", control, "--store", "sqlite://" + events}, natsArgs...)...)
	w := exec.Command(bin, append([]string{"worker", "--db", events}, natsArgs...)...)
	w.Env = environ()
	wlog := &syncBuffer{}
	w.Stderr = lineWriter{wlog}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.Process.Kill()
		w.Wait()
		if t.Failed() {
			t.Logf("worker log:\n%s", wlog.String())
		}
	})

	// B's live stream, open before the event is posted.
	req, _ := http.NewRequest("GET", b.url+"/api/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer "+a.key)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/stream on B: %d", resp.StatusCode)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()

	var posted struct {
		IDs []string `json:"ids"`
	}
	body := `{"kind":"crud","action":"update","object":{"type":"invoice","id":"NATS-1"}}`
	if code := a.do(t, "POST", a.key, "/api/v1/events", body, &posted); code != http.StatusCreated || len(posted.IDs) != 1 {
		t.Fatalf("POST to A: %d %+v", code, posted)
	}
	id := posted.IDs[0]

	seen := false
	for !seen {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("B's stream ended before the event arrived")
			}
			seen = strings.HasPrefix(l, "data:") && strings.Contains(l, id)
		case <-ctx.Done():
			t.Fatal("the event posted to A never reached B's live stream")
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var l list
		b.get(t, a.key, "/api/v1/events?"+url.Values{"object_id": {"NATS-1"}}.Encode(), &l)
		if l.Count == 1 && l.Results[0].ID.String() == id {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B does not find the event the worker should have stored: %+v", l)
		}
		time.Sleep(100 * time.Millisecond)
	}
	a.stop(t)
	b.stop(t)
	w.Process.Signal(os.Interrupt)
	w.Wait()

	st, err := sqlite.Open(events, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := st.Count(context.Background(), activitylog.Filter{ObjectID: "NATS-1"})
	if err != nil || n != 1 {
		t.Fatalf("the store holds %d copies of the event (%v), want 1", n, err)
	}
	ctl, err := sqlite.Open(control, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	if n, _ := ctl.Count(context.Background(), activitylog.Filter{ObjectID: "NATS-1"}); n != 0 {
		t.Fatalf("serve wrote the event itself (%d in db)", n)
	}
}

// lineWriter feeds a syncBuffer line by line.
type lineWriter struct{ b *syncBuffer }

func (w lineWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.b.WriteLine(l)
	}
	return len(p), nil
}
