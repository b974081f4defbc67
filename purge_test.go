package activitylog_test

import (
	"reflect"
	"testing"

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
