package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
)

// hostileFields are where FuzzIngestHostile puts its value, as a JSON
// path into one event.
var hostileFields = [][]string{
	{"action"}, {"message"}, {"tenant"}, {"service"}, {"category"}, {"tool"},
	{"actor", "id"}, {"actor", "name"}, {"actor", "email"},
	{"object", "type"}, {"object", "id"}, {"object", "repr"},
	{"request", "path"}, {"request", "method"}, {"request", "remote_ip"}, {"request", "user_agent"},
	{"extra", "k"}, {"id"}, {"time"}, {"kind"}, {"severity"},
}

// hostileBody builds one event whose field path holds value, raw: the
// bytes go into the JSON string as they are (invalid UTF-8 and all),
// with only the quote, the backslash and control characters escaped; or,
// with number set, as a bare JSON number. nest wraps the value in that
// many arrays and objects, alternately.
func hostileBody(path []string, value []byte, number bool, nest int) []byte {
	var v bytes.Buffer
	for i := range nest {
		if i%2 == 0 {
			v.WriteString(`[`)
		} else {
			v.WriteString(`{"n":`)
		}
	}
	if number {
		v.Write(value)
	} else {
		v.WriteByte('"')
		for _, c := range value {
			switch {
			case c == '"' || c == '\\':
				v.WriteByte('\\')
				v.WriteByte(c)
			case c < 0x20:
				v.WriteString(`\u00`)
				v.WriteString(strconv.FormatUint(uint64(c)>>4, 16))
				v.WriteString(strconv.FormatUint(uint64(c)&15, 16))
			default:
				v.WriteByte(c)
			}
		}
		v.WriteByte('"')
	}
	for i := nest - 1; i >= 0; i-- {
		if i%2 == 0 {
			v.WriteString(`]`)
		} else {
			v.WriteString(`}`)
		}
	}
	var b bytes.Buffer
	b.WriteString(`{"kind":"custom","action":"x"`)
	if len(path) == 1 {
		// A later key wins in encoding/json; the server may refuse the
		// duplicate, which is fine too.
		b.WriteString(`,"` + path[0] + `":` + v.String())
	} else {
		b.WriteString(`,"` + path[0] + `":{"` + path[1] + `":` + v.String() + `}`)
	}
	b.WriteString(`}`)
	return b.Bytes()
}

// FuzzIngestHostile posts events with a hostile value in one field:
// huge strings, invalid UTF-8, NUL bytes, SQL metacharacters, numbers
// where strings go, values nested hundreds deep. Each must be stored
// whole (201, exactly the ids answered, readable back) or refused with a
// 4xx JSON error, a 400 naming the field, and nothing stored. A batch
// holding one good and one hostile event is stored whole or not at all.
func FuzzIngestHostile(f *testing.F) {
	for i := range hostileFields {
		for _, s := range []struct {
			v      string
			number bool
			nest   uint16
		}{
			{"plain", false, 0},
			{"'; DROP TABLE events; --", false, 0},
			{"a\x00b", false, 0},
			{"\xff\xfe\xfd", false, 0},
			{"%_\\", false, 0},
			{"1e400", true, 0},
			{"-0", true, 3},
			{"x", false, 600},
			{strings.Repeat("é", 5000), false, 0},
		} {
			f.Add(uint8(i), []byte(s.v), s.number, s.nest, uint16(1), false)
		}
	}
	f.Add(uint8(0), []byte("y"), false, uint16(0), uint16(60000), true)
	e := fastEnv(f)
	f.Fuzz(func(t *testing.T, field uint8, value []byte, number bool, nest, repeat uint16, batch bool) {
		path := hostileFields[int(field)%len(hostileFields)]
		if repeat > 1 && len(value)*int(repeat) <= 64<<10 {
			value = bytes.Repeat(value, int(repeat))
		}
		if number && !json.Valid(value) {
			number = false
		}
		body := hostileBody(path, value, number, int(nest%1024))
		if batch {
			body = append(append([]byte(`[{"kind":"custom","action":"good"},`), body...), ']')
		}
		before := e.count(t)
		w := e.do(t, "POST", "/api/v1/events", "application/json", bytes.NewReader(body))
		after := e.count(t)
		if w.Code >= 500 {
			t.Fatalf("%s = %.100q: status %d: %s", strings.Join(path, "."), value, w.Code, w.Body)
		}
		if w.Code == 201 {
			var ib ingestBody
			if err := json.Unmarshal(w.Body.Bytes(), &ib); err != nil {
				t.Fatal(err)
			}
			want := 1
			if batch {
				want = 2
			}
			if ib.Accepted != want || len(ib.IDs) != want {
				t.Fatalf("201 accepting %d (ids %v), want %d", ib.Accepted, ib.IDs, want)
			}
			// An id given in the body may already be stored: then
			// nothing new is.
			if n := after - before; n > int64(want) || (n < int64(want) && path[0] != "id") {
				t.Fatalf("201 accepting %d, but %d stored", want, n)
			}
			for _, s := range ib.IDs {
				id, err := activitylog.ParseID(s)
				if err != nil {
					t.Fatalf("201 answering id %q: %v", s, err)
				}
				if _, err := e.store.Get(context.Background(), id); err != nil {
					t.Fatalf("stored event %s: %v", s, err)
				}
			}
			return
		}
		if after != before {
			t.Fatalf("status %d, but %d events stored: half-written", w.Code, after-before)
		}
		var eb errorBody
		if err := json.Unmarshal(w.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
			t.Fatalf("status %d without a JSON error: %.300q", w.Code, w.Body)
		}
		if w.Code == 400 && eb.Error.Field == "" {
			t.Fatalf("%s = %.100q (nest %d): 400 naming no field: %s", strings.Join(path, "."), value, nest%1024, w.Body)
		}
	})
}

// fastEnv is newEnv with a Recorder that writes a batch as soon as it
// is queued, so that each accepted POST costs a write, not a flush
// interval.
func fastEnv(t testing.TB) *env {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "audit.db"), nil)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	rec := activitylog.NewRecorder(store, &activitylog.Options{Service: "test", Logger: discard, Mode: activitylog.Sync, FlushInterval: time.Millisecond})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rec.Shutdown(ctx); err != nil {
			t.Errorf("shut down recorder: %v", err)
		}
		if err := store.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return &env{store: store, rec: rec, h: server.New(store, rec, &server.Options{MaxBatch: 50, Logger: discard, Authenticate: testAuth})}
}
