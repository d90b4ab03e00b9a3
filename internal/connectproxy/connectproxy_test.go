package connectproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-gw/gantry/internal/connectproxy/connectproxytest"
	"github.com/gantry-gw/gantry/internal/pki"
)

// testDeadline bounds every exchange of a test, so a bug fails the test
// instead of hanging it.
const testDeadline = 10 * time.Second

// testCA is a CA for the mutual TLS a data plane runs with its control
// plane inside the tunnel.
type testCA struct {
	kp   *pki.KeyPair
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	kp, err := pki.Issue(pki.Template{CommonName: "test cluster CA", IsCA: true, NotAfter: time.Now().Add(2 * time.Hour)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(kp.Cert)
	return &testCA{kp: kp, pool: pool}
}

// issue makes a certificate for 127.0.0.1 named cn, good for a server and
// a client.
func (ca *testCA) issue(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	kp, err := pki.Issue(pki.Template{CommonName: cn, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotAfter: time.Now().Add(time.Hour)}, ca.kp)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{kp.Cert.Raw}, PrivateKey: kp.Key}
}

// echoServer is a stand-in for a control plane: it requires a client
// certificate from the test CA, records the client's name and echoes
// bytes.
type echoServer struct {
	addr  string
	mu    sync.Mutex
	peers []string
}

func startEcho(t *testing.T, ca *testCA) *echoServer {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{ca.issue(t, "control plane")},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.pool,
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{addr: ln.Addr().String()}
	serveConns(t, ln, func(c net.Conn) {
		tc := c.(*tls.Conn)
		tc.SetDeadline(time.Now().Add(testDeadline))
		if err := tc.Handshake(); err != nil {
			return
		}
		e.mu.Lock()
		e.peers = append(e.peers, tc.ConnectionState().PeerCertificates[0].Subject.CommonName)
		e.mu.Unlock()
		io.Copy(tc, tc)
	})
	return e
}

// serveConns accepts connections on ln and runs handle on each in its
// own goroutine, closing the connection when handle returns. When the
// test ends it closes ln and every connection and waits for the handlers.
func serveConns(t *testing.T, ln net.Listener, handle func(c net.Conn)) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	closed := false
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return
			}
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				handle(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}

// checkMutualTLS runs the data plane's side of mutual TLS in the tunnel
// and checks that bytes make the round trip to the echo server.
func checkMutualTLS(t *testing.T, conn net.Conn, ca *testCA, e *echoServer) {
	t.Helper()
	tc := tls.Client(conn, &tls.Config{
		Certificates: []tls.Certificate{ca.issue(t, "data plane")},
		RootCAs:      ca.pool,
		ServerName:   "127.0.0.1",
		MinVersion:   tls.VersionTLS12,
	})
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(testDeadline))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("mutual TLS in the tunnel: %v", err)
	}
	if cn := tc.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "control plane" {
		t.Errorf("server certificate %q, want the control plane's", cn)
	}
	const msg = "hello through the tunnel\n"
	if _, err := io.WriteString(tc, msg); err != nil {
		t.Fatal(err)
	}
	got, err := bufio.NewReader(tc).ReadString('\n')
	if err != nil || got != msg {
		t.Fatalf("echo: got %q, %v; want %q", got, err, msg)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.peers) != 1 || e.peers[0] != "data plane" {
		t.Errorf("echo server saw clients %q, want [data plane]", e.peers)
	}
}

