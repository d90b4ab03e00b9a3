package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestGeneratedErrors(t *testing.T) {
	up := startEcho(t, "a")
	g := startGateway(t, Options{})
	if res := get(t, newClient(t), g.url+"/anything"); res.StatusCode != 404 {
		t.Fatalf("before any configuration: %d", res.StatusCode)
	}
	g.apply(t, fmt.Sprintf(`services:
  - name: refused
    url: http://%[1]s
    retries: 0
    routes:
      - paths: [/refused]
  - name: ok
    url: %[2]s
    routes:
      - paths: [/ok]
      - name: https-only
        paths: [/secure]
        protocols: [https]
      - name: moved
        paths: [/moved]
        protocols: [https]
        https_redirect_status_code: 301
      - name: permanent
        paths: [/permanent]
        protocols: [https]
        https_redirect_status_code: 308
  - name: disabled
    url: %[2]s
    enabled: false
    routes:
      - paths: [/disabled]
routes:
  - name: no-service
    paths: [/orphan]
`, closedAddr(t), up.URL))
	c := newClient(t)

	tests := []struct {
		name, path    string
		status        int
		message       string
		headers       map[string]string
		tls           bool
		wantUpstream  bool
		headerOptions []string
	}{
		{name: "no route", path: "/nothing-here", status: 404, message: "no Route matched with those values"},
		{name: "route without service", path: "/orphan", status: 503, message: "no Service found with those values"},
		{name: "route of a disabled service", path: "/disabled", status: 404, message: "no Route matched with those values"},
		{name: "connection refused", path: "/refused", status: 502, message: "An invalid response was received from the upstream server"},
		{name: "https-only route over http", path: "/secure/x", status: 426, message: "Please use HTTPS protocol",
			headers: map[string]string{"Connection": "Upgrade", "Upgrade": "TLS/1.2, HTTP/1.1"}},
		{name: "https-only route over https", path: "/secure/x", status: 200, tls: true, wantUpstream: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := g.url
			if tc.tls {
				base = g.tlsURL
			}
			res := get(t, c, base+tc.path)
			if tc.wantUpstream {
				decodeSeen(t, res)
				return
			}
			wantKongError(t, res, tc.status, tc.message)
			for k, v := range tc.headers {
				if got := res.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}

	for _, tc := range []struct {
		path   string
		status int
	}{{"/moved/a%2Fb?x=1&y", 301}, {"/permanent/p", 308}} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			res := get(t, c, g.url+tc.path, "Host", "Shop.Example:8000")
			want := "https://shop.example" + tc.path
			if res.StatusCode != tc.status || res.Header.Get("Location") != want {
				t.Fatalf("got %d Location %q, want %d %q", res.StatusCode, res.Header.Get("Location"), tc.status, want)
			}
		})
	}
	if n := up.hits.Load(); n != 1 {
		t.Fatalf("upstream got %d requests, want only the one over https", n)
	}
}

