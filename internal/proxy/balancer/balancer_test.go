package balancer

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRoundRobinWeighted(t *testing.T) {
	b := newTestBalancer(t, Upstream{Targets: ipTargets(100, 50, 25, 0)}, Options{})
	// The wheel is 4+2+1 slots; whole turns give exact shares.
	counts := countPicks(t, b, 7000)
	want := map[string]int{"10.0.0.1:80": 4000, "10.0.0.2:80": 2000, "10.0.0.3:80": 1000}
	for addr, n := range want {
		if counts[addr] != n {
			t.Errorf("%s picked %d times, want %d (all: %v)", addr, counts[addr], n, counts)
		}
	}
	if counts["10.0.0.4:80"] != 0 {
		t.Errorf("weight-0 target picked %d times", counts["10.0.0.4:80"])
	}
}

func TestRoundRobinSmooth(t *testing.T) {
	b := newTestBalancer(t, Upstream{Targets: ipTargets(200, 100)}, Options{})
	// Weights 2:1 interleave as A B A, never three A in a row nor two B.
	var seq strings.Builder
	for range 30 {
		p := mustPick(t, b, nil)
		seq.WriteByte(map[string]byte{"10.0.0.1:80": 'A', "10.0.0.2:80": 'B'}[p.Addr])
		p.Done(Outcome{Status: 200})
	}
	if s := seq.String(); strings.Contains(s, "AAA") || strings.Contains(s, "BB") {
		t.Errorf("picks come in bursts: %s", s)
	}
}

func TestRoundRobinLargeWeightsCapped(t *testing.T) {
	// gcd 1 and a sum above maxWheel: the wheel is scaled, not exact.
	b := newTestBalancer(t, Upstream{Targets: ipTargets(65535, 65534, 1)}, Options{})
	if n := len(b.ring.Load().wheel); n > maxWheel+3 {
		t.Fatalf("wheel has %d slots, cap is %d", n, maxWheel)
	}
	counts := countPicks(t, b, 100000)
	if counts["10.0.0.3:80"] == 0 || counts["10.0.0.3:80"] > 10 {
		t.Errorf("weight-1 target picked %d times in 100000", counts["10.0.0.3:80"])
	}
	if d := counts["10.0.0.1:80"] - counts["10.0.0.2:80"]; d < -100 || d > 100 {
		t.Errorf("near-equal weights got %v", counts)
	}
}

func TestWeightZero(t *testing.T) {
	for _, alg := range []string{AlgorithmRoundRobin, AlgorithmLeastConnections, AlgorithmConsistentHashing,
		AlgorithmLatency, AlgorithmStickySessions} {
		t.Run(alg, func(t *testing.T) {
			u := Upstream{Algorithm: alg, HashOn: HashIP, StickySessionsCookie: "s", Targets: ipTargets(0, 100, 0)}
			b := newTestBalancer(t, u, Options{})
			for i := range 500 {
				p := mustPick(t, b, &HashInput{ClientIP: string(rune('a' + i%26))})
				if p.Addr != "10.0.0.2:80" {
					t.Fatalf("picked weight-0 address %s", p.Addr)
				}
				p.Done(Outcome{Status: 200})
			}
			none := newTestBalancer(t, Upstream{Name: "zero", Algorithm: alg, StickySessionsCookie: "s",
				Targets: ipTargets(0, 0)}, Options{})
			if _, err := none.Pick(nil, nil); !errors.Is(err, ErrNoHealthyTargets) {
				t.Fatalf("all weights 0: err = %v, want ErrNoHealthyTargets", err)
			}
		})
	}
}

func TestNoTargets(t *testing.T) {
	b := newTestBalancer(t, Upstream{}, Options{})
	if _, err := b.Pick(nil, nil); !errors.Is(err, ErrNoHealthyTargets) {
		t.Fatalf("err = %v, want ErrNoHealthyTargets", err)
	}
	if ErrNoHealthyTargets.Error() != "failure to get a peer from the ring-balancer" {
		t.Errorf("message %q is not Kong's", ErrNoHealthyTargets)
	}
}

func TestLeastConnections(t *testing.T) {
	b := newTestBalancer(t, Upstream{Algorithm: AlgorithmLeastConnections, Targets: ipTargets(100, 100, 100)}, Options{})
	// Held picks spread over every address before any gets a second.
	var held []Pick
	seen := map[string]bool{}
	for range 3 {
		p := mustPick(t, b, nil)
		seen[p.Addr] = true
		held = append(held, p)
	}
	if len(seen) != 3 {
		t.Fatalf("3 concurrent picks used %d addresses", len(seen))
	}
	// The address released first is the only one with room.
	held[1].Done(Outcome{Status: 200})
	for range 5 {
		p := mustPick(t, b, nil)
		if p.Addr != held[1].Addr {
			t.Fatalf("picked %s, want the idle %s", p.Addr, held[1].Addr)
		}
		p.Done(Outcome{Status: 200})
	}
	if got := healthOf(t, b, held[0].Addr).InFlight; got != 1 {
		t.Errorf("in-flight of a held pick = %d, want 1", got)
	}
}

