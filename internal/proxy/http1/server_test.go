package http1

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// handlerFunc adapts a function to Handler.
type handlerFunc func(w *ResponseWriter, r *Request)

func (f handlerFunc) ServeHTTP1(w *ResponseWriter, r *Request) { f(w, r) }

// startServer serves h on a loopback listener until the test ends and
// returns the server and its address.
func startServer(t *testing.T, h Handler, tune ...func(*Server)) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	for _, f := range tune {
		f(s)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Serve(ln)
	}()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	return s, ln.Addr().String()
}

// echoRequest answers with what the server parsed, one line per fact, and
// the body it read; the request's trailers come back as response headers
// named Got-Trailer-*, sent as trailers.
func echoRequest(w *ResponseWriter, r *Request) {
	body, err := io.ReadAll(r.Body)
	var b strings.Builder
	fmt.Fprintf(&b, "method=%s\ntarget=%s\npath=%s\nquery=%s\nhasquery=%v\nhost=%s\nproto=%s\ncl=%d\nclose=%v\n",
		r.Method, r.Target, r.Path, r.Query, r.HasQuery, r.Host, r.Proto(), r.ContentLength, r.Close)
	for _, f := range r.Header.Fields {
		fmt.Fprintf(&b, "field=%s: %s\n", f.Name, f.Value)
	}
	fmt.Fprintf(&b, "body=%s\nerr=%v\n", body, err)
	for _, f := range r.Body.Trailer.Fields {
		fmt.Fprintf(&b, "trailer=%s: %s\n", f.Name, f.Value)
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write([]byte(b.String()))
}

func newTestClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{DisableCompression: true, ExpectContinueTimeout: 5 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// must reads responses for t.
type must struct{ t *testing.T }

// all returns the body of a response, failing the test on any error.
func (m must) all(res *http.Response, err error) string {
	t := m.t
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestServerReadsWhatNetHTTPSends sends requests with net/http's client
// and checks what the server parsed.
func TestServerReadsWhatNetHTTPSends(t *testing.T) {
	_, addr := startServer(t, handlerFunc(echoRequest))
	c := newTestClient(t)
	base := "http://" + addr

	t.Run("GET with query and repeated fields", func(t *testing.T) {
		req, _ := http.NewRequest("GET", base+"/a/b%2Fc?x=1&y=%zz", nil)
		req.Header.Add("X-Multi", "one")
		req.Header.Add("X-Multi", "two")
		got := must{t}.all(c.Do(req))
		for _, want := range []string{"method=GET\n", "target=/a/b%2Fc?x=1&y=%zz\n", "path=/a/b%2Fc\n", "query=x=1&y=%zz\n",
			"hasquery=true\n", "host=" + addr + "\n", "proto=HTTP/1.1\n", "cl=0\n", "field=X-Multi: one\nfield=X-Multi: two\n"} {
			if !strings.Contains(got, want) {
				t.Errorf("missing %q in\n%s", want, got)
			}
		}
	})
	t.Run("POST with Content-Length", func(t *testing.T) {
		got := must{t}.all(c.Post(base+"/post", "text/plain", strings.NewReader("hello body")))
		if !strings.Contains(got, "cl=10\n") || !strings.Contains(got, "body=hello body\n") {
			t.Fatal(got)
		}
	})
	t.Run("chunked with trailers", func(t *testing.T) {
		pr, pw := io.Pipe()
		go func() {
			pw.Write([]byte("part one, "))
			pw.Write([]byte("part two"))
			pw.Close()
		}()
		req, _ := http.NewRequest("PUT", base+"/chunked", pr)
		req.Trailer = http.Header{"X-Check": {"sum"}}
		got := must{t}.all(c.Do(req))
		if !strings.Contains(got, "cl=-1\n") || !strings.Contains(got, "body=part one, part two\n") ||
			!strings.Contains(got, "trailer=X-Check: sum\n") {
			t.Fatal(got)
		}
	})
	t.Run("Expect 100-continue", func(t *testing.T) {
		req, _ := http.NewRequest("POST", base+"/expect", strings.NewReader("after continue"))
		req.Header.Set("Expect", "100-continue")
		start := time.Now()
		got := must{t}.all(c.Do(req))
		if !strings.Contains(got, "body=after continue\n") {
			t.Fatal(got)
		}
		if time.Since(start) > 4*time.Second {
			t.Fatal("the client waited for its ExpectContinueTimeout: no 100 Continue was sent")
		}
	})
	t.Run("keep-alive", func(t *testing.T) {
		var conns atomic.Int32
		tr := &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			conns.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, a)
		}}
		defer tr.CloseIdleConnections()
		kc := &http.Client{Transport: tr}
		for range 5 {
			must{t}.all(kc.Get(base + "/again"))
		}
		if n := conns.Load(); n != 1 {
			t.Fatalf("%d connections for 5 requests", n)
		}
	})
}

