package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/activitylog/activitylog/internal/racebuild"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/eventjson"
	"github.com/activitylog/activitylog/storetest"
)

func decodeScanned(e *activitylog.Event, data []byte, ns int64) error {
	var d docDecoder
	return d.decode(e, string(data), ns)
}

// checkDecoding holds decodeScanned to eventjson.Decode (encoding/json):
// the same event, or an error from both. fast says the document must
// take docDecoder's path rather than fall back.
func checkDecoding(t *testing.T, doc []byte, fast bool) {
	t.Helper()
	const ns = 1_700_000_000_123_456_789
	want, wantErr := eventjson.Decode(doc, ns)
	var got activitylog.Event
	got.Extra = map[string]any{"left": "over"} // must be reset
	err := decodeScanned(&got, doc, ns)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("decodeScanned error %v, eventjson.Decode error %v\ndoc %s", err, wantErr, doc)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeScanned differs from eventjson.Decode\n got %#v\nwant %#v\ndoc %s", got, want, doc)
	}
	d := docDecoder{s: string(doc)}
	var e activitylog.Event
	if ok := d.event(&e); fast && !ok {
		t.Fatalf("docDecoder left to encoding/json a document in the stored form: %s", doc)
	}
}

func TestDecodeScannedMatchesEncodingJSON(t *testing.T) {
	now := time.Date(2026, 5, 17, 10, 11, 12, 123456789, time.UTC)
	minimal := activitylog.Event{ID: activitylog.NewID(now), Time: now, Kind: activitylog.KindCustom, Action: "x", Severity: activitylog.SeverityInfo}
	cases := map[string]func(e *activitylog.Event){
		"minimal":      func(e *activitylog.Event) {},
		"zone":         func(e *activitylog.Event) { e.Time = now.In(time.FixedZone("X", -(3*3600 + 30*60))) },
		"whole second": func(e *activitylog.Event) { e.Time = now.Truncate(time.Second) },
		"zero time":    func(e *activitylog.Event) { e.Time = time.Time{} },
		"escapes": func(e *activitylog.Event) {
			e.Message = "<a href=\"x\">&amp;</a>\\ \b\f\n\r\t\x00\x1f\x7f é 日本 \u2028\u2029 \xff\xfe end"
			e.Extra = map[string]any{"<k\">": "\xff", "日本": "é"}
		},
		"actor extra":   func(e *activitylog.Event) { e.Actor.Extra = map[string]any{} },
		"actor type":    func(e *activitylog.Event) { e.Actor = activitylog.Actor{Type: activitylog.ActorService} },
		"object":        func(e *activitylog.Event) { e.Object = activitylog.Object{Repr: "only repr"} },
		"empty changes": func(e *activitylog.Event) { e.Changes = map[string]activitylog.Change{} },
		"changes": func(e *activitylog.Event) {
			e.Changes = map[string]activitylog.Change{"b": {}, "a": {Old: 1, New: int64(-2)}, "<k>": {Old: []any{nil, true, 1.5, []any{}}, New: map[string]any{"z": nil}}}
		},
		"floats": func(e *activitylog.Event) {
			e.Extra = map[string]any{"a": 0.1, "b": 1e21, "c": 1e20, "d": 1e-6, "e": 1e-7, "f": -1.5e-10, "g": math.Copysign(0, -1),
				"h": 123456789.0, "i": math.MaxFloat64, "j": math.SmallestNonzeroFloat64, "k": 3.0, "l": int64(math.MaxInt64)}
		},
		"other values": func(e *activitylog.Event) {
			e.Extra = map[string]any{"p": struct{ X, Y int }{1, 2}, "t": now, "n": json.Number("12"), "u": uint8(3), "s": []string{"a", "<"},
				"ns": []string(nil), "na": []any(nil), "nm": map[string]any(nil), "r": json.RawMessage(`{ "a" : 1 }`), "f32": float32(0.1)}
		},
		"request headers": func(e *activitylog.Event) { e.Request = activitylog.Request{Headers: map[string]string{}} },
		"geo":             func(e *activitylog.Event) { e.Request.Geo = activitylog.Geo{Lat: 1e-7, Lon: -180} },
		"geo city":        func(e *activitylog.Event) { e.Request.Geo = activitylog.Geo{City: "X"} },
		"response all": func(e *activitylog.Event) {
			e.Response = activitylog.Response{Status: 200, Duration: -1, RequestBytes: math.MaxInt64, ResponseBytes: math.MinInt64,
				Headers: map[string]string{"b": "1", "a": "<"}, Body: "x"}
		},
		"tool": func(e *activitylog.Event) { e.Tool, e.Category = "t", "c" },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			e := minimal
			change(&e)
			doc, err := eventjson.Append(nil, &e, nil)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			checkDecoding(t, doc, true)
		})
	}
	for i := range 20 {
		e := storetest.NewEvent(i)
		doc, err := eventjson.Append(nil, &e, nil)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		checkDecoding(t, doc, true)
	}
}

