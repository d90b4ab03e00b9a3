package proxy

import (
	"container/list"
	"net/http"
	"sync"
	"time"

	"github.com/gantry-gw/gantry/internal/proxy/http1"
)

// Upstream connection pooling, after Kong's upstream_keepalive defaults:
// idle connections live 60 s, and enough of them are kept per upstream
// address that a busy proxy never dials per request.
const (
	upstreamIdleTimeout     = 60 * time.Second
	upstreamIdlePerHost     = 1024
	upstreamMaxResponseHead = 1 << 20
)

// maxNamedTransports bounds the TLS clients kept per server name. With
// preserve_host the server name is the client's Host, which clients
// choose: past the bound, the least recently used one is dropped (its
// requests in flight finish; its idle connections close).
const maxNamedTransports = 1024

// transports shares the upstream clients, and so their connection pools,
// between services and across configuration swaps: a swap does not drop
// warm connections. HTTP/1.1 upstreams (http, https, ws, wss) go through
// the http1 client, one for plain connections and one per TLS settings and
// server name; gRPC (h2c, and HTTP/2 over TLS) through net/http's
// Transport.
type transports struct {
	plain *http1.Client // set by New, never changes

	mu    sync.Mutex
	h2    map[string]*http.Transport
	named map[string]*list.Element // of *namedUpstream, by settings and server name
	lru   list.List                // most recently used first
}

// namedUpstream is a TLS client for one server name.
type namedUpstream struct {
	key string
	h1  *http1.Client
	h2  *http.Transport
}

func newHTTP1Client() *http1.Client {
	return &http1.Client{
		MaxIdlePerAddr:  upstreamIdlePerHost,
		IdleTimeout:     upstreamIdleTimeout,
		MaxResponseHead: upstreamMaxResponseHead,
	}
}

func newHTTPTransport() *http.Transport {
	return &http.Transport{
		DialContext:            dialContext,
		MaxIdleConns:           0,
		MaxIdleConnsPerHost:    upstreamIdlePerHost,
		IdleConnTimeout:        upstreamIdleTimeout,
		DisableCompression:     true,
		MaxResponseHeaderBytes: upstreamMaxResponseHead,
		WriteBufferSize:        16 << 10,
		ReadBufferSize:         16 << 10,
	}
}

// http2Base returns the HTTP/2 transport of a gRPC service (nil for the
// others), shared by every service with the same TLS settings.
func (t *transports) http2Base(si *serviceInfo) *http.Transport {
	var key string
	switch si.protocol {
	case "grpc":
		key = "h2c"
	case "grpcs":
		key = "tls:" + si.tlsKey
	default:
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.h2 == nil {
		t.h2 = map[string]*http.Transport{}
	}
	if rt := t.h2[key]; rt != nil {
		return rt
	}
	rt := newHTTPTransport()
	protocols := new(http.Protocols)
	if si.protocol == "grpc" {
		protocols.SetUnencryptedHTTP2(true)
	} else {
		protocols.SetHTTP2(true)
		rt.TLSClientConfig = si.tlsConfig.Clone()
	}
	rt.Protocols = protocols
	t.h2[key] = rt
	return rt
}

// http1For returns the HTTP/1.1 client of an attempt. The server name
// (SNI, and the name the certificate is verified against) is the Host
// header sent upstream without its port, as Kong's proxy_ssl_name
// $upstream_host: the target's or service's name, or the client's Host
// with preserve_host. TLS clients are kept per server name so that pooled
// connections are never reused for another name.
func (t *transports) http1For(si *serviceInfo, name string) *http1.Client {
	if si.tlsConfig == nil {
		return t.plain
	}
	return t.namedClient("h1:"+si.tlsKey+"\x00"+name, func() *namedUpstream {
		c := newHTTP1Client()
		c.TLSConfig = si.tlsConfig.Clone()
		c.TLSConfig.ServerName = name
		return &namedUpstream{h1: c}
	}).h1
}

// http2For returns the HTTP/2 transport of an attempt: for TLS, the
// service's transport for the server name (see http1For).
func (t *transports) http2For(si *serviceInfo, name string) *http.Transport {
	if si.tlsConfig == nil || si.h2.TLSClientConfig.ServerName == name {
		return si.h2
	}
	return t.namedClient("h2:"+si.tlsKey+"\x00"+name, func() *namedUpstream {
		rt := si.h2.Clone()
		rt.TLSClientConfig.ServerName = name
		return &namedUpstream{h2: rt}
	}).h2
}

// namedClient returns the client kept under key, made by create when there
// is none, and drops the least recently used one past the bound.
func (t *transports) namedClient(key string, create func() *namedUpstream) *namedUpstream {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.named[key]; e != nil {
		t.lru.MoveToFront(e)
		return e.Value.(*namedUpstream)
	}
	n := create()
	n.key = key
	if t.named == nil {
		t.named = map[string]*list.Element{}
	}
	t.named[key] = t.lru.PushFront(n)
	if t.lru.Len() > maxNamedTransports {
		old := t.lru.Remove(t.lru.Back()).(*namedUpstream)
		delete(t.named, old.key)
		old.closeIdle()
	}
	return n
}

func (n *namedUpstream) closeIdle() {
	if n.h1 != nil {
		n.h1.CloseIdle(true)
	}
	if n.h2 != nil {
		n.h2.CloseIdleConnections()
	}
}

// closeIdle closes every pooled upstream connection (at shutdown).
func (t *transports) closeIdle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.plain != nil {
		t.plain.CloseIdle(true)
	}
	for _, rt := range t.h2 {
		rt.CloseIdleConnections()
	}
	for e := t.lru.Front(); e != nil; e = e.Next() {
		e.Value.(*namedUpstream).closeIdle()
	}
}
