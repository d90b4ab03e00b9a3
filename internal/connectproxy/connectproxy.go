// Package connectproxy opens TCP connections through an HTTP forward proxy
// with the CONNECT method, as a data plane does to reach its control plane
// when cluster_use_proxy = on: it connects to the proxy (over TLS for an
// https proxy), asks it for a tunnel to the control plane, and hands the
// tunnel back as a net.Conn, in which the caller then runs its own mutual
// TLS with the control plane. The proxy sees only the target's host and
// port, never the cluster traffic.
//
// The request is the one Kong's data planes send:
//
//	CONNECT cp.example.com:8005 HTTP/1.1
//	Host: cp.example.com:8005
//	Proxy-Connection: Keep-Alive
//	Proxy-Authorization: Basic dXNlcjpwYXNz
//
// with Proxy-Authorization only when the proxy URL has credentials. Any
// 2xx answer opens the tunnel; anything else is an error that names the
// proxy, the target and the status line.
package connectproxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultTimeout bounds connecting to the proxy, the TLS handshake with
// an https proxy and the CONNECT exchange when Dialer.Timeout is zero. It
// is Kong's cluster handshake timeout.
const DefaultTimeout = 5 * time.Second

// DefaultPort is the proxy port used when the proxy URL names none, for
// https and, as Kong does, for http proxies too.
const DefaultPort = "443"

// maxResponseHead bounds the proxy's response head, so that a broken or
// hostile proxy cannot make the dialer buffer without end.
const maxResponseHead = 64 << 10

// maxStatusInError bounds how much of the proxy's status line an error
// repeats.
const maxStatusInError = 256

// Dialer dials addresses through a forward proxy with HTTP CONNECT. Its
// fields are read at each dial and must not change while one is under
// way. The zero Timeout is DefaultTimeout.
type Dialer struct {
	// Proxy is the proxy's URL, http or https, as ParseProxyURL returns
	// it. User information, when present, is sent as Basic credentials
	// (url.URL has already decoded it: a '#' in a password is written %23
	// in the URL). Without a port, the port is DefaultPort.
	Proxy *url.URL
	// TLSConfig verifies an https proxy's certificate. Nil means the
	// system's roots; an empty ServerName means the proxy's host. Set
	// InsecureSkipVerify for proxy_server_ssl_verify = off. It is not
	// used for http proxies, nor for the connection inside the tunnel.
	TLSConfig *tls.Config
	// Timeout bounds connecting to the proxy, the TLS handshake with an
	// https proxy and the CONNECT exchange (0: DefaultTimeout). The
	// context passed to DialContext can end the dial sooner.
	Timeout time.Duration
}

// ConnectError reports a proxy that answered CONNECT with a status other
// than 2xx: 407 when it wants other credentials, 403 when it does not
// allow the target, 502 when it could not reach it.
type ConnectError struct {
	// Proxy is the proxy's host:port (never its credentials).
	Proxy string
	// Target is the host:port the tunnel was asked for.
	Target string
	// StatusCode and Status are those of the proxy's answer ("407" and
	// "407 Proxy Authentication Required").
	StatusCode int
	Status     string
}

// Error renders the error as "proxy 127.0.0.1:3128 refused CONNECT
// 127.0.0.1:8005: 407 Proxy Authentication Required".
func (e *ConnectError) Error() string {
	return fmt.Sprintf("proxy %s refused CONNECT %s: %s", e.Proxy, e.Target, e.Status)
}

// ParseProxyURL checks a proxy_server value and returns it as a URL ready
// for Dialer.Proxy. The rules are Kong's: only http and https; a host is
// required; no query or fragment (a '#' in a password is written %23),
// and no path other than "/". Credentials go in the user information,
// URL-encoded.
//
// A URL without a port gets DefaultPort, 443, for https as expected and
// also for http: that is Kong's behaviour (not 80, not 3128), kept so that
// a kong.conf means the same to Gantry. Write the port to be sure.
//
// Errors never repeat the URL, which may hold a password.
func ParseProxyURL(s string) (*url.URL, error) {
	const form = "expected http://[user:password@]host[:port] or https://[user:password@]host[:port]"
	if s == "" {
		return nil, errors.New("proxy URL is empty; " + form)
	}
	if strings.Contains(s, "#") {
		return nil, errors.New("a proxy URL may not have a fragment (write # in a password as %23); " + form)
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL
		}
		return nil, fmt.Errorf("invalid proxy URL: %v; %s", err, form)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("only http and https proxies are supported; " + form)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return nil, errors.New("a proxy URL needs a host; " + form)
	}
	if u.RawQuery != "" || u.ForceQuery {
		return nil, errors.New("a proxy URL may not have a query; " + form)
	}
	if u.Path != "" && u.Path != "/" {
		return nil, errors.New("a proxy URL may not have a path; " + form)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, errors.New("a proxy URL's port must be between 1 and 65535; " + form)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return nil, errors.New("a proxy URL's port must be between 1 and 65535; " + form)
	}
	out := &url.URL{Scheme: u.Scheme, User: u.User, Host: proxyAddr(u)}
	return out, nil
}

