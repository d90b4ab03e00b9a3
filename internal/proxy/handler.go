package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-gw/gantry/internal/proxy/balancer"
	"github.com/gantry-gw/gantry/internal/proxy/router"
)

// maxReplayBody is the largest request body kept in memory so that a
// failed attempt can be retried on another target; larger bodies stream
// through and are sent once.
const maxReplayBody = 64 << 10

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// errUpstreamTimeout reports that a phase of an attempt (connecting,
// writing the request, waiting for or reading the response) outlasted the
// service's timeout for it.
var errUpstreamTimeout = errors.New("upstream timeout")

// hopHeaders are the hop-by-hop headers a proxy must not forward
// (RFC 9110 §7.6.1).
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// ServeHTTP proxies one request through the current Runtime. When the
// upstream breaks off a response body already under way, it panics with
// http.ErrAbortHandler so that the server cuts the connection or stream
// rather than end the response as if it were complete.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	p.requests.Add(1)
	rt := p.current.Load()
	if rt == nil || rt.router == nil {
		p.metrics.noRoute.count(http.StatusNotFound)
		p.respond(w, start, http.StatusNotFound, msgNoRoute)
		return
	}
	req := router.Request{
		TLS:       r.TLS != nil,
		GRPC:      isGRPC(r),
		WebSocket: isWebSocket(r),
		Method:    r.Method,
		Host:      r.Host,
		Port:      localPort(r),
		Path:      r.URL.EscapedPath(),
		Header:    r.Header,
	}
	if r.TLS != nil {
		req.SNI = r.TLS.ServerName
	}
	if _, ok := router.NormalizePath(req.Path); !ok {
		p.metrics.noRoute.count(http.StatusBadRequest)
		p.respond(w, start, http.StatusBadRequest, msgBadRequest)
		return
	}
	var m router.Match
	if !rt.router.Match(&req, &m) {
		p.metrics.noRoute.count(http.StatusNotFound)
		p.respond(w, start, http.StatusNotFound, msgNoRoute)
		return
	}
	ri := rt.routes[m.Route.Index]
	if m.Redirect {
		p.redirect(w, r, ri, start)
		return
	}
	if ri.service == nil {
		ri.metrics.count(http.StatusServiceUnavailable)
		p.respond(w, start, http.StatusServiceUnavailable, msgNoService)
		return
	}
	p.forward(w, r, ri, &m, start)
}

// redirect answers a request that matched a route on everything but its
// protocol: Kong's https_redirect_status_code.
func (p *Proxy) redirect(w http.ResponseWriter, r *http.Request, ri *routeInfo, start time.Time) {
	ri.metrics.count(ri.redirectStatus)
	if ri.redirectStatus == http.StatusUpgradeRequired {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "TLS/1.2, HTTP/1.1")
		p.respond(w, start, http.StatusUpgradeRequired, msgUseHTTPS)
		return
	}
	target := r.RequestURI
	if !strings.HasPrefix(target, "/") {
		target = r.URL.RequestURI() // absolute form, or HTTP/2 without a path
	}
	w.Header().Set("Location", "https://"+hostName(r.Host)+target)
	p.respond(w, start, ri.redirectStatus, "Moved")
}

func isGRPC(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
}

func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		headerHasToken(r.Header, "Connection", "upgrade")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// hostName is nginx's $host for a Host header: lower-case, without its
// port.
func hostName(host string) string {
	if name, _, err := net.SplitHostPort(host); err == nil {
		host = name
		if strings.Contains(name, ":") {
			host = "[" + name + "]"
		}
	}
	return strings.ToLower(host)
}

// receivedPath is the request's path as the client sent it, without the
// query: nginx's $request_uri up to "?", which Kong sends as
// X-Forwarded-Path.
func receivedPath(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/") {
		path, _, _ := strings.Cut(r.RequestURI, "?")
		return path
	}
	return r.URL.EscapedPath()
}

