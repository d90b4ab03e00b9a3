package proxy

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gantry-gw/gantry/internal/version"
)

func TestForwardsMethodPathQueryBodyAndHeaders(t *testing.T) {
	up := startEcho(t, "a")
	g := startGateway(t, Options{})
	g.apply(t, fmt.Sprintf(`services:
  - name: s
    url: %s
    routes:
      - name: r
        paths: [/api]
`, up.URL))
	c := newClient(t)
	for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PURGE"} {
		t.Run(method, func(t *testing.T) {
			var body io.Reader
			if method != "GET" && method != "OPTIONS" {
				body = strings.NewReader("payload of " + method)
			}
			res := do(t, c, method, g.url+"/api/items/7?x=1&y=%20z", body,
				"X-Custom", "v1", "X-Multi", "a", "X-Multi", "b", "User-Agent", "tester/1", "Cookie", "k=v")
			s := decodeSeen(t, res)
			if s.Method != method || s.URI != "/items/7?x=1&y=%20z" {
				t.Fatalf("upstream got %s %s", s.Method, s.URI)
			}
			if body != nil && s.Body != "payload of "+method {
				t.Fatalf("upstream body %q", s.Body)
			}
			if s.Header.Get("X-Custom") != "v1" || !slices.Equal(s.Header.Values("X-Multi"), []string{"a", "b"}) ||
				s.Header.Get("User-Agent") != "tester/1" || s.Header.Get("Cookie") != "k=v" {
				t.Fatalf("upstream headers %v", s.Header)
			}
			if res.Header.Get("X-Upstream") != "a" || res.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("response headers %v", res.Header)
			}
		})
	}
	// No User-Agent in, none out: the proxy adds no client identity.
	res := rawRequest(t, g.addr, "GET /api/ua HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if s := decodeSeen(t, res); s.Header.Get("User-Agent") != "" {
		t.Fatalf("upstream got User-Agent %q from a request without one", s.Header.Get("User-Agent"))
	}
}

func TestHopByHopHeadersAreNotForwarded(t *testing.T) {
	var mu sync.Mutex
	var got http.Header
	var gotBody, gotTrailer string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, gotBody, gotTrailer = r.Header.Clone(), string(body), r.Trailer.Get("X-Client-Trailer")
		mu.Unlock()
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 200 OK\r\n" +
			"Connection: X-Resp-Hop\r\n" +
			"X-Resp-Hop: 1\r\n" +
			"Keep-Alive: timeout=5\r\n" +
			"Upgrade: foo/2\r\n" +
			"Proxy-Connection: keep-alive\r\n" +
			"X-End: ok\r\n" +
			"Trailer: X-Sum\r\n" +
			"Transfer-Encoding: chunked\r\n\r\n" +
			"5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n")
		brw.Flush()
	}))
	t.Cleanup(up.Close)
	g := startGateway(t, Options{})
	g.apply(t, fmt.Sprintf(`services:
  - name: s
    url: %s
    routes:
      - paths: [/hop]
`, up.URL))

	for _, l := range g.plainListeners() {
		t.Run(l.name, func(t *testing.T) {
			res := rawRequest(t, l.addr, "POST /hop HTTP/1.1\r\n"+
				"Host: hop.test\r\n"+
				"Connection: keep-alive, X-Hop\r\n"+
				"X-Hop: drop me\r\n"+
				"Keep-Alive: timeout=5\r\n"+
				"Te: trailers\r\n"+
				"Trailer: X-Client-Trailer\r\n"+
				"Upgrade: foo/1\r\n"+
				"Proxy-Connection: keep-alive\r\n"+
				"X-Keep: yes\r\n"+
				"Transfer-Encoding: chunked\r\n\r\n"+
				"5\r\nhello\r\n0\r\nX-Client-Trailer: t\r\n\r\n")
			if res.StatusCode != 200 || res.body != "hello" {
				t.Fatalf("response %d %q", res.StatusCode, res.body)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, name := range []string{"Connection", "X-Hop", "Keep-Alive", "Te", "Trailer", "Upgrade", "Proxy-Connection", "Transfer-Encoding"} {
				if v, ok := got[name]; ok {
					t.Errorf("upstream received hop-by-hop %s: %q", name, v)
				}
			}
			if got.Get("X-Keep") != "yes" || gotBody != "hello" || gotTrailer != "t" {
				t.Errorf("upstream lost an end-to-end header, the body or its trailer: %v %q %q", got, gotBody, gotTrailer)
			}
			for _, name := range []string{"Connection", "X-Resp-Hop", "Keep-Alive", "Upgrade", "Proxy-Connection"} {
				if v, ok := res.Header[name]; ok {
					t.Errorf("client received hop-by-hop %s: %q", name, v)
				}
			}
			if res.Header.Get("X-End") != "ok" {
				t.Errorf("client lost an end-to-end header: %v", res.Header)
			}
			if res.Trailer.Get("X-Sum") != "42" {
				t.Errorf("client lost the upstream's trailer: %v", res.Trailer)
			}
		})
	}
}

