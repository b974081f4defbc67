package storetest

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
)

// TrailEvent returns event number i of a large, realistic trail, for
// measurements over many events (a million, say) rather than for the
// suite: every kind occurs, in the shares a web shop's trail might
// have, 70% requests, 12% data changes, 6% logins, 5% outgoing calls,
// 3% CORS requests, 3% system events (a tenth of them critical) and 1%
// exports. Ten tenants (tenant-0 to tenant-9), a thousand actors
// (user-0 to user-999, each with the same share of every kind), request
// statuses of which one in ten is 500, four methods and three CORS
// origins vary with i. The event has time t and an id made from t.
func TrailEvent(i int, t time.Time) activitylog.Event {
	p := i % len(trailPaths)
	user := i * 7919 % 1000
	e := activitylog.Event{
		ID:       activitylog.NewID(t),
		Time:     t,
		Kind:     activitylog.KindRequest,
		Action:   trailMethods[p],
		Severity: activitylog.SeverityInfo,
		Message:  trailMethods[p] + " " + trailPaths[p],
		Tenant:   fmt.Sprintf("tenant-%d", i%10),
		Service:  "shop",
		Actor: activitylog.Actor{ID: fmt.Sprintf("user-%d", user), Name: fmt.Sprintf("User %d", user),
			Email: fmt.Sprintf("user%d@example.com", user), Type: activitylog.ActorUser},
		Request: activitylog.Request{
			RequestID: fmt.Sprintf("req-%016x", i),
			TraceID:   "4bf92f3577b34da6a3ce929d0e0e4736",
			SpanID:    "00f067aa0ba902b7",
			Method:    trailMethods[p],
			Host:      "shop.example.com",
			Path:      trailPath(p, i),
			Route:     trailMethods[p] + " " + trailPaths[p],
			Query:     "page=2&sort=-created",
			RemoteIP:  fmt.Sprintf("10.%d.%d.%d", i%7, i*31%256, i*17%256),
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
			Browser:   "Firefox",
			OS:        "Linux",
			Device:    "desktop",
		},
		Response: activitylog.Response{
			Status:        trailStatus[i%len(trailStatus)],
			Duration:      time.Duration(1_000_000 + i*7919%50_000_000),
			RequestBytes:  int64(i % 2048),
			ResponseBytes: int64(i * 31 % 65536),
		},
		Tool:  "web",
		Extra: map[string]any{"region": "eu-west-1", "build": "2026.11.3", "cache_hit": i%3 == 0},
	}
	switch b := i % 100; {
	case b < 70:
		// a request, as it is
	case b < 82:
		e.Kind, e.Action = activitylog.KindCRUD, []string{"create", "update", "update", "delete"}[i%4]
		e.Object = activitylog.Object{Type: []string{"order", "invoice", "customer"}[i%3], ID: fmt.Sprint(i % 20000)}
		e.Response, e.Tool = activitylog.Response{}, "gorm"
	case b < 88:
		e.Kind, e.Action = activitylog.KindAuth, []string{"login", "login", "logout", "login_failed"}[i%4]
		e.Response = activitylog.Response{}
	case b < 93:
		e.Kind, e.Tool = activitylog.KindExternal, []string{"http", "grpc"}[i%2]
		e.Request.Host = "payments.example"
	case b < 96:
		e.Kind = activitylog.KindCORS
		e.Request.Origin = []string{"https://partner.example", "https://evil.example", "null"}[i%3]
	case b < 99:
		e.Kind, e.Action, e.Severity = activitylog.KindSystem, "error", activitylog.SeverityError
		e.Category, e.Response = []string{"server", "database", "panic"}[i%3], activitylog.Response{}
		if (i/100)%10 == 0 {
			e.Severity = activitylog.SeverityCritical
		}
	default:
		e.Kind, e.Action = activitylog.KindExport, activitylog.ActionExport
		e.Response = activitylog.Response{}
	}
	return e
}

var (
	trailPaths   = []string{"/api/orders", "/api/orders/%d", "/api/customers/%d/invoices", "/login", "/api/products/%d/reviews", "/static/app.js"}
	trailMethods = []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	trailStatus  = []int{200, 200, 200, 201, 204, 302, 400, 401, 404, 500}
)

func trailPath(p, i int) string {
	if strings.Contains(trailPaths[p], "%d") {
		return fmt.Sprintf(trailPaths[p], i%5000)
	}
	return trailPaths[p]
}

// WriteTrail writes TrailEvent(0) to TrailEvent(n-1) to w, in batches
// of batch events (one Write each), event i at t0 + i*step.
func WriteTrail(ctx context.Context, w activitylog.Writer, n, batch int, t0 time.Time, step time.Duration) error {
	es := make([]activitylog.Event, 0, batch)
	for i := 0; i < n; i += batch {
		es = es[:0]
		for j := i; j < min(i+batch, n); j++ {
			es = append(es, TrailEvent(j, t0.Add(time.Duration(j)*step)))
		}
		if err := w.Write(ctx, es); err != nil {
			return fmt.Errorf("write trail events %d to %d: %w", i, i+len(es)-1, err)
		}
	}
	return nil
}
