package http1

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// upstream is a net/http server that counts the connections it accepted.
type upstream struct {
	*httptest.Server
	addr  string
	conns atomic.Int32
}

// startUpstream starts an upstream serving h; onState, when given, sees
// the state changes of its connections.
func startUpstream(t *testing.T, h http.HandlerFunc, onState ...func(http.ConnState)) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewUnstartedServer(h)
	u.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			u.conns.Add(1)
		}
		for _, f := range onState {
			f(s)
		}
	}
	u.Start()
	t.Cleanup(u.Close)
	u.addr = strings.TrimPrefix(u.URL, "http://")
	return u
}

// exchangeResult is a response read whole.
type exchangeResult struct {
	status  int
	header  Header
	body    string
	trailer Header
	reused  bool
}

// roundTrip sends one request with c and reads the response whole.
// bodyLength -1 sends body chunked with trailer.
func roundTrip(c *Client, addr, method, target string, header []Field, body string, bodyLength int64, trailer []Field) (exchangeResult, error) {
	cc, err := c.Get(context.Background(), addr, 5*time.Second, false)
	if err != nil {
		return exchangeResult{}, err
	}
	cc.SetTimeouts(5*time.Second, 5*time.Second)
	path, query, hasQuery := strings.Cut(target, "?")
	WriteRequestHead(cc.Writer(), method, path, query, hasQuery, addr, &Header{Fields: header}, bodyLength, false)
	if body != "" {
		if _, err := cc.WriteBody(strings.NewReader(body), bodyLength < 0); err != nil {
			cc.Close()
			return exchangeResult{}, err
		}
		if bodyLength < 0 {
			cc.EndChunked(&Header{Fields: trailer})
		}
	}
	if err := cc.Flush(); err != nil {
		cc.Close()
		return exchangeResult{}, err
	}
	res, err := cc.ReadResponse(method)
	if err != nil {
		cc.Close()
		return exchangeResult{}, err
	}
	out := exchangeResult{status: res.Status, reused: cc.Reused}
	out.header.Fields = append(out.header.Fields, res.Header.Fields...)
	data, err := io.ReadAll(res.Body)
	out.body = string(data)
	out.trailer.Fields = append(out.trailer.Fields, cc.Trailer().Fields...)
	cc.Release()
	return out, err
}

