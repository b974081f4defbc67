package integrity

import (
	"context"
	"crypto/ed25519"
	"testing"

	"github.com/activitylog/activitylog"
)

// BenchmarkVerifyFiltered is BenchmarkVerify's trail verified with
// filters (a window over its middle fifth, a kind) and after pruning
// its first half; compare with BenchmarkVerify/sha256 in the same run.
func BenchmarkVerifyFiltered(b *testing.B) {
	const n = 100_000
	for _, c := range []struct {
		name  string
		opts  VerifierOptions
		prune bool
		want  int
	}{
		{"window", VerifierOptions{From: minute(40_001), To: minute(60_001)}, false, 20_000},
		{"kind", VerifierOptions{Kinds: []activitylog.Kind{activitylog.KindAuth}}, false, n / 2},
		{"pruned", VerifierOptions{}, true, n / 2},
	} {
		b.Run(c.name, func(b *testing.B) {
			tr := timed(buildBenchTrail(b, n, 1000, false))
			tr.priv = testPriv
			var src Source = tr.src
			stored := n
			if c.prune {
				stored = n / 2
				p := tr.pruneRecord(b, n/2, nil)
				tr.deleteRange(1, n/2)
				src = &pruneSource{memSource: tr.src, prunes: map[string][]PruneRecord{tr.chain: {p}}}
			}
			opts := c.opts
			opts.PublicKeys, opts.Witness = []ed25519.PublicKey{testPub}, tr.witness
			v := NewVerifier(src, &opts)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				rep, err := v.Verify(context.Background())
				if err != nil || !rep.OK() || rep.Verified != c.want {
					b.Fatalf("verify: %v, verified %d, %+v", err, rep.Verified, rep.Counts)
				}
			}
			b.ReportMetric(float64(stored)*float64(b.N)/b.Elapsed().Seconds(), "events/s") // stored events read
		})
	}
}
