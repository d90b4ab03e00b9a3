package http1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Handler serves one request. It must not keep w or r after it returns.
// To end a response that cannot be completed (the upstream broke off a
// body), it calls w.Abort rather than returning normally.
type Handler interface {
	ServeHTTP1(w *ResponseWriter, r *Request)
}

// Defaults for a Server's zero limits.
const (
	DefaultMaxHeaderBytes = 32 << 10
	DefaultTimeout        = 60 * time.Second
	// maxDrainBody is how much of a request body the handler left unread
	// the server reads and drops to keep the connection; past it the
	// connection closes.
	maxDrainBody = 256 << 10
)

// Server serves HTTP/1.x on plain listeners, one goroutine per
// connection.
type Server struct {
	Handler Handler
	// MaxHeaderBytes bounds a request head (request line and fields);
	// a longer one is answered 431.
	MaxHeaderBytes int
	// ReadHeaderTimeout bounds the time to read a request head once its
	// first byte arrived; IdleTimeout the wait for the next request on a
	// kept-alive connection; BodyTimeout the wait for each read of a
	// request body (nginx's client_body_timeout).
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	BodyTimeout       time.Duration
	// Logger receives the panics of handlers; nil discards them.
	Logger *slog.Logger

	accepted atomic.Uint64
	open     atomic.Int64
	idle     atomic.Int64

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   atomic.Bool
	wg        sync.WaitGroup
}

// ConnCounts are the figures of a server's connections that status
// endpoints report, after nginx's stub_status.
type ConnCounts struct {
	Accepted uint64 // accepted since start
	Open     int    // open now, hijacked ones excluded
	Idle     int    // open and waiting for a request
}

// ConnCounts returns the current figures.
func (s *Server) ConnCounts() ConnCounts {
	return ConnCounts{Accepted: s.accepted.Load(), Open: int(s.open.Load()), Idle: int(s.idle.Load())}
}

// Serve accepts connections on ln until the server is closed, and serves
// each in its own goroutine. It returns http.ErrServerClosed after Close
// or Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	if !s.track(ln) {
		ln.Close()
		return http.ErrServerClosed
	}
	defer s.untrack(ln)
	var backoff time.Duration
	for {
		rwc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := s.newConn(rwc)
		if c == nil {
			rwc.Close()
			continue
		}
		go c.serve()
	}
}

// isTemporary reports accept errors that pass (too many open files).
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (s *Server) track(ln net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	if s.listeners == nil {
		s.listeners = map[net.Listener]struct{}{}
	}
	s.listeners[ln] = struct{}{}
	return true
}

