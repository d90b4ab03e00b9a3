package proxy

import (
	"bufio"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-gw/gantry/internal/declarative"
	"github.com/gantry-gw/gantry/internal/leakcheck"
	"github.com/gantry-gw/gantry/internal/pki"
)

// The tests of this package run a real Proxy behind real listeners on
// loopback and send its traffic to real upstream servers, so what they
// check is what a client and an upstream see on the wire.

func TestMain(m *testing.M) {
	// Every test stops the servers, clients and proxies it starts.
	leakcheck.Main(m, "gantry/internal/proxy", "net/http.(*conn).serve", "net/http.(*persistConn)",
		"net/http/httptest", "google.golang.org/grpc")
}

// gateway is a Proxy served the way a node serves it: a plain listener
// (the HTTP/1.1 engine), a plain listener with the http2 flag (net/http:
// HTTP/1.1 and h2c), a TLS listener (net/http: h2 and HTTP/1.1,
// certificates by SNI) and a status listener.
type gateway struct {
	p                  *Proxy
	url, tlsURL        string
	addr, tlsAddr      string
	h2cURL, h2cAddr    string
	status             string
	plainPort, tlsPort int
	h2cPort            int
}

// listener is one of a gateway's proxy listeners.
type listener struct {
	name, url, addr string
	port            int
}

// plainListeners are the gateway's plain listeners: the HTTP/1.1 engine
// and net/http. Tests that loop over them check that both server paths
// drive the proxy core alike.
func (g *gateway) plainListeners() []listener {
	return []listener{
		{"engine", g.url, g.addr, g.plainPort},
		{"net/http", g.h2cURL, g.h2cAddr, g.h2cPort},
	}
}

// startGateway starts a Proxy with opts and its listeners, all stopped when
// the test ends.
func startGateway(t *testing.T, opts Options) *gateway {
	t.Helper()
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close) // registered first: runs after the listeners close
	g := &gateway{p: p}
	g.url = serveHTTP1(t, p)
	plain := new(http.Protocols)
	plain.SetHTTP1(true)
	plain.SetUnencryptedHTTP2(true)
	g.h2cURL = serve(t, p, nil, plain, p.ConnState)
	secure := new(http.Protocols)
	secure.SetHTTP1(true)
	secure.SetHTTP2(true)
	g.tlsURL = serve(t, p, &tls.Config{
		GetCertificate: p.GetCertificate,
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
	}, secure, p.ConnState)
	g.status = serve(t, p.StatusHandler(), nil, nil, nil)
	g.addr = strings.TrimPrefix(g.url, "http://")
	g.tlsAddr = strings.TrimPrefix(g.tlsURL, "https://")
	g.h2cAddr = strings.TrimPrefix(g.h2cURL, "http://")
	g.plainPort = portOf(t, g.addr)
	g.tlsPort = portOf(t, g.tlsAddr)
	g.h2cPort = portOf(t, g.h2cAddr)
	return g
}

