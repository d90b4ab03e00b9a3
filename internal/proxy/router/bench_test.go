package router

import (
	"fmt"
	"testing"
)

// benchRoutes100k is a large, realistic mix: 60,000 routes on 6,000 plain
// hosts with 10 path prefixes each, 10,000 on wildcard hosts, and 30,000
// path-only routes with distinct prefixes.
func benchRoutes100k() []Route {
	routes := make([]Route, 0, 100_000)
	add := func(r Route) {
		r.ID = fmt.Sprintf("%08d-0000-4000-8000-000000000000", len(routes))
		r.Index = len(routes)
		routes = append(routes, r)
	}
	for i := range 60_000 {
		add(Route{
			Hosts: []string{fmt.Sprintf("svc%d.example.com", i/10)},
			Paths: []string{fmt.Sprintf("/api/v%d/resource%d", i%10, i%3)},
		})
	}
	for i := range 10_000 {
		add(Route{
			Hosts:   []string{fmt.Sprintf("*.tenant%d.example.org", i/5)},
			Paths:   []string{fmt.Sprintf("/app%d", i%5)},
			Methods: []string{"GET", "POST"},
		})
	}
	for i := range 30_000 {
		add(Route{Paths: []string{fmt.Sprintf("/p%d/items", i)}})
	}
	return routes
}

func benchRequests100k() []Request {
	reqs := make([]Request, 0, 1024)
	for i := range 1024 {
		var r Request
		switch i % 3 {
		case 0:
			n := i * 59 % 60_000
			r = Request{Host: fmt.Sprintf("svc%d.example.com", n/10), Path: fmt.Sprintf("/api/v%d/resource%d/42", n%10, n%3)}
		case 1:
			n := i * 7 % 10_000
			r = Request{Host: fmt.Sprintf("eu.tenant%d.example.org:8443", n/5), Path: fmt.Sprintf("/app%d/home", n%5)}
		default:
			r = Request{Host: "unknown.example.net", Path: fmt.Sprintf("/p%d/items/7", i*29%30_000)}
		}
		r.Method, r.Port = "GET", 80
		reqs = append(reqs, r)
	}
	return reqs
}

func BenchmarkMatch100k(b *testing.B) {
	rt, err := New(benchRoutes100k())
	if err != nil {
		b.Fatal(err)
	}
	reqs := benchRequests100k()
	var m Match
	for i := range reqs {
		if !rt.Match(&reqs[i], &m) {
			b.Fatalf("%+v: no match", reqs[i])
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rt.Match(&reqs[i&1023], &m)
	}
}

func BenchmarkMatch1(b *testing.B) {
	rt, err := New([]Route{{ID: "a", Hosts: []string{"api.example.com"}, Paths: []string{"/v1"}}})
	if err != nil {
		b.Fatal(err)
	}
	req := Request{Method: "GET", Host: "api.example.com", Port: 80, Path: "/v1/users/42"}
	var m Match
	if !rt.Match(&req, &m) {
		b.Fatal("no match")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rt.Match(&req, &m)
	}
}

// BenchmarkMatchRegex matches among 10,000 regex routes; each waits in the
// path tree under its literal prefix, so only the right one is run. The
// allocations are the capture map and the regexp's match indexes.
func BenchmarkMatchRegex(b *testing.B) {
	routes := make([]Route, 0, 10_000)
	for i := range 10_000 {
		routes = append(routes, Route{ID: fmt.Sprint(i), Paths: []string{fmt.Sprintf(`~/svc%d/items/(?<id>\d+)$`, i)}})
	}
	rt, err := New(routes)
	if err != nil {
		b.Fatal(err)
	}
	req := Request{Method: "GET", Host: "api.example.com", Port: 80, Path: "/svc4321/items/42"}
	var m Match
	if !rt.Match(&req, &m) || m.Captures["id"] != "42" {
		b.Fatalf("match: %+v", m)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rt.Match(&req, &m)
	}
}

// BenchmarkMatchRegexNoPrefix is the worst case: 100 regex routes without
// a literal prefix (case-insensitive), all tried in priority order before
// the last one matches.
func BenchmarkMatchRegexNoPrefix(b *testing.B) {
	routes := make([]Route, 0, 100)
	for i := range 100 {
		routes = append(routes, Route{ID: fmt.Sprintf("%03d", i), Paths: []string{fmt.Sprintf(`~/(?i)svc%d/items/\d+$`, i)}})
	}
	rt, err := New(routes)
	if err != nil {
		b.Fatal(err)
	}
	req := Request{Method: "GET", Host: "api.example.com", Port: 80, Path: "/svc99/items/42"}
	var m Match
	if !rt.Match(&req, &m) {
		b.Fatal("no match")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rt.Match(&req, &m)
	}
}

func BenchmarkBuild100k(b *testing.B) {
	routes := benchRoutes100k()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := New(routes); err != nil {
			b.Fatal(err)
		}
	}
}
