package cp_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/gantry-gw/gantry/internal/cluster"
	"github.com/gantry-gw/gantry/internal/cluster/cp"
	"github.com/gantry-gw/gantry/internal/entity"
	"github.com/gantry-gw/gantry/internal/leakcheck"
	"github.com/gantry-gw/gantry/internal/pki"
	"github.com/gantry-gw/gantry/internal/store"
	"github.com/gantry-gw/gantry/internal/store/sqlite"
)

// These tests run the control plane's cluster endpoint as it runs in
// production: over a real SQLite store, behind a loopback TLS listener
// that requires client certificates, with test data planes speaking the
// protocol through gorilla/websocket.

func TestMain(m *testing.M) {
	// Close stops what New and the handler start.
	leakcheck.Main(m, "gantry/internal/cluster/cp", "gorilla/websocket", "net/http.(*conn).serve", "net/http/httptest")
}

// waitFor bounds every wait for something the server does.
const waitFor = 10 * time.Second

// testVersion is the control plane's release in these tests.
const testVersion = "0.1.0"

// clock is a settable clock for the node registry.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a control plane under test and what its data planes need.
type env struct {
	t      *testing.T
	st     *store.Store
	srv    *cp.Server
	opts   cp.Options
	clock  *clock
	addr   string
	dialer *websocket.Dialer
	// certExpiry is the NotAfter of the data planes' client certificate.
	certExpiry time.Time
}

// newEnv starts a control plane over a new store; mod adjusts its
// options first.
func newEnv(t *testing.T, mod func(*cp.Options)) *env {
	t.Helper()
	b, err := sqlite.Open(filepath.Join(t.TempDir(), "gantry.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(b)
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, st: st, clock: newClock()}
	e.opts = cp.Options{
		Store:        st,
		Logger:       slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Version:      testVersion,
		PingInterval: time.Minute,
		PushWindow:   20 * time.Millisecond,
		Now:          e.clock.Now,
	}
	if mod != nil {
		mod(&e.opts)
	}
	e.srv = e.start(e.opts)

	clientCert, caPool := newClientPKI(t)
	e.certExpiry = clientCert.Cert.NotAfter
	hs := httptest.NewUnstartedServer(e.srv.Handler())
	hs.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: caPool}
	hs.StartTLS()
	t.Cleanup(hs.Close)
	t.Cleanup(e.srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(hs.Certificate())
	e.addr = hs.Listener.Addr().String()
	e.dialer = &websocket.Dialer{
		HandshakeTimeout: waitFor,
		TLSClientConfig:  &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{{Certificate: [][]byte{clientCert.Cert.Raw}, PrivateKey: clientCert.Key}}},
	}
	return e
}

// with returns a copy of e whose helpers report to t, for subtests.
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// start runs a control plane with opts.
func (e *env) start(opts cp.Options) *cp.Server {
	e.t.Helper()
	srv, err := cp.New(opts)
	if err != nil {
		e.t.Fatal(err)
	}
	return srv
}

// testWriter sends log lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