// serve serves h on a new loopback listener until the test ends, and
// returns its URL.
func serve(t *testing.T, h http.Handler, tlsCfg *tls.Config, protocols *http.Protocols, connState func(net.Conn, http.ConnState)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    32 << 10, // as proxy_listen is served
		Protocols:         protocols,
		ConnState:         connState,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	scheme := "http"
	if tlsCfg != nil {
		srv.TLSConfig = tlsCfg
		ln = tls.NewListener(ln, tlsCfg)
		scheme = "https"
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return scheme + "://" + ln.Addr().String()
}

// serveHTTP1 serves p's HTTP/1.1 engine on a new loopback listener, with
// the limits a node gives proxy_listen, until the test ends, and returns
// its URL.
func serveHTTP1(t *testing.T, p *Proxy) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := p.NewHTTP1Server()
	srv.MaxHeaderBytes = 32 << 10
	srv.ReadHeaderTimeout = 10 * time.Second
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return "http://" + ln.Addr().String()
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// apply parses a declarative config (the format version is added) and
// makes the proxy serve it.
func (g *gateway) apply(t *testing.T, body string) {
	t.Helper()
	if err := g.tryApply(t, body); err != nil {
		t.Fatalf("Apply: %v\nconfig:\n%s", err, body)
	}
}

// tryApply is apply returning the proxy's refusal.
func (g *gateway) tryApply(t *testing.T, body string) error {
	t.Helper()
	return g.p.Apply(parseConfig(t, body))
}

func parseConfig(t *testing.T, body string) *declarative.Config {
	t.Helper()
	cfg, err := declarative.Parse([]byte("_format_version: \"3.0\"\n" + body))
	if err != nil {
		t.Fatalf("Parse: %v\nconfig:\n%s", err, body)
	}
	return cfg
}

// newClient returns an HTTP/1.1 client that trusts any certificate, never
// follows redirects and never goes through an environment proxy.
func newClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{
		DisableCompression: true,
		TLSClientConfig:    &tls.Config{InsecureSkipVerify: true},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// response is a response read whole.
type response struct {
	*http.Response
	body string
}

// do sends a request and reads the whole response. headers are name,
// value pairs; "Host" sets the request's Host.
func do(t *testing.T, c *http.Client, method, url string, body io.Reader, headers ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if strings.EqualFold(headers[i], "Host") {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Add(headers[i], headers[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read the body: %v", method, url, err)
	}
	return response{Response: res, body: string(data)}
}

func get(t *testing.T, c *http.Client, url string, headers ...string) response {
	t.Helper()
	return do(t, c, http.MethodGet, url, nil, headers...)
}

// wantKongError checks a response the proxy generated itself: status and
// Kong's JSON body.
func wantKongError(t *testing.T, res response, status int, message string) {
	t.Helper()
	want := `{"message":` + strconv.Quote(message) + `}`
	if res.StatusCode != status || strings.TrimSpace(res.body) != want {
		t.Fatalf("got %d %q, want %d %s", res.StatusCode, res.body, status, want)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Fatalf("Content-Type = %q", ct)
	}
}

// rawRequest writes a request as it is on a new connection to addr and
// reads the response.
func rawRequest(t *testing.T, addr, request string) response {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read the response to %q: %v", request, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read the body of the response to %q: %v", request, err)
	}
	return response{Response: res, body: string(data)}
}

// eventually polls cond until it holds, or fails the test after a
// deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// seen is what an echo upstream received.
type seen struct {
	Upstream      string
	Method        string
	URI           string
	Host          string
	Proto         string
	Header        http.Header
	Body          string
	ContentLength int64
	SNI           string
	ClientCN      string
}

// echo is an upstream that answers every request with what it received,
// as JSON, and counts requests.
type echo struct {
	*httptest.Server
	name string
	hits atomic.Int64
	// addr is the server's host:port, port its port.
	addr string
	port int
}

func (e *echo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.hits.Add(1)
	body, _ := io.ReadAll(r.Body)
	s := seen{Upstream: e.name, Method: r.Method, URI: r.RequestURI, Host: r.Host, Proto: r.Proto,
		Header: r.Header, Body: string(body), ContentLength: r.ContentLength}
	if r.TLS != nil {
		s.SNI = r.TLS.ServerName
		if len(r.TLS.PeerCertificates) > 0 {
			s.ClientCN = r.TLS.PeerCertificates[0].Subject.CommonName
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Upstream", e.name)
	// The client may ask for response headers: "X-Echo-Header: Name: value".
	for _, v := range r.Header.Values("X-Echo-Header") {
		if name, value, ok := strings.Cut(v, ":"); ok {
			w.Header().Add(strings.TrimSpace(name), strings.TrimSpace(value))
		}
	}
	json.NewEncoder(w).Encode(s)
}

// startEcho starts a plain HTTP/1.1 echo upstream.
func startEcho(t *testing.T, name string) *echo {
	t.Helper()
	e := &echo{name: name}
	e.Server = httptest.NewServer(e)
	t.Cleanup(e.Close)
	e.addr = strings.TrimPrefix(e.URL, "http://")
	e.port = portOf(t, e.addr)
	return e
}

// startTLSEcho starts an HTTPS echo upstream with cfg (its certificate,
// client authentication).
func startTLSEcho(t *testing.T, name string, cfg *tls.Config) *echo {
	t.Helper()
	e := &echo{name: name}
	e.Server = httptest.NewUnstartedServer(e)
	e.TLS = cfg
	e.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes tests make fail
	e.StartTLS()
	t.Cleanup(e.Close)
	e.addr = strings.TrimPrefix(e.URL, "https://")
	e.port = portOf(t, e.addr)
	return e
}

// decodeSeen reads an echo upstream's answer.
func decodeSeen(t *testing.T, res response) seen {
	t.Helper()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d, body %s", res.StatusCode, res.body)
	}
	var s seen
	if err := json.Unmarshal([]byte(res.body), &s); err != nil {
		t.Fatalf("not an echo answer: %v: %s", err, res.body)
	}
	return s
}

// closedAddr returns a loopback address nothing listens on: connections to
// it are refused.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// silentAddr returns the address of a listener that accepts connections
// and never answers, until the test ends.
func silentAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		close(conns)
		for c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// yamlString quotes s for YAML (a double-quoted scalar reads Go's escapes
// of printable ASCII and newlines the same way).
func yamlString(s string) string { return strconv.Quote(s) }

// testCA is a certificate authority made for one test.
type testCA struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM string
	pool    *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	kp, err := pki.Issue(pki.Template{CommonName: "Gantry Test CA", IsCA: true, NotAfter: time.Now().Add(24 * time.Hour)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(kp.Cert)
	return &testCA{cert: kp.Cert, key: kp.Key, certPEM: string(kp.CertPEM), pool: pool}
}

// leaf is an issued certificate with its PEM forms.
type leaf struct {
	tls             tls.Certificate
	certPEM, keyPEM string
}

// issue makes a certificate for cn and names (DNS names or IP addresses),
// with an ECDSA key or, when rsaKey, an RSA one: pki.Issue makes ECDSA
// keys only, and the tests of certificate selection need both.
func (ca *testCA) issue(t *testing.T, cn string, names []string, rsaKey bool) leaf {
	t.Helper()
	var key crypto.Signer
	var err error
	if rsaKey {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	l := leaf{certPEM: pemBlock("CERTIFICATE", der), keyPEM: pemBlock("PRIVATE KEY", keyDER)}
	l.tls, err = tls.X509KeyPair([]byte(l.certPEM), []byte(l.keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func pemBlock(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}
