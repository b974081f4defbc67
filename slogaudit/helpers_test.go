package slogaudit_test

import (
	"bufio"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

var t0 = time.Date(2026, 11, 24, 8, 0, 0, 123000000, time.UTC)

func id(n byte) activitylog.ID {
	return activitylog.ID{0x01, 0x9a, 0xb5, 0x0c, 0x2f, 0x5b, 0x70, 0x00, 0x80, 0, 0, 0, 0, 0, 0, n}
}

// sampleEvents has one event of every kind, as a Recorder hands them on.
func sampleEvents() []activitylog.Event {
	req := activitylog.Request{RequestID: "req-1", Method: "PUT", Path: "/invoices/INV-7", RemoteIP: "203.0.113.7", UserAgent: "curl/8.5"}
	ann := activitylog.Actor{ID: "42", Name: "ann", Type: activitylog.ActorUser}
	return []activitylog.Event{
		{ID: id(1), Time: t0, Kind: activitylog.KindCRUD, Action: "update", Severity: activitylog.SeverityInfo,
			Message: "invoice sent", Tenant: "acme", Service: "billing", Actor: ann,
			Object:  activitylog.Object{Type: "invoice", ID: "INV-7"},
			Changes: map[string]activitylog.Change{"status": {Old: "draft", New: "sent"}, "total": {Old: nil, New: 120.5}},
			Request: req, Response: activitylog.Response{Status: 200, Duration: 12 * time.Millisecond}},
		{ID: id(2), Time: t0.Add(time.Second), Kind: activitylog.KindAuth, Action: "login_failed", Severity: activitylog.SeverityWarning,
			Actor: activitylog.Actor{Name: "bob@example.com", Type: activitylog.ActorAnonymous}, Request: activitylog.Request{RemoteIP: "198.51.100.9"},
			Extra: map[string]any{"reason": "bad password", "attempt": 3.0}},
		{ID: id(3), Time: t0.Add(2 * time.Second), Kind: activitylog.KindRequest, Action: "GET /health", Severity: activitylog.SeverityInfo,
			Request:  activitylog.Request{Method: "GET", Path: "/health", Headers: map[string]string{"Accept": "*/*"}},
			Response: activitylog.Response{Status: 204, Duration: 350 * time.Microsecond}},
		{ID: id(4), Time: t0.Add(3 * time.Second), Kind: activitylog.KindCORS, Action: "preflight", Severity: activitylog.SeverityNotice,
			Request: activitylog.Request{Origin: "https://evil.example", Method: "OPTIONS", Path: "/api"}},
		{ID: id(5), Time: t0.Add(4 * time.Second), Kind: activitylog.KindExternal, Action: "POST https://psp.example/charge", Severity: activitylog.SeverityInfo,
			Response: activitylog.Response{Status: 201}},
		{ID: id(6), Time: t0.Add(5 * time.Second), Kind: activitylog.KindSystem, Action: "error", Severity: activitylog.SeverityError,
			Message: "db timeout", Category: "database"},
		{ID: id(7), Time: t0.Add(6 * time.Second), Kind: activitylog.KindSystem, Action: "performance", Severity: activitylog.SeverityInfo,
			Message: "slow query", Extra: map[string]any{"ms": 950.0, "plan": map[string]any{"index": "none"}}},
		{ID: id(8), Time: t0.Add(7 * time.Second), Kind: activitylog.KindExport, Action: "csv", Severity: activitylog.SeverityNotice,
			Actor: ann, Object: activitylog.Object{Type: "report", ID: "Q3"}},
		{ID: id(9), Time: t0.Add(8 * time.Second), Kind: activitylog.KindCustom, Action: "feature_flag", Severity: activitylog.SeverityInfo,
			Tool: "flagctl", Extra: map[string]any{"flag": "beta", "on": true}},
	}
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\ngot\n%s\nwant\n%s", path, got, want)
	}
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		n++
	}
	return n
}