// localPort is the port the request arrived on.
func localPort(r *http.Request) int {
	addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return 0
	}
	if ta, ok := addr.(*net.TCPAddr); ok {
		return ta.Port
	}
	return 0
}

// attempt is one try of a request against one upstream address.
type attempt struct {
	addr, host string
	pick       *balancer.Pick
}

// forward sends the request to the route's service, retrying on another
// target when the failure allows it, and streams the response back.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, ri *routeInfo, m *router.Match, start time.Time) {
	svc := ri.service
	upstreamPath := m.UpstreamPath(svc.path)
	body, err := readRequestBody(r, ri)
	if err != nil {
		ri.metrics.count(http.StatusBadRequest)
		p.respond(w, start, http.StatusBadRequest, msgBadRequest)
		return
	}

	var in *balancer.HashInput
	if svc.upstream != nil {
		in = hashInput(r, m)
	}
	var tried []string
	var setCookie string
	var res *http.Response
	var upstreamStart time.Time
	var cancel context.CancelCauseFunc
	var timer *attemptTimer
	for try := 0; ; try++ {
		at, status, msg := p.target(svc, in, tried)
		if at.pick != nil {
			setCookie = at.pick.SetCookie
		}
		if status != 0 {
			ri.metrics.count(status)
			p.respond(w, start, status, msg)
			return
		}
		tried = append(tried, at.addr)
		out, ti, c := p.upstreamRequest(r, ri, m, at, upstreamPath, body)
		upstreamStart = time.Now()
		res, err = svc.transportFor(p, out.Host).rt.RoundTrip(out)
		ti.answered()
		if err == nil {
			cancel, timer = c, ti
			if at.pick != nil {
				at.pick.Done(balancer.Outcome{Status: res.StatusCode, Latency: time.Since(upstreamStart)})
			}
			break
		}
		if context.Cause(out.Context()) == errUpstreamTimeout {
			err = errUpstreamTimeout
		}
		c(nil)
		if at.pick != nil {
			at.pick.Done(balancer.Outcome{Err: err, Timeout: errors.Is(err, errUpstreamTimeout) || isTimeout(err), Latency: time.Since(upstreamStart)})
		}
		if r.Context().Err() != nil {
			ri.metrics.count(499)
			return // the client went away
		}
		if try < svc.retries && retryable(err, r.Method, ti.sent(), !body.used()) {
			continue
		}
		status, msg = errStatus(err)
		p.log.Debug("upstream request failed", "route", ri.name, "service", svc.name, "addr", at.addr, "err", err)
		ri.metrics.count(status)
		p.respond(w, start, status, msg)
		return
	}
	defer cancel(nil)
	defer timer.stop()
	upstreamLatency := time.Since(upstreamStart)

	if res.StatusCode == http.StatusSwitchingProtocols {
		p.tunnel(w, res, ri, start)
		return
	}
	defer res.Body.Close()

	h := w.Header()
	for k, vs := range res.Header {
		h[k] = vs
	}
	if _, ok := res.Header["Content-Type"]; !ok {
		h["Content-Type"] = nil // the server would sniff one the upstream never sent
	}
	removeHopHeaders(h, res.Header)
	if p.headers.Via {
		appendVia(h, p.via)
	}
	proxyLatency := upstreamStart.Sub(start)
	if p.headers.UpstreamLatency {
		h.Set("X-Kong-Upstream-Latency", strconv.FormatInt(upstreamLatency.Milliseconds(), 10))
	}
	if p.headers.ProxyLatency {
		h.Set("X-Kong-Proxy-Latency", strconv.FormatInt(proxyLatency.Milliseconds(), 10))
	}
	if p.headers.UpstreamStatus {
		h.Set("X-Kong-Upstream-Status", strconv.Itoa(res.StatusCode))
	}
	if setCookie != "" {
		h.Add("Set-Cookie", setCookie)
	}
	announceTrailers(h, res)
	w.WriteHeader(res.StatusCode)

	flush := !ri.responseBuffer || res.ContentLength == -1 || isStreaming(res)
	copyErr := copyBody(w, &timedResponseBody{r: res.Body, a: timer}, flush)
	for k, vs := range res.Trailer {
		h[http.TrailerPrefix+k] = vs
	}
	ri.metrics.count(res.StatusCode)
	ri.metrics.upstream.observe(upstreamLatency)
	ri.metrics.proxy.observe(proxyLatency)
	ri.metrics.total.observe(time.Since(start))
	if copyErr != nil {
		// The upstream (or the client) broke off the body. Ending the
		// handler normally would let the server end a chunked body
		// cleanly and pass the truncated response off as complete.
		// What arrived is flushed, then aborting closes the connection
		// (HTTP/1.1) or resets the stream (HTTP/2), as nginx does.
		p.log.Debug("response body copy ended early", "route", ri.name, "err", copyErr)
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
}

