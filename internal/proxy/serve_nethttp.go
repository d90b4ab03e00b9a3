package proxy

import (
	"bufio"
	"context"
	"maps"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strings"

	"github.com/gantry-gw/gantry/internal/proxy/http1"
)

// ServeHTTP proxies a request net/http received: TLS listeners (HTTP/2
// and HTTP/1.1) and h2c ones. When the upstream breaks off a response body
// already under way, it panics with http.ErrAbortHandler so that the server
// cuts the connection or stream rather than end the response as if it were
// complete.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := p.getExchange()
	defer p.putExchange(x)
	x.std = stdDownstream{w: w, r: r}
	x.down = &x.std
	h := &x.std.in
	for _, k := range slices.Sorted(maps.Keys(r.Header)) {
		for _, v := range r.Header[k] {
			h.Add(k, v)
		}
	}
	x.in = inbound{
		method:        r.Method,
		host:          r.Host,
		target:        r.RequestURI,
		query:         r.URL.RawQuery,
		hasQuery:      r.URL.RawQuery != "" || r.URL.ForceQuery,
		protoMajor:    r.ProtoMajor,
		remoteAddr:    r.RemoteAddr,
		header:        h,
		contentLength: r.ContentLength,
		body:          r.Body,
	}
	if strings.HasPrefix(r.RequestURI, "/") {
		x.in.path, _, _ = strings.Cut(r.RequestURI, "?")
	} else {
		x.in.path = r.URL.EscapedPath()
		x.in.target = r.URL.RequestURI()
	}
	if r.TLS != nil {
		x.in.tls, x.in.sni = true, r.TLS.ServerName
	}
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr); ok {
		x.in.localPort = addr.Port
	}
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		x.in.body, x.in.contentLength = nil, 0
	}
	x.serve()
}

// stdDownstream is the response side of a request net/http received. The
// core's response header is kept in out and handed to net/http at
// writeHeader.
type stdDownstream struct {
	w   http.ResponseWriter
	r   *http.Request
	in  http1.Header
	out http1.Header
}

func (d *stdDownstream) header() *http1.Header { return &d.out }

func (d *stdDownstream) writeHeader(status int) {
	h := d.w.Header()
	for _, f := range d.out.Fields {
		k := textproto.CanonicalMIMEHeaderKey(f.Name)
		h[k] = append(h[k], f.Value)
	}
	if _, ok := h["Content-Type"]; !ok {
		h["Content-Type"] = nil // the server would sniff one the upstream never sent
	}
	d.w.WriteHeader(status)
}

func (d *stdDownstream) write(p []byte) (int, error) { return d.w.Write(p) }

func (d *stdDownstream) flush() error { return http.NewResponseController(d.w).Flush() }

func (d *stdDownstream) setTrailers(t *http1.Header) {
	h := d.w.Header()
	for _, f := range t.Fields {
		k := http.TrailerPrefix + textproto.CanonicalMIMEHeaderKey(f.Name)
		h[k] = append(h[k], f.Value)
	}
}

func (d *stdDownstream) abort() {
	http.NewResponseController(d.w).Flush()
	panic(http.ErrAbortHandler)
}

func (d *stdDownstream) hijack() (net.Conn, *bufio.Reader, error) {
	conn, brw, err := http.NewResponseController(d.w).Hijack()
	if err != nil {
		return nil, nil, err
	}
	return conn, brw.Reader, nil
}

func (d *stdDownstream) gone() bool { return d.r.Context().Err() != nil }

func (d *stdDownstream) context() context.Context { return d.r.Context() }

func (d *stdDownstream) requestTrailers(dst *http1.Header) {
	for _, k := range slices.Sorted(maps.Keys(d.r.Trailer)) {
		for _, v := range d.r.Trailer[k] {
			dst.Add(k, v)
		}
	}
}
