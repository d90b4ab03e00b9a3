package balancer

import (
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestNewSetCarriesState(t *testing.T) {
	a := Upstream{ID: "a", Name: "a", Algorithm: AlgorithmLeastConnections, Healthchecks: passiveBreaker(1), Targets: ipTargets(100, 100)}
	b := Upstream{ID: "b", Name: "b", Healthchecks: passiveBreaker(1), Targets: ipTargets(100, 100)}
	c := Upstream{ID: "c", Name: "c", Targets: ipTargets(100)}
	s1 := NewSet([]Upstream{a, b, c}, nil, Options{})
	s1.Start()
	defer s1.Stop()

	steer(t, s1.Get("a"), 0, 2).Done(Outcome{Status: 500})
	held := steer(t, s1.Get("a"), 1, 2)
	steer(t, s1.Get("b"), 0, 2).Done(Outcome{Status: 500})

	// a is unchanged (targets listed in another order); b's weights
	// changed; c is gone.
	a2 := a
	a2.Targets = []Target{a.Targets[1], a.Targets[0]}
	b2 := b
	b2.Targets = ipTargets(100, 50)
	s2 := NewSet([]Upstream{a2, b2}, s1, Options{})
	defer s2.Stop()
	s2.Start()

	if s2.Get("a") != s1.Get("a") {
		t.Fatal("the unchanged upstream got a new balancer")
	}
	if healthOf(t, s2.Get("a"), "10.0.0.1:80").Healthy {
		t.Error("the unchanged upstream lost its health state")
	}
	if n := healthOf(t, s2.Get("a"), "10.0.0.2:80").InFlight; n != 1 {
		t.Errorf("the unchanged upstream's in-flight count is %d, want 1", n)
	}
	held.Done(Outcome{Status: 200}) // a pick from the old Set completes on the carried balancer
	if n := healthOf(t, s2.Get("a"), "10.0.0.2:80").InFlight; n != 0 {
		t.Errorf("in-flight after Done = %d", n)
	}
	if s2.Get("b") == s1.Get("b") || !healthOf(t, s2.Get("b"), "10.0.0.1:80").Healthy {
		t.Error("the changed upstream kept its old state")
	}
	if s2.Get("c") != nil {
		t.Error("the removed upstream is still there")
	}
	if all := s2.Balancers(); len(all) != 2 || all[0].Name() != "a" || all[0].ID() != "a" || all[1].Name() != "b" {
		t.Errorf("Balancers() = %v", all)
	}
	var none *Set
	if none.Get("a") != nil || none.Balancers() != nil {
		t.Error("a nil Set has balancers")
	}

	// A renamed upstream (same id) is a change.
	a3 := a
	a3.Name = "a-renamed"
	s3 := NewSet([]Upstream{a3}, s2, Options{})
	defer s3.Stop()
	if s3.Get("a-renamed") == s2.Get("a") || !healthOf(t, s3.Get("a-renamed"), "10.0.0.1:80").Healthy {
		t.Error("a renamed upstream kept its state")
	}
}

func TestNewSetHandsOverChecks(t *testing.T) {
	kept, removed := newProbeServer(t, false), newProbeServer(t, false)
	hc := activeChecks("http")
	keptUp := Upstream{ID: "k", Name: "kept", Healthchecks: hc, Targets: []Target{{ID: "k1", Target: kept.addr(), Weight: 100}}}
	removedUp := Upstream{ID: "r", Name: "removed", Healthchecks: hc, Targets: []Target{{ID: "r1", Target: removed.addr(), Weight: 100}}}
	s1 := NewSet([]Upstream{keptUp, removedUp}, nil, Options{})
	s1.Start()
	defer s1.Stop()
	waitFor(t, "probes of both", func() bool { return kept.hits.Load() > 0 && removed.hits.Load() > 0 })

	t.Run("abandoned", func(t *testing.T) {
		// The new configuration fails to compile: the proxy stops the new
		// Set and keeps serving the old one, whose checks must go on.
		s2 := NewSet([]Upstream{keptUp}, s1, Options{})
		s2.Stop()
		k, r := kept.hits.Load(), removed.hits.Load()
		waitFor(t, "the old Set's checks to go on", func() bool { return kept.hits.Load() > k+3 && removed.hits.Load() > r+3 })
	})

	var s2 *Set
	t.Run("committed", func(t *testing.T) {
		s2 = NewSet([]Upstream{keptUp}, s1, Options{})
		s2.Start()
		s1.Stop() // ends the removed upstream's checks, not the kept one's
		removedHits, hits := removed.hits.Load(), kept.hits.Load()
		waitFor(t, "the kept upstream's probes to go on", func() bool { return kept.hits.Load() > hits+5 })
		if n := removed.hits.Load(); n != removedHits {
			t.Errorf("the removed upstream was probed %d more times", n-removedHits)
		}
	})

	t.Run("old stopped before new started", func(t *testing.T) {
		s3 := NewSet([]Upstream{keptUp}, s2, Options{})
		defer s3.Stop()
		s2.Stop()
		s3.Start()
		hits := kept.hits.Load()
		waitFor(t, "the kept upstream's probes to resume", func() bool { return kept.hits.Load() > hits+3 })
	})
}

func TestStopLeavesNoGoroutines(t *testing.T) {
	web := newProbeServer(t, false)
	tcp := newTCPServer(t)
	r := newFakeResolver()
	r.set("web.test", "127.0.0.1")
	_, port, _ := splitTarget(web.addr())
	baseline := runtime.NumGoroutine()

	hc := activeChecks("http")
	hc.Passive.Unhealthy.HTTPFailures = 1
	s := NewSet([]Upstream{
		{Name: "web", Healthchecks: hc, Targets: []Target{{ID: "w", Target: "web.test:" + port, Weight: 100}}},
		{Name: "tcp", Healthchecks: activeChecks("tcp"), Targets: []Target{{ID: "t", Target: tcp.addr, Weight: 100}}},
	}, nil, Options{Resolver: r, DNSRefresh: 5 * time.Millisecond})
	s.Start()
	s.Start() // idempotent
	calls := r.calls.Load()
	waitFor(t, "probes and refreshes", func() bool { return web.hits.Load() > 3 && r.calls.Load() > calls+3 })
	if runtime.NumGoroutine() <= baseline {
		t.Fatal("no goroutines running while started")
	}

	s.Stop()
	s.Stop()  // idempotent
	s.Start() // after Stop: nothing
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= baseline })
	hits := web.hits.Load()
	// Picks still work on a stopped Set.
	mustPick(t, s.Get("web"), nil).Done(Outcome{Status: 200})
	if web.hits.Load() != hits {
		t.Error("probes after Stop")
	}
}

func TestStopCancelsSlowProbe(t *testing.T) {
	// A target that accepts connections and never answers, probed with a
	// long timeout: Stop must not wait the timeout out.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 16)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	})
	defer func() {
		ln.Close()
		wg.Wait()
		close(accepted)
		for c := range accepted {
			c.Close()
		}
	}()
	hc := activeChecks("http")
	hc.Active.Timeout = time.Minute
	s := NewSet([]Upstream{{Name: "slow", Healthchecks: hc, Targets: []Target{{ID: "s", Target: ln.Addr().String(), Weight: 100}}}}, nil, Options{})
	s.Start()
	c := <-accepted // a probe is now waiting for its response
	accepted <- c
	start := time.Now()
	s.Stop()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Stop took %v with a probe in flight", d)
	}
	if !healthOf(t, s.Get("slow"), ln.Addr().String()).Healthy {
		t.Error("a probe cancelled by Stop counted as a failure")
	}
}
