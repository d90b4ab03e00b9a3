package dp

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gantry-gw/gantry/internal/cluster"
	"github.com/gantry-gw/gantry/internal/declarative"
	"github.com/gantry-gw/gantry/internal/dpcache"
	"github.com/gantry-gw/gantry/internal/proxy"
)

// recorder is an Applier that records what it is asked to apply before
// passing it on, and can hold each Apply until the test lets it go.
type recorder struct {
	next    Applier
	entered chan string   // when not nil, receives each hash on entry
	gate    chan struct{} // when not nil, each Apply waits on it

	mu     sync.Mutex
	hashes []string
}

func (r *recorder) Apply(cfg *declarative.Config) error {
	h := cfg.Hash().Config
	if r.entered != nil {
		r.entered <- h
	}
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	r.hashes = append(r.hashes, h)
	r.mu.Unlock()
	return r.next.Apply(cfg)
}

func (r *recorder) applied() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.hashes...)
}

// wrap makes r the Applier of opts, in front of the one it had.
func (r *recorder) wrap(opts *Options) {
	r.next = opts.Applier
	opts.Applier = r
}

func TestHello(t *testing.T) {
	cached := hashOf(t, config("/cached"))
	tests := []struct {
		name        string
		current     string
		version     int64
		plugins     []cluster.Plugin
		labels      map[string]string
		wantHash    string
		wantPlugins []cluster.Plugin
	}{
		{
			name:        "new node",
			wantHash:    cluster.EmptyHash,
			wantPlugins: []cluster.Plugin{},
		},
		{
			name:     "node with a cached configuration",
			current:  cached,
			version:  7,
			plugins:  []cluster.Plugin{{Name: "key-auth", Version: "0.1.0"}, {Name: "ACL", Version: "0.1.0"}, {Name: "cors", Version: "0.2.0"}},
			labels:   map[string]string{"region": "eu-west-1", "deployment": "edge"},
			wantHash: cached,
			wantPlugins: []cluster.Plugin{
				{Name: "ACL", Version: "0.1.0"}, {Name: "cors", Version: "0.2.0"}, {Name: "key-auth", Version: "0.1.0"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp := newFakeCP(t)
			px, err := proxy.New(proxy.Options{})
			if err != nil {
				t.Fatal(err)
			}
			logs := &logBuffer{}
			c := New(Options{
				ControlPlane:   cp.addr(),
				TLS:            cp.clientTLS,
				NodeID:         "0b6f1c1e-2d3c-4b5a-9e8f-7a6b5c4d3e2f",
				Hostname:       "dp-7.example",
				Version:        "0.1.2",
				Labels:         tt.labels,
				Plugins:        tt.plugins,
				Applier:        px,
				PingInterval:   400 * time.Millisecond,
				ReconnectDelay: 50 * time.Millisecond,
				Logger:         slog.New(slog.NewTextHandler(logs, nil)),
			})
			c.SetCurrent(tt.current, tt.version)
			runDP(t, c, px, logs)
			conn := cp.accept(t)

			wantQuery := map[string]string{
				"node_id":       "0b6f1c1e-2d3c-4b5a-9e8f-7a6b5c4d3e2f",
				"node_hostname": "dp-7.example",
				"node_version":  "0.1.2",
			}
			for k, v := range wantQuery {
				if got := conn.query.Get(k); got != v {
					t.Errorf("query %s = %q, want %q", k, got, v)
				}
			}
			want := &cluster.Hello{
				Type:            cluster.TypeHello,
				ProtocolVersion: cluster.ProtocolVersion,
				NodeID:          "0b6f1c1e-2d3c-4b5a-9e8f-7a6b5c4d3e2f",
				Hostname:        "dp-7.example",
				Version:         "0.1.2",
				Labels:          tt.labels,
				Plugins:         tt.wantPlugins,
				ConfigHash:      tt.wantHash,
				ConfigVersion:   tt.version,
			}
			if !reflect.DeepEqual(conn.hello, want) {
				t.Errorf("hello = %#v\nwant %#v", conn.hello, want)
			}
			// The first ping follows the hello at once; then one every
			// interval, each carrying the hash.
			for i := range 3 {
				select {
				case p := <-conn.pings:
					if p != tt.wantHash {
						t.Errorf("ping %d payload = %q, want %q", i, p, tt.wantHash)
					}
				case <-time.After(waitTimeout):
					t.Fatalf("ping %d did not come", i)
				}
			}
			waitFor(t, "Connected", c.Connected)
		})
	}
}

func TestApply(t *testing.T) {
	cp := newFakeCP(t)
	cache := dpcache.New(t.TempDir())
	rec := &recorder{}
	// A long interval tells the ping that follows an apply from the
	// periodic ones.
	dp := startDP(t, cp, func(o *Options) {
		o.Cache = cache
		o.PingInterval = 20 * time.Second
		rec.wrap(o)
	})
	conn := cp.accept(t)
	conn.waitPing(t, cluster.EmptyHash)

	f1, h1 := frame(t, 1, config("/one"))
	conn.send(t, f1)
	sent := time.Now()
	conn.applied(t, 1, h1)
	if pinged := conn.waitPing(t, h1); pinged.Sub(sent) > 10*time.Second {
		t.Errorf("the ping with the new hash came %s after the frame, want at once", pinged.Sub(sent))
	}
	checkServing(t, dp, h1, 1)
	checkCache(t, cache, h1, 1)
	dp.logs.waitLog(t, "applied configuration from the control plane", "config_version=1", "config_hash="+h1)

	// The same configuration under a new version: acknowledged, not
	// rebuilt.
	f2, _ := frame(t, 2, config("/one"))
	conn.send(t, f2)
	conn.applied(t, 2, h1)
	if got := rec.applied(); len(got) != 1 {
		t.Errorf("applier called %d times, want 1 (the same hash is not applied again)", len(got))
	}
	checkServing(t, dp, h1, 2)

	f3, h3 := frame(t, 3, config("/three"))
	conn.send(t, f3)
	conn.applied(t, 3, h3)
	conn.waitPing(t, h3)
	checkServing(t, dp, h3, 3)
	checkCache(t, cache, h3, 3)
}

// checkServing checks what the proxy serves and what the client reports.
func checkServing(t *testing.T, dp *testDP, hash string, version int64) {
	t.Helper()
	if got := dp.served(); got != hash {
		t.Errorf("proxy serves %s, want %s", got, hash)
	}
	if h, v := dp.client.Current(); h != hash || v != version {
		t.Errorf("Current() = %s, %d; want %s, %d", h, v, hash, version)
	}
}

// checkCache checks the cache holds the configuration hash at version.
func checkCache(t *testing.T, cache *dpcache.Cache, hash string, version int64) {
	t.Helper()
	entry, cfg, err := cache.Load()
	if err != nil {
		t.Fatalf("load cache: %v", err)
	}
	if entry.ConfigHash != hash || entry.ConfigVersion != version {
		t.Errorf("cache holds %s version %d, want %s version %d", entry.ConfigHash, entry.ConfigVersion, hash, version)
	}
	if got := cfg.Hash().Config; got != hash {
		t.Errorf("cached configuration hashes to %s, want %s", got, hash)
	}
	if entry.Hashes["config"] != hash || entry.Hashes["routes"] == "" {
		t.Errorf("cached hashes = %v", entry.Hashes)
	}
	if entry.Timestamp != 1795312345.5 {
		t.Errorf("cached timestamp = %v, want the frame's", entry.Timestamp)
	}
}

func TestRejected(t *testing.T) {
	const (
		serviceID = "5b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
		routeID   = "6c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
		pluginID  = "7d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a"
	)
	withPlugin := `{"_format_version": "3.0",
 "services": [{"id": "` + serviceID + `", "name": "s1", "host": "example.internal"}],
 "plugins": [{"id": "` + pluginID + `", "name": "key-auth"}]}`
	mismatch := "config_hash mismatch: the configuration hashes to " + hashOf(t, config("/two")) +
		", the control plane said " + hashOf(t, config("/other"))
	tests := []struct {
		name        string
		frame       func(t *testing.T) ([]byte, string)
		wantMessage string
		wantError   cluster.EntityError // Message is matched as a prefix
	}{
		{
			name: "route with a path that is not a path",
			frame: func(t *testing.T) ([]byte, string) {
				hash := strings.Repeat("ab", 16)
				return rawFrame(t, 2, hash, nil, []byte(config("api"))), hash
			},
			wantMessage: `invalid configuration: routes[0] (route "r1"): paths[0]: should start with`,
			wantError: cluster.EntityError{
				EntityType: "route", EntityID: routeID, EntityName: "r1",
				Field: "paths[0]", Message: "should start with",
			},
		},
		{
			name:        "plugin the node cannot run",
			frame:       func(t *testing.T) ([]byte, string) { return frame(t, 2, withPlugin) },
			wantMessage: "configuration cannot run on this node: plugins " + pluginID + " (key-auth): name:",
			wantError: cluster.EntityError{
				EntityType: "plugin", EntityID: pluginID, EntityName: "key-auth",
				Field: "name", Message: "the key-auth plugin is not available",
			},
		},
		{
			name: "configuration that does not hash to config_hash",
			frame: func(t *testing.T) ([]byte, string) {
				hash := hashOf(t, config("/other"))
				return rawFrame(t, 2, hash, nil, tableOf(t, config("/two"))), hash
			},
			wantMessage: mismatch,
			wantError:   cluster.EntityError{Message: mismatch},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp := newFakeCP(t)
			cache := dpcache.New(t.TempDir())
			dp := startDP(t, cp, func(o *Options) { o.Cache = cache })
			conn := cp.accept(t)
			good, h1 := frame(t, 1, config("/one"))
			conn.send(t, good)
			conn.applied(t, 1, h1)

			bad, hash := tt.frame(t)
			conn.send(t, bad)
			got := conn.rejected(t, 2, hash)
			if !strings.HasPrefix(got.Message, tt.wantMessage) {
				t.Errorf("message = %q, want it to start with %q", got.Message, tt.wantMessage)
			}
			found := false
			for _, e := range got.Errors {
				want := tt.wantError
				if strings.HasPrefix(e.Message, want.Message) {
					e.Message = want.Message
				}
				found = found || e == want
			}
			if !found {
				t.Errorf("errors = %+v, want one like %+v", got.Errors, tt.wantError)
			}
			// The node still serves, reports and caches the old one.
			checkServing(t, dp, h1, 1)
			checkCache(t, cache, h1, 1)
			dp.logs.waitLog(t, "level=ERROR", "rejected configuration from the control plane", "config_version=2")
			if !dp.client.Connected() {
				t.Error("a rejected configuration dropped the link")
			}
		})
	}
}

