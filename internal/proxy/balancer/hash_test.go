package balancer

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// mapKeys picks for every key (hash_on=ip) and returns key → address.
func mapKeys(t *testing.T, b *Balancer, keys int) map[string]string {
	t.Helper()
	out := make(map[string]string, keys)
	for i := range keys {
		k := fmt.Sprintf("client-%d", i)
		p := mustPick(t, b, &HashInput{ClientIP: k})
		out[k] = p.Addr
		p.Done(Outcome{Status: 200})
	}
	return out
}

func hashUpstream(targets []Target) Upstream {
	return Upstream{Name: "hashed", Algorithm: AlgorithmConsistentHashing, HashOn: HashIP,
		Healthchecks: passiveBreaker(1), Targets: targets}
}

func TestConsistentHashStable(t *testing.T) {
	u := hashUpstream(ipTargets(100, 100, 100, 100, 100))
	b := newTestBalancer(t, u, Options{})
	first := mapKeys(t, b, 2000)
	if again := mapKeys(t, b, 2000); fmt.Sprint(again) != fmt.Sprint(first) {
		t.Fatal("the same keys mapped differently on a second pass")
	}
	// Another balancer of the same config (another node, or a restart)
	// maps keys the same way, whatever the order targets are listed in.
	u.Targets = []Target{u.Targets[3], u.Targets[0], u.Targets[4], u.Targets[2], u.Targets[1]}
	u.Name = "hashed-again"
	other := newTestBalancer(t, u, Options{})
	if again := mapKeys(t, other, 2000); fmt.Sprint(again) != fmt.Sprint(first) {
		t.Fatal("a second balancer of the same targets maps keys differently")
	}
}

func TestConsistentHashDistribution(t *testing.T) {
	b := newTestBalancer(t, hashUpstream(ipTargets(100, 100, 200)), Options{})
	counts := map[string]int{}
	for _, addr := range mapKeys(t, b, 40000) {
		counts[addr]++
	}
	for addr, want := range map[string]float64{"10.0.0.1:80": 0.25, "10.0.0.2:80": 0.25, "10.0.0.3:80": 0.5} {
		if got := float64(counts[addr]) / 40000; got < want-0.06 || got > want+0.06 {
			t.Errorf("%s got %.3f of keys, want %.2f±0.06 (%v)", addr, got, want, counts)
		}
	}
}

func TestConsistentHashMinimalDisruption(t *testing.T) {
	targets := ipTargets(100, 100, 100, 100, 100)
	s1 := NewSet([]Upstream{hashUpstream(targets)}, nil, Options{})
	defer s1.Stop()
	before := mapKeys(t, s1.Get("hashed"), 10000)

	t.Run("remove a target", func(t *testing.T) {
		removed := targets[2].Target
		s2 := NewSet([]Upstream{hashUpstream(append(append([]Target{}, targets[:2]...), targets[3:]...))}, nil, Options{})
		defer s2.Stop()
		after := mapKeys(t, s2.Get("hashed"), 10000)
		moved := 0
		for k, addr := range before {
			switch {
			case addr == removed && after[k] == removed:
				t.Fatalf("key %s still maps to the removed target", k)
			case addr == removed:
				moved++
			case after[k] != addr:
				t.Fatalf("key %s moved from %s to %s though its target stayed", k, addr, after[k])
			}
		}
		if moved < 1000 || moved > 3000 {
			t.Errorf("the removed target held %d of 10000 keys, want about 2000", moved)
		}
	})

	t.Run("add a target", func(t *testing.T) {
		added := "10.0.0.9:80"
		s2 := NewSet([]Upstream{hashUpstream(append(append([]Target{}, targets...), Target{ID: "t9", Target: added, Weight: 100}))}, nil, Options{})
		defer s2.Stop()
		for k, addr := range mapKeys(t, s2.Get("hashed"), 10000) {
			if addr != before[k] && addr != added {
				t.Fatalf("key %s moved from %s to %s, not to the new target", k, before[k], addr)
			}
		}
	})

	t.Run("a target becomes unhealthy", func(t *testing.T) {
		b := s1.Get("hashed")
		down := targets[1].Target
		p := mustPick(t, b, nil, otherAddrs(1, 5)...)
		p.Done(Outcome{Status: 500})
		for k, addr := range mapKeys(t, b, 10000) {
			if addr == down {
				t.Fatalf("key %s still maps to the unhealthy %s", k, down)
			}
			if before[k] != down && addr != before[k] {
				t.Fatalf("key %s moved from %s to %s though its target is healthy", k, before[k], addr)
			}
		}
	})
}

