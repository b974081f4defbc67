package reliability

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/demo"
	"github.com/activitylog/activitylog/internal/loadgen"
)

// demoTargets are the requests the load sends to the shop: two reads
// and an order, whose body the middleware captures and whose card
// number the Recorder masks. Each answered request makes one request
// event; each order created (201) one crud event besides.
func demoTargets(base string) []string {
	return []string{
		"GET " + base + demo.Prefix + "/products",
		"GET " + base + demo.Prefix + "/products/p-2",
		"POST " + base + demo.Prefix + `/orders {"product_id":"p-1","quantity":2,"card_number":"4111 1111 1111 1111"}`,
	}
}

// phase is one load run against the demo shop over store: audited (the
// middleware and the Recorder, writing to the store under
// on_full=block) or not (demo.Unaudited: the same shop with no
// middleware, recording nothing).
type phase struct {
	res     *loadgen.Result
	cpu     time.Duration // the server's CPU time during the run
	stored  int64         // request events of the run's user
	created int64         // crud create events of the run's user
	stats   activitylog.Stats
}

func runPhase(t *testing.T, store activitylog.Store, audited bool, a loadArgs) phase {
	t.Helper()
	opts := &activitylog.Options{OnFull: activitylog.Block, BlockTimeout: time.Minute, Logger: discard}
	rec := activitylog.NewRecorder(store, opts)
	mux := http.NewServeMux()
	if audited {
		mux.Handle(demo.Prefix+"/", demo.Handler(rec))
	} else {
		mux.Handle(demo.Prefix+"/", demo.Unaudited()) // no middleware, nothing recorded
	}
	srv := httptest.NewServer(mux)
	user := runID("load")
	a.targets = demoTargets(srv.URL)
	a.headers = []string{demo.UserHeader + ": " + user}

	cpu0 := cpuTime()
	res := runLoad(t, a)
	cpu := cpuTime() - cpu0
	srv.Close()
	shutdown(t, rec)
	p := phase{res: res, cpu: cpu, stats: rec.Stats()}
	p.stored = count(t, store, activitylog.Filter{Kind: activitylog.KindRequest, ActorID: user})
	p.created = count(t, store, activitylog.Filter{Kind: activitylog.KindCRUD, Action: "create", ActorID: user})
	return p
}

// TestLoad drives the demo shop, audited and not, over SQLite and then
// PostgreSQL, at a sustained rate (open loop) and at its maximum (closed
// loop), each for ACTIVITYLOG_TEST_RELIABILITY_SECONDS. Audited under
// on_full=block, the request events stored must equal the requests
// answered, and the orders' crud events the orders created, exactly.
// Throughput, p99 latency and server CPU are reported, audited against
// not, never asserted.
func TestLoad(t *testing.T) {
	d := envSeconds(t, secondsEnv, 3)
	rate := envFloat(t, rateEnv, 300)
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			store := openStore(t, kind)
			for _, mode := range []struct {
				name string
				args loadArgs
			}{
				{"sustained", loadArgs{rate: rate, duration: d}},
				{"max", loadArgs{workers: 16, duration: d}},
			} {
				t.Run(mode.name, func(t *testing.T) {
					bare := runPhase(t, store, false, mode.args)
					aud := runPhase(t, store, true, mode.args)
					for name, p := range map[string]phase{"unaudited": bare, "audited": aud} {
						if p.res.Errors != 0 || p.res.Answered == 0 {
							t.Errorf("%s: %d requests answered, %d failed (first: %s): the count below needs every request answered",
								name, p.res.Answered, p.res.Errors, p.res.FirstError)
						}
					}
					if bare.stored != 0 || bare.stats.Recorded != 0 {
						t.Errorf("unaudited: %d events stored, %d recorded; want none", bare.stored, bare.stats.Recorded)
					}
					created := int64(aud.res.Targets[2].ByStatus[http.StatusCreated])
					if aud.stored != int64(aud.res.Answered) || aud.created != created {
						t.Errorf("audited, on_full=block: %d requests answered, %d request events stored; %d orders created, %d crud events stored",
							aud.res.Answered, aud.stored, created, aud.created)
					}
					if s := aud.stats; s.Dropped+s.Refused+s.Failed != 0 {
						t.Errorf("audited: recorder lost events: %+v", s)
					}
					perReq := func(p phase) float64 { return float64(p.cpu.Microseconds()) / float64(max(p.res.Answered, 1)) }
					t.Logf("%s %s, unaudited: %s; server CPU %.0fµs/request", kind, mode.name, bare.res, perReq(bare))
					t.Logf("%s %s, audited:   %s; server CPU %.0fµs/request; %d events stored", kind, mode.name, aud.res, perReq(aud), aud.stored+aud.created)
					report(t, map[string]any{
						"test": "load", "store": kind, "mode": mode.name, "seconds": d.Seconds(), "rate": mode.args.rate,
						"answered":             aud.res.Answered,
						"events_stored":        aud.stored + aud.created,
						"events_expected":      int64(aud.res.Answered) + created,
						"events_lost":          int64(aud.res.Answered) + created - aud.stored - aud.created,
						"rps_audited":          aud.res.Throughput(),
						"rps_unaudited":        bare.res.Throughput(),
						"rps_ratio":            aud.res.Throughput() / bare.res.Throughput(),
						"p50_ms_audited":       ms(aud.res.Latency.Quantile(0.5)),
						"p99_ms_audited":       ms(aud.res.Latency.Quantile(0.99)),
						"p99_ms_unaudited":     ms(bare.res.Latency.Quantile(0.99)),
						"p99_ratio":            float64(aud.res.Latency.Quantile(0.99)) / float64(max(bare.res.Latency.Quantile(0.99), 1)),
						"cpu_us_per_req_aud":   perReq(aud),
						"cpu_us_per_req_unaud": perReq(bare),
						"cpu_ratio":            perReq(aud) / max(perReq(bare), 1e-9),
					})
				})
			}
		})
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