func TestInvalidFrames(t *testing.T) {
	const maxPayload = 64 << 10
	hash := hashOf(t, config("/x"))
	tests := []struct {
		name string
		typ  int
		data func(t *testing.T) []byte
		// wantVersion is the version of the Rejected the node answers
		// with; -1 when the frame has none and is only logged.
		wantVersion int64
		wantHash    string
		wantText    string // in the Rejected message, or in the log
	}{
		{
			name:        "not gzip",
			typ:         websocket.BinaryMessage,
			data:        func(*testing.T) []byte { return []byte("garbage") },
			wantVersion: -1,
			wantText:    "ignored an invalid frame",
		},
		{
			name:        "text frame",
			typ:         websocket.TextMessage,
			data:        func(*testing.T) []byte { return []byte(`{"type": "reconfigure"}`) },
			wantVersion: -1,
			wantText:    "ignored a text frame",
		},
		{
			name:        "gzip of something else",
			typ:         websocket.BinaryMessage,
			data:        func(t *testing.T) []byte { return gzipped(t, []byte("not json")) },
			wantVersion: -1,
			wantText:    "ignored an invalid frame",
		},
		{
			name: "malformed hash",
			typ:  websocket.BinaryMessage,
			data: func(t *testing.T) []byte {
				return gzipped(t, []byte(`{"type": "reconfigure", "config_version": 9, "config_hash": "XYZ", "config_table": {}}`))
			},
			wantVersion: 9,
			wantText:    "config_hash: expected 32 lowercase hexadecimal characters",
		},
		{
			name: "too large once decompressed",
			typ:  websocket.BinaryMessage,
			data: func(t *testing.T) []byte {
				pad := strings.Repeat("a", maxPayload*cluster.DecompressionFactor+1)
				return gzipped(t, []byte(`{"type": "reconfigure", "config_version": 11, "config_hash": "`+hash+`", "config_table": {"pad": "`+pad+`"}}`))
			},
			wantVersion: 11,
			wantHash:    hash,
			wantText:    "once decompressed",
		},
		{
			name: "another message type",
			typ:  websocket.BinaryMessage,
			data: func(t *testing.T) []byte {
				return gzipped(t, []byte(`{"type": "applied", "config_version": 4, "config_hash": "`+hash+`"}`))
			},
			wantVersion: 4,
			wantHash:    hash,
			wantText:    `type: expected "reconfigure"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp := newFakeCP(t)
			dp := startDP(t, cp, func(o *Options) { o.MaxPayload = maxPayload })
			conn := cp.accept(t)
			good, h1 := frame(t, 1, config("/one"))
			conn.send(t, good)
			conn.applied(t, 1, h1)

			data := tt.data(t)
			if len(data) > maxPayload {
				t.Fatalf("test frame is %d bytes, over the limit", len(data))
			}
			conn.write(t, tt.typ, data)
			if tt.wantVersion >= 0 {
				got := conn.rejected(t, tt.wantVersion, tt.wantHash)
				if !strings.Contains(got.Message, tt.wantText) {
					t.Errorf("message = %q, want it to say %q", got.Message, tt.wantText)
				}
				if len(got.Errors) != 1 || got.Errors[0].Message != got.Message {
					t.Errorf("errors = %+v, want the message alone", got.Errors)
				}
			} else {
				dp.logs.waitLog(t, "level=ERROR", tt.wantText)
			}
			checkServing(t, dp, h1, 1)

			// Still connected, and the next frame is the next message.
			next, h5 := frame(t, 5, config("/five"))
			conn.send(t, next)
			conn.applied(t, 5, h5)
			checkServing(t, dp, h5, 5)
		})
	}
}

func TestOversizedFrame(t *testing.T) {
	const maxPayload = 2048
	cp := newFakeCP(t)
	dp := startDP(t, cp, func(o *Options) { o.MaxPayload = maxPayload })
	conn := cp.accept(t)
	good, h1 := frame(t, 1, config("/one"))
	if len(good) > maxPayload {
		t.Fatalf("test frame is %d bytes, over the limit", len(good))
	}
	conn.send(t, good)
	conn.applied(t, 1, h1)

	big := make([]byte, 2*maxPayload)
	rand.Read(big)
	conn.send(t, big)
	// The node says 1009 before it hangs up, but the frame it did not read
	// may turn its close into a reset that overtakes the close frame.
	t.Logf("the node closed the link: %v", conn.waitClosed(t))
	dp.logs.waitLog(t, "level=ERROR", "disconnected from control plane", "larger than cluster_max_payload (2048 bytes)")

	again := cp.accept(t)
	if again.hello.ConfigHash != h1 || again.hello.ConfigVersion != 1 {
		t.Errorf("hello after redial reports %s version %d, want %s version 1", again.hello.ConfigHash, again.hello.ConfigVersion, h1)
	}
	checkServing(t, dp, h1, 1)
}

func TestCoalescing(t *testing.T) {
	cp := newFakeCP(t)
	rec := &recorder{entered: make(chan string, 10), gate: make(chan struct{})}
	dp := startDP(t, cp, func(o *Options) { rec.wrap(o) })
	conn := cp.accept(t)

	frames := make([][]byte, 5)
	hashes := make([]string, 5)
	for i := range frames {
		frames[i], hashes[i] = frame(t, int64(i+1), config("/v"+strconv.Itoa(i+1)))
	}
	conn.send(t, frames[0])
	select {
	case <-rec.entered:
	case <-time.After(waitTimeout):
		t.Fatal("the first configuration was not applied")
	}
	// While the first is being applied, four more arrive; once the node
	// has read them all, the first apply may finish.
	for _, f := range frames[1:] {
		conn.send(t, f)
	}
	conn.syncReader(t)
	close(rec.gate)

	conn.applied(t, 1, hashes[0])
	conn.applied(t, 5, hashes[4])
	if got, want := rec.applied(), []string{hashes[0], hashes[4]}; !reflect.DeepEqual(got, want) {
		t.Errorf("applied %v, want only the first and the last %v", got, want)
	}
	checkServing(t, dp, hashes[4], 5)
}

func TestCacheWriteFailure(t *testing.T) {
	// A prefix that is a file: the cache directory cannot be made.
	prefix := filepath.Join(t.TempDir(), "not-a-directory")
	if err := os.WriteFile(prefix, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cp := newFakeCP(t)
	dp := startDP(t, cp, func(o *Options) { o.Cache = dpcache.New(prefix) })
	conn := cp.accept(t)
	f1, h1 := frame(t, 1, config("/one"))
	conn.send(t, f1)
	conn.applied(t, 1, h1)
	checkServing(t, dp, h1, 1)
	dp.logs.waitLog(t, "level=ERROR", "cannot write the configuration cache", "config_hash="+h1)
}

func TestCloseCodes(t *testing.T) {
	tests := []struct {
		code      int
		reason    string
		wantLevel string
		wantText  string
	}{
		{cluster.CloseVersionIncompatible, "kong_version_incompatible: data plane 4.0.0, control plane 3.10.0", "ERROR", "refused this node's version"},
		{cluster.CloseProtocolError, "ping payload is not a config hash", "ERROR", "protocol error"},
		{cluster.CloseReplaced, "replaced by a newer connection", "WARN", "replaced by a newer connection"},
		{cluster.CloseTimeout, "no ping for 45s", "WARN", "heard nothing from this node"},
		{websocket.CloseNormalClosure, "control plane shutting down", "WARN", "the control plane closed the connection"},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.code), func(t *testing.T) {
			cp := newFakeCP(t)
			const delay = 50 * time.Millisecond
			dp := startDP(t, cp, func(o *Options) { o.ReconnectDelay = delay })
			first := cp.accept(t)
			closed := time.Now()
			first.close(t, tt.code, tt.reason)
			second := cp.accept(t)
			if waited := second.accepted.Sub(closed); waited < delay {
				t.Errorf("redialled after %s, want at least %s", waited, delay)
			}
			dp.logs.waitLog(t, "level="+tt.wantLevel, "disconnected from control plane", tt.wantText,
				"close_code="+strconv.Itoa(tt.code), fmt.Sprintf("close_reason=%q", tt.reason))
		})
	}
}

func TestSilentControlPlane(t *testing.T) {
	const ping, delay = 200 * time.Millisecond, 50 * time.Millisecond
	cp := newFakeCP(t)
	cp.silent.Store(true)
	dp := startDP(t, cp, func(o *Options) {
		o.PingInterval = ping
		o.ReconnectDelay = delay
	})
	first := cp.accept(t)
	cp.silent.Store(false)
	second := cp.accept(t)
	if waited := second.accepted.Sub(first.accepted); waited < ping*3/2+delay {
		t.Errorf("redialled %s after connecting, want at least 1.5 ping intervals and the delay (%s)", waited, ping*3/2+delay)
	}
	dp.logs.waitLog(t, "level=WARN", "disconnected from control plane", "nothing from the control plane for 300ms")
}

func TestDialFunc(t *testing.T) {
	cp := newFakeCP(t)
	dialed := make(chan string, 10)
	startDP(t, cp, func(o *Options) {
		o.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dialed <- network + " " + addr
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
	})
	cp.accept(t)
	select {
	case got := <-dialed:
		if want := "tcp " + cp.addr(); got != want {
			t.Errorf("dialled %q, want %q", got, want)
		}
	default:
		t.Error("the node connected without the Dial function")
	}
}

func TestUpgradeRefused(t *testing.T) {
	cp := newFakeCP(t)
	cp.refuse.Store(1)
	dp := startDP(t, cp, nil)
	cp.accept(t)
	dp.logs.waitLog(t, "level=ERROR", "cannot connect to control plane",
		"the control plane refused the WebSocket upgrade: 400 Bad Request: node_id: required")
}

func TestRunStops(t *testing.T) {
	cp := newFakeCP(t)
	dp := startDP(t, cp, nil)
	conn := cp.accept(t)
	f1, h1 := frame(t, 1, config("/one"))
	conn.send(t, f1)
	conn.applied(t, 1, h1)
	waitFor(t, "Connected", dp.client.Connected)
	if err := dp.client.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("a second Run = %v, want an error", err)
	}

	dp.stop()
	if err := conn.waitClosed(t); closeCode(err) != websocket.CloseNormalClosure {
		t.Errorf("the node closed with %v, want code %d", err, websocket.CloseNormalClosure)
	}
	if dp.client.Connected() {
		t.Error("Connected after Run returned")
	}
	dp.logs.waitLog(t, "level=INFO", "disconnected from control plane", "shutting down")
	waitFor(t, "the client's goroutines to end", func() bool {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		for _, fn := range []string{"dp.(*Client)", "dp.(*session)", "dp.(*latest)"} {
			if strings.Contains(stacks, fn) {
				return false
			}
		}
		return true
	})
}

func TestRunOptions(t *testing.T) {
	valid := func() Options {
		return Options{
			ControlPlane: "127.0.0.1:1", TLS: &tls.Config{}, NodeID: "n", Version: "0.1.0",
			Applier: &recorder{},
		}
	}
	tests := []struct {
		name    string
		edit    func(*Options)
		current string
		want    string
	}{
		{name: "no control plane", edit: func(o *Options) { o.ControlPlane = "" }, want: "ControlPlane"},
		{name: "no TLS", edit: func(o *Options) { o.TLS = nil }, want: "TLS"},
		{name: "no node id", edit: func(o *Options) { o.NodeID = "" }, want: "NodeID"},
		{name: "no version", edit: func(o *Options) { o.Version = "" }, want: "Version"},
		{name: "no applier", edit: func(o *Options) { o.Applier = nil }, want: "Applier"},
		{name: "bad current hash", edit: func(*Options) {}, current: "nope", want: `"nope" is not a config hash`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := valid()
			tt.edit(&opts)
			c := New(opts)
			if tt.current != "" {
				c.SetCurrent(tt.current, 0)
			}
			err := c.Run(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run = %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

func TestDefaultsAndDelay(t *testing.T) {
	c := New(Options{})
	if c.opts.PingInterval != DefaultPingInterval || c.opts.ReconnectDelay != DefaultReconnectDelay || c.opts.MaxPayload != DefaultMaxPayload {
		t.Errorf("defaults = %s, %s, %d", c.opts.PingInterval, c.opts.ReconnectDelay, c.opts.MaxPayload)
	}
	if h, v := c.Current(); h != cluster.EmptyHash || v != 0 {
		t.Errorf("Current() = %s, %d; want the empty hash", h, v)
	}
	const d = 10 * time.Millisecond
	c = New(Options{ReconnectDelay: d})
	for range 1000 {
		if got := c.reconnectDelay(); got < d || got > 2*d {
			t.Fatalf("reconnect delay %s, want within [%s, %s]", got, d, 2*d)
		}
	}
}