func TestHashInputs(t *testing.T) {
	header := func(h map[string]string) func(string) string { return func(n string) string { return h[n] } }
	cookie := func(c map[string]string) func(string) (string, bool) {
		return func(n string) (string, bool) { v, ok := c[n]; return v, ok }
	}
	full := &HashInput{
		ConsumerID: "consumer-1", CredentialID: "cred-1", ClientIP: "192.0.2.7",
		Header:   header(map[string]string{"X-User": "alice", "X-Tenant": "acme"}),
		Cookie:   cookie(map[string]string{"session": "s-42"}),
		Path:     "/orders/7",
		Query:    header(map[string]string{"user": "bob", "region": "eu"}),
		Captures: map[string]string{"id": "7", "shard": "3"},
	}
	cases := []struct {
		name string
		up   Upstream
		in   *HashInput
		want string
	}{
		{"consumer", Upstream{HashOn: HashConsumer}, full, "consumer-1"},
		{"consumer falls back to credential", Upstream{HashOn: HashConsumer}, &HashInput{CredentialID: "cred-1"}, "cred-1"},
		{"ip", Upstream{HashOn: HashIP}, full, "192.0.2.7"},
		{"header", Upstream{HashOn: HashHeader, HashOnHeader: "X-User"}, full, "alice"},
		{"cookie", Upstream{HashOn: HashCookie, HashOnCookie: "session"}, full, "s-42"},
		{"path", Upstream{HashOn: HashPath}, full, "/orders/7"},
		{"query_arg", Upstream{HashOn: HashQueryArg, HashOnQueryArg: "user"}, full, "bob"},
		{"uri_capture", Upstream{HashOn: HashURICapture, HashOnURICapture: "id"}, full, "7"},
		{"none", Upstream{HashOn: HashNone}, full, ""},
		{"nil input", Upstream{HashOn: HashIP}, nil, ""},
		{"header missing, fallback ip", Upstream{HashOn: HashHeader, HashOnHeader: "X-Missing", HashFallback: HashIP}, full, "192.0.2.7"},
		{"header present, fallback unused", Upstream{HashOn: HashHeader, HashOnHeader: "X-User", HashFallback: HashIP}, full, "alice"},
		{"header fallback to another header", Upstream{HashOn: HashHeader, HashOnHeader: "X-Missing",
			HashFallback: HashHeader, HashFallbackHeader: "X-Tenant"}, full, "acme"},
		{"query fallback to another arg", Upstream{HashOn: HashQueryArg, HashOnQueryArg: "missing",
			HashFallback: HashQueryArg, HashFallbackQueryArg: "region"}, full, "eu"},
		{"capture fallback to another group", Upstream{HashOn: HashURICapture, HashOnURICapture: "missing",
			HashFallback: HashURICapture, HashFallbackURICapture: "shard"}, full, "3"},
		{"consumer missing, fallback path", Upstream{HashOn: HashConsumer, HashFallback: HashPath}, &HashInput{Path: "/p"}, "/p"},
		{"ip missing, fallback header", Upstream{HashOn: HashIP, HashFallback: HashHeader, HashFallbackHeader: "X-User"},
			&HashInput{Header: full.Header}, "alice"},
		{"both missing", Upstream{HashOn: HashIP, HashFallback: HashPath}, &HashInput{}, ""},
		{"nil functions", Upstream{HashOn: HashHeader, HashOnHeader: "X-User", HashFallback: HashQueryArg, HashFallbackQueryArg: "q"},
			&HashInput{}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := c.up
			u.Name, u.Algorithm = "h", AlgorithmConsistentHashing
			if err := u.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			h := newHashConfig(&u)
			var in *HashInput
			if c.in != nil {
				cp := *c.in
				in = &cp
			}
			if got, _ := h.key(in); got != c.want {
				t.Fatalf("key = %q, want %q", got, c.want)
			}
		})
	}
}

func TestHashKeyChoosesTarget(t *testing.T) {
	// Two upstreams over the same targets, hashing different inputs that
	// carry the same value, send the request to the same address.
	byHeader := hashUpstream(ipTargets(100, 100, 100))
	byHeader.Name, byHeader.HashOn, byHeader.HashOnHeader = "by-header", HashHeader, "X-Key"
	byIP := hashUpstream(ipTargets(100, 100, 100))
	s := newTestSet(t, Options{}, byHeader, byIP)
	for i := range 200 {
		v := fmt.Sprintf("value-%d", i)
		a := mustPick(t, s.Get("by-header"), &HashInput{Header: func(string) string { return v }})
		b := mustPick(t, s.Get("hashed"), &HashInput{ClientIP: v})
		if a.Addr != b.Addr {
			t.Fatalf("%s: header hashing chose %s, ip hashing %s", v, a.Addr, b.Addr)
		}
	}
}

func TestHashCookieCreated(t *testing.T) {
	u := hashUpstream(ipTargets(100, 100, 100))
	u.HashOn, u.HashOnCookie, u.HashOnCookiePath = HashCookie, "lb", "/shop"
	u.Healthchecks = DefaultHealthchecks() // the failed first try must not trip a breaker
	b := newTestBalancer(t, u, Options{})

	in := &HashInput{Cookie: func(string) (string, bool) { return "", false }}
	first := mustPick(t, b, in)
	re := regexp.MustCompile(`^lb=([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}); Path=/shop; SameSite=Lax; HttpOnly$`)
	m := re.FindStringSubmatch(first.SetCookie)
	if m == nil {
		t.Fatalf("SetCookie = %q", first.SetCookie)
	}
	first.Done(Outcome{Err: fmt.Errorf("refused")})
	// The retry of the same request hashes the same generated value (and
	// so lands on the ring after the first address) and sets the same
	// cookie.
	retry := mustPick(t, b, in, first.Addr)
	if retry.SetCookie != first.SetCookie {
		t.Fatalf("retry cookie %q, first %q", retry.SetCookie, first.SetCookie)
	}
	retry.Done(Outcome{Status: 200})
	// The client's next request carries the cookie: same address, no
	// new cookie.
	for range 10 {
		p := mustPick(t, b, &HashInput{Cookie: func(n string) (string, bool) { return m[1], n == "lb" }})
		if p.Addr != first.Addr || p.SetCookie != "" {
			t.Fatalf("with the cookie: %s (set %q), want %s", p.Addr, p.SetCookie, first.Addr)
		}
		p.Done(Outcome{Status: 200})
	}
	// Two clients without the cookie get different values.
	other := mustPick(t, b, &HashInput{})
	if other.SetCookie == first.SetCookie || !strings.HasPrefix(other.SetCookie, "lb=") {
		t.Errorf("second client's cookie %q", other.SetCookie)
	}
}
