package metrics_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/metrics"
	"github.com/activitylog/activitylog/multi"
	"github.com/activitylog/activitylog/spool"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape serves reg as Prometheus would scrape it and parses the text
// format back.
func scrape(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %d %s", resp.StatusCode, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse scrape: %v\n%s", err, body)
	}
	return fams
}

func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range f.Metric {
		for _, lp := range m.Label {
			if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no %s with %v", name, labels)
	return 0
}

// The Recorder's events by kind, its histograms and a fan-out's targets
// reach a scrape with the values the components counted: here a real
// SQLite store and a spool behind a fan-out.
func TestScrape(t *testing.T) {
	dir := t.TempDir()
	st, err := sqlite.Open(dir+"/a.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sp, err := spool.Open(dir+"/spool", nil)
	if err != nil {
		t.Fatal(err)
	}
	fb := spool.NewFallback(st, sp, nil)
	defer fb.Close(context.Background())
	fan, err := multi.New([]multi.Target{{Name: "sqlite", Writer: fb}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := activitylog.NewRecorder(fan, &activitylog.Options{Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	for i := range 7 {
		k := activitylog.KindCRUD
		if i%2 == 1 {
			k = activitylog.KindAuth
		}
		action := "create"
		if k == activitylog.KindAuth {
			action = "login"
		}
		if err := rec.Record(ctx, activitylog.Event{Kind: k, Action: action, Object: activitylog.Object{Type: "t", ID: "1"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	subs := 3
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.New(&metrics.Options{
		Recorder:    rec,
		Targets:     fan.Stats,
		Spool:       fb.Stats,
		Retention:   func() metrics.RetentionStats { return metrics.RetentionStats{Runs: 2, Failures: 1, Deleted: 40} },
		Verify:      func() metrics.VerifyStats { return metrics.VerifyStats{Runs: 5, Failures: 1, Findings: 3} },
		Subscribers: func() int { return subs },
	}))
	f := scrape(t, reg)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"activitylog_events_total", map[string]string{"kind": "crud", "outcome": "recorded"}, 4},
		{"activitylog_events_total", map[string]string{"kind": "crud", "outcome": "written"}, 4},
		{"activitylog_events_total", map[string]string{"kind": "auth", "outcome": "written"}, 3},
		{"activitylog_events_total", map[string]string{"kind": "auth", "outcome": "dropped"}, 0},
		{"activitylog_queue_depth", nil, 0},
		{"activitylog_batch_size", map[string]string{"writer": "store"}, float64(rec.Stats().Batches)},
		{"activitylog_target_events_written_total", map[string]string{"target": "sqlite"}, 7},
		{"activitylog_spool_events", nil, 0},
		{"activitylog_retention_events_deleted_total", nil, 40},
		{"activitylog_verify_failures_total", nil, 1},
		{"activitylog_stream_subscribers", nil, 3},
	} {
		if got := value(t, f, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n, _ := st.Count(ctx, activitylog.Filter{}); n != 7 {
		t.Errorf("stored %d events, want 7", n)
	}
	if err := rec.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// A Collector with no source registers and scrapes empty.
func TestEmpty(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.New(nil))
	if f := scrape(t, reg); len(f) != 0 {
		t.Errorf("families %v", f)
	}
}

// The Grafana dashboard in docs/ asks only for metrics the Collector
// exposes: a renamed metric would leave a panel empty.
func TestDashboardNamesExist(t *testing.T) {
	b, err := os.ReadFile("../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("docs/grafana-dashboard.json: %v", err)
	}
	ch := make(chan *prometheus.Desc, 64)
	metrics.New(&metrics.Options{
		Recorder: activitylog.NewRecorder(&discard{}, nil), Targets: func() map[string]multi.TargetStats { return nil },
		Spool: func() spool.FallbackStats { return spool.FallbackStats{} }, Retention: func() metrics.RetentionStats { return metrics.RetentionStats{} },
		Verify: func() metrics.VerifyStats { return metrics.VerifyStats{} }, Subscribers: func() int { return 0 },
	}).Describe(ch)
	close(ch)
	known := map[string]bool{}
	for desc := range ch {
		name := regexp.MustCompile(`fqName: "([^"]+)"`).FindStringSubmatch(desc.String())[1]
		known[name] = true
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			known[name+s] = true
		}
	}
	re := regexp.MustCompile(`activitylog_[a-z_]+`)
	n := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, m := range re.FindAllString(tg.Expr, -1) {
				n++
				if !known[m] {
					t.Errorf("panel %q asks for %s, which no Collector exposes", p.Title, m)
				}
			}
		}
	}
	if n < 10 {
		t.Errorf("only %d metric references in the dashboard", n)
	}
}

type discard struct{}

func (discard) Write(context.Context, []activitylog.Event) error { return nil }
