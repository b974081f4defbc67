package forward_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/forward"
	"github.com/activitylog/activitylog/multi"
	"github.com/activitylog/activitylog/sqlite"
)

// A store and a Splunk forwarder side by side: under Policy Any, the
// Recorder's batch counts as written once the store has it, and the
// forwarder gets it from its own queue, retried until Splunk takes it.
// (httptest stands in for Splunk here.)
func Example_multi() {
	var mu sync.Mutex
	var got []string
	splunk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		dec := json.NewDecoder(bytes.NewReader(body))
		for dec.More() {
			var m struct {
				Sourcetype string `json:"sourcetype"`
				Event      struct {
					Action string `json:"action"`
				} `json:"event"`
			}
			dec.Decode(&m)
			mu.Lock()
			got = append(got, m.Sourcetype+" "+m.Event.Action)
			mu.Unlock()
		}
		io.WriteString(w, `{"text":"Success","code":0}`)
	}))
	defer splunk.Close()

	store, err := sqlite.Open(":memory:", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	hec, err := forward.NewHEC(splunk.URL, "my-hec-token", &forward.HECOptions{Index: "audit"})
	if err != nil {
		fmt.Println(err)
		return
	}
	w, err := multi.New([]multi.Target{
		{Name: "sqlite", Writer: store},
		{Name: "splunk", Writer: hec}, // in production: Spill: a spool.Spool of its own
	}, &multi.Options{Policy: multi.Any})
	if err != nil {
		fmt.Println(err)
		return
	}
	rec := activitylog.NewRecorder(w, nil)

	ctx := context.Background()
	now := time.Now()
	for _, action := range []string{"login", "login_failed"} {
		rec.Record(ctx, activitylog.Event{Time: now, Kind: activitylog.KindAuth, Action: action, Actor: activitylog.Actor{ID: "u-1"}})
	}
	rec.Shutdown(ctx) // flushes the Recorder
	w.Close(ctx)      // then drains the forwarder's queue

	n, _ := store.Count(ctx, activitylog.Filter{})
	fmt.Println("stored:", n)
	fmt.Println("splunk:", got)
	// Output:
	// stored: 2
	// splunk: [activitylog:auth login activitylog:auth login_failed]
}
