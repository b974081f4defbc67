package activitylog_test

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// Not parallel: NewID's generator is shared, and a parallel test's
// NewID(time.Now()) would start it afresh in the middle of this one's
// fixed millisecond.
func TestNewIDIsVersion7AndOrdered(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	prev := activitylog.NewID(now)
	for i := 0; i < 10000; i++ {
		id := activitylog.NewID(now) // same millisecond: the counter orders them
		if id[6]>>4 != 7 || id[8]>>6 != 2 {
			t.Fatalf("%v: version %d variant %b", id, id[6]>>4, id[8]>>6)
		}
		if !(prev.String() < id.String()) {
			t.Fatalf("not increasing: %v then %v", prev, id)
		}
		prev = id
	}
	if got := activitylog.NewID(now.Add(time.Hour)).Time(); !got.Equal(now.Add(time.Hour)) {
		t.Errorf("Time() = %v", got)
	}
}

func TestNewIDConcurrentUnique(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[activitylog.ID]bool{}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]activitylog.ID, 5000)
			for i := range local {
				local[i] = activitylog.NewID(time.Now())
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range local {
				if seen[id] {
					t.Errorf("duplicate id %v", id)
				}
				seen[id] = true
			}
		}()
	}
	wg.Wait()
}

func TestParseID(t *testing.T) {
	t.Parallel()
	id := activitylog.NewID(time.Now())
	got, err := activitylog.ParseID(id.String())
	if err != nil || got != id {
		t.Fatalf("round trip: %v %v", got, err)
	}
	b, _ := json.Marshal(id)
	var back activitylog.ID
	if err := json.Unmarshal(b, &back); err != nil || back != id {
		t.Fatalf("json round trip %s: %v", b, err)
	}
	for _, bad := range []string{"", "x", "00000000-0000-0000-0000-000000000000", "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4g5h", "0190a1b2c3d47e5f8a9b0c1d2e3f4a5b6c7d"} {
		_, err := activitylog.ParseID(bad)
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || fe.Field != "id" {
			t.Errorf("ParseID(%q) = %v, want a FieldError for id", bad, err)
		}
	}
}
