package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/demo"
	"github.com/activitylog/activitylog/internal/loadgen"
	"github.com/activitylog/activitylog/server"
)

// Overload: a store that absorbs about 400 events a second (batches of
// at most 16, each delayed 40ms), behind a queue of 256, driven by 32
// workers as fast as the demo shop and the ingest API answer.
const (
	overloadQueue = 256
	overloadBatch = 16
	overloadDelay = 40 * time.Millisecond
)

func rootAuth(*http.Request) (*activitylog.Principal, error) {
	return &activitylog.Principal{ID: "root", Permissions: []activitylog.Permission{activitylog.Superuser}}, nil
}

// TestOverload drives the demo shop and the ingest API beyond what the
// store absorbs, under each full-queue policy:
//
//   - block: the shop's latency grows, and nothing is lost: every
//     answered request's event is stored.
//   - drop: stored + dropped == answered, and the audit_loss events
//     stored report exactly Stats().Dropped.
//   - fail: the shop's requests, which httpaudit records after they
//     are answered, are refused their events: stored + refused ==
//     answered, the audit_loss events reporting Stats().Refused.
//
// Under every policy the ingest API, which commits each batch without
// waiting for room (Recorder.Commit), answers 503 queue_full with
// Retry-After for the batches refused, stores every batch it answered
// 201, and nothing else.
//
// In every case the live heap, measured after a collection while the
// queue is full, stays within a generous bound of the queue's size.
func TestOverload(t *testing.T) {
	d := envSeconds(t, secondsEnv, 3)
	for _, policy := range []struct {
		name       string
		p          activitylog.FullPolicy
		failClosed bool // the shop refuses (503) a request whose event cannot be queued
	}{{"block", activitylog.Block, false}, {"drop", activitylog.Drop, false}, {"fail", activitylog.Fail, false}, {"fail-closed", activitylog.Fail, true}} {
		t.Run(policy.name, func(t *testing.T) {
			store := openStore(t, "sqlite")
			rec := activitylog.NewRecorder(&slowWriter{w: store, delay: overloadDelay}, &activitylog.Options{
				QueueSize: overloadQueue, BatchSize: overloadBatch, FlushInterval: 5 * time.Millisecond,
				OnFull: policy.p, BlockTimeout: 10 * time.Minute, Logger: discard,
			})
			mux := http.NewServeMux()
			mux.Handle(demo.Prefix+"/", demo.NewHandler(rec, &demo.Options{FailClosed: policy.failClosed}))
			mux.Handle("/api/", server.New(store, rec, &server.Options{Authenticate: rootAuth, Logger: discard}))
			srv := httptest.NewServer(mux)
			defer srv.Close()
			user := runID("overload")
			action := runID("ingest")

			heap0 := heapAfterGC()
			// The heap is measured mid-run, when the queue has long been
			// full.
			var heapMid uint64
			var wg sync.WaitGroup
			wg.Go(func() {
				time.Sleep(d * 2 / 3)
				heapMid = heapAfterGC()
			})
			// The shop, whose events are queued without waiting, is what
			// overloads the store; the ingest API, which waits for its
			// batches to be stored, runs beside it with workers of its own.
			var ingestRes *loadgen.Result
			var ingestErr error
			wg.Go(func() {
				ingestRes, ingestErr = load(loadArgs{
					targets:  []string{"POST " + srv.URL + "/api/v1/events " + fmt.Sprintf(`{"kind":"custom","action":%q,"actor":{"id":%q}}`, action, user)},
					workers:  8,
					duration: d,
				})
			})
			res := runLoad(t, loadArgs{
				targets:  []string{"GET " + srv.URL + demo.Prefix + "/products"},
				headers:  []string{demo.UserHeader + ": " + user},
				workers:  32,
				duration: d,
			})
			wg.Wait()
			if ingestErr != nil {
				t.Fatal(ingestErr)
			}
			st := rec.Stats()
			shutdown(t, rec)
			final := rec.Stats()
			t.Logf("%s: shop: %s", policy.name, res)
			t.Logf("%s: ingest: %s", policy.name, ingestRes)

			if res.Errors+ingestRes.Errors != 0 {
				t.Fatalf("%d requests failed (first: %s %s): the counts need every request answered", res.Errors+ingestRes.Errors, res.FirstError, ingestRes.FirstError)
			}
			shop, ingest := res.Targets[0], ingestRes.Targets[0]
			// Fail-closed: the requests refused before they were served
			// (503) are the Recorder's refusals without a kind (Reserve).
			var kindless uint64
			for _, ks := range final.ByKind {
				kindless += ks.Refused
			}
			kindless = final.Refused - kindless
			if policy.failClosed {
				refused := shop.ByStatus[http.StatusServiceUnavailable]
				if refused == 0 || refused != kindless || shop.ByStatus[200]+refused != shop.Answered {
					t.Errorf("fail-closed shop: answers %v; want 200s and %d 503s (the refusals of Reserve)", shop.ByStatus, kindless)
				}
				shop.Answered = shop.ByStatus[200] // the served requests are those with events
			} else if shop.ByStatus[200] != shop.Answered {
				t.Errorf("shop: answers %v, want all 200", shop.ByStatus)
			}
			stored := count(t, store, activitylog.Filter{Kind: activitylog.KindRequest, ActorID: user})
			ingested := count(t, store, activitylog.Filter{Kind: activitylog.KindCustom, Action: action})
			created := int64(ingest.ByStatus[http.StatusCreated])
			if ingested != created {
				t.Errorf("ingest: %d answered 201, %d stored", created, ingested)
			}
			lossDropped, lossRefused, lossFailed, reports := lossTotals(t, store)
			if (final.Dropped+final.Refused+final.Failed > 0) != (reports > 0) {
				t.Errorf("%d loss reports stored for %d events lost", reports, final.Dropped+final.Refused+final.Failed)
			}
			req, cus := final.ByKind[activitylog.KindRequest], final.ByKind[activitylog.KindCustom]
			lost := req.Dropped + req.Refused
			if int64(shop.Answered) != stored+int64(lost) {
				t.Errorf("shop: %d answered, %d stored + %d dropped + %d refused", shop.Answered, stored, req.Dropped, req.Refused)
			}
			if lossDropped != final.Dropped || lossRefused != final.Refused || lossFailed != final.Failed {
				t.Errorf("loss reports stored say %d dropped, %d refused, %d failed; the recorder counted %d, %d, %d",
					lossDropped, lossRefused, lossFailed, final.Dropped, final.Refused, final.Failed)
			}
			if final.Failed != 0 {
				t.Errorf("%d events failed", final.Failed)
			}
			// The ingest API commits its batches (Recorder.Commit), which
			// never waits for room: under every policy a full queue is
			// answered 503 queue_full, the batch counted refused and
			// reported lost, and the client told to retry.
			if refused := ingest.ByStatus[http.StatusServiceUnavailable]; refused != cus.Refused || uint64(created)+refused != ingest.Answered {
				t.Errorf("ingest: answers %v, want 201 and 503 only, with %d 503s (the recorder's refusals)", ingest.ByStatus, cus.Refused)
			}
			switch policy.p {
			case activitylog.Block:
				if req.Dropped+req.Refused != 0 {
					t.Errorf("block lost request events: %d dropped, %d refused", req.Dropped, req.Refused)
				}
			case activitylog.Drop:
				if req.Dropped == 0 || req.Refused != 0 {
					t.Errorf("drop: %d request events dropped, %d refused; want some dropped, none refused (%s)", req.Dropped, req.Refused, res)
				}
			case activitylog.Fail:
				if policy.failClosed {
					// Every served request had its slot: none refused later.
					if req.Refused != 0 || final.Dropped != 0 {
						t.Errorf("fail-closed: %d request events refused after serving, %d dropped; want none", req.Refused, final.Dropped)
					}
					break
				}
				if req.Refused == 0 || final.Dropped != 0 {
					t.Errorf("fail: %d request events refused, %d dropped; want some refused, none dropped", req.Refused, final.Dropped)
				}
			}
			// A 503 queue_full answer carries Retry-After and names the cause.
			if policy.p == activitylog.Fail {
				checkQueueFull(t, store)
			}

			bound := uint64(64<<20) + overloadQueue*(64<<10)
			grown := int64(heapMid) - int64(heap0)
			t.Logf("%s: heap %d KiB before, %d KiB mid-run; queue depth %d of %d at the end of the load; bound +%d KiB", policy.name, heap0>>10, heapMid>>10, st.QueueDepth, overloadQueue, bound>>10)
			if grown > int64(bound) {
				t.Errorf("heap grew by %d KiB under overload, more than %d KiB for a queue of %d", grown>>10, bound>>10, overloadQueue)
			}
			report(t, map[string]any{
				"test": "overload", "policy": policy.name, "seconds": d.Seconds(),
				"answered": res.Answered + ingestRes.Answered, "stored": stored + ingested, "dropped": final.Dropped, "refused": final.Refused,
				"ingest_201": created, "ingest_503": ingest.ByStatus[http.StatusServiceUnavailable],
				"events_lost_unaccounted": int64(shop.Answered) - stored - int64(lost) + (created - ingested),
				"p99_ms":                  ms(res.Latency.Quantile(0.99)), "rps": res.Throughput(),
				"heap_kib_before": heap0 >> 10, "heap_kib_mid": heapMid >> 10,
			})
		})
	}
}

