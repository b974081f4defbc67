package main

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// serve with sealing purges everything through the API: the unsealed
// events are deleted, the sealed chain is cut under a signed pruning
// record, the trail still verifies, and the purge is recorded.
func TestServePurgeAllSealed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if r := runBin(t, nil, "keys", "generate", "--dir", dir, "--name", "k"); r.code != 0 {
		t.Fatalf("keys generate: %+v", r)
	}
	db, pub := filepath.Join(dir, "p.db"), filepath.Join(dir, "k.pub")
	s := startServe(t, "--db", db, "--integrity-signing-key", filepath.Join(dir, "k.key"), "--integrity-checkpoint-interval", "100ms")
	key := s.key
	postEvents(t, s, s.key, 20)
	time.Sleep(400 * time.Millisecond) // the ticker's checkpoint covers them
	// A chain keeps its last event and whatever follows its newest
	// checkpoint signed before the purge: one more event, checkpointed
	// too, so that the checkpoint over the 20 is below the chain's end.
	postEvents(t, s, s.key, 1)
	time.Sleep(400 * time.Millisecond)

	var res struct {
		activitylog.PurgeResult
		Tenant *string `json:"tenant"`
	}
	if code := s.do(t, "POST", s.key, "/api/v1/events/purge", `{"confirm":"purge all"}`, &res); code != http.StatusOK {
		t.Fatalf("purge: %d %+v", code, res)
	}
	if res.Pruned < 20 || res.PrunedChains != 1 || res.KeptSealed < 1 || res.Tenant != nil {
		t.Errorf("purge all with sealing: %+v; want the chain cut (at least the 20 events) under one record, the last kept", res)
	}
	var page struct {
		Results []activitylog.Event `json:"results"`
	}
	s.get(t, s.key, "/api/v1/events?kind=custom", &page)
	if len(page.Results) != 1 || page.Results[0].Action != "sealed-0" || page.Results[0].Message != "event 0" {
		t.Errorf("%d custom events left after purge all, want the last one: %+v", len(page.Results), page.Results)
	}
	s.stop(t)

	code, rep := verifyReport(t, "--db", db, "--public-key", pub)
	if code != 0 || !rep.OK() || len(rep.Chains) != 1 || rep.Chains[0].PrunedTo == 0 {
		t.Fatalf("verify after the purge: exit %d, %+v", code, rep)
	}
	// The purge is in the trail: started and done, by the key.
	s = startServe(t, "--db", db, "--integrity-signing-key", filepath.Join(dir, "k.key"))
	defer s.stop(t)
	page.Results = nil
	if code := s.get(t, key, "/api/v1/system-events?category=retention", &page); code != 200 {
		t.Fatalf("system events: %d", code)
	}
	ops := map[any]bool{}
	for _, e := range page.Results {
		ops[e.Extra["operation"]] = true
	}
	if !ops[activitylog.PurgeStarted] || !ops[activitylog.PurgeDone] {
		t.Errorf("the purge's records: %+v", page.Results)
	}
}
