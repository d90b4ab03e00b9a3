// Package router picks the route for a proxied HTTP request the way Kong
// Gateway's default router flavor, traditional_compatible, does, and joins
// the upstream path the way Kong's strip_path and path_handling do.
//
// Routes compete in a strict priority order (see New) and the first one
// whose every configured field matches the request wins. To keep matching
// cheap with many routes, New indexes the candidates by host (an exact
// table plus tables keyed by the fixed part of wildcard hosts) and, within
// a host, by path prefix in a radix tree; regex paths sit in the same tree
// under their literal prefix. A request only looks at the candidates its
// host and path can reach, in priority order, and stops at the first that
// matches. The index is flat and pointer-free (see index.go), so it costs
// the garbage collector nothing and a lookup few cache misses.
//
// Stream routes (tcp, tls, udp, tls_passthrough) are out of scope: the HTTP
// proxy never sees them.
//
// Where Gantry's contract departs from what Kong's traditional_compatible
// code does, on purpose:
//
//   - Protocols take part in matching: a route that cannot serve the
//     request's protocol is passed over for the next candidate, except
//     that an HTTPS-only route hit over plain HTTP is returned with
//     Redirect. Kong picks the best route whatever its protocols and then
//     answers the mismatch (426 or a redirect, 415 for a non-gRPC request on
//     a gRPC route), and it proxies HTTPS requests on http-only routes.
//   - A host entry with a port compares with the arrival port when the Host
//     header has none; Kong only compares with the Host header's port.
//   - Hosts and SNIs ignore ASCII case, and SNIs accept the same wildcards
//     as hosts; Kong's matching code compares both as received, SNIs
//     exactly.
//   - Equal priorities go to the lower route id; Kong's router goes to the
//     higher one, with ids derived per path for routes it splits.
//   - Every alternative of a regex path is anchored ("~/a|/b" is
//     "^(?:/a|/b)"), as in Kong's traditional router; Kong's compatible
//     flavor only anchors the first.
//   - path_handling v1 is honoured as Kong documents it; Kong's compatible
//     flavor joins every path the v0 way.
package router

import (
	"encoding/binary"
	"math"
	"math/bits"
	"regexp"
	"strconv"
	"strings"
)

// Route is one route's matching and path-handling fields, decoded by the
// caller from the route entity. New copies the Route values, so the caller
// may reuse the slice it passed; the slices and map inside them are shared
// and must not change afterwards.
type Route struct {
	// ID is the entity id. Candidates of equal priority are tried in
	// ascending ID order, so the choice between them is stable across
	// rebuilds whatever order the routes are listed in.
	ID   string
	Name string
	// Index is the caller's own index (the router never interprets it):
	// it lets the caller find its per-route state from a Match.
	Index int
	// Protocols are the protocols the route accepts: http, https, grpc,
	// grpcs, ws, wss. Other protocols are ignored, and a route left with
	// none of these is not routed. Empty means Kong's default, http and
	// https.
	Protocols []string
	// Methods are matched exactly; Kong's schema keeps them upper-case.
	Methods []string
	// Hosts are "example.com", "*.example.com", "example.*", each
	// optionally with ":port". Matching ignores ASCII case.
	Hosts []string
	// Paths are plain prefixes ("/prefix") or, with a leading "~", regular
	// expressions in Go's RE2 syntax anchored at the start of the path.
	Paths []string
	// Headers maps a header name to the values it accepts. A value that
	// starts with "~*" is a case-insensitive regex searched for in the
	// request's value; others compare equal ignoring ASCII case.
	Headers map[string][]string
	// SNIs are the TLS server names the route accepts, exact or with a
	// wildcard label like hosts. They are only checked on TLS requests.
	SNIs []string
	// RegexPriority orders routes whose matching path is a regex: higher
	// first.
	RegexPriority int
	// StripPath removes the matched path prefix before proxying.
	StripPath bool
	// PathHandling is "v0" (Kong's default, used when empty) or "v1"; see
	// Match.UpstreamPath.
	PathHandling string
	// PreserveHost sends the request's Host upstream; the router only
	// carries it for the caller.
	PreserveHost bool
	// HTTPSRedirectStatusCode is the status the caller answers when a
	// plain-HTTP request matched an HTTPS-only route (Match.Redirect). 0
	// means Kong's default, 426.
	HTTPSRedirectStatusCode int
}

