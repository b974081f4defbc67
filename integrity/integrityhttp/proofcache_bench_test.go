package integrityhttp_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/integrity/integrityhttp"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/activitylog/activitylog/storetest"
)

// BenchmarkProof makes one inclusion proof to the newest checkpoint of
// a sealed chain of 100,000 events in a SQLite file (batches of 1000, a
// checkpoint each), for a different event each time:
//
//   - before: integrity.InclusionProof over Store.Hashes, every hash up
//     to the checkpoint read and hashed, as the API did;
//   - after/shiftK: integrity.SubtreeCache with blocks of 2^K events,
//     its blocks read (once, before the timer);
//   - after/first: the first proof of a new cache (default shift),
//     which reads the blocks;
//   - after/http: GET /api/v1/events/{id}/proof, the whole request
//     (default cache, warm).
//
// hashes/op is the event hashes read from the store per proof. With
// ACTIVITYLOG_BENCH_1M=1 a chain of 1,000,000 events too; with
// ACTIVITYLOG_BENCH_SEALED_DIR=dir the trails are kept there
// (proof-100000.db, proof-1000000.db) and reused:
//
//	bench/ratios.sh 5 ./integrity/integrityhttp/ 'BenchmarkProof/100000/' BenchmarkProof/100000/before
func BenchmarkProof(b *testing.B) {
	sizes := []int{100_000}
	if os.Getenv("ACTIVITYLOG_BENCH_1M") != "" {
		sizes = append(sizes, 1_000_000)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			store, chain, pub := proofTrail(b, n)
			cs := &hashCounter{Store: store}
			ctx := context.Background()
			hashes := func(from, to uint64) ([]integrity.Hash, error) { return cs.Hashes(ctx, chain, from, to) }
			size := uint64(n)
			seqOf := func(i int) uint64 { return uint64(i)*7919%size + 1 }
			report := func(b *testing.B) {
				_, reads := cs.take()
				b.ReportMetric(float64(reads)/float64(b.N), "hashes/op")
			}
			b.Run("before", func(b *testing.B) {
				b.ReportAllocs()
				cs.take()
				for i := 0; b.Loop(); i++ {
					if _, err := integrity.InclusionProof(seqOf(i), size, hashes); err != nil {
						b.Fatal(err)
					}
				}
				report(b)
			})
			for _, shift := range []int{6, 8, 10} {
				b.Run(fmt.Sprintf("after/shift%d", shift), func(b *testing.B) {
					c, err := integrity.NewSubtreeCache(&integrity.SubtreeOptions{Shift: shift})
					if err != nil {
						b.Fatal(err)
					}
					if _, err := c.InclusionProof(ctx, chain, 1, size, hashes); err != nil {
						b.Fatal(err)
					}
					b.ReportAllocs()
					cs.take()
					for i := 0; b.Loop(); i++ {
						if _, err := c.InclusionProof(ctx, chain, seqOf(i), size, hashes); err != nil {
							b.Fatal(err)
						}
					}
					report(b)
				})
			}
			b.Run("after/first", func(b *testing.B) {
				b.ReportAllocs()
				cs.take()
				for i := 0; b.Loop(); i++ {
					c, err := integrity.NewSubtreeCache(nil)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := c.InclusionProof(ctx, chain, seqOf(i), size, hashes); err != nil {
						b.Fatal(err)
					}
				}
				report(b)
			})
			b.Run("after/http", func(b *testing.B) {
				svc, err := integrityhttp.New(cs, &integrityhttp.Options{PublicKeys: []ed25519.PublicKey{pub}, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
				h := server.New(store, nil, &server.Options{
					Authenticate: func(*http.Request) (*activitylog.Principal, error) { return benchRoot, nil },
					Logger:       slog.New(slog.DiscardHandler),
					Routes:       svc.Routes(),
				})
				// The events' ids by seq.
				ids := make([]activitylog.ID, 0, n)
				if err := store.Scan(ctx, activitylog.Filter{}, func(e *activitylog.Event) error {
					ids = append(ids, e.ID)
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				seals, err := store.Seals(ctx, ids)
				if err != nil {
					b.Fatal(err)
				}
				bySeq := make([]activitylog.ID, n+1)
				for id, s := range seals {
					bySeq[s.Seq] = id
				}
				get := func(seq uint64) {
					w := httptest.NewRecorder()
					h.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/events/"+bySeq[seq].String()+"/proof", nil))
					if w.Code != 200 {
						b.Fatal(w.Code, w.Body)
					}
				}
				get(1)
				b.ReportAllocs()
				cs.take()
				for i := 0; b.Loop(); i++ {
					get(seqOf(i))
				}
				report(b)
			})
		})
	}
}

// proofTrail opens (or writes) a sealed chain of n events, in batches
// of 1000 with a checkpoint each, and returns its store, chain id and
// signing key's public half.
func proofTrail(b *testing.B, n int) (*sqlite.Store, string, ed25519.PublicKey) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "proof.db")
	if dir := os.Getenv("ACTIVITYLOG_BENCH_SEALED_DIR"); dir != "" {
		path = filepath.Join(dir, fmt.Sprintf("proof-%d.db", n))
	}
	store, err := sqlite.Open(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	ctx := context.Background()
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub := priv.Public().(ed25519.PublicKey)
	chains, err := store.Chains(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if len(chains) == 1 {
		if cp, ok, err := store.LastCheckpoint(ctx, chains[0].ID); err == nil && ok && cp.ToSeq == uint64(n) {
			return store, chains[0].ID, pub
		}
	}
	if len(chains) != 0 {
		b.Fatalf("%s holds other chains than one of %d events, checkpointed; remove it", path, n)
	}
	w, err := integrity.NewWriter(store, &integrity.WriterOptions{SigningKey: priv})
	if err != nil {
		b.Fatal(err)
	}
	es := make([]activitylog.Event, 0, 1000)
	for i := 0; i < n; i += 1000 {
		es = es[:0]
		for j := i; j < min(n, i+1000); j++ {
			es = append(es, storetest.NewEvent(j))
		}
		if err := w.Write(ctx, es); err != nil {
			b.Fatal(err)
		}
	}
	return store, w.Chain().ID, pub
}