func TestDialThroughProxy(t *testing.T) {
	const user, pass = "dp-user", "p#ss w:rd" // '#' is written %23 in the URL
	tests := []struct {
		name string
		opts connectproxytest.Options
		// proxyURL makes the URL the dialer uses from the proxy's own
		// URL (nil: that URL as is).
		proxyURL func(t *testing.T, u *url.URL) *url.URL
		// tlsConfig makes the config for an https proxy (nil: none).
		tlsConfig func(s *connectproxytest.Server) *tls.Config
		// wantErr is a substring of the error; "" means the tunnel works.
		wantErr    string
		wantStatus int  // the ConnectError's status code, when one
		wantAuth   bool // what the proxy recorded for the one CONNECT
		noRequest  bool // the proxy must not have seen a CONNECT
	}{
		{
			name:     "http proxy without credentials",
			wantAuth: true,
		},
		{
			name:     "http proxy with the right credentials",
			opts:     connectproxytest.Options{User: user, Password: pass},
			wantAuth: true,
		},
		{
			name: "credentials from a proxy_server value",
			opts: connectproxytest.Options{User: user, Password: pass},
			proxyURL: func(t *testing.T, u *url.URL) *url.URL {
				p, err := ParseProxyURL("http://dp-user:p%23ss%20w%3Ard@" + u.Host)
				if err != nil {
					t.Fatal(err)
				}
				return p
			},
			wantAuth: true,
		},
		{
			name: "http proxy with a wrong password",
			opts: connectproxytest.Options{User: user, Password: pass},
			proxyURL: func(_ *testing.T, u *url.URL) *url.URL {
				u.User = url.UserPassword(user, "wrong")
				return u
			},
			wantErr:    "407 Proxy Authentication Required",
			wantStatus: 407,
		},
		{
			name: "http proxy without the credentials it wants",
			opts: connectproxytest.Options{User: user, Password: pass},
			proxyURL: func(_ *testing.T, u *url.URL) *url.URL {
				u.User = nil
				return u
			},
			wantErr:    "407 Proxy Authentication Required",
			wantStatus: 407,
		},
		{
			name: "https proxy, trusted",
			opts: connectproxytest.Options{User: user, Password: pass, TLS: true},
			tlsConfig: func(s *connectproxytest.Server) *tls.Config {
				return &tls.Config{RootCAs: s.CertPool()}
			},
			wantAuth: true,
		},
		{
			name: "https proxy, verification off",
			opts: connectproxytest.Options{TLS: true},
			tlsConfig: func(*connectproxytest.Server) *tls.Config {
				return &tls.Config{InsecureSkipVerify: true}
			},
			wantAuth: true,
		},
		{
			name: "https proxy, not trusted by the given roots",
			opts: connectproxytest.Options{TLS: true},
			tlsConfig: func(*connectproxytest.Server) *tls.Config {
				return &tls.Config{RootCAs: x509.NewCertPool()}
			},
			wantErr:   "TLS handshake",
			noRequest: true,
		},
		{
			name:      "https proxy, not trusted by the system roots",
			opts:      connectproxytest.Options{TLS: true},
			wantErr:   "TLS handshake",
			noRequest: true,
		},
		{
			name: "https proxy, certificate for another name",
			opts: connectproxytest.Options{TLS: true},
			tlsConfig: func(s *connectproxytest.Server) *tls.Config {
				return &tls.Config{RootCAs: s.CertPool(), ServerName: "proxy.example.com"}
			},
			wantErr:   "TLS handshake",
			noRequest: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca := newTestCA(t)
			cp := startEcho(t, ca)
			proxy := connectproxytest.New(t, tt.opts)
			u := proxy.URL()
			if tt.proxyURL != nil {
				u = tt.proxyURL(t, u)
			}
			d := &Dialer{Proxy: u, Timeout: testDeadline}
			if tt.tlsConfig != nil {
				d.TLSConfig = tt.tlsConfig(proxy)
			}

			ctx, cancel := context.WithCancel(context.Background())
			conn, err := d.DialContext(ctx, "tcp", cp.addr)
			// Once dialled, the tunnel no longer depends on ctx.
			cancel()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("DialContext: %v", err)
				}
				checkMutualTLS(t, conn, ca, cp)
			} else {
				if err == nil {
					conn.Close()
					t.Fatalf("DialContext succeeded, want an error with %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q, want %q in it", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), pass) || strings.Contains(err.Error(), "wrong") {
					t.Errorf("error %q repeats a password", err)
				}
			}
			if tt.wantStatus != 0 {
				var ce *ConnectError
				if !errors.As(err, &ce) || ce.StatusCode != tt.wantStatus {
					t.Fatalf("error %v, want a ConnectError with status %d", err, tt.wantStatus)
				}
				want := "proxy " + proxy.Addr() + " refused CONNECT " + cp.addr + ": 407 Proxy Authentication Required"
				if err.Error() != want {
					t.Errorf("error %q, want %q", err, want)
				}
			}

			reqs := proxy.Requests()
			if tt.noRequest {
				if len(reqs) != 0 {
					t.Errorf("proxy saw %d CONNECTs, want none", len(reqs))
				}
				return
			}
			if len(reqs) != 1 {
				t.Fatalf("proxy saw %d CONNECTs, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Target != cp.addr || r.Authorized != tt.wantAuth {
				t.Errorf("proxy recorded %+v, want target %s, authorized %v", r, cp.addr, tt.wantAuth)
			}
			if got := r.Header.Get("Host"); got != cp.addr {
				t.Errorf("Host %q, want %q", got, cp.addr)
			}
			if got := r.Header.Get("Proxy-Connection"); got != "Keep-Alive" {
				t.Errorf("Proxy-Connection %q, want Keep-Alive", got)
			}
			if auth := r.Header.Get("Proxy-Authorization"); (auth != "") != (u.User != nil) {
				t.Errorf("Proxy-Authorization %q with proxy user info %v", auth, u.User != nil)
			}
		})
	}
}

