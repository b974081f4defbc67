package activitylog_test

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// Add sums two purges' counts, kind by kind, into a result that may
// have no ByKind yet.
func TestPurgeResultAdd(t *testing.T) {
	var r activitylog.PurgeResult
	r.Add(activitylog.PurgeResult{Deleted: 3, ByKind: map[activitylog.Kind]int64{activitylog.KindCRUD: 3}, KeptSealed: 1})
	r.Add(activitylog.PurgeResult{Deleted: 2, ByKind: map[activitylog.Kind]int64{activitylog.KindCRUD: 1, activitylog.KindAuth: 1}, Pruned: 4, PrunedChains: 1})
	r.Add(activitylog.PurgeResult{})
	want := activitylog.PurgeResult{Deleted: 5, ByKind: map[activitylog.Kind]int64{activitylog.KindCRUD: 4, activitylog.KindAuth: 1}, KeptSealed: 1, Pruned: 4, PrunedChains: 1}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("got %+v, want %+v", r, want)
	}
}

// BeforeUnixNano clamps to what int64 nanoseconds hold, where
// time.Time.UnixNano would wrap.
func TestPurgeRequestBeforeUnixNano(t *testing.T) {
	for _, tc := range []struct {
		before time.Time
		ns     int64
		ok     bool
	}{
		{time.Unix(0, 1_700_000_000_123_456_789), 1_700_000_000_123_456_789, true},
		{time.Unix(0, 0), 0, true},
		{time.Unix(0, math.MaxInt64), math.MaxInt64, true},
		{time.Unix(0, math.MaxInt64).Add(time.Nanosecond), math.MaxInt64, true},
		{time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), math.MaxInt64, true},
		{time.Unix(0, math.MinInt64).Add(time.Nanosecond), math.MinInt64 + 1, true},
		{time.Unix(0, math.MinInt64), 0, false},
		{time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), 0, false},
	} {
		r := activitylog.PurgeRequest{Before: tc.before}
		if ns, ok := r.BeforeUnixNano(); ns != tc.ns || ok != tc.ok {
			t.Errorf("BeforeUnixNano(%s) = %d, %v, want %d, %v", tc.before.Format(time.RFC3339Nano), ns, ok, tc.ns, tc.ok)
		}
	}
}
