package proxy

import (
	"container/list"
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// Upstream connection pooling, after Kong's upstream_keepalive defaults:
// idle connections live 60 s, and enough of them are kept per upstream
// address that a busy proxy never dials per request.
const (
	upstreamIdleTimeout     = 60 * time.Second
	upstreamIdlePerHost     = 1024
	upstreamMaxResponseHead = 1 << 20
)

// connectTimeoutKey carries a service's connect_timeout to the dialer, so
// that one pool serves services with different timeouts.
type connectTimeoutKey struct{}

// upstreamTransport sends requests to upstreams of one kind: plain HTTP/1.1,
// h2c for gRPC, or TLS with one set of client settings and server name.
type upstreamTransport struct {
	rt *http.Transport
}

// maxNamedTransports bounds the TLS transports kept per server name. With
// preserve_host the server name is the client's Host, which clients
// choose: past the bound, the least recently used one is dropped (its
// requests in flight finish; its idle connections close).
const maxNamedTransports = 1024

// transports shares upstream transports, and so their connection pools,
// between services and across configuration swaps: a swap does not drop
// warm connections.
type transports struct {
	mu    sync.Mutex
	m     map[string]*upstreamTransport
	named map[string]*list.Element // of *namedTransport, by settings and server name
	lru   list.List                // most recently used first
}

// namedTransport is a TLS transport for one server name.
type namedTransport struct {
	key string
	ut  *upstreamTransport
}

func dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 60 * time.Second, KeepAlive: 30 * time.Second}
	if ms, ok := ctx.Value(connectTimeoutKey{}).(int64); ok && ms > 0 {
		d.Timeout = time.Duration(ms) * time.Millisecond
	}
	return d.DialContext(ctx, network, addr)
}

func newHTTPTransport() *http.Transport {
	return &http.Transport{
		DialContext:            dialContext,
		MaxIdleConns:           0,
		MaxIdleConnsPerHost:    upstreamIdlePerHost,
		IdleConnTimeout:        upstreamIdleTimeout,
		DisableCompression:     true,
		MaxResponseHeaderBytes: upstreamMaxResponseHead,
		ExpectContinueTimeout:  time.Second,
		WriteBufferSize:        16 << 10,
		ReadBufferSize:         16 << 10,
	}
}

// get returns the transport for a service (its TLS settings decide) and
// server name.
func (t *transports) get(si *serviceInfo) *upstreamTransport {
	key := si.scheme()
	if si.protocol == "grpc" {
		key = "h2c"
	}
	if si.tlsConfig != nil {
		key = "tls:" + si.tlsKey
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]*upstreamTransport{}
	}
	if ut := t.m[key]; ut != nil {
		return ut
	}
	rt := newHTTPTransport()
	protocols := new(http.Protocols)
	switch {
	case si.protocol == "grpc":
		protocols.SetUnencryptedHTTP2(true)
	case si.protocol == "grpcs":
		protocols.SetHTTP2(true)
		rt.TLSClientConfig = si.tlsConfig.Clone()
	case si.tlsConfig != nil:
		protocols.SetHTTP1(true)
		rt.TLSClientConfig = si.tlsConfig.Clone()
	default:
		protocols.SetHTTP1(true)
	}
	rt.Protocols = protocols
	ut := &upstreamTransport{rt: rt}
	t.m[key] = ut
	return ut
}

// withServerName returns the transport to use when the upstream's TLS
// server name must be name: TLS transports are kept per server name so
// that pooled connections are never reused for another name.
func (t *transports) withServerName(ut *upstreamTransport, key, name string) *upstreamTransport {
	if ut.rt.TLSClientConfig == nil || ut.rt.TLSClientConfig.ServerName == name {
		return ut
	}
	full := "tls:" + key + "\x00" + name
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.named[full]; e != nil {
		t.lru.MoveToFront(e)
		return e.Value.(*namedTransport).ut
	}
	rt := ut.rt.Clone()
	cfg := ut.rt.TLSClientConfig.Clone()
	cfg.ServerName = name
	rt.TLSClientConfig = cfg
	named := &upstreamTransport{rt: rt}
	if t.named == nil {
		t.named = map[string]*list.Element{}
	}
	t.named[full] = t.lru.PushFront(&namedTransport{key: full, ut: named})
	if t.lru.Len() > maxNamedTransports {
		old := t.lru.Remove(t.lru.Back()).(*namedTransport)
		delete(t.named, old.key)
		old.ut.rt.CloseIdleConnections()
	}
	return named
}

// closeIdle closes every pooled upstream connection (at shutdown).
func (t *transports) closeIdle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ut := range t.m {
		ut.rt.CloseIdleConnections()
	}
	for e := t.lru.Front(); e != nil; e = e.Next() {
		e.Value.(*namedTransport).ut.rt.CloseIdleConnections()
	}
}
