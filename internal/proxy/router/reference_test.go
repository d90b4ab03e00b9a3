package router

import (
	"cmp"
	"maps"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// This file holds a slow reference matcher: it expands every route into
// its candidates, sorts them all by priority and tries them one by one,
// checking each field directly. The fast router must agree with it on
// every request; that is the guard for the host and path indexes.

// refResult is what the reference matcher decides.
type refResult struct {
	ok       bool
	index    int // Route.Index of the winner
	prefix   string
	captures map[string]string
	redirect bool
	path     string
}

type refCand struct {
	route *Route
	pos   int    // position in the input
	path  string // "" for a route without paths
	pi    int
}

func refHTTPProtocols(rt *Route) map[string]bool {
	ps := rt.Protocols
	if len(ps) == 0 {
		ps = []string{"http", "https"}
	}
	set := map[string]bool{}
	for _, p := range ps {
		switch p {
		case "http", "https", "grpc", "grpcs", "ws", "wss":
			set[p] = true
		}
	}
	return set
}

// refKey is the candidate's priority as a tuple compared left to right,
// every component "higher first" except id, position and path index.
func refCompare(a, b refCand) int {
	score := func(c refCand) []int {
		rt := c.route
		weight := 0
		for _, n := range []int{len(rt.Methods), len(rt.Hosts), len(rt.Headers), len(rt.Paths), len(rt.SNIs)} {
			if n > 0 {
				weight++
			}
		}
		plain := 0
		if len(rt.Hosts) > 0 && !slices.ContainsFunc(rt.Hosts, func(h string) bool { return strings.Contains(h, "*") }) {
			plain = 1
		}
		regex, prio, length := 0, 0, 0
		if strings.HasPrefix(c.path, "~") {
			regex, prio = 1, rt.RegexPriority
		} else {
			length = len(c.path)
		}
		return []int{weight, plain, min(len(rt.Headers), 255), regex, prio, length}
	}
	if c := slices.Compare(score(b), score(a)); c != 0 {
		return c
	}
	return cmp.Or(strings.Compare(a.route.ID, b.route.ID), cmp.Compare(a.pos, b.pos), cmp.Compare(a.pi, b.pi))
}

// refHostPort splits a Host value the simple way the generated requests
// allow: "name" or "name:port".
func refHostPort(h string, def int) (string, int) {
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		p, _ := strconv.Atoi(h[i+1:])
		return h[:i], p
	}
	return h, def
}

func refNameMatch(pattern, name string) bool {
	pattern, name = strings.ToLower(pattern), strings.ToLower(name)
	switch {
	case strings.HasPrefix(pattern, "*."):
		return strings.HasSuffix(name, pattern[1:])
	case strings.HasSuffix(pattern, ".*"):
		return strings.HasPrefix(name, pattern[:len(pattern)-1])
	}
	return pattern == name
}

func refMatch(routes []Route, req *Request) refResult {
	path, ok := NormalizePath(req.Path)
	if !ok {
		return refResult{}
	}
	var cands []refCand
	for i := range routes {
		rt := &routes[i]
		if len(refHTTPProtocols(rt)) == 0 {
			continue
		}
		if len(rt.Paths) == 0 {
			cands = append(cands, refCand{route: rt, pos: i})
		}
		for j, p := range rt.Paths {
			cands = append(cands, refCand{route: rt, pos: i, path: p, pi: j})
		}
	}
	slices.SortStableFunc(cands, refCompare)

	reqName, reqPort := refHostPort(req.Host, req.Port)
	plainNames := []string{"http"}
	tlsNames := []string{"https"}
	if req.GRPC {
		plainNames, tlsNames = append(plainNames, "grpc"), append(tlsNames, "grpcs")
	}
	if req.WebSocket {
		plainNames, tlsNames = append(plainNames, "ws"), append(tlsNames, "wss")
	}
	accepts := func(set map[string]bool, names []string) bool {
		return slices.ContainsFunc(names, func(n string) bool { return set[n] })
	}

	for _, c := range cands {
		rt := c.route
		protos := refHTTPProtocols(rt)
		redirect := false
		if req.TLS {
			if !accepts(protos, tlsNames) {
				continue
			}
		} else if !accepts(protos, plainNames) {
			if !accepts(protos, tlsNames) {
				continue
			}
			redirect = true
		}
		if len(rt.Methods) > 0 && !slices.Contains(rt.Methods, req.Method) {
			continue
		}
		if len(rt.Hosts) > 0 && !slices.ContainsFunc(rt.Hosts, func(h string) bool {
			name, port := refHostPort(h, 0)
			return (port == 0 || port == reqPort) && reqName != "" && refNameMatch(name, reqName)
		}) {
			continue
		}
		if req.TLS && len(rt.SNIs) > 0 && !slices.ContainsFunc(rt.SNIs, func(s string) bool {
			if len(s) > 1 {
				s = strings.TrimSuffix(s, ".")
			}
			return refNameMatch(s, req.SNI)
		}) {
			continue
		}
		headersOK := true
		for name, want := range rt.Headers {
			got := req.Header.Values(strings.ReplaceAll(name, "_", "-"))
			if !slices.ContainsFunc(got, func(v string) bool {
				return slices.ContainsFunc(want, func(w string) bool {
					if p, ok := strings.CutPrefix(w, "~*"); ok {
						return regexp.MustCompile("(?i)" + p).MatchString(v)
					}
					return strings.EqualFold(v, w)
				})
			}) {
				headersOK = false
			}
		}
		if !headersOK {
			continue
		}
		res := refResult{ok: true, index: rt.Index, redirect: redirect, path: path}
		switch {
		case strings.HasPrefix(c.path, "~"):
			re := regexp.MustCompile("^(?:" + c.path[1:] + ")")
			loc := re.FindStringSubmatchIndex(path)
			if loc == nil {
				continue
			}
			res.prefix = path[:loc[1]]
			for i, name := range re.SubexpNames() {
				if i == 0 || loc[2*i] < 0 {
					continue
				}
				if res.captures == nil {
					res.captures = map[string]string{"0": path[:loc[1]]}
				}
				res.captures[strconv.Itoa(i)] = path[loc[2*i]:loc[2*i+1]]
				if name != "" {
					res.captures[name] = path[loc[2*i]:loc[2*i+1]]
				}
			}
		case c.path != "":
			norm, _ := NormalizePath(c.path)
			if !strings.HasPrefix(path, norm) {
				continue
			}
			res.prefix = norm
		}
		return res
	}
	return refResult{}
}