// hashInput is what the upstream's hash_on may read from a request; it is
// built once per request so that retries hash the same way.
func hashInput(r *http.Request, m *router.Match) *balancer.HashInput {
	return &balancer.HashInput{
		ClientIP: clientIP(r),
		// Several values of a header join with ", ", as nginx's $http_
		// variables do.
		Header: func(name string) string { return strings.Join(r.Header.Values(name), ", ") },
		Cookie: func(name string) (string, bool) {
			c, err := r.Cookie(name)
			if err != nil {
				return "", false
			}
			return c.Value, true
		},
		Path: m.Path,
		// Several values of a query argument are sorted and joined with
		// ",", as Kong does.
		Query: func(name string) string {
			vals := slices.Clone(r.URL.Query()[name])
			slices.Sort(vals)
			return strings.Join(vals, ",")
		},
		Captures: m.Captures,
	}
}

// target picks where the next attempt goes: a balancer pick for a service
// whose host names an upstream, else the service's host and port. A
// non-zero status means no target is available.
func (p *Proxy) target(svc *serviceInfo, in *balancer.HashInput, tried []string) (attempt, int, string) {
	if svc.upstream == nil {
		return attempt{addr: hostPort(svc.host, svc.port), host: svc.host}, 0, ""
	}
	pick, err := svc.upstream.Pick(in, tried)
	if err != nil {
		return attempt{}, http.StatusServiceUnavailable, msgUnavailable
	}
	host := pick.Host
	if host == "" {
		host, _, _ = net.SplitHostPort(pick.Addr)
	}
	return attempt{addr: pick.Addr, host: host, pick: &pick}, 0, ""
}

// transportFor picks the transport of an attempt: TLS transports are kept
// per server name. The server name (SNI, and the name the certificate is
// verified against) is the Host header sent upstream without its port, as
// Kong's proxy_ssl_name $upstream_host: the target's or service's name,
// or the client's Host with preserve_host.
func (s *serviceInfo) transportFor(p *Proxy, host string) *upstreamTransport {
	if s.tlsConfig == nil {
		return s.transport
	}
	return p.transports.withServerName(s.transport, s.tlsKey, hostName(host))
}

