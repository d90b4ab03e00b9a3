package router

import (
	"fmt"
	"strings"
)

// Kinds of host pattern. A wildcard replaces one whole label at either end
// of the name, as Kong allows.
const (
	hostExact  = iota
	hostSuffix // "*.example.com": the name ends with ".example.com"
	hostPrefix // "example.*": the name starts with "example."
)

// hostPattern is one compiled entry of a route's hosts or snis.
type hostPattern struct {
	kind int
	// name is lower-case. For hostSuffix it keeps the leading dot
	// (".example.com"), for hostPrefix the trailing one ("example."), so
	// that matching is a plain suffix or prefix test.
	name string
	port int // 0: any port
}

// parseHostPattern compiles a hosts entry: "example.com", "*.example.com",
// "example.*", each optionally followed by ":port".
func parseHostPattern(s string, allowPort bool) (hostPattern, error) {
	name, port, hasPort := splitHostPort(s)
	if hasPort && port == 0 {
		return hostPattern{}, fmt.Errorf("invalid port in %q", s)
	}
	if hasPort && !allowPort {
		return hostPattern{}, fmt.Errorf("%q must not have a port", s)
	}
	name = strings.ToLower(name)
	if name == "" {
		return hostPattern{}, fmt.Errorf("empty host in %q", s)
	}
	p := hostPattern{kind: hostExact, name: name, port: port}
	switch n := strings.Count(name, "*"); {
	case n == 0:
	case n > 1:
		return hostPattern{}, fmt.Errorf("invalid wildcard %q: at most one '*'", s)
	case strings.HasPrefix(name, "*.") && len(name) > 2:
		p.kind, p.name = hostSuffix, name[1:]
	case strings.HasSuffix(name, ".*") && len(name) > 2:
		p.kind, p.name = hostPrefix, name[:len(name)-1]
	default:
		return hostPattern{}, fmt.Errorf("invalid wildcard %q: '*' must be the leftmost or rightmost label", s)
	}
	return p, nil
}

// matchName reports whether host (any case) matches the pattern's name;
// the port is checked by the caller.
func (p *hostPattern) matchName(host string) bool {
	switch p.kind {
	case hostSuffix:
		return len(host) >= len(p.name) && asciiEqualFold(host[len(host)-len(p.name):], p.name)
	case hostPrefix:
		return len(host) >= len(p.name) && asciiEqualFold(host[:len(p.name)], p.name)
	}
	return asciiEqualFold(host, p.name)
}

// splitHostPort splits a Host header value (or a hosts entry) into the
// name and the port. hasPort is true when a ":port" part is present; port
// is 0 when that part is not a valid port number. An IPv6 literal keeps its
// brackets; an empty port ("example.com:") counts as no port.
func splitHostPort(s string) (name string, port int, hasPort bool) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return s, 0, false
	}
	if strings.HasPrefix(s, "[") {
		if !strings.HasSuffix(s[:i], "]") {
			return s, 0, false // "[::1]" or malformed: no port part
		}
	} else if strings.IndexByte(s[:i], ':') >= 0 {
		return s, 0, false // bare IPv6 address
	}
	if i == len(s)-1 {
		return s[:i], 0, false
	}
	return s[:i], parsePort(s[i+1:]), true
}

// parsePort returns the port s names, or 0 when s is not a decimal number
// from 1 to 65535.
func parsePort(s string) int {
	if len(s) > 5 {
		return 0
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0
	}
	return n
}

// asciiEqualFold compares two strings ignoring ASCII case only, as Kong's
// Lua string.lower does: a non-ASCII byte must be equal as it is.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
