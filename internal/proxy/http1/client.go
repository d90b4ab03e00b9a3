package http1

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for a Client's zero settings.
const (
	DefaultMaxIdlePerAddr  = 1024
	DefaultIdleTimeout     = 60 * time.Second
	DefaultMaxResponseHead = 1 << 20
	// probeAfter is how long a connection must have been idle before it
	// is checked for a close by the upstream when taken from the pool.
	// Connections used more recently than that are simply used: a close
	// in between shows as an error the caller may retry (see
	// ErrStaleConn).
	probeAfter   = int64(time.Second)
	tcpKeepAlive = 30 * time.Second
)

// ErrStaleConn wraps the error of an exchange on a reused connection that
// failed before the upstream sent a byte: most likely the upstream closed
// the idle connection as the request went out, and the request can be sent
// again on a new connection (as net/http's Transport does) when that is
// safe for it.
var ErrStaleConn = errors.New("http1: reused connection closed by the upstream")

// Client opens, pools and reuses connections to upstream addresses. It
// runs no goroutine per connection: a connection is only read and written
// by the exchange that holds it.
type Client struct {
	// TLSConfig, when set, makes every connection TLS with these settings
	// (ServerName included); connections of different settings need
	// different Clients.
	TLSConfig *tls.Config
	// MaxIdlePerAddr bounds the idle connections kept per address;
	// IdleTimeout closes those idle longer.
	MaxIdlePerAddr int
	IdleTimeout    time.Duration
	// MaxResponseHead bounds a response head.
	MaxResponseHead int

	mu     sync.Mutex
	idle   map[string][]*ClientConn // per address, most recently used last
	closed bool
	sweep  *time.Timer
}

// ClientConn is one upstream connection, held by one exchange at a time.
type ClientConn struct {
	client *Client
	addr   string
	conn   net.Conn
	rw     clientIO
	br     *bufio.Reader
	bw     *bufio.Writer
	res    Response
	body   Body
	// Reused is true when the connection served an earlier exchange.
	Reused bool
	idleAt int64
	// wroteBefore is the count of bytes written before this exchange.
	wroteBefore int64
	broken      bool // an error, a close, or a hijack: never pooled again
	scratch     []byte
}

// Get returns an idle connection to addr, or dials a new one (and makes
// the TLS handshake) within connectTimeout. A dial error is a
// *net.OpError with Op "dial". With check, an idle connection is checked
// for a close by the upstream however briefly it was idle: the caller
// cannot send its request again if the connection turns out to be stale
// (see ErrStaleConn), so it pays a system call to avoid that.
func (c *Client) Get(ctx context.Context, addr string, connectTimeout time.Duration, check bool) (*ClientConn, error) {
	if cc := c.popIdle(addr, check); cc != nil {
		cc.wroteBefore = cc.rw.nwritten
		return cc, nil
	}
	d := net.Dialer{Timeout: connectTimeout, KeepAlive: tcpKeepAlive}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if c.TLSConfig != nil {
		tc := tls.Client(conn, c.TLSConfig)
		if connectTimeout > 0 {
			conn.SetDeadline(time.Now().Add(connectTimeout))
		}
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, err
		}
		conn.SetDeadline(time.Time{})
		conn = tc
	}
	cc := &ClientConn{client: c, addr: addr, conn: conn}
	cc.rw.conn = conn
	cc.br = bufio.NewReaderSize(&cc.rw, 8<<10)
	cc.bw = bufio.NewWriterSize(&cc.rw, 4<<10)
	cc.res.Body = &cc.body
	return cc, nil
}

// popIdle takes the most recently used idle connection to addr that is
// still usable.
func (c *Client) popIdle(addr string, check bool) *ClientConn {
	t := now()
	for {
		c.mu.Lock()
		list := c.idle[addr]
		if len(list) == 0 {
			c.mu.Unlock()
			return nil
		}
		cc := list[len(list)-1]
		list[len(list)-1] = nil
		c.idle[addr] = list[:len(list)-1]
		c.mu.Unlock()
		idleFor := t - cc.idleAt
		if idleFor > int64(c.idleTimeout()) || (check || idleFor > probeAfter) && !cc.alive() {
			cc.conn.Close()
			continue
		}
		cc.Reused = true
		return cc
	}
}