// Request is what the router needs to know about an incoming request.
type Request struct {
	TLS       bool   // arrived over TLS (scheme https)
	GRPC      bool   // content-type application/grpc (protocol grpc/grpcs)
	WebSocket bool   // Upgrade: websocket (protocol ws/wss)
	Method    string // as received
	Host      string // Host header (or :authority) as received, may carry a port
	Port      int    // the port the request arrived on
	Path      string // the request path as received (percent-encoded, no query)
	SNI       string // TLS server name, "" without TLS
	// Header gives the request's header values; http.Header is one.
	// Nil means no headers.
	Header Headers
}

// Headers gives the router read access to a request's header fields. The
// router asks for names in the canonical form net/http gives them, and
// reads the slice returned before it asks again, so an implementation may
// reuse it.
type Headers interface {
	Values(name string) []string
}

// Match is the outcome of Router.Match. The caller owns it and may reuse
// it across calls: Match overwrites every field.
type Match struct {
	// Route is the router's copy of the winning route, with defaults
	// filled in (PathHandling, HTTPSRedirectStatusCode, Protocols).
	Route *Route
	// Path is the normalised request path used for matching (see
	// NormalizePath).
	Path string
	// Prefix is the part of Path the matched route path consumed: the
	// plain prefix (normalised) or the text the regex matched. It is ""
	// when the route has no paths. strip_path removes it.
	Prefix string
	// Captures holds the regex's capture groups that took part in the
	// match, by name and by position ("0" is the whole match, "1" the
	// first group, ...). It is nil for plain paths, and for regex paths
	// without a group that took part, as in Kong.
	Captures map[string]string
	// Redirect is true when the route matched on everything but the
	// protocol: the request was plain and the route only accepts it over
	// TLS (https, or grpcs or wss for gRPC and WebSocket requests). The
	// caller answers Route.HTTPSRedirectStatusCode, as Kong's
	// https_redirect_status_code does (for gRPC, Kong answers with a gRPC
	// error instead).
	Redirect bool
}

// Router selects routes for requests. It is immutable once built and safe
// for concurrent use; build a new one (with New) when the routes change.
type Router struct {
	// cands are the candidates in priority order: a candidate's rank is
	// its index, and a lower rank wins.
	cands []candidate

	// prog holds the groups of candidates, found through the tables by
	// host key or at anyHost (-1 when every route has hosts); see index.go.
	prog                  string
	exact, suffix, prefix hostTable
	anyHost               int
}

// noMatch is the rank that no candidate has.
const noMatch = math.MaxInt32

// maxLists bounds how many candidate lists one group gathers before it
// scans them in head-rank order; lists beyond it are scanned as found,
// which costs time, never correctness.
const maxLists = 8

// matchState is one Match call's view of the request and its best result
// so far.
type matchState struct {
	req       *Request
	path      string
	port      int
	methodBit uint16
	plain     protoMask // the protocols a route may have to serve the request
	secure    protoMask // the same over TLS
	best      int32
	redirect  bool
}

// Match finds the highest-priority route for req and fills m. It reports
// false when no route matches, or when req.Path is not a valid path (see
// NormalizePath, which callers use first to answer 400). Matching a
// request whose path is already normal and whose route has a plain path
// does not allocate.
func (r *Router) Match(req *Request, m *Match) bool {
	path, ok := NormalizePath(req.Path)
	if !ok {
		return false
	}
	x := matchState{
		req:       req,
		path:      path,
		methodBit: methodBit(req.Method),
		plain:     protoHTTP,
		secure:    protoHTTPS,
		best:      noMatch,
	}
	if req.GRPC {
		x.plain |= protoGRPC
		x.secure |= protoGRPCS
	}
	if req.WebSocket {
		x.plain |= protoWS
		x.secure |= protoWSS
	}
	name, port, hasPort := splitHostPort(req.Host)
	if hasPort && port == 0 {
		name = req.Host // not a port: Kong keeps the whole value as the host
	}
	if port == 0 {
		port = req.Port
	}
	x.port = port
	if name != "" && len(r.exact.slots)+len(r.suffix.slots)+len(r.prefix.slots) > 0 {
		r.searchHost(name, &x)
	}
	if r.anyHost >= 0 {
		r.searchGroup(r.anyHost, &x)
	}
	if x.best == noMatch {
		return false
	}
	c := &r.cands[x.best]
	*m = Match{Route: c.route, Path: path, Redirect: x.redirect}
	switch {
	case c.re != nil:
		loc := c.re.FindStringSubmatchIndex(path)
		m.Prefix = path[:loc[1]]
		m.Captures = captures(c.re, path, loc)
	case c.hasPath:
		m.Prefix = c.prefix
	}
	return true
}

