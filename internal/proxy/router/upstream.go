package router

import "strings"

// UpstreamPath joins a service path and the request path the way Kong does
// for the route's path_handling and strip_path, so that a Gantry upstream
// receives the path a Kong upstream would.
//
// With strip_path the part of the request path the route matched
// (m.Prefix) is dropped; a route without paths strips nothing. Then:
//
//   - v0 joins the service path and the rest of the request path as URL
//     segments: service "/s", route "/tv0", request "/tv0req" gives
//     "/s/req"; without strip_path, route "/fv0" and request "/fv0req"
//     give "/s/fv0req". A trailing slash on the request survives.
//   - v1 treats the service path as a raw prefix: "/s" and "/tv1req"
//     stripped of "/tv1" give "/sreq"; "/fv1req" unstripped gives
//     "/sfv1req".
//
// Both collapse the double slash a join would create. An empty service
// path is "/". The result is in wire form: the bytes that normalisation
// decoded and that are not safe in a request target are percent-encoded
// again, so it can be sent as it is (for example as URL.Opaque).
//
// m must come from a successful Router.Match.
func (m *Match) UpstreamPath(servicePath string) string {
	base := servicePath
	if base == "" {
		base = "/"
	}
	strip := m.Route.StripPath
	rest := m.Path[1:]
	if strip && len(m.Route.Paths) > 0 {
		rest = m.Path[len(m.Prefix):]
	}
	rest = sanitizePostfix(rest)
	var u string
	if m.Route.PathHandling == "v1" {
		u = joinV1(base, rest, m.Path, strip)
	} else {
		u = joinV0(base, rest, m.Path, strip)
	}
	return escapePath(u)
}

// sanitizePostfix drops a leading dot segment that stripping a prefix can
// expose ("/foo" stripped from "/foo./bar" leaves "./bar").
func sanitizePostfix(s string) string {
	switch {
	case s == "." || s == "..":
		return ""
	case strings.HasPrefix(s, "./"):
		return s[2:]
	case strings.HasPrefix(s, "../"):
		return s[3:]
	}
	return s
}

// joinV0 is Kong's v0 algorithm. rest is what follows the stripped prefix
// (or the whole path without its first slash when nothing is stripped).
func joinV0(base, rest, path string, strip bool) string {
	if strings.HasSuffix(base, "/") {
		if !strip {
			return join(base, path[1:], path)
		}
		switch {
		case rest == "" && base == "/":
			return "/"
		case rest == "" && strings.HasSuffix(path, "/"):
			return base
		case rest == "":
			return base[:len(base)-1]
		case rest[0] == '/':
			return join(base[:len(base)-1], rest, path)
		}
		return join(base, rest, path)
	}
	if !strip {
		if path == "/" {
			return base
		}
		return join(base, path, path)
	}
	switch {
	case rest == "" && len(path) > 1 && strings.HasSuffix(path, "/"):
		return base + "/"
	case rest == "":
		return base
	case rest[0] == '/':
		return join(base, rest, path)
	}
	return base + "/" + rest
}

// joinV1 is Kong's v1 algorithm: the service path is a plain prefix.
func joinV1(base, rest, path string, strip bool) string {
	if !strip {
		return join(base, path[1:], path)
	}
	if strings.HasSuffix(base, "/") && strings.HasPrefix(rest, "/") {
		return join(base[:len(base)-1], rest, path)
	}
	return join(base, rest, path)
}

// join returns a+b. b is a suffix of path; when the bytes of path before
// it are a, the result is that suffix of path and costs no allocation:
// the common case of a service path that leaves the request path as it
// is.
func join(a, b, path string) string {
	if n := len(a) + len(b); n <= len(path) && path[len(path)-n:len(path)-len(b)] == a && strings.HasSuffix(path, b) {
		return path[len(path)-n:]
	}
	return a + b
}
