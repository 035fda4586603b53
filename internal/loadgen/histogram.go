package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: each power of two is split into
// 2^subBits buckets, so a recorded value is off by at most 1/2^subBits of
// itself (under 0.8%). Values below 2^subBits ns are exact.
const subBits = 7

const subCount = 1 << subBits

// Histogram records durations in log-linear buckets, as HdrHistogram does:
// constant memory and O(1) recording however many samples come, with a
// bounded relative error, and histograms of several workers merge exactly.
// The zero value is ready to use; it is not safe for concurrent use.
type Histogram struct {
	counts   []uint64
	n        uint64
	sum      float64
	min, max time.Duration
}

// bucket maps a value in nanoseconds to its bucket index.
func bucket(v uint64) int {
	if v < subCount {
		return int(v)
	}
	exp := bits.Len64(v) - 1 - subBits // v >> exp lies in [subCount, 2*subCount)
	return (exp+1)*subCount + int(v>>exp) - subCount
}

// bucketHigh is the largest value that falls in bucket i.
func bucketHigh(i int) uint64 {
	if i < subCount {
		return uint64(i)
	}
	exp := i/subCount - 1
	mant := uint64(i%subCount + subCount)
	return (mant+1)<<exp - 1
}

// Record adds one sample; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	i := bucket(uint64(d))
	if i >= len(h.counts) {
		grown := make([]uint64, i+subCount)
		copy(grown, h.counts)
		h.counts = grown
	}
	h.counts[i]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.n++
	h.sum += float64(d)
}

// Merge adds o's samples to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	if len(o.counts) > len(h.counts) {
		grown := make([]uint64, len(o.counts))
		copy(grown, h.counts)
		h.counts = grown
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Min and Max are exact.
func (h *Histogram) Min() time.Duration { return h.min }
func (h *Histogram) Max() time.Duration { return h.max }

// Mean is exact.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Quantile returns the value below or at which a fraction q of the samples
// lie (the nearest-rank definition), within the histogram's precision and
// never outside [Min, Max].
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			v := time.Duration(bucketHigh(i))
			return min(max(v, h.min), h.max)
		}
	}
	return h.max
}

// CountAbove counts the samples larger than d, within the histogram's
// precision: how many requests missed a latency objective of d.
func (h *Histogram) CountAbove(d time.Duration) uint64 {
	if d < 0 {
		return h.n
	}
	var n uint64
	for i := bucket(uint64(d)) + 1; i < len(h.counts); i++ {
		n += h.counts[i]
	}
	return n
}

// Summary is a histogram's digest in the units people read.
type Summary struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"mean_ms"`
	Min   float64 `json:"min_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

// Summary digests the histogram in milliseconds.
func (h *Histogram) Summary() Summary {
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	return Summary{
		Count: h.n, Mean: ms(h.Mean()), Min: ms(h.min),
		P50: ms(h.Quantile(.50)), P90: ms(h.Quantile(.90)), P99: ms(h.Quantile(.99)),
		P999: ms(h.Quantile(.999)), Max: ms(h.max),
	}
}
