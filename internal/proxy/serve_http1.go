package proxy

import (
	"bufio"
	"context"
	"net"

	"github.com/gantry-gw/gantry/internal/proxy/http1"
)

// NewHTTP1Server returns a server of the HTTP/1.1 engine that proxies
// through p, for a plain listener; its connections count in /status and
// /metrics. The caller sets its limits and serves it.
func (p *Proxy) NewHTTP1Server() *http1.Server {
	s := &http1.Server{Handler: p, Logger: p.log}
	p.h1mu.Lock()
	p.h1servers = append(p.h1servers, s)
	p.h1mu.Unlock()
	return s
}

// ServeHTTP1 proxies a request the HTTP/1.1 engine received.
func (p *Proxy) ServeHTTP1(w *http1.ResponseWriter, r *http1.Request) {
	x := p.getExchange()
	x.h1 = h1Downstream{w: w, r: r}
	x.down = &x.h1
	x.in = inbound{
		method:        r.Method,
		host:          r.Host,
		target:        r.Target,
		path:          r.Path,
		query:         r.Query,
		hasQuery:      r.HasQuery,
		protoMajor:    1,
		localPort:     r.LocalPort,
		remoteAddr:    r.RemoteAddr,
		header:        &r.Header,
		contentLength: r.ContentLength,
	}
	if r.ContentLength != 0 {
		x.in.body = r.Body
	}
	x.serve()
	p.putExchange(x)
}

// h1Downstream is the response side of a request the HTTP/1.1 engine
// received. The engine does not watch the client while the request is
// upstream: a client that went away shows when its response is written.
type h1Downstream struct {
	w *http1.ResponseWriter
	r *http1.Request
}

func (d *h1Downstream) header() *http1.Header       { return d.w.Header() }
func (d *h1Downstream) writeHeader(status int)      { d.w.WriteHeader(status) }
func (d *h1Downstream) write(p []byte) (int, error) { return d.w.Write(p) }
func (d *h1Downstream) flush() error                { return d.w.Flush() }
func (d *h1Downstream) setTrailers(h *http1.Header) { d.w.SetTrailer(h) }
func (d *h1Downstream) abort()                      { d.w.Abort() }
func (d *h1Downstream) gone() bool                  { return false }
func (d *h1Downstream) context() context.Context    { return nil }
func (d *h1Downstream) requestTrailers(dst *http1.Header) {
	dst.Fields = append(dst.Fields, d.r.Body.Trailer.Fields...)
}

func (d *h1Downstream) hijack() (net.Conn, *bufio.Reader, error) { return d.w.Hijack() }