// TestDecodeScannedOtherDocuments: documents in another form than
// Write's decode as encoding/json decodes them, through it or not.
func TestDecodeScannedOtherDocuments(t *testing.T) {
	const id = `"01890a5d-ac96-774b-bcce-b302099a8057"`
	for _, doc := range []string{
		`{"id":` + id + `,"kind":"crud"}`,
		`{ "id":` + id + `, "kind" : "crud" }`,
		`{"kind":"crud","id":` + id + `}`,
		`{"id":` + id + `,"id":` + id + `}`,
		`{"ID":` + id + `,"Kind":"crud"}`,
		`{"id":` + id + `,"colour":"red"}`,
		`{"id":` + id + `,"k\u0069nd":"crud"}`,
		`{"id":` + id + `,"kind":null,"extra":null,"changes":null,"actor":null}`,
		`{"id":null}`,
		`{"id":"nope"}`,
		`{"id":"00000000-0000-0000-0000-000000000000"}`,
		`{"time":"2026-01-02T03:04:05Z"}`,
		`{"time":"2026-01-02T03:04:05.123+01:00"}`,
		`{"time":"2026-13-02T03:04:05Z"}`,
		`{"time":"2026-01-02T03:04:05"}`,
		`{"time":"2026-01-02T03:04:05\u005a"}`,
		`{"time":3}`,
		`{"message":"a\"b\\c\u00e9\ud83d\ude00\ud800"}`,
		"{\"message\":\"\xff\xfe\"}",
		"{\"message\":\"\xff\\u0026\"}",
		"{\"message\":\"é\\u0026\\/\\b\\f\"}",
		`{"message":"\u12"}`,
		`{"message":"\u12"`,
		`{"message":"\uzzzz"}`,
		`{"message":"\u+123"}`,
		`{"message":"\x"}`,
		`{"message":"\`,
		`{"message":"\ud800\u0041"}`,
		"{\"message\":\"a\x01\"}",
		`{"message":"unterminated}`,
		`{"message":"x"}trailing`,
		`{"message":"x"} `,
		`{"message":"x",}`,
		`{"response":{"status":200.0}}`,
		`{"response":{"status":2e2}}`,
		`{"response":{"status":-0}}`,
		`{"response":{"status":01}}`,
		`{"response":{"status":99999999999999999999}}`,
		`{"response":{"duration_ns":9223372036854775807,"request_bytes":-9223372036854775808}}`,
		`{"request":{"geo":{"lat":1e400}}}`,
		`{"request":{"geo":{"lat":-0.0,"lon":1E+2}}}`,
		`{"request":{"geo":{"lat":.5}}}`,
		`{"request":{"headers":{"a":"1","a":"2"}}}`,
		`{"request":{"headers":{"a":null}}}`,
		`{"request":{"headers":{}}}`,
		`{"extra":{"a":1,"a":{"b":[]},"c":[1,"x",null,true,false,{}],"d":-1.5e-3}}`,
		`{"extra":{"a":tru}}`,
		`{"extra":{"a":[1,]}}`,
		`{"extra":{"a":1e400}}`,
		`{"extra":{"a":-}}`,
		`{"extra":[]}`,
		`{"changes":{"x":{"new":1,"old":2}}}`,
		`{"changes":{"x":{"old":null,"new":null},"x":{"new":3}}}`,
		`{"changes":{"x":null}}`,
		`{"changes":{"x":{"old":1,"mid":2}}}`,
		`{"actor":{"id":"a","extra":{"k":"v"}},"object":{"type":"t","id":"1","repr":"r"}}`,
		`{"actor":{"extra":{"k":"v"},"id":"a"}}`,
		`{}`,
		`[]`,
		``,
	} {
		t.Run(doc, func(t *testing.T) { checkDecoding(t, []byte(doc), false) })
	}
	deep := `{"extra":{"a":` + fmt.Sprintf("%s1%s", repeat("[", maxScanDepth+5), repeat("]", maxScanDepth+5)) + `}}`
	checkDecoding(t, []byte(deep), false)
}

func repeat(s string, n int) string {
	b := make([]byte, 0, len(s)*n)
	for range n {
		b = append(b, s...)
	}
	return string(b)
}

// TestDecodeScannedEveryField fails when Event gains a field that
// docDecoder does not know, which would send every document that has it
// to encoding/json: a correct but slow export.
func TestDecodeScannedEveryField(t *testing.T) {
	var e activitylog.Event
	fill(t, reflect.ValueOf(&e).Elem(), "event")
	e.ID = activitylog.NewID(time.Now())
	e.Time = time.Now()
	doc, err := eventjson.Append(nil, &e, nil)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	checkDecoding(t, doc, true)
}

// fill sets every field of v to a value that is not zero.
func fill(t *testing.T, v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(path)
	case reflect.Int, reflect.Int64:
		v.SetInt(7)
	case reflect.Float64:
		v.SetFloat(1.5)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			return
		}
		for i := range v.NumField() {
			fill(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		ev := reflect.New(v.Type().Elem()).Elem()
		if ev.Kind() == reflect.Interface {
			ev.Set(reflect.ValueOf(path))
		} else {
			fill(t, ev, path+"[k]")
		}
		m.SetMapIndex(reflect.ValueOf("k"), ev)
		v.Set(m)
	case reflect.Interface:
		v.Set(reflect.ValueOf(path))
	case reflect.Array: // the ID, set by the caller
	default:
		t.Fatalf("fill %s: a field of kind %s; teach fill (and docDecoder) about it", path, v.Kind())
	}
}

func FuzzDecodeScanned(f *testing.F) {
	for i := range 4 {
		e := storetest.NewEvent(i)
		doc, _ := eventjson.Append(nil, &e, nil)
		f.Add(doc)
	}
	f.Add([]byte(`{"extra":{"a":[1,"x",null,true,{"b":-1.5e-3}]},"changes":{"x":{"old":null,"new":"\u00e9"}}}`))
	f.Add([]byte(`{"time":"2026-01-02T03:04:05Z","response":{"status":200,"duration_ns":5}}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		checkDecoding(t, doc, false)
	})
}

func BenchmarkDecode(b *testing.B) {
	e := storetest.TrailEvent(7, time.Now())
	doc, err := eventjson.Append(nil, &e, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("eventjson.Decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			if _, err := eventjson.Decode(doc, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decodeScanned", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(doc)))
		var (
			e activitylog.Event
			d docDecoder
		)
		for b.Loop() {
			if err := d.decode(&e, string(doc), 1); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// scanAll returns the ids Scan gives for f.
func scanAll(t *testing.T, s *Store, f activitylog.Filter) []activitylog.ID {
	t.Helper()
	var ids []activitylog.ID
	err := s.Scan(context.Background(), f, func(e *activitylog.Event) error {
		ids = append(ids, e.ID)
		return nil
	})
	if err != nil {
		t.Fatalf("Scan(%+v): %v", f, err)
	}
	return ids
}

// queryAll returns the ids that paging through Query gives for f.
func queryAll(t *testing.T, s *Store, f activitylog.Filter) []activitylog.ID {
	t.Helper()
	var ids []activitylog.ID
	f.PageSize = 7
	for {
		p, err := s.Query(context.Background(), f)
		if err != nil {
			t.Fatalf("Query(%+v): %v", f, err)
		}
		for _, e := range p.Events {
			ids = append(ids, e.ID)
		}
		if p.Next == "" {
			return ids
		}
		f.Cursor = p.Next
	}
}

func openScanStore(t *testing.T, n int) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "scan.db"), &Options{CheckpointInterval: -1})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Write(context.Background(), storetest.Fixture(n)); err != nil {
		t.Fatalf("seed: %v", err)
	}
	return s
}

// setScan makes Scan end its statement after every row, so that every
// event of a test is reached through the keyset condition.
func setScan(t *testing.T, hold time.Duration, every int) {
	oldHold, oldEvery := scanHold, scanCheckEvery
	scanHold, scanCheckEvery = hold, every
	t.Cleanup(func() { scanHold, scanCheckEvery = oldHold, oldEvery })
}

// TestScanMatchesQuery: for every ordering and a few filters, Scan gives
// the events that paging through Query gives, in the same order, and
// equal to what Get reads, whether it ends its statement after every
// row or never.
func TestScanMatchesQuery(t *testing.T) {
	s := openScanStore(t, 120)
	filters := []activitylog.Filter{
		{},
		{Kind: activitylog.KindCRUD},
		{Tenant: "acme"},
		{NoTenant: true, StatusMin: 400},
		{From: storetest.Base.Add(10 * storetest.EventInterval), To: storetest.Base.Add(90 * storetest.EventInterval)},
		{Search: "invoice"},
		{ActorID: "nobody"},
	}
	orderings := activitylog.Orderings
	if racebuild.Enabled {
		orderings = orderings[:2] // 30 s under the detector with all of them
	}
	for _, hold := range []time.Duration{0, time.Hour} {
		t.Run(fmt.Sprint("hold=", hold), func(t *testing.T) {
			setScan(t, hold, 1)
			for _, o := range orderings {
				for _, ord := range []string{o, "-" + o} {
					for _, f := range filters {
						f.Ordering = ord
						got, want := scanAll(t, s, f), queryAll(t, s, f)
						if !slices.Equal(got, want) {
							t.Errorf("ordering %s, filter %+v: Scan gave %d events, paging %d, or another order", ord, f, len(got), len(want))
						}
					}
				}
			}
		})
	}
	// The events themselves.
	err := s.Scan(context.Background(), activitylog.Filter{}, func(e *activitylog.Event) error {
		want, err := s.Get(context.Background(), e.ID)
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(*e, want) {
			return fmt.Errorf("Scan gave %+v, Get %+v", *e, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestScanIgnoresPaging(t *testing.T) {
	s := openScanStore(t, 30)
	cur := activitylog.EncodeCursor(activitylog.Cursor{Ordering: "time", ID: activitylog.NewID(time.Now())})
	got := scanAll(t, s, activitylog.Filter{Cursor: cur, PageSize: 3, Page: 2})
	if len(got) != 30 {
		t.Errorf("Scan with paging fields gave %d events, want all 30", len(got))
	}
}

func TestScanErrors(t *testing.T) {
	s := openScanStore(t, 30)
	ctx := context.Background()

	stop := errors.New("stop")
	n := 0
	err := s.Scan(ctx, activitylog.Filter{}, func(*activitylog.Event) error {
		n++
		if n == 5 {
			return stop
		}
		return nil
	})
	if err != stop || n != 5 {
		t.Errorf("Scan after fn failed at 5: %v after %d events, want fn's error as it is", err, n)
	}

	var fe *activitylog.FieldError
	if err := s.Scan(ctx, activitylog.Filter{Kind: "nope"}, nil); !errors.As(err, &fe) || fe.Field != "kind" {
		t.Errorf("Scan of a bad filter: %v, want a FieldError for kind", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	n = 0
	err = s.Scan(cctx, activitylog.Filter{}, func(*activitylog.Event) error {
		if n++; n == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n >= 30 {
		t.Errorf("Scan cancelled at 3: %v after %d events, want context.Canceled before the end", err, n)
	}

	s.Close()
	if err := s.Scan(ctx, activitylog.Filter{}, nil); !errors.Is(err, activitylog.ErrUnavailable) {
		t.Errorf("Scan after Close: %v, want ErrUnavailable", err)
	}
}

// TestScanLetsTheLogBeCheckpointed: a scan whose consumer is slow ends
// its read transaction from time to time, so that a checkpoint can copy
// what was written meanwhile; holding one statement open, it could not.
func TestScanLetsTheLogBeCheckpointed(t *testing.T) {
	for _, c := range []struct {
		hold time.Duration
		want bool
	}{{0, true}, {time.Hour, false}} {
		t.Run(fmt.Sprint("hold=", c.hold), func(t *testing.T) {
			setScan(t, c.hold, 1)
			s := openScanStore(t, 10)
			ckpt, err := sql.Open("sqlite", s.Path())
			if err != nil {
				t.Fatal(err)
			}
			defer ckpt.Close()
			ctx := context.Background()
			var complete bool
			n := 0
			err = s.Scan(ctx, activitylog.Filter{}, func(*activitylog.Event) error {
				n++
				switch n {
				case 1:
					// Written after the statement began.
					return s.Write(ctx, []activitylog.Event{storetest.NewEvent(1000)})
				case 3:
					var busy, log, done int
					if err := ckpt.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done); err != nil {
						return err
					}
					complete = log == done
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if complete != c.want {
				t.Errorf("checkpoint during the scan complete = %v, want %v", complete, c.want)
			}
		})
	}
}
