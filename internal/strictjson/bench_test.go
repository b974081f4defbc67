package strictjson_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/strictjson"
	"github.com/activitylog/activitylog/storetest"
)

// BenchmarkCheck measures what the strict check adds to decoding an
// ingested event: "decode" is encoding/json's Unmarshal of a realistic
// trail event (storetest.TrailEvent, about 900 bytes of JSON) into an
// activitylog.Event, the baseline; "check" is Check of the same bytes
// against the Event type; "check-valid" the same with Options.Valid
// (the ingest API has decoded the bytes into a json.RawMessage, which
// checked them); "check+decode" both, as the ingest API does.
// Compare as ratios, in alternating rounds:
//
//	bench/ratios.sh 5 ./internal/strictjson/ BenchmarkCheck BenchmarkCheck/decode 1s
func BenchmarkCheck(b *testing.B) {
	e := storetest.TrailEvent(3, time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC))
	data, err := json.Marshal(&e)
	if err != nil {
		b.Fatal(err)
	}
	t := reflect.TypeFor[activitylog.Event]()
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var v activitylog.Event
			if err := json.Unmarshal(data, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("check", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if err := strictjson.Check(data, t, strictjson.Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("check-valid", func(b *testing.B) { // data known valid, as at ingest
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if err := strictjson.Check(data, t, strictjson.Options{Valid: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("check+decode", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if err := strictjson.Check(data, t, strictjson.Options{Valid: true}); err != nil {
				b.Fatal(err)
			}
			var v activitylog.Event
			if err := json.Unmarshal(data, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
