package balancer

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gantry-gw/gantry/internal/entity"
)

const upstreamID = "7a3c1c6e-9a5b-4f0e-8a52-0c3d5f1e2a10"

func validEntity(t *testing.T, s *entity.Schema, in map[string]any) entity.Entity {
	t.Helper()
	e, errs := s.Validate(in, entity.Options{})
	if errs != nil {
		t.Fatalf("%s: %v", s.Name, errs)
	}
	return e
}

func TestUpstreamFromEntities(t *testing.T) {
	up := validEntity(t, entity.Upstreams, map[string]any{
		"id": upstreamID, "name": "orders", "algorithm": "consistent-hashing",
		"hash_on": "header", "hash_on_header": "x-user", "hash_fallback": "ip",
		"slots": 500, "host_header": "orders.internal",
		"healthchecks": map[string]any{
			"active": map[string]any{
				"type": "https", "http_path": "/hc", "timeout": 2.5, "https_sni": "orders.example",
				"headers":   map[string]any{"x-probe": []any{"1", "2"}},
				"healthy":   map[string]any{"interval": 5, "successes": 3},
				"unhealthy": map[string]any{"interval": 0.5, "http_failures": 4, "http_statuses": []any{500, 502}},
			},
			"passive":   map[string]any{"unhealthy": map[string]any{"tcp_failures": 2}},
			"threshold": 25,
		},
	})
	targets := []entity.Entity{
		validEntity(t, entity.Targets, map[string]any{"upstream": map[string]any{"id": upstreamID}, "target": "api.test:9000", "weight": 50}),
		validEntity(t, entity.Targets, map[string]any{"upstream": map[string]any{"id": upstreamID}, "target": "10.0.0.1"}),
	}
	u, err := UpstreamFromEntities(up, targets)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultHealthchecks()
	want.Threshold = 25
	want.Active.Type, want.Active.HTTPPath, want.Active.Timeout, want.Active.HTTPSSNI = "https", "/hc", 2500*time.Millisecond, "orders.example"
	want.Active.Headers = map[string][]string{"x-probe": {"1", "2"}}
	want.Active.Healthy.Interval, want.Active.Healthy.Successes = 5*time.Second, 3
	want.Active.Unhealthy.Interval, want.Active.Unhealthy.HTTPFailures = 500*time.Millisecond, 4
	want.Active.Unhealthy.HTTPStatuses = []int{500, 502}
	want.Passive.Unhealthy.TCPFailures = 2
	if !reflect.DeepEqual(u.Healthchecks, want) {
		t.Errorf("healthchecks\n got %+v\nwant %+v", u.Healthchecks, want)
	}
	if u.ID != upstreamID || u.Name != "orders" || u.Algorithm != AlgorithmConsistentHashing || u.HashOn != HashHeader ||
		u.HashOnHeader != "x-user" || u.HashFallback != HashIP || u.Slots != 500 || u.HostHeader != "orders.internal" ||
		u.HashOnCookiePath != "/" {
		t.Errorf("upstream fields %+v", u)
	}
	wantTargets := []Target{{ID: targets[0].ID(), Target: "api.test:9000", Weight: 50}, {ID: targets[1].ID(), Target: "10.0.0.1:8000", Weight: 100}}
	if !reflect.DeepEqual(u.Targets, wantTargets) {
		t.Errorf("targets %+v, want %+v", u.Targets, wantTargets)
	}

	// The decoded upstream balances: the IP target on Kong's default port.
	b := newTestBalancer(t, u, Options{Resolver: newFakeResolver()})
	if p := mustPick(t, b, &HashInput{Header: func(string) string { return "alice" }}); p.Addr != "10.0.0.1:8000" || p.Host != "orders.internal" {
		t.Errorf("pick %+v", p)
	}
}