// fullRecorder is a Recorder whose queue is full, under Fail: a queue
// of one behind a writer that holds its batch until the test ends.
func fullRecorder(t *testing.T, store activitylog.Writer) *activitylog.Recorder {
	t.Helper()
	gate := make(chan struct{})
	rec := activitylog.NewRecorder(writerFunc(func(ctx context.Context, es []activitylog.Event) error {
		<-gate
		return store.Write(ctx, es)
	}), &activitylog.Options{QueueSize: 1, BatchSize: 1, OnFull: activitylog.Fail, Logger: discard})
	t.Cleanup(func() { close(gate); shutdown(t, rec) })
	for range 100 {
		err := rec.Record(context.Background(), activitylog.Event{Kind: activitylog.KindCustom, Action: "fill"})
		if errors.Is(err, activitylog.ErrQueueFull) {
			return rec
		}
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the queue of one never filled")
	return nil
}

// checkQueueFull posts one event to the ingest API of a full Recorder
// and checks the refusal a client gets: 503, Retry-After, a JSON error
// with code queue_full, and nothing stored.
func checkQueueFull(t *testing.T, store activitylog.Store) {
	t.Helper()
	rec := fullRecorder(t, store)
	h := server.New(store, rec, &server.Options{Authenticate: rootAuth, Logger: discard})
	action := runID("refused")
	r := httptest.NewRequest("POST", "/api/v1/events", strings.NewReader(`{"kind":"custom","action":"`+action+`"}`))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var body struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != http.StatusServiceUnavailable ||
		w.Header().Get("Retry-After") == "" || body.Error.Code != "queue_full" {
		t.Errorf("ingest into a full queue: %d, Retry-After %q, %s; want 503 queue_full with Retry-After", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	if n := count(t, store, activitylog.Filter{Action: action}); n != 0 {
		t.Errorf("a refused batch was stored: %d events", n)
	}
}

type writerFunc func(ctx context.Context, es []activitylog.Event) error

func (f writerFunc) Write(ctx context.Context, es []activitylog.Event) error { return f(ctx, es) }
