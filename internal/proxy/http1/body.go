package http1

import (
	"bufio"
	"errors"
	"io"
	"strconv"
)

// The ways a message body is delimited.
const (
	bodyNone    = iota // no body
	bodyLength         // Content-Length bytes
	bodyChunked        // chunked transfer coding, then trailers
	bodyClose          // until the connection closes (responses only)
)

// Limits of the chunked coding.
const (
	maxChunkLine    = 4096    // a chunk-size line with its extensions
	maxTrailerBytes = 8 << 10 // the trailer section
)

// ErrBodyTruncated reports a body that ended (the connection closed)
// before its length or its last chunk.
var ErrBodyTruncated = errors.New("http1: body truncated")

// errBadChunk reports a malformed chunked body.
var errBadChunk = errors.New("http1: malformed chunked body")

// Body reads one message body from a connection's reader: a fixed number
// of bytes, a chunked body and its trailers, or everything up to the end
// of the connection. It never reads past the body, so the connection can
// carry the next message once Read has returned io.EOF.
type Body struct {
	br        *bufio.Reader
	kind      int
	remaining int64 // bytes left: of the body (bodyLength) or of the chunk (bodyChunked)
	lastChunk bool
	err       error // sticky: io.EOF once the body ended, or what broke it

	// Trailer holds the trailer fields of a chunked body once Read has
	// returned io.EOF.
	Trailer Header

	// continueTo, when set, gets "100 Continue" before the first read.
	continueTo *bufio.Writer
	scratch    []byte
}

// reset prepares b to read a body of kind (and length, for bodyLength)
// from br.
func (b *Body) reset(br *bufio.Reader, kind int, length int64) {
	b.br, b.kind, b.remaining, b.lastChunk, b.err = br, kind, length, false, nil
	b.Trailer.Reset()
	b.continueTo = nil
	switch {
	case kind == bodyNone, kind == bodyLength && length == 0:
		b.kind, b.err = bodyNone, io.EOF
	case kind == bodyChunked:
		b.remaining = 0
	}
}

// Done reports whether the whole body was read, so the connection is
// positioned at the next message.
func (b *Body) Done() bool { return b.err == io.EOF }

// Read reads from the body; it returns io.EOF at its end and
// ErrBodyTruncated when the connection ends first.
func (b *Body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.continueTo != nil {
		w := b.continueTo
		b.continueTo = nil
		w.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		if err := w.Flush(); err != nil {
			b.err = err
			return 0, err
		}
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	switch b.kind {
	case bodyLength:
		n, b.err = b.readLength(p)
	case bodyChunked:
		n, b.err = b.readChunked(p)
	case bodyClose:
		n, b.err = b.br.Read(p)
	}
	return n, b.err
}

func (b *Body) readLength(p []byte) (int, error) {
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.br.Read(p)
	b.remaining -= int64(n)
	switch {
	case b.remaining == 0:
		return n, io.EOF
	case err == io.EOF:
		return n, ErrBodyTruncated
	}
	return n, err
}

func (b *Body) readChunked(p []byte) (int, error) {
	if b.remaining == 0 {
		if err := b.nextChunk(); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				err = ErrBodyTruncated
			}
			return 0, err
		}
		if b.lastChunk {
			return 0, io.EOF
		}
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.br.Read(p)
	b.remaining -= int64(n)
	if b.remaining == 0 && err == nil {
		err = b.chunkEnd()
	}
	if err == io.EOF {
		err = ErrBodyTruncated
	}
	return n, err
}

// chunkEnd consumes the line break after a chunk's data.
func (b *Body) chunkEnd() error {
	c, err := b.br.ReadByte()
	if err == nil && c == '\r' {
		c, err = b.br.ReadByte()
	}
	if err != nil {
		return err
	}
	if c != '\n' {
		return errBadChunk
	}
	return nil
}

// nextChunk reads a chunk-size line (and, after the last chunk, the
// trailer section).
func (b *Body) nextChunk() error {
	line, err := b.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull || len(line) > maxChunkLine {
		return errBadChunk
	}
	if err != nil {
		return err
	}
	size, ok := parseChunkSize(line)
	if !ok {
		return errBadChunk
	}
	if size > 0 {
		b.remaining = size
		return nil
	}
	b.lastChunk = true
	return b.readTrailer()
}

// parseChunkSize reads the hexadecimal size at the start of a chunk-size
// line, ignoring chunk extensions.
func parseChunkSize(line []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			goto end
		}
		if i >= 15 {
			return 0, false // more than 2^60 bytes: refuse rather than overflow
		}
		n = n<<4 | int64(d)
	}
end:
	if i == 0 {
		return 0, false
	}
	for ; i < len(line); i++ {
		switch c := line[i]; c {
		case ' ', '\t':
		case ';', '\r', '\n':
			return n, true
		default:
			return 0, false
		}
	}
	return 0, false
}

// readTrailer reads the trailer section that ends a chunked body.
func (b *Body) readTrailer() error {
	if c, err := b.br.Peek(1); err != nil {
		return err
	} else if c[0] == '\n' {
		b.br.Discard(1)
		return nil
	}
	if c, err := b.br.Peek(2); err != nil {
		return err
	} else if c[0] == '\r' && c[1] == '\n' {
		b.br.Discard(2)
		return nil
	}
	s, err := readHead(b.br, maxTrailerBytes, &b.scratch)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if !parseFields(s, &b.Trailer) {
		return errBadChunk
	}
	return nil
}

// discard reads and drops the rest of the body, up to limit bytes; it
// reports whether the body ended within them.
func (b *Body) discard(limit int64) bool {
	if b.err == io.EOF {
		return true
	}
	if b.continueTo != nil {
		return false // the client has not sent the body and waits to be asked
	}
	var buf [512]byte
	for limit > 0 && b.err == nil {
		n, _ := b.Read(buf[:])
		limit -= int64(n)
	}
	return b.err == io.EOF
}

// writeChunk writes p as one chunk.
func writeChunk(w *bufio.Writer, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	w.Write(strconv.AppendInt(w.AvailableBuffer(), int64(len(p)), 16))
	w.WriteString("\r\n")
	n, err := w.Write(p)
	if err != nil {
		return n, err
	}
	_, err = w.WriteString("\r\n")
	return n, err
}

// writeLastChunk ends a chunked body with its trailer fields.
func writeLastChunk(w *bufio.Writer, trailer *Header) error {
	w.WriteString("0\r\n")
	if trailer != nil {
		writeFields(w, trailer)
	}
	_, err := w.WriteString("\r\n")
	return err
}

// writeFields writes header fields, one per line.
func writeFields(w *bufio.Writer, h *Header) {
	for i := range h.Fields {
		f := &h.Fields[i]
		w.WriteString(f.Name)
		w.WriteString(": ")
		w.WriteString(f.Value)
		w.WriteString("\r\n")
	}
}
