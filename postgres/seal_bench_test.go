package postgres

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/internal/benchcpu"
)

// BenchmarkIngestSealed writes batches of 500 trail events
// (storetest.TrailEvent): "plain" through Store.Write, the baseline;
// "sealed" through an integrity.Writer (SHA-256 chain, a signed
// checkpoint with every batch); "sealed-hmac" the same with an HMAC
// key; "sealed-checkpoint-1s" with a checkpoint at most every second.
// Compare them as ratios to plain, in alternating rounds:
//
//	bench/ratios.sh 5 ./postgres/ BenchmarkIngestSealed BenchmarkIngestSealed/plain
//
// ns/op is per batch; cpu-ns/op is this process's CPU time a batch
// (encoding, hashing, signing), not the server's.
func BenchmarkIngestSealed(b *testing.B) {
	tmpl := benchTemplates(20 * benchBatch)
	_, priv, _ := integrity.GenerateKey()
	hk, _ := integrity.GenerateHMACKey()
	for _, bc := range []struct {
		name string
		opts *integrity.WriterOptions // nil: Store.Write
	}{
		{"plain", nil},
		{"sealed", &integrity.WriterOptions{SigningKey: priv}},
		{"sealed-hmac", &integrity.WriterOptions{SigningKey: priv, HMACKey: hk}},
		{"sealed-checkpoint-1s", &integrity.WriterOptions{SigningKey: priv, CheckpointInterval: time.Second}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := openTest(b, nil)
			var w activitylog.Writer = s
			if bc.opts != nil {
				var err error
				if w, err = integrity.NewWriter(s, bc.opts); err != nil {
					b.Fatal(err)
				}
			}
			ctx := context.Background()
			batch := make([]activitylog.Event, benchBatch)
			t := time.Now().UTC().Add(-time.Hour)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := benchcpu.Start()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				t = nextBatch(batch, tmpl, i, t)
				if err := w.Write(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*benchBatch)/time.Since(start).Seconds(), "events/s")
			cpu.Report(b)
		})
	}
}

// BenchmarkVerifyStore verifies a sealed trail of 20,000 trail events
// (batches of 500, a checkpoint each) read back from the store: every
// row's canonical bytes recomputed from its document, every hash, link
// and checkpoint checked.
func BenchmarkVerifyStore(b *testing.B) {
	const n = 20_000
	s := openTest(b, nil)
	pub, priv, _ := integrity.GenerateKey()
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	tmpl := benchTemplates(20 * benchBatch)
	batch := make([]activitylog.Event, benchBatch)
	t := time.Now().UTC().Add(-time.Hour)
	for i := 0; i < n/benchBatch; i++ {
		t = nextBatch(batch, tmpl, i, t)
		if err := w.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	v := integrity.NewVerifier(s, &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{pub}})
	b.ReportAllocs()
	b.ResetTimer()
	cpu := benchcpu.Start()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		rep, err := v.Verify(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if !rep.OK() || rep.Verified != n {
			b.Fatalf("verified %d of %d: %v", rep.Verified, n, rep.Findings)
		}
	}
	b.ReportMetric(float64(b.N*n)/time.Since(start).Seconds(), "events/s")
	cpu.Report(b)
}
