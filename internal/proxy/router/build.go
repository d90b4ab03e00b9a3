package router

import (
	"cmp"
	"fmt"
	"math"
	"net/textproto"
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

// protoMask is a set of route protocols.
type protoMask uint8

const (
	protoHTTP protoMask = 1 << iota
	protoHTTPS
	protoGRPC
	protoGRPCS
	protoWS
	protoWSS
)

var protoBits = map[string]protoMask{
	"http": protoHTTP, "https": protoHTTPS,
	"grpc": protoGRPC, "grpcs": protoGRPCS,
	"ws": protoWS, "wss": protoWSS,
}

// methodBit numbers the common methods so that a route's methods are one
// mask test; other methods fall back to a string compare.
func methodBit(m string) uint16 {
	switch m {
	case "GET":
		return 1 << 0
	case "HEAD":
		return 1 << 1
	case "POST":
		return 1 << 2
	case "PUT":
		return 1 << 3
	case "DELETE":
		return 1 << 4
	case "PATCH":
		return 1 << 5
	case "OPTIONS":
		return 1 << 6
	case "TRACE":
		return 1 << 7
	case "CONNECT":
		return 1 << 8
	}
	return 0
}

// candidate is one route with one of its paths (or with none when it has
// no paths): Kong splits a route with several paths so that each competes
// with its own priority.
type candidate struct {
	// The fields Match reads for the usual candidate come first, within
	// one cache line.
	protos     protoMask
	anyMethod  bool // the route has no methods
	hasPath    bool
	hasHeaders bool
	methodMask uint16         // the route's common methods (methodBit)
	re         *regexp.Regexp // the regex path, anchored at the start
	route      *Route
	// prefix is the normalised plain path, or the literal text every match
	// of the regex starts with.
	prefix       string
	snis         []hostPattern // nil: any
	headers      []headerMatcher
	otherMethods []string // the route's methods without a bit
}

type headerMatcher struct {
	name    string   // canonical header name
	values  []string // ASCII lower-case
	regexes []*regexp.Regexp
}

// Results of candidate.check.
const (
	checkFail = iota
	checkMatch
	checkRedirect
)

// check tests everything the index did not already establish: protocol,
// method, SNI, headers and, for a regex path, the regex itself. Host and
// plain prefix are implied by where the entry was found.
func (c *candidate) check(x *matchState) int {
	result := checkMatch
	if x.req.TLS {
		if c.protos&x.secure == 0 {
			return checkFail
		}
	} else if c.protos&x.plain == 0 {
		if c.protos&x.secure == 0 {
			return checkFail
		}
		result = checkRedirect
	}
	if !c.anyMethod && !c.hasMethod(x) {
		return checkFail
	}
	// Kong checks SNIs only on TLS requests: over plain HTTP there is no
	// server name, and an https route with snis would otherwise never get
	// the chance to redirect.
	if c.snis != nil && x.req.TLS && !matchSNI(c.snis, x.req.SNI) {
		return checkFail
	}
	if c.hasHeaders {
		for i := range c.headers {
			if !c.headers[i].match(x.req.Header) {
				return checkFail
			}
		}
	}
	if c.re != nil && !c.re.MatchString(x.path) {
		return checkFail
	}
	return result
}

func (c *candidate) hasMethod(x *matchState) bool {
	if x.methodBit != 0 {
		return c.methodMask&x.methodBit != 0
	}
	for _, m := range c.otherMethods {
		if m == x.req.Method {
			return true
		}
	}
	return false
}

func matchSNI(snis []hostPattern, sni string) bool {
	for i := range snis {
		if snis[i].matchName(sni) {
			return true
		}
	}
	return false
}

func (h *headerMatcher) match(hdr Headers) bool {
	if hdr == nil {
		return false
	}
	for _, v := range hdr.Values(h.name) {
		for _, want := range h.values {
			if asciiEqualFold(v, want) {
				return true
			}
		}
		for _, re := range h.regexes {
			if re.MatchString(v) {
				return true
			}
		}
	}
	return false
}

// priority is the sort key of a candidate, Kong's traditional_compatible
// order from most to least significant.
type priority struct {
	weight    int  // how many of methods, hosts, headers, paths, snis are set
	plainHost bool // hosts are set and none is a wildcard
	headers   int  // how many header names
	regex     bool // the path is a regex
	regexPrio int  // regex_priority, for regex paths only
	length    int  // the length of the plain path as configured
	id        string
	route     int // the route's position in New's input
	path      int // the path's position in the route
}

// before reports whether a goes before b: higher weight, plain hosts,
// more headers, regex paths (by higher regex_priority), longer plain paths,
// then ascending id.
func (a *priority) before(b *priority) bool {
	if a.weight != b.weight {
		return a.weight > b.weight
	}
	if a.plainHost != b.plainHost {
		return a.plainHost
	}
	if a.headers != b.headers {
		return a.headers > b.headers
	}
	if a.regex != b.regex {
		return a.regex
	}
	if a.regexPrio != b.regexPrio {
		return a.regexPrio > b.regexPrio
	}
	if a.length != b.length {
		return a.length > b.length
	}
	if c := cmp.Compare(a.id, b.id); c != 0 {
		return c < 0
	}
	if a.route != b.route {
		return a.route < b.route
	}
	return a.path < b.path
}

// maxHeaderCount caps the header count in the priority, as Kong does.
const maxHeaderCount = 255

// New compiles routes into a Router. Candidates are ordered, most
// important first, by: (1) how many of methods, hosts, headers, paths and
// snis the route sets; (2) routes whose hosts are all plain (no wildcard)
// before the others, including routes without hosts; (3) more header
// names; (4) regex paths before plain ones, regexes by regex_priority
// (higher first) and plain paths by length (longer first); (5) route id,
// ascending. A route with several paths competes once per path.
//
// The error names the route and what is wrong with it: a regex that does
// not compile, a path that is neither "/..." nor "~/...", a bad host, SNI
// or header, or a route with nothing to match on. Routes whose protocols
// are all stream protocols are skipped without error.
func New(routes []Route) (*Router, error) {
	routes = slices.Clone(routes) // candidates point into this copy
	r := &Router{}
	type pending struct {
		key   priority
		cand  candidate
		hosts []hostPattern
	}
	n := 0
	for i := range routes {
		n += max(1, len(routes[i].Paths))
	}
	ps := make([]pending, 0, n)
	for i := range routes {
		rt := &routes[i]
		base, hosts, err := compileRoute(rt)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", describe(rt, i), err)
		}
		if base.protos == 0 {
			continue
		}
		key := priority{id: rt.ID, route: i, headers: min(len(base.headers), maxHeaderCount)}
		for _, n := range []int{len(rt.Methods), len(rt.Hosts), len(rt.Headers), len(rt.Paths), len(rt.SNIs)} {
			if n > 0 {
				key.weight++
			}
		}
		key.plainHost = len(hosts) > 0
		for _, h := range hosts {
			if h.kind != hostExact {
				key.plainHost = false
			}
		}
		if len(rt.Paths) == 0 {
			ps = append(ps, pending{key: key, cand: base, hosts: hosts})
			continue
		}
		for j, p := range rt.Paths {
			c := base
			k := key
			k.path = j
			if err := compilePath(&c, &k, p); err != nil {
				return nil, fmt.Errorf("route %s: path %q: %w", describe(rt, i), p, err)
			}
			ps = append(ps, pending{key: k, cand: c, hosts: hosts})
		}
	}
	if len(ps) >= noMatch {
		return nil, fmt.Errorf("too many route paths: %d", len(ps))
	}
	order := make([]int, len(ps))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return ps[order[a]].key.before(&ps[order[b]].key) })

	r.cands = make([]candidate, len(ps))
	for rank, i := range order {
		r.cands[rank] = ps[i].cand
	}
	var ix indexer
	for rank, i := range order {
		ix.add(&r.cands[rank], ps[i].hosts, int32(rank))
	}
	if err := ix.write(r); err != nil {
		return nil, err
	}
	return r, nil
}

