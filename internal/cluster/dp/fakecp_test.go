package dp

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gantry-gw/gantry/internal/cluster"
	"github.com/gantry-gw/gantry/internal/declarative"
	"github.com/gantry-gw/gantry/internal/pki"
	"github.com/gantry-gw/gantry/internal/proxy"
)

// waitTimeout bounds every wait in these tests. Waits poll or block on
// channels; none sleeps for a fixed time.
const waitTimeout = 10 * time.Second

// testCerts are a CA, a server certificate for 127.0.0.1 and a client
// certificate, made once per test binary.
type testCerts struct {
	server, client *tls.Config
}

var makeCerts = sync.OnceValues(func() (*testCerts, error) {
	ca, err := pki.Issue(pki.Template{CommonName: "test cluster CA", IsCA: true, NotAfter: time.Now().Add(2 * time.Hour)}, nil)
	if err != nil {
		return nil, err
	}
	leaf := func(cn string) (tls.Certificate, error) {
		kp, err := pki.Issue(pki.Template{CommonName: cn, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotAfter: time.Now().Add(time.Hour)}, ca)
		if err != nil {
			return tls.Certificate{}, err
		}
		return tls.Certificate{Certificate: [][]byte{kp.Cert.Raw}, PrivateKey: kp.Key}, nil
	}
	serverCert, err := leaf("control plane")
	if err != nil {
		return nil, err
	}
	clientCert, err := leaf("data plane")
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return &testCerts{
		server: &tls.Config{
			Certificates: []tls.Certificate{serverCert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    pool,
			MinVersion:   tls.VersionTLS12,
		},
		client: &tls.Config{
			Certificates: []tls.Certificate{clientCert},
			RootCAs:      pool,
			MinVersion:   tls.VersionTLS12,
		},
	}, nil
})

// fakeCP is a control plane in the test process: a TLS server that
// requires a client certificate and serves cluster.OutletPath. It hands
// every accepted connection to the test, which reads what the data plane
// sent and sends what it wants.
type fakeCP struct {
	srv       *httptest.Server
	clientTLS *tls.Config
	conns     chan *cpConn
	quit      chan struct{}

	// silent makes the next connections read nothing after hello: no
	// pong, no message, as a control plane that hangs.
	silent atomic.Bool
	// refuse is how many upgrades to refuse with HTTP 400 first.
	refuse atomic.Int32
}

// cpConn is one data plane connection as the fake control plane sees it.
type cpConn struct {
	ws       *websocket.Conn
	query    url.Values
	hello    *cluster.Hello
	helloErr error
	accepted time.Time

	pings  chan string // ping payloads, in order
	pongs  chan struct{}
	msgs   chan any   // *cluster.Applied, *cluster.Rejected, or a decode error
	closed chan error // the read error that ended the connection

	writeMu sync.Mutex
}

func newFakeCP(t *testing.T) *fakeCP {
	t.Helper()
	certs, err := makeCerts()
	if err != nil {
		t.Fatalf("make certificates: %v", err)
	}
	cp := &fakeCP{
		clientTLS: certs.client,
		conns:     make(chan *cpConn, 100),
		quit:      make(chan struct{}),
	}
	cp.srv = httptest.NewUnstartedServer(http.HandlerFunc(cp.handle))
	cp.srv.TLS = certs.server.Clone()
	cp.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	cp.srv.StartTLS()
	t.Cleanup(func() {
		close(cp.quit)
		cp.srv.Close()
	})
	return cp
}

// addr is the control plane's host:port.
func (cp *fakeCP) addr() string { return cp.srv.Listener.Addr().String() }

func (cp *fakeCP) handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != cluster.OutletPath {
		http.NotFound(w, r)
		return
	}
	if cp.refuse.Add(-1) >= 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"message": "node_id: required"}`)
		return
	}
	up := websocket.Upgrader{HandshakeTimeout: cluster.HandshakeTimeout}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &cpConn{
		ws:       ws,
		query:    r.URL.Query(),
		accepted: time.Now(),
		pings:    make(chan string, 1000),
		pongs:    make(chan struct{}, 10),
		msgs:     make(chan any, 100),
		closed:   make(chan error, 1),
	}
	ws.SetReadLimit(cluster.MaxDataPlaneFrame)
	silent := cp.silent.Load()
	ws.SetPingHandler(func(data string) error {
		select {
		case c.pings <- data:
		default:
		}
		return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	ws.SetPongHandler(func(string) error {
		select {
		case c.pongs <- struct{}{}:
		default:
		}
		return nil
	})
	_, frame, err := ws.ReadMessage()
	if err == nil {
		c.hello, c.helloErr = cluster.DecodeHello(frame)
	} else {
		c.helloErr = err
	}
	cp.conns <- c
	if silent {
		<-cp.quit
		ws.Close()
		return
	}
	defer ws.Close()
	for {
		_, frame, err := ws.ReadMessage()
		if err != nil {
			c.closed <- err
			return
		}
		m, err := cluster.DecodeDataPlaneMessage(frame)
		if err != nil {
			c.msgs <- err
			continue
		}
		c.msgs <- m
	}
}

// accept waits for the next data plane connection and checks its hello.
func (cp *fakeCP) accept(t *testing.T) *cpConn {
	t.Helper()
	select {
	case c := <-cp.conns:
		if c.helloErr != nil {
			t.Fatalf("hello: %v", c.helloErr)
		}
		return c
	case <-time.After(waitTimeout):
		t.Fatal("no data plane connected")
	}
	return nil
}

// send writes one binary frame to the data plane.
func (c *cpConn) send(t *testing.T, frame []byte) {
	t.Helper()
	c.write(t, websocket.BinaryMessage, frame)
}

func (c *cpConn) write(t *testing.T, typ int, frame []byte) {
	t.Helper()
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.ws.WriteMessage(typ, frame); err != nil {
		t.Fatalf("write to the data plane: %v", err)
	}
}

// close ends the connection with a close code and reason.
func (c *cpConn) close(t *testing.T, code int, reason string) {
	t.Helper()
	msg := websocket.FormatCloseMessage(code, reason)
	if err := c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// next returns the next message from the data plane.
func (c *cpConn) next(t *testing.T) any {
	t.Helper()
	select {
	case m := <-c.msgs:
		if err, ok := m.(error); ok {
			t.Fatalf("invalid message from the data plane: %v", err)
		}
		return m
	case <-time.After(waitTimeout):
		t.Fatal("no message from the data plane")
	}
	return nil
}

// applied waits for the next message and checks it is Applied for
// version and hash.
func (c *cpConn) applied(t *testing.T, version int64, hash string) {
	t.Helper()
	want := &cluster.Applied{Type: cluster.TypeApplied, ConfigVersion: version, ConfigHash: hash}
	got, ok := c.next(t).(*cluster.Applied)
	if !ok || *got != *want {
		t.Fatalf("got %#v, want %#v", got, want)
	}
}

// rejected waits for the next message and checks it is Rejected for
// version and hash.
func (c *cpConn) rejected(t *testing.T, version int64, hash string) *cluster.Rejected {
	t.Helper()
	m := c.next(t)
	got, ok := m.(*cluster.Rejected)
	if !ok {
		t.Fatalf("got %#v, want a rejected", m)
	}
	if got.ConfigVersion != version || got.ConfigHash != hash {
		t.Fatalf("rejected version %d hash %q, want %d %q", got.ConfigVersion, got.ConfigHash, version, hash)
	}
	return got
}

// waitPing waits for a ping carrying hash and returns when it came.
func (c *cpConn) waitPing(t *testing.T, hash string) time.Time {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case p := <-c.pings:
			if p == hash {
				return time.Now()
			}
		case <-deadline:
			t.Fatalf("no ping with hash %s", hash)
		}
	}
}

// waitClosed waits for the connection to end and returns the error it
// ended with.
func (c *cpConn) waitClosed(t *testing.T) error {
	t.Helper()
	select {
	case err := <-c.closed:
		return err
	case <-time.After(waitTimeout):
		t.Fatal("the data plane did not close the connection")
	}
	return nil
}

// syncReader waits until the data plane has read every frame sent before:
// it pings, and the data plane's reader answers only after the frames
// ahead of the ping.
func (c *cpConn) syncReader(t *testing.T) {
	t.Helper()
	if err := c.ws.WriteControl(websocket.PingMessage, []byte("sync"), time.Now().Add(time.Second)); err != nil {
		t.Fatalf("ping: %v", err)
	}
	select {
	case <-c.pongs:
	case <-time.After(waitTimeout):
		t.Fatal("no pong from the data plane")
	}
}

// logBuffer collects a client's logs for tests to search.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitLog waits until the log holds every one of parts on one line.
func (l *logBuffer) waitLog(t *testing.T, parts ...string) {
	t.Helper()
	waitFor(t, "a log line with "+strings.Join(parts, ", "), func() bool {
		for line := range strings.SplitSeq(l.String(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return true
			}
		}
		return false
	})
}

// waitFor polls cond until it holds or the wait times out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testDP is a running client and what the test watches it with.
type testDP struct {
	client *Client
	proxy  *proxy.Proxy
	logs   *logBuffer
	stop   func() // cancels Run and waits for it to return
}

// startDP runs a client against cp with a real proxy as its Applier, a
// short reconnect delay and whatever edit changes. The ping interval is
// short enough to keep tests quick and long enough that a loaded machine
// does not make the node time the control plane out.
func startDP(t *testing.T, cp *fakeCP, edit func(*Options)) *testDP {
	t.Helper()
	px, err := proxy.New(proxy.Options{})
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	logs := &logBuffer{}
	opts := Options{
		ControlPlane:   cp.addr(),
		TLS:            cp.clientTLS,
		NodeID:         "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
		Hostname:       "dp-1",
		Version:        "0.1.0",
		Applier:        px,
		PingInterval:   time.Second,
		ReconnectDelay: 50 * time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&opts)
	}
	c := New(opts)
	return runDP(t, c, px, logs)
}

// runDP runs c until the test ends.
func runDP(t *testing.T, c *Client, px *proxy.Proxy, logs *logBuffer) *testDP {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(waitTimeout):
				t.Error("Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("the data plane's log:\n%s", logs)
		}
	})
	return &testDP{client: c, proxy: px, logs: logs, stop: stop}
}

// served returns the hash of what the proxy serves.
func (d *testDP) served() string {
	if rt := d.proxy.Current(); rt != nil {
		return rt.Hash
	}
	return cluster.EmptyHash
}

// config is a small valid configuration whose route matches path.
func config(path string) string {
	return `{"_format_version": "3.0",
 "services": [{"id": "5b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", "name": "s1", "host": "example.internal"}],
 "routes": [{"id": "6c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "name": "r1", "paths": ["` + path + `"], "service": "s1"}]}`
}

// hashOf parses a configuration and returns its config hash.
func hashOf(t *testing.T, doc string) string {
	t.Helper()
	cfg, err := declarative.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return cfg.Hash().Config
}

// frame builds the Reconfigure frame a control plane sends for doc at
// version, and returns it with the config hash.
func frame(t *testing.T, version int64, doc string) ([]byte, string) {
	t.Helper()
	cfg, err := declarative.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	h := cfg.Hash()
	hashes := map[string]string{"config": h.Config}
	for g, s := range h.Groups {
		hashes[g] = s
	}
	return rawFrame(t, version, h.Config, hashes, tableOf(t, doc)), h.Config
}

// tableOf returns doc in the flat JSON form a control plane sends.
func tableOf(t *testing.T, doc string) []byte {
	t.Helper()
	cfg, err := declarative.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	table, err := cfg.Encode(declarative.JSON, declarative.Flat)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return table
}

// rawFrame builds a Reconfigure frame from its parts, valid or not.
func rawFrame(t *testing.T, version int64, hash string, hashes map[string]string, table []byte) []byte {
	t.Helper()
	f, err := cluster.EncodeReconfigure(&cluster.Reconfigure{
		ConfigVersion: version,
		Timestamp:     1795312345.5,
		ConfigHash:    hash,
		Hashes:        hashes,
		ConfigTable:   json.RawMessage(table),
	})
	if err != nil {
		t.Fatalf("encode reconfigure: %v", err)
	}
	return f
}

// gzipped compresses data as a control plane's frame is compressed.
func gzipped(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// closeCode returns the close code of a read error, or -1.
func closeCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}
