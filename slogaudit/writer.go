package slogaudit

import (
	"context"
	"fmt"
	"log/slog"
	"sort"

	"github.com/activitylog/activitylog"
)

// Writer is an activitylog.Writer that hands each event to a
// slog.Handler as one record: at the level EventLevel gives, with the
// event's Message as the message, its Time as the record time, and its
// other fields as attributes (EventAttrs).
//
// Events reach a Writer from a Recorder, which has already redacted
// them (activitylog.Redactor): the Writer writes what it gets and
// redacts nothing itself. An event the handler is not Enabled for is
// skipped, as slog.Logger skips it, so a handler set to WARN keeps no
// AUDIT, API or LOGIN records.
//
// A log stream cannot take a batch all or none, as the Writer contract
// asks: Write stops at the first event the handler refuses and returns
// its error, and the Recorder's retry of the batch writes the events
// before it again. Such duplicates carry the same id; deduplicate by id
// downstream if it matters. Write is safe for concurrent use when the
// handler is.
type Writer struct {
	h slog.Handler
}

var _ activitylog.Writer = (*Writer)(nil)

// NewWriter returns a Writer that writes to h: a JSONHandler, a
// ConsoleHandler, Files, an Async in front of any of them, or any other
// slog.Handler.
func NewWriter(h slog.Handler) *Writer { return &Writer{h: h} }

// Write hands each event to the handler in order.
func (w *Writer) Write(ctx context.Context, events []activitylog.Event) error {
	for i := range events {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("write event %s: %w", events[i].ID, err)
		}
		e := &events[i]
		lv := EventLevel(e)
		if !w.h.Enabled(ctx, lv) {
			continue
		}
		r := slog.NewRecord(e.Time, lv, e.Message, 0)
		r.AddAttrs(EventAttrs(e)...)
		if err := w.h.Handle(ctx, r); err != nil {
			return fmt.Errorf("write event %s: %w", e.ID, err)
		}
	}
	return nil
}

// EventLevel is the level an event is logged at: LevelLogin for auth
// events; LevelAPI for calls (request, cors and external events);
// slog.LevelError for system events of severity error or critical
// (loss reports among them); LevelAudit for every other event (crud,
// export, custom, and system events of lower severity).
func EventLevel(e *activitylog.Event) slog.Level {
	switch e.Kind {
	case activitylog.KindAuth:
		return LevelLogin
	case activitylog.KindRequest, activitylog.KindCORS, activitylog.KindExternal:
		return LevelAPI
	case activitylog.KindSystem:
		if e.Severity == activitylog.SeverityError || e.Severity == activitylog.SeverityCritical {
			return slog.LevelError
		}
	}
	return LevelAudit
}

// EventAttrs returns the fields of e as attributes, with the names of
// the event's JSON form: id, kind, action, severity, tenant, service,
// and the groups actor, object, changes (one group per field, with old
// and new), request (with geo and headers), response and extra, then
// tool and category. Empty fields are left out; map keys are sorted.
// Time and Message are not among them: they are the record's time and
// message.
func EventAttrs(e *activitylog.Event) []slog.Attr {
	as := make([]slog.Attr, 0, 16)
	as = append(as,
		slog.String("id", e.ID.String()),
		slog.String("kind", string(e.Kind)),
		slog.String("action", e.Action),
		slog.String("severity", string(e.Severity)),
	)
	as = appendStr(as, "tenant", e.Tenant)
	as = appendStr(as, "service", e.Service)
	if a := actorAttrs(&e.Actor); len(a) > 0 {
		as = append(as, slog.Attr{Key: "actor", Value: slog.GroupValue(a...)})
	}
	if o := e.Object; o != (activitylog.Object{}) {
		var a []slog.Attr
		a = appendStr(a, "type", o.Type)
		a = appendStr(a, "id", o.ID)
		a = appendStr(a, "repr", o.Repr)
		as = append(as, slog.Attr{Key: "object", Value: slog.GroupValue(a...)})
	}
	if len(e.Changes) > 0 {
		a := make([]slog.Attr, 0, len(e.Changes))
		for _, k := range sortedKeys(e.Changes) {
			c := e.Changes[k]
			a = append(a, slog.Attr{Key: k, Value: slog.GroupValue(valueAttr("old", c.Old), valueAttr("new", c.New))})
		}
		as = append(as, slog.Attr{Key: "changes", Value: slog.GroupValue(a...)})
	}
	if a := requestAttrs(&e.Request); len(a) > 0 {
		as = append(as, slog.Attr{Key: "request", Value: slog.GroupValue(a...)})
	}
	if a := responseAttrs(&e.Response); len(a) > 0 {
		as = append(as, slog.Attr{Key: "response", Value: slog.GroupValue(a...)})
	}
	as = appendStr(as, "tool", e.Tool)
	as = appendStr(as, "category", e.Category)
	if len(e.Extra) > 0 {
		as = append(as, slog.Attr{Key: "extra", Value: mapValue(e.Extra)})
	}
	return as
}

