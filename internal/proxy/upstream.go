package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gantry-gw/gantry/internal/proxy/http1"
)

// upstreamResponse is the response of the attempt that succeeded, from
// either upstream client.
type upstreamResponse struct {
	status        int
	header        *http1.Header
	contentLength int64 // -1: unknown
	body          io.Reader

	// h1 is the HTTP/1.1 connection the response came on.
	h1 *http1.ClientConn
	// h2 is the response of net/http's Transport (gRPC over HTTP/2), with
	// the timer and cancel of its attempt.
	h2       *http.Response
	h2timer  *attemptTimer
	h2cancel context.CancelCauseFunc
	// stopWatch stops watching the client for the HTTP/1.1 attempt.
	stopWatch func() bool
}

// declaredTrailers names the trailer fields the upstream announced.
func (u *upstreamResponse) declaredTrailers() string {
	if u.h2 != nil {
		if len(u.h2.Trailer) == 0 {
			return ""
		}
		return strings.Join(slices.Collect(maps.Keys(u.h2.Trailer)), ", ")
	}
	var names string
	for _, f := range u.header.Fields {
		if http1.EqualFold(f.Name, "Trailer") {
			if names != "" {
				names += ", "
			}
			names += f.Value
		}
	}
	return names
}

// trailers appends the trailer fields that followed the body.
func (u *upstreamResponse) trailers(dst *http1.Header) {
	if u.h2 != nil {
		for _, k := range slices.Sorted(maps.Keys(u.h2.Trailer)) {
			for _, v := range u.h2.Trailer[k] {
				dst.Add(k, v)
			}
		}
		return
	}
	dst.Fields = append(dst.Fields, u.h1.Trailer().Fields...)
}

// finish ends the attempt: the HTTP/1.1 connection goes back to its pool
// when the exchange ended cleanly (and closes otherwise); the HTTP/2
// response is closed.
func (u *upstreamResponse) finish() {
	if u.stopWatch != nil {
		u.stopWatch()
	}
	switch {
	case u.h1 != nil:
		u.h1.Release()
	case u.h2 != nil:
		u.h2.Body.Close()
		u.h2timer.stop()
		u.h2cancel(nil)
	}
}

// hijack takes the upstream connection after a 101 response.
func (u *upstreamResponse) hijack() (net.Conn, *bufio.Reader) {
	if u.stopWatch != nil {
		u.stopWatch()
	}
	return u.h1.Hijack()
}

// send makes one attempt: it sends the request to at and reads the
// response head into x.res. x.sent tells whether the request head went
// out.
func (x *exchange) send(svc *serviceInfo, at attempt) error {
	x.sent = false
	if svc.h2 != nil {
		return x.sendHTTP2(svc, at)
	}
	return x.sendHTTP1(svc, at)
}

// sendHTTP1 sends an attempt with the HTTP/1.1 client. A pooled connection
// the upstream closed as the request went out is replaced by a new one
// once, when sending again is safe (see http1.ErrStaleConn): that is not a
// failed attempt.
func (x *exchange) sendHTTP1(svc *serviceInfo, at attempt) error {
	client := x.p.transports.http1For(svc, hostName(x.outHost))
	ctx := x.down.context()
	dialCtx := ctx
	if dialCtx == nil {
		dialCtx = context.Background()
	}
	method := x.in.method
	length := x.body.length(&x.in)
	sendZero := length == 0 && (x.in.header.Has("Content-Length") || method == http.MethodPost ||
		method == http.MethodPut || method == http.MethodPatch)
	// A request that could not be sent again on a new connection if the
	// pooled one turned out to be closed gets a checked one.
	check := !idempotent(method) || x.body.stream != nil
	for fresh := false; ; fresh = true {
		cc, err := client.Get(dialCtx, at.addr, ms(svc.connectTimeout), check)
		if err != nil {
			return err
		}
		var stop func() bool
		if ctx != nil {
			stop = context.AfterFunc(ctx, cc.Abort)
		}
		cc.SetTimeouts(ms(svc.readTimeout), ms(svc.writeTimeout))
		x.sent = true
		http1.WriteRequestHead(cc.Writer(), method, x.upPath, x.in.query, x.in.hasQuery, x.outHost, &x.outHeader, length, sendZero)
		err = x.writeRequestBody(cc, length)
		if err == nil {
			err = cc.Flush()
		}
		var res *http1.Response
		if err == nil {
			res, err = cc.ReadResponse(method)
		}
		if err != nil {
			cc.Close()
			if stop != nil {
				stop()
			}
			if errors.Is(err, http1.ErrStaleConn) && !fresh && !x.body.used() && (idempotent(method) || !cc.Wrote()) {
				continue
			}
			return err
		}
		x.res = upstreamResponse{status: res.Status, header: &res.Header, contentLength: res.ContentLength,
			body: res.Body, h1: cc, stopWatch: stop}
		return nil
	}
}

