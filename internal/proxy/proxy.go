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
	"io"
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
	connections connstate.Counter
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
// http.Server.ConnState.
func (p *Proxy) ConnState(c net.Conn, state http.ConnState) {
	p.connections.Track(c, state)
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
)

// respond writes a response Gantry generated itself, as Kong does: a JSON
// body with a message, Server when server_tokens is on, and
// X-Kong-Response-Latency (the time since start, the request's arrival)
// when latency_tokens is.
func (p *Proxy) respond(w http.ResponseWriter, start time.Time, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	if p.headers.Server {
		h.Set("Server", p.server)
	}
	if p.headers.ResponseLatency {
		h.Set("X-Kong-Response-Latency", strconv.FormatInt(time.Since(start).Milliseconds(), 10))
	}
	body := `{"message":` + strconv.Quote(msg) + "}\n"
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	io.WriteString(w, body)
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