// byteStream turns fuzz input into choices; once the input runs out every
// choice is 0.
type byteStream struct{ b []byte }

func (s *byteStream) pick(n int) int {
	if len(s.b) == 0 || n <= 1 {
		return 0
	}
	v := int(s.b[0]) % n
	s.b = s.b[1:]
	return v
}

func pickOne[T any](s *byteStream, xs []T) T { return xs[s.pick(len(xs))] }

func pickSome[T any](s *byteStream, xs []T, most int) []T {
	n := s.pick(most + 1)
	var out []T
	for range n {
		out = append(out, pickOne(s, xs))
	}
	return out
}

// The generators' vocabularies are small so that routes and requests
// collide often: shared hosts and prefixes, equal ids, equal priorities.
var (
	genIDs       = []string{"a", "b", "c", "d"}
	genProtocols = [][]string{nil, {"http"}, {"https"}, {"http", "https"}, {"grpc"}, {"grpcs"}, {"grpc", "grpcs"}, {"ws"}, {"ws", "wss"}, {"tcp"}}
	genMethods   = []string{"GET", "POST", "PURGE"}
	genHosts     = []string{"a.test", "A.test:8080", "*.a.test", "a.*", "b.a.test", "*.test:80", "x.y.a.test", "*.y.a.test", "a.b.*"}
	genPaths     = []string{"/", "/a", "/ab", "/a/b", "/a/", "/%7Eu", "/~u/x", "/A", "/a%2fb",
		"~/a", "~/a/(?<n>[a-z]+)", "~/a(b)?", "~/(?i)AB", "~/[ab]+$", "~/a|/b", "~/x", "~/~u", "~/(a)/(b)?", "~/ab/a.c"}
	genHeaderNames  = []string{"x-a", "X-B", "x_c"}
	genHeaderValues = []string{"1", "Two", "~*^t", "~*o$"}
	genSNIs         = []string{"a.test", "*.a.test", "a.test.", "a.*"}

	genReqMethods = []string{"GET", "POST", "PURGE", "get"}
	genReqHosts   = []string{"a.test", "A.TEST:8080", "b.a.test", "x.y.a.test:80", "a.com", "", "a.test:81", "q.test", "a.b.c"}
	genReqPorts   = []int{80, 8080, 443}
	genReqPaths   = []string{"/", "/a", "/ab", "/a/b", "/a//b", "/a/./b/../b", "/A", "/%7eu/x", "/~u", "/b", "/x/y",
		"/a/b/c", "/ab/abc", "/%2e%2e", "/a%2fb", "/a%2Fb/c", "/ab/a%2fc", "/AB", "/a/bb"}
	genReqSNIs    = []string{"", "a.test", "b.a.test", "A.TEST", "a.org"}
	genReqHeaders = [][2]string{{"X-A", "1"}, {"X-A", "2"}, {"X-B", "two"}, {"X-B", "x"}, {"X-C", "t1"}, {"X-C", "Two"}}
)

