package balancer

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ipTargets returns one IP target per weight: 10.0.0.1:80, 10.0.0.2:80...
func ipTargets(weights ...int) []Target {
	var ts []Target
	for i, w := range weights {
		ts = append(ts, Target{ID: fmt.Sprintf("t%d", i+1), Target: fmt.Sprintf("10.0.0.%d:80", i+1), Weight: w})
	}
	return ts
}

// newTestSet builds and starts a Set, and stops it when the test ends.
func newTestSet(t testing.TB, opts Options, ups ...Upstream) *Set {
	t.Helper()
	s := NewSet(ups, nil, opts)
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// newTestBalancer builds a Set of one upstream and returns its balancer.
func newTestBalancer(t testing.TB, u Upstream, opts Options) *Balancer {
	t.Helper()
	if u.Name == "" {
		u.Name = "backend"
	}
	b := newTestSet(t, opts, u).Get(u.Name)
	if b == nil {
		t.Fatalf("no balancer for %s", u.Name)
	}
	return b
}

// mustPick picks and fails the test on an error.
func mustPick(t *testing.T, b *Balancer, in *HashInput, tried ...string) Pick {
	t.Helper()
	p, err := b.Pick(in, tried)
	if err != nil {
		t.Fatalf("Pick: %v", err)
	}
	return p
}

// countPicks makes n picks, each done at once with status 200, and counts
// them per address.
func countPicks(t *testing.T, b *Balancer, n int) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for range n {
		p := mustPick(t, b, nil)
		counts[p.Addr]++
		p.Done(Outcome{Status: 200})
	}
	return counts
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// healthOf returns the health of the address addr, failing when absent.
func healthOf(t *testing.T, b *Balancer, addr string) TargetHealth {
	t.Helper()
	for _, h := range b.Health() {
		if h.Address == addr {
			return h
		}
	}
	t.Fatalf("no address %s in %+v", addr, b.Health())
	return TargetHealth{}
}

func addresses(b *Balancer) []string {
	var out []string
	for _, h := range b.Health() {
		if h.Address != "" {
			out = append(out, h.Address)
		}
	}
	return out
}

// fakeResolver is a DNS seam: names resolve to what the test says, and can
// be made to fail.
type fakeResolver struct {
	mu    sync.Mutex
	hosts map[string][]string
	fail  map[string]bool
	calls atomic.Int64
}

func newFakeResolver() *fakeResolver {
	return &fakeResolver{hosts: map[string][]string{}, fail: map[string]bool{}}
}

func (f *fakeResolver) set(host string, ips ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hosts[host] = ips
	f.fail[host] = false
}

func (f *fakeResolver) failing(host string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[host] = true
}

func (f *fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if ips, ok := f.hosts[host]; ok && !f.fail[host] {
		return slices.Clone(ips), nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// passiveBreaker returns health checks whose passive side trips after n
// failures of every kind (n HTTP 500s, n connect errors or n timeouts).
func passiveBreaker(n int) Healthchecks {
	hc := DefaultHealthchecks()
	hc.Passive.Unhealthy.HTTPFailures = n
	hc.Passive.Unhealthy.TCPFailures = n
	hc.Passive.Unhealthy.Timeouts = n
	return hc
}
