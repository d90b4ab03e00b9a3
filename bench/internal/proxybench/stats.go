package proxybench

import (
	"fmt"
	"maps"
	"slices"
)

// spread is the median, minimum and maximum of a set of values measured in
// different rounds.
type spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

// summarize returns the spread of values; N is 0 when there are none.
func summarize(values []float64) spread {
	if len(values) == 0 {
		return spread{}
	}
	v := slices.Clone(values)
	slices.Sort(v)
	m := v[len(v)/2]
	if len(v)%2 == 0 {
		m = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return spread{Median: m, Min: v[0], Max: v[len(v)-1], N: len(v)}
}

// relSpread is (max − min) / |median|: above ~5 % a ratio is not settled
// and the run should be repeated.
func (s spread) relSpread() float64 {
	if s.N < 2 || s.Median == 0 {
		return 0
	}
	d := (s.Max - s.Min) / s.Median
	if d < 0 {
		d = -d
	}
	return d
}

// upstreamSample is one run's upstream CPU per request, the interference
// signal: the upstream's work per request does not depend on the proxy
// in front of it, so when it grows the machine, not the target, changed.
type upstreamSample struct {
	group  string // runs compared with each other: a round, or a round and load level
	target string
	cpuUS  float64
}

// interference returns the groups to drop, with the reason: a group goes
// when any of its runs spent more than limit × the best upstream CPU per
// request seen for the same target (and, for open loop, level) anywhere
// in the run. keyOf says which samples share a best.
func interference(samples []upstreamSample, limit float64, keyOf func(upstreamSample) string) map[string]string {
	best := map[string]float64{}
	for _, s := range samples {
		k := keyOf(s)
		if s.cpuUS > 0 && (best[k] == 0 || s.cpuUS < best[k]) {
			best[k] = s.cpuUS
		}
	}
	dropped := map[string]string{}
	for _, s := range samples {
		b := best[keyOf(s)]
		if b == 0 || s.cpuUS <= limit*b {
			continue
		}
		if _, done := dropped[s.group]; !done {
			dropped[s.group] = fmt.Sprintf("upstream CPU %.2f µs/req during %s is %.2f× its best %.2f",
				s.cpuUS, s.target, s.cpuUS/b, b)
		}
	}
	return dropped
}

// sortedKeys returns m's keys in order, for stable output.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