func genRoutes(s *byteStream) []Route {
	return genRoutesN(s, 8, genPaths)
}

// genRoutesN makes 1 to most routes whose paths come from paths.
func genRoutesN(s *byteStream, most int, paths []string) []Route {
	n := 1 + s.pick(most)
	routes := make([]Route, n)
	for i := range routes {
		rt := Route{
			ID:            pickOne(s, genIDs),
			Index:         i,
			Protocols:     pickOne(s, genProtocols),
			Methods:       pickSome(s, genMethods, 2),
			Hosts:         pickSome(s, genHosts, 2),
			Paths:         pickSome(s, paths, 3),
			SNIs:          pickSome(s, genSNIs, 1),
			RegexPriority: s.pick(3) - 1,
		}
		for range s.pick(3) {
			if rt.Headers == nil {
				rt.Headers = map[string][]string{}
			}
			rt.Headers[pickOne(s, genHeaderNames)] = append(pickSome(s, genHeaderValues, 1), pickOne(s, genHeaderValues))
		}
		if len(rt.Methods)+len(rt.Hosts)+len(rt.Paths)+len(rt.SNIs)+len(rt.Headers) == 0 {
			rt.Paths = []string{"/"}
		}
		routes[i] = rt
	}
	return routes
}

func genRequest(s *byteStream) *Request {
	req := &Request{
		TLS:       s.pick(2) == 1,
		GRPC:      s.pick(4) == 0,
		WebSocket: s.pick(4) == 0,
		Method:    pickOne(s, genReqMethods),
		Host:      pickOne(s, genReqHosts),
		Port:      pickOne(s, genReqPorts),
		Path:      pickOne(s, genReqPaths),
	}
	if req.TLS {
		req.SNI = pickOne(s, genReqSNIs)
	}
	h := http.Header{}
	for _, kv := range pickSome(s, genReqHeaders, 3) {
		h.Add(kv[0], kv[1])
	}
	req.Header = h
	return req
}

// checkAgainstReference builds a router from the input's routes and checks
// a few of its requests against the reference matcher.
func checkAgainstReference(t *testing.T, data []byte) {
	s := &byteStream{b: data}
	routes := genRoutes(s)
	rt, err := New(routes)
	if err != nil {
		t.Fatalf("New(%+v): %v", routes, err)
	}
	var m Match
	for range 4 {
		req := genRequest(s)
		want := refMatch(routes, req)
		ok := rt.Match(req, &m)
		got := refResult{ok: ok}
		if ok {
			got = refResult{ok: true, index: m.Route.Index, prefix: m.Prefix, captures: m.Captures, redirect: m.Redirect, path: m.Path}
		}
		if got.ok != want.ok || got.index != want.index || got.prefix != want.prefix || got.redirect != want.redirect ||
			got.path != want.path || !maps.Equal(got.captures, want.captures) || (got.captures == nil) != (want.captures == nil) {
			t.Fatalf("request %+v\nroutes %+v\nrouter:    %+v\nreference: %+v", *req, routes, got, want)
		}
	}
}

// TestMatchAgainstReferenceDeep uses many routes with deeply nested
// prefixes, so that one request reaches more candidate lists than a group
// gathers before it scans.
func TestMatchAgainstReferenceDeep(t *testing.T) {
	var paths []string
	for i := 1; i <= 24; i++ {
		p := strings.Repeat("/a", i)
		paths = append(paths, p, p+"/", "~"+p+"$", "~"+p+"(/a)?")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, 2048)
	for range 200 {
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		s := &byteStream{b: data}
		routes := genRoutesN(s, 200, paths)
		rt, err := New(routes)
		if err != nil {
			t.Fatal(err)
		}
		for range 20 {
			req := genRequest(s)
			req.Path = strings.Repeat("/a", 1+rng.IntN(26))
			want := refMatch(routes, req)
			var m Match
			ok := rt.Match(req, &m)
			if ok != want.ok || ok && (m.Route.Index != want.index || m.Prefix != want.prefix || m.Redirect != want.redirect) {
				t.Fatalf("request %+v: router %v %+v; reference %+v", *req, ok, m, want)
			}
		}
	}
}

func FuzzMatch(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("routes and requests"))
	f.Add([]byte{3, 0, 1, 0, 0, 2, 1, 9, 1, 10, 0, 0, 1, 2, 0, 1, 0, 1, 4, 2, 0, 1, 3})
	f.Fuzz(checkAgainstReference)
}

// TestMatchAgainstReference runs the fuzz check on many random inputs, so
// that a plain `go test` exercises the indexes too.
func TestMatchAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	data := make([]byte, 96)
	for range n {
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		checkAgainstReference(t, data)
	}
}
