package server_test

import (
	"bytes"
	"fmt"
	"net/url"
	"testing"

	"github.com/activitylog/activitylog/server"
)

// BenchmarkIngest posts batches of 100 events to a real store.
func BenchmarkIngest(b *testing.B) {
	e := newEnv(b, nil)
	var body bytes.Buffer
	body.WriteString("[")
	for i := range 100 {
		if i > 0 {
			body.WriteString(",")
		}
		fmt.Fprintf(&body, `{"kind":"crud","action":"update","actor":{"id":"u%d","name":"Ann"},"object":{"type":"invoice","id":"INV-%d"},"changes":{"status":{"old":"draft","new":"sent"}},"tenant":"acme"}`, i%7, i)
	}
	body.WriteString("]")
	b.SetBytes(int64(body.Len()))
	b.ReportAllocs()
	for b.Loop() {
		w := e.do(b, "POST", "/api/v1/events", "application/json", bytes.NewReader(body.Bytes()))
		if w.Code != 201 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}

// BenchmarkList reads pages of 50 from a store of 1000 events.
func BenchmarkList(b *testing.B) {
	e := newEnv(b, nil)
	var body bytes.Buffer
	for i := range 1000 {
		fmt.Fprintf(&body, `{"kind":"request","action":"GET","request":{"path":"/p/%d"},"response":{"status":%d}}`+"\n", i, 200+i%4*100)
	}
	if w := e.do(b, "POST", "/api/v1/events", "application/x-ndjson", &body); w.Code != 201 {
		b.Fatalf("seed: %d %s", w.Code, w.Body)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := e.do(b, "GET", "/api/v1/events?kind=request&status_gte=400&page_size=50", "", nil)
			if w.Code != 200 {
				b.Errorf("%d %s", w.Code, w.Body)
				return
			}
		}
	})
}

func BenchmarkParseFilter(b *testing.B) {
	v, _ := url.ParseQuery("kind=crud&action=update&date_from=2025-01-02T15:04:05Z&user_id=42&status_gte=400&page_size=10")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := server.ParseFilter(v); err != nil {
			b.Fatal(err)
		}
	}
}
