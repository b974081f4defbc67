package sqlite_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/internal/benchcpu"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/activitylog/activitylog/storetest"
)

func verifyStore(t *testing.T, s *sqlite.Store, pub ed25519.PublicKey) *integrity.Report {
	t.Helper()
	rep, err := integrity.NewVerifier(s, &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{pub}}).Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// A Writer given the chain id of a chain stored before continues it
// after a restart without a gap; a retried batch is stored and sealed
// once; plain Write still works beside it, and its events are unsealed.
func TestSealedRestartAndRetry(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a.db")
	pub, priv, _ := integrity.GenerateKey()
	es := storetest.Fixture(120)

	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	chain := w.Chain().ID
	if err := w.Write(ctx, es[:50]); err != nil {
		t.Fatal(err)
	}
	// The same batch again, and one that overlaps it, with a duplicate.
	if err := w.Write(ctx, es[:50]); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, append(es[40:60:60], es[59])); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w, err = integrity.NewWriter(s, &integrity.WriterOptions{Chain: chain, SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, es[60:100]); err != nil {
		t.Fatal(err)
	}
	rep := verifyStore(t, s, pub)
	if !rep.OK() || rep.Total != 100 || len(rep.Chains) != 1 || rep.Chains[0].Length != 100 || rep.Chains[0].Anchored != 100 {
		t.Fatalf("after restart: OK %v total %d chains %+v findings %v", rep.OK(), rep.Total, rep.Chains, rep.Findings)
	}

	// A new Writer without a chain id starts a chain of its own.
	w2, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Write(ctx, es[100:110]); err != nil {
		t.Fatal(err)
	}
	if rep := verifyStore(t, s, pub); !rep.OK() || len(rep.Chains) != 2 || rep.Total != 110 {
		t.Fatalf("two chains: OK %v total %d chains %+v", rep.OK(), rep.Total, rep.Chains)
	}

	// Plain Write: stored, readable, and reported as missing_hash.
	if err := s.Write(ctx, es[110:]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, es[115].ID); err != nil {
		t.Fatal(err)
	}
	rep = verifyStore(t, s, pub)
	if rep.Unsealed != 10 || rep.Counts[integrity.ReasonMissingHash] != 10 || rep.Verified != 110 {
		t.Fatalf("unsealed: %+v", rep)
	}
	if n, err := s.Count(ctx, activitylog.Filter{}); err != nil || n != 120 {
		t.Fatalf("Count = %d, %v", n, err)
	}
}

// A Writer whose batch fails goes back to the stored tail: the chain
// has no gap afterwards.
func TestSealedFailedBatch(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "a.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pub, priv, _ := integrity.GenerateKey()
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	es := storetest.Fixture(30)
	if err := w.Write(ctx, es[:10]); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := w.Write(cctx, es[10:20]); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled write: %v", err)
	}
	if err := w.Write(ctx, es[20:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, es[10:20]); err != nil {
		t.Fatal(err)
	}
	if rep := verifyStore(t, s, pub); !rep.OK() || rep.Total != 30 || rep.Chains[0].Length != 30 {
		t.Fatalf("OK %v total %d chains %+v findings %v", rep.OK(), rep.Total, rep.Chains, rep.Findings)
	}
}

