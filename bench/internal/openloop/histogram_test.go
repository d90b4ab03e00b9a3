package openloop

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsAreContiguousAndBounded(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 257, 1000, 1 << 20, 1<<40 - 1} {
		i := bucketOf(v)
		if i < prev {
			t.Fatalf("bucketOf(%d) = %d, below the previous %d", v, i, prev)
		}
		prev = i
		if high := bucketHigh(i); high < v {
			t.Errorf("bucketHigh(bucketOf(%d)) = %d, below the value", v, high)
		}
		if i > 0 && bucketHigh(i-1) >= v {
			t.Errorf("value %d also fits bucket %d (high %d)", v, i-1, bucketHigh(i-1))
		}
	}
	if got := bucketOf(1 << 62); got != numBuckets-1 {
		t.Errorf("huge value in bucket %d, want the last (%d)", got, numBuckets-1)
	}
}

func TestQuantilesWithinOnePercent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	values := make([]time.Duration, 100000)
	for i := range values {
		// Log-uniform from 1 µs to 100 ms: every magnitude a proxy shows.
		values[i] = time.Duration(1e3 * math.Pow(10, rng.Float64()*5))
		h.Record(values[i])
	}
	slices.Sort(values)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := values[int(q*float64(len(values)))-1]
		got := h.Quantile(q)
		if got < want || float64(got-want) > 0.01*float64(want) {
			t.Errorf("q%.3f = %v, want %v within +1%%", q, got, want)
		}
	}
	if h.Max() != values[len(values)-1] || h.Quantile(1) != h.Max() {
		t.Errorf("max %v, q1 %v, want %v", h.Max(), h.Quantile(1), values[len(values)-1])
	}
	if h.Count() != uint64(len(values)) {
		t.Errorf("count %d", h.Count())
	}
}

func TestMergeAndEmpty(t *testing.T) {
	var a, b, empty Histogram
	if empty.Quantile(0.99) != 0 {
		t.Fatal("empty histogram has a quantile")
	}
	a.Record(time.Millisecond)
	b.Record(3 * time.Millisecond)
	b.Record(-time.Second) // counts as zero
	a.Merge(&b)
	if a.Count() != 3 || a.Max() != 3*time.Millisecond || a.Quantile(0.01) != 0 {
		t.Errorf("merged: count %d max %v min quantile %v", a.Count(), a.Max(), a.Quantile(0.01))
	}
}
