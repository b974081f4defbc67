package mysql_test

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
)

// Purge deletes exactly the unsealed events it selects, in batches,
// keeps the sealed ones (counted) and the records of purges, and the
// chain still verifies: as sqlite's TestPurge.
func TestPurge(t *testing.T) {
	serverDSN(t)
	s := open(t, nil)
	base := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Hour)
	cut := base.Add(24 * time.Hour)
	kinds := []activitylog.Kind{activitylog.KindCRUD, activitylog.KindAuth, activitylog.KindRequest}
	tenants := []string{"acme", "globex", ""}
	mk := func(i int, at time.Time) activitylog.Event {
		return activitylog.Event{ID: activitylog.NewID(at), Time: at, Kind: kinds[i%3], Action: "did", Severity: activitylog.SeverityInfo,
			Tenant: tenants[(i/3)%3], Actor: activitylog.Actor{ID: fmt.Sprint("u", i%5)}, Message: fmt.Sprint("event ", i)}
	}
	// 12600 unsealed events, half before the cut; 90 sealed, all before;
	// one record of a purge, before.
	var es []activitylog.Event
	want := map[string]int{} // tenant/kind → unsealed before the cut
	for i := range 12600 {
		at := base.Add(time.Duration(i) * 13700 * time.Millisecond) // 0 to 48 h
		es = append(es, mk(i, at))
		if at.Before(cut) {
			want[es[i].Tenant+"/"+string(es[i].Kind)]++
		}
	}
	record := activitylog.Event{ID: activitylog.NewID(base), Time: base, Kind: activitylog.KindSystem, Action: "security",
		Severity: activitylog.SeverityInfo, Category: activitylog.CategoryRetention, Extra: map[string]any{"operation": activitylog.PurgeDone}}
	for i := 0; i < len(es); i += 2000 {
		if err := s.Write(ctx, es[i:min(i+2000, len(es))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Write(ctx, []activitylog.Event{record}); err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := integrity.GenerateKey()
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
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
		t.Helper()
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
	if n := count(activitylog.Filter{To: cut}); n != 91 {
		t.Errorf("%d events left before the cut, want the 90 sealed and the record of a purge", n)
	}
	if _, err := s.Get(ctx, record.ID); err != nil {
		t.Errorf("the record of a purge: %v", err)
	}
	rep, err := integrity.NewVerifier(s, &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{pub}, MaxFindings: -1}).Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verified != 90 || rep.Unsealed != int(total-res.Deleted-90) || len(rep.Findings) != rep.Unsealed {
		t.Errorf("after purge: verified %d, unsealed %d, %d findings; want 90 verified, only the unsealed events found",
			rep.Verified, rep.Unsealed, len(rep.Findings))
	}
	// A time beyond what the column holds selects everything.
	res, err = s.Purge(ctx, activitylog.PurgeRequest{Before: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), AllTenants: true})
	if err != nil || res.KeptSealed != 90 || count(activitylog.Filter{}) != 91 {
		t.Errorf("purge of everything: %+v, %v; %d left", res, err, count(activitylog.Filter{}))
	}
}