// TestClientAgainstNetHTTP sends what the proxy sends with the client to
// a net/http server and reads every kind of response it writes.
func TestClientAgainstNetHTTP(t *testing.T) {
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/echo":
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			w.Header().Set("X-Method", r.Method)
			w.Header().Set("X-Query", r.URL.RawQuery)
			w.Header().Set("X-Length", fmt.Sprint(r.ContentLength))
			w.Header().Set("X-Trailer", r.Trailer.Get("X-Sum"))
			w.Header().Set("X-Multi", strings.Join(r.Header.Values("X-Multi"), "|"))
			w.Write(body)
		case "/chunked":
			w.Header().Set("Trailer", "X-Sum")
			w.Write([]byte("hel"))
			w.(http.Flusher).Flush()
			w.Write([]byte("lo"))
			w.Header().Set("X-Sum", "42")
		case "/head":
			w.Header().Set("Content-Length", "1234")
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		case "/notmodified":
			w.WriteHeader(http.StatusNotModified)
		case "/early-hints":
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
			w.Write([]byte("final"))
		case "/close":
			w.Header().Set("Connection", "close")
			w.Write([]byte("bye"))
		case "/until-close":
			conn, brw, _ := http.NewResponseController(w).Hijack()
			brw.WriteString("HTTP/1.1 200 OK\r\n\r\nall of it")
			brw.Flush()
			conn.Close()
		}
	})
	c := &Client{}
	defer c.CloseIdle(true)
	multi := []Field{{"X-Multi", "a"}, {"x-multi", "b"}}
	tests := []struct {
		name, method, target, body string
		length                     int64
		trailer                    []Field
		status                     int
		want                       string
		wantHeader                 map[string]string
		wantTrailer                string
		reusable                   bool
	}{
		{name: "GET", method: "GET", target: "/echo?a=1&b=%zz", status: 200, reusable: true,
			wantHeader: map[string]string{"X-Method": "GET", "X-Query": "a=1&b=%zz", "X-Length": "0", "X-Multi": "a|b"}},
		{name: "POST with a length", method: "POST", target: "/echo", body: "payload", length: 7, status: 200, want: "payload",
			reusable: true, wantHeader: map[string]string{"X-Length": "7"}},
		{name: "chunked POST with a trailer", method: "POST", target: "/echo", body: "streamed", length: -1,
			trailer: []Field{{"X-Sum", "7"}}, status: 200, want: "streamed", reusable: true,
			wantHeader: map[string]string{"X-Length": "-1", "X-Trailer": "7"}},
		{name: "chunked response with a trailer", method: "GET", target: "/chunked", status: 200, want: "hello",
			wantTrailer: "42", reusable: true},
		{name: "HEAD", method: "HEAD", target: "/head", status: 200, reusable: true, wantHeader: map[string]string{"Content-Length": "1234"}},
		{name: "204", method: "GET", target: "/nocontent", status: 204, reusable: true},
		{name: "304", method: "GET", target: "/notmodified", status: 304, reusable: true},
		{name: "1xx skipped", method: "GET", target: "/early-hints", status: 200, want: "final", reusable: true},
		{name: "Connection: close", method: "GET", target: "/close", status: 200, want: "bye"},
		{name: "delimited by close", method: "GET", target: "/until-close", status: 200, want: "all of it"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			header := multi
			res, err := roundTrip(c, up.addr, tc.method, tc.target, header, tc.body, tc.length, tc.trailer)
			if err != nil {
				t.Fatal(err)
			}
			if res.status != tc.status || res.body != tc.want {
				t.Fatalf("got %d %q, want %d %q", res.status, res.body, tc.status, tc.want)
			}
			for k, v := range tc.wantHeader {
				if got := res.header.Value(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if got := res.trailer.Value("X-Sum"); got != tc.wantTrailer {
				t.Errorf("trailer X-Sum = %q, want %q", got, tc.wantTrailer)
			}
			// The next request reuses the connection only after a clean,
			// kept-alive exchange.
			before := up.conns.Load()
			next, err := roundTrip(c, up.addr, "GET", "/echo", nil, "", 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			if reused := up.conns.Load() == before; reused != tc.reusable || next.reused != tc.reusable {
				t.Fatalf("next request reused the connection: %v (client says %v), want %v", reused, next.reused, tc.reusable)
			}
		})
	}
}

// oneShotUpstream answers one request per connection as if it kept the
// connection alive, then closes it: the next request on the pooled
// connection finds it closed.
func oneShotUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				buf := make([]byte, 4096)
				conn.Read(buf)
				io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

func TestClientReportsStaleConnections(t *testing.T) {
	addr := oneShotUpstream(t)
	c := &Client{}
	defer c.CloseIdle(true)
	if res, err := roundTrip(c, addr, "GET", "/", nil, "", 0, nil); err != nil || res.body != "ok" {
		t.Fatalf("%v %v", res, err)
	}
	// The upstream closed the connection after its answer; the client
	// learns it only when it uses the connection again.
	_, err := roundTrip(c, addr, "GET", "/", nil, "", 0, nil)
	if !errors.Is(err, ErrStaleConn) {
		t.Fatalf("second request on the closed connection: %v, want ErrStaleConn", err)
	}
	if res, err := roundTrip(c, addr, "GET", "/", nil, "", 0, nil); err != nil || res.reused {
		t.Fatalf("third request: %v %v, want a new connection", res, err)
	}
}

func TestClientProbesLongIdleConnections(t *testing.T) {
	addr := oneShotUpstream(t)
	c := &Client{}
	defer c.CloseIdle(true)
	if _, err := roundTrip(c, addr, "GET", "/", nil, "", 0, nil); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	idle := c.idle[addr]
	c.mu.Unlock()
	if len(idle) != 1 {
		t.Fatalf("%d idle connections", len(idle))
	}
	// Idle for longer than probeAfter, and closed by the upstream: the
	// pool notices and dials anew instead of failing the request.
	eventually(t, "the upstream to close the idle connection", func() bool { return !idle[0].alive() })
	idle[0].idleAt = now() - 2*probeAfter
	res, err := roundTrip(c, addr, "GET", "/", nil, "", 0, nil)
	if err != nil || res.reused {
		t.Fatalf("%v %v, want a new connection", res, err)
	}
}

func TestClientTimeoutsAndDialErrors(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if conn, err := silent.Accept(); err == nil {
			accepted <- conn
		}
	}()
	c := &Client{}
	defer c.CloseIdle(true)
	cc, err := c.Get(context.Background(), silent.Addr().String(), time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	cc.SetTimeouts(100*time.Millisecond, time.Second)
	WriteRequestHead(cc.Writer(), "GET", "/", "", false, "x", &Header{}, 0, false)
	if err := cc.Flush(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = cc.ReadResponse("GET")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || time.Since(start) > 5*time.Second {
		t.Fatalf("ReadResponse from a silent upstream: %v after %v", err, time.Since(start))
	}
	cc.Release() // broken: closed, not pooled
	(<-accepted).Close()

	closed := silent.Addr().String()
	silent.Close()
	_, err = c.Get(context.Background(), closed, time.Second, false)
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Fatalf("dial a closed port: %v", err)
	}
}

func TestClientClosesExpiredIdleConnections(t *testing.T) {
	closed := make(chan struct{}, 1)
	up := startUpstream(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }, func(s http.ConnState) {
		if s == http.StateClosed {
			closed <- struct{}{}
		}
	})
	c := &Client{IdleTimeout: 50 * time.Millisecond}
	defer c.CloseIdle(true)
	if _, err := roundTrip(c, up.addr, "GET", "/", nil, "", 0, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the idle connection outlived IdleTimeout")
	}
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestClientChecksConnectionsWhenAsked(t *testing.T) {
	addr := oneShotUpstream(t)
	c := &Client{}
	defer c.CloseIdle(true)
	if _, err := roundTrip(c, addr, "GET", "/", nil, "", 0, nil); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	idle := c.idle[addr][0]
	c.mu.Unlock()
	eventually(t, "the upstream to close the idle connection", func() bool { return !idle.alive() })
	// Just used, so not probed on its own; a caller that cannot send its
	// request twice asks for the check.
	cc, err := c.Get(context.Background(), addr, time.Second, true)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if cc.Reused {
		t.Fatal("got the closed connection")
	}
}
