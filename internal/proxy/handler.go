package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-gw/gantry/internal/proxy/balancer"
	"github.com/gantry-gw/gantry/internal/proxy/http1"
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

// serve proxies the exchange's request through the current Runtime.
func (x *exchange) serve() {
	p := x.p
	p.requests.Add(1)
	rt := p.current.Load()
	if rt == nil || rt.router == nil {
		p.metrics.noRoute.count(http.StatusNotFound)
		x.respond(http.StatusNotFound, msgNoRoute)
		return
	}
	x.grpc, x.websocket = x.isGRPC(), x.isWebSocket()
	x.rreq = router.Request{
		TLS:       x.in.tls,
		GRPC:      x.grpc,
		WebSocket: x.websocket,
		Method:    x.in.method,
		Host:      x.in.host,
		Port:      x.in.localPort,
		Path:      x.in.path,
		SNI:       x.in.sni,
		Header:    &x.hv,
	}
	if _, ok := router.NormalizePath(x.in.path); !ok {
		p.metrics.noRoute.count(http.StatusBadRequest)
		x.respond(http.StatusBadRequest, msgBadRequest)
		return
	}
	if !rt.router.Match(&x.rreq, &x.match) {
		p.metrics.noRoute.count(http.StatusNotFound)
		x.respond(http.StatusNotFound, msgNoRoute)
		return
	}
	ri := rt.routes[x.match.Route.Index]
	if x.match.Redirect {
		x.redirect(ri)
		return
	}
	if ri.service == nil {
		ri.metrics.count(http.StatusServiceUnavailable)
		x.respond(http.StatusServiceUnavailable, msgNoService)
		return
	}
	x.forward(ri)
}

// redirect answers a request that matched a route on everything but its
// protocol: Kong's https_redirect_status_code.
func (x *exchange) redirect(ri *routeInfo) {
	ri.metrics.count(ri.redirectStatus)
	if ri.redirectStatus == http.StatusUpgradeRequired {
		h := x.down.header()
		h.Set("Connection", "Upgrade")
		h.Set("Upgrade", "TLS/1.2, HTTP/1.1")
		x.respond(http.StatusUpgradeRequired, msgUseHTTPS)
		return
	}
	target := x.in.target
	if !strings.HasPrefix(target, "/") {
		// An absolute form, or HTTP/2 without a path.
		target = x.in.path
		if target == "" {
			target = "/"
		}
		if x.in.hasQuery {
			target += "?" + x.in.query
		}
	}
	x.down.header().Set("Location", "https://"+hostName(x.in.host)+target)
	x.respond(ri.redirectStatus, msgMoved)
}

// hostName is nginx's $host for a Host header: lower-case, without its
// port.
func hostName(host string) string {
	if strings.IndexByte(host, ':') < 0 {
		return strings.ToLower(host)
	}
	if name, _, err := net.SplitHostPort(host); err == nil {
		host = name
		if strings.Contains(name, ":") {
			host = "[" + name + "]"
		}
	}
	return strings.ToLower(host)
}

// attempt is one try of a request against one upstream address.
type attempt struct {
	addr, host string
	pick       *balancer.Pick
}