func appendStr(as []slog.Attr, key, v string) []slog.Attr {
	if v == "" {
		return as
	}
	return append(as, slog.String(key, v))
}

func actorAttrs(a *activitylog.Actor) []slog.Attr {
	var as []slog.Attr
	as = appendStr(as, "id", a.ID)
	as = appendStr(as, "name", a.Name)
	as = appendStr(as, "email", a.Email)
	as = appendStr(as, "type", string(a.Type))
	if len(a.Extra) > 0 {
		as = append(as, slog.Attr{Key: "extra", Value: mapValue(a.Extra)})
	}
	return as
}

func requestAttrs(r *activitylog.Request) []slog.Attr {
	var as []slog.Attr
	for _, f := range [...]struct{ k, v string }{
		{"request_id", r.RequestID}, {"trace_id", r.TraceID}, {"span_id", r.SpanID},
		{"method", r.Method}, {"host", r.Host}, {"path", r.Path}, {"route", r.Route}, {"query", r.Query},
		{"remote_ip", r.RemoteIP}, {"user_agent", r.UserAgent}, {"browser", r.Browser},
		{"platform", r.Platform}, {"os", r.OS}, {"device", r.Device}, {"origin", r.Origin}, {"referer", r.Referer},
	} {
		as = appendStr(as, f.k, f.v)
	}
	if g := r.Geo; g != (activitylog.Geo{}) {
		var ga []slog.Attr
		ga = appendStr(ga, "country", g.Country)
		ga = appendStr(ga, "country_code", g.CountryCode)
		ga = appendStr(ga, "city", g.City)
		if g.Lat != 0 || g.Lon != 0 {
			ga = append(ga, slog.Float64("lat", g.Lat), slog.Float64("lon", g.Lon))
		}
		as = append(as, slog.Attr{Key: "geo", Value: slog.GroupValue(ga...)})
	}
	if len(r.Headers) > 0 {
		as = append(as, slog.Attr{Key: "headers", Value: headersValue(r.Headers)})
	}
	return appendStr(as, "body", r.Body)
}

func responseAttrs(r *activitylog.Response) []slog.Attr {
	var as []slog.Attr
	if r.Status != 0 {
		as = append(as, slog.Int("status", r.Status))
	}
	if r.Duration != 0 {
		as = append(as, slog.Int64("duration_ns", int64(r.Duration)))
	}
	if r.RequestBytes != 0 {
		as = append(as, slog.Int64("request_bytes", r.RequestBytes))
	}
	if r.ResponseBytes != 0 {
		as = append(as, slog.Int64("response_bytes", r.ResponseBytes))
	}
	if len(r.Headers) > 0 {
		as = append(as, slog.Attr{Key: "headers", Value: headersValue(r.Headers)})
	}
	return appendStr(as, "body", r.Body)
}

func headersValue(h map[string]string) slog.Value {
	as := make([]slog.Attr, 0, len(h))
	for _, k := range sortedKeys(h) {
		as = append(as, slog.String(k, h[k]))
	}
	return slog.GroupValue(as...)
}

// mapValue turns a map into a group, nested maps into nested groups.
func mapValue(m map[string]any) slog.Value {
	as := make([]slog.Attr, 0, len(m))
	for _, k := range sortedKeys(m) {
		as = append(as, valueAttr(k, m[k]))
	}
	return slog.GroupValue(as...)
}

// valueAttr makes an attribute of a JSON-safe value, keeping nil as
// JSON null and a map as a group.
func valueAttr(k string, v any) slog.Attr {
	switch x := v.(type) {
	case map[string]any:
		if len(x) > 0 {
			return slog.Attr{Key: k, Value: mapValue(x)}
		}
	case string:
		return slog.String(k, x)
	case float64:
		return slog.Float64(k, x)
	case bool:
		return slog.Bool(k, x)
	}
	return slog.Any(k, v)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
