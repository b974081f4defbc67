package integrityhttp_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/integrity/integrityhttp"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/activitylog/activitylog/storetest"
)

// readBundle reads a downloaded bundle and verifies it offline with the
// trail's public key.
func readBundle(t *testing.T, e *env, w *httptest.ResponseRecorder) (*integrity.Bundle, *integrity.Report) {
	t.Helper()
	body := w.Body.Bytes()
	b, err := integrity.ReadBundle(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil })
	if err != nil {
		t.Fatalf("the downloaded bundle does not read: %v", err)
	}
	rep, err := b.Verify(context.Background(), &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{e.pub}, HMACKeys: []*integrity.HMACKey{e.mac}})
	if err != nil {
		t.Fatal(err)
	}
	return b, rep
}

// GET /api/v1/integrity/bundle: who may download it, what it holds, and
// the bad requests refused before a byte is sent.
func TestBundleDownload(t *testing.T) {
	audit := &storetest.Collector{}
	e := newEnv(t, &integrityhttp.Options{Audit: audit})

	for _, c := range []struct {
		token string
		want  int
	}{{"", 401}, {"acme-ingest", 403}, {"ann", 403}, {"single-viewer", 403}, {"acme-admin", 403}, {"single-admin", 200}, {"root", 200}} {
		if w := e.get(t, "/api/v1/integrity/bundle", c.token); w.Code != c.want {
			t.Errorf("as %q: %d, want %d: %.200s", c.token, w.Code, c.want, w.Body)
		}
	}

	// The whole trail: every chain, every event, verified offline.
	w := e.get(t, "/api/v1/integrity/bundle", "root")
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	h := w.Result().Header
	if ct := h.Get("Content-Type"); ct != "application/gzip" {
		t.Errorf("Content-Type %q", ct)
	}
	if cd := h.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="activitylog-bundle-`) || !strings.HasSuffix(cd, `.ndjson.gz"`) {
		t.Errorf("Content-Disposition %q", cd)
	}
	if st := w.Result().Trailer.Get("X-Export-Status"); st != "complete" {
		t.Errorf("X-Export-Status trailer %q, want complete", st)
	}
	_, rep := readBundle(t, e, w)
	wantSealed := len(e.a) + len(e.b) + len(e.k)
	// Chain B has no checkpoint key, so it is anchored by nothing: the
	// verifier says so whoever reads it (not the bundle's doing).
	if rep.Total != wantSealed+len(e.un) || rep.Unsealed != len(e.un) || rep.Verified != wantSealed || len(rep.Chains) != 3 {
		t.Errorf("bundle report: total %d, verified %d, unsealed %d, chains %d; want %d, %d, %d, 3",
			rep.Total, rep.Verified, rep.Unsealed, len(rep.Chains), wantSealed+len(e.un), wantSealed, len(e.un))
	}

	// Filtered: only chain A's auth events, each with its proof.
	w = e.get(t, "/api/v1/integrity/bundle?chain="+e.chainA+"&kind=auth", "root")
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	b, rep := readBundle(t, e, w)
	if !rep.OK() || rep.Total != 10 || rep.Verified != 10 {
		t.Errorf("filtered bundle: ok %v, total %d, verified %d; want 10 auth events verified: %+v", rep.OK(), rep.Total, rep.Verified, rep.Counts)
	}
	if got := len(b.Consistency(e.chainA)); got != 2 {
		t.Errorf("%d consistency proofs between chain A's 3 checkpoints, want 2", got)
	}

	// Refused before anything is sent, naming the parameter.
	for _, c := range []struct{ url, field string }{
		{"/api/v1/integrity/bundle?chain=no%20such", "chain"},
		{"/api/v1/integrity/bundle?chain=nochain", "chain"},
		{"/api/v1/integrity/bundle?kind=weather", "kind"},
		{"/api/v1/integrity/bundle?from=yesterday", "from"},
		{"/api/v1/integrity/bundle?from=2026-11-24T10:00:00Z&to=2026-11-24T09:00:00Z", "to"},
		{"/api/v1/integrity/bundle?max_findings=3", "max_findings"},
	} {
		w := e.get(t, c.url, "root")
		if w.Code != 400 || w.Header().Get("Content-Disposition") != "" {
			t.Errorf("%s: %d %q, want a 400 with no attachment", c.url, w.Code, w.Header().Get("Content-Disposition"))
			continue
		}
		if got := decodeErr(t, w).Error; got.Field != c.field {
			t.Errorf("%s: field %q, want %q (%s)", c.url, got.Field, c.field, got.Message)
		}
	}

	// Every download is recorded, with what it held.
	var downloads []activitylog.Event
	for _, ev := range audit.Events() {
		if ev.Kind == activitylog.KindExport && ev.Extra["format"] == "integrity_bundle" {
			downloads = append(downloads, ev)
		}
	}
	// single-admin's, root's, root's whole and filtered; and the one of
	// an unknown chain, which failed.
	if len(downloads) != 5 {
		t.Fatalf("%d bundle downloads recorded, want 5", len(downloads))
	}
	if d := downloads[3]; d.Extra["records"] != int64(10) || d.Extra["filters"].(map[string]any)["kind"] != "auth" || d.Action != activitylog.ActionExport {
		t.Errorf("recorded %+v", d)
	}
	if d := downloads[4]; d.Action != activitylog.ActionExportFailed || d.Severity != activitylog.SeverityError || !strings.Contains(d.Message, "no such chain") {
		t.Errorf("the failed download recorded as %+v", d)
	}
}

// A filtered bundle of a pruned chain begins at the cut: the pruning
// record and the checkpoint at the cut anchor the proofs of the events
// after it, and the bundle verifies offline. The whole chain still
// downloads and verifies too.
func TestBundlePrunedChain(t *testing.T) {
	e := newEnv(t, nil)
	// Events 1..10 of chain A (its first batch and checkpoint) go: the
	// cut is at the last checkpoint signed before the cutoff.
	cps, err := e.store.Checkpoints(context.Background(), e.chainA)
	if err != nil || len(cps) != 3 {
		t.Fatal(cps, err)
	}
	if res, err := e.store.Prune(context.Background(), sqlite.PruneOptions{
		Before: cps[0].Time.Add(cps[1].Time.Sub(cps[0].Time) / 2), SigningKey: e.priv, HMACKeys: []*integrity.HMACKey{e.mac},
		Policy: "test", Actor: "test", Chains: []string{e.chainA},
	}); err != nil || res.Deleted != 10 {
		t.Fatal(res, err)
	}
	wantAuth := 0
	for _, ev := range e.a[10:] {
		if ev.Kind == activitylog.KindAuth {
			wantAuth++
		}
	}
	w := e.get(t, "/api/v1/integrity/bundle?chain="+e.chainA+"&kind=auth", "root")
	if w.Code != 200 {
		t.Fatalf("filtered bundle of a pruned chain: %d %s", w.Code, w.Body)
	}
	b, rep := readBundle(t, e, w)
	if !rep.OK() || rep.Verified != wantAuth || rep.Chains[0].PrunedTo != 10 {
		t.Errorf("filtered pruned chain: ok %v, verified %d of %d, pruned to %d: %+v", rep.OK(), rep.Verified, wantAuth, rep.Chains[0].PrunedTo, rep.Findings)
	}
	if cps, _ := b.Checkpoints(context.Background(), e.chainA); len(cps) != 3 || cps[0].ToSeq != 10 {
		t.Errorf("checkpoints carried: %d, the first to %d, want 3 from the one at the cut (10)", len(cps), cps[0].ToSeq)
	}
	// The record is what lets the bundle begin at the cut: broken,
	// re-signed over another cut hash, or signed by an untrusted key,
	// the bundle does not verify.
	_, other, _ := integrity.GenerateKey()
	for _, c := range []struct {
		name   string
		edit   func(p *integrity.PruneRecord)
		reason integrity.Reason
	}{
		{"unsigned edit", func(p *integrity.PruneRecord) { p.Policy = "forged" }, integrity.ReasonBadSignature},
		{"another cut hash, re-signed", func(p *integrity.PruneRecord) { p.CutHash[0] ^= 1; p.Sign(e.priv) }, integrity.ReasonCheckpointMismatch},
		{"an untrusted key", func(p *integrity.PruneRecord) { p.Sign(other) }, integrity.ReasonBadSignature},
	} {
		edited := editPrune(t, w.Body.Bytes(), c.edit)
		rb := httptest.NewRecorder()
		rb.Body = bytes.NewBuffer(edited)
		if _, rep := readBundle(t, e, rb); rep.OK() || rep.Counts[c.reason] == 0 {
			t.Errorf("%s: ok %v, counts %v, want %s", c.name, rep.OK(), rep.Counts, c.reason)
		}
	}
	w = e.get(t, "/api/v1/integrity/bundle?chain="+e.chainA, "root")
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if _, rep := readBundle(t, e, w); !rep.OK() || rep.Chains[0].PrunedTo == 0 {
		t.Errorf("whole pruned chain: ok %v, pruned to %d: %+v", rep.OK(), rep.Chains[0].PrunedTo, rep.Findings)
	}
}

// editPrune returns the gzip bundle with edit applied to its pruning
// record.
func editPrune(t *testing.T, bundle []byte, edit func(p *integrity.PruneRecord)) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(bundle))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(plain), "\n"), "\n")
	found := false
	for i, l := range lines {
		if !strings.HasPrefix(l, `{"type":"prune"`) {
			continue
		}
		var rec struct {
			Type  string                `json:"type"`
			Prune integrity.PruneRecord `json:"prune"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		edit(&rec.Prune)
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		lines[i], found = string(b), true
	}
	if !found {
		t.Fatal("the bundle has no prune record")
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write([]byte(strings.Join(lines, "\n") + "\n"))
	zw.Close()
	return out.Bytes()
}

// A download cut anywhere is refused by the bundle's reader: the gzip
// stream has no end (checked at every 7th length, and the last 64).
func TestBundleCutIsRefused(t *testing.T) {
	e := newEnv(t, nil)
	w := e.get(t, "/api/v1/integrity/bundle", "root")
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	full := w.Body.Bytes()
	cuts := 0
	for n := 1; n < len(full); n++ {
		if n%7 != 0 && n < len(full)-64 {
			continue
		}
		cut := full[:n]
		cuts++
		if _, err := integrity.ReadBundle(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(cut)), nil }); err == nil {
			t.Fatalf("a bundle cut at %d of %d bytes was accepted", n, len(full))
		}
	}
	t.Logf("%d cuts of a %d-byte bundle, each refused", cuts, len(full))
}