func TestLeastConnectionsWeighted(t *testing.T) {
	b := newTestBalancer(t, Upstream{Algorithm: AlgorithmLeastConnections, Targets: ipTargets(200, 100)}, Options{})
	counts := map[string]int{}
	for range 30 {
		p := mustPick(t, b, nil) // held: in-flight grows
		counts[p.Addr]++
	}
	if a, c := counts["10.0.0.1:80"], counts["10.0.0.2:80"]; a < 19 || a > 21 || c < 9 || c > 11 {
		t.Errorf("30 concurrent picks over weights 2:1 went %v", counts)
	}
}

func TestLatencyPrefersFast(t *testing.T) {
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	b := newTestBalancer(t, Upstream{Algorithm: AlgorithmLatency, Targets: ipTargets(100, 100)}, Options{Now: clock})

	// Without samples it spreads like least-connections.
	counts := countPicks(t, b, 100)
	if counts["10.0.0.1:80"] < 40 || counts["10.0.0.2:80"] < 40 {
		t.Fatalf("no samples yet, picks went %v", counts)
	}
	slow, fast := "10.0.0.1:80", "10.0.0.2:80"
	for range 2 {
		for _, addr := range []string{slow, fast} {
			p := mustPick(t, b, nil, otherThan(addr))
			latency := 10 * time.Millisecond
			if addr == slow {
				latency = 200 * time.Millisecond
			}
			p.Done(Outcome{Status: 200, Latency: latency})
		}
	}
	for range 20 {
		p := mustPick(t, b, nil)
		if p.Addr != fast {
			t.Fatalf("picked %s, want the faster %s", p.Addr, fast)
		}
		p.Done(Outcome{Status: 200, Latency: 10 * time.Millisecond})
	}
	// Load counts too: enough requests in flight on the fast address
	// make the slow one cheaper.
	var held []Pick
	for range 30 {
		held = append(held, mustPick(t, b, nil))
	}
	if healthOf(t, b, slow).InFlight == 0 {
		t.Errorf("30 requests in flight and none on the slow address")
	}
	for _, p := range held {
		p.Done(Outcome{})
	}
	// A connect failure does not make an address look fast.
	before := b.ring.Load().addrs[0].decayedLatency(clock().UnixNano())
	p := mustPick(t, b, nil, fast)
	p.Done(Outcome{Err: errors.New("connection refused"), Latency: time.Microsecond})
	if after := b.ring.Load().addrs[0].decayedLatency(clock().UnixNano()); after != before {
		t.Errorf("a refused connection changed the average from %v to %v", before, after)
	}
	// Averages decay with time: while the fast address keeps reporting
	// fresh samples, the slow one, idle for a minute, looks cheap again
	// and gets tried.
	advance(time.Minute)
	counts = map[string]int{}
	for range 10 {
		p := mustPick(t, b, nil)
		counts[p.Addr]++
		p.Done(Outcome{Status: 200, Latency: 10 * time.Millisecond})
	}
	if counts[slow] == 0 {
		t.Errorf("after a minute idle the slow address is never tried: %v", counts)
	}
}

// otherThan returns the address of the 2-target test upstream that is not
// addr, for steering a pick with tried.
func otherThan(addr string) string {
	if addr == "10.0.0.1:80" {
		return "10.0.0.2:80"
	}
	return "10.0.0.1:80"
}

func TestStickySessions(t *testing.T) {
	u := Upstream{Algorithm: AlgorithmStickySessions, StickySessionsCookie: "route", StickySessionsCookiePath: "/app",
		Healthchecks: passiveBreaker(1), Targets: ipTargets(100, 100, 100)}
	b := newTestBalancer(t, u, Options{})
	first := mustPick(t, b, &HashInput{})
	first.Done(Outcome{Status: 200})
	name, rest, ok := strings.Cut(first.SetCookie, "=")
	value, attrs, _ := strings.Cut(rest, ";")
	if !ok || name != "route" || !strings.Contains(attrs, "Path=/app") {
		t.Fatalf("SetCookie = %q", first.SetCookie)
	}
	withCookie := func() *HashInput {
		return &HashInput{Cookie: func(n string) (string, bool) { return value, n == "route" }}
	}
	for range 20 {
		p := mustPick(t, b, withCookie())
		if p.Addr != first.Addr || p.SetCookie != "" {
			t.Fatalf("with the cookie: %s (set %q), want %s and no new cookie", p.Addr, p.SetCookie, first.Addr)
		}
		p.Done(Outcome{Status: 200})
	}
	// The address fails: the client moves and is told where to.
	p := mustPick(t, b, withCookie())
	p.Done(Outcome{Status: 500})
	moved := mustPick(t, b, withCookie())
	if moved.Addr == first.Addr || moved.SetCookie == "" || moved.SetCookie == first.SetCookie {
		t.Fatalf("after failure: %s, cookie %q", moved.Addr, moved.SetCookie)
	}
	// An unknown cookie value is replaced too.
	stale := mustPick(t, b, &HashInput{Cookie: func(string) (string, bool) { return "nonsense", true }})
	if stale.SetCookie == "" {
		t.Errorf("a stale cookie was kept")
	}
}