func TestInvalidPathsAreRefused(t *testing.T) {
	up := startEcho(t, "a")
	g := startGateway(t, Options{})
	g.apply(t, fmt.Sprintf(`services:
  - url: %s
    routes:
      - paths: [/]
`, up.URL))
	for _, tc := range []struct {
		target string
		kong   bool // answered by the proxy with Kong's body
	}{
		// Go's server refuses a malformed escape before the proxy sees
		// the request: 400 with its own plain-text body.
		{"/%zz", false},
		{"/a%2", false},
		// These parse as URLs but are no path Kong routes.
		{"/a%00b", true},
		{"/../etc/passwd", true},
		{"/a/../../b", true},
	} {
		t.Run(tc.target, func(t *testing.T) {
			res := rawRequest(t, g.addr, "GET "+tc.target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			if tc.kong {
				wantKongError(t, res, 400, "Bad request")
			} else if res.StatusCode != 400 {
				t.Fatalf("status %d %q", res.StatusCode, res.body)
			}
		})
	}
	if n := up.hits.Load(); n != 0 {
		t.Fatalf("the upstream got %d invalid requests", n)
	}
}

func TestUpstreamTimeouts(t *testing.T) {
	silent := silentAddr(t)
	g := startGateway(t, Options{})
	// Each service sets one timeout to 300 ms and leaves the other two at
	// their 60 s defaults: that timeout alone must end the wait.
	g.apply(t, fmt.Sprintf(`services:
  - name: read
    url: http://%[1]s
    read_timeout: 300
    retries: 0
    routes:
      - paths: [/read]
  - name: handshake
    url: https://%[1]s
    connect_timeout: 300
    retries: 0
    routes:
      - paths: [/handshake]
  - name: write
    url: http://%[1]s
    write_timeout: 300
    retries: 0
    routes:
      - paths: [/write]
`, silent))
	c := newClient(t)
	tests := []struct {
		name, path string
		body       int64 // bytes to upload, more than the socket buffers hold
	}{
		{"read_timeout: the upstream never answers", "/read", 0},
		{"connect_timeout: the TLS handshake never ends", "/handshake", 0},
		{"write_timeout: the upstream never reads", "/write", 64 << 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body > 0 {
				body = io.LimitReader(zeros{}, tc.body)
			}
			req, err := http.NewRequest("POST", g.url+tc.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = tc.body
			start := time.Now()
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(res.Body)
			res.Body.Close()
			wantKongError(t, response{Response: res, body: string(data)}, 504, "The upstream server is timing out")
			if elapsed := time.Since(start); elapsed > 10*time.Second {
				t.Fatalf("504 after %v: the timeout is 300 ms", elapsed)
			}
		})
	}
}

func TestAllTargetsUnhealthy(t *testing.T) {
	g := startGateway(t, Options{})
	g.apply(t, fmt.Sprintf(`services:
  - name: s
    host: backend
    retries: 0
    routes:
      - paths: [/]
upstreams:
  - name: backend
    healthchecks:
      passive:
        unhealthy:
          tcp_failures: 1
    targets:
      - target: %s
`, closedAddr(t)))
	c := newClient(t)
	wantKongError(t, get(t, c, g.url+"/"), 502, "An invalid response was received from the upstream server")
	// The failure made the only target unhealthy: no peer is left.
	wantKongError(t, get(t, c, g.url+"/"), 503, "failure to get a peer from the ring-balancer")
}

func TestTruncatedUpstreamResponseIsNotPassedOffAsComplete(t *testing.T) {
	for _, chunked := range []bool{true, false} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				conn, brw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					return
				}
				defer conn.Close()
				if chunked {
					brw.WriteString("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
				} else {
					brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello")
				}
				brw.Flush()
			}))
			t.Cleanup(up.Close)
			g := startGateway(t, Options{})
			g.apply(t, fmt.Sprintf("services:\n  - url: %s\n    routes:\n      - paths: [/]\n", up.URL))
			for _, l := range g.plainListeners() {
				res, err := newClient(t).Get(l.url + "/")
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err == nil {
					t.Fatalf("%s: the client read %q as a complete body; the upstream sent only part of it", l.name, body)
				}
				if !strings.HasPrefix(string(body), "hello") {
					t.Fatalf("%s: the client got %q before the error", l.name, body)
				}
			}
		})
	}
}

func TestSlowClientIsNotCutByReadTimeout(t *testing.T) {
	const size = 32 << 20 // more than the socket buffers hold
	const readTimeout = 200 * time.Millisecond
	var lastWrite atomic.Int64 // when the upstream's last write returned
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		chunk := make([]byte, 64<<10)
		for sent := 0; sent < size; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			lastWrite.Store(time.Now().UnixNano())
		}
	}))
	t.Cleanup(up.Close)
	g := startGateway(t, Options{})
	g.apply(t, fmt.Sprintf(`services:
  - url: %s
    read_timeout: %d
    routes:
      - paths: [/]
`, up.URL, readTimeout.Milliseconds()))
	conn, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("response %v %v", res, err)
	}
	first := make([]byte, 1<<20)
	if _, err := io.ReadFull(res.Body, first); err != nil {
		t.Fatal(err)
	}
	// The client stops reading. Once every buffer on the way is full the
	// upstream's writes block; the proxy waits on the client, not on the
	// upstream, and must not count that against read_timeout.
	eventually(t, "the upstream to stall for three read timeouts", func() bool {
		return time.Since(time.Unix(0, lastWrite.Load())) > 3*readTimeout
	})
	n, err := io.Copy(io.Discard, res.Body)
	if err != nil || n+int64(len(first)) != size {
		t.Fatalf("a slow client got %d of %d bytes: %v", n+int64(len(first)), size, err)
	}
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestMalformedRequestsDoNotReachTheUpstream(t *testing.T) {
	up := startEcho(t, "a")
	g := startGateway(t, Options{})
	g.apply(t, fmt.Sprintf("services:\n  - url: %s\n    routes:\n      - paths: [/]\n", up.URL))
	tests := []struct {
		name    string
		request string
		status  int
	}{
		{"host with a space", "GET / HTTP/1.1\r\nHost: bad host\r\n\r\n", 400},
		{"host with a control byte", "GET / HTTP/1.1\r\nHost: bad\x01host\r\n\r\n", 400},
		{"host with a slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"no host in HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 400},
		{"header name with a space", "GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", 400},
		{"oversized headers", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n", 431},
	}
	for _, l := range g.plainListeners() {
		for _, tc := range tests {
			t.Run(l.name+"/"+tc.name, func(t *testing.T) {
				res := rawRequest(t, l.addr, tc.request)
				if res.StatusCode != tc.status {
					t.Fatalf("status %d %q, want %d", res.StatusCode, res.body, tc.status)
				}
			})
		}
	}
	if n := up.hits.Load(); n != 0 {
		t.Fatalf("the upstream got %d malformed requests", n)
	}
	// The listener keeps working for a well-formed request.
	if res := rawRequest(t, g.addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); res.StatusCode != 200 {
		t.Fatalf("well-formed request: %d", res.StatusCode)
	}
}
