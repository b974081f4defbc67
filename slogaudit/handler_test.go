package slogaudit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/slogtest"
	"time"

	"github.com/activitylog/activitylog/slogaudit"
)

func parseLines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var ms []map[string]any
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		ms = append(ms, m)
	}
	return ms
}

func TestJSONHandlerConformance(t *testing.T) {
	var buf bytes.Buffer
	h := slogaudit.NewJSONHandler(&buf, nil)
	if err := slogtest.TestHandler(h, func() []map[string]any { return parseLines(t, buf.Bytes()) }); err != nil {
		t.Fatal(err)
	}
}

func TestJSONHandlerConformanceRun(t *testing.T) {
	var buf *bytes.Buffer
	slogtest.Run(t, func(t *testing.T) slog.Handler {
		buf = new(bytes.Buffer)
		return slogaudit.NewJSONHandler(buf, nil)
	}, func(t *testing.T) map[string]any {
		ms := parseLines(t, buf.Bytes())
		if len(ms) != 1 {
			t.Fatalf("got %d lines, want 1", len(ms))
		}
		return ms[0]
	})
}

// With a ReplaceAttr that changes nothing, the handler takes its slow
// path, which must conform too.
func TestJSONHandlerConformanceReplaceAttr(t *testing.T) {
	var buf bytes.Buffer
	h := slogaudit.NewJSONHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr { return a },
	})
	if err := slogtest.TestHandler(h, func() []map[string]any { return parseLines(t, buf.Bytes()) }); err != nil {
		t.Fatal(err)
	}
}

var fixed = time.Date(2026, 11, 24, 8, 0, 0, 123000000, time.FixedZone("CET", 3600))

func TestJSONHandlerGolden(t *testing.T) {
	tests := []struct {
		name string
		log  func(l *slog.Logger)
		want string
	}{
		{"levels", func(l *slog.Logger) {
			for _, lv := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slogaudit.LevelAudit, slogaudit.LevelAPI, slogaudit.LevelLogin, slog.LevelWarn, slog.LevelError, slog.LevelWarn + 1} {
				l.Log(context.Background(), lv, "m")
			}
		}, `{"time":"2026-11-24T07:00:00.123000000Z","level":"INFO","msg":"m"}
{"time":"2026-11-24T07:00:00.123000000Z","level":"AUDIT","msg":"m"}
{"time":"2026-11-24T07:00:00.123000000Z","level":"API","msg":"m"}
{"time":"2026-11-24T07:00:00.123000000Z","level":"LOGIN","msg":"m"}
{"time":"2026-11-24T07:00:00.123000000Z","level":"WARN","msg":"m"}
{"time":"2026-11-24T07:00:00.123000000Z","level":"ERROR","msg":"m"}
{"time":"2026-11-24T07:00:00.123000000Z","level":"WARN+1","msg":"m"}
`},
		{"values", func(l *slog.Logger) {
			l.Info("a \"quoted\"\n<msg> &", "s", "x\ty\u2028\xff", "i", -3, "u", uint64(7), "f", 1.5, "big", 1e21, "tiny", 1e-7,
				"b", true, "d", 1500*time.Millisecond, "t", time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), "nil", nil,
				"m", map[string]int{"k": 1}, "err", errTest("boom"), "lvl", slogaudit.LevelLogin)
		}, `{"time":"2026-11-24T07:00:00.123000000Z","level":"INFO","msg":"a \"quoted\"\n<msg> &","s":"x\ty\u2028\ufffd","i":-3,"u":7,"f":1.5,"big":1e+21,"tiny":1e-7,"b":true,"d":1500000000,"t":"2026-01-02T03:04:05.000000006Z","nil":null,"m":{"k":1},"err":"boom","lvl":"LOGIN"}
`},
		{"groups", func(l *slog.Logger) {
			l = l.With("a", 1).WithGroup("g").With("b", 2).WithGroup("h")
			l.Info("m", "c", 3, slog.Group("in", "d", 4), slog.Group("empty"), slog.Group("", "e", 5))
			l.Info("none")
		}, `{"time":"2026-11-24T07:00:00.123000000Z","level":"INFO","msg":"m","a":1,"g":{"b":2,"h":{"c":3,"in":{"d":4},"e":5}}}
{"time":"2026-11-24T07:00:00.123000000Z","level":"INFO","msg":"none","a":1,"g":{"b":2}}
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := slogaudit.NewJSONHandler(&buf, nil)
			tt.log(slog.New(fixedTime{h}))
			if got := buf.String(); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }

// fixedTime sets every record's time to fixed: a fixed clock for golden
// lines.
type fixedTime struct{ slog.Handler }

func (f fixedTime) Handle(ctx context.Context, r slog.Record) error {
	r.Time = fixed
	return f.Handler.Handle(ctx, r)
}
func (f fixedTime) WithAttrs(as []slog.Attr) slog.Handler { return fixedTime{f.Handler.WithAttrs(as)} }
func (f fixedTime) WithGroup(n string) slog.Handler       { return fixedTime{f.Handler.WithGroup(n)} }

func TestReplaceAttrInSlogHandlers(t *testing.T) {
	var buf bytes.Buffer
	opts := &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: slogaudit.ReplaceAttr}
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, opts), slog.NewTextHandler(&buf, opts)} {
		l := slog.New(h)
		l.Log(context.Background(), slogaudit.LevelAudit, "a")
		l.Log(context.Background(), slogaudit.LevelAPI, "b")
		l.Log(context.Background(), slogaudit.LevelLogin, "c")
		l.Info("d", "level", 7) // a nested or user "level" key is left alone
	}
	got := buf.String()
	for _, want := range []string{`"level":"AUDIT"`, `"level":"API"`, `"level":"LOGIN"`, `"level":7`, "level=AUDIT", "level=API", "level=LOGIN", "level=7"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %s:\n%s", want, got)
		}
	}
}

func TestParseLevel(t *testing.T) {
	for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slogaudit.LevelAudit, slogaudit.LevelAPI, slogaudit.LevelLogin, slog.LevelWarn, slog.LevelError, slog.LevelError + 2} {
		got, err := slogaudit.ParseLevel(strings.ToLower(slogaudit.LevelName(l)))
		if err != nil || got != l {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", slogaudit.LevelName(l), got, err, l)
		}
	}
	if _, err := slogaudit.ParseLevel("loud"); err == nil {
		t.Error(`ParseLevel("loud"): no error`)
	}
}

func TestJSONHandlerConcurrent(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slogaudit.NewJSONHandler(&buf, nil))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			lg := l.With("g", g).WithGroup("grp")
			for i := range 200 {
				lg.Info("m", "i", i)
			}
		})
	}
	wg.Wait()
	if got := len(parseLines(t, buf.Bytes())); got != 1600 {
		t.Errorf("got %d lines, want 1600", got)
	}
}