// TestNetHTTPReadsWhatTheServerWrites checks every framing the server
// writes with net/http's client.
func TestNetHTTPReadsWhatTheServerWrites(t *testing.T) {
	_, addr := startServer(t, handlerFunc(func(w *ResponseWriter, r *Request) {
		h := w.Header()
		switch r.Path {
		case "/length":
			h.Set("Content-Length", "5")
			w.Write([]byte("hello"))
		case "/chunked":
			h.Set("Trailer", "X-Sum")
			w.Write([]byte("hel"))
			w.Flush()
			w.Write([]byte("lo"))
			w.SetTrailer(&Header{Fields: []Field{{"X-Sum", "42"}}})
		case "/empty":
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		case "/notmodified":
			h.Set("Etag", `"x"`)
			w.WriteHeader(http.StatusNotModified)
		case "/head":
			h.Set("Content-Length", "1234")
			w.WriteHeader(http.StatusOK)
		case "/close":
			h.Set("Connection", "close")
			h.Set("Content-Length", "2")
			w.Write([]byte("ok"))
		}
	}))
	c := newTestClient(t)
	base := "http://" + addr
	tests := []struct {
		method, path string
		status       int
		body         string
		length       int64
		trailer      string
		close        bool
	}{
		{"GET", "/length", 200, "hello", 5, "", false},
		{"GET", "/chunked", 200, "hello", -1, "42", false},
		{"GET", "/empty", 200, "", 0, "", false},
		{"GET", "/nocontent", 204, "", 0, "", false},
		{"GET", "/notmodified", 304, "", 0, "", false},
		{"HEAD", "/head", 200, "", 1234, "", false},
		{"GET", "/close", 200, "ok", 2, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, base+tc.path, nil)
			res, err := c.Do(req)
			body := must{t}.all(res, err)
			if res.StatusCode != tc.status || body != tc.body || res.ContentLength != tc.length || res.Close != tc.close {
				t.Fatalf("got %d %q length %d close %v, want %d %q length %d close %v",
					res.StatusCode, body, res.ContentLength, res.Close, tc.status, tc.body, tc.length, tc.close)
			}
			if res.Trailer.Get("X-Sum") != tc.trailer {
				t.Fatalf("trailer %v", res.Trailer)
			}
			if res.Header.Get("Date") == "" {
				t.Fatal("no Date")
			}
		})
	}
}

// rawExchange writes raw bytes on a new connection and returns everything
// the server sends until it closes the connection or goes quiet.
func rawExchange(t *testing.T, addr, raw string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	data, _ := io.ReadAll(conn)
	return string(data)
}

