package sqlite

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/eventjson"
	"github.com/activitylog/activitylog/storetest"
)

// The integrity chain hashes activitylog.AppendCanonical of an event when
// it is written, and a verifier hashes it again from the event it reads
// back. These tests hold the two to each other, for every way this
// store reads an event: eventjson.Decode (Get, Query) and docDecoder (Scan).

func canonical(t testing.TB, e *activitylog.Event) []byte {
	t.Helper()
	b, err := activitylog.Canonical(e)
	if err != nil {
		t.Fatalf("Canonical: %v", err)
	}
	return b
}

// checkCanonicalStored stores e as Write encodes it, reads it back both
// ways, and compares the canonical bytes.
func checkCanonicalStored(t testing.TB, e *activitylog.Event) {
	t.Helper()
	want := canonical(t, e)
	doc, err := eventjson.Append(nil, e, nil)
	if err != nil {
		t.Fatalf("eventjson.Append: %v", err)
	}
	ns := e.Time.UnixNano()
	got, err := eventjson.Decode(doc, ns)
	if err != nil {
		t.Fatalf("eventjson.Decode(%s): %v", doc, err)
	}
	if c := canonical(t, &got); !bytes.Equal(c, want) {
		t.Fatalf("canonical bytes change when stored and read back (eventjson.Decode)\n got %s\nwant %s\n doc %s", c, want, doc)
	}
	var scanned activitylog.Event
	if err := decodeScanned(&scanned, doc, ns); err != nil {
		t.Fatalf("decodeScanned(%s): %v", doc, err)
	}
	if c := canonical(t, &scanned); !bytes.Equal(c, want) {
		t.Fatalf("canonical bytes change when stored and scanned (docDecoder)\n got %s\nwant %s\n doc %s", c, want, doc)
	}
}

// goEvent returns an event as Go code builds one: integers of every
// type, float32, json.Number, structs, times in other zones, invalid
// UTF-8, empty maps, integers beyond 2^53.
func goEvent(r *rand.Rand, i int) activitylog.Event {
	e := storetest.NewEvent(i)
	str := func() string {
		parts := []string{"a", `"`, `\`, "\x00", "\n", "\x7f", "<&>", "é", "\u2028", "\ufb33", "😀", "\xff", "\xed\xa0\x80", "\uFFFD"}
		var b strings.Builder
		for range r.IntN(5) {
			b.WriteString(parts[r.IntN(len(parts))])
		}
		return b.String()
	}
	type point struct {
		X int     `json:"x"`
		Y float32 `json:"y,omitempty"`
	}
	values := []func() any{
		func() any { return r.IntN(1000) },
		func() any { return int64(r.Uint64()) },
		func() any { return uint64(r.Uint64()) },
		func() any { return int32(r.Uint32()) },
		func() any { return float32(r.NormFloat64()) },
		func() any { return math.Float64frombits(r.Uint64() &^ (1 << 62)) }, // never NaN or an infinity
		func() any { return json.Number(strconv.FormatInt(int64(r.Uint64()), 10)) },
		func() any { return json.Number(strconv.FormatFloat(r.ExpFloat64(), 'e', -1, 64)) },
		func() any { return point{X: r.IntN(9), Y: float32(r.Float64())} },
		func() any { return time.Unix(r.Int64N(1<<32), r.Int64N(1e9)).In(time.FixedZone("", 3600)) },
		func() any { return []string{str(), str()} },
		func() any { return map[string]string{str(): str()} },
		func() any { return map[string]any{str(): []any{nil, true, str()}, "empty": map[string]any{}} },
		func() any { return str() },
		func() any { return math.Copysign(0, -1) },
		func() any { return []int(nil) },
	}
	e.Extra = map[string]any{}
	for range r.IntN(8) {
		e.Extra[str()] = values[r.IntN(len(values))]()
	}
	if r.IntN(3) == 0 {
		e.Actor.Extra = map[string]any{} // written as "actor":{} when the rest is empty
	}
	e.Changes = map[string]activitylog.Change{str(): {Old: values[r.IntN(len(values))](), New: values[r.IntN(len(values))]()}}
	e.Message = str()
	e.Request.Headers = map[string]string{str(): str(), str(): str()}
	e.Time = e.Time.In(time.FixedZone("", (r.IntN(48*60-1)-(24*60-1))*60))
	if r.IntN(4) == 0 {
		e.Response.Duration = time.Duration(r.Uint64() >> 1) // beyond 2^53
	}
	return e
}

func TestCanonicalSurvivesTheStore(t *testing.T) {
	for i := range 20 {
		e := storetest.NewEvent(i)
		checkCanonicalStored(t, &e)
	}
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 2000 {
		e := goEvent(r, i)
		checkCanonicalStored(t, &e)
	}
}

// The same through a real store: Write, then Get and Scan.
func TestCanonicalThroughWriteGetScan(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "audit.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := rand.New(rand.NewPCG(9, 10))
	events := storetest.Fixture(30)
	for i := range 100 {
		events = append(events, goEvent(r, i))
	}
	want := map[activitylog.ID][]byte{}
	for i := range events {
		if _, dup := want[events[i].ID]; dup {
			t.Fatalf("duplicate id %s", events[i].ID)
		}
		want[events[i].ID] = canonical(t, &events[i])
	}
	if err := s.Write(ctx, events); err != nil {
		t.Fatal(err)
	}
	for id, w := range want {
		e, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got := canonical(t, &e); !bytes.Equal(got, w) {
			t.Fatalf("Get(%s): canonical bytes changed\n got %s\nwant %s", id, got, w)
		}
	}
	n := 0
	err = s.Scan(ctx, activitylog.Filter{}, func(e *activitylog.Event) error {
		n++
		if got := canonical(t, e); !bytes.Equal(got, want[e.ID]) {
			t.Fatalf("Scan, event %s: canonical bytes changed\n got %s\nwant %s", e.ID, got, want[e.ID])
		}
		return nil
	})
	if err != nil || n != len(events) {
		t.Fatalf("Scan: %d events, %v; want %d", n, err, len(events))
	}
}

func FuzzCanonicalStored(f *testing.F) {
	f.Add("GET /", "a<b>&c", "\xff\u2028", 1.5, int64(0))
	f.Add("", "\xfe", "\xff", 1e21, int64(-1))
	f.Add("k", "k", "v", 1e300, int64(1)<<62)
	f.Fuzz(func(t *testing.T, msg, key, val string, num float64, n int64) {
		if math.IsNaN(num) || math.IsInf(num, 0) {
			return
		}
		e := storetest.NewEvent(int(n & 0xff))
		e.Message = msg
		e.Time = time.Unix(0, n).In(time.FixedZone("", int(n%1440)*60))
		e.Actor.Name = val
		f32 := float32(num)
		if math.IsInf(float64(f32), 0) {
			f32 = math.MaxFloat32
		}
		e.Extra = map[string]any{key: val, val: num, "n": []any{num, key, n, uint64(n), f32}, "k": json.Number(strconv.FormatInt(n, 10))}
		e.Changes = map[string]activitylog.Change{key: {Old: num, New: val}, val: {New: map[string]any{key: n}}}
		e.Request.Headers = map[string]string{key: val, val: key}
		e.Request.Geo.Lat = num
		e.Response.Duration = time.Duration(n)
		checkCanonicalStored(t, &e)
	})
}