// writeRequestBody writes the attempt's body after its head.
func (x *exchange) writeRequestBody(cc *http1.ClientConn, length int64) error {
	body := x.body.reader()
	if body == nil {
		return nil
	}
	srcErr, err := cc.WriteBody(body, length < 0)
	if srcErr != nil {
		return srcErr
	}
	if err != nil || length >= 0 {
		return err
	}
	x.trailers.Reset()
	x.down.requestTrailers(&x.trailers)
	err = cc.EndChunked(&x.trailers)
	x.trailers.Reset()
	return err
}

// idempotent reports whether a request with method may be sent twice
// without the upstream acting twice, as net/http's Transport decides
// before it sends a request again on a new connection.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// sendHTTP2 sends an attempt with net/http's Transport (gRPC over h2c or
// TLS), its phases timed by an attemptTimer.
func (x *exchange) sendHTTP2(svc *serviceInfo, at attempt) error {
	ctx, cancel := context.WithCancelCause(context.WithValue(x.requestContext(), connectTimeoutKey{}, svc.connectTimeout))
	timer := newAttemptTimer(svc, cancel)
	ctx = httptrace.WithClientTrace(ctx, timer.trace())
	u := &url.URL{Scheme: svc.scheme(), Host: at.addr, Opaque: x.upPath, RawQuery: x.in.query, ForceQuery: x.in.hasQuery && x.in.query == ""}
	out := &http.Request{
		Method:     x.in.method,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header, x.outHeader.Len()+1),
		Host:       x.outHost,
	}
	for _, f := range x.outHeader.Fields {
		k := textproto.CanonicalMIMEHeaderKey(f.Name)
		out.Header[k] = append(out.Header[k], f.Value)
	}
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = nil // no Go default user agent
	}
	out.ContentLength = x.body.length(&x.in)
	if body := x.body.reader(); body != nil {
		out.Body = &timedRequestBody{r: body, a: timer}
	}
	out = out.WithContext(ctx)
	res, err := x.p.transports.http2For(svc, hostName(x.outHost)).RoundTrip(out)
	timer.answered()
	x.sent = timer.sent()
	if err != nil {
		if context.Cause(ctx) == errUpstreamTimeout {
			err = errUpstreamTimeout
		}
		cancel(nil)
		return err
	}
	x.h2Header.Reset()
	for _, k := range slices.Sorted(maps.Keys(res.Header)) {
		for _, v := range res.Header[k] {
			x.h2Header.Add(k, v)
		}
	}
	x.res = upstreamResponse{status: res.StatusCode, header: &x.h2Header, contentLength: res.ContentLength,
		body: &timedResponseBody{r: res.Body, a: timer}, h2: res, h2timer: timer, h2cancel: cancel}
	return nil
}

// connectTimeoutKey carries a service's connect_timeout to the dialer of
// the HTTP/2 transports, so that one pool serves services with different
// timeouts.
type connectTimeoutKey struct{}

func dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 60 * time.Second, KeepAlive: 30 * time.Second}
	if ms, ok := ctx.Value(connectTimeoutKey{}).(int64); ok && ms > 0 {
		d.Timeout = time.Duration(ms) * time.Millisecond
	}
	return d.DialContext(ctx, network, addr)
}