// TestProxyRefuses checks the ConnectError for the refusals of the test
// proxy: a target off the machine, and a target that is down.
func TestProxyRefuses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	tests := []struct {
		name   string
		target string
		want   int
	}{
		{"target off the machine", "192.0.2.1:8005", 403},
		{"target down", down, 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proxy := connectproxytest.New(t, connectproxytest.Options{User: "u", Password: "p"})
			d := &Dialer{Proxy: proxy.URL(), Timeout: testDeadline}
			conn, err := d.DialContext(context.Background(), "tcp", tt.target)
			if err == nil {
				conn.Close()
				t.Fatal("DialContext succeeded")
			}
			var ce *ConnectError
			if !errors.As(err, &ce) || ce.StatusCode != tt.want || ce.Target != tt.target || ce.Proxy != proxy.Addr() {
				t.Fatalf("error %v, want a ConnectError with status %d", err, tt.want)
			}
			if reqs := proxy.Requests(); len(reqs) != 1 || !reqs[0].Authorized || reqs[0].Target != tt.target {
				t.Errorf("proxy recorded %+v", reqs)
			}
		})
	}
}

// fakeProxy is a proxy that answers CONNECT as a test scripts it: it reads
// the request head and calls answer with the connection (nil answer: it
// never answers). It reports each accepted connection on accepted and
// each request head on heads.
type fakeProxy struct {
	addr     string
	accepted chan struct{}
	heads    chan string
}

func newFakeProxy(t *testing.T, answer func(c net.Conn)) *fakeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeProxy{addr: ln.Addr().String(), accepted: make(chan struct{}, 16), heads: make(chan string, 16)}
	serveConns(t, ln, func(c net.Conn) {
		f.accepted <- struct{}{}
		var head strings.Builder
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			head.WriteString(line)
			if err != nil {
				io.Copy(io.Discard, br)
				return
			}
			if line == "\r\n" {
				break
			}
		}
		f.heads <- head.String()
		if answer != nil {
			answer(c)
		}
		// Hold the connection until the client closes it.
		io.Copy(io.Discard, br)
	})
	return f
}

