// Package http1 is the proxy's HTTP/1.1 engine: a server for plain
// listeners and a client with per-address pools of upstream connections,
// both built for a proxy's hot path rather than for general use.
//
// A connection is served by one goroutine that owns a pooled bufio reader
// and writer. A request head is read whole, copied once into a string and
// parsed into a reused Request whose fields, header names and values are
// substrings of that copy: nothing retained from a request can be changed
// by the next one, and parsing allocates nothing else. Headers are a slice
// of fields in arrival order with case-insensitive lookup, not a map.
// Bodies stream in both directions (Content-Length, chunked, and on the
// client side close-delimited), never buffered whole. Timeouts are
// connection deadlines, not timers, and are moved only when they drift, so
// a busy connection rarely pays for one.
//
// The client keeps no goroutine per connection: the caller writes a
// request head straight into the connection's bufio.Writer, reads the
// response head into a reused Response and gives the connection back, to
// be reused only when the exchange ended cleanly.
//
// The package does not speak HTTP/2, TLS on the server side, or anything a
// proxy does not need; net/http serves those listeners.
package http1

import "strings"

// Field is one header field as received or to be sent.
type Field struct {
	Name, Value string
}

// Header is a list of header fields in order. Lookups ignore ASCII case;
// names keep the case they were given. The zero value is empty and ready
// to use; Reset empties it and keeps its capacity, so a Header reused
// across requests does not allocate.
type Header struct {
	Fields []Field
}

// Reset removes every field.
func (h *Header) Reset() {
	clear(h.Fields) // drop references to the strings of the last request
	h.Fields = h.Fields[:0]
}

// Len returns the number of fields.
func (h *Header) Len() int { return len(h.Fields) }

// Get returns the first value of the named field and whether there is one.
func (h *Header) Get(name string) (string, bool) {
	for i := range h.Fields {
		if EqualFold(h.Fields[i].Name, name) {
			return h.Fields[i].Value, true
		}
	}
	return "", false
}

// Value returns the first value of the named field, or "".
func (h *Header) Value(name string) string {
	v, _ := h.Get(name)
	return v
}

// Has reports whether the named field is present.
func (h *Header) Has(name string) bool {
	_, ok := h.Get(name)
	return ok
}

// Count returns how many fields have the name.
func (h *Header) Count(name string) int {
	n := 0
	for i := range h.Fields {
		if EqualFold(h.Fields[i].Name, name) {
			n++
		}
	}
	return n
}

// AppendValues appends the values of the named field to dst, in order.
func (h *Header) AppendValues(dst []string, name string) []string {
	for i := range h.Fields {
		if EqualFold(h.Fields[i].Name, name) {
			dst = append(dst, h.Fields[i].Value)
		}
	}
	return dst
}

// Add appends a field.
func (h *Header) Add(name, value string) {
	h.Fields = append(h.Fields, Field{Name: name, Value: value})
}

// Set replaces every field of the name with one field holding value, at
// the position of the first one, or at the end when there was none.
func (h *Header) Set(name, value string) {
	for i := range h.Fields {
		if EqualFold(h.Fields[i].Name, name) {
			h.Fields[i].Value = value
			h.delFrom(i+1, name)
			return
		}
	}
	h.Add(name, value)
}

// Del removes every field of the name.
func (h *Header) Del(name string) { h.delFrom(0, name) }

func (h *Header) delFrom(start int, name string) {
	out := start
	for i := start; i < len(h.Fields); i++ {
		if !EqualFold(h.Fields[i].Name, name) {
			h.Fields[out] = h.Fields[i]
			out++
		}
	}
	clear(h.Fields[out:])
	h.Fields = h.Fields[:out]
}

// HasToken reports whether any field of the name holds token in its
// comma-separated list, ignoring case (as Connection: keep-alive, Upgrade
// does).
func (h *Header) HasToken(name, token string) bool {
	for i := range h.Fields {
		if EqualFold(h.Fields[i].Name, name) && HasToken(h.Fields[i].Value, token) {
			return true
		}
	}
	return false
}

// HasToken reports whether the comma-separated list v holds token,
// ignoring ASCII case and optional whitespace.
func HasToken(v, token string) bool {
	for v != "" {
		var t string
		t, v, _ = strings.Cut(v, ",")
		if EqualFold(TrimOWS(t), token) {
			return true
		}
	}
	return false
}

// TrimOWS removes the optional whitespace (spaces and tabs) around s.
func TrimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// EqualFold reports whether a and b are equal ignoring ASCII case, the
// comparison HTTP uses for field names and tokens.
func EqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if x|0x20 != y|0x20 || x|0x20 < 'a' || x|0x20 > 'z' {
			return false
		}
	}
	return true
}

// tokenByte marks the bytes of an RFC 9110 token: field names, methods,
// transfer codings.
var tokenByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range []byte("!#$%&'*+-.^_`|~") {
		t[c] = true
	}
	return t
}()

// isToken reports whether s is a non-empty token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenByte[s[i]] {
			return false
		}
	}
	return true
}

// validFieldValue reports whether v holds no control byte other than
// horizontal tab (RFC 9110 §5.5: obs-text is allowed, CR, LF and NUL never
// are).
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// hostByte marks the bytes a Host header may hold: those of a reg-name,
// an IP literal and a port (RFC 3986), as net/http accepts them.
var hostByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range []byte("!$%&'()*+,-.:;=[]_~") {
		t[c] = true
	}
	return t
}()

// ValidHost reports whether h is an acceptable Host header value.
func ValidHost(h string) bool {
	for i := 0; i < len(h); i++ {
		if !hostByte[h[i]] {
			return false
		}
	}
	return true
}