func (s *Server) untrack(ln net.Listener) {
	s.mu.Lock()
	delete(s.listeners, ln)
	s.mu.Unlock()
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.closeListeners()
	s.mu.Lock()
	for c := range s.conns {
		c.rwc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Shutdown closes the listeners, then closes connections as they become
// idle, until none is left or ctx ends (then it closes the rest and
// returns ctx's error).
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeListeners()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		for c := range s.conns {
			if c.state.CompareAndSwap(stateIdle, stateClosed) {
				c.rwc.Close()
			}
		}
		n := len(s.conns)
		s.mu.Unlock()
		if n == 0 {
			s.wg.Wait()
			return nil
		}
		select {
		case <-ctx.Done():
			s.Close()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
}

// Connection states, for Shutdown to close idle connections only.
const (
	stateActive int32 = iota
	stateIdle
	stateClosed
)

// conn is one client connection and the state its requests reuse.
type conn struct {
	srv      *Server
	rwc      net.Conn
	rd       connReader
	br       *bufio.Reader
	bw       *bufio.Writer
	req      Request
	body     Body
	res      ResponseWriter
	state    atomic.Int32
	scratch  []byte
	hijacked bool
	// countedIdle says the connection counts in the server's idle figure.
	countedIdle bool
	remoteAddr  string
	localPort   int
}

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

func (s *Server) newConn(rwc net.Conn) *conn {
	c := &conn{srv: s, rwc: rwc, remoteAddr: rwc.RemoteAddr().String()}
	if a, ok := rwc.LocalAddr().(*net.TCPAddr); ok {
		c.localPort = a.Port
	}
	c.rd = connReader{c: c}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return nil
	}
	if s.conns == nil {
		s.conns = map[*conn]struct{}{}
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.accepted.Add(1)
	s.open.Add(1)
	return c
}

func (s *Server) timeout(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultTimeout
	}
	return d
}

func (s *Server) maxHeaderBytes() int {
	if s.MaxHeaderBytes <= 0 {
		return DefaultMaxHeaderBytes
	}
	return s.MaxHeaderBytes
}

// serve reads and serves the connection's requests until it closes.
func (c *conn) serve() {
	s := c.srv
	c.br = readerPool.Get().(*bufio.Reader)
	c.br.Reset(&c.rd)
	c.bw = writerPool.Get().(*bufio.Writer)
	c.bw.Reset(c.rwc)
	c.req.Body = &c.body
	c.req.RemoteAddr, c.req.LocalPort = c.remoteAddr, c.localPort
	defer c.close()
	defer func() {
		if v := recover(); v != nil && v != http.ErrAbortHandler && s.Logger != nil {
			buf := make([]byte, 16<<10)
			buf = buf[:runtime.Stack(buf, false)]
			s.Logger.Error("http1: panic serving a request", "remote", c.remoteAddr, "panic", fmt.Sprint(v), "stack", string(buf))
		}
	}()
	limit := s.maxHeaderBytes()
	for {
		c.setIdle()
		c.rd.phase = phaseIdle
		if !c.skipBlankLines() {
			return
		}
		head, err := readHead(c.br, limit, &c.scratch)
		if err != nil {
			if c.refuse(err) {
				c.lingerClose()
			}
			return
		}
		if !c.setActive() {
			return // closed by Shutdown while the request arrived
		}
		c.rd.phase = phaseBody
		c.req.reset()
		expect100, err := parseRequest(head, &c.req)
		if err != nil {
			c.refuse(err)
			c.lingerClose()
			return
		}
		switch {
		case c.req.ContentLength < 0:
			c.body.reset(c.br, bodyChunked, 0)
		default:
			c.body.reset(c.br, bodyLength, c.req.ContentLength)
		}
		if expect100 {
			c.body.continueTo = c.bw
		}
		c.res.reset(c)
		s.Handler.ServeHTTP1(&c.res, &c.req)
		if c.hijacked {
			return
		}
		complete := c.res.finish()
		if !c.body.discard(maxDrainBody) {
			// The client may still be sending a body nobody reads.
			c.bw.Flush()
			c.lingerClose()
			return
		}
		if !complete || c.res.closeAfter || s.closing.Load() {
			c.bw.Flush()
			return
		}
		if c.bw.Flush() != nil {
			return
		}
	}
}

// skipBlankLines drops the empty lines a client may send between
// requests (RFC 9112 §2.2). It reports false when the connection ended.
func (c *conn) skipBlankLines() bool {
	for {
		b, err := c.br.Peek(1)
		if err != nil {
			return false
		}
		if b[0] != '\r' && b[0] != '\n' {
			return true
		}
		c.br.Discard(1)
	}
}

// refuse answers a request the server could not read, unless the
// connection simply ended or timed out; it reports whether it answered.
func (c *conn) refuse(err error) bool {
	var pe *ProtocolError
	if !errors.As(err, &pe) {
		return false
	}
	text := http.StatusText(pe.Status)
	fmt.Fprintf(c.bw, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n%d %s",
		pe.Status, text, pe.Status, text)
	c.bw.Flush()
	return true
}

// lingerTimeout bounds lingerClose.
const lingerTimeout = 500 * time.Millisecond

// lingerClose prepares to close a connection whose client may still be
// sending: it ends the output (FIN) and reads and drops input until the
// client closes its side or lingerTimeout passes. Closing a socket with
// unread input sends a reset, which can destroy the last response before
// the client has read it.
func (c *conn) lingerClose() {
	cw, ok := c.rwc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	c.rd.phase = phaseHijacked // the deadline below is the only one
	c.rwc.SetReadDeadline(time.Now().Add(lingerTimeout))
	var buf [4 << 10]byte
	for {
		if _, err := c.br.Read(buf[:]); err != nil {
			return
		}
	}
}

// setIdle marks the connection as waiting for a request: Shutdown may
// close it, and it counts as idle.
func (c *conn) setIdle() {
	c.state.Store(stateIdle)
	c.srv.idle.Add(1)
	c.countedIdle = true
}

// setActive marks the connection as serving a request, unless Shutdown
// closed it first.
func (c *conn) setActive() bool {
	c.uncountIdle()
	return c.state.CompareAndSwap(stateIdle, stateActive)
}

func (c *conn) uncountIdle() {
	if c.countedIdle {
		c.countedIdle = false
		c.srv.idle.Add(-1)
	}
}

// close ends the connection, unless a handler took it over.
func (c *conn) close() {
	c.uncountIdle()
	c.state.Store(stateClosed)
	c.req.reset()
	if c.hijacked {
		return // released when it was hijacked
	}
	c.rwc.Close()
	c.br.Reset(nil)
	readerPool.Put(c.br)
	c.bw.Reset(nil)
	writerPool.Put(c.bw)
	c.release()
}

// release stops counting and tracking the connection: it closed, or a
// handler took it over (Shutdown and Close leave hijacked connections to
// their new owner, as net/http does).
func (c *conn) release() {
	s := c.srv
	s.open.Add(-1)
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// Read phases of a connection: each has its own deadline.
const (
	phaseIdle     = iota // waiting for the next request: IdleTimeout
	phaseHead            // reading a head after its first bytes: ReadHeaderTimeout in all
	phaseBody            // reading a body: BodyTimeout per read
	phaseHijacked        // the handler owns the connection: no deadline
)

// connReader is the connection as the server's bufio.Reader reads it: it
// keeps the read deadline of the phase the connection is in.
type connReader struct {
	c     *conn
	phase int
	dl    deadline
	// headStart is when the current head's first bytes arrived; headSet
	// says its deadline was set.
	headStart time.Time
	headSet   bool
}

func (r *connReader) Read(p []byte) (int, error) {
	c := r.c
	s := c.srv
	var err error
	switch r.phase {
	case phaseIdle:
		err = r.dl.extendRead(c.rwc, now(), s.timeout(s.IdleTimeout))
	case phaseHead:
		// The head needs more than one read: from now on it has what is
		// left of ReadHeaderTimeout. Most heads arrive in one read and
		// never pay for this deadline.
		if !r.headSet {
			r.headSet = true
			err = r.dl.setRead(c.rwc, r.headStart.Add(s.timeout(s.ReadHeaderTimeout)))
		}
	case phaseBody:
		err = r.dl.extendRead(c.rwc, now(), s.timeout(s.BodyTimeout))
	}
	if err != nil {
		return 0, err
	}
	n, err := c.rwc.Read(p)
	if r.phase == phaseIdle && n > 0 {
		r.phase, r.headStart, r.headSet = phaseHead, time.Now(), false
	}
	return n, err
}
