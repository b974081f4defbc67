package integrityhttp_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/integrity/integrityhttp"
	"github.com/activitylog/activitylog/sqlite"
)

// auditLog keeps what the Service records.
type auditLog struct {
	mu sync.Mutex
	es []activitylog.Event
}

func (a *auditLog) Record(_ context.Context, e activitylog.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.es = append(a.es, e)
	return nil
}

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
	audit := &auditLog{}
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
	audit.mu.Lock()
	defer audit.mu.Unlock()
	var downloads []activitylog.Event
	for _, ev := range audit.es {
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

// A filtered bundle of a pruned chain cannot carry proofs: 409, before
// anything is sent. The whole chain still downloads and verifies.
func TestBundlePrunedChain(t *testing.T) {
	e := newEnv(t, nil)
	if _, err := e.store.Prune(context.Background(), sqlite.PruneOptions{
		Before: time.Now().Add(time.Second), SigningKey: e.priv, HMACKeys: []*integrity.HMACKey{e.mac},
		Policy: "test", Actor: "test", Chains: []string{e.chainA},
	}); err != nil {
		t.Fatal(err)
	}
	w := e.get(t, "/api/v1/integrity/bundle?chain="+e.chainA+"&kind=auth", "root")
	if w.Code != 409 || !strings.Contains(decodeErr(t, w).Error.Message, "pruned") {
		t.Errorf("filtered bundle of a pruned chain: %d %s, want 409", w.Code, w.Body)
	}
	w = e.get(t, "/api/v1/integrity/bundle?chain="+e.chainA, "root")
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if _, rep := readBundle(t, e, w); !rep.OK() || rep.Chains[0].PrunedTo == 0 {
		t.Errorf("whole pruned chain: ok %v, pruned to %d: %+v", rep.OK(), rep.Chains[0].PrunedTo, rep.Findings)
	}
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
