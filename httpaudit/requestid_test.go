package httpaudit_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/httpaudit"
)

func TestRequestID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		opts   *httpaudit.Options
		header http.Header
		ctxID  string // set by an outer layer with activitylog.WithRequestID
		want   string // "" means a newly generated UUID
	}{
		{name: "honoured", header: http.Header{"X-Request-Id": {"abc-123"}}, want: "abc-123"},
		{name: "longest honoured", header: http.Header{"X-Request-Id": {strings.Repeat("a", 128)}}, want: strings.Repeat("a", 128)},
		{name: "first of several", header: http.Header{"X-Request-Id": {"one", "two"}}, want: "one"},
		{name: "absent", header: http.Header{}},
		{name: "empty", header: http.Header{"X-Request-Id": {""}}},
		{name: "too long", header: http.Header{"X-Request-Id": {strings.Repeat("a", 129)}}},
		{name: "control character", header: http.Header{"X-Request-Id": {"abc\x01def"}}},
		{name: "newline", header: http.Header{"X-Request-Id": {"abc\r\nSet-Cookie: x=1"}}},
		{name: "space", header: http.Header{"X-Request-Id": {"abc def"}}},
		{name: "non-ASCII", header: http.Header{"X-Request-Id": {"идентификатор"}}},
		{name: "DEL", header: http.Header{"X-Request-Id": {"abc\x7f"}}},
		{
			name:   "custom header",
			opts:   &httpaudit.Options{RequestIDHeader: "x-correlation-id"},
			header: http.Header{"X-Correlation-Id": {"corr-9"}, "X-Request-Id": {"not-this"}},
			want:   "corr-9",
		},
		{name: "outer layer's id wins", header: http.Header{"X-Request-Id": {"from-client"}}, ctxID: "from-gateway", want: "from-gateway"},
		{name: "outer layer's insane id refused", header: http.Header{"X-Request-Id": {"from-client"}}, ctxID: "bad id", want: "from-client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.Header = tt.header
			if tt.ctxID != "" {
				r = r.WithContext(activitylog.WithRequestID(r.Context(), tt.ctxID))
			}
			var inside string
			got, w := serve(t, tt.opts, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				inside = activitylog.RequestIDFrom(r.Context())
			}), r)

			id := got.Request.RequestID
			if tt.want == "" {
				if _, err := activitylog.ParseID(id); err != nil {
					t.Errorf("request id %q, want a generated UUID: %v", id, err)
				}
			} else if id != tt.want {
				t.Errorf("request id %q, want %q", id, tt.want)
			}
			header := "X-Request-ID"
			if tt.opts != nil {
				header = tt.opts.RequestIDHeader
			}
			if h := w.Header().Get(header); h != id {
				t.Errorf("response %s = %q, want %q", header, h, id)
			}
			if inside != id {
				t.Errorf("RequestIDFrom inside the handler = %q, want %q", inside, id)
			}
		})
	}
}

func TestGeneratedRequestIDsDiffer(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		got, _ := serve(t, nil, http.NotFoundHandler(), httptest.NewRequest("GET", "/", nil))
		if seen[got.Request.RequestID] {
			t.Fatalf("request id %q made twice", got.Request.RequestID)
		}
		seen[got.Request.RequestID] = true
	}
}
