package slogaudit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/slogaudit"
)

func TestWriterJSONGolden(t *testing.T) {
	var buf bytes.Buffer
	w := slogaudit.NewWriter(slogaudit.NewJSONHandler(&buf, nil))
	if err := w.Write(context.Background(), sampleEvents()); err != nil {
		t.Fatal(err)
	}
	golden(t, "events.jsonl", buf.String())
	for _, m := range parseLines(t, buf.Bytes()) {
		if _, err := time.Parse(time.RFC3339Nano, m["time"].(string)); err != nil || !strings.HasSuffix(m["time"].(string), "Z") {
			t.Errorf("time %q: not RFC 3339 in UTC: %v", m["time"], err)
		}
	}
}

// The JSON lines decode back into the events they came from.
func TestWriterJSONRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	events := sampleEvents()
	if err := slogaudit.NewWriter(slogaudit.NewJSONHandler(&buf, nil)).Write(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	for i, line := range lines {
		var got activitylog.Event
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatal(err)
		}
		want := events[i]
		if got.ID != want.ID || !got.Time.Equal(want.Time) || got.Kind != want.Kind || got.Action != want.Action ||
			got.Actor.Name != want.Actor.Name || got.Object != want.Object || got.Response.Status != want.Response.Status ||
			got.Response.Duration != want.Response.Duration || len(got.Changes) != len(want.Changes) || len(got.Extra) != len(want.Extra) {
			t.Errorf("line %d decodes to %+v, want %+v", i, got, want)
		}
	}
}

func TestEventLevel(t *testing.T) {
	want := map[activitylog.ID]string{id(1): "AUDIT", id(2): "LOGIN", id(3): "API", id(4): "API", id(5): "API",
		id(6): "ERROR", id(7): "AUDIT", id(8): "AUDIT", id(9): "AUDIT"}
	for _, e := range sampleEvents() {
		if got := slogaudit.LevelName(slogaudit.EventLevel(&e)); got != want[e.ID] {
			t.Errorf("%s %s: level %s, want %s", e.Kind, e.Action, got, want[e.ID])
		}
	}
	crit := activitylog.Event{Kind: activitylog.KindSystem, Severity: activitylog.SeverityCritical}
	if got := slogaudit.EventLevel(&crit); got != slog.LevelError {
		t.Errorf("critical system event: level %v, want ERROR", got)
	}
}

func TestWriterSkipsDisabledLevels(t *testing.T) {
	var buf bytes.Buffer
	w := slogaudit.NewWriter(slogaudit.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := w.Write(context.Background(), sampleEvents()); err != nil {
		t.Fatal(err)
	}
	if ms := parseLines(t, buf.Bytes()); len(ms) != 1 || ms[0]["level"] != "ERROR" {
		t.Errorf("at WARN got %v, want the one ERROR event", ms)
	}
}

// secretEvent carries secrets in every place the Redactor looks.
func secretEvent() activitylog.Event {
	return activitylog.Event{
		ID: id(20), Time: t0, Kind: activitylog.KindCRUD, Action: "update", Severity: activitylog.SeverityInfo,
		Message: "card 4111 1111 1111 1111 charged",
		Actor:   activitylog.Actor{ID: "42", Extra: map[string]any{"api_key": "hunter2-actor"}},
		Changes: map[string]activitylog.Change{"password": {Old: "hunter2-old", New: "hunter2-new"}},
		Request: activitylog.Request{Query: "token=hunter2-query&page=2", Headers: map[string]string{"Authorization": "Bearer hunter2-header"},
			Body: `{"user":"ann","password":"hunter2-body"}`},
		Response: activitylog.Response{Headers: map[string]string{"Set-Cookie": "session=hunter2-cookie"}},
		Extra:    map[string]any{"nested": map[string]any{"client_secret": "hunter2-extra"}},
	}
}

func assertNoSecret(t *testing.T, dir string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) == 0 {
		t.Fatal("no files written")
	}
	lines := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines += bytes.Count(b, []byte{'\n'})
		for _, secret := range []string{"hunter2", "4111 1111 1111 1111"} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds %q:\n%s", filepath.Base(f), secret, b)
			}
		}
	}
	if lines == 0 {
		t.Error("no lines written")
	}
}

func TestRedactedEventStaysRedacted(t *testing.T) {
	for _, format := range []slogaudit.Format{slogaudit.FormatJSON, slogaudit.FormatConsole} {
		dir := t.TempDir()
		files, err := slogaudit.NewFiles(dir, &slogaudit.FileOptions{Format: format})
		if err != nil {
			t.Fatal(err)
		}
		e := secretEvent()
		activitylog.NewRedactor(nil).Event(&e) // as the Recorder does
		if err := slogaudit.NewWriter(files).Write(context.Background(), []activitylog.Event{e}); err != nil {
			t.Fatal(err)
		}
		if err := files.Close(); err != nil {
			t.Fatal(err)
		}
		assertNoSecret(t, dir)
	}
}

// Recorder → Async → Files, with a store beside it through MultiWriter.
func TestRecorderEndToEnd(t *testing.T) {
	dir := t.TempDir()
	files, err := slogaudit.NewFiles(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	async := slogaudit.NewAsync(files, nil)
	store := &memStore{}
	rec := activitylog.NewRecorder(activitylog.MultiWriter(store, slogaudit.NewWriter(async)), &activitylog.Options{FlushInterval: 5 * time.Millisecond})
	ctx := activitylog.WithActor(context.Background(), activitylog.Actor{ID: "42", Name: "ann"})
	e := secretEvent()
	e.ID, e.Time = activitylog.ID{}, time.Time{}
	if err := rec.Record(ctx, e); err != nil {
		t.Fatal(err)
	}
	for _, k := range []activitylog.Kind{activitylog.KindAuth, activitylog.KindRequest, activitylog.KindCustom} {
		action := "login"
		if k != activitylog.KindAuth {
			action = "call"
		}
		if err := rec.Record(ctx, activitylog.Event{Kind: k, Action: action}); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := async.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := files.Close(); err != nil {
		t.Fatal(err)
	}
	assertNoSecret(t, dir)
	for name, want := range map[string]int{"audit.log": 2, "login.log": 1, "api.log": 1, "app.log": 0} {
		if got := countLines(t, filepath.Join(dir, name)); got != want {
			t.Errorf("%s: %d lines, want %d", name, got, want)
		}
	}
	if got := len(store.events); got != 4 {
		t.Errorf("store got %d events, want 4", got)
	}
	if s := async.Stats(); s.Written != 4 || s.Dropped+s.Refused+s.Failed != 0 {
		t.Errorf("async stats %+v", s)
	}
}

type memStore struct{ events []activitylog.Event }

func (m *memStore) Write(_ context.Context, es []activitylog.Event) error {
	m.events = append(m.events, es...)
	return nil
}

type failHandler struct{ slog.Handler }

func (failHandler) Enabled(context.Context, slog.Level) bool  { return true }
func (failHandler) Handle(context.Context, slog.Record) error { return os.ErrPermission }

func TestWriterReturnsHandlerError(t *testing.T) {
	w := slogaudit.NewWriter(failHandler{slog.DiscardHandler})
	err := w.Write(context.Background(), sampleEvents()[:1])
	if err == nil || !strings.Contains(err.Error(), id(1).String()) {
		t.Errorf("got %v, want an error naming the event", err)
	}
}
