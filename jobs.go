package activitylog

import (
	"context"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Keys of the map that Inject makes and Extract reads. They are lower
// case, as HTTP/2 and most queues carry header names; Extract also
// finds them in any other case.
const (
	HeaderActor     = "activitylog-actor"  // the actor as compact JSON: id, name, email, type
	HeaderTenant    = "activitylog-tenant" // the tenant
	HeaderRequestID = "x-request-id"       // the request id
	HeaderTrace     = "traceparent"        // W3C Trace Context: 00-<trace id>-<span id>-01
)

// Limits Extract applies to what it is handed.
const (
	maxActorHeader = 4 << 10 // the actor's JSON
	maxIDHeader    = 128     // the request id
)

// wireActor is the actor as it travels: without Extra, which may be
// large or sensitive and is not needed to attribute an event.
type wireActor struct {
	ID    string `json:"id,omitempty"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	Type  string `json:"type,omitempty"`
}

// Inject returns the audit context of ctx (actor, tenant, request id,
// trace and span ids) as a small map of strings, for a background job
// to carry in its message headers; Extract restores it in the worker,
// so that the events the job records are attributed to the user whose
// request enqueued it, and belong to the same request and trace.
//
// The actor's Extra is not carried. The trace is carried as a W3C
// traceparent, and only when its ids have that form (32 and 16 hex
// digits); it is read with the Recorder's Options.Trace when ctx
// carries a Recorder (or there is a default), else with TraceFrom.
// Fields that are not set are left out; an empty ctx gives an empty
// map.
//
// Whoever can write the job's headers can claim any actor: carry them
// only through a queue that only your services write to.
func Inject(ctx context.Context) map[string]string {
	h := make(map[string]string, 4)
	if ctx == nil {
		return h
	}
	if a := ActorFrom(ctx); a.ID != "" || a.Name != "" || a.Email != "" || a.Type != "" {
		b, err := json.Marshal(wireActor{ID: a.ID, Name: a.Name, Email: a.Email, Type: string(a.Type)})
		if err == nil && len(b) <= maxActorHeader {
			h[HeaderActor] = string(b)
		}
	}
	if t := TenantFrom(ctx); t != "" {
		h[HeaderTenant] = t
	}
	if id := RequestIDFrom(ctx); id != "" {
		h[HeaderRequestID] = id
	}
	traceOf := TraceFrom
	if r := RecorderFrom(ctx); r != nil {
		traceOf = r.opts.Trace
	}
	traceID, spanID := traceOf(ctx)
	if traceID == "" {
		if rq := RequestFrom(ctx); rq != nil {
			traceID, spanID = rq.TraceID, rq.SpanID
		}
	}
	if tp := traceparent(traceID, spanID); tp != "" {
		h[HeaderTrace] = tp
	}
	return h
}

// Extract returns ctx with the audit context that Inject put in h:
// WithActor, WithTenant, WithRequestID and WithTrace for each field that
// is present and sane. It never fails: a field that is missing, too
// large, malformed or not valid UTF-8 is skipped on its own, and the
// others are still restored. Strings are clipped to the limits Validate
// applies, and an actor type that is not one of the known ones is
// dropped (the Recorder then infers it).
func Extract(ctx context.Context, h map[string]string) context.Context {
	if ctx == nil {
		ctx = context.Background()
	}
	if len(h) == 0 {
		return ctx
	}
	if v, ok := headerValue(h, HeaderActor); ok {
		if a, ok := parseWireActor(v); ok {
			ctx = WithActor(ctx, a)
		}
	}
	if v, ok := headerValue(h, HeaderTenant); ok {
		if t := cleanHeaderText(v, MaxShortField); t != "" {
			ctx = WithTenant(ctx, t)
		}
	}
	if v, ok := headerValue(h, HeaderRequestID); ok && saneRequestID(v) {
		ctx = WithRequestID(ctx, v)
	}
	if v, ok := headerValue(h, HeaderTrace); ok {
		if traceID, spanID, ok := parseTraceparent(v); ok {
			ctx = WithTrace(ctx, traceID, spanID)
		}
	}
	return ctx
}

// headerValue looks key up exactly, and for a small map also in any
// case ("Traceparent", "X-Request-Id").
func headerValue(h map[string]string, key string) (string, bool) {
	if v, ok := h[key]; ok {
		return v, true
	}
	if len(h) > 64 {
		return "", false
	}
	for k, v := range h {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

func parseWireActor(v string) (Actor, bool) {
	if len(v) > maxActorHeader || !utf8.ValidString(v) {
		return Actor{}, false
	}
	var w wireActor
	if err := json.Unmarshal([]byte(v), &w); err != nil {
		return Actor{}, false
	}
	a := Actor{
		ID:    cleanHeaderText(w.ID, MaxShortField),
		Name:  cleanHeaderText(w.Name, MaxShortField),
		Email: cleanHeaderText(w.Email, MaxShortField),
		Type:  ActorType(w.Type),
	}
	if !a.Type.Valid() {
		a.Type = ""
	}
	if a.ID == "" && a.Name == "" && a.Email == "" && a.Type == "" {
		return Actor{}, false
	}
	return a, true
}

// cleanHeaderText returns s with invalid UTF-8 and control characters
// removed and surrounding spaces trimmed, clipped to limit bytes.
func cleanHeaderText(s string, limit int) string {
	if len(s) > 4*limit {
		s = s[:4*limit] // bound the work; a cut rune is dropped below
	}
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(clipText(strings.TrimSpace(s), limit))
}

// saneRequestID accepts 1 to 128 visible ASCII characters, as the HTTP
// middleware does.
func saneRequestID(s string) bool {
	if len(s) == 0 || len(s) > maxIDHeader {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// traceparent formats a W3C traceparent, or returns "" when the ids do
// not have that form.
func traceparent(traceID, spanID string) string {
	traceID, spanID = strings.ToLower(traceID), strings.ToLower(spanID)
	if !lowerHex(traceID, 32) || !lowerHex(spanID, 16) {
		return ""
	}
	return "00-" + traceID + "-" + spanID + "-01"
}

// parseTraceparent reads "vv-<32 hex>-<16 hex>-ff". Versions other than
// 00 may append fields, which are ignored; version ff and all-zero ids
// are invalid.
func parseTraceparent(v string) (traceID, spanID string, ok bool) {
	v = strings.TrimSpace(v)
	if len(v) < 55 || len(v) > 512 {
		return "", "", false
	}
	if !lowerHex(v[0:2], 2) || v[0:2] == "ff" || v[2] != '-' || v[35] != '-' || v[52] != '-' || !lowerHex(v[53:55], 2) {
		return "", "", false
	}
	if v[0:2] == "00" && len(v) != 55 {
		return "", "", false
	}
	if len(v) > 55 && v[55] != '-' {
		return "", "", false
	}
	traceID, spanID = v[3:35], v[36:52]
	if !lowerHex(traceID, 32) || !lowerHex(spanID, 16) {
		return "", "", false
	}
	return traceID, spanID, true
}

// lowerHex reports whether s is n lower-case hex digits, not all zero.
func lowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	nonZero := n == 2 // a version or flags byte may be 00
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '0':
		case c >= '1' && c <= '9' || c >= 'a' && c <= 'f':
			nonZero = true
		default:
			return false
		}
	}
	return nonZero
}