// proxyAddr returns the host:port to dial for the proxy u.
func proxyAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = DefaultPort
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// DialContext connects to addr (host:port) through the proxy and returns
// the tunnel. network must be "tcp", "tcp4" or "tcp6"; it applies to the
// connection to the proxy, since the proxy resolves and dials addr
// itself. ctx, bounded by Timeout, ends the dial and the exchange; once
// DialContext has returned, ctx no longer affects the connection.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("connectproxy: network %q not supported (tcp only)", network)
	}
	if d.Proxy == nil {
		return nil, errors.New("connectproxy: no proxy URL")
	}
	if d.Proxy.Scheme != "http" && d.Proxy.Scheme != "https" {
		return nil, fmt.Errorf("connectproxy: proxy scheme %q not supported (http or https)", d.Proxy.Scheme)
	}
	if err := checkTarget(addr); err != nil {
		return nil, err
	}
	proxy := proxyAddr(d.Proxy)
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var nd net.Dialer
	conn, err := nd.DialContext(ctx, network, proxy)
	if err != nil {
		return nil, fmt.Errorf("connect to proxy %s: %w", proxy, err)
	}
	tunnel, err := d.connect(ctx, conn, proxy, addr)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return tunnel, nil
}

// checkTarget refuses a target that is not host:port or that would break
// the request line.
func checkTarget(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("connectproxy: target %q: %w", addr, err)
	}
	if host == "" || port == "" || strings.ContainsAny(addr, " \t\r\n") {
		return fmt.Errorf("connectproxy: target %q: expected host:port", addr)
	}
	return nil
}

// connect runs TLS with an https proxy and the CONNECT exchange on conn,
// ending both when ctx ends.
func (d *Dialer) connect(ctx context.Context, conn net.Conn, proxy, addr string) (net.Conn, error) {
	// A blocked read or write returns once ctx ends: its deadline is
	// moved to the past. stop tells whether that happened.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	failed := func(step string, err error) error {
		if ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		return fmt.Errorf("proxy %s: %s: %w", proxy, step, err)
	}

	if d.Proxy.Scheme == "https" {
		cfg := d.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = d.Proxy.Hostname()
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			stop()
			return nil, failed("TLS handshake", err)
		}
		conn = tc
	}

	if _, err := io.WriteString(conn, connectRequest(d.Proxy, addr)); err != nil {
		stop()
		return nil, failed("CONNECT "+addr, err)
	}
	head := &headLimit{r: conn, n: maxResponseHead}
	br := bufio.NewReader(head)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		stop()
		if errors.Is(err, errHeadTooLarge) {
			err = fmt.Errorf("response head larger than %d KiB", maxResponseHead>>10)
		}
		return nil, failed("CONNECT "+addr, err)
	}
	if !stop() {
		return nil, failed("CONNECT "+addr, ctx.Err())
	}
	if resp.StatusCode/100 != 2 {
		status := resp.Status
		if len(status) > maxStatusInError {
			status = status[:maxStatusInError] + "…"
		}
		return nil, &ConnectError{Proxy: proxy, Target: addr, StatusCode: resp.StatusCode, Status: status}
	}
	// Bytes the proxy sent after its response head belong to the tunnel.
	if n := br.Buffered(); n > 0 {
		rest, _ := br.Peek(n)
		return &bufferedConn{Conn: conn, buf: append([]byte(nil), rest...)}, nil
	}
	return conn, nil
}

// connectRequest renders the CONNECT request for addr.
func connectRequest(proxy *url.URL, addr string) string {
	var b strings.Builder
	b.WriteString("CONNECT " + addr + " HTTP/1.1\r\n")
	b.WriteString("Host: " + addr + "\r\n")
	b.WriteString("Proxy-Connection: Keep-Alive\r\n")
	if u := proxy.User; u != nil {
		pass, _ := u.Password()
		if u.Username() != "" || pass != "" {
			cred := base64.StdEncoding.EncodeToString([]byte(u.Username() + ":" + pass))
			b.WriteString("Proxy-Authorization: Basic " + cred + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// errHeadTooLarge is returned by headLimit past its limit.
var errHeadTooLarge = errors.New("response head too large")

// headLimit reads at most n bytes from r, then fails with
// errHeadTooLarge. It bounds what reading the proxy's response head may
// buffer; once the head is read, the tunnel reads the connection
// directly.
type headLimit struct {
	r io.Reader
	n int64
}

func (h *headLimit) Read(p []byte) (int, error) {
	if h.n <= 0 {
		return 0, errHeadTooLarge
	}
	if int64(len(p)) > h.n {
		p = p[:h.n]
	}
	n, err := h.r.Read(p)
	h.n -= int64(n)
	return n, err
}

// bufferedConn is a tunnel whose first bytes were read with the proxy's
// response head: Read returns them before reading the connection again.
type bufferedConn struct {
	net.Conn
	mu  sync.Mutex
	buf []byte
}

func (c *bufferedConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.buf) > 0 {
		n := copy(p, c.buf)
		c.buf = c.buf[n:]
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}
