// Package proxy is the data plane's request path: it compiles a declarative
// configuration into an immutable Runtime (router, services, balancers,
// certificates) and serves HTTP, HTTPS, HTTP/2, gRPC and WebSocket traffic
// through whichever Runtime is current. A new configuration is compiled off
// the request path and swapped in atomically; requests in flight finish on
// the Runtime they started with; a configuration that cannot run is
// refused whole and the old one keeps serving.
package proxy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-gw/gantry/internal/connstate"
	"github.com/gantry-gw/gantry/internal/declarative"
	"github.com/gantry-gw/gantry/internal/proxy/http1"
	"github.com/gantry-gw/gantry/internal/version"
)

// Headers selects the headers Gantry adds to responses, after Kong's
// `headers` setting.
type Headers struct {
	Server          bool // Server on responses Gantry generates itself
	Via             bool // Via on proxied responses
	ProxyLatency    bool // X-Kong-Proxy-Latency
	UpstreamLatency bool // X-Kong-Upstream-Latency
	ResponseLatency bool // X-Kong-Response-Latency on responses Gantry generates
	UpstreamStatus  bool // X-Kong-Upstream-Status
}

// HeadersFromSetting reads Kong's headers setting: the groups
// server_tokens and latency_tokens, single header names, or off.
func HeadersFromSetting(tokens []string) Headers {
	var h Headers
	for _, t := range tokens {
		switch strings.ToLower(t) {
		case "server_tokens":
			h.Server, h.Via = true, true
		case "latency_tokens":
			h.ProxyLatency, h.UpstreamLatency, h.ResponseLatency = true, true, true
		case "server":
			h.Server = true
		case "via":
			h.Via = true
		case "x-kong-proxy-latency":
			h.ProxyLatency = true
		case "x-kong-upstream-latency":
			h.UpstreamLatency = true
		case "x-kong-response-latency":
			h.ResponseLatency = true
		case "x-kong-upstream-status":
			h.UpstreamStatus = true
		}
	}
	return h
}

// Options configure a Proxy.
type Options struct {
	Logger  *slog.Logger
	Headers Headers
}

// Proxy serves traffic through the current Runtime.
type Proxy struct {
	log     *slog.Logger
	headers Headers
	via     string
	server  string

	current    atomic.Pointer[Runtime]
	applyMu    sync.Mutex
	transports transports
	metrics    *metricsRegistry
	defaultTLS *tls.Certificate

	requests    atomic.Uint64
	connections connstate.Counter // of the net/http servers

	h1mu      sync.Mutex
	h1servers []*http1.Server
}

// New returns a Proxy with no configuration: it answers 404 to everything
// and is not ready until Apply succeeds.
func New(opts Options) (*Proxy, error) {
	cert, err := defaultCertificate()
	if err != nil {
		return nil, fmt.Errorf("make the default TLS certificate: %w", err)
	}
	p := &Proxy{
		log:        opts.Logger,
		headers:    opts.Headers,
		via:        "1.1 gantry/" + version.Gantry,
		server:     "gantry/" + version.Gantry,
		metrics:    newMetricsRegistry(),
		defaultTLS: cert,
	}
	p.transports.plain = newHTTP1Client()
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	return p, nil
}

// Apply compiles cfg and, when it compiles, makes it the configuration
// every new request is served with. On error nothing changes.
func (p *Proxy) Apply(cfg *declarative.Config) error {
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	prev := p.current.Load()
	rt, err := p.compile(cfg, prev)
	if err != nil {
		return err
	}
	rt.balancers.Start()
	p.current.Store(rt)
	if prev != nil {
		prev.balancers.Stop()
	}
	p.metrics.keep(rt)
	return nil
}

// Current returns the Runtime being served, or nil before the first Apply.
func (p *Proxy) Current() *Runtime { return p.current.Load() }