// forward sends the request to the route's service, retrying on another
// target when the failure allows it, and streams the response back.
func (x *exchange) forward(ri *routeInfo) {
	p, svc := x.p, ri.service
	x.upPath = x.match.UpstreamPath(svc.path)
	if err := x.readRequestBody(ri); err != nil {
		ri.metrics.count(http.StatusBadRequest)
		x.respond(http.StatusBadRequest, msgBadRequest)
		return
	}

	var in *balancer.HashInput
	if svc.upstream != nil {
		x.hash = x.hashFns
		x.hash.ClientIP = x.clientIP()
		x.hash.Path = x.match.Path
		x.hash.Captures = x.match.Captures
		in = &x.hash
	}
	x.tried = x.triedBuf[:0]
	var setCookie string
	var upstreamStart time.Time
	for try := 0; ; try++ {
		at, status, msg := p.target(svc, in, x.tried)
		if at.pick != nil {
			setCookie = at.pick.SetCookie
		}
		if status != 0 {
			ri.metrics.count(status)
			x.respond(status, msg)
			return
		}
		x.tried = append(x.tried, at.addr)
		x.buildUpstreamRequest(ri, at)
		upstreamStart = time.Now()
		err := x.send(svc, at)
		if err == nil {
			if at.pick != nil {
				at.pick.Done(balancer.Outcome{Status: x.res.status, Latency: time.Since(upstreamStart)})
			}
			break
		}
		if at.pick != nil {
			at.pick.Done(balancer.Outcome{Err: err, Timeout: errors.Is(err, errUpstreamTimeout) || isTimeout(err), Latency: time.Since(upstreamStart)})
		}
		if x.down.gone() {
			ri.metrics.count(499)
			return // the client went away
		}
		if try < svc.retries && retryable(err, x.in.method, x.sent, !x.body.used()) {
			continue
		}
		status, msg = errStatus(err)
		p.log.Debug("upstream request failed", "route", ri.name, "service", svc.name, "addr", at.addr, "err", err)
		ri.metrics.count(status)
		x.respond(status, msg)
		return
	}
	upstreamLatency := time.Since(upstreamStart)
	res := &x.res
	if res.status == http.StatusSwitchingProtocols {
		x.tunnel(ri)
		return
	}

	h := x.down.header()
	copyResponseHeader(h, res.header)
	if p.headers.Via {
		appendVia(h, p.via, &x.scratch)
	}
	proxyLatency := upstreamStart.Sub(x.start)
	if p.headers.UpstreamLatency {
		h.Set("X-Kong-Upstream-Latency", strconv.FormatInt(upstreamLatency.Milliseconds(), 10))
	}
	if p.headers.ProxyLatency {
		h.Set("X-Kong-Proxy-Latency", strconv.FormatInt(proxyLatency.Milliseconds(), 10))
	}
	if p.headers.UpstreamStatus {
		h.Set("X-Kong-Upstream-Status", strconv.Itoa(res.status))
	}
	if setCookie != "" {
		h.Add("Set-Cookie", setCookie)
	}
	if names := res.declaredTrailers(); names != "" {
		// Declared before the body, so an HTTP/1.1 client learns of them
		// and gRPC gets its status.
		h.Set("Trailer", names)
	}
	x.down.writeHeader(res.status)

	flush := !ri.responseBuffer || res.contentLength == -1 || isStreaming(res.header)
	copyErr := x.copyResponseBody(flush)
	if copyErr == nil {
		res.trailers(&x.trailers)
		if x.trailers.Len() > 0 {
			x.down.setTrailers(&x.trailers)
		}
	}
	res.finish()
	ri.metrics.count(res.status)
	ri.metrics.upstream.observe(upstreamLatency)
	ri.metrics.proxy.observe(proxyLatency)
	ri.metrics.total.observe(time.Since(x.start))
	if copyErr != nil {
		// The upstream (or the client) broke off the body. Ending the
		// response normally would end a chunked body cleanly and pass the
		// truncated response off as complete. What arrived is flushed,
		// then the connection closes (HTTP/1.1) or the stream is reset
		// (HTTP/2), as nginx does.
		p.log.Debug("response body copy ended early", "route", ri.name, "err", copyErr)
		x.down.abort()
	}
}

