// Package connectproxytest runs a real HTTP CONNECT forward proxy on
// loopback for tests: of package connectproxy, and end-to-end tests of a
// data plane that reaches its control plane through proxy_server. The
// proxy checks Basic credentials, serves http or https (with a
// certificate made for the test), tunnels bytes both ways, and records
// every CONNECT it was sent, so a test can tell that traffic really went
// through it.
//
// It only opens tunnels to loopback addresses: a test proxy must not
// become a way out of the machine.
package connectproxytest

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-gw/gantry/internal/pki"
)

// headTimeout bounds how long the proxy waits for a client's request head.
const headTimeout = 10 * time.Second

// Options shape a Server.
type Options struct {
	// User and Password are the Basic credentials the proxy requires;
	// when both are empty it requires none.
	User, Password string
	// TLS serves https, with a self-signed certificate for 127.0.0.1 and
	// localhost that CertPool trusts.
	TLS bool
}

// Request is one CONNECT the proxy received.
type Request struct {
	// Target is the request's target, host:port.
	Target string
	// Authorized is whether the credentials were accepted (always true
	// for a proxy without credentials).
	Authorized bool
	// Header holds the request's header fields, Host and
	// Proxy-Authorization included, as sent.
	Header http.Header
}

// Server is a running CONNECT proxy on 127.0.0.1.
type Server struct {
	opts   Options
	ln     net.Listener
	pool   *x509.CertPool
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	requests []Request
	conns    map[net.Conn]struct{}
	closed   bool
}

// New starts a proxy on 127.0.0.1 with a port the system chooses. It is
// stopped, with every tunnel closed, when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("connectproxytest: listen: %v", err)
	}
	s := &Server{opts: opts, ln: ln, conns: map[net.Conn]struct{}{}}
	if opts.TLS {
		cert, pool, err := selfSigned()
		if err != nil {
			ln.Close()
			t.Fatalf("connectproxytest: certificate: %v", err)
		}
		s.pool = pool
		s.ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.Close)
	return s
}

// URL returns the proxy's URL, http or https, with the credentials when
// the proxy requires some: what proxy_server would be set to.
func (s *Server) URL() *url.URL {
	u := &url.URL{Scheme: "http", Host: s.Addr()}
	if s.opts.TLS {
		u.Scheme = "https"
	}
	if s.opts.User != "" || s.opts.Password != "" {
		u.User = url.UserPassword(s.opts.User, s.opts.Password)
	}
	return u
}

// Addr returns the proxy's address, 127.0.0.1:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// CertPool returns a pool that trusts the proxy's certificate in TLS
// mode, and nil otherwise.
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// Requests returns the CONNECT requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = Request{Target: r.Target, Authorized: r.Authorized, Header: r.Header.Clone()}
	}
	return out
}

// Close stops the proxy: it stops accepting, closes every connection and
// tunnel, and waits for its goroutines. New arranges for it to be called
// when the test ends; a test may call it sooner to take the proxy away.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.ln.Close()
	s.wg.Wait()
}

// track records c so that Close can close it; it returns false, having
// closed c, when the server is already closed.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		if !s.track(c) {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			s.handle(c)
		}()
	}
}

// handle serves one client connection: one CONNECT, then the tunnel.
func (s *Server) handle(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(headTimeout))
	br := bufio.NewReader(c)
	tp := textproto.NewReader(br)
	line, err := tp.ReadLine()
	if err != nil {
		return
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		return
	}
	method, rest, _ := strings.Cut(line, " ")
	target, proto, _ := strings.Cut(rest, " ")
	if method != http.MethodConnect || !strings.HasPrefix(proto, "HTTP/1.") {
		reply(c, "405 Method Not Allowed")
		return
	}
	authorized := s.authorized(hdr.Get("Proxy-Authorization"))
	s.mu.Lock()
	s.requests = append(s.requests, Request{Target: target, Authorized: authorized, Header: http.Header(hdr).Clone()})
	s.mu.Unlock()
	if !authorized {
		reply(c, "407 Proxy Authentication Required", "Proxy-Authenticate: Basic realm=\"connectproxytest\"")
		return
	}
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		reply(c, "400 Bad Request")
		return
	}
	if !loopback(host) {
		reply(c, "403 Forbidden")
		return
	}
	d := net.Dialer{Timeout: headTimeout}
	up, err := d.DialContext(s.ctx, "tcp", target)
	if err != nil {
		reply(c, "502 Bad Gateway")
		return
	}
	if !s.track(up) {
		return
	}
	defer s.untrack(up)
	c.SetReadDeadline(time.Time{})
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	pipe(c, br, up)
}

// authorized reports whether the Proxy-Authorization value carries the
// proxy's credentials.
func (s *Server) authorized(value string) bool {
	if s.opts.User == "" && s.opts.Password == "" {
		return true
	}
	scheme, cred, ok := strings.Cut(value, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return false
	}
	want := base64.StdEncoding.EncodeToString([]byte(s.opts.User + ":" + s.opts.Password))
	return strings.TrimSpace(cred) == want
}

// reply sends a response without a body, and the connection is closed
// after it.
func reply(c net.Conn, status string, fields ...string) {
	var b strings.Builder
	b.WriteString("HTTP/1.1 " + status + "\r\n")
	for _, f := range fields {
		b.WriteString(f + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\nConnection: close\r\n\r\n")
	io.WriteString(c, b.String())
}

// pipe copies bytes both ways until both directions end: client to
// upstream from br, which may hold bytes the client sent right after its
// request head, and upstream to client. When one direction ends, the
// other side's write half is closed so it sees the end too.
func pipe(client net.Conn, br *bufio.Reader, up net.Conn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(up, br)
		closeWrite(up)
	}()
	io.Copy(client, up)
	closeWrite(client)
	<-done
}

// closeWrite half-closes c when it can, and closes it otherwise.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		if cw.CloseWrite() == nil {
			return
		}
	}
	c.Close()
}

// loopback reports whether host names this machine.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// selfSigned makes a certificate for 127.0.0.1 and localhost, and a pool
// that trusts it.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	kp, err := pki.Issue(pki.Template{
		CommonName:  "connectproxytest",
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotAfter:    time.Now().Add(24 * time.Hour),
	}, nil)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(kp.Cert)
	return tls.Certificate{Certificate: [][]byte{kp.Cert.Raw}, PrivateKey: kp.Key, Leaf: kp.Cert}, pool, nil
}