// newClientPKI makes a CA and a client certificate it signed, valid for
// half a day, and returns the certificate and a pool holding the CA.
func newClientPKI(t *testing.T) (*pki.KeyPair, *x509.CertPool) {
	t.Helper()
	ca, err := pki.Issue(pki.Template{CommonName: "gantry test cluster CA", IsCA: true, NotAfter: time.Now().Add(24 * time.Hour)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := pki.Issue(pki.Template{CommonName: "gantry test data plane", NotAfter: time.Now().Add(12 * time.Hour)}, ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return leaf, pool
}

// write runs fn in a store transaction and returns the new config version.
func (e *env) write(fn func(tx *store.Tx) error) int64 {
	e.t.Helper()
	v, err := e.st.Update(context.Background(), fn)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// insert creates an entity of schema s and returns it.
func (e *env) insert(s *entity.Schema, fields map[string]any) entity.Entity {
	e.t.Helper()
	var out entity.Entity
	e.write(func(tx *store.Tx) error {
		var err error
		out, err = tx.Insert(s, fields, store.WriteOptions{})
		return err
	})
	return out
}

// addService creates an enabled service named name.
func (e *env) addService(name string) entity.Entity {
	e.t.Helper()
	return e.insert(entity.Services, map[string]any{"name": name, "host": name + ".internal"})
}

// published waits until the server's latest snapshot is of version v,
// which means every connection has been woken for it.
func (e *env) published(v int64) (hash string) {
	e.t.Helper()
	var got int64
	eventually(e.t, "snapshot published", func() bool {
		hash, got = e.srv.Expected()
		return got == v
	})
	return hash
}

// settled waits until the server has published the store's current
// version, and returns its hash and version.
func (e *env) settled() (hash string, version int64) {
	e.t.Helper()
	v, err := e.st.Version(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return e.published(v), v
}

// node returns the registry row of id.
func (e *env) node(id string) (cp.Node, bool) {
	for _, n := range e.srv.Nodes() {
		if n.ID == id {
			return n, true
		}
	}
	return cp.Node{}, false
}

// waitNode waits until the row of id satisfies cond, and returns it.
func (e *env) waitNode(id, what string, cond func(cp.Node) bool) cp.Node {
	e.t.Helper()
	var n cp.Node
	eventually(e.t, what, func() bool {
		var ok bool
		n, ok = e.node(id)
		return ok && cond(n)
	})
	return n
}

// eventually polls cond until it holds, failing the test after waitFor.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dp is a test data plane: one WebSocket connection whose frames, pongs
// and close are collected by a reader goroutine.
type dp struct {
	t        *testing.T
	id       string
	hostname string
	version  string
	ws       *websocket.Conn
	frames   chan frame
	pongs    chan string
	done     chan struct{} // closed when the reader stops; err says why
	err      error
}

type frame struct {
	typ  int
	data []byte
}

// dial opens a data plane connection for a new node id; it sends nothing.
func (e *env) dial(version string) *dp {
	e.t.Helper()
	return e.dialID(uuid.NewString(), version)
}

// dialID opens a data plane connection for node id.
func (e *env) dialID(id, version string) *dp {
	e.t.Helper()
	d := &dp{t: e.t, id: id, hostname: "dp-" + id[:8], version: version,
		frames: make(chan frame, 256), pongs: make(chan string, 16), done: make(chan struct{})}
	q := url.Values{"node_id": {id}, "node_hostname": {d.hostname}, "node_version": {version}}
	ws, _, err := e.dialer.Dial(e.url(q), nil)
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	d.ws = ws
	ws.SetPongHandler(func(p string) error {
		d.pongs <- p
		return nil
	})
	go func() {
		defer close(d.done)
		for {
			typ, data, err := ws.ReadMessage()
			if err != nil {
				d.err = err
				return
			}
			d.frames <- frame{typ, data}
		}
	}()
	e.t.Cleanup(func() {
		ws.Close()
		for {
			select {
			case <-d.frames:
			case <-d.done:
				return
			}
		}
	})
	return d
}

func (e *env) url(q url.Values) string {
	return "wss://" + e.addr + cluster.OutletPath + "?" + q.Encode()
}

// connect waits for the store's current version to be published, dials,
// and says hello with the given config hash and plugins.
func (e *env) connect(hash string, plugins []cluster.Plugin) *dp {
	e.t.Helper()
	e.settled()
	d := e.dial(testVersion)
	d.hello(hash, plugins)
	return d
}

// hello sends the node's Hello.
func (d *dp) hello(hash string, plugins []cluster.Plugin) {
	d.t.Helper()
	if plugins == nil {
		plugins = []cluster.Plugin{}
	}
	d.send(&cluster.Hello{ProtocolVersion: cluster.ProtocolVersion, NodeID: d.id, Hostname: d.hostname,
		Version: d.version, Labels: map[string]string{"region": "test"}, Plugins: plugins, ConfigHash: hash})
}

// send writes a data plane message.
func (d *dp) send(m any) {
	d.t.Helper()
	data, err := cluster.Encode(m)
	if err != nil {
		d.t.Fatal(err)
	}
	d.sendRaw(websocket.BinaryMessage, data)
}

func (d *dp) sendRaw(typ int, data []byte) {
	d.t.Helper()
	if err := d.ws.WriteMessage(typ, data); err != nil {
		d.t.Fatalf("write: %v", err)
	}
}

// reconfigure waits for the next frame and decodes it as a Reconfigure.
func (d *dp) reconfigure() *cluster.Reconfigure {
	d.t.Helper()
	select {
	case f := <-d.frames:
		if f.typ != websocket.BinaryMessage {
			d.t.Fatalf("a frame of type %d, want binary", f.typ)
		}
		r, err := cluster.DecodeReconfigure(f.data, int64(cp.DefaultMaxPayload)*cluster.DecompressionFactor)
		if err != nil {
			d.t.Fatal(err)
		}
		return r
	case <-d.done:
		d.t.Fatalf("connection closed while waiting for a reconfigure: %v", d.err)
	case <-time.After(waitFor):
		d.t.Fatal("no reconfigure")
	}
	return nil
}

// ping sends a ping carrying payload and waits for its pong. Frames that
// arrive before the pong are returned: the server writes a pending
// snapshot before a pong, so an empty result proves nothing was sent.
func (d *dp) ping(payload string) []frame {
	d.t.Helper()
	if err := d.ws.WriteControl(websocket.PingMessage, []byte(payload), time.Now().Add(waitFor)); err != nil {
		d.t.Fatalf("ping: %v", err)
	}
	var before []frame
	timeout := time.After(waitFor)
	for {
		select {
		case p := <-d.pongs:
			if p != payload {
				d.t.Fatalf("pong %q, want %q", p, payload)
			}
			return append(before, d.drain()...)
		case f := <-d.frames:
			before = append(before, f)
		case <-d.done:
			d.t.Fatalf("connection closed while waiting for a pong: %v", d.err)
		case <-timeout:
			d.t.Fatal("no pong")
		}
	}
}

// drain returns the frames already received.
func (d *dp) drain() []frame {
	var out []frame
	for {
		select {
		case f := <-d.frames:
			out = append(out, f)
		default:
			return out
		}
	}
}

// nothingSent checks, with a ping, that no frame came.
func (d *dp) nothingSent(hash string) {
	d.t.Helper()
	if got := d.ping(hash); len(got) > 0 {
		d.t.Fatalf("%d frames sent, want none", len(got))
	}
}

// closed waits for the server to close the connection and returns its
// close code and reason.
func (d *dp) closed() (int, string) {
	d.t.Helper()
	select {
	case <-d.done:
	case <-time.After(waitFor):
		d.t.Fatal("connection not closed")
	}
	d.ws.Close()
	var ce *websocket.CloseError
	if errors.As(d.err, &ce) {
		return ce.Code, ce.Text
	}
	if d.err != nil {
		return 0, d.err.Error()
	}
	return 0, ""
}