func TestThreshold(t *testing.T) {
	cases := []struct {
		threshold float64
		failed    int
		wantErr   bool
	}{
		{threshold: 0, failed: 3, wantErr: false},
		{threshold: 0, failed: 4, wantErr: true},
		{threshold: 50, failed: 1, wantErr: false},
		{threshold: 50, failed: 2, wantErr: true}, // 50% is not above 50%
		{threshold: 49, failed: 2, wantErr: false},
		{threshold: 100, failed: 0, wantErr: true},
	}
	for _, c := range cases {
		hc := passiveBreaker(1)
		hc.Threshold = c.threshold
		b := newTestBalancer(t, Upstream{Healthchecks: hc, Targets: ipTargets(100, 100, 100, 100)}, Options{})
		for i := range c.failed {
			p := mustPick(t, b, nil, otherAddrs(i, 4)...)
			p.Done(Outcome{Status: 503})
		}
		_, err := b.Pick(nil, nil)
		if gotErr := errors.Is(err, ErrNoHealthyTargets); gotErr != c.wantErr {
			t.Errorf("threshold %v with %d of 4 unhealthy: err = %v, want error %v", c.threshold, c.failed, err, c.wantErr)
		}
		if b.Healthy() == c.wantErr {
			t.Errorf("threshold %v with %d of 4 unhealthy: Healthy() = %v", c.threshold, c.failed, b.Healthy())
		}
	}
}

// otherAddrs lists every address of an n-target test upstream except the
// i-th (0-based), to steer a pick to it.
func otherAddrs(i, n int) []string {
	var out []string
	for j, tg := range ipTargets(make([]int, n)...) {
		if j != i {
			out = append(out, tg.Target)
		}
	}
	return out
}

func TestTriedAddressesAvoided(t *testing.T) {
	for _, alg := range []string{AlgorithmRoundRobin, AlgorithmLeastConnections, AlgorithmConsistentHashing, AlgorithmLatency} {
		t.Run(alg, func(t *testing.T) {
			b := newTestBalancer(t, Upstream{Algorithm: alg, HashOn: HashIP, Targets: ipTargets(100, 100, 100)}, Options{})
			in := &HashInput{ClientIP: "192.0.2.1"}
			var tried []string
			for range 3 {
				p := mustPick(t, b, in, tried...)
				for _, a := range tried {
					if a == p.Addr {
						t.Fatalf("retry went back to %s with %v untried", p.Addr, 3-len(tried))
					}
				}
				p.Done(Outcome{Err: errors.New("refused")})
				tried = append(tried, p.Addr)
			}
			// Every address tried: retries go back to them rather than fail.
			p := mustPick(t, b, in, tried...)
			p.Done(Outcome{Status: 200})
		})
	}
}

func TestInvalidUpstreamRefusesPicks(t *testing.T) {
	s := NewSet([]Upstream{{Name: "bad", Algorithm: "random"}}, nil, Options{})
	defer s.Stop()
	b := s.Get("bad")
	if b == nil {
		t.Fatal("an invalid upstream has no balancer; the proxy would treat its name as a host")
	}
	_, err := b.Pick(nil, nil)
	if !errors.Is(err, ErrNoHealthyTargets) || !strings.Contains(err.Error(), "random") {
		t.Fatalf("err = %v", err)
	}
}

func TestHealthReport(t *testing.T) {
	b := newTestBalancer(t, Upstream{Targets: ipTargets(100)}, Options{})
	h := b.Health()
	if len(h) != 1 || h[0].State != StateHealthchecksOff || !h[0].Healthy || h[0].Weight != 100 || h[0].TargetID != "t1" {
		t.Fatalf("Health() = %+v", h)
	}
	b2 := newTestBalancer(t, Upstream{Name: "checked", Healthchecks: passiveBreaker(1), Targets: ipTargets(100)}, Options{})
	if s := b2.Health()[0].State; s != StateHealthy {
		t.Fatalf("state with checks on = %s", s)
	}
}

func TestPickDoneZeroValue(t *testing.T) {
	Pick{}.Done(Outcome{Status: 500}) // must not panic
}

func TestSlotsClamped(t *testing.T) {
	b := newTestBalancer(t, Upstream{Algorithm: AlgorithmConsistentHashing, Slots: 10, Targets: ipTargets(100, 100)}, Options{})
	if got := b.ring.Load().slots; got != minSlots {
		t.Fatalf("slots = %d, want Kong's minimum %d", got, minSlots)
	}
	if math.Abs(float64(len(b.ring.Load().points))-2*pointsPerTarget) > 0 {
		t.Errorf("points = %d, want %d", len(b.ring.Load().points), 2*pointsPerTarget)
	}
}
