package openloop

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// errMalformed reports a response this client cannot frame.
var errMalformed = errors.New("malformed HTTP response")

// readResponse reads one response from r: the status, whether the
// connection may carry another request, and the body, which it discards.
func readResponse(r *bufio.Reader) (status int, keepAlive bool, err error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' {
		return 0, false, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	for _, b := range line[9:12] {
		if b < '0' || b > '9' {
			return 0, false, fmt.Errorf("%w: status line %q", errMalformed, line)
		}
		status = status*10 + int(b-'0')
	}
	keepAlive = line[7] == '1'
	contentLength := int64(-1)
	chunked := false
	for {
		line, err = r.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		if len(line) <= 2 { // "\r\n" ends the headers
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return 0, false, fmt.Errorf("%w: header %q", errMalformed, line)
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case equalFold(name, "content-length"):
			n, ok := parseDecimal(value)
			if !ok {
				return 0, false, fmt.Errorf("%w: content-length %q", errMalformed, value)
			}
			contentLength = n
		case equalFold(name, "transfer-encoding"):
			chunked = !equalFold(value, "identity")
		case equalFold(name, "connection"):
			if equalFold(value, "close") {
				keepAlive = false
			} else if equalFold(value, "keep-alive") {
				keepAlive = true
			}
		}
	}
	switch {
	case status/100 == 1 || status == 204 || status == 304:
		return status, keepAlive, nil
	case chunked:
		return status, keepAlive, discardChunked(r)
	case contentLength >= 0:
		_, err = r.Discard(int(contentLength))
		return status, keepAlive, err
	default: // the body runs to the connection's end
		_, err = io.Copy(io.Discard, r)
		return status, false, err
	}
}

// discardChunked reads and drops a chunked body and its trailers.
func discardChunked(r *bufio.Reader) error {
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, ok := parseHex(bytes.TrimSpace(line))
		if !ok {
			return fmt.Errorf("%w: chunk size %q", errMalformed, line)
		}
		if size == 0 {
			break
		}
		if _, err := r.Discard(int(size) + 2); err != nil {
			return err
		}
	}
	for { // trailers, then the final empty line
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			return nil
		}
	}
}

// equalFold compares b with lower-case ASCII s, ignoring b's case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseHex reads a chunk size, ignoring chunk extensions after ';'.
func parseHex(b []byte) (int64, bool) {
	if i := bytes.IndexByte(b, ';'); i >= 0 {
		b = bytes.TrimSpace(b[:i])
	}
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | int64(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | int64(c-'a'+10)
		case 'A' <= c && c <= 'F':
			n = n<<4 | int64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}