func TestUpstreamFromEntitiesRefuses(t *testing.T) {
	other := validEntity(t, entity.Targets, map[string]any{"upstream": map[string]any{"id": "0b7d3c44-8f7e-4d53-a5a8-3c6cb6a1c0b1"}, "target": "10.0.0.1:80"})
	up := validEntity(t, entity.Upstreams, map[string]any{"id": upstreamID, "name": "orders"})
	if _, err := UpstreamFromEntities(up, []entity.Entity{other}); err == nil || !strings.Contains(err.Error(), "belongs to upstream") {
		t.Errorf("foreign target: err = %v", err)
	}
	sticky := validEntity(t, entity.Upstreams, map[string]any{"name": "sticky", "algorithm": "sticky-sessions"})
	if _, err := UpstreamFromEntities(sticky, nil); err == nil || !strings.Contains(err.Error(), "sticky_sessions_cookie") {
		t.Errorf("sticky without cookie: err = %v", err)
	}
}

func TestDefaultHealthchecksAreKongs(t *testing.T) {
	want := Healthchecks{
		Active: ActiveHealthcheck{
			Type: "http", Timeout: time.Second, Concurrency: 10, HTTPPath: "/", HTTPSVerifyCertificate: true,
			Healthy:   HealthyRule{HTTPStatuses: []int{200, 302}},
			Unhealthy: UnhealthyRule{HTTPStatuses: []int{429, 404, 500, 501, 502, 503, 504, 505}},
		},
		Passive: PassiveHealthcheck{
			Healthy: HealthyRule{HTTPStatuses: []int{200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
				300, 301, 302, 303, 304, 305, 306, 307, 308}},
			Unhealthy: UnhealthyRule{HTTPStatuses: []int{429, 500, 503}},
		},
	}
	if got := DefaultHealthchecks(); !reflect.DeepEqual(got, want) {
		t.Errorf("DefaultHealthchecks()\n got %+v\nwant %+v", got, want)
	}
	if DefaultHealthchecks().Active.Enabled() {
		t.Error("active checks on by default")
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		up   Upstream
		want string // substring of the error; "" for none
	}{
		{"defaults", Upstream{Name: "x"}, ""},
		{"no name", Upstream{}, "no name"},
		{"unknown algorithm", Upstream{Name: "x", Algorithm: "random"}, "unknown algorithm"},
		{"slots", Upstream{Name: "x", Slots: 5}, "slots"},
		{"header without name", Upstream{Name: "x", HashOn: HashHeader}, "hash_on header needs"},
		{"fallback query without name", Upstream{Name: "x", HashOn: HashIP, HashFallback: HashQueryArg}, "hash_fallback query_arg needs"},
		{"bad port", Upstream{Name: "x", Targets: []Target{{Target: "a:99999", Weight: 1}}}, "invalid port"},
		{"bad target", Upstream{Name: "x", Targets: []Target{{Target: "a:b:c", Weight: 1}}}, "not host:port"},
		{"bad weight", Upstream{Name: "x", Targets: []Target{{Target: "a:1", Weight: 70000}}}, "weight"},
		{"bad check type", Upstream{Name: "x", Healthchecks: Healthchecks{Active: ActiveHealthcheck{Type: "udp"}}}, "check type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := c.up
			err := u.Validate()
			if (err == nil) != (c.want == "") || (err != nil && !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("Validate() = %v, want %q", err, c.want)
			}
		})
	}
	u := Upstream{Name: "x"}
	_ = u.Validate()
	if u.Algorithm != AlgorithmRoundRobin || u.Slots != 10000 || u.HashOn != HashNone || u.Healthchecks.Active.Timeout != time.Second {
		t.Errorf("defaults not filled: %+v", u)
	}
}

func TestSplitTarget(t *testing.T) {
	cases := map[string][2]string{
		"10.0.0.1:80":     {"10.0.0.1", "80"},
		"api.test":        {"api.test", "8000"},
		"[2001:db8::1]:8": {"2001:db8::1", "8"},
		"[2001:db8::1]":   {"2001:db8::1", "8000"},
		"2001:db8::1":     {"2001:db8::1", "8000"},
	}
	for in, want := range cases {
		host, port, err := splitTarget(in)
		if err != nil || host != want[0] || port != want[1] {
			t.Errorf("splitTarget(%q) = %q, %q, %v", in, host, port, err)
		}
	}
}