// Ready reports whether the proxy serves a non-empty configuration, the
// condition of Kong's /status/ready.
func (p *Proxy) Ready() bool {
	rt := p.current.Load()
	return rt != nil && rt.entities > 0
}

// Close stops health checks and closes idle upstream connections.
func (p *Proxy) Close() {
	p.applyMu.Lock()
	defer p.applyMu.Unlock()
	if rt := p.current.Load(); rt != nil {
		rt.balancers.Stop()
	}
	p.transports.closeIdle()
}

// GetCertificate picks the certificate for a TLS handshake from the
// current configuration's SNIs, or the default certificate.
func (p *Proxy) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if rt := p.current.Load(); rt != nil {
		if c := rt.certs.lookup(hello); c != nil {
			return c, nil
		}
	}
	return p.defaultTLS, nil
}

// ConnState counts connections for the status endpoint; pass it to
// http.Server.ConnState. Servers made by NewHTTP1Server count their own.
func (p *Proxy) ConnState(c net.Conn, state http.ConnState) {
	p.connections.Track(c, state)
}

// connCounts adds up the connections of every proxy listener.
func (p *Proxy) connCounts() connstate.Counts {
	c := p.connections.Counts()
	p.h1mu.Lock()
	defer p.h1mu.Unlock()
	for _, s := range p.h1servers {
		n := s.ConnCounts()
		c.Accepted += n.Accepted
		c.Active += n.Open
		c.Waiting += n.Idle
		c.Writing += n.Open - n.Idle
	}
	return c
}

// Kong's bodies for the responses the proxy generates itself.
const (
	msgNoRoute     = "no Route matched with those values"
	msgNoService   = "no Service found with those values"
	msgBadRequest  = "Bad request"
	msgBadGateway  = "An invalid response was received from the upstream server"
	msgUnavailable = "failure to get a peer from the ring-balancer"
	msgTimeout     = "The upstream server is timing out"
	msgUseHTTPS    = "Please use HTTPS protocol"
	msgInternal    = "An unexpected error occurred"
	msgMoved       = "Moved"
)

// generatedBodies are the JSON bodies of the responses the proxy
// generates, with their Content-Length, made once.
var generatedBodies = func() map[string]generatedBody {
	m := map[string]generatedBody{}
	for _, msg := range []string{msgNoRoute, msgNoService, msgBadRequest, msgBadGateway, msgUnavailable,
		msgTimeout, msgUseHTTPS, msgInternal, msgMoved} {
		m[msg] = newGeneratedBody(msg)
	}
	return m
}()

type generatedBody struct {
	body   []byte
	length string
}

func newGeneratedBody(msg string) generatedBody {
	body := `{"message":` + strconv.Quote(msg) + "}\n"
	return generatedBody{body: []byte(body), length: strconv.Itoa(len(body))}
}

// respond writes a response Gantry generated itself, as Kong does: a JSON
// body with a message, Server when server_tokens is on, and
// X-Kong-Response-Latency (the time since the request arrived) when
// latency_tokens is.
func (x *exchange) respond(status int, msg string) {
	p := x.p
	h := x.down.header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	if p.headers.Server {
		h.Set("Server", p.server)
	}
	if p.headers.ResponseLatency {
		h.Set("X-Kong-Response-Latency", strconv.FormatInt(time.Since(x.start).Milliseconds(), 10))
	}
	body, ok := generatedBodies[msg]
	if !ok {
		body = newGeneratedBody(msg)
	}
	h.Set("Content-Length", body.length)
	x.down.writeHeader(status)
	x.down.write(body.body)
}

// errStatus maps an upstream failure to Kong's status and message.
func errStatus(err error) (int, string) {
	var ne net.Error
	switch {
	case errors.Is(err, errUpstreamTimeout), errors.As(err, &ne) && ne.Timeout():
		return http.StatusGatewayTimeout, msgTimeout
	default:
		return http.StatusBadGateway, msgBadGateway
	}
}
