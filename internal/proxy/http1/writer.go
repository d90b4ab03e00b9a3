package http1

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// ErrBodyNotAllowed is returned by ResponseWriter.Write for a status that
// has no body (1xx, 204, 304).
var ErrBodyNotAllowed = errors.New("http1: response status does not allow a body")

// ErrContentLength is returned by ResponseWriter.Write past the declared
// Content-Length.
var ErrContentLength = errors.New("http1: wrote more than the declared Content-Length")

// ErrHijacked is returned by ResponseWriter methods after Hijack.
var ErrHijacked = errors.New("http1: connection has been hijacked")

// ResponseWriter writes the response to one request into the
// connection's buffer. Its head goes out with the first write, flush or
// the end of the handler. Framing follows the header the handler set:
// Content-Length when it has one, else chunked for HTTP/1.1 clients (with
// trailers) and close-delimited for HTTP/1.0 ones. Date is added when
// absent, and Connection: close when the connection will close.
type ResponseWriter struct {
	c      *conn
	header Header

	status        int
	wroteHeader   bool
	bodyAllowed   bool
	discardBody   bool // HEAD: the body is dropped silently
	chunked       bool
	contentLength int64 // -1: not declared
	written       int64
	closeAfter    bool
	aborted       bool
	trailer       Header
	err           error
}

func (w *ResponseWriter) reset(c *conn) {
	w.header.Reset()
	w.trailer.Reset()
	*w = ResponseWriter{c: c, header: w.header, trailer: w.trailer, contentLength: -1}
}

// Header returns the response header to fill before WriteHeader.
func (w *ResponseWriter) Header() *Header { return &w.header }

// WriteHeader writes the status line and the header. Calls after the
// first do nothing.
func (w *ResponseWriter) WriteHeader(status int) {
	if w.wroteHeader || w.c.hijacked {
		return
	}
	w.wroteHeader = true
	w.status = status
	req := &w.c.req
	w.bodyAllowed = status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
	w.discardBody = req.Method == http.MethodHead
	f, ok := readFraming(&w.header)
	if ok && f.contentLength >= 0 {
		w.contentLength = f.contentLength
	}
	if f.hasTE {
		w.header.Del("Transfer-Encoding") // the writer frames the body itself
	}
	w.closeAfter = req.Close || f.close || w.c.body.continueTo != nil
	if w.bodyAllowed && !w.discardBody && w.contentLength < 0 {
		if req.ProtoMinor == 1 {
			w.chunked = true
		} else {
			w.closeAfter = true
		}
	}
	bw := w.c.bw
	writeStatusLine(bw, status)
	writeFields(bw, &w.header)
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if !w.header.Has("Date") {
		bw.WriteString("Date: ")
		bw.WriteString(httpDate())
		bw.WriteString("\r\n")
	}
	switch {
	case w.closeAfter && !f.close:
		bw.WriteString("Connection: close\r\n")
	case !w.closeAfter && req.ProtoMinor == 0:
		bw.WriteString("Connection: keep-alive\r\n")
	}
	_, w.err = bw.WriteString("\r\n")
}

// Write writes body bytes.
func (w *ResponseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.c.hijacked {
		return 0, ErrHijacked
	}
	if !w.bodyAllowed {
		return 0, ErrBodyNotAllowed
	}
	if w.discardBody {
		return len(p), nil
	}
	if w.contentLength >= 0 && w.written+int64(len(p)) > w.contentLength {
		n, _ := w.c.bw.Write(p[:w.contentLength-w.written])
		w.written += int64(n)
		return n, ErrContentLength
	}
	var n int
	if w.chunked {
		n, w.err = writeChunk(w.c.bw, p)
	} else {
		n, w.err = w.c.bw.Write(p)
	}
	w.written += int64(n)
	return n, w.err
}

// Flush sends what is buffered to the client.
func (w *ResponseWriter) Flush() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return w.err
	}
	w.err = w.c.bw.Flush()
	return w.err
}

// SetTrailer sets the trailer fields sent after a chunked body (a copy of
// h's). Other framings cannot carry them.
func (w *ResponseWriter) SetTrailer(h *Header) {
	w.trailer.Fields = append(w.trailer.Fields[:0], h.Fields...)
}

// Abort ends a response that cannot be completed: what was written is
// flushed and the connection closes without ending the body, so the
// client sees it truncated rather than complete.
func (w *ResponseWriter) Abort() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.aborted = true
	w.closeAfter = true
	w.c.bw.Flush()
}

// Hijack hands the connection over to the handler (for a protocol
// switch), with the reader holding any bytes the client already sent. The
// server forgets the connection; the caller closes it.
func (w *ResponseWriter) Hijack() (net.Conn, *bufio.Reader, error) {
	c := w.c
	if c.hijacked {
		return nil, nil, ErrHijacked
	}
	if w.wroteHeader {
		return nil, nil, errors.New("http1: hijack after the response started")
	}
	c.hijacked = true
	c.rd.phase = phaseHijacked
	c.rwc.SetDeadline(time.Time{})
	c.bw.Reset(nil)
	writerPool.Put(c.bw)
	c.bw = nil
	c.release()
	return c.rwc, c.br, nil
}

// finish ends the response when the handler returns; it reports whether
// the connection can carry another request.
func (w *ResponseWriter) finish() bool {
	if !w.wroteHeader {
		w.header.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	}
	if w.aborted || w.err != nil {
		return false
	}
	if w.chunked {
		w.err = writeLastChunk(w.c.bw, &w.trailer)
		return w.err == nil
	}
	if w.bodyAllowed && !w.discardBody && w.contentLength >= 0 && w.written < w.contentLength {
		return false // the client waits for bytes that will not come
	}
	return true
}

// Status returns the status written, 0 before WriteHeader.
func (w *ResponseWriter) Status() int { return w.status }

// statusLines holds the status lines of the codes in use, ready to write.
var statusLines = func() (t [600][]byte) {
	for code := 100; code < 600; code++ {
		if text := http.StatusText(code); text != "" {
			t[code] = []byte("HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n")
		}
	}
	return t
}()

func writeStatusLine(w *bufio.Writer, code int) {
	if code >= 100 && code < 600 && statusLines[code] != nil {
		w.Write(statusLines[code])
		return
	}
	w.WriteString("HTTP/1.1 ")
	w.Write(strconv.AppendInt(w.AvailableBuffer(), int64(code), 10))
	w.WriteString(" \r\n")
}

// The Date header is formatted once a second.
var dateCache atomic.Pointer[cachedDate]

type cachedDate struct {
	sec  int64
	text string
}

// httpDate returns the current time in the format of the Date header.
func httpDate() string {
	t := time.Now()
	if d := dateCache.Load(); d != nil && d.sec == t.Unix() {
		return d.text
	}
	d := &cachedDate{sec: t.Unix(), text: t.UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d.text
}
