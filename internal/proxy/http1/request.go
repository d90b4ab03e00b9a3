package http1

import (
	"net/http"
	"strings"
)

// Request is a request as the server received it. The server reuses one
// Request per connection: a handler must not keep it, its Header or its
// Body after it returns. The strings in it are substrings of one copy of
// the head and stay valid for as long as anything refers to them.
type Request struct {
	Method string
	// Target is the request-target as received: "/path?query", an
	// absolute URL, "*" or an authority.
	Target string
	// Path is the path of the target as received (still percent-encoded,
	// without the query), or "" for "*" and authority targets.
	Path string
	// Query is the part of the target after "?"; HasQuery tells an empty
	// query ("/p?") from none.
	Query    string
	HasQuery bool
	// ProtoMinor is 1 for HTTP/1.1 and 0 for HTTP/1.0.
	ProtoMinor int
	// Host is the Host header, or the authority of an absolute target.
	Host   string
	Header Header
	// ContentLength is the body's length: 0 without a body, -1 when it is
	// chunked.
	ContentLength int64
	// Close is true when the connection closes after this exchange (the
	// client asked, or HTTP/1.0 without keep-alive).
	Close bool
	// Body reads the request body; it is never nil. With Expect:
	// 100-continue its first Read sends the interim 100 response.
	Body *Body

	// RemoteAddr is the client's address, LocalPort the port the request
	// arrived on.
	RemoteAddr string
	LocalPort  int
}

// Proto returns "HTTP/1.1" or "HTTP/1.0".
func (r *Request) Proto() string {
	if r.ProtoMinor == 0 {
		return "HTTP/1.0"
	}
	return "HTTP/1.1"
}

// reset empties r for the next request, keeping its header's capacity.
func (r *Request) reset() {
	body, remote, port := r.Body, r.RemoteAddr, r.LocalPort
	r.Header.Reset()
	*r = Request{Header: r.Header, Body: body, RemoteAddr: remote, LocalPort: port}
}

// parseRequest parses a request head read by readHead into r and checks
// it as net/http's server does: malformed lines, an invalid or missing
// Host, or conflicting framing are a 400; an HTTP version other than 1.x a
// 505; a transfer coding other than chunked a 501; an expectation other
// than 100-continue a 417. It reports in expect100 whether the client
// waits for a 100 Continue.
func parseRequest(head string, r *Request) (expect100 bool, err error) {
	line, rest := nextLine(head)
	sp1 := strings.IndexByte(line, ' ')
	if sp1 <= 0 {
		return false, badRequest("malformed request line")
	}
	r.Method = line[:sp1]
	line = line[sp1+1:]
	sp2 := strings.IndexByte(line, ' ')
	if sp2 <= 0 {
		return false, badRequest("malformed request line")
	}
	r.Target, line = line[:sp2], line[sp2+1:]
	if !isToken(r.Method) {
		return false, badRequest("invalid method")
	}
	switch line {
	case "HTTP/1.1":
		r.ProtoMinor = 1
	case "HTTP/1.0":
		r.ProtoMinor = 0
	default:
		if !strings.HasPrefix(line, "HTTP/") {
			return false, badRequest("malformed HTTP version")
		}
		return false, &ProtocolError{Status: http.StatusHTTPVersionNotSupported, Reason: "unsupported HTTP version"}
	}
	for i := 0; i < len(r.Target); i++ {
		if c := r.Target[i]; c <= ' ' || c == 0x7f {
			return false, badRequest("invalid request target")
		}
	}
	authority, ok := r.splitTarget()
	if !ok {
		return false, badRequest("invalid request target")
	}
	if !parseFields(rest, &r.Header) {
		return false, badRequest("malformed header field")
	}

	hosts := 0
	for i := range r.Header.Fields {
		f := &r.Header.Fields[i]
		switch {
		case len(f.Name) == 4 && EqualFold(f.Name, "Host"):
			hosts++
			r.Host = f.Value
		case len(f.Name) == 6 && EqualFold(f.Name, "Expect"):
			if !EqualFold(f.Value, "100-continue") {
				return false, &ProtocolError{Status: http.StatusExpectationFailed, Reason: "unsupported expectation"}
			}
			expect100 = r.ProtoMinor == 1
		}
	}
	if hosts > 1 || hosts == 0 && r.ProtoMinor == 1 || !ValidHost(r.Host) {
		return false, badRequest("missing, repeated or invalid Host")
	}
	if authority != "" {
		r.Host = authority
	}

	f, ok := readFraming(&r.Header)
	switch {
	case !ok:
		return false, badRequest("invalid Content-Length")
	case f.otherTE:
		return false, &ProtocolError{Status: http.StatusNotImplemented, Reason: "unsupported transfer coding"}
	case f.chunked && (f.contentLength >= 0 || r.ProtoMinor == 0):
		return false, badRequest("chunked with Content-Length, or in HTTP/1.0")
	case f.chunked:
		r.ContentLength = -1
	case f.contentLength > 0:
		r.ContentLength = f.contentLength
	}
	r.Close = f.close || r.ProtoMinor == 0 && !f.keepAlive
	return expect100 && r.ContentLength != 0, nil
}

// splitTarget sets Path and Query from Target and returns the authority
// of an absolute-form target. It reports false for a target that is
// neither origin-form, absolute-form, "*" nor an authority.
func (r *Request) splitTarget() (authority string, ok bool) {
	t := r.Target
	switch {
	case t[0] == '/':
	case t == "*":
		return "", true
	case hasSchemePrefix(t):
		rest := t[strings.Index(t, "://")+3:]
		end := strings.IndexAny(rest, "/?")
		if end < 0 {
			end = len(rest)
		}
		authority, t = rest[:end], rest[end:]
		if at := strings.LastIndexByte(authority, '@'); at >= 0 {
			authority = authority[at+1:]
		}
		if !ValidHost(authority) {
			return "", false
		}
		if t == "" || t[0] == '?' {
			r.Path = ""
			r.Query, r.HasQuery = strings.CutPrefix(t, "?")
			return authority, true
		}
	case r.Method == http.MethodConnect:
		return t, ValidHost(t) // the authority form names the host
	default:
		return "", false
	}
	r.Path, r.Query, r.HasQuery = strings.Cut(t, "?")
	return authority, true
}

func hasSchemePrefix(t string) bool {
	return len(t) > 7 && EqualFold(t[:7], "http://") || len(t) > 8 && EqualFold(t[:8], "https://")
}