// upstreamRequest builds the request for one attempt, with its context
// carrying the connect timeout to the dialer and a timer that cancels it
// with errUpstreamTimeout when a phase of the attempt outlasts the service's
// timeout for it.
func (p *Proxy) upstreamRequest(r *http.Request, ri *routeInfo, m *router.Match, at attempt, path string,
	body *requestBodyState) (*http.Request, *attemptTimer, context.CancelCauseFunc) {
	svc := ri.service
	ctx, cancel := context.WithCancelCause(context.WithValue(r.Context(), connectTimeoutKey{}, svc.connectTimeout))
	timer := newAttemptTimer(svc, cancel)
	ctx = httptrace.WithClientTrace(ctx, timer.trace())
	out := r.Clone(ctx)
	out.RequestURI = ""
	out.URL.Scheme = svc.scheme()
	out.URL.Host = at.addr
	// Opaque is sent as it is: the path keeps the encoding the router gave
	// it.
	out.URL.Opaque, out.URL.Path, out.URL.RawPath = path, "", ""
	body.attach(out, timer)
	out.Close = false

	h := out.Header
	upgrade := isWebSocket(r)
	removeHopHeaders(h, r.Header)
	if upgrade {
		h.Set("Connection", "Upgrade")
		h.Set("Upgrade", r.Header.Get("Upgrade"))
	}
	if isGRPC(r) {
		h.Set("Te", "trailers")
	}
	if ri.preserveHost {
		out.Host = r.Host
	} else {
		out.Host = upstreamHost(svc, at)
	}
	ip := clientIP(r)
	if prior := r.Header.Values("X-Forwarded-For"); len(prior) > 0 {
		h.Set("X-Forwarded-For", strings.Join(prior, ", ")+", "+ip)
	} else {
		h.Set("X-Forwarded-For", ip)
	}
	h.Set("X-Real-IP", ip)
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	h.Set("X-Forwarded-Proto", scheme)
	// As Kong without trusted_ips: the host is nginx's $host and the port
	// the one the request arrived on, whatever port the Host header names.
	h.Set("X-Forwarded-Host", hostName(r.Host))
	h.Set("X-Forwarded-Port", strconv.Itoa(localPort(r)))
	h.Set("X-Forwarded-Path", receivedPath(r))
	if m.Route.StripPath && m.Prefix != "" && m.Prefix != "/" {
		h.Set("X-Forwarded-Prefix", m.Prefix)
	} else {
		h.Del("X-Forwarded-Prefix")
	}
	if p.headers.Via {
		appendVia(h, p.via)
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = nil // no Go default user agent
	}
	return out, timer, cancel
}

// upstreamHost is the Host header sent upstream without preserve_host:
// the service's host, or the picked target's name, with the port when it
// is not the scheme's default.
func upstreamHost(svc *serviceInfo, at attempt) string {
	host := svc.host
	port := strconv.Itoa(svc.port)
	if at.pick != nil {
		host = at.host
		if _, p, err := net.SplitHostPort(at.addr); err == nil {
			port = p
		}
	}
	if (svc.scheme() == "http" && port == "80") || (svc.scheme() == "https" && port == "443") {
		return host
	}
	return net.JoinHostPort(host, port)
}

// requestBodyState is the body of a request across attempts: kept in
// memory when the route buffers requests and it is small enough to send
// again, otherwise streamed once from the client.
type requestBodyState struct {
	buffered []byte
	stream   *onceBody
	empty    bool
}

// readRequestBody prepares r's body for forwarding.
func readRequestBody(r *http.Request, ri *routeInfo) (*requestBodyState, error) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return &requestBodyState{empty: true}, nil
	}
	if !ri.requestBuffer || r.ContentLength < 0 || r.ContentLength > maxReplayBody || isWebSocket(r) || isGRPC(r) {
		return &requestBodyState{stream: &onceBody{r: r.Body}}, nil
	}
	buf := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(r.Body, buf); err != nil {
		return nil, err
	}
	return &requestBodyState{buffered: buf}, nil
}

// used reports whether a streamed body has had bytes taken from it, after
// which no other attempt can send it.
func (b *requestBodyState) used() bool { return b.stream != nil && b.stream.read.Load() }

// attach sets out's body for one attempt, timed by the attempt's timer.
func (b *requestBodyState) attach(out *http.Request, timer *attemptTimer) {
	switch {
	case b.empty:
		out.Body, out.ContentLength, out.GetBody = nil, 0, nil
	case b.stream != nil:
		out.Body, out.GetBody = &timedRequestBody{r: b.stream, a: timer}, nil
	default:
		buf := b.buffered
		out.Body = io.NopCloser(bytes.NewReader(buf))
		out.ContentLength = int64(len(buf))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	}
}

