package openloop

import (
	"math"
	"math/bits"
	"time"
)

// subBuckets is the number of linear buckets per power of two. 128 keeps
// every recorded value within 1/128 (0.8 %) of the truth, as an
// HdrHistogram with two significant digits does, in 35 KiB per histogram.
const (
	subBucketBits = 7
	subBuckets    = 1 << subBucketBits
	// maxExponent covers durations up to 2^(7+33) ns, about 18 minutes.
	maxExponent = 33
	numBuckets  = (maxExponent + 2) * subBuckets
)

// Histogram counts durations in log-linear buckets: exact below 128 ns,
// then 128 equal buckets for each power of two. Recording is a few
// arithmetic operations and one increment, with no allocation, so the
// generator can record every response. It is not safe for concurrent use:
// each connection keeps its own and they are merged at the end.
type Histogram struct {
	counts [numBuckets]uint64
	total  uint64
	max    time.Duration
}

// bucketOf returns the bucket index of a non-negative value in ns.
func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	exp := bits.Len64(v) - subBucketBits - 1 // v>>exp is in [128, 256)
	if exp > maxExponent {
		return numBuckets - 1
	}
	return (exp+1)*subBuckets + int(v>>uint(exp)) - subBuckets
}

// bucketHigh returns the largest value, in ns, that falls in bucket i: a
// quantile read from the histogram never understates the latency.
func bucketHigh(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	exp := i/subBuckets - 1
	sub := uint64(i%subBuckets + subBuckets)
	return (sub+1)<<uint(exp) - 1
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	h.total++
	if d > h.max {
		h.max = d
	}
}

// Merge adds every count of o to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	if o.max > h.max {
		h.max = o.max
	}
}

// Count returns how many durations were recorded.
func (h *Histogram) Count() uint64 { return h.total }

// Max returns the largest duration recorded, exactly.
func (h *Histogram) Max() time.Duration { return h.max }

// Quantile returns the smallest bucket bound at or below which a fraction
// q (0 < q ≤ 1) of the recorded durations lie, capped at the exact
// maximum; zero when nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	if rank < 1 {
		rank = 1
	}
	if rank > h.total {
		rank = h.total
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			v := time.Duration(bucketHigh(i))
			if v > h.max {
				v = h.max
			}
			return v
		}
	}
	return h.max
}
