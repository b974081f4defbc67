package sqlite_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/sqlite"
)

// Purge deletes exactly the unsealed events it selects, in batches,
// keeps the sealed ones (counted), and leaves the rollups right.
func TestPurge(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "p.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Hour)
	cut := base.Add(24 * time.Hour)
	kinds := []activitylog.Kind{activitylog.KindCRUD, activitylog.KindAuth, activitylog.KindRequest}
	tenants := []string{"acme", "globex", ""}
	mk := func(i int, at time.Time) activitylog.Event {
		return activitylog.Event{ID: activitylog.NewID(at), Time: at, Kind: kinds[i%3], Action: "did", Severity: activitylog.SeverityInfo,
			Tenant: tenants[(i/3)%3], Actor: activitylog.Actor{ID: fmt.Sprint("u", i%5)}, Message: fmt.Sprint("event ", i)}
	}
	// 12600 unsealed events, half before the cut; 90 sealed, all before.
	var es []activitylog.Event
	want := map[string]int{} // tenant/kind → unsealed before the cut
	for i := range 12600 {
		at := base.Add(time.Duration(i) * 13700 * time.Millisecond) // 0 to 48 h
		es = append(es, mk(i, at))
		if at.Before(cut) {
			want[es[i].Tenant+"/"+string(es[i].Kind)]++
		}
	}
	if err := s.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	w, err := integrity.NewWriter(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	var sealed []activitylog.Event
	for i := range 90 {
		sealed = append(sealed, mk(i, base.Add(time.Duration(i)*time.Minute+time.Second)))
	}
	if err := w.Write(ctx, sealed); err != nil {
		t.Fatal(err)
	}
	count := func(f activitylog.Filter) int64 {
		n, err := s.Count(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	for _, bad := range []activitylog.PurgeRequest{{}, {Before: cut, Kinds: []activitylog.Kind{"weather"}}} {
		var fe *activitylog.FieldError
		if _, err := s.Purge(ctx, bad); !errors.As(err, &fe) {
			t.Errorf("Purge(%+v) = %v, want a field error", bad, err)
		}
	}

	// One kind of one tenant.
	res, err := s.Purge(ctx, activitylog.PurgeRequest{Before: cut, Kinds: []activitylog.Kind{activitylog.KindCRUD}, Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted != int64(want["acme/crud"]) || res.ByKind[activitylog.KindCRUD] != res.Deleted || len(res.ByKind) != 1 {
		t.Errorf("purge acme's crud: %+v, want %d crud", res, want["acme/crud"])
	}
	if res.KeptSealed != 10 { // sealed i%3==0 and (i/3)%3==0: i = 0, 9, 18, … 81
		t.Errorf("kept sealed %d, want 10", res.KeptSealed)
	}
	if n := count(activitylog.Filter{Tenant: "acme", Kind: activitylog.KindCRUD, To: cut}); n != 10 {
		t.Errorf("%d acme crud events left before the cut, want the 10 sealed", n)
	}

	// Everything before the cut, every tenant: more than one batch.
	total := count(activitylog.Filter{})
	res, err = s.Purge(ctx, activitylog.PurgeRequest{Before: cut, AllTenants: true})
	if err != nil {
		t.Fatal(err)
	}
	wantAll := 0
	for k, n := range want {
		if k != "acme/crud" {
			wantAll += n
		}
	}
	if res.Deleted != int64(wantAll) || res.KeptSealed != 90 || wantAll <= 5000 {
		t.Errorf("purge all: %+v, want %d deleted (over one batch) and 90 sealed kept", res, wantAll)
	}
	if n := count(activitylog.Filter{}); n != total-res.Deleted {
		t.Errorf("%d events left, want %d", n, total-res.Deleted)
	}
	if n := count(activitylog.Filter{To: cut}); n != 90 {
		t.Errorf("%d events left before the cut, want the 90 sealed", n)
	}

	// The rollups agree with the events that are left.
	f := activitylog.Filter{From: base, To: base.Add(48 * time.Hour)}
	if err := s.Rollup(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := s.Dashboard(ctx, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := activitylog.ScanAnalyzer{Q: s}.Dashboard(ctx, f, nil)
	if err != nil {
		t.Fatal(err)
	}
	gj, _ := json.Marshal(got)
	rj, _ := json.Marshal(ref)
	if string(gj) != string(rj) {
		t.Errorf("after the purge the rollups say\n%s\nthe events say\n%s", gj, rj)
	}
	// The sealed chain still verifies.
	rep, err := integrity.NewVerifier(s, nil).Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Counts[integrity.ReasonModified]+rep.Counts[integrity.ReasonMissing]+rep.Counts[integrity.ReasonTruncated] != 0 {
		t.Errorf("the sealed chain does not verify after the purge: %+v", rep.Counts)
	}
}
