package balancer

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestDNSExpansion(t *testing.T) {
	r := newFakeResolver()
	r.set("api.test", "10.1.0.2", "10.1.0.1", "10.1.0.1")
	b := newTestBalancer(t, Upstream{Targets: []Target{
		{ID: "name", Target: "api.test:8080", Weight: 10},
		{ID: "ip", Target: "10.0.0.9:80", Weight: 20},
	}}, Options{Resolver: r})

	if n := r.calls.Load(); n != 1 {
		t.Errorf("%d lookups, want 1: IP targets need none", n)
	}
	want := []TargetHealth{
		{TargetID: "ip", Target: "10.0.0.9:80", Address: "10.0.0.9:80", Weight: 20, Healthy: true, State: StateHealthchecksOff},
		{TargetID: "name", Target: "api.test:8080", Address: "10.1.0.1:8080", Weight: 10, Healthy: true, State: StateHealthchecksOff},
		{TargetID: "name", Target: "api.test:8080", Address: "10.1.0.2:8080", Weight: 10, Healthy: true, State: StateHealthchecksOff},
	}
	if got := b.Health(); !slices.Equal(got, want) {
		t.Fatalf("Health() =\n%+v\nwant\n%+v", got, want)
	}
	// Each address of the name carries the target's weight.
	counts := map[string]int{}
	hosts := map[string]string{}
	for range 400 {
		p := mustPick(t, b, nil)
		counts[p.Addr]++
		hosts[p.Addr] = p.Host
		if p.TargetID == "" {
			t.Fatal("pick without target id")
		}
		p.Done(Outcome{Status: 200})
	}
	if counts["10.0.0.9:80"] != 200 || counts["10.1.0.1:8080"] != 100 || counts["10.1.0.2:8080"] != 100 {
		t.Errorf("picks %v", counts)
	}
	if hosts["10.1.0.1:8080"] != "api.test" || hosts["10.0.0.9:80"] != "" {
		t.Errorf("hosts %v: want the name for resolved addresses, empty for IP targets", hosts)
	}
}

func TestDNSIPv6(t *testing.T) {
	r := newFakeResolver()
	r.set("v6.test", "2001:db8::1")
	b := newTestBalancer(t, Upstream{HostHeader: "front.test", Targets: []Target{
		{ID: "n", Target: "v6.test:443", Weight: 100}, {ID: "i", Target: "[2001:db8::2]:443", Weight: 100}}}, Options{Resolver: r})
	got := map[string]string{}
	for range 2 {
		p := mustPick(t, b, nil)
		got[p.Addr] = p.Host
	}
	want := map[string]string{"[2001:db8::1]:443": "front.test", "[2001:db8::2]:443": "front.test"}
	if len(got) != 2 || got["[2001:db8::1]:443"] != want["[2001:db8::1]:443"] || got["[2001:db8::2]:443"] != want["[2001:db8::2]:443"] {
		t.Errorf("picks %v, want %v (host_header overrides every target's host)", got, want)
	}
}

func TestDNSRefreshKeepsLastGood(t *testing.T) {
	r := newFakeResolver()
	r.set("api.test", "10.1.0.1", "10.1.0.2")
	b := newTestBalancer(t, Upstream{Healthchecks: passiveBreaker(1), Targets: []Target{
		{ID: "name", Target: "api.test:80", Weight: 100}}}, Options{Resolver: r, DNSRefresh: 5 * time.Millisecond})

	// Trip one address; its state must survive re-resolution.
	p := mustPick(t, b, nil, "10.1.0.2:80")
	p.Done(Outcome{Err: errors.New("refused")})

	r.set("api.test", "10.1.0.3", "10.1.0.2", "10.1.0.1")
	waitFor(t, "the third address", func() bool { return len(addresses(b)) == 3 })
	if healthOf(t, b, "10.1.0.1:80").Healthy {
		t.Error("re-resolution reset the health of an address that stayed")
	}
	if !healthOf(t, b, "10.1.0.3:80").Healthy {
		t.Error("a new address starts unhealthy")
	}

	r.failing("api.test")
	calls := r.calls.Load()
	waitFor(t, "failing lookups", func() bool { return r.calls.Load() > calls+3 })
	if got := addresses(b); len(got) != 3 {
		t.Fatalf("after failed lookups the addresses are %v, want the last good three", got)
	}

	r.set("api.test", "10.1.0.4")
	waitFor(t, "the new single address", func() bool {
		got := addresses(b)
		return len(got) == 1 && got[0] == "10.1.0.4:80"
	})
	for range 10 {
		if p := mustPick(t, b, nil); p.Addr != "10.1.0.4:80" {
			t.Fatalf("picked %s after the name moved", p.Addr)
		}
	}
}

func TestDNSUnresolvableTarget(t *testing.T) {
	r := newFakeResolver()
	targets := []Target{{ID: "ip", Target: "10.0.0.1:80", Weight: 100}, {ID: "name", Target: "missing.test:80", Weight: 100}}
	s := newTestSet(t, Options{Resolver: r, DNSRefresh: 5 * time.Millisecond},
		Upstream{Name: "lenient", Targets: targets},
		Upstream{Name: "strict", Healthchecks: Healthchecks{Threshold: 60}, Targets: targets})

	lenient := s.Get("lenient")
	for range 10 {
		if p := mustPick(t, lenient, nil); p.Addr != "10.0.0.1:80" {
			t.Fatalf("picked %s", p.Addr)
		}
	}
	h := lenient.Health()
	if len(h) != 2 || h[1].State != StateDNSError || h[1].Healthy || h[1].Address != "" {
		t.Fatalf("Health() = %+v, want the unresolved name as dns_error", h)
	}
	// Half the weight cannot resolve: below a 60% threshold.
	if _, err := s.Get("strict").Pick(nil, nil); !errors.Is(err, ErrNoHealthyTargets) {
		t.Fatalf("strict: err = %v", err)
	}
	r.set("missing.test", "10.9.9.9")
	waitFor(t, "the name to resolve", func() bool { return s.Get("strict").Healthy() })
	mustPick(t, s.Get("strict"), nil).Done(Outcome{Status: 200})
}