// describe names a route in an error.
func describe(rt *Route, i int) string {
	switch {
	case rt.Name != "" && rt.ID != "":
		return fmt.Sprintf("%q (id %s)", rt.Name, rt.ID)
	case rt.Name != "":
		return fmt.Sprintf("%q", rt.Name)
	case rt.ID != "":
		return "id " + rt.ID
	}
	return fmt.Sprintf("#%d", i)
}

// compileRoute fills in the route's defaults and compiles the fields all
// its candidates share. A zero protos means the route is not an HTTP one.
func compileRoute(rt *Route) (candidate, []hostPattern, error) {
	if len(rt.Protocols) == 0 {
		rt.Protocols = []string{"http", "https"}
	}
	if rt.PathHandling == "" {
		rt.PathHandling = "v0"
	}
	if rt.HTTPSRedirectStatusCode == 0 {
		rt.HTTPSRedirectStatusCode = 426
	}
	c := candidate{route: rt}
	for _, p := range rt.Protocols {
		c.protos |= protoBits[p]
	}
	if c.protos == 0 {
		return c, nil, nil
	}
	if rt.PathHandling != "v0" && rt.PathHandling != "v1" {
		return c, nil, fmt.Errorf("path_handling %q: must be v0 or v1", rt.PathHandling)
	}
	if len(rt.Methods)+len(rt.Hosts)+len(rt.Headers)+len(rt.Paths)+len(rt.SNIs) == 0 {
		return c, nil, fmt.Errorf("no methods, hosts, headers, paths or snis to match on")
	}

	c.anyMethod = len(rt.Methods) == 0
	for _, m := range rt.Methods {
		if b := methodBit(m); b != 0 {
			c.methodMask |= b
		} else {
			c.otherMethods = append(c.otherMethods, m)
		}
	}

	var hosts []hostPattern
	for _, h := range rt.Hosts {
		p, err := parseHostPattern(h, true)
		if err != nil {
			return c, nil, fmt.Errorf("hosts: %w", err)
		}
		hosts = append(hosts, p)
	}

	for _, s := range rt.SNIs {
		if len(s) > 1 && strings.HasSuffix(s, ".") {
			s = s[:len(s)-1] // the last dot of an FQDN is not used for routing
		}
		p, err := parseHostPattern(s, false)
		if err != nil {
			return c, nil, fmt.Errorf("snis: %w", err)
		}
		c.snis = append(c.snis, p)
	}

	names := make([]string, 0, len(rt.Headers))
	for name := range rt.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		values := rt.Headers[name]
		if len(values) == 0 {
			return c, nil, fmt.Errorf("header %q has no values", name)
		}
		// Kong looks headers up with dashes and underscores alike.
		h := headerMatcher{name: textproto.CanonicalMIMEHeaderKey(strings.ReplaceAll(name, "_", "-"))}
		for _, v := range values {
			if pattern, ok := strings.CutPrefix(v, "~*"); ok {
				re, err := regexp.Compile("(?i)" + pattern)
				if err != nil {
					return c, nil, fmt.Errorf("header %q: invalid regex %q: %w", name, pattern, err)
				}
				h.regexes = append(h.regexes, re)
				continue
			}
			h.values = append(h.values, asciiLower(v))
		}
		c.headers = append(c.headers, h)
	}
	c.hasHeaders = len(c.headers) > 0
	return c, hosts, nil
}