func (c *Client) idleTimeout() time.Duration {
	if c.IdleTimeout <= 0 {
		return DefaultIdleTimeout
	}
	return c.IdleTimeout
}

// put keeps cc for reuse, or closes it when the pool is full or closed.
func (c *Client) put(cc *ClientConn) {
	cc.idleAt = now()
	limit := c.MaxIdlePerAddr
	if limit <= 0 {
		limit = DefaultMaxIdlePerAddr
	}
	c.mu.Lock()
	if c.closed || len(c.idle[cc.addr]) >= limit {
		c.mu.Unlock()
		cc.conn.Close()
		return
	}
	if c.idle == nil {
		c.idle = map[string][]*ClientConn{}
	}
	c.idle[cc.addr] = append(c.idle[cc.addr], cc)
	if c.sweep == nil {
		c.sweep = time.AfterFunc(c.idleTimeout(), c.closeExpired)
	}
	c.mu.Unlock()
}

// closeExpired closes the connections idle for longer than IdleTimeout
// and runs again while any connection is idle.
func (c *Client) closeExpired() {
	limit := int64(c.idleTimeout())
	t := now()
	var expired []*ClientConn
	c.mu.Lock()
	for addr, list := range c.idle {
		n := 0
		for _, cc := range list {
			if t-cc.idleAt > limit {
				expired = append(expired, cc)
				continue
			}
			list[n] = cc
			n++
		}
		clear(list[n:])
		if n == 0 {
			delete(c.idle, addr)
		} else {
			c.idle[addr] = list[:n]
		}
	}
	c.sweep = nil
	if len(c.idle) > 0 && !c.closed {
		c.sweep = time.AfterFunc(c.idleTimeout()/2, c.closeExpired)
	}
	c.mu.Unlock()
	for _, cc := range expired {
		cc.conn.Close()
	}
}

// CloseIdle closes every idle connection; with stop, the client also
// stops pooling (connections given back later are closed).
func (c *Client) CloseIdle(stop bool) {
	c.mu.Lock()
	idle := c.idle
	c.idle = nil
	if stop {
		c.closed = true
	}
	if c.sweep != nil {
		c.sweep.Stop()
		c.sweep = nil
	}
	c.mu.Unlock()
	for _, list := range idle {
		for _, cc := range list {
			cc.conn.Close()
		}
	}
}

// SetTimeouts sets how long a write may block (write) and how long the
// upstream may take to send the next bytes (read) for the exchange that
// holds the connection; zero means no limit.
func (cc *ClientConn) SetTimeouts(read, write time.Duration) {
	cc.rw.readTimeout, cc.rw.writeTimeout = read, write
}

// Wrote reports whether any byte of this exchange reached the
// connection.
func (cc *ClientConn) Wrote() bool { return cc.rw.nwritten > cc.wroteBefore }

// Trailer returns the trailer fields of the response's chunked body,
// once it was read whole.
func (cc *ClientConn) Trailer() *Header { return &cc.body.Trailer }

// Writer returns the buffer a request is written into.
func (cc *ClientConn) Writer() *bufio.Writer { return cc.bw }

// WriteBody copies a request body from src; chunked frames it in chunks
// (end it with EndChunked). It returns the error of the side that failed:
// srcErr for src, err for the connection.
func (cc *ClientConn) WriteBody(src io.Reader, chunked bool) (srcErr, err error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if chunked {
				_, err = writeChunk(cc.bw, buf[:n])
			} else {
				_, err = cc.bw.Write(buf[:n])
			}
			if err != nil {
				cc.broken = true
				return nil, err
			}
		}
		if rerr == io.EOF {
			return nil, nil
		}
		if rerr != nil {
			cc.broken = true
			return rerr, nil
		}
	}
}

// EndChunked ends a chunked request body with its trailer fields.
func (cc *ClientConn) EndChunked(trailer *Header) error {
	return writeLastChunk(cc.bw, trailer)
}

// Flush sends what was written. A failure on a reused connection before
// the upstream sent anything wraps ErrStaleConn.
func (cc *ClientConn) Flush() error {
	if err := cc.bw.Flush(); err != nil {
		cc.broken = true
		return cc.stale(err)
	}
	return nil
}