func TestServerRefusesMalformedRequests(t *testing.T) {
	var served atomic.Int32
	_, addr := startServer(t, handlerFunc(func(w *ResponseWriter, r *Request) {
		served.Add(1)
		io.Copy(io.Discard, r.Body)
	}), func(s *Server) { s.MaxHeaderBytes = 1 << 10 })
	tests := []struct {
		name, raw string
		status    int
	}{
		{"no host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"bad host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"space in name", "GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n", 400},
		{"space before colon", "GET / HTTP/1.1\r\nHost: x\r\nName : v\r\n\r\n", 400},
		{"folded line", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400},
		{"control byte in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", 400},
		{"bad method", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"two spaces", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"relative target", "GET a/b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"HTTP/2 line", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"not HTTP", "GET / FTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"bad length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", 400},
		{"negative length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400},
		{"two lengths", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
		{"length and chunked", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"unknown coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"chunked in 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"unknown expectation", "POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 417},
		{"head too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 2<<10) + "\r\n\r\n", 431},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := rawExchange(t, addr, tc.raw)
			res, err := http.ReadResponse(bufio.NewReader(strings.NewReader(got)), nil)
			if err != nil {
				t.Fatalf("no response: %q", got)
			}
			if res.StatusCode != tc.status || !res.Close {
				t.Fatalf("got %d close=%v, want %d and close", res.StatusCode, res.Close, tc.status)
			}
		})
	}
	if n := served.Load(); n != 0 {
		t.Fatalf("%d malformed requests reached the handler", n)
	}
}

func TestServerPipeliningAndHTTP10(t *testing.T) {
	_, addr := startServer(t, handlerFunc(func(w *ResponseWriter, r *Request) {
		body, _ := io.ReadAll(r.Body)
		out := r.Path + ":" + string(body)
		w.Header().Set("Content-Length", fmt.Sprint(len(out)))
		w.Write([]byte(out))
	}))
	t.Run("pipelined requests are answered in order", func(t *testing.T) {
		raw := "GET /one HTTP/1.1\r\nHost: x\r\n\r\n" +
			"POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" +
			"\r\n" + // a stray empty line between requests is allowed
			"POST /three HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n" +
			"GET /four HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
		got := rawExchange(t, addr, raw)
		br := bufio.NewReader(strings.NewReader(got))
		for _, want := range []string{"/one:", "/two:abc", "/three:de", "/four:"} {
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("before %s: %v (all: %q)", want, err, got)
			}
			body, _ := io.ReadAll(res.Body)
			if string(body) != want {
				t.Fatalf("got %q, want %q", body, want)
			}
		}
	})
	t.Run("HTTP/1.0 closes without keep-alive", func(t *testing.T) {
		got := rawExchange(t, addr, "GET /old HTTP/1.0\r\n\r\n")
		if !strings.HasSuffix(got, "/old:") || !strings.Contains(got, "Connection: close\r\n") {
			t.Fatalf("%q", got)
		}
	})
	t.Run("HTTP/1.0 keep-alive", func(t *testing.T) {
		got := rawExchange(t, addr, "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n")
		if strings.Count(got, "HTTP/1.1 200 OK") != 2 || !strings.Contains(got, "Connection: keep-alive\r\n") {
			t.Fatalf("%q", got)
		}
	})
}

func TestServerHijack(t *testing.T) {
	_, addr := startServer(t, handlerFunc(func(w *ResponseWriter, r *Request) {
		conn, br, err := w.Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		io.WriteString(conn, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		io.Copy(conn, br) // the bytes sent with the request first
	}))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nearly")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 101 {
		t.Fatalf("%v %v", res, err)
	}
	io.WriteString(conn, " late")
	got := make([]byte, len("early late"))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "early late" {
		t.Fatalf("%q %v", got, err)
	}
}

func TestServerTimeoutsAndShutdown(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	s, addr := startServer(t, handlerFunc(func(w *ResponseWriter, r *Request) {
		if r.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		w.Write([]byte("done"))
	}), func(s *Server) {
		s.IdleTimeout = 200 * time.Millisecond
		s.ReadHeaderTimeout = 200 * time.Millisecond
	})

	t.Run("a head that never ends is dropped", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n")
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("read %v, want the server to close the connection", err)
		}
	})
	t.Run("an idle connection is closed", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("read %v, want the server to close the connection", err)
		}
	})
	t.Run("shutdown waits for requests in flight", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
		<-started
		if n := s.ConnCounts(); n.Open < 1 {
			t.Fatalf("counts %+v with a request in flight", n)
		}
		var wg sync.WaitGroup
		var shutdownErr error
		wg.Go(func() { shutdownErr = s.Shutdown(context.Background()) })
		close(release)
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		wg.Wait()
		if string(body) != "done" || shutdownErr != nil {
			t.Fatalf("%q %v", body, shutdownErr)
		}
		if n := s.ConnCounts(); n.Open != 0 || n.Idle != 0 || n.Accepted < 3 {
			t.Fatalf("counts after shutdown %+v", n)
		}
	})
}
