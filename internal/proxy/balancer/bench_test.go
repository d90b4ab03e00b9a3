package balancer

import (
	"fmt"
	"testing"
)

// benchTargets is ten IP targets of mixed weights, a typical upstream.
var benchTargets = ipTargets(100, 100, 100, 50, 50, 200, 100, 100, 10, 100)

func benchPick(b *testing.B, u Upstream, in func(i int) *HashInput) {
	bal := newTestBalancer(b, u, Options{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		p, err := bal.Pick(in(i), nil)
		if err != nil {
			b.Fatal(err)
		}
		p.Done(Outcome{Status: 200})
	}
}

func noInput(int) *HashInput { return nil }

func BenchmarkPickRoundRobin(b *testing.B) {
	benchPick(b, Upstream{Targets: benchTargets}, noInput)
}

func BenchmarkPickLeastConn(b *testing.B) {
	benchPick(b, Upstream{Algorithm: AlgorithmLeastConnections, Targets: benchTargets}, noInput)
}

func BenchmarkPickConsistentHash(b *testing.B) {
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("198.51.100.%d", i)
	}
	in := make([]HashInput, len(keys))
	benchPick(b, Upstream{Algorithm: AlgorithmConsistentHashing, HashOn: HashIP, Targets: benchTargets},
		func(i int) *HashInput {
			// A fresh input per request, as the proxy makes one.
			h := &in[i%len(in)]
			*h = HashInput{ClientIP: keys[i%len(keys)]}
			return h
		})
}

// BenchmarkPickRoundRobinParallel shows the cost of the shared wheel
// counter under contention.
func BenchmarkPickRoundRobinParallel(b *testing.B) {
	bal := newTestBalancer(b, Upstream{Targets: benchTargets}, Options{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p, err := bal.Pick(nil, nil)
			if err != nil {
				b.Error(err)
				return
			}
			p.Done(Outcome{Status: 200})
		}
	})
}

// BenchmarkPickPassive is round-robin with the circuit breaker on, so Done
// classifies every outcome.
func BenchmarkPickPassive(b *testing.B) {
	benchPick(b, Upstream{Healthchecks: passiveBreaker(5), Targets: benchTargets}, noInput)
}