// ReadResponse reads the response to a request made with method, skipping
// interim 1xx responses other than 101, and prepares its body. A failure
// on a reused connection before the first byte of the response wraps
// ErrStaleConn.
func (cc *ClientConn) ReadResponse(method string) (*Response, error) {
	limit := cc.client.MaxResponseHead
	if limit <= 0 {
		limit = DefaultMaxResponseHead
	}
	res := &cc.res
	before := cc.rw.nread
	for {
		res.Header.Reset()
		head, err := readHead(cc.br, limit, &cc.scratch)
		if err != nil {
			cc.broken = true
			if cc.rw.nread == before {
				return nil, cc.stale(err)
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if !parseResponse(head, res) {
			cc.broken = true
			return nil, errMalformedHead
		}
		if res.Status >= 200 || res.Status == 101 {
			break
		}
	}
	kind, length, ok := res.bodyKind(method)
	if !ok {
		cc.broken = true
		return nil, errMalformedHead
	}
	cc.body.reset(cc.br, kind, length)
	return res, nil
}

// stale wraps err with ErrStaleConn when the connection was reused and
// nothing was read from it in this exchange.
func (cc *ClientConn) stale(err error) error {
	if cc.Reused && !cc.rw.aborted.Load() {
		return &staleError{err: err}
	}
	return err
}

type staleError struct{ err error }

func (e *staleError) Error() string   { return ErrStaleConn.Error() + ": " + e.err.Error() }
func (e *staleError) Unwrap() []error { return []error{ErrStaleConn, e.err} }

// Abort makes the exchange on the connection fail at once, from any
// goroutine (the client went away): blocked reads and writes return, and
// the connection is not reused.
func (cc *ClientConn) Abort() {
	cc.rw.aborted.Store(true)
	cc.conn.SetDeadline(time.Unix(1, 0))
}

// Release ends the exchange: the connection goes back to the pool when the
// response was read whole and both sides keep the connection open, and is
// closed otherwise.
func (cc *ClientConn) Release() {
	if cc.broken || cc.rw.aborted.Load() || cc.res.Close || !cc.body.Done() || cc.bw.Buffered() > 0 || cc.br.Buffered() > 0 {
		cc.Close()
		return
	}
	cc.res.Header.Reset()
	cc.body.Trailer.Reset()
	cc.client.put(cc)
}

// Close closes the connection.
func (cc *ClientConn) Close() {
	cc.broken = true
	cc.conn.Close()
}

// Hijack takes the connection out of the client after a 101 response: the
// caller owns it, with the reader holding what the upstream already sent.
func (cc *ClientConn) Hijack() (net.Conn, *bufio.Reader) {
	cc.broken = true
	cc.conn.SetDeadline(time.Time{})
	cc.rw.readTimeout, cc.rw.writeTimeout = 0, 0
	return cc.conn, cc.br
}

// clientIO is the connection as its buffers see it: it moves the read and
// write deadlines for the exchange's timeouts and counts bytes read.
type clientIO struct {
	conn                      net.Conn
	readTimeout, writeTimeout time.Duration
	rdl, wdl                  deadline
	nread, nwritten           int64
	// aborted is set by Abort, from another goroutine. It is checked after
	// a deadline moved, so that moving it cannot undo the abort's.
	aborted atomic.Bool
}

// errAborted is what reads and writes return after Abort.
var errAborted = errors.New("http1: exchange aborted")

func (c *clientIO) Read(p []byte) (int, error) {
	if c.readTimeout > 0 {
		if err := c.rdl.extendRead(c.conn, now(), c.readTimeout); err != nil {
			return 0, err
		}
	} else if c.rdl.at != 0 {
		c.rdl.setRead(c.conn, time.Time{})
	}
	if c.aborted.Load() {
		return 0, errAborted
	}
	n, err := c.conn.Read(p)
	c.nread += int64(n)
	return n, err
}

func (c *clientIO) Write(p []byte) (int, error) {
	if c.writeTimeout > 0 {
		if err := c.wdl.extendWrite(c.conn, now(), c.writeTimeout); err != nil {
			return 0, err
		}
	} else if c.wdl.at != 0 {
		c.wdl.setWrite(c.conn, time.Time{})
	}
	if c.aborted.Load() {
		return 0, errAborted
	}
	n, err := c.conn.Write(p)
	c.nwritten += int64(n)
	return n, err
}

// copyBuffers are the buffers bodies are copied through.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
