package activitylog_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/activitylog/activitylog"
)

type codedError struct{ code string }

func (e codedError) Error() string { return "coded failure" }
func (e codedError) Code() string  { return e.code }

func TestErrorRecordsCallerCodeChainAndStack(t *testing.T) {
	t.Parallel()
	ctx, _, sink := syncRecorder(t, nil)
	err := fmt.Errorf("save order: %w", fmt.Errorf("insert row: %w", codedError{"DB_LOCKED"}))
	_, _, line, _ := runtime.Caller(0)
	if rerr := activitylog.Error(ctx, err, activitylog.SystemInfo{Category: "database", Description: "orders table"}); rerr != nil {
		t.Fatal(rerr)
	}
	line++ // the call is on the next line
	e := sink.only(t)
	if e.Kind != activitylog.KindSystem || e.Action != "error" || e.Severity != activitylog.SeverityError || e.Category != "database" {
		t.Errorf("kind, action, severity, category = %s, %s, %s, %s", e.Kind, e.Action, e.Severity, e.Category)
	}
	if e.Message != err.Error() {
		t.Errorf("message = %q, want the error's text", e.Message)
	}
	x := e.Extra
	if x["function"] != "github.com/activitylog/activitylog_test.TestErrorRecordsCallerCodeChainAndStack" {
		t.Errorf("function = %v", x["function"])
	}
	if x["module"] != "github.com/activitylog/activitylog_test" {
		t.Errorf("module = %v", x["module"])
	}
	if f, _ := x["file"].(string); filepath.Base(f) != "system_test.go" {
		t.Errorf("file = %v", x["file"])
	}
	if x["line"] != float64(line) {
		t.Errorf("line = %v, want %d", x["line"], line)
	}
	if x["code"] != "DB_LOCKED" || x["description"] != "orders table" {
		t.Errorf("code, description = %v, %v", x["code"], x["description"])
	}
	chain, _ := x["error_chain"].([]any)
	if len(chain) != 3 || chain[2] != "coded failure" {
		t.Errorf("error_chain = %v", x["error_chain"])
	}
	stack, _ := x["stack"].(string)
	if !strings.Contains(stack, "TestErrorRecordsCallerCodeChainAndStack") || len(stack) > 16<<10 {
		t.Errorf("stack (%d bytes) does not name the test:\n%s", len(stack), stack)
	}
	if e.Actor.Type != activitylog.ActorSystem {
		t.Errorf("actor = %+v, want the system", e.Actor)
	}
}

func TestSystemHelpers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		call      func(context.Context) error
		action    string
		severity  activitylog.Severity
		category  string
		message   string
		code      any
		wantStack bool
	}{
		{"Critical", func(ctx context.Context) error { return activitylog.Critical(ctx, errors.New("disk gone")) },
			"error", activitylog.SeverityCritical, "server", "disk gone", nil, true},
		{"Warning", func(ctx context.Context) error { return activitylog.Warning(ctx, "disk 91% full") },
			"warning", activitylog.SeverityWarning, "server", "disk 91% full", nil, true},
		{"Security", func(ctx context.Context) error { return activitylog.Security(ctx, "token replayed") },
			"security", activitylog.SeverityWarning, "security", "token replayed", nil, true},
		{"Performance", func(ctx context.Context) error {
			return activitylog.Performance(ctx, "slow query", activitylog.SystemInfo{NoStack: true})
		}, "performance", activitylog.SeverityWarning, "performance", "slow query", nil, false},
		{"info overrides", func(ctx context.Context) error {
			return activitylog.Error(ctx, codedError{"A"}, activitylog.SystemInfo{Title: "t1", Code: "B"}, activitylog.SystemInfo{Severity: activitylog.SeverityNotice, Extra: map[string]any{"k": "v"}})
		}, "error", activitylog.SeverityNotice, "server", "t1", "B", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, _, sink := syncRecorder(t, nil)
			ctx = activitylog.WithActor(ctx, activitylog.Actor{ID: "7"})
			if err := tt.call(ctx); err != nil {
				t.Fatal(err)
			}
			e := sink.only(t)
			if e.Action != tt.action || e.Severity != tt.severity || e.Category != tt.category || e.Message != tt.message {
				t.Errorf("got %s %s %s %q, want %s %s %s %q", e.Action, e.Severity, e.Category, e.Message, tt.action, tt.severity, tt.category, tt.message)
			}
			if e.Extra["code"] != tt.code {
				t.Errorf("code = %v, want %v", e.Extra["code"], tt.code)
			}
			if _, ok := e.Extra["stack"]; ok != tt.wantStack {
				t.Errorf("stack recorded: %v, want %v", ok, tt.wantStack)
			}
			if e.Actor.ID != "7" {
				t.Errorf("actor = %+v, want the context's", e.Actor)
			}
			// The function is the closure in this test, never a helper.
			if fn, _ := e.Extra["function"].(string); !strings.HasPrefix(fn, "github.com/activitylog/activitylog_test.TestSystemHelpers") {
				t.Errorf("function = %q", fn)
			}
		})
	}
}

func TestErrorNilIsRefused(t *testing.T) {
	t.Parallel()
	ctx, _, sink := syncRecorder(t, nil)
	if err := activitylog.Error(ctx, nil); !errors.Is(err, activitylog.ErrInvalid) {
		t.Errorf("Error(nil) = %v, want ErrInvalid", err)
	}
	if err := activitylog.Warning(ctx, ""); !errors.Is(err, activitylog.ErrInvalid) {
		t.Errorf("Warning(\"\") = %v, want ErrInvalid", err)
	}
	if err := activitylog.Error(ctx, nil, activitylog.SystemInfo{Title: "job failed"}); err != nil {
		t.Errorf("Error(nil, Title) = %v", err)
	}
	if n := len(sink.all()); n != 1 {
		t.Errorf("wrote %d events, want 1", n)
	}
}

func TestErrorChainOfJoinedErrors(t *testing.T) {
	t.Parallel()
	ctx, _, sink := syncRecorder(t, nil)
	if err := activitylog.Error(ctx, errors.Join(errors.New("a"), fmt.Errorf("b: %w", errors.New("c")))); err != nil {
		t.Fatal(err)
	}
	chain, _ := sink.only(t).Extra["error_chain"].([]any)
	if len(chain) != 4 || chain[1] != "a" || chain[2] != "b: c" || chain[3] != "c" {
		t.Errorf("error_chain = %q", chain)
	}
}
