package activitylog

import (
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// KindStats are the Recorder's counters of one kind (Stats.ByKind).
// Reserve's refusals are counted in Stats.Refused only: a reservation
// has no kind yet.
type KindStats struct {
	Recorded uint64 `json:"recorded"`
	Written  uint64 `json:"written"`
	Dropped  uint64 `json:"dropped"`
	Refused  uint64 `json:"refused"`
	Failed   uint64 `json:"failed"`
}

// Histogram is a snapshot of observations in fixed buckets, in the form
// Prometheus exposes: Counts[i] counts the observations v with
// v <= Bounds[i] (cumulative), Count all of them (the +Inf bucket), Sum
// their total.
type Histogram struct {
	Bounds []float64 `json:"bounds"`
	Counts []uint64  `json:"counts"`
	Count  uint64    `json:"count"`
	Sum    float64   `json:"sum"`
}

// Bucket bounds of the Recorder's histograms.
var (
	// WriteLatencyBounds are the bounds, in seconds, of
	// Stats.WriteLatency: one committed Write, retries included.
	WriteLatencyBounds = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
	// BatchSizeBounds are the bounds, in events, of Stats.BatchSize:
	// the events of one committed Write.
	BatchSizeBounds = []float64{1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000}
)

// histogram counts observations without a lock: each bucket is an
// atomic counter, the sum a float64 kept in an atomic word. Observe is
// called by one goroutine (the batcher); snapshot by any.
type histogram struct {
	bounds []float64
	counts []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sum    atomic.Uint64   // math.Float64bits
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

func (h *histogram) snapshot() Histogram {
	s := Histogram{Bounds: h.bounds, Counts: make([]uint64, len(h.bounds))}
	var cum uint64
	for i := range h.bounds {
		cum += h.counts[i].Load()
		s.Counts[i] = cum
	}
	s.Count = cum + h.counts[len(h.bounds)].Load()
	s.Sum = math.Float64frombits(h.sum.Load())
	return s
}

// kindCounters are the per-kind counters of a Recorder, indexed by
// kindIndex.
type kindCounters struct {
	recorded, written, dropped, refused, failed atomic.Uint64
	_                                           [24]byte // a cache line each
}

// countKinds adds each event's kind to one counter of its kind's
// kindCounters (field picks it). The batcher calls it once a batch, so
// a kind's counter takes one atomic add per batch, not per event.
func (r *Recorder) countKinds(events []Event, field func(*kindCounters) *atomic.Uint64) {
	var n [len(kindOrder)]uint64
	for i := range events {
		if k := kindIndex(events[i].Kind); k >= 0 {
			n[k]++
		}
	}
	for k, c := range n {
		if c > 0 {
			field(&r.kinds[k]).Add(c)
		}
	}
}

func (r *Recorder) countKind(k Kind, field func(*kindCounters) *atomic.Uint64, n uint64) {
	if i := kindIndex(k); i >= 0 {
		field(&r.kinds[i]).Add(n)
	}
}

func recordedOf(c *kindCounters) *atomic.Uint64 { return &c.recorded }
func writtenOf(c *kindCounters) *atomic.Uint64  { return &c.written }
func droppedOf(c *kindCounters) *atomic.Uint64  { return &c.dropped }
func refusedOf(c *kindCounters) *atomic.Uint64  { return &c.refused }
func failedOf(c *kindCounters) *atomic.Uint64   { return &c.failed }

func (r *Recorder) kindStats() map[Kind]KindStats {
	m := make(map[Kind]KindStats, len(kindOrder))
	for i, k := range kindOrder {
		c := &r.kinds[i]
		m[k] = KindStats{Recorded: c.recorded.Load(), Written: c.written.Load(), Dropped: c.dropped.Load(),
			Refused: c.refused.Load(), Failed: c.failed.Load()}
	}
	return m
}

// Log rate limits: each message of the Recorder's own log may be
// logged logBurst times at once, then once per logEvery; the messages
// held back are counted, and the next one logged says how many
// ("suppressed"). A store that is down for an hour must not fill the
// host's log with the same line.
const (
	logBurst = 5
	logEvery = 10 * time.Second
)

// logLimiter is a token bucket per message.
type logLimiter struct {
	log *slog.Logger
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*logBucket
}

type logBucket struct {
	tokens     float64
	last       time.Time
	suppressed uint64
}

func newLogLimiter(log *slog.Logger, now func() time.Time) *logLimiter {
	return &logLimiter{log: log, now: now, m: map[string]*logBucket{}}
}

// Error logs msg with args at level Error unless msg was logged too
// often lately.
func (l *logLimiter) Error(msg string, args ...any) {
	now := l.now()
	l.mu.Lock()
	b := l.m[msg]
	if b == nil {
		if len(l.m) >= 64 { // messages are constants; bound it anyway
			clear(l.m)
		}
		b = &logBucket{tokens: logBurst, last: now}
		l.m[msg] = b
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(logBurst, b.tokens+el.Seconds()/logEvery.Seconds())
	}
	b.last = now
	if b.tokens < 1 {
		b.suppressed++
		l.mu.Unlock()
		return
	}
	b.tokens--
	s := b.suppressed
	b.suppressed = 0
	l.mu.Unlock()
	if s > 0 {
		args = append(args, "suppressed", s)
	}
	l.log.Error(msg, args...)
}