func TestForwardedHeaders(t *testing.T) {
	up := startEcho(t, "a")
	g := startGateway(t, Options{})
	g.apply(t, fmt.Sprintf(`services:
  - name: s
    url: %s/base
    routes:
      - name: strip
        paths: [/fwd]
      - name: keep
        paths: [/keep]
        strip_path: false
`, up.URL))
	c := newClient(t)
	plainPort, tlsPort := strconv.Itoa(g.plainPort), strconv.Itoa(g.tlsPort)
	tests := []struct {
		name    string
		url     string
		headers []string
		want    map[string]string // "" means absent
	}{
		{
			name: "plain request",
			url:  g.url + "/fwd/x?q=1",
			want: map[string]string{
				"X-Forwarded-For": "127.0.0.1", "X-Real-Ip": "127.0.0.1", "X-Forwarded-Proto": "http",
				"X-Forwarded-Host": "127.0.0.1", "X-Forwarded-Port": plainPort,
				"X-Forwarded-Path": "/fwd/x", "X-Forwarded-Prefix": "/fwd",
			},
		},
		{
			// The host is nginx's $host, lower-case without its port, and
			// the port is the one the request arrived on, as in Kong.
			name:    "host header with another port",
			url:     g.url + "/fwd",
			headers: []string{"Host", "Fwd.Example:9999"},
			want: map[string]string{
				"X-Forwarded-Host": "fwd.example", "X-Forwarded-Port": plainPort,
				"X-Forwarded-Path": "/fwd", "X-Forwarded-Prefix": "/fwd",
			},
		},
		{
			name:    "incoming X-Forwarded-For is appended to",
			url:     g.url + "/fwd",
			headers: []string{"X-Forwarded-For", "203.0.113.7", "X-Forwarded-For", "198.51.100.1, 10.0.0.1"},
			want:    map[string]string{"X-Forwarded-For": "203.0.113.7, 198.51.100.1, 10.0.0.1, 127.0.0.1", "X-Real-Ip": "127.0.0.1"},
		},
		{
			name: "client values of the other headers are not trusted",
			url:  g.url + "/fwd/y",
			headers: []string{"X-Forwarded-Proto", "gopher", "X-Forwarded-Host", "evil.example",
				"X-Forwarded-Port", "1", "X-Forwarded-Path", "/evil", "X-Forwarded-Prefix", "/evil", "X-Real-IP", "10.9.9.9"},
			want: map[string]string{
				"X-Forwarded-Proto": "http", "X-Forwarded-Host": "127.0.0.1", "X-Forwarded-Port": plainPort,
				"X-Forwarded-Path": "/fwd/y", "X-Forwarded-Prefix": "/fwd", "X-Real-Ip": "127.0.0.1",
			},
		},
		{
			name:    "no prefix without strip_path",
			url:     g.url + "/keep/z",
			headers: []string{"X-Forwarded-Prefix", "/evil"},
			want:    map[string]string{"X-Forwarded-Path": "/keep/z", "X-Forwarded-Prefix": ""},
		},
		{
			name:    "encoded path as received",
			url:     g.url + "/fwd/a%2Fb%41",
			headers: nil,
			want:    map[string]string{"X-Forwarded-Path": "/fwd/a%2Fb%41"},
		},
		{
			name: "net/http plain listener",
			url:  g.h2cURL + "/fwd",
			want: map[string]string{"X-Forwarded-Proto": "http", "X-Forwarded-Port": strconv.Itoa(g.h2cPort), "X-Forwarded-Host": "127.0.0.1"},
		},
		{
			name: "TLS listener",
			url:  g.tlsURL + "/fwd",
			want: map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Port": tlsPort, "X-Forwarded-Host": "127.0.0.1"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := decodeSeen(t, get(t, c, tc.url, tc.headers...))
			for name, want := range tc.want {
				got := strings.Join(s.Header.Values(name), ", ")
				if got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestViaOnBothLegs(t *testing.T) {
	up := startEcho(t, "a")
	g := startGateway(t, Options{Headers: HeadersFromSetting([]string{"server_tokens"})})
	g.apply(t, fmt.Sprintf(`services:
  - name: s
    url: %s
    routes:
      - paths: [/]
`, up.URL))
	via := "1.1 gantry/" + version.Gantry
	res := get(t, newClient(t), g.url+"/", "Via", "1.0 client-proxy",
		"X-Echo-Header", "Via: 1.0 upstream-cache", "X-Echo-Header", "Via: 1.1 other-cache")
	s := decodeSeen(t, res)
	if got := strings.Join(s.Header.Values("Via"), ", "); got != "1.0 client-proxy, "+via {
		t.Errorf("upstream got Via %q", got)
	}
	if got := strings.Join(res.Header.Values("Via"), ", "); got != "1.0 upstream-cache, 1.1 other-cache, "+via {
		t.Errorf("client got Via %q", got)
	}
}

func TestHeadersSetting(t *testing.T) {
	up := startEcho(t, "a")
	config := fmt.Sprintf(`services:
  - name: s
    url: %s
    routes:
      - paths: [/proxied]
`, up.URL)
	type want struct{ via, server, upstreamLatency, proxyLatency, responseLatency, upstreamStatus bool }
	tests := []struct {
		tokens []string
		want   want
	}{
		{nil, want{}},
		{[]string{"off"}, want{}},
		{[]string{"server_tokens"}, want{via: true, server: true}},
		{[]string{"latency_tokens"}, want{upstreamLatency: true, proxyLatency: true, responseLatency: true}},
		{[]string{"server_tokens", "latency_tokens"}, want{true, true, true, true, true, false}},
		{[]string{"X-Kong-Upstream-Status", "Via"}, want{via: true, upstreamStatus: true}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.tokens, ","), func(t *testing.T) {
			g := startGateway(t, Options{Headers: HeadersFromSetting(tc.tokens)})
			g.apply(t, config)
			c := newClient(t)
			check := func(res response, name string, want bool) {
				t.Helper()
				if got := res.Header.Get(name) != ""; got != want {
					t.Errorf("%s %s: present=%v, want %v (%q)", res.Request.URL.Path, name, got, want, res.Header.Get(name))
				}
			}
			proxied := get(t, c, g.url+"/proxied")
			s := decodeSeen(t, proxied)
			check(proxied, "Via", tc.want.via)
			check(proxied, "X-Kong-Upstream-Latency", tc.want.upstreamLatency)
			check(proxied, "X-Kong-Proxy-Latency", tc.want.proxyLatency)
			check(proxied, "X-Kong-Upstream-Status", tc.want.upstreamStatus)
			check(proxied, "X-Kong-Response-Latency", false)
			check(proxied, "Server", false)
			if got := s.Header.Get("Via") != ""; got != tc.want.via {
				t.Errorf("upstream request Via present=%v, want %v", got, tc.want.via)
			}
			if tc.want.upstreamStatus && proxied.Header.Get("X-Kong-Upstream-Status") != "200" {
				t.Errorf("X-Kong-Upstream-Status = %q", proxied.Header.Get("X-Kong-Upstream-Status"))
			}
			for _, h := range []string{"X-Kong-Upstream-Latency", "X-Kong-Proxy-Latency"} {
				if v := proxied.Header.Get(h); v != "" {
					if n, err := strconv.Atoi(v); err != nil || n < 0 {
						t.Errorf("%s = %q, want milliseconds", h, v)
					}
				}
			}

			generated := get(t, c, g.url+"/nowhere")
			wantKongError(t, generated, 404, "no Route matched with those values")
			check(generated, "Server", tc.want.server)
			check(generated, "X-Kong-Response-Latency", tc.want.responseLatency)
			check(generated, "Via", false)
			check(generated, "X-Kong-Upstream-Latency", false)
			if tc.want.server && generated.Header.Get("Server") != "gantry/"+version.Gantry {
				t.Errorf("Server = %q", generated.Header.Get("Server"))
			}
		})
	}
}

func TestHostSentUpstream(t *testing.T) {
	up := startEcho(t, "a")
	g := startGateway(t, Options{})
	g.apply(t, fmt.Sprintf(`services:
  - name: direct
    url: %[1]s
    routes:
      - name: direct
        paths: [/direct]
      - name: preserved
        paths: [/preserved]
        preserve_host: true
  - name: by-ip
    host: ip-upstream
    routes:
      - name: by-ip
        paths: [/by-ip]
      - name: by-ip-preserved
        paths: [/by-ip-preserved]
        preserve_host: true
  - name: by-name
    host: name-upstream
    routes:
      - paths: [/by-name]
  - name: by-host-header
    host: header-upstream
    routes:
      - paths: [/by-host-header]
upstreams:
  - name: ip-upstream
    targets:
      - target: %[2]s
  - name: name-upstream
    targets:
      - target: localhost:%[3]d
  - name: header-upstream
    host_header: named.example
    targets:
      - target: %[2]s
`, up.URL, up.addr, up.port))
	c := newClient(t)
	tests := []struct {
		path, host, want string
	}{
		{"/direct", "client.example", up.addr},
		{"/preserved", "client.example:8000", "client.example:8000"},
		{"/by-ip", "client.example", up.addr},
		{"/by-ip-preserved", "Client.Example", "Client.Example"},
		{"/by-name", "client.example", fmt.Sprintf("localhost:%d", up.port)},
		{"/by-host-header", "client.example", fmt.Sprintf("named.example:%d", up.port)},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			s := decodeSeen(t, get(t, c, g.url+tc.path, "Host", tc.host))
			if s.Host != tc.want {
				t.Fatalf("upstream got Host %q, want %q", s.Host, tc.want)
			}
		})
	}
}

func TestPathHandling(t *testing.T) {
	up := startEcho(t, "a")
	g := startGateway(t, Options{})
	g.apply(t, fmt.Sprintf(`services:
  - name: base
    url: %[1]s/base
    routes:
      - name: strip
        paths: [/strip]
      - name: nostrip
        paths: [/nostrip]
        strip_path: false
      - name: regex
        paths: ['~/items/(?<id>\d+)/']
      - name: encoded
        paths: [/enc]
  - name: s
    url: %[1]s/s
    routes:
      - {name: tv0, paths: [/tv0], path_handling: v0}
      - {name: tv1, paths: [/tv1], path_handling: v1}
      - {name: fv0, paths: [/fv0], path_handling: v0, strip_path: false}
      - {name: fv1, paths: [/fv1], path_handling: v1, strip_path: false}
  - name: root
    url: %[1]s
    routes:
      - name: root
        paths: [/root]
`, up.URL))
	c := newClient(t)
	tests := []struct{ request, want string }{
		{"/strip/users?x=1", "/base/users?x=1"},
		{"/strip", "/base"},
		{"/strip/", "/base/"},
		{"/nostrip/users", "/base/nostrip/users"},
		{"/tv0req", "/s/req"},
		{"/tv1req", "/sreq"},
		{"/fv0req", "/s/fv0req"},
		{"/fv1req", "/sfv1req"},
		{"/tv0/x", "/s/x"},
		{"/tv1/x", "/s/x"},
		{"/items/42/detail", "/base/detail"},
		{"/items/42/a/b?c=d", "/base/a/b?c=d"},
		{"/enc/a%2Fb%20c~d", "/base/a%2Fb%20c~d"},
		{"/enc/%E2%82%AC", "/base/%E2%82%AC"},
		{"/strip/q?b=2&a=1&a=3&enc=%2F%3D&sp=a+b&empty=&flag", "/base/q?b=2&a=1&a=3&enc=%2F%3D&sp=a+b&empty=&flag"},
		{"/root", "/"},
		{"/root/x/", "/x/"},
	}
	for _, tc := range tests {
		t.Run(tc.request, func(t *testing.T) {
			s := decodeSeen(t, get(t, c, g.url+tc.request))
			if s.URI != tc.want {
				t.Fatalf("upstream got %q, want %q", s.URI, tc.want)
			}
		})
	}
	// The query string is sent exactly as received, even when Go would
	// encode it differently.
	res := rawRequest(t, g.addr, "GET /strip/raw?a=%zz&b=c|d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if s := decodeSeen(t, res); s.URI != "/base/raw?a=%zz&b=c|d" {
		t.Fatalf("raw query: upstream got %q", s.URI)
	}
}

func TestRegexCapturesDriveHashing(t *testing.T) {
	a, b := startEcho(t, "a"), startEcho(t, "b")
	g := startGateway(t, Options{})
	g.apply(t, fmt.Sprintf(`services:
  - name: s
    host: users
    routes:
      - paths: ['~/user/(?<id>[a-z0-9]+)$']
upstreams:
  - name: users
    algorithm: consistent-hashing
    hash_on: uri_capture
    hash_on_uri_capture: id
    targets:
      - target: %s
      - target: %s
`, a.addr, b.addr))
	c := newClient(t)
	served := map[string]bool{}
	for i := range 20 {
		url := fmt.Sprintf("%s/user/u%d", g.url, i)
		first := decodeSeen(t, get(t, c, url)).Upstream
		for range 3 {
			if again := decodeSeen(t, get(t, c, url)).Upstream; again != first {
				t.Fatalf("id u%d went to %s then %s", i, first, again)
			}
		}
		served[first] = true
	}
	if len(served) != 2 {
		t.Fatalf("20 ids hashed to %v only: the capture is not what is hashed", served)
	}
}

func TestResponseHeadersAreNotInvented(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		body := "<html><body>no type</body></html>"
		fmt.Fprintf(brw, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Up: 1\r\n\r\n%s", len(body), body)
		brw.Flush()
	}))
	t.Cleanup(up.Close)
	g := startGateway(t, Options{})
	g.apply(t, fmt.Sprintf("services:\n  - url: %s\n    routes:\n      - paths: [/]\n", up.URL))
	for _, method := range []string{"GET", "HEAD"} {
		res := do(t, newClient(t), method, g.url+"/", nil)
		if res.StatusCode != 200 || res.Header.Get("X-Up") != "1" {
			t.Fatalf("%s: %d %v", method, res.StatusCode, res.Header)
		}
		if ct, ok := res.Header["Content-Type"]; ok {
			t.Fatalf("%s: the client got Content-Type %q, which the upstream did not send", method, ct)
		}
		if method == "HEAD" && (res.body != "" || res.ContentLength != 33) {
			t.Fatalf("HEAD: body %q, Content-Length %d", res.body, res.ContentLength)
		}
	}
}