// A stored state that is not that of the chain's last event is refused.
func TestSealedTornTail(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a.db")
	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w, err := integrity.NewWriter(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	es := storetest.Fixture(20)
	if err := w.Write(ctx, es[:10]); err != nil {
		t.Fatal(err)
	}
	raw := openRaw(t, path)
	exec(t, raw, `DELETE FROM events WHERE chain_seq = 10`)
	if err := w.Write(ctx, es[10:]); !errors.Is(err, integrity.ErrTornChain) {
		t.Fatalf("write after the tail was cut: %v, want ErrTornChain", err)
	}
}

// openRaw opens the file at path with database/sql, beside the store.
func openRaw(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// BenchmarkIngestIntegrity writes batches of 500 request events to a
// file database, as BenchmarkWrite does: "off" with Store.Write, "on"
// through an integrity.Writer (SHA-256 chain, a signed checkpoint with
// every batch), "on-hmac" the same with an HMAC key, and
// "on-checkpoint-1s" with a checkpoint at most every second. ns/op is
// per batch; the target is "on" within 5% of "off".
func BenchmarkIngestIntegrity(b *testing.B) {
	_, priv, _ := integrity.GenerateKey()
	hk, _ := integrity.GenerateHMACKey()
	for _, bc := range []struct {
		name string
		opts *integrity.WriterOptions // nil: integrity off
	}{
		{"off", nil},
		{"on", &integrity.WriterOptions{SigningKey: priv}},
		{"on-hmac", &integrity.WriterOptions{SigningKey: priv, HMACKey: hk}},
		{"on-checkpoint-1s", &integrity.WriterOptions{SigningKey: priv, CheckpointInterval: time.Second}},
	} {
		b.Run(bc.name, func(b *testing.B) {

			s, err := sqlite.Open(filepath.Join(b.TempDir(), "bench.db"), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var w activitylog.Writer = s
			if bc.opts != nil {
				if w, err = integrity.NewWriter(s, bc.opts); err != nil {
					b.Fatal(err)
				}
			}
			ctx := context.Background()
			t0 := time.Now().Add(-time.Hour)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := benchcpu.Start()
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				cpu.Pause()
				es := benchEvents(i*benchBatch, benchBatch, t0)
				cpu.Resume()
				b.StartTimer()
				if err := w.Write(ctx, es); err != nil {
					b.Fatal(err)
				}
			}
			cpu.Report(b)
			b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkVerifyStore verifies a sealed trail in a file database:
// 100,000 request events written through an integrity.Writer in batches
// of 500 with a checkpoint each, read back (canonical bytes recomputed
// from each row) and checked end to end. With ACTIVITYLOG_BENCH_1M=1 a
// trail of 1,000,000 events too:
//
//	ACTIVITYLOG_BENCH_1M=1 go test -run '^$' -bench BenchmarkVerifyStore -benchtime 3x -timeout 30m ./sqlite/
//
// With ACTIVITYLOG_BENCH_SEALED_DIR=dir the trails are kept in that
// folder (verify-100000.db, verify-1000000.db) and reused by later runs,
// which then measure only the verification; the signing key is fixed.
func BenchmarkVerifyStore(b *testing.B) {
	sizes := []int{100_000}
	if os.Getenv(millionEnv) != "" {
		sizes = append(sizes, 1_000_000)
	}
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub := priv.Public().(ed25519.PublicKey)
	for _, n := range sizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "verify.db")
			if dir := os.Getenv("ACTIVITYLOG_BENCH_SEALED_DIR"); dir != "" {
				path = filepath.Join(dir, fmt.Sprintf("verify-%d.db", n))
			}
			s, err := sqlite.Open(path, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			stored, err := s.Count(ctx, activitylog.Filter{})
			if err != nil {
				b.Fatal(err)
			}
			if stored != 0 && stored != int64(n) {
				b.Fatalf("%s holds %d events, neither none nor %d; remove it", path, stored, n)
			}
			w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
			if err != nil {
				b.Fatal(err)
			}
			t0 := time.Now().Add(-time.Duration(n) * time.Second)
			for i := 0; stored == 0 && i < n; i += benchBatch {
				if err := w.Write(ctx, benchEvents(i, benchBatch, t0)); err != nil {
					b.Fatal(err)
				}
			}
			v := integrity.NewVerifier(s, &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{pub}})
			b.ReportAllocs()
			b.ResetTimer()
			cpu := benchcpu.Start()
			for b.Loop() {
				rep, err := v.Verify(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if !rep.OK() || rep.Verified != n {
					b.Fatalf("verified %d of %d: %v", rep.Verified, n, rep.Findings)
				}
			}
			cpu.Report(b)
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// Events as Go code builds them (invalid UTF-8, integers beyond 2^53,
// structs in extra, other time zones) verify once stored: the columns
// and the document read back agree with what was sealed.
func TestSealedOddEvents(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "a.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pub, priv, _ := integrity.GenerateKey()
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	es := storetest.Fixture(20)
	for i := range es {
		es[i].Actor.ID = "u\xff\xed\xa0\x80" + es[i].Actor.ID
		es[i].Message = "m\xe6\x97 \x00 \u2028 😀"
		es[i].Kind = activitylog.Kind("k\xff")
		es[i].Extra = map[string]any{"big": uint64(1<<63 + 1), "pt": struct{ X int }{i}, "f": float32(0.1)}
		es[i].Time = es[i].Time.In(time.FixedZone("x", 5*3600+1800))
	}
	if err := w.Write(ctx, es); err != nil {
		t.Fatal(err)
	}
	if rep := verifyStore(t, s, pub); !rep.OK() || rep.Verified != len(es) {
		t.Fatalf("OK %v verified %d findings %v", rep.OK(), rep.Verified, rep.Findings)
	}
}

// A store's error reaches the Writer's caller once named: the store
// names its step, the Writer its own.
func TestSealedWriteErrorNamedOnce(t *testing.T) {
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "a.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := integrity.NewWriter(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	err = w.Write(context.Background(), benchEvents(0, 2, time.Now()))
	if err == nil || strings.Count(err.Error(), "write sealed events") != 1 || !strings.HasPrefix(err.Error(), "seal events: ") {
		t.Fatalf("Write on a closed store = %v; want the store's step named once, after the Writer's", err)
	}
}
