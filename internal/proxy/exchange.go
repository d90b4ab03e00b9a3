package proxy

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gantry-gw/gantry/internal/proxy/balancer"
	"github.com/gantry-gw/gantry/internal/proxy/http1"
	"github.com/gantry-gw/gantry/internal/proxy/router"
)

// The proxy core is written once, against two small views of a request:
// inbound (what arrived) and downstream (where the response goes). Each
// server path has an adapter that fills them: serve_http1.go for the
// HTTP/1.1 engine that serves plain listeners, serve_nethttp.go for
// net/http (TLS with HTTP/2, h2c). The upstream side likewise has one
// implementation per protocol behind upstreamResponse (upstream.go):
// the HTTP/1.1 client for http and https services, net/http's Transport
// for gRPC over HTTP/2.

// inbound is what the core knows of a request, whichever server received
// it. Its strings stay valid for the whole exchange.
type inbound struct {
	method string
	// host is the Host header (or :authority), as received.
	host string
	// target is the request-target to send back in a redirect: the
	// origin form as received, or the path and query of another form.
	target string
	// path is the request path as received, percent-encoded, without the
	// query; query follows "?" when hasQuery.
	path       string
	query      string
	hasQuery   bool
	protoMajor int
	tls        bool
	sni        string
	localPort  int
	remoteAddr string
	// header holds the request's fields. Host and the framing fields
	// (Content-Length, Transfer-Encoding) may be among them; the core
	// ignores them.
	header *http1.Header
	// contentLength is the body's length: 0 without one, -1 when unknown.
	contentLength int64
	body          io.Reader
}

// downstream is the response side of an exchange, as a server path
// presents it.
type downstream interface {
	// header is the response header to fill before writeHeader.
	header() *http1.Header
	writeHeader(status int)
	write(p []byte) (int, error)
	flush() error
	// setTrailers gives trailer fields after the body; they are sent if
	// the response's framing can carry them.
	setTrailers(h *http1.Header)
	// abort ends a response that cannot be completed so that the client
	// sees it truncated; it is the last thing the core does (the net/http
	// adapter does not return from it).
	abort()
	// hijack hands over the client connection for a protocol switch,
	// with the reader holding what the client already sent.
	hijack() (net.Conn, *bufio.Reader, error)
	// gone reports whether the client went away.
	gone() bool
	// requestTrailers appends the request body's trailer fields, once the
	// body was read whole.
	requestTrailers(dst *http1.Header)
	// context is the request's context for dials and HTTP/2 upstream
	// requests, and done when the client went away; nil when the server
	// path does not watch the client.
	context() context.Context
}

// exchange is one request in flight through the proxy core. Exchanges are
// pooled: everything a request needs to build lives in one, reused.
type exchange struct {
	p     *Proxy
	start time.Time
	in    inbound
	down  downstream

	rreq      router.Request
	match     router.Match
	hv        headerValues
	grpc      bool // Content-Type: application/grpc...
	websocket bool // a WebSocket upgrade

	body     requestBodyState
	hash     balancer.HashInput
	hashFns  balancer.HashInput // the hash callbacks, bound to this exchange once
	tried    []string
	triedBuf [4]string

	outHeader http1.Header // the request header sent upstream
	outHost   string
	upPath    string
	sent      bool // the request head went to an upstream connection
	res       upstreamResponse
	h2Header  http1.Header // an HTTP/2 upstream's response header
	trailers  http1.Header
	scratch   []string

	portNum  int
	portText string

	// The adapters; down points at one of them.
	h1  h1Downstream
	std stdDownstream
}

var exchanges = sync.Pool{New: func() any { return newExchange() }}

func newExchange() *exchange {
	x := &exchange{}
	x.hv.x = x
	x.hashFns = balancer.HashInput{Header: x.hashHeader, Cookie: x.hashCookie, Query: x.hashQuery}
	return x
}

// getExchange returns a ready exchange for a request that arrived now.
func (p *Proxy) getExchange() *exchange {
	x := exchanges.Get().(*exchange)
	x.p = p
	x.start = time.Now()
	return x
}

// putExchange clears x of the request's references and pools it.
func (p *Proxy) putExchange(x *exchange) {
	x.in = inbound{}
	x.down = nil
	x.rreq = router.Request{}
	x.match = router.Match{}
	x.grpc, x.websocket = false, false
	x.body = requestBodyState{}
	x.hash = balancer.HashInput{}
	clear(x.triedBuf[:])
	x.tried = nil
	x.outHeader.Reset()
	x.outHost, x.upPath, x.sent = "", "", false
	x.res = upstreamResponse{}
	x.h2Header.Reset()
	x.trailers.Reset()
	clear(x.scratch)
	x.scratch = x.scratch[:0]
	x.h1 = h1Downstream{}
	x.std = stdDownstream{}
	exchanges.Put(x)
}

// headerValues gives the router the request's header values (see
// router.Headers).
type headerValues struct {
	x       *exchange
	scratch []string
}

func (h *headerValues) Values(name string) []string {
	h.scratch = h.x.in.header.AppendValues(h.scratch[:0], name)
	return h.scratch
}

// values joins the values of a request header with sep.
func (x *exchange) joined(name, sep string) string {
	x.scratch = x.in.header.AppendValues(x.scratch[:0], name)
	switch len(x.scratch) {
	case 0:
		return ""
	case 1:
		return x.scratch[0]
	}
	return strings.Join(x.scratch, sep)
}

// localPortText is the port the request arrived on, as text; exchanges
// remember the last one, which is almost always the next one's too.
func (x *exchange) localPortText() string {
	if x.portText == "" || x.portNum != x.in.localPort {
		x.portNum = x.in.localPort
		x.portText = itoa(x.in.localPort)
	}
	return x.portText
}

// clientIP is the address the request came from.
func (x *exchange) clientIP() string {
	host, _, err := net.SplitHostPort(x.in.remoteAddr)
	if err != nil {
		return x.in.remoteAddr
	}
	return host
}

func (x *exchange) isGRPC() bool {
	return strings.HasPrefix(x.in.header.Value("Content-Type"), "application/grpc")
}

func (x *exchange) isWebSocket() bool {
	return http1.EqualFold(x.in.header.Value("Upgrade"), "websocket") && x.in.header.HasToken("Connection", "upgrade")
}

// requestContext is the context of dials and HTTP/2 upstream requests.
func (x *exchange) requestContext() context.Context {
	if ctx := x.down.context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// hashHeader is HashInput.Header: several values of a header join with
// ", ", as nginx's $http_ variables do.
func (x *exchange) hashHeader(name string) string { return x.joined(name, ", ") }

// hashCookie is HashInput.Cookie, read the way net/http reads cookies.
func (x *exchange) hashCookie(name string) (string, bool) {
	r := http.Request{Header: http.Header{"Cookie": x.in.header.AppendValues(nil, "Cookie")}}
	c, err := r.Cookie(name)
	if err != nil {
		return "", false
	}
	return c.Value, true
}

// hashQuery is HashInput.Query: several values of a query argument are
// sorted and joined with ",", as Kong does.
func (x *exchange) hashQuery(name string) string {
	return sortedQueryValues(x.in.query, name)
}