// compilePath sets the candidate's path and its part of the priority.
func compilePath(c *candidate, k *priority, p string) error {
	c.hasPath = true
	if pattern, ok := strings.CutPrefix(p, "~"); ok {
		if !strings.HasPrefix(pattern, "/") {
			return fmt.Errorf("a regex path must start with ~/")
		}
		// Compiling the pattern alone first proves its parentheses
		// balance, so wrapping it cannot change its meaning.
		if _, err := regexp.Compile(pattern); err != nil {
			return fmt.Errorf("invalid regex: %w", err)
		}
		re, err := regexp.Compile("^(?:" + pattern + ")")
		if err != nil {
			return fmt.Errorf("invalid regex: %w", err)
		}
		tree, err := syntax.Parse(pattern, syntax.Perl)
		if err != nil {
			return fmt.Errorf("invalid regex: %w", err)
		}
		c.re = re
		c.prefix = literalPrefix(tree)
		k.regex = true
		k.regexPrio = c.route.RegexPriority
		return nil
	}
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("must start with / (plain) or ~/ (regex)")
	}
	norm, ok := NormalizePath(p)
	if !ok {
		return fmt.Errorf("invalid path: bad percent-encoding or '..' above the root")
	}
	c.prefix = norm
	k.length = len(p)
	return nil
}