// TestProxyAnswers checks the request as written on the wire and what the
// dialer makes of each kind of answer.
func TestProxyAnswers(t *testing.T) {
	const target = "cp.example.com:8005"
	write := func(parts ...string) func(c net.Conn) {
		return func(c net.Conn) {
			for _, p := range parts {
				if _, err := io.WriteString(c, p); err != nil {
					return
				}
			}
			c.(*net.TCPConn).CloseWrite()
		}
	}
	tests := []struct {
		name       string
		answer     func(c net.Conn)
		wantTunnel string // what the tunnel reads to its end
		wantErr    string
	}{
		{
			name:   "200 and nothing more",
			answer: write("HTTP/1.1 200 Connection established\r\n\r\n"),
		},
		{
			name:       "bytes after the head, in the same write",
			answer:     write("HTTP/1.1 200 Connection established\r\nVia: fake\r\n\r\nhello from ", "the tunnel"),
			wantTunnel: "hello from the tunnel",
		},
		{
			name:       "HTTP/1.0 answer",
			answer:     write("HTTP/1.0 200 OK\r\n\r\nfirst bytes"),
			wantTunnel: "first bytes",
		},
		{
			name:    "forbidden",
			answer:  write("HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nforbidden"),
			wantErr: "proxy {proxy} refused CONNECT cp.example.com:8005: 403 Forbidden",
		},
		{
			name:    "bad gateway",
			answer:  write("HTTP/1.1 502 Bad Gateway\r\n\r\n"),
			wantErr: "refused CONNECT cp.example.com:8005: 502 Bad Gateway",
		},
		{
			name:    "not HTTP",
			answer:  write("SSH-2.0-OpenSSH_9.6\r\n"),
			wantErr: "malformed HTTP",
		},
		{
			name:    "closed without an answer",
			answer:  func(c net.Conn) { c.Close() },
			wantErr: "unexpected EOF",
		},
		{
			name: "endless head",
			answer: func(c net.Conn) {
				io.WriteString(c, "HTTP/1.1 200 Connection established\r\n")
				line := "X-Padding: " + strings.Repeat("a", 1000) + "\r\n"
				for range 100 {
					if _, err := io.WriteString(c, line); err != nil {
						return
					}
				}
			},
			wantErr: "response head larger than 64 KiB",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeProxy(t, tt.answer)
			d := &Dialer{Proxy: &url.URL{Scheme: "http", Host: f.addr}, Timeout: testDeadline}
			conn, err := d.DialContext(context.Background(), "tcp", target)
			wantHead := "CONNECT cp.example.com:8005 HTTP/1.1\r\nHost: cp.example.com:8005\r\nProxy-Connection: Keep-Alive\r\n\r\n"
			select {
			case head := <-f.heads:
				if head != wantHead {
					t.Errorf("request head %q, want %q", head, wantHead)
				}
			case <-time.After(testDeadline):
				t.Fatal("the proxy got no request head")
			}
			if tt.wantErr != "" {
				want := strings.ReplaceAll(tt.wantErr, "{proxy}", f.addr)
				if err == nil {
					conn.Close()
					t.Fatalf("DialContext succeeded, want an error with %q", want)
				}
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("error %q, want %q in it", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("DialContext: %v", err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(testDeadline))
			got, err := io.ReadAll(conn)
			if err != nil || string(got) != tt.wantTunnel {
				t.Errorf("tunnel read %q, %v; want %q", got, err, tt.wantTunnel)
			}
		})
	}
}

// TestProxyNeverAnswers checks that Timeout and the context end a dial to
// a proxy that accepts the connection and then says nothing.
func TestProxyNeverAnswers(t *testing.T) {
	tests := []struct {
		name    string
		scheme  string
		timeout time.Duration
		// ctx makes the dial's context (nil: one that does not end).
		ctx  func(f *fakeProxy) (context.Context, context.CancelFunc)
		want error
	}{
		{
			name:    "Timeout",
			scheme:  "http",
			timeout: 100 * time.Millisecond,
			want:    context.DeadlineExceeded,
		},
		{
			name:    "Timeout during the TLS handshake",
			scheme:  "https",
			timeout: 100 * time.Millisecond,
			want:    context.DeadlineExceeded,
		},
		{
			name:    "context deadline",
			scheme:  "http",
			timeout: time.Hour,
			ctx: func(*fakeProxy) (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 100*time.Millisecond)
			},
			want: context.DeadlineExceeded,
		},
		{
			name:    "context cancelled",
			scheme:  "http",
			timeout: time.Hour,
			ctx: func(f *fakeProxy) (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				go func() {
					// Cancel once the request is on its way.
					select {
					case h := <-f.heads:
						f.heads <- h
						cancel()
					case <-ctx.Done():
					}
				}()
				return ctx, cancel
			},
			want: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeProxy(t, nil)
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tt.ctx != nil {
				ctx, cancel = tt.ctx(f)
			}
			defer cancel()
			d := &Dialer{Proxy: &url.URL{Scheme: tt.scheme, Host: f.addr}, Timeout: tt.timeout}
			start := time.Now()
			conn, err := d.DialContext(ctx, "tcp", "127.0.0.1:8005")
			if err == nil {
				conn.Close()
				t.Fatal("DialContext succeeded against a silent proxy")
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
			if elapsed := time.Since(start); elapsed > testDeadline {
				t.Errorf("DialContext returned after %v", elapsed)
			}
			select {
			case <-f.accepted:
			default:
				t.Error("the proxy never saw the connection")
			}
		})
	}
}

