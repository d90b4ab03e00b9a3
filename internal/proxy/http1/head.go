package http1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
)

// ProtocolError is a request the server refuses before any handler sees
// it; Status is the response it gets.
type ProtocolError struct {
	Status int
	Reason string
}

func (e *ProtocolError) Error() string { return "http1: " + e.Reason }

func badRequest(reason string) error {
	return &ProtocolError{Status: http.StatusBadRequest, Reason: reason}
}

// ErrHeadTooLarge reports a head longer than the limit the reader was
// given.
var ErrHeadTooLarge = &ProtocolError{Status: http.StatusRequestHeaderFieldsTooLarge, Reason: "head too large"}

// errMalformedHead reports a response head the client cannot parse.
var errMalformedHead = errors.New("http1: malformed response head")

// readHead reads one head, from its first line up to and including the
// empty line that ends it, and returns it as a string: the one copy that
// every field of the parsed head is a substring of. A head that is already
// in the reader's buffer is copied straight from it; a longer one is
// gathered line by line in scratch. It returns io.EOF when the input ends
// before the head's first byte, io.ErrUnexpectedEOF when it ends inside.
func readHead(br *bufio.Reader, limit int, scratch *[]byte) (string, error) {
	from := 0
	for {
		buf, _ := br.Peek(br.Buffered())
		if end, next := headEnd(buf, from); end > 0 {
			if end > limit {
				return "", ErrHeadTooLarge
			}
			s := string(buf[:end])
			br.Discard(end)
			return s, nil
		} else {
			from = next
		}
		if len(buf) > limit {
			return "", ErrHeadTooLarge
		}
		if len(buf) == br.Size() {
			return readLongHead(br, limit, scratch)
		}
		if _, err := br.Peek(len(buf) + 1); err != nil {
			if err == io.EOF && len(buf) > 0 {
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
}

// headEnd returns the length of the head at the start of b, up to and
// including its empty line, or 0 when b does not hold a whole head yet;
// next is where the search can resume once more bytes arrive. Lines end
// with CRLF or a bare LF.
func headEnd(b []byte, from int) (end, next int) {
	i := from
	for {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return 0, i
		}
		k := i + j + 1 // the start of the next line
		if k < len(b) && b[k] == '\n' {
			return k + 1, 0
		}
		if k+1 < len(b) && b[k] == '\r' && b[k+1] == '\n' {
			return k + 2, 0
		}
		if k+1 >= len(b) {
			return 0, i // the next line's first bytes have not arrived
		}
		i = k
	}
}

// readLongHead reads a head that does not fit the reader's buffer, line
// by line.
func readLongHead(br *bufio.Reader, limit int, scratch *[]byte) (string, error) {
	b := (*scratch)[:0]
	lineStart := true
	for {
		line, err := br.ReadSlice('\n')
		if len(b)+len(line) > limit {
			return "", ErrHeadTooLarge
		}
		b = append(b, line...)
		switch {
		case err == bufio.ErrBufferFull:
			lineStart = false
			continue
		case err == io.EOF:
			return "", io.ErrUnexpectedEOF
		case err != nil:
			return "", err
		}
		if lineStart && (len(line) == 1 || len(line) == 2 && line[0] == '\r') {
			*scratch = b
			return string(b), nil
		}
		lineStart = true
	}
}

// nextLine splits the first line off s, without its CRLF or LF.
func nextLine(s string) (line, rest string) {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return s, ""
	}
	line, rest = s[:i], s[i+1:]
	if line != "" && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, rest
}

// parseFields parses the field lines of a head (after its first line)
// into h. It refuses obsolete line folding, names that are not tokens and
// values with control bytes.
func parseFields(s string, h *Header) bool {
	for {
		var line string
		line, s = nextLine(s)
		if line == "" {
			return true
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 {
			return false // also a folded line, which starts with a space
		}
		name := line[:colon]
		if !isToken(name) {
			return false
		}
		value := TrimOWS(line[colon+1:])
		if !validFieldValue(value) {
			return false
		}
		h.Fields = append(h.Fields, Field{Name: name, Value: value})
	}
}

// parseContentLength parses a Content-Length value: digits only, at most
// 18 of them (an int64 that cannot overflow).
func parseContentLength(v string) (int64, bool) {
	if v == "" || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// framing is what the framing fields of a head say about its body.
type framing struct {
	contentLength int64 // -1: none given
	chunked       bool  // Transfer-Encoding: chunked, the only coding
	otherTE       bool  // any other Transfer-Encoding, or several
	hasTE         bool
	close         bool // Connection: close
	keepAlive     bool // Connection: keep-alive
}

// readFraming reads Content-Length, Transfer-Encoding and Connection. It
// reports false for Content-Length values that are invalid or disagree.
func readFraming(h *Header) (framing, bool) {
	f := framing{contentLength: -1}
	for i := range h.Fields {
		fl := &h.Fields[i]
		switch len(fl.Name) {
		case 10:
			if EqualFold(fl.Name, "Connection") {
				f.close = f.close || HasToken(fl.Value, "close")
				f.keepAlive = f.keepAlive || HasToken(fl.Value, "keep-alive")
			}
		case 14:
			if EqualFold(fl.Name, "Content-Length") {
				n, ok := parseContentLength(fl.Value)
				if !ok || f.contentLength >= 0 && f.contentLength != n {
					return f, false
				}
				f.contentLength = n
			}
		case 17:
			if EqualFold(fl.Name, "Transfer-Encoding") {
				// Only chunked alone is accepted, as net/http does: a
				// coding the proxy would have to keep applying, or two
				// fields, is refused rather than guessed at.
				f.otherTE = f.hasTE || !EqualFold(fl.Value, "chunked")
				f.hasTE = true
			}
		}
	}
	f.chunked = f.hasTE && !f.otherTE
	return f, true
}
