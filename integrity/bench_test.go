package integrity

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/benchcpu"
	"github.com/activitylog/activitylog/storetest"
)

// benchEvents returns n made-up canonical events of about 1 KB each.
func benchEvents(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = canonicalOf(i, 1024)
	}
	return out
}

// trailEvents returns the canonical bytes of the first n events of
// storetest's realistic trail.
func trailEvents(n int) [][]byte {
	out := make([][]byte, n)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range out {
		e := storetest.TrailEvent(i, t0.Add(time.Duration(i)*time.Millisecond))
		b, err := activitylog.Canonical(&e)
		if err != nil {
			panic(err)
		}
		out[i] = b
	}
	return out
}

// eventsPerSecond reports events/s, and the events per second of CPU
// time, which moves far less than the former on the shared machine.
func eventsPerSecond(b *testing.B, cpu *benchcpu.Meter) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	cpu.Report(b)
}

// BenchmarkChain measures sealing ~1 KB events: the baseline is a bare
// sha256.Sum256 over the same bytes; hash is the event hash alone
// (domain tag, prev and bytes, chained), next is Chainer.Next (the hash
// and the Merkle tree's leaf and nodes).
func BenchmarkChain(b *testing.B) {
	evs := benchEvents(1024)
	trail := trailEvents(1024)
	// The same two on the canonical bytes of storetest's realistic
	// trail (request, crud and auth events of 820 to 950 bytes).
	b.Run("sha256/trail", func(b *testing.B) {
		b.ReportAllocs()
		var sum [32]byte
		cpu := benchcpu.Start()
		for i := 0; b.Loop(); i++ {
			sum = sha256.Sum256(trail[i%len(trail)])
		}
		_ = sum
		eventsPerSecond(b, cpu)
	})
	b.Run("next/trail", func(b *testing.B) {
		b.ReportAllocs()
		c, _ := NewChainer(&Options{Chain: testChain})
		cpu := benchcpu.Start()
		for i := 0; b.Loop(); i++ {
			c.Next(trail[i%len(trail)])
		}
		eventsPerSecond(b, cpu)
	})
	// As a writer seals: a signed checkpoint every 500 events, so that
	// the batch's tree starts over at every checkpoint (next/trail never
	// checkpoints: its batch tree starts at leaf 0 and grows for ever).
	// The signatures are counted in.
	b.Run("next/trail/cp500", func(b *testing.B) {
		b.ReportAllocs()
		c, _ := NewChainer(&Options{Chain: testChain, SigningKey: testPriv})
		now := time.Unix(1700000000, 0)
		cpu := benchcpu.Start()
		for i := 0; b.Loop(); i++ {
			c.Next(trail[i%len(trail)])
			if c.Pending() == 500 {
				if _, err := c.Checkpoint(now); err != nil {
					b.Fatal(err)
				}
			}
		}
		eventsPerSecond(b, cpu)
	})
	b.Run("sha256", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(evs[0])))
		var sum [32]byte
		cpu := benchcpu.Start()
		for i := 0; b.Loop(); i++ {
			sum = sha256.Sum256(evs[i%len(evs)])
		}
		_ = sum
		eventsPerSecond(b, cpu)
	})
	for _, mode := range []struct {
		name string
		key  *HMACKey
	}{{"", nil}, {"/hmac", testHMAC}} {
		b.Run("hash"+mode.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(evs[0])))
			s := newSealer(mode.key)
			var prev Hash
			cpu := benchcpu.Start()
			for i := 0; b.Loop(); i++ {
				prev = s.hash(&prev, evs[i%len(evs)])
			}
			eventsPerSecond(b, cpu)
		})
		b.Run("next"+mode.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(evs[0])))
			c, _ := NewChainer(&Options{Chain: testChain, HMACKey: mode.key})
			cpu := benchcpu.Start()
			for i := 0; b.Loop(); i++ {
				c.Next(evs[i%len(evs)])
			}
			eventsPerSecond(b, cpu)
		})
	}
}

// BenchmarkVerify verifies an in-memory trail of 100,000 ~1 KB events
// with a checkpoint every 1000: one op is the whole trail. thorough is
// the in-memory pass that explains faults, forced on a clean trail.
func BenchmarkVerify(b *testing.B) {
	const n = 100_000
	for _, mode := range []struct {
		name  string
		keyed bool
		thor  bool
	}{{"sha256", false, false}, {"hmac", true, false}, {"sha256/thorough", false, true}} {
		b.Run(mode.name, func(b *testing.B) {
			tr := buildBenchTrail(b, n, 1000, mode.keyed)
			opts := &VerifierOptions{PublicKeys: []ed25519.PublicKey{testPub}, Witness: tr.witness}
			if mode.keyed {
				opts.HMACKeys = []*HMACKey{testHMAC}
			}
			v := NewVerifier(tr.src, opts)
			forceThorough = mode.thor
			defer func() { forceThorough = false }()
			b.ReportAllocs()
			b.ResetTimer()
			cpu := benchcpu.Start()
			for b.Loop() {
				rep, err := v.Verify(context.Background())
				if err != nil || !rep.OK() || rep.Verified != n {
					b.Fatalf("verify: %v, %+v", err, rep.Counts)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			cpu.Report(b)
		})
	}
}

func buildBenchTrail(b *testing.B, n, every int, keyed bool) *trail {
	evs := benchEvents(1024)
	opts := &Options{Chain: testChain, SigningKey: testPriv}
	if keyed {
		opts.HMACKey = testHMAC
	}
	c, _ := NewChainer(opts)
	src := &memSource{chains: []ChainInfo{c.Info()}, entries: map[string][]Entry{}, cps: map[string][]Checkpoint{}}
	tr := &trail{src: src, chain: testChain, pub: testPub}
	es := make([]Entry, 0, n)
	for i := 1; i <= n; i++ {
		canon := evs[i%len(evs)]
		s := c.Next(canon)
		es = append(es, Entry{EventID: testID(i), Seal: &s, Canonical: canon})
		if i%every == 0 || i == n {
			cp, err := c.Checkpoint(testTime)
			if err != nil {
				b.Fatal(err)
			}
			src.cps[testChain] = append(src.cps[testChain], cp)
			tr.witness = append(tr.witness, cp)
		}
	}
	src.entries[testChain] = es
	return tr
}