// literalPrefix returns the text every match of the parsed regex starts
// with, so that the regex can wait in the path tree until a request path
// has that prefix. It stops at the first part that is not a plain
// case-sensitive literal.
func literalPrefix(re *syntax.Regexp) string {
	var b strings.Builder
	appendLiteral(&b, re)
	s := b.String()
	// An invalid byte in a path matches U+FFFD in a regex but is not the
	// UTF-8 encoding of it: stop before one.
	if i := strings.IndexRune(s, utf8.RuneError); i >= 0 {
		s = s[:i]
	}
	return s
}

// appendLiteral appends re's literal prefix to b and reports whether re
// matches exactly that text, so that what follows re may extend it.
func appendLiteral(b *strings.Builder, re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return false
		}
		for _, r := range re.Rune {
			b.WriteRune(r)
		}
		return true
	case syntax.OpCapture:
		return appendLiteral(b, re.Sub[0])
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !appendLiteral(b, sub) {
				return false
			}
		}
		return true
	case syntax.OpEmptyMatch:
		return true
	}
	return false
}

// indexer files candidates under their host keys and path prefixes
// before New writes the result into the Router's program.
type indexer struct {
	tables  [3]map[string]*buildGroup // by kind: hostExact, hostSuffix, hostPrefix
	anyHost *buildGroup
	groups  []*buildGroup // in creation order, for a stable layout
}

// add files the candidate under each of its host entries (or under no
// host) and, within the host, under its path prefix. It must be called in
// rank order so that every list stays sorted.
func (ix *indexer) add(c *candidate, hosts []hostPattern, rank int32) {
	if len(hosts) == 0 {
		if ix.anyHost == nil {
			ix.anyHost = ix.newGroup(anyHostGroup, "", rank)
		}
		ix.anyHost.add(c, entry{rank: rank})
		return
	}
	for _, h := range hosts {
		m := ix.tables[h.kind]
		if m == nil {
			m = map[string]*buildGroup{}
			ix.tables[h.kind] = m
		}
		g := m[h.name]
		if g == nil {
			g = ix.newGroup(h.kind, h.name, rank)
			m[h.name] = g
		}
		g.add(c, entry{rank: rank, port: int32(h.port)})
	}
}

func (ix *indexer) newGroup(kind int, key string, rank int32) *buildGroup {
	g := &buildGroup{kind: kind, key: key, minRank: rank}
	ix.groups = append(ix.groups, g)
	return g
}

func (g *buildGroup) add(c *candidate, e entry) {
	if c.hasPath {
		g.paths.insert(c.prefix, e)
	} else {
		g.noPath = append(g.noPath, e)
	}
}

// write lays the groups out in r's program and builds r's host tables.
func (ix *indexer) write(r *Router) error {
	var w programWriter
	var offsets [3][]int
	r.anyHost = -1
	for _, g := range ix.groups {
		off := w.group(g)
		if g.kind == anyHostGroup {
			r.anyHost = off
			continue
		}
		offsets[g.kind] = append(offsets[g.kind], off)
	}
	if len(w.buf) > math.MaxUint32 {
		return errTooLarge
	}
	r.prog = string(w.buf)
	r.exact = newHostTable(r.prog, offsets[hostExact])
	r.suffix = newHostTable(r.prog, offsets[hostSuffix])
	r.prefix = newHostTable(r.prog, offsets[hostPrefix])
	return nil
}

// asciiLower lower-cases ASCII letters only, as Lua's string.lower does.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