func TestDialContextArguments(t *testing.T) {
	proxy := &url.URL{Scheme: "http", Host: "127.0.0.1:1"}
	tests := []struct {
		name    string
		d       *Dialer
		network string
		addr    string
		want    string
	}{
		{"udp", &Dialer{Proxy: proxy}, "udp", "127.0.0.1:8005", `network "udp" not supported`},
		{"no proxy", &Dialer{}, "tcp", "127.0.0.1:8005", "no proxy URL"},
		{"socks proxy", &Dialer{Proxy: &url.URL{Scheme: "socks5", Host: "127.0.0.1:1080"}}, "tcp", "127.0.0.1:8005", `scheme "socks5" not supported`},
		{"target without port", &Dialer{Proxy: proxy}, "tcp", "cp.example.com", "missing port"},
		{"target with a line break", &Dialer{Proxy: proxy}, "tcp", "cp\r\nX-y:8005", "expected host:port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.d.DialContext(context.Background(), tt.network, tt.addr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestParseProxyURL(t *testing.T) {
	tests := []struct {
		in       string
		wantHost string // "" when an error is expected
		wantUser string
		wantPass string
		wantErr  string
	}{
		{in: "http://proxy:3128", wantHost: "proxy:3128"},
		{in: "http://proxy:3128/", wantHost: "proxy:3128"},
		{in: "HTTP://proxy:3128", wantHost: "proxy:3128"},
		{in: "http://proxy", wantHost: "proxy:443"}, // Kong's quirk
		{in: "https://proxy", wantHost: "proxy:443"},
		{in: "https://proxy:8443", wantHost: "proxy:8443"},
		{in: "http://[::1]:3128", wantHost: "[::1]:3128"},
		{in: "http://[::1]", wantHost: "[::1]:443"},
		{in: "http://user:pass@proxy:3128", wantHost: "proxy:3128", wantUser: "user", wantPass: "pass"},
		{in: "http://us%40er:p%23ss%3Aw%20rd@proxy:3128", wantHost: "proxy:3128", wantUser: "us@er", wantPass: "p#ss:w rd"},
		{in: "http://user@proxy:3128", wantHost: "proxy:3128", wantUser: "user"},
		{in: "", wantErr: "empty"},
		{in: "socks5://proxy:1080", wantErr: "only http and https"},
		{in: "proxy:3128", wantErr: "only http and https"},
		{in: "http:proxy", wantErr: "needs a host"},
		{in: "http://", wantErr: "needs a host"},
		{in: "http://:3128", wantErr: "needs a host"},
		{in: "http://user:s3cret#x@proxy:3128", wantErr: "write # in a password as %23"},
		{in: "http://proxy:3128#frag", wantErr: "fragment"},
		{in: "http://proxy:3128?a=b", wantErr: "query"},
		{in: "http://proxy:3128?", wantErr: "query"},
		{in: "http://proxy:3128/path", wantErr: "path"},
		{in: "http://proxy:0", wantErr: "between 1 and 65535"},
		{in: "http://user:s3cret@proxy:99999", wantErr: "between 1 and 65535"},
		{in: "http://proxy:", wantErr: "between 1 and 65535"},
		{in: "http://user:s3cret@proxy:port", wantErr: "invalid proxy URL"},
		{in: "http://user:s3cret@pro xy:3128", wantErr: "invalid proxy URL"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			u, err := ParseProxyURL(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("got %v, want an error with %q", u, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q, want %q in it", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error %q repeats the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseProxyURL: %v", err)
			}
			if u.Host != tt.wantHost || u.Path != "" {
				t.Errorf("host %q path %q, want %q and no path", u.Host, u.Path, tt.wantHost)
			}
			var user, pass string
			if u.User != nil {
				user = u.User.Username()
				pass, _ = u.User.Password()
			}
			if user != tt.wantUser || pass != tt.wantPass {
				t.Errorf("credentials %q:%q, want %q:%q", user, pass, tt.wantUser, tt.wantPass)
			}
		})
	}
}

// TestProxyGoesAway checks that closing the test proxy ends a tunnel in
// use, as a data plane must notice when its proxy restarts.
func TestProxyGoesAway(t *testing.T) {
	ca := newTestCA(t)
	cp := startEcho(t, ca)
	proxy := connectproxytest.New(t, connectproxytest.Options{})
	d := &Dialer{Proxy: proxy.URL(), Timeout: testDeadline}
	conn, err := d.DialContext(context.Background(), "tcp", cp.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	proxy.Close()
	conn.SetDeadline(time.Now().Add(testDeadline))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("read from a tunnel whose proxy is gone succeeded")
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the tunnel stayed open after the proxy closed: %v", err)
	}
}