// copyResponseBody streams the upstream's body to the client through a
// pooled buffer, flushing after each chunk when the response must not
// wait.
func (x *exchange) copyResponseBody(flush bool) error {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	body := x.res.body
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := x.down.write(buf[:n]); werr != nil {
				return werr
			}
			if flush {
				x.down.flush()
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

// target picks where the next attempt goes: a balancer pick for a service
// whose host names an upstream, else the service's host and port. A
// non-zero status means no target is available.
func (p *Proxy) target(svc *serviceInfo, in *balancer.HashInput, tried []string) (attempt, int, string) {
	if svc.upstream == nil {
		return attempt{addr: svc.addr, host: svc.host}, 0, ""
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

// buildUpstreamRequest prepares the head of one attempt: the client's
// fields without the hop-by-hop ones, the Host the upstream gets, and the
// headers Kong adds (X-Forwarded-*, X-Real-IP, Via).
func (x *exchange) buildUpstreamRequest(ri *routeInfo, at attempt) {
	p, svc := x.p, ri.service
	out := &x.outHeader
	out.Reset()
	in := x.in.header
	conn := x.joined("Connection", ",")
	var forwardedFor, vias []string
	for i := range in.Fields {
		f := &in.Fields[i]
		role := requestFieldRole(f.Name)
		if role == fieldVia && !p.headers.Via {
			role = fieldForward
		}
		switch role {
		case fieldForward:
			if conn == "" || !http1.HasToken(conn, f.Name) {
				out.Fields = append(out.Fields, *f)
			}
		case fieldForwardedFor:
			forwardedFor = append(forwardedFor, f.Value)
		case fieldVia:
			vias = append(vias, f.Value)
		}
	}
	if x.websocket {
		out.Add("Connection", "Upgrade")
		out.Add("Upgrade", in.Value("Upgrade"))
	}
	if x.grpc {
		out.Add("Te", "trailers")
	}
	switch {
	case ri.preserveHost && x.in.host != "":
		x.outHost = x.in.host
	case at.pick == nil:
		x.outHost = svc.hostHeader
	default:
		x.outHost = upstreamHost(svc, at)
	}
	ip := x.clientIP()
	if len(forwardedFor) > 0 {
		out.Add("X-Forwarded-For", strings.Join(forwardedFor, ", ")+", "+ip)
	} else {
		out.Add("X-Forwarded-For", ip)
	}
	out.Add("X-Real-IP", ip)
	if x.in.tls {
		out.Add("X-Forwarded-Proto", "https")
	} else {
		out.Add("X-Forwarded-Proto", "http")
	}
	// As Kong without trusted_ips: the host is nginx's $host and the port
	// the one the request arrived on, whatever port the Host header names.
	out.Add("X-Forwarded-Host", hostName(x.in.host))
	out.Add("X-Forwarded-Port", x.localPortText())
	out.Add("X-Forwarded-Path", x.in.path)
	if m := &x.match; m.Route.StripPath && m.Prefix != "" && m.Prefix != "/" {
		out.Add("X-Forwarded-Prefix", m.Prefix)
	}
	if p.headers.Via {
		if len(vias) > 0 {
			out.Add("Via", strings.Join(vias, ", ")+", "+p.via)
		} else {
			out.Add("Via", p.via)
		}
	}
}

// How a request field is treated on its way upstream.
const (
	fieldForward      = iota // sent as it is
	fieldDrop                // hop-by-hop, framing, or set by the proxy
	fieldForwardedFor        // X-Forwarded-For: joined with the client's address
	fieldVia                 // Via: joined with the proxy's hop when Via is on
)

// requestFieldRole classifies a request field name.
func requestFieldRole(name string) int {
	switch len(name) {
	case 2:
		if http1.EqualFold(name, "Te") {
			return fieldDrop
		}
	case 3:
		if http1.EqualFold(name, "Via") {
			return fieldVia
		}
	case 4:
		if http1.EqualFold(name, "Host") {
			return fieldDrop
		}
	case 6:
		if http1.EqualFold(name, "Expect") {
			return fieldDrop // the proxy answered 100-continue itself, as nginx does
		}
	case 7:
		if http1.EqualFold(name, "Trailer") || http1.EqualFold(name, "Upgrade") {
			return fieldDrop
		}
	case 9:
		if http1.EqualFold(name, "X-Real-IP") {
			return fieldDrop
		}
	case 10:
		if http1.EqualFold(name, "Connection") || http1.EqualFold(name, "Keep-Alive") {
			return fieldDrop
		}
	case 14:
		if http1.EqualFold(name, "Content-Length") {
			return fieldDrop
		}
	case 15:
		if http1.EqualFold(name, "X-Forwarded-For") {
			return fieldForwardedFor
		}
	case 16:
		if http1.EqualFold(name, "Proxy-Connection") || http1.EqualFold(name, "X-Forwarded-Host") ||
			http1.EqualFold(name, "X-Forwarded-Port") || http1.EqualFold(name, "X-Forwarded-Path") {
			return fieldDrop
		}
	case 17:
		if http1.EqualFold(name, "Transfer-Encoding") || http1.EqualFold(name, "X-Forwarded-Proto") {
			return fieldDrop
		}
	case 18:
		if http1.EqualFold(name, "Proxy-Authenticate") || http1.EqualFold(name, "X-Forwarded-Prefix") {
			return fieldDrop
		}
	case 19:
		if http1.EqualFold(name, "Proxy-Authorization") {
			return fieldDrop
		}
	}
	return fieldForward
}

// isHopField reports whether a response field is hop-by-hop (RFC 9110
// §7.6.1): the proxy does not pass it on.
func isHopField(name string) bool {
	switch len(name) {
	case 2:
		return http1.EqualFold(name, "Te")
	case 7:
		return http1.EqualFold(name, "Trailer") || http1.EqualFold(name, "Upgrade")
	case 10:
		return http1.EqualFold(name, "Connection") || http1.EqualFold(name, "Keep-Alive")
	case 16:
		return http1.EqualFold(name, "Proxy-Connection")
	case 17:
		return http1.EqualFold(name, "Transfer-Encoding")
	case 18:
		return http1.EqualFold(name, "Proxy-Authenticate")
	case 19:
		return http1.EqualFold(name, "Proxy-Authorization")
	}
	return false
}

// copyResponseHeader adds the upstream's response fields to h, without the
// hop-by-hop ones and those its Connection header names.
func copyResponseHeader(h, src *http1.Header) {
	var conn string
	for i := range src.Fields {
		if http1.EqualFold(src.Fields[i].Name, "Connection") {
			if conn == "" {
				conn = src.Fields[i].Value
			} else {
				conn += "," + src.Fields[i].Value
			}
		}
	}
	for i := range src.Fields {
		f := &src.Fields[i]
		if isHopField(f.Name) || conn != "" && http1.HasToken(conn, f.Name) {
			continue
		}
		h.Fields = append(h.Fields, *f)
	}
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
	once     onceBody
}

// readRequestBody prepares the request's body for forwarding.
func (x *exchange) readRequestBody(ri *routeInfo) error {
	b := &x.body
	in := &x.in
	if in.body == nil || in.contentLength == 0 {
		b.empty = true
		return nil
	}
	if !ri.requestBuffer || in.contentLength < 0 || in.contentLength > maxReplayBody || x.websocket || x.grpc {
		b.once = onceBody{r: in.body}
		b.stream = &b.once
		return nil
	}
	buf := make([]byte, in.contentLength)
	if _, err := io.ReadFull(in.body, buf); err != nil {
		return err
	}
	b.buffered = buf
	return nil
}

// used reports whether a streamed body has had bytes taken from it, after
// which no other attempt can send it.
func (b *requestBodyState) used() bool { return b.stream != nil && b.stream.read.Load() }

// length is the length to announce upstream: -1 for a streamed body of
// unknown length.
func (b *requestBodyState) length(in *inbound) int64 {
	switch {
	case b.empty:
		return 0
	case b.buffered != nil:
		return int64(len(b.buffered))
	}
	return in.contentLength
}

// reader returns the body for one attempt.
func (b *requestBodyState) reader() io.Reader {
	switch {
	case b.empty:
		return nil
	case b.stream != nil:
		return b.stream
	}
	return bytes.NewReader(b.buffered)
}

// onceBody is a streamed request body that remembers whether any byte was
// read from it.
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

func itoa(n int) string { return strconv.Itoa(n) }

// appendVia adds the proxy's hop to the Via of h, after every hop it
// already lists, in one field.
func appendVia(h *http1.Header, via string, scratch *[]string) {
	*scratch = h.AppendValues((*scratch)[:0], "Via")
	if len(*scratch) > 0 {
		h.Set("Via", strings.Join(*scratch, ", ")+", "+via)
		return
	}
	h.Add("Via", via)
}

func isStreaming(h *http1.Header) bool {
	ct := h.Value("Content-Type")
	return strings.HasPrefix(ct, "text/event-stream") || strings.HasPrefix(ct, "application/grpc")
}

// sortedQueryValues returns the values of a query argument, sorted and
// joined with ",".
func sortedQueryValues(query, name string) string {
	q, _ := url.ParseQuery(query)
	vals := q[name]
	slices.Sort(vals)
	return strings.Join(vals, ",")
}

// tunnel completes a protocol switch (WebSocket): it hands the client the
// upstream's 101 response and copies bytes both ways until either side
// closes.
func (x *exchange) tunnel(ri *routeInfo) {
	p := x.p
	backend, backendBuf := x.res.hijack()
	defer backend.Close()
	conn, clientBuf, err := x.down.hijack()
	if err != nil {
		ri.metrics.count(http.StatusInternalServerError)
		x.respond(http.StatusInternalServerError, msgInternal)
		return
	}
	defer conn.Close()
	ri.metrics.count(http.StatusSwitchingProtocols)
	h := x.res.header
	if p.headers.Via {
		appendVia(h, p.via, &x.scratch)
	}
	if err := writeSwitchResponse(conn, h); err != nil {
		return
	}
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(backend, clientBuf) // the client's buffered bytes first, then the socket
		done <- struct{}{}
	}()
	go func() {
		io.Copy(conn, backendBuf) // the same for what the upstream sent after its 101
		done <- struct{}{}
	}()
	<-done
}

// writeSwitchResponse sends the 101 response with the upstream's fields
// (its Upgrade and Connection included).
func writeSwitchResponse(conn net.Conn, h *http1.Header) error {
	w := bufio.NewWriterSize(conn, 1024)
	w.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	for _, f := range h.Fields {
		w.WriteString(f.Name)
		w.WriteString(": ")
		w.WriteString(f.Value)
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
	return w.Flush()
}
