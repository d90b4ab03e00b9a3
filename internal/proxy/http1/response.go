package http1

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
)

// Response is a response head as the client read it, and its body. A
// ClientConn reuses one Response: it is valid until the connection is
// released.
type Response struct {
	Status int
	// ProtoMinor is 1 for HTTP/1.1 and 0 for HTTP/1.0.
	ProtoMinor int
	Header     Header
	// ContentLength is the body's declared length, or -1 when it is
	// chunked, delimited by the connection's end, or absent (no body).
	ContentLength int64
	// Close is true when the upstream closes the connection after this
	// response.
	Close bool
	// Body reads the response body; a response without one reads as
	// empty.
	Body *Body
}

// parseResponse parses a response head into res; it reports false for a
// malformed one.
func parseResponse(head string, res *Response) bool {
	line, rest := nextLine(head)
	switch {
	case strings.HasPrefix(line, "HTTP/1.1 "):
		res.ProtoMinor = 1
	case strings.HasPrefix(line, "HTTP/1.0 "):
		res.ProtoMinor = 0
	default:
		return false
	}
	code := line[9:]
	if len(code) > 3 {
		if code[3] != ' ' {
			return false
		}
		code = code[:3]
	}
	if len(code) != 3 {
		return false
	}
	n, err := strconv.Atoi(code)
	if err != nil || n < 100 || code[0] == '+' || code[0] == '-' {
		return false
	}
	res.Status = n
	return parseFields(rest, &res.Header)
}

// bodyKind decides how the body of res is delimited, for a request made
// with method, and sets its ContentLength and Close (RFC 9112 §6.3). It
// reports false for framing the client refuses: an invalid or conflicting
// Content-Length without chunked, or a transfer coding other than chunked
// alone (as net/http's client does).
func (res *Response) bodyKind(method string) (kind int, length int64, ok bool) {
	f, ok := readFraming(&res.Header)
	res.Close = f.close || res.ProtoMinor == 0 && !f.keepAlive
	res.ContentLength = -1
	if !ok && !f.hasTE {
		return 0, 0, false
	}
	switch {
	case method == http.MethodHead || res.Status < 200 || res.Status == http.StatusNoContent || res.Status == http.StatusNotModified:
		res.ContentLength = max(f.contentLength, 0)
		return bodyNone, 0, true
	case f.otherTE:
		return 0, 0, false // a coding the proxy cannot pass on
	case f.chunked:
		return bodyChunked, 0, true
	case f.contentLength >= 0:
		res.ContentLength = f.contentLength
		return bodyLength, f.contentLength, true
	}
	res.Close = true
	return bodyClose, 0, true
}

// WriteRequestHead writes a request head to w: the request line with path
// and query as given (already in wire form), Host, the fields of h, and
// the framing of the body: Content-Length when contentLength > 0 or
// sendZeroLength, chunked when contentLength is -1.
func WriteRequestHead(w *bufio.Writer, method, path, query string, hasQuery bool, host string, h *Header, contentLength int64, sendZeroLength bool) {
	w.WriteString(method)
	w.WriteByte(' ')
	w.WriteString(path)
	if hasQuery {
		w.WriteByte('?')
		w.WriteString(query)
	}
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\n")
	writeFields(w, h)
	switch {
	case contentLength < 0:
		w.WriteString("Transfer-Encoding: chunked\r\n")
	case contentLength > 0 || sendZeroLength:
		w.WriteString("Content-Length: ")
		w.Write(strconv.AppendInt(w.AvailableBuffer(), contentLength, 10))
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
}
