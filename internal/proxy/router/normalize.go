package router

import "strings"

// reserved marks the bytes that RFC 3986 reserves (gen-delims and
// sub-delims) plus '%'. Decoding them would change what the path means (an
// encoded "/" is not a segment separator), so normalisation keeps them
// percent-encoded and only upper-cases their hex digits.
var reserved = func() (t [256]bool) {
	for _, c := range []byte("!*'();:@&=+$,/?%#[]") {
		t[c] = true
	}
	return t
}()

// pathSafe marks the bytes Kong sends to an upstream unescaped: letters,
// digits, the unreserved marks, the reserved characters and '%' (which
// only appears as the start of a kept escape). Everything else is a byte
// normalisation decoded and must be encoded again for the wire.
var pathSafe = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range []byte("-._~!#$&'()*+,/:;=?@[]%") {
		t[c] = true
	}
	return t
}()

const upperHex = "0123456789ABCDEF"

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// NormalizePath returns the form of a request path that routes are matched
// against, the way Kong (on nginx) computes it: percent-encoded unreserved
// and other non-reserved bytes are decoded, the hex digits of the reserved
// ones that stay encoded are upper-cased, "." and ".." segments are removed
// (RFC 3986 §5.2.4) and runs of slashes are merged into one, as Kong does
// for routing (its normalize(uri, true)).
//
// It reports false for a path the gateway must answer with 400 rather than
// route: one that does not start with "/", has a "%" not followed by two
// hex digits, encodes a NUL byte (%00), or climbs above the root with "..".
// nginx rejects these while parsing the request line, before Kong's router
// runs, so Kong never routes them either.
//
// A path that is already normal is returned as it is, without allocating,
// so the common request costs one scan.
func NormalizePath(p string) (string, bool) {
	if p == "" || p[0] != '/' {
		return "", false
	}
	if isNormal(p) {
		return p, true
	}
	return normalizeSlow(p)
}

// isNormal reports whether p (starting with "/") is already in normal
// form: every escape is a reserved byte with upper-case hex, no segment is
// empty except a trailing one, and no segment is "." or "..". Anything else,
// including an invalid escape, is left to normalizeSlow to fix or reject.
// A path without '%', "//" or "/." is normal; isNormal looks for those
// eight bytes at a time and leaves the rare path that has one to
// isNormalExact.
func isNormal(p string) bool {
	i := 0
	for ; i+9 <= len(p); i += 8 {
		w, next := load64(p, i), load64(p, i+1)
		if equalBytes(w, '%')|equalBytes(w, '/')&(equalBytes(next, '/')|equalBytes(next, '.')) != 0 {
			return isNormalExact(p)
		}
	}
	for ; i < len(p); i++ {
		if c := p[i]; c == '%' || c == '/' && i+1 < len(p) && (p[i+1] == '/' || p[i+1] == '.') {
			return isNormalExact(p)
		}
	}
	return true
}

// isNormalExact is isNormal for a path with a '%', "//" or "/.".
func isNormalExact(p string) bool {
	if strings.Contains(p, "//") {
		return false
	}
	for i := strings.Index(p, "/."); i >= 0; {
		j := i + 2
		if j < len(p) && p[j] == '.' {
			j++
		}
		if j == len(p) || p[j] == '/' {
			return false
		}
		k := strings.Index(p[i+2:], "/.")
		if k < 0 {
			break
		}
		i += 2 + k
	}
	for i := strings.IndexByte(p, '%'); i >= 0; {
		if i+2 >= len(p) {
			return false
		}
		hi, lo := p[i+1], p[i+2]
		h, ok1 := unhex(hi)
		l, ok2 := unhex(lo)
		if !ok1 || !ok2 || !reserved[h<<4|l] || hi >= 'a' || lo >= 'a' {
			return false
		}
		k := strings.IndexByte(p[i+3:], '%')
		if k < 0 {
			break
		}
		i += 3 + k
	}
	return true
}

// normalizeSlow decodes the escapes of p and then removes dot segments and
// merges slashes in place.
func normalizeSlow(p string) (string, bool) {
	buf := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '%' {
			buf = append(buf, c)
			continue
		}
		if i+2 >= len(p) {
			return "", false
		}
		hi, ok1 := unhex(p[i+1])
		lo, ok2 := unhex(p[i+2])
		if !ok1 || !ok2 {
			return "", false
		}
		v := hi<<4 | lo
		switch {
		case v == 0:
			return "", false
		case reserved[v]:
			buf = append(buf, '%', upperHex[hi], upperHex[lo])
		default:
			buf = append(buf, v)
		}
		i += 2
	}

	// Every step writes at most as many bytes as it has read, so the
	// output can share the input's array.
	out := buf[:0]
	for i := 0; i < len(buf); {
		// buf[i] is the '/' that starts a segment.
		j := i + 1
		for j < len(buf) && buf[j] != '/' {
			j++
		}
		seg := buf[i+1 : j]
		last := j == len(buf)
		switch {
		case len(seg) == 0 && !last:
			// An empty segment before another slash: merge the slashes.
		case len(seg) == 1 && seg[0] == '.':
			if last {
				out = append(out, '/')
			}
		case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
			if len(out) == 0 {
				return "", false
			}
			k := len(out) - 1
			for out[k] != '/' {
				k--
			}
			out = out[:k]
			if last {
				out = append(out, '/')
			}
		default:
			out = append(out, buf[i:j]...)
		}
		i = j
	}
	// The last segment always leaves something: "/seg", or "/" for an
	// empty, "." or ".." one, so out is never empty.
	return string(out), true
}

// escapePath percent-encodes the bytes of a normalised path that are not
// safe on the wire, as Kong does before it proxies: normalisation decoded
// them for matching, the upstream must receive them encoded.
func escapePath(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !pathSafe[s[i]] {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if pathSafe[c] {
			b = append(b, c)
			continue
		}
		b = append(b, '%', upperHex[c>>4], upperHex[c&15])
	}
	return string(b)
}
