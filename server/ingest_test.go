package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/server"
)

const (
	jsonCT   = "application/json"
	ndjsonCT = "application/x-ndjson"
	post     = "POST"
	events   = "/api/v1/events"
)

// ev is a small valid event body with the action a.
func ev(a string) string { return `{"kind":"custom","action":"` + a + `"}` }

func TestIngest(t *testing.T) {
	t.Parallel()
	five := func(bad string) string {
		return "[" + ev("a") + "," + ev("b") + "," + bad + "," + ev("d") + "," + ev("e") + "]"
	}
	for _, sc := range []scenario{
		// Accepted.
		{
			name: "one object", method: post, url: events, contentType: jsonCT, body: ev("deploy"),
			wantStatus: 201, wantContent: []string{`"accepted":1`, `"ids":["`}, wantStored: 1,
		},
		{
			name: "array", method: post, url: events, contentType: jsonCT,
			body:       "[" + ev("a") + ",\n " + ev("b") + "," + ev("c") + "]",
			wantStatus: 201, wantContent: []string{`"accepted":3`}, wantStored: 3,
		},
		{
			name: "ndjson with blank lines and CRLF", method: post, url: events, contentType: ndjsonCT,
			body:       "\n" + ev("a") + "\r\n\r\n  " + ev("b") + "  \n\n" + ev("c"),
			wantStatus: 201, wantContent: []string{`"accepted":3`}, wantStored: 3,
		},
		{
			name: "charset parameter", method: post, url: events, contentType: "application/json; charset=UTF-8", body: ev("a"),
			wantStatus: 201, wantStored: 1,
		},
		{
			name: "ndjson charset parameter", method: post, url: events, contentType: "application/x-ndjson;charset=utf-8", body: ev("a"),
			wantStatus: 201, wantStored: 1,
		},
		{
			name: "white space around the body", method: post, url: events, contentType: jsonCT, body: "\n\t " + ev("a") + " \r\n",
			wantStatus: 201, wantStored: 1,
		},
		{
			name: "client id and time kept", method: post, url: events, contentType: jsonCT,
			body:       `{"id":"0190c2a1-0000-7000-8000-0000000000aa","time":"2024-06-01T12:00:00.5+02:00","kind":"crud","action":"delete"}`,
			wantStatus: 201, wantContent: []string{`"ids":["0190c2a1-0000-7000-8000-0000000000aa"]`}, wantStored: 1,
			check: func(t *testing.T, e *env, _ []byte) {
				id, _ := activitylog.ParseID("0190c2a1-0000-7000-8000-0000000000aa")
				got, err := e.store.Get(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				if want := time.Date(2024, 6, 1, 10, 0, 0, 5e8, time.UTC); !got.Time.Equal(want) {
					t.Errorf("time = %v, want %v", got.Time, want)
				}
			},
		},
		{
			name: "unset id and time as a Go client marshals them", method: post, url: events, contentType: jsonCT,
			body:       `{"id":"00000000-0000-0000-0000-000000000000","time":"0001-01-01T00:00:00Z","kind":"custom","action":"x"}`,
			wantStatus: 201, notContent: []string{"00000000-0000-0000-0000-000000000000"}, wantStored: 1,
		},
		{
			name: "null and empty id and time mean unset", method: post, url: events, contentType: jsonCT,
			body:       `[{"id":null,"time":null,"kind":"custom","action":"x"},{"id":"","time":"","kind":"custom","action":"y"}]`,
			wantStatus: 201, wantStored: 2,
		},
		{
			name: "same id again is idempotent", method: post, url: events, contentType: jsonCT,
			seed:       []activitylog.Event{{ID: mustID("0190c2a1-0000-7000-8000-0000000000bb"), Kind: activitylog.KindCustom, Action: "first"}},
			body:       `{"id":"0190c2a1-0000-7000-8000-0000000000bb","kind":"custom","action":"second"}`,
			wantStatus: 201, wantStored: 0,
			check: func(t *testing.T, e *env, _ []byte) {
				got, _ := e.store.Get(context.Background(), mustID("0190c2a1-0000-7000-8000-0000000000bb"))
				if got.Action != "first" {
					t.Errorf("stored event changed: action %q", got.Action)
				}
			},
		},
		{
			// encoding/json would take "Kind" for kind; what is
			// stored must be what was sent, so the name must match.
			name: "names are case-sensitive", method: post, url: events, contentType: jsonCT,
			body:       `{"kind":"custom","ACTION":"x"}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[0].ACTION", value: "x"},
		},
		{
			name: "a member given twice", method: post, url: events, contentType: jsonCT,
			body:       `[{"kind":"custom","action":"read"},{"kind":"custom","action":"read","action":"delete"}]`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[1].action", value: ""},
		},
		{
			name: "a string that is not UTF-8", method: post, url: events, contentType: jsonCT,
			body:       "{\"kind\":\"custom\",\"message\":\"caf\xe9\"}",
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[0].message", value: `caf\xe9`},
		},
		{
			name: "a lone surrogate", method: post, url: events, contentType: jsonCT,
			body:       `{"kind":"custom","action":"\ud800"}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[0].action", value: `\ud800`},
		},

		// Refused before decoding.
		{
			name: "no content type", method: post, url: events, body: ev("a"),
			wantStatus: 415, wantError: &wantError{code: "unsupported_media_type", field: "Content-Type", value: ""},
		},
		{
			name: "text/plain", method: post, url: events, contentType: "text/plain", body: ev("a"),
			wantStatus: 415, wantError: &wantError{code: "unsupported_media_type", field: "Content-Type", value: "text/plain"},
		},
		{
			name: "form", method: post, url: events, contentType: "application/x-www-form-urlencoded", body: "kind=custom",
			wantStatus: 415, wantError: &wantError{code: "unsupported_media_type", field: "Content-Type", value: "application/x-www-form-urlencoded"},
		},
		{
			name: "not utf-8", method: post, url: events, contentType: "application/json; charset=latin1", body: ev("a"),
			wantStatus: 415, wantError: &wantError{code: "unsupported_media_type", field: "Content-Type", value: "application/json; charset=latin1"},
		},
		{
			name: "malformed content type", method: post, url: events, contentType: "application/json; charset", body: ev("a"),
			wantStatus: 415, wantError: &wantError{code: "unsupported_media_type", field: "Content-Type", value: "application/json; charset"},
		},
		// A body with a Content-Encoding but identity: the API
		// decompresses nothing, and compressed bytes are never read as
		// JSON; the answer says what it takes (RFC 9110, 15.5.16).
		{
			name: "gzip", method: post, url: events, contentType: jsonCT, body: gzipped(ev("a")),
			header:     http.Header{"Content-Encoding": {"gzip"}},
			wantStatus: 415, wantError: &wantError{code: "unsupported_media_type", field: "Content-Encoding", value: "gzip"},
			wantHeader: http.Header{"Accept-Encoding": {"identity"}}, wantContent: []string{"uncompressed"},
		},
		{
			name: "gzip said, JSON sent", method: post, url: events, contentType: jsonCT, body: ev("a"),
			header:     http.Header{"Content-Encoding": {"gzip"}},
			wantStatus: 415, wantError: &wantError{code: "unsupported_media_type", field: "Content-Encoding", value: "gzip"},
		},
		{
			name: "ndjson, br", method: post, url: events, contentType: ndjsonCT, body: ev("a"),
			header:     http.Header{"Content-Encoding": {"br"}},
			wantStatus: 415, wantError: &wantError{code: "unsupported_media_type", field: "Content-Encoding", value: "br"},
		},
		{
			name: "identity, then gzip", method: post, url: events, contentType: jsonCT, body: ev("a"),
			header:     http.Header{"Content-Encoding": {"identity", "gzip"}},
			wantStatus: 415, wantError: &wantError{code: "unsupported_media_type", field: "Content-Encoding", value: "identity, gzip"},
		},
		{
			name: "identity is taken", method: post, url: events, contentType: jsonCT, body: ev("a"),
			header:     http.Header{"Content-Encoding": {"Identity"}},
			wantStatus: 201, wantStored: 1,
		},
		{
			name: "an empty Content-Encoding is taken", method: post, url: events, contentType: jsonCT, body: ev("a"),
			header:     http.Header{"Content-Encoding": {""}},
			wantStatus: 201, wantStored: 1,
		},
		{
			name: "body too large", opts: &server.Options{MaxBodyBytes: 64}, method: post, url: events, contentType: jsonCT,
			body:       `{"kind":"custom","action":"x","message":"` + strings.Repeat("a", 64) + `"}`,
			wantStatus: 413, wantError: &wantError{code: "too_large"}, wantContent: []string{"64 bytes"},
		},
		{
			name: "body too large without Content-Length", opts: &server.Options{MaxBodyBytes: 64}, method: post, url: events, contentType: ndjsonCT,
			body: strings.Repeat(ev("a")+"\n", 10), chunked: true,
			wantStatus: 413, wantError: &wantError{code: "too_large"},
		},
		{
			name: "body at the limit", opts: &server.Options{MaxBodyBytes: int64(len(ev("a")))}, method: post, url: events, contentType: jsonCT,
			body: ev("a"), chunked: true, wantStatus: 201, wantStored: 1,
		},

		// Refused by the decoder: the field is named, nothing stored.
		{
			name: "empty body", method: post, url: events, contentType: jsonCT,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "body"},
		},
		{
			name: "white space only", method: post, url: events, contentType: jsonCT, body: " \n\t",
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "body"},
		},
		{
			name: "ndjson blank lines only", method: post, url: events, contentType: ndjsonCT, body: "\n\n\r\n",
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "body"},
		},
		{
			name: "empty array", method: post, url: events, contentType: jsonCT, body: " [ ] ",
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events", value: "0 events"},
		},
		{
			name: "too many events", opts: &server.Options{MaxBatch: 3}, method: post, url: events, contentType: jsonCT,
			body:       "[" + ev("a") + "," + ev("b") + "," + ev("c") + "," + ev("d") + "," + ev("e") + "]",
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events", value: "5 events"},
		},
		{
			name: "too many ndjson events", opts: &server.Options{MaxBatch: 2}, method: post, url: events, contentType: ndjsonCT,
			body:       ev("a") + "\n" + ev("b") + "\n\n" + ev("c") + "\n",
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events", value: "3 events"},
		},
		{
			name: "unknown field", method: post, url: events, contentType: jsonCT,
			body:       `{"kind":"custom","action":"x","colour":"red"}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[0].colour", value: ""},
		},
		{
			name: "unknown nested field", method: post, url: events, contentType: jsonCT,
			body:       `{"kind":"custom","action":"x","actor":{"id":"1","nick":"ann"}}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[0].actor.nick", value: ""},
		},
		{
			name: "unknown field deep inside", method: post, url: events, contentType: jsonCT,
			body:       `{"kind":"request","action":"GET","request":{"geo":{"city":"Oslo","zip":1234}}}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[0].request.geo.zip", value: ""},
		},
		{
			name: "free-form maps take any key", method: post, url: events, contentType: jsonCT,
			body:       `{"kind":"custom","action":"x","extra":{"anything":{"nested":[1,{"k":2}]}},"changes":{"f":{"old":1,"new":{"a":2}}},"actor":{"extra":{"z":1}}}`,
			wantStatus: 201, wantStored: 1,
		},
		{
			name: "unknown field in a change", method: post, url: events, contentType: jsonCT,
			body:       `{"kind":"crud","action":"update","changes":{"status":{"old":"a","new":"b","was":"c"}}}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[0].changes.status.was", value: ""},
		},
		{
			name: "unknown field in the third event of an array", method: post, url: events, contentType: jsonCT,
			body:       five(`{"kind":"custom","action":"c","bogus":true}`),
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[2].bogus", value: ""},
		},
		{
			name: "unknown field on an ndjson line", method: post, url: events, contentType: ndjsonCT,
			body:       ev("a") + "\n\n" + `{"kind":"custom","action":"b","x":1}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[1].x", value: ""},
		},
		{
			name: "wrong type", method: post, url: events, contentType: jsonCT, body: `{"kind":5,"action":"x"}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[0].kind", value: "5"},
			wantContent: []string{"want a string"},
		},
		{
			name: "wrong nested type", method: post, url: events, contentType: jsonCT,
			body:       `[` + ev("a") + `,{"kind":"request","action":"GET","response":{"status":"200"}}]`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[1].response.status", value: "200"},
			wantContent: []string{"want an integer"},
		},
		{
			name: "fraction for an integer", method: post, url: events, contentType: jsonCT,
			body:       `{"kind":"request","action":"GET","response":{"duration_ns":1.5}}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[0].response.duration_ns", value: "1.5"},
		},
		{
			name: "wrong type in a header map", method: post, url: events, contentType: jsonCT,
			body:       `{"kind":"request","action":"GET","request":{"headers":{"X-N":1}}}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[0].request.headers.X-N", value: "1"},
		},
		{
			name: "number out of range", method: post, url: events, contentType: jsonCT,
			body:       `{"kind":"custom","action":"x","extra":{"n":1e400}}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[0].extra.n", value: "1e400"},
		},
		{
			name: "object where a string goes", method: post, url: events, contentType: jsonCT,
			body:       `{"kind":"custom","action":{"a":1}}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[0].action", value: `{"a":1}`},
		},
		{
			name: "malformed id", method: post, url: events, contentType: jsonCT,
			body:       `{"id":"not-a-uuid","kind":"custom","action":"x"}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[0].id", value: "not-a-uuid"},
		},
		{
			name: "id of the wrong type", method: post, url: events, contentType: jsonCT,
			body:       `[` + ev("a") + `,{"id":7,"kind":"custom","action":"x"}]`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[1].id", value: "7"},
		},
		{
			name: "malformed time", method: post, url: events, contentType: jsonCT,
			body:       `{"time":"yesterday","kind":"custom","action":"x"}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[0].time", value: "yesterday"},
		},
		{
			name: "time without zone", method: post, url: events, contentType: ndjsonCT,
			body:       ev("a") + "\n" + `{"time":"2025-01-02T15:04:05","kind":"custom","action":"x"}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[1].time", value: "2025-01-02T15:04:05"},
		},
		{
			name: "duplicate ids in a batch", method: post, url: events, contentType: jsonCT,
			body: `[{"id":"0190c2a1-0000-7000-8000-0000000000cc","kind":"custom","action":"x"},` + ev("y") +
				`,{"id":"0190C2A1-0000-7000-8000-0000000000CC","kind":"custom","action":"z"}]`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[2].id", value: "0190c2a1-0000-7000-8000-0000000000cc"},
			wantContent: []string{"events[0]"},
		},
		{
			name: "trailing garbage after an object", method: post, url: events, contentType: jsonCT, body: ev("a") + " x",
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "body", value: "x"},
		},
		{
			name: "two objects", method: post, url: events, contentType: jsonCT, body: ev("a") + "\n" + ev("b"),
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "body", value: ev("b")},
		},
		{
			name: "trailing garbage after an array", method: post, url: events, contentType: jsonCT, body: "[" + ev("a") + "]]",
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "body", value: "]"},
		},
		{
			name: "trailing garbage on an ndjson line", method: post, url: events, contentType: ndjsonCT,
			body:       ev("a") + "\n" + ev("b") + " " + ev("c"),
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[1]", value: ev("c")}, wantContent: []string{"line 2: has data after"},
		},
		{
			name: "truncated object", method: post, url: events, contentType: jsonCT, body: `{"kind":"custom","action":`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "body", value: ""},
		},
		{
			name: "truncated array", method: post, url: events, contentType: jsonCT, body: "[" + ev("a"),
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "body", value: ""},
		},
		{
			name: "trailing comma", method: post, url: events, contentType: jsonCT, body: "[" + ev("a") + ",]",
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[1]", value: ""},
		},
		{
			name: "missing comma", method: post, url: events, contentType: jsonCT, body: "[" + ev("a") + " " + ev("b") + "]",
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[1]", value: ""},
		},
		{
			name: "syntax error inside an element", method: post, url: events, contentType: jsonCT, body: `[` + ev("a") + `,{"kind":}]`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[1]", value: ""},
		},
		{
			name: "a scalar", method: post, url: events, contentType: jsonCT, body: `42`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "body", value: "42"},
		},
		{
			name: "null", method: post, url: events, contentType: jsonCT, body: `null`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "body", value: "null"},
		},
		{
			name: "array of scalars", method: post, url: events, contentType: jsonCT, body: `[` + ev("a") + `,"x"]`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[1]", value: `"x"`},
		},
		{
			name: "array holding null", method: post, url: events, contentType: jsonCT, body: `[null]`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[0]", value: "null"},
		},
		{
			name: "nested array", method: post, url: events, contentType: jsonCT, body: `[[` + ev("a") + `]]`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[0]", value: "[" + ev("a") + "]"},
		},
		{
			name: "array on an ndjson line", method: post, url: events, contentType: ndjsonCT, body: `[` + ev("a") + `]`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[0]", value: "[" + ev("a") + "]"},
		},
		{
			name: "ndjson line that is not JSON", method: post, url: events, contentType: ndjsonCT, body: ev("a") + "\n{oops}\n" + ev("c"),
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[1]", value: ""}, wantContent: []string{"line 2: is not valid JSON"},
		},

		// Refused by Commit, which names the event: nothing stored.
		{
			name: "invalid kind", method: post, url: events, contentType: jsonCT, body: `{"kind":"party","action":"x"}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[0].kind", value: "party"},
		},
		{
			name: "missing action", method: post, url: events, contentType: jsonCT, body: `{"kind":"custom"}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[0].action", value: ""},
		},
		{
			name: "only event 3 of 5 invalid stores none", method: post, url: events, contentType: jsonCT,
			body:       five(`{"kind":"crud","action":"explode"}`),
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[2].action", value: "explode"},
		},
		{
			name: "only ndjson event 3 of 5 invalid stores none", method: post, url: events, contentType: ndjsonCT,
			body:       ev("a") + "\n" + ev("b") + "\n" + `{"kind":"request","action":"GET","request":{"remote_ip":"nowhere"}}` + "\n" + ev("d") + "\n" + ev("e"),
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[2].request.remote_ip", value: "nowhere"},
		},
		{
			name: "status out of range", method: post, url: events, contentType: jsonCT,
			body:       `[` + ev("a") + `,` + ev("b") + `,{"kind":"request","action":"GET","response":{"status":999}}]`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[2].response.status", value: "999"},
		},
		{
			name: "time out of range", method: post, url: events, contentType: jsonCT,
			body:       `{"time":"1960-01-01T00:00:00Z","kind":"custom","action":"x"}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[0].time", value: "1960-01-01T00:00:00Z"},
		},

		// What a client may not send, though the Recorder records it:
		// a loss report (category audit_loss is the Recorder's own), and
		// a method that no request has and the list's filter refuses.
		{
			name: "a forged loss report", method: post, url: events, contentType: jsonCT,
			body:       `{"kind":"system","action":"security","severity":"error","category":"audit_loss","extra":{"dropped":0,"refused":0,"failed":0}}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[0].category", value: "audit_loss"},
			wantContent: []string{"reserved"},
		},
		{
			name: "a loss report in another case, event 3 of 5", method: post, url: events, contentType: jsonCT,
			body:       five(`{"kind":"custom","action":"x","category":"Audit_Loss"}`),
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[2].category", value: "Audit_Loss"},
		},
		{
			name: "a loss report on an ndjson line", method: post, url: events, contentType: ndjsonCT,
			body:       ev("a") + "\n" + `{"kind":"system","action":"security","category":"audit_loss"}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[1].category", value: "audit_loss"},
		},
		{
			name: "another category of a system event", method: post, url: events, contentType: jsonCT,
			body:       `{"kind":"system","action":"security","category":"audit_loss_drill"}`,
			wantStatus: 201, wantStored: 1,
		},
		{
			name: "a method with a space", method: post, url: events, contentType: jsonCT,
			body:       `{"kind":"request","action":"GET","request":{"method":"GE T"}}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[0].request.method", value: "GE T"},
			wantContent: []string{"is not an HTTP method"},
		},
		{
			name: "a method with a slash, event 3 of 5", method: post, url: events, contentType: jsonCT,
			body:       five(`{"kind":"external","action":"call","request":{"method":"GET/1"}}`),
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[2].request.method", value: "GET/1"},
		},
		{
			name: "a method with a control character", method: post, url: events, contentType: jsonCT,
			body:       `{"kind":"request","action":"GET","request":{"method":"GET\n"}}`,
			wantStatus: 400, wantError: &wantError{code: "invalid", field: "events[0].request.method", value: "GET\n"},
		},
		{
			name: "a method that is a token", method: post, url: events, contentType: jsonCT,
			body:       `[{"kind":"request","action":"PROPFIND","request":{"method":"PROPFIND"}},{"kind":"external","action":"call","request":{"method":"M-SEARCH"}}]`,
			wantStatus: 201, wantStored: 2,
		},
	} {
		t.Run(sc.name, sc.run)
	}
}

// gzipped returns s compressed with gzip.
func gzipped(s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.String()
}

func mustID(s string) activitylog.ID {
	id, err := activitylog.ParseID(s)
	if err != nil {
		panic(err)
	}
	return id
}

// TestIngestRoundTrip posts each body form and reads every event back
// by the ids the answer gave.
func TestIngestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, contentType, body string
		want                    []string // actions, in order
	}{
		{"object", jsonCT, `{"kind":"crud","action":"update","actor":{"id":"42","name":"Ann"},"object":{"type":"invoice","id":"INV-7"},"changes":{"status":{"old":"draft","new":"sent"}},"tenant":"acme"}`, []string{"update"}},
		{"array", jsonCT, `[{"kind":"auth","action":"login"},{"kind":"auth","action":"logout"}]`, []string{"login", "logout"}},
		{"ndjson", ndjsonCT, "{\"kind\":\"export\",\"action\":\"csv\"}\n\n{\"kind\":\"system\",\"action\":\"error\",\"message\":\"disk\"}\n", []string{"csv", "error"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, nil)
			w := e.do(t, post, events, tc.contentType, strings.NewReader(tc.body))
			if w.Code != 201 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			var ib ingestBody
			if err := json.Unmarshal(w.Body.Bytes(), &ib); err != nil {
				t.Fatal(err)
			}
			if ib.Accepted != len(tc.want) || len(ib.IDs) != len(tc.want) {
				t.Fatalf("answer %+v, want %d events", ib, len(tc.want))
			}
			for i, id := range ib.IDs {
				w := e.do(t, "GET", events+"/"+id, "", nil)
				if w.Code != 200 {
					t.Fatalf("GET %s: %d %s", id, w.Code, w.Body)
				}
				var got activitylog.Event
				if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
					t.Fatal(err)
				}
				if got.ID.String() != id || got.Action != tc.want[i] {
					t.Errorf("event %d: id %s action %q, want %s %q", i, got.ID, got.Action, id, tc.want[i])
				}
				if got.Service != "test" || got.Severity == "" || got.Time.IsZero() {
					t.Errorf("event %d was not completed by the Recorder: %+v", i, got)
				}
			}
			if tc.name == "object" {
				got, _ := e.store.Get(context.Background(), mustID(ib.IDs[0]))
				if got.Actor.Name != "Ann" || got.Object.ID != "INV-7" || got.Tenant != "acme" || got.Changes["status"].New != "sent" {
					t.Errorf("stored %+v", got)
				}
			}
			if n := e.count(t); n != int64(len(tc.want)) {
				t.Errorf("stored %d, want %d", n, len(tc.want))
			}
		})
	}
}

// TestIngestOrderOfIDs checks that ids come back in the order of the
// events, and that the events the server named are those stored.
func TestIngestOrderOfIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	var b strings.Builder
	for i := range 50 {
		fmt.Fprintf(&b, `{"kind":"custom","action":"a%02d"}`+"\n", i)
	}
	w := e.do(t, post, events, ndjsonCT, strings.NewReader(b.String()))
	var ib ingestBody
	json.Unmarshal(w.Body.Bytes(), &ib)
	if w.Code != 201 || len(ib.IDs) != 50 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	for i, id := range ib.IDs {
		got, err := e.store.Get(context.Background(), mustID(id))
		if err != nil || got.Action != fmt.Sprintf("a%02d", i) {
			t.Errorf("ids[%d] = %s: %q, %v", i, id, got.Action, err)
		}
	}
}

// commitFunc is an Ingester made of a function, for the error paths a
// real Recorder does not reach on demand.
type commitFunc func(ctx context.Context, events []activitylog.Event) error

func (f commitFunc) Commit(ctx context.Context, events []activitylog.Event) error {
	return f(ctx, events)
}

// syncBuffer is a log sink that the race detector accepts.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestIngestErrorMapping(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		err        error
		wantStatus int
		want       wantError
		retryAfter string
		wantLog    bool
	}{
		{"field error", &activitylog.FieldError{Field: "events[3].kind", Value: "x", Reason: "is bad"}, 400, wantError{"invalid", "events[3].kind", "x"}, "", false},
		{"wrapped field error", fmt.Errorf("commit: %w", activitylog.Invalid("events", "9 events", "too many")), 400, wantError{"invalid", "events", "9 events"}, "", false},
		{"bare invalid", fmt.Errorf("secret detail: %w", activitylog.ErrInvalid), 400, wantError{code: "invalid"}, "", false},
		{"queue full", fmt.Errorf("commit 3 events: %w", activitylog.ErrQueueFull), 503, wantError{code: "queue_full"}, "1", true},
		{"closed", activitylog.ErrClosed, 503, wantError{code: "unavailable"}, "", true},
		{"unavailable", fmt.Errorf("write: %w: secret detail", activitylog.ErrUnavailable), 503, wantError{code: "unavailable"}, "", true},
		{"not found", fmt.Errorf("secret detail: %w", activitylog.ErrNotFound), 404, wantError{code: "not_found"}, "", false},
		{"anything else", errors.New("secret detail"), 500, wantError{code: "internal"}, "", true},
		{"someone else's deadline", context.DeadlineExceeded, 500, wantError{code: "internal"}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs syncBuffer
			in := commitFunc(func(context.Context, []activitylog.Event) error { return tc.err })
			h := server.New(newEnv(t, nil).store, in, &server.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Authenticate: testAuth})
			r := httptest.NewRequest(post, events, strings.NewReader(ev("a")))
			r.Header.Set("Content-Type", jsonCT)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.wantStatus {
				t.Errorf("status %d, want %d: %s", w.Code, tc.wantStatus, w.Body)
			}
			checkError(t, w.Body.Bytes(), tc.want)
			if strings.Contains(w.Body.String(), "secret") {
				t.Errorf("answer shows internal detail: %s", w.Body)
			}
			if got := w.Header().Get("Retry-After"); got != tc.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tc.retryAfter)
			}
			if logged := logs.String() != ""; logged != tc.wantLog {
				t.Errorf("logged = %v, want %v: %s", logged, tc.wantLog, logs.String())
			}
			if tc.wantLog && strings.Contains(tc.err.Error(), "secret") && !strings.Contains(logs.String(), "secret detail") {
				t.Errorf("log lacks the detail: %s", logs.String())
			}
		})
	}
}

// TestIngestAfterShutdown uses a real Recorder that has been shut down.
func TestIngestAfterShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	if err := e.rec.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	w := e.do(t, post, events, jsonCT, strings.NewReader(ev("a")))
	if w.Code != 503 {
		t.Errorf("status %d, want 503: %s", w.Code, w.Body)
	}
	checkError(t, w.Body.Bytes(), wantError{code: "unavailable"})
	if n := e.count(t); n != 0 {
		t.Errorf("stored %d", n)
	}
}

// TestIngestContext checks that Commit gets a context without the
// request's values (the actor and request of the delivering call are
// not the ingested events'), but with its cancellation; and that
// nothing is written once the client has gone.
func TestIngestContext(t *testing.T) {
	t.Parallel()
	got := make(chan context.Context, 1)
	in := commitFunc(func(ctx context.Context, _ []activitylog.Event) error {
		got <- ctx
		<-ctx.Done()
		return fmt.Errorf("wait for audit commit: %w", ctx.Err())
	})
	e := newEnv(t, nil)
	h := server.New(e.store, in, &server.Options{Logger: discard, Authenticate: testAuth})

	ctx, cancel := context.WithCancel(context.Background())
	ctx = activitylog.WithActor(ctx, activitylog.Actor{ID: "ingesting-service"})
	ctx = activitylog.WithRequest(ctx, &activitylog.Request{Method: "POST", Path: "/api/v1/events"})
	r := httptest.NewRequestWithContext(ctx, post, events, strings.NewReader(ev("a")))
	r.Header.Set("Content-Type", jsonCT)
	w := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		h.ServeHTTP(w, r)
		close(done)
	}()
	cctx := <-got
	if a := activitylog.ActorFrom(cctx); a.ID != "" {
		t.Errorf("Commit's context carries the request's actor %+v", a)
	}
	if rq := activitylog.RequestFrom(cctx); rq != nil {
		t.Errorf("Commit's context carries the request's Request %+v", rq)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("handler did not return after the client went away")
	}
	if w.Body.Len() != 0 {
		t.Errorf("wrote %q to a client that had gone", w.Body)
	}
}

// TestIngestDeadline: when the host's deadline for the request passes
// during Commit, the answer is 503, not 500.
func TestIngestDeadline(t *testing.T) {
	t.Parallel()
	in := commitFunc(func(ctx context.Context, _ []activitylog.Event) error {
		<-ctx.Done()
		return fmt.Errorf("wait for audit commit: %w", ctx.Err())
	})
	h := server.New(newEnv(t, nil).store, in, &server.Options{Logger: discard, Authenticate: testAuth})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	r := httptest.NewRequestWithContext(ctx, post, events, strings.NewReader(ev("a")))
	r.Header.Set("Content-Type", jsonCT)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 503 {
		t.Errorf("status %d, want 503: %s", w.Code, w.Body)
	}
	checkError(t, w.Body.Bytes(), wantError{code: "unavailable"})
}