// onceBody is a streamed request body that survives the transport closing
// it after a failed attempt, and remembers whether any byte was read.
type onceBody struct {
	r io.Reader
	// read is atomic: a transport may still be reading the body of a
	// failed attempt in its own goroutine when the next attempt is
	// decided.
	read atomic.Bool
}

func (o *onceBody) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	if n > 0 {
		o.read.Store(true)
	}
	return n, err
}

func (o *onceBody) Close() error { return nil }

// retryable reports whether a failed attempt may be retried, by nginx's
// proxy_next_upstream rules that Kong keeps: always when the connection
// was never made; otherwise only when the body can be sent again in full
// and, for a non-idempotent method (POST, LOCK, PATCH), nothing of the
// request was sent, since the upstream may have acted on it.
func retryable(err error, method string, sent, replayable bool) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	if !replayable {
		return false
	}
	switch method {
	case http.MethodPost, http.MethodPatch, "LOCK":
		return !sent
	}
	return true
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }

// clientIP is the address the request came from.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// removeHopHeaders deletes hop-by-hop headers from h, including those the
// Connection header of src names.
func removeHopHeaders(h, src http.Header) {
	for _, v := range src.Values("Connection") {
		for _, name := range strings.Split(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
}

// appendVia adds the proxy's hop to the Via of h, after every hop it
// already lists, in one field.
func appendVia(h http.Header, via string) {
	if prior := h.Values("Via"); len(prior) > 0 {
		h.Set("Via", strings.Join(prior, ", ")+", "+via)
		return
	}
	h.Set("Via", via)
}

// announceTrailers declares the upstream's trailers before the body, so an
// HTTP/1.1 client learns of them and gRPC gets its status.
func announceTrailers(h http.Header, res *http.Response) {
	if len(res.Trailer) == 0 {
		return
	}
	names := make([]string, 0, len(res.Trailer))
	for k := range res.Trailer {
		names = append(names, k)
	}
	h.Set("Trailer", strings.Join(names, ", "))
}

func isStreaming(res *http.Response) bool {
	ct := res.Header.Get("Content-Type")
	return strings.HasPrefix(ct, "text/event-stream") || strings.HasPrefix(ct, "application/grpc")
}

// copyBody streams the response body to the client through a pooled
// buffer, flushing after each chunk when the response must not wait.
func copyBody(w http.ResponseWriter, body io.Reader, flush bool) error {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	var flusher http.Flusher
	if flush {
		flusher, _ = w.(http.Flusher)
	}
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// tunnel completes a protocol switch (WebSocket): it hands the client the
// upstream's 101 response and copies bytes both ways until either side
// closes.
func (p *Proxy) tunnel(w http.ResponseWriter, res *http.Response, ri *routeInfo, start time.Time) {
	backend, ok := res.Body.(io.ReadWriteCloser)
	if !ok {
		res.Body.Close()
		ri.metrics.count(http.StatusBadGateway)
		p.respond(w, start, http.StatusBadGateway, msgBadGateway)
		return
	}
	defer backend.Close()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		ri.metrics.count(http.StatusInternalServerError)
		p.respond(w, start, http.StatusInternalServerError, msgInternal)
		return
	}
	defer conn.Close()
	ri.metrics.count(http.StatusSwitchingProtocols)
	if p.headers.Via {
		appendVia(res.Header, p.via)
	}
	if err := writeSwitchResponse(brw.Writer, res); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(backend, brw.Reader) // the client's buffered bytes first, then the socket
		done <- struct{}{}
	}()
	go func() {
		io.Copy(conn, backend)
		done <- struct{}{}
	}()
	<-done
}

func writeSwitchResponse(w *bufio.Writer, res *http.Response) error {
	if _, err := io.WriteString(w, "HTTP/1.1 101 Switching Protocols\r\n"); err != nil {
		return err
	}
	if err := res.Header.Write(w); err != nil {
		return err
	}
	if _, err := io.WriteString(w, "\r\n"); err != nil {
		return err
	}
	return w.Flush()
}