// searchHost searches the groups of the exact and wildcard host entries
// that name can match.
func (r *Router) searchHost(name string, x *matchState) {
	// lowerASCII and the dot search work on whole words: give them a
	// zero-padded copy.
	var buf [256]byte
	var padded []byte
	if len(name) <= len(buf) {
		padded = buf[:(len(name)+7)&^7]
	} else {
		padded = make([]byte, (len(name)+7)&^7)
	}
	copy(padded, name)
	lowerASCII(padded)
	h := padded[:len(name)]
	if r.exact.mayHave(len(h)) {
		if g := r.exact.lookup(r.prog, h); g >= 0 {
			r.searchGroup(g, x)
		}
	}
	if len(r.suffix.slots) == 0 && len(r.prefix.slots) == 0 {
		return
	}
	// Try the suffix from each dot on, and the prefix up to each dot.
	for w := 0; w < len(padded); w += 8 {
		dots := equalBytes(binary.LittleEndian.Uint64(padded[w:]), '.')
		for ; dots != 0; dots &= dots - 1 {
			i := w + bits.TrailingZeros64(dots)/8
			if r.suffix.mayHave(len(h) - i) {
				if g := r.suffix.lookup(r.prog, h[i:]); g >= 0 {
					r.searchGroup(g, x)
				}
			}
			if r.prefix.mayHave(i + 1) {
				if g := r.prefix.lookup(r.prog, h[:i+1]); g >= 0 {
					r.searchGroup(g, x)
				}
			}
		}
	}
}

// indexByte is strings.IndexByte for the short strings of a node's child
// indices, where a plain loop beats the vector search's setup.
func indexByte(s string, c byte) int {
	if len(s) > 16 {
		return strings.IndexByte(s, c)
	}
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// list is a run of n entries at offset off of the program.
type list struct{ off, n int32 }

// searchGroup looks for a candidate of the group at offset g of the
// program that beats x.best. It gathers the lists the request's path
// reaches (the tree nodes along the path, and the candidates without
// paths), then scans them best head first.
func (r *Router) searchGroup(g int, x *matchState) {
	prog := r.prog
	if int32(u32(prog, g)) >= x.best {
		return
	}
	var lists [maxLists]list
	k := 0
	gather := func(off, n int) {
		if n == 0 || int32(u32(prog, off)) >= x.best {
			return
		}
		if k < len(lists) {
			lists[k] = list{int32(off), int32(n)}
			k++
			return
		}
		r.scan(off, n, x)
	}
	noPath, nNoPath := g+groupHeader, u32(prog, g+4)
	o, p := noPath+entrySize*nNoPath, x.path
	for {
		labelLen, kids, n := u32(prog, o), u32(prog, o+4), u32(prog, o+8)
		q := o + nodeHeader
		if !strings.HasPrefix(p, prog[q:q+labelLen]) {
			break
		}
		p = p[labelLen:]
		indices := prog[q+labelLen : q+labelLen+kids]
		offsets := q + labelLen + kids
		gather(offsets+4*kids, n)
		if p == "" {
			break
		}
		i := indexByte(indices, p[0])
		if i < 0 {
			break
		}
		o = u32(prog, offsets+4*i)
	}
	gather(noPath, nNoPath)
	for i := 1; i < k; i++ {
		for j := i; j > 0 && u32(prog, int(lists[j].off)) < u32(prog, int(lists[j-1].off)); j-- {
			lists[j], lists[j-1] = lists[j-1], lists[j]
		}
	}
	for _, l := range lists[:k] {
		r.scan(int(l.off), int(l.n), x)
	}
}

// scan tries the n rank-ordered entries at offset off of the program until
// one matches or the ranks are no better than x.best.
func (r *Router) scan(off, n int, x *matchState) {
	for i := range n {
		e := entryAt(r.prog, off+entrySize*i)
		if e.rank >= x.best {
			return
		}
		if e.port != 0 && int(e.port) != x.port {
			continue
		}
		switch r.cands[e.rank].check(x) {
		case checkMatch:
			x.best, x.redirect = e.rank, false
			return
		case checkRedirect:
			x.best, x.redirect = e.rank, true
			return
		}
	}
}

// captures returns the groups of re that took part in the match loc of s,
// or nil when none did.
func captures(re *regexp.Regexp, s string, loc []int) map[string]string {
	n := re.NumSubexp()
	took := false
	for i := 1; i <= n; i++ {
		if loc[2*i] >= 0 {
			took = true
			break
		}
	}
	if !took {
		return nil
	}
	names := re.SubexpNames()
	caps := make(map[string]string, 2*(n+1))
	for i := 0; i <= n; i++ {
		if loc[2*i] < 0 {
			continue
		}
		v := s[loc[2*i]:loc[2*i+1]]
		caps[strconv.Itoa(i)] = v
		if names[i] != "" {
			caps[names[i]] = v
		}
	}
	return caps
}
