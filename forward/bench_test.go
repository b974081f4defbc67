package forward_test

import (
	"encoding/json"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/forward"
)

// BenchmarkCEF formats one event in CEF; BenchmarkCEF/json_baseline
// marshals the same event with encoding/json, for a ratio measured in
// the same run.
func BenchmarkCEF(b *testing.B) {
	e := fixture()
	b.Run("cef", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = forward.AppendCEF(buf[:0], &e, "1.0")
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("syslog", func(b *testing.B) {
		w, _ := forward.NewSyslog("127.0.0.1:514", &forward.SyslogOptions{Hostname: "web-1"})
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = w.AppendMessage(buf[:0], &e)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("json_baseline", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&e); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkHECEncode encodes a 500-event batch in HEC's and in _bulk's
// form, against json.Marshal of each event of the same batch.
func BenchmarkHECEncode(b *testing.B) {
	es := batch(500)
	hec, _ := forward.NewHEC("http://127.0.0.1:8088", "t", &forward.HECOptions{Host: "web-1", Index: "audit"})
	bulk, _ := forward.NewElasticBulk("http://127.0.0.1:9200", nil)
	run := func(name string, enc func([]byte, *activitylog.Event) ([]byte, error)) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				buf = buf[:0]
				for i := range es {
					var err error
					if buf, err = enc(buf, &es[i]); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N*len(es))/b.Elapsed().Seconds(), "events/s")
		})
	}
	run("hec", hec.AppendEvent)
	run("bulk", bulk.AppendEvent)
	run("json_baseline", func(buf []byte, e *activitylog.Event) ([]byte, error) {
		doc, err := json.Marshal(e)
		return append(buf, doc...), err
	})
}
