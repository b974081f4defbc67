package loadgen

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"time"
)

// subBits sets the histogram's precision: each power of two is split
// into 1<<subBits linear buckets, so that a recorded value is off by
// less than 1/64 (1.6%) of itself, over the whole range of durations.
const subBits = 6

const subCount = 1 << subBits

// numBuckets covers every int64 nanosecond value.
const numBuckets = (64 - subBits) * subCount

// Histogram counts durations in log-linear buckets, in the manner of
// HdrHistogram with two significant digits: a fixed 3712
// counters, values from 1ns to 292 years, and quantiles within 1.6%.
// The zero value is empty and ready; it is not safe for concurrent use
// (Run keeps one per worker and merges them).
type Histogram struct {
	counts []uint64 // numBuckets, allocated on the first Record
	n      uint64
	sum    int64 // nanoseconds, saturating
	min    int64
	max    int64
}

// bucketOf returns the index of the bucket that holds v (v >= 0).
func bucketOf(v int64) int {
	u := uint64(v)
	if u < subCount {
		return int(u)
	}
	e := bits.Len64(u) - subBits // >= 1
	return e*subCount + int(u>>(e-1)) - subCount
}

// upperOf returns the largest value of bucket i.
func upperOf(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	e := i / subCount
	sub := i%subCount + subCount
	// Bucket i holds the values whose top subBits+1 bits are sub,
	// shifted by e-1.
	hi := (uint64(sub+1) << (e - 1)) - 1
	if hi > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(hi)
}

// Record adds one duration; a negative one counts as zero.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
	}
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	if h.sum <= math.MaxInt64-v {
		h.sum += v
	} else {
		h.sum = math.MaxInt64
	}
}

// Merge adds o's observations to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, numBuckets)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	if h.sum <= math.MaxInt64-o.sum {
		h.sum += o.sum
	} else {
		h.sum = math.MaxInt64
	}
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.n }

// Min and Max return the extreme observations, exactly; zero when empty.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max returns the largest observation.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the average observation; zero when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / int64(h.n))
}

// Quantile returns the q-quantile (q in [0, 1]; 0.99 for p99): the upper
// bound of the bucket holding the observation of rank ceil(q·n), capped
// by the largest observation. Zero when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(max(upperOf(i), h.min), h.max))
		}
	}
	return time.Duration(h.max)
}

// histJSON is the wire form: the non-empty buckets only.
type histJSON struct {
	Buckets map[int]uint64 `json:"buckets,omitempty"` // bucket index: count
	N       uint64         `json:"n"`
	Sum     int64          `json:"sum_ns"`
	Min     int64          `json:"min_ns"`
	Max     int64          `json:"max_ns"`
}

// MarshalJSON encodes the non-empty buckets, so that a Result crosses a
// process boundary whole (the load generator runs as its own process).
func (h *Histogram) MarshalJSON() ([]byte, error) {
	j := histJSON{N: h.n, Sum: h.sum, Min: h.min, Max: h.max}
	for i, c := range h.counts {
		if c > 0 {
			if j.Buckets == nil {
				j.Buckets = map[int]uint64{}
			}
			j.Buckets[i] = c
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes what MarshalJSON wrote, and refuses a bucket
// index out of range or counts that do not add up.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	var j histJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("decode histogram: %w", err)
	}
	*h = Histogram{n: j.N, sum: j.Sum, min: j.Min, max: j.Max}
	var total uint64
	keys := make([]int, 0, len(j.Buckets))
	for k := range j.Buckets {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, i := range keys {
		if i < 0 || i >= numBuckets {
			return fmt.Errorf("decode histogram: bucket %d: must be between 0 and %d", i, numBuckets-1)
		}
		if h.counts == nil {
			h.counts = make([]uint64, numBuckets)
		}
		h.counts[i] = j.Buckets[i]
		total += j.Buckets[i]
	}
	if total != j.N {
		return fmt.Errorf("decode histogram: n %d: the buckets hold %d", j.N, total)
	}
	return nil
}
