package cp_test

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/gantry-gw/gantry/internal/cluster"
	"github.com/gantry-gw/gantry/internal/cluster/cp"
	"github.com/gantry-gw/gantry/internal/declarative"
	"github.com/gantry-gw/gantry/internal/entity"
	"github.com/gantry-gw/gantry/internal/store"
)

func TestRequestsRefusedBeforeUpgrade(t *testing.T) {
	e := newEnv(t, nil)
	id := uuid.NewString()
	tests := []struct {
		name   string
		method string
		target string
		noTLS  bool
		status int
		msg    string
	}{
		{"other path", http.MethodGet, "/v2/outlet?node_id=" + id + "&node_version=0.1.0", false, http.StatusNotFound, "Not found"},
		{"root", http.MethodGet, "/", false, http.StatusNotFound, "Not found"},
		{"not GET", http.MethodPost, "/v1/outlet?node_id=" + id + "&node_version=0.1.0", false, http.StatusMethodNotAllowed, "Method not allowed"},
		{"no node_id", http.MethodGet, "/v1/outlet?node_version=0.1.0", false, http.StatusBadRequest, "node_id: required"},
		{"node_id not a UUID", http.MethodGet, "/v1/outlet?node_id=dp-1&node_version=0.1.0", false, http.StatusBadRequest, "node_id: expected a UUID"},
		{"no node_version", http.MethodGet, "/v1/outlet?node_id=" + id, false, http.StatusBadRequest, "node_version: required"},
		{"no client certificate", http.MethodGet, "/v1/outlet?node_id=" + id + "&node_version=0.1.0", true, http.StatusForbidden, "a client certificate is required"},
		{"not a WebSocket request", http.MethodGet, "/v1/outlet?node_id=" + id + "&node_version=0.1.0", false, http.StatusBadRequest, "websocket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "https://cp.test"+tt.target, nil)
			if tt.noTLS {
				r.TLS = nil
			} else {
				leaf, _ := newClientPKI(t)
				r.TLS.PeerCertificates = append(r.TLS.PeerCertificates, leaf.Cert)
			}
			w := httptest.NewRecorder()
			e.srv.Handler().ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			var body struct{ Message string }
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q is not JSON: %v", w.Body, err)
			}
			if !strings.Contains(body.Message, tt.msg) {
				t.Fatalf("message %q, want %q", body.Message, tt.msg)
			}
		})
	}
	if len(e.srv.Nodes()) != 0 {
		t.Fatalf("refused requests listed nodes: %+v", e.srv.Nodes())
	}
}

func TestConfigPushAndApplied(t *testing.T) {
	e := newEnv(t, nil)
	e.addService("billing")
	hash, version := e.settled()

	d := e.connect(cluster.EmptyHash, nil)
	r := d.reconfigure()
	if r.ConfigVersion != version || r.ConfigHash != hash || r.Hashes["config"] != hash {
		t.Fatalf("reconfigure version %d hash %s (hashes %v), want %d %s", r.ConfigVersion, r.ConfigHash, r.Hashes, version, hash)
	}
	cfg, err := declarative.Parse(r.ConfigTable)
	if err != nil {
		t.Fatalf("config_table does not parse: %v", err)
	}
	h := cfg.Hash()
	if h.Config != hash {
		t.Fatalf("config_table hashes to %s, reconfigure says %s", h.Config, hash)
	}
	for g, want := range h.Groups {
		if r.Hashes[g] != want {
			t.Errorf("hashes[%s] = %s, want %s", g, r.Hashes[g], want)
		}
	}
	if svcs := cfg.Entities["services"]; len(svcs) != 1 || svcs[0].String("name") != "billing" {
		t.Fatalf("services %v, want billing", svcs)
	}

	n := e.waitNode(d.id, "sync status normal", func(n cp.Node) bool { return n.SyncStatus == cluster.SyncNormal })
	want := cp.Node{ID: d.id, Hostname: d.hostname, IP: "127.0.0.1", Version: testVersion,
		Labels: map[string]string{"region": "test"}, Plugins: []cluster.Plugin{}, SyncStatus: cluster.SyncNormal,
		ConfigHash: cluster.EmptyHash, LastSeen: e.clock.Now(), UpdatedAt: e.clock.Now(), CertExpiry: e.certExpiry,
		Connected: true, Status: cluster.StatusOutOfSync, TTL: cp.DefaultPurgeDelay}
	if !n.CertExpiry.Equal(want.CertExpiry) {
		t.Fatalf("cert expiry %v, want %v", n.CertExpiry, want.CertExpiry)
	}
	n.CertExpiry = want.CertExpiry
	if !reflect.DeepEqual(n, want) {
		t.Fatalf("node\n%+v\nwant\n%+v", n, want)
	}

	d.send(&cluster.Applied{ConfigVersion: r.ConfigVersion, ConfigHash: r.ConfigHash})
	e.waitNode(d.id, "config applied", func(n cp.Node) bool {
		return n.ConfigVersion == version && n.ConfigHash == hash && n.Status == cluster.StatusConnected
	})

	v2 := e.addService("shipping").ID()
	r2 := d.reconfigure()
	cfg2, err := declarative.Parse(r2.ConfigTable)
	if err != nil {
		t.Fatal(err)
	}
	if r2.ConfigVersion <= r.ConfigVersion || len(cfg2.Entities["services"]) != 2 {
		t.Fatalf("second reconfigure: version %d, services %v", r2.ConfigVersion, cfg2.Entities["services"])
	}
	if !slices.ContainsFunc(cfg2.Entities["services"], func(s entity.Entity) bool { return s.ID() == v2 }) {
		t.Fatalf("new service %s not in %v", v2, cfg2.Entities["services"])
	}
	e.waitNode(d.id, "out of sync until applied", func(n cp.Node) bool { return n.Status == cluster.StatusOutOfSync })
}

func TestBurstOfWritesIsCoalesced(t *testing.T) {
	const window = 100 * time.Millisecond
	e := newEnv(t, func(o *cp.Options) { o.PushWindow = window })
	e.addService("first")
	d := e.connect(cluster.EmptyHash, nil)
	d.reconfigure()

	start := time.Now()
	for i := range 50 {
		e.addService(fmt.Sprintf("burst-%d", i))
	}
	elapsed := time.Since(start)
	hash, final := e.settled()

	pushes := 0
	for {
		r := d.reconfigure()
		pushes++
		if r.ConfigHash == hash {
			if r.ConfigVersion != final {
				t.Fatalf("last push is version %d, want %d", r.ConfigVersion, final)
			}
			break
		}
	}
	d.nothingSent(cluster.EmptyHash)
	if limit := int(elapsed/window) + 3; pushes > limit {
		t.Fatalf("%d pushes for 50 writes in %s, want at most %d", pushes, elapsed, limit)
	}
	t.Logf("50 writes in %s: %d pushes", elapsed, pushes)
}

func TestNothingSentWhenHashMatches(t *testing.T) {
	e := newEnv(t, nil)
	e.addService("billing")
	hash, _ := e.settled()

	// A node that already serves the expected configuration gets nothing.
	d := e.connect(hash, nil)
	d.nothingSent(hash)
	e.waitNode(d.id, "connected", func(n cp.Node) bool { return n.Status == cluster.StatusConnected })

	// Nor does it when a change leaves what data planes serve as it was.
	e.insert(entity.Services, map[string]any{"name": "off", "host": "off.internal", "enabled": false})
	if got, _ := e.settled(); got != hash {
		t.Fatalf("a disabled service changed the hash: %s, want %s", got, hash)
	}
	d.nothingSent(hash)

	// A node that reconnects after several changes gets the latest only.
	d.ws.Close()
	e.waitNode(d.id, "disconnected", func(n cp.Node) bool { return !n.Connected })
	e.addService("a")
	e.addService("b")
	e.addService("c")
	want, version := e.settled()
	d2 := e.dialID(d.id, testVersion)
	d2.hello(hash, nil)
	r := d2.reconfigure()
	if r.ConfigVersion != version || r.ConfigHash != want {
		t.Fatalf("reconnected node got version %d, want the latest %d", r.ConfigVersion, version)
	}
	d2.nothingSent(hash)
}

func TestRejectedConfig(t *testing.T) {
	e := newEnv(t, nil)
	e.addService("billing")
	d := e.connect(cluster.EmptyHash, nil)
	r := d.reconfigure()

	errs := []cluster.EntityError{{EntityType: "service", EntityID: "x", Field: "host", Message: "unresolvable"}}
	d.send(&cluster.Rejected{ConfigVersion: r.ConfigVersion, ConfigHash: r.ConfigHash, Message: "bad config", Errors: errs})
	n := e.waitNode(d.id, "rejection recorded", func(n cp.Node) bool { return n.LastError != nil })
	want := &cluster.NodeError{Kind: cluster.ErrorRejected, Message: "bad config", ConfigVersion: r.ConfigVersion,
		ConfigHash: r.ConfigHash, Errors: errs}
	if !reflect.DeepEqual(n.LastError, want) || n.Status != cluster.StatusOutOfSync {
		t.Fatalf("node error %+v status %s, want %+v out_of_sync", n.LastError, n.Status, want)
	}

	// The node pings with the hash it kept; the rejection stays.
	d.ping(cluster.EmptyHash)
	if n, _ := e.node(d.id); n.LastError == nil || n.Status != cluster.StatusOutOfSync {
		t.Fatalf("after a ping: error %+v status %s", n.LastError, n.Status)
	}

	// A later version applied clears it.
	e.addService("shipping")
	r2 := d.reconfigure()
	d.send(&cluster.Applied{ConfigVersion: r2.ConfigVersion, ConfigHash: r2.ConfigHash})
	e.waitNode(d.id, "rejection cleared", func(n cp.Node) bool {
		return n.LastError == nil && n.Status == cluster.StatusConnected
	})

	// What a node says is bounded on its row.
	long := strings.Repeat("x", 10000)
	d.send(&cluster.Rejected{ConfigVersion: r2.ConfigVersion, ConfigHash: r2.ConfigHash, Message: long,
		Errors: []cluster.EntityError{{Message: long}}})
	n = e.waitNode(d.id, "long rejection recorded", func(n cp.Node) bool { return n.LastError != nil })
	if len(n.LastError.Message) > 4096 || len(n.LastError.Errors[0].Message) > 1024 ||
		!strings.HasPrefix(n.LastError.Message, "xxx") {
		t.Fatalf("stored a message of %d bytes and an entity error of %d", len(n.LastError.Message), len(n.LastError.Errors[0].Message))
	}
}

func TestPayloadOverLimit(t *testing.T) {
	e := newEnv(t, func(o *cp.Options) { o.MaxPayload = 200 })
	e.addService("billing")
	hash, version := e.settled()

	d := e.connect(cluster.EmptyHash, nil)
	d.nothingSent(cluster.EmptyHash)
	n := e.waitNode(d.id, "payload error", func(n cp.Node) bool { return n.LastError != nil })
	if n.LastError.Kind != cluster.ErrorPayloadTooLarge || n.LastError.ConfigVersion != version || n.LastError.ConfigHash != hash ||
		!strings.Contains(n.LastError.Message, "compressed exceeds cluster_max_payload 200") || n.Status != cluster.StatusOutOfSync {
		t.Fatalf("node error %+v status %s", n.LastError, n.Status)
	}
	if n.SyncStatus != cluster.SyncNormal {
		t.Fatalf("sync status %s, want normal", n.SyncStatus)
	}
}

func TestVersionCompatibility(t *testing.T) {
	tests := []struct {
		version string
		reason  string // "" when compatible
	}{
		{"0.1.0", ""},
		{"0.1.7", ""},
		{"0.0.9", ""},
		{"0.1.0-rc.1", ""},
		{"0.2.0", "data plane version 0.2.0 is newer than control plane version 0.1.0"},
		{"1.0.0", "different major versions"},
		{"dev", `data plane version "dev" is not a major.minor.patch version`},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			e := newEnv(t, nil)
			e.addService("billing")
			d := e.dial(tt.version)
			d.hello(cluster.EmptyHash, nil)
			if tt.reason == "" {
				d.reconfigure()
				return
			}
			code, text := d.closed()
			if code != cluster.CloseVersionIncompatible || !strings.Contains(text, tt.reason) {
				t.Fatalf("closed with %d %q, want %d %q", code, text, cluster.CloseVersionIncompatible, tt.reason)
			}
			n := e.waitNode(d.id, "disconnected", func(n cp.Node) bool { return !n.Connected })
			if n.SyncStatus != cluster.SyncKongVersionIncompatible || n.Status != cluster.StatusDisconnected ||
				n.LastError == nil || !strings.Contains(n.LastError.Message, tt.reason) || n.Version != tt.version {
				t.Fatalf("node %+v", n)
			}
		})
	}
}

func TestPluginCompatibility(t *testing.T) {
	cpPlugins := []cluster.Plugin{{Name: "key-auth", Version: "0.1.0"}, {Name: "cors", Version: "0.1.0"}}
	tests := []struct {
		name    string
		plugins []cluster.Plugin
		status  cluster.SyncStatus
	}{
		{"plugin present", []cluster.Plugin{{Name: "key-auth", Version: "0.1.0"}}, cluster.SyncNormal},
		{"older plugin minor", []cluster.Plugin{{Name: "key-auth", Version: "0.0.3"}}, cluster.SyncNormal},
		{"plugin missing", []cluster.Plugin{{Name: "cors", Version: "0.1.0"}}, cluster.SyncPluginSetIncompatible},
		{"newer plugin minor", []cluster.Plugin{{Name: "key-auth", Version: "0.2.0"}}, cluster.SyncPluginVersionIncompatible},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(o *cp.Options) { o.Plugins = cpPlugins })
			e.addService("billing")
			plugin := e.insert(entity.Plugins, map[string]any{"name": "key-auth"})
			// A disabled plugin is not sent, so it is not required.
			e.insert(entity.Plugins, map[string]any{"name": "acl", "enabled": false, "config": map[string]any{"allow": []any{"x"}}})

			d := e.connect(cluster.EmptyHash, tt.plugins)
			if tt.status == cluster.SyncNormal {
				d.reconfigure()
				e.waitNode(d.id, "normal", func(n cp.Node) bool { return n.SyncStatus == cluster.SyncNormal })
				return
			}
			d.nothingSent(cluster.EmptyHash)
			n := e.waitNode(d.id, "incompatible", func(n cp.Node) bool { return n.SyncStatus == tt.status })
			if !n.Connected || n.Status != cluster.StatusOutOfSync || n.LastError == nil ||
				n.LastError.Kind != cluster.ErrorIncompatible || !strings.Contains(n.LastError.Message, "key-auth") {
				t.Fatalf("node %+v, error %+v", n, n.LastError)
			}

			// A configuration that stops using the plugin is sent.
			e.write(func(tx *store.Tx) error {
				_, err := tx.Delete(entity.Plugins, plugin.ID(), nil)
				return err
			})
			r := d.reconfigure()
			cfg, err := declarative.Parse(r.ConfigTable)
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Entities["plugins"]) != 0 {
				t.Fatalf("plugins sent: %v", cfg.Entities["plugins"])
			}
			d.send(&cluster.Applied{ConfigVersion: r.ConfigVersion, ConfigHash: r.ConfigHash})
			e.waitNode(d.id, "normal again", func(n cp.Node) bool {
				return n.SyncStatus == cluster.SyncNormal && n.LastError == nil && n.Status == cluster.StatusConnected
			})
		})
	}
}

func TestProtocolErrors(t *testing.T) {
	validHello := func(d *dp) []byte {
		data, err := cluster.Encode(&cluster.Hello{ProtocolVersion: cluster.ProtocolVersion, NodeID: d.id,
			Hostname: d.hostname, Version: d.version, Plugins: []cluster.Plugin{}, ConfigHash: cluster.EmptyHash})
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	helloWith := func(mod func(h map[string]any)) func(d *dp) {
		return func(d *dp) {
			var h map[string]any
			json.Unmarshal(validHello(d), &h)
			mod(h)
			data, _ := json.Marshal(h)
			d.sendRaw(websocket.BinaryMessage, data)
		}
	}
	afterHello := func(then func(d *dp)) func(d *dp) {
		return func(d *dp) {
			d.sendRaw(websocket.BinaryMessage, validHello(d))
			then(d)
		}
	}
	ping := func(payload string) func(d *dp) {
		return func(d *dp) {
			d.ws.WriteControl(websocket.PingMessage, []byte(payload), time.Now().Add(waitFor))
		}
	}
	tests := []struct {
		name   string
		act    func(d *dp)
		code   int
		reason string
	}{
		{"no hello", func(*dp) {}, cluster.CloseProtocolError, "no hello within 300ms"},
		{"text hello", func(d *dp) { d.sendRaw(websocket.TextMessage, validHello(d)) }, cluster.CloseProtocolError, "text frame"},
		{"garbage hello", func(d *dp) { d.sendRaw(websocket.BinaryMessage, []byte{0xff, 0x00, 0x1f}) }, cluster.CloseProtocolError, "invalid hello"},
		{"empty hello", func(d *dp) { d.sendRaw(websocket.BinaryMessage, nil) }, cluster.CloseProtocolError, "invalid hello"},
		{"oversized hello", func(d *dp) {
			d.ws.WriteMessage(websocket.BinaryMessage, bytes.Repeat([]byte{'x'}, cluster.MaxDataPlaneFrame+1))
		},
			websocket.CloseMessageTooBig, ""},
		{"unknown protocol version", helloWith(func(h map[string]any) { h["protocol_version"] = 2 }), cluster.CloseProtocolError, "protocol_version"},
		{"hello of another type", helloWith(func(h map[string]any) { h["type"] = "applied" }), cluster.CloseProtocolError, "type"},
		{"hello for another node", helloWith(func(h map[string]any) { h["node_id"] = uuid.NewString() }), cluster.CloseProtocolError, "node_id"},
		{"hello with another version", helloWith(func(h map[string]any) { h["version"] = "0.1.1" }), cluster.CloseProtocolError, "version"},
		{"hello with another hostname", helloWith(func(h map[string]any) { h["hostname"] = "elsewhere" }), cluster.CloseProtocolError, "hostname"},
		{"hello with a long hostname", helloWith(func(h map[string]any) { h["hostname"] = strings.Repeat("h", 500) }), cluster.CloseProtocolError, "hhh..."},
		{"ping before hello", ping(cluster.EmptyHash), cluster.CloseProtocolError, "a ping before the hello"},
		{"second hello", afterHello(func(d *dp) { d.sendRaw(websocket.BinaryMessage, validHello(d)) }), cluster.CloseProtocolError, "second hello"},
		{"text frame", afterHello(func(d *dp) { d.sendRaw(websocket.TextMessage, []byte(`{"type":"applied"}`)) }), cluster.CloseProtocolError, "text frame"},
		{"garbage frame", afterHello(func(d *dp) { d.sendRaw(websocket.BinaryMessage, []byte("\x00garbage")) }), cluster.CloseProtocolError, "not a JSON object"},
		{"unknown message", afterHello(func(d *dp) { d.sendRaw(websocket.BinaryMessage, []byte(`{"type":"telemetry"}`)) }), cluster.CloseProtocolError, "unknown message type"},
		{"applied with a bad hash", afterHello(func(d *dp) {
			d.sendRaw(websocket.BinaryMessage, []byte(`{"type":"applied","config_version":1,"config_hash":"xyz"}`))
		}),
			cluster.CloseProtocolError, "config_hash"},
		{"oversized frame", afterHello(func(d *dp) {
			d.ws.WriteMessage(websocket.BinaryMessage, bytes.Repeat([]byte{'x'}, cluster.MaxDataPlaneFrame+1))
		}), websocket.CloseMessageTooBig, ""},
		{"ping that is not a hash", afterHello(ping("hello")), cluster.CloseProtocolError, "ping payload"},
		{"ping with upper case", afterHello(ping(strings.ToUpper("0123456789abcdef0123456789abcdef"))), cluster.CloseProtocolError, "ping payload"},
		{"empty ping", afterHello(ping("")), cluster.CloseProtocolError, "ping payload"},
	}
	top := newEnv(t, nil)
	top.addService("billing")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := top.with(t)
			// Only the silent node is kept waiting for its hello: an
			// oversized one takes a while to write.
			timeout := cluster.HandshakeTimeout
			if tt.name == "no hello" {
				timeout = 300 * time.Millisecond
			}
			cp.SetHelloTimeout(e.srv, timeout)
			d := e.dial(testVersion)
			tt.act(d)
			code, text := d.closed()
			if code != tt.code || !strings.Contains(text, tt.reason) {
				t.Fatalf("closed with %d %q, want %d %q", code, text, tt.code, tt.reason)
			}
			if len(text) > 123 {
				t.Fatalf("close reason of %d bytes, more than a close frame holds", len(text))
			}
			// The server still serves other data planes.
			e.connect(cluster.EmptyHash, nil).reconfigure()
		})
	}
}

func TestPingPong(t *testing.T) {
	e := newEnv(t, nil)
	d := e.connect(cluster.EmptyHash, nil)
	e.waitNode(d.id, "registered", func(n cp.Node) bool { return n.SyncStatus == cluster.SyncNormal })

	tests := []struct {
		name    string
		advance time.Duration
		hash    string
	}{
		{"same hash", 10 * time.Second, cluster.EmptyHash},
		{"another hash", 20 * time.Second, "0123456789abcdef0123456789abcdef"},
		{"back to empty", 5 * time.Second, cluster.EmptyHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d.t = t
			e.clock.Advance(tt.advance)
			d.ping(tt.hash)
			n, _ := e.node(d.id)
			if !n.LastSeen.Equal(e.clock.Now()) || n.ConfigHash != tt.hash {
				t.Fatalf("last_seen %v config_hash %s, want %v %s", n.LastSeen, n.ConfigHash, e.clock.Now(), tt.hash)
			}
		})
	}

	// No ping for more than two intervals: out of sync, though connected.
	e.clock.Advance(3 * time.Minute)
	if n, _ := e.node(d.id); !n.Connected || n.Status != cluster.StatusOutOfSync {
		t.Fatalf("silent node: connected %v status %s", n.Connected, n.Status)
	}
}

func TestSilentDataPlaneDropped(t *testing.T) {
	e := newEnv(t, func(o *cp.Options) { o.PingInterval = 200 * time.Millisecond })
	d := e.connect(cluster.EmptyHash, nil)
	code, text := d.closed()
	if code != cluster.CloseTimeout || !strings.Contains(text, "no frame for 300ms") {
		t.Fatalf("closed with %d %q, want %d", code, text, cluster.CloseTimeout)
	}
	e.waitNode(d.id, "disconnected", func(n cp.Node) bool { return n.Status == cluster.StatusDisconnected })
}

func TestSecondConnectionReplacesFirst(t *testing.T) {
	e := newEnv(t, nil)
	e.addService("billing")
	first := e.connect(cluster.EmptyHash, nil)
	first.reconfigure()
	second := e.dialID(first.id, testVersion)
	second.hello(cluster.EmptyHash, nil)
	second.reconfigure()
	if code, text := first.closed(); code != cluster.CloseReplaced || !strings.Contains(text, "replaced") {
		t.Fatalf("first connection closed with %d %q, want %d", code, text, cluster.CloseReplaced)
	}
	second.nothingSent(cluster.EmptyHash)
	nodes := e.srv.Nodes()
	if len(nodes) != 1 || !nodes[0].Connected {
		t.Fatalf("nodes %+v, want one connected", nodes)
	}
}

func TestRegistrySurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cluster", "data_planes.json")
	e := newEnv(t, func(o *cp.Options) { o.StatePath = path })
	e.addService("billing")
	d := e.connect(cluster.EmptyHash, nil)
	r := d.reconfigure()
	d.send(&cluster.Applied{ConfigVersion: r.ConfigVersion, ConfigHash: r.ConfigHash})
	before := e.waitNode(d.id, "applied", func(n cp.Node) bool { return n.Status == cluster.StatusConnected })
	// The list is saved within a second of a change, not only at Close.
	eventually(t, "node list saved", func() bool {
		data, _ := os.ReadFile(path)
		return bytes.Contains(data, []byte(d.id))
	})

	e.srv.Close()
	if code, _ := d.closed(); code != websocket.CloseGoingAway {
		t.Fatalf("closed with %d, want %d", code, websocket.CloseGoingAway)
	}

	tests := []struct {
		name  string
		file  func(t *testing.T) // changes the saved file
		nodes int
	}{
		{"saved list", func(*testing.T) {}, 1},
		{"corrupt file", func(t *testing.T) { os.WriteFile(path, []byte("{not json"), 0o600) }, 0},
		{"unknown format", func(t *testing.T) { os.WriteFile(path, []byte(`{"format":99,"nodes":[]}`), 0o600) }, 0},
		{"no file", func(t *testing.T) { os.Remove(path) }, 0},
	}
	saved, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(path, saved, 0o600); err != nil {
				t.Fatal(err)
			}
			tt.file(t)
			opts := e.opts
			opts.Logger = nil
			srv, err := cp.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			nodes := srv.Nodes()
			if len(nodes) != tt.nodes {
				t.Fatalf("%d nodes after restart, want %d: %+v", len(nodes), tt.nodes, nodes)
			}
			if tt.nodes == 0 {
				return
			}
			want := before
			want.Connected, want.Status = false, cluster.StatusDisconnected
			got := nodes[0]
			if !got.CertExpiry.Equal(want.CertExpiry) || !got.LastSeen.Equal(want.LastSeen) {
				t.Fatalf("times after restart: %v %v, want %v %v", got.CertExpiry, got.LastSeen, want.CertExpiry, want.LastSeen)
			}
			got.CertExpiry, got.LastSeen, got.UpdatedAt = want.CertExpiry, want.LastSeen, want.UpdatedAt
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("node after restart\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestPurge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data_planes.json")
	e := newEnv(t, func(o *cp.Options) {
		o.StatePath = path
		o.PurgeDelay = time.Hour
	})
	gone := e.connect(cluster.EmptyHash, nil)
	stays := e.connect(cluster.EmptyHash, nil)
	e.waitNode(stays.id, "registered", func(n cp.Node) bool { return n.Connected })
	gone.ws.Close()
	n := e.waitNode(gone.id, "disconnected", func(n cp.Node) bool { return !n.Connected })
	if n.TTL != time.Hour {
		t.Fatalf("ttl %s, want 1h", n.TTL)
	}
	e.clock.Advance(40 * time.Minute)
	if n, _ := e.node(gone.id); n.TTL != 20*time.Minute {
		t.Fatalf("ttl %s, want 20m", n.TTL)
	}

	e.clock.Advance(time.Hour)
	eventually(t, "silent node purged", func() bool {
		_, ok := e.node(gone.id)
		return !ok
	})
	if _, ok := e.node(stays.id); !ok {
		t.Fatal("a connected node was purged")
	}

	// Nodes not seen for the purge delay are dropped when the list is
	// loaded.
	e.srv.Close()
	clock := newClock()
	clock.Advance(3 * time.Hour)
	opts := e.opts
	opts.Now = clock.Now
	srv, err := cp.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if nodes := srv.Nodes(); len(nodes) != 0 {
		t.Fatalf("loaded %+v, want none", nodes)
	}
}

func TestDisabledEntitiesNotSent(t *testing.T) {
	e := newEnv(t, nil)
	on := e.addService("on")
	off := e.insert(entity.Services, map[string]any{"name": "off", "host": "off.internal", "enabled": false})
	ref := func(x entity.Entity) map[string]any { return map[string]any{"id": x.ID()} }
	onRoute := e.insert(entity.Routes, map[string]any{"name": "on-route", "paths": []any{"/on"}, "service": ref(on)})
	offRoute := e.insert(entity.Routes, map[string]any{"name": "off-route", "paths": []any{"/off"}, "service": ref(off)})
	global := e.insert(entity.Routes, map[string]any{"name": "no-service", "paths": []any{"/none"}})
	kept := []string{
		e.insert(entity.Plugins, map[string]any{"name": "cors", "service": ref(on)}).ID(),
		e.insert(entity.Plugins, map[string]any{"name": "key-auth", "route": ref(onRoute)}).ID(),
		e.insert(entity.Plugins, map[string]any{"name": "correlation-id"}).ID(),
	}
	e.insert(entity.Plugins, map[string]any{"name": "cors", "service": ref(off)})
	e.insert(entity.Plugins, map[string]any{"name": "key-auth", "route": ref(offRoute)})
	e.insert(entity.Plugins, map[string]any{"name": "prometheus", "enabled": false})
	e.insert(entity.Plugins, map[string]any{"name": "basic-auth", "route": ref(onRoute), "enabled": false})

	// The node has only the plugins of the entities sent: the others are
	// not required.
	d := e.connect(cluster.EmptyHash, []cluster.Plugin{{Name: "cors"}, {Name: "key-auth"}, {Name: "correlation-id"}})
	r := d.reconfigure()
	cfg, err := declarative.Parse(r.ConfigTable)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Hash().Config != r.ConfigHash {
		t.Fatalf("config_table hashes to %s, reconfigure says %s", cfg.Hash().Config, r.ConfigHash)
	}
	ids := func(typ string) []string {
		var out []string
		for _, x := range cfg.Entities[typ] {
			out = append(out, x.ID())
		}
		slices.Sort(out)
		return out
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }
	for typ, want := range map[string][]string{
		"services": {on.ID()},
		"routes":   sorted(onRoute.ID(), global.ID()),
		"plugins":  sorted(kept...),
	} {
		if got := ids(typ); !slices.Equal(got, want) {
			t.Errorf("%s sent: %v, want %v", typ, got, want)
		}
	}
}

func TestManyDataPlanes(t *testing.T) {
	const n = 100
	e := newEnv(t, nil)
	e.addService("billing")
	hash, version := e.settled()

	dps := make([]*dp, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	fail := func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, msg)
	}
	for i := range dps {
		wg.Go(func() {
			q := url.Values{"node_id": {uuid.NewString()}, "node_hostname": {"many"}, "node_version": {testVersion}}
			ws, _, err := e.dialer.Dial(e.url(q), nil)
			if err != nil {
				fail(err.Error())
				return
			}
			d := &dp{id: q.Get("node_id"), hostname: "many", version: testVersion, ws: ws}
			dps[i] = d
			hello, _ := cluster.Encode(&cluster.Hello{ProtocolVersion: cluster.ProtocolVersion, NodeID: d.id, Hostname: d.hostname,
				Version: d.version, Plugins: []cluster.Plugin{}, ConfigHash: cluster.EmptyHash})
			if err := ws.WriteMessage(websocket.BinaryMessage, hello); err != nil {
				fail(err.Error())
				return
			}
			ws.SetReadDeadline(time.Now().Add(waitFor))
			_, data, err := ws.ReadMessage()
			if err != nil {
				fail(err.Error())
				return
			}
			r, err := cluster.DecodeReconfigure(data, 1<<30)
			if err != nil {
				fail(err.Error())
				return
			}
			if r.ConfigVersion != version || r.ConfigHash != hash {
				fail("wrong version")
			}
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, d := range dps {
			if d != nil {
				d.ws.Close()
			}
		}
	})
	if len(failures) > 0 {
		t.Fatalf("%d data planes failed, first: %s", len(failures), failures[0])
	}

	nodes := e.srv.Nodes()
	if len(nodes) != n || !slices.IsSortedFunc(nodes, func(a, b cp.Node) int { return strings.Compare(a.ID, b.ID) }) {
		t.Fatalf("%d nodes listed, want %d sorted by id", len(nodes), n)
	}

	e.addService("shipping")
	hash, version = e.settled()
	for _, d := range dps {
		wg.Go(func() {
			d.ws.SetReadDeadline(time.Now().Add(waitFor))
			_, data, err := d.ws.ReadMessage()
			if err != nil {
				fail(err.Error())
				return
			}
			r, err := cluster.DecodeReconfigure(data, 1<<30)
			if err != nil || r.ConfigVersion != version || r.ConfigHash != hash {
				fail("wrong second version")
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d data planes failed, first: %s", len(failures), failures[0])
	}
}

func TestClosedServerRefusesConnections(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.Close()
	r := httptest.NewRequest(http.MethodGet, "https://cp.test/v1/outlet?node_id="+uuid.NewString()+"&node_version=0.1.0", nil)
	leaf, _ := newClientPKI(t)
	r.TLS.PeerCertificates = []*x509.Certificate{leaf.Cert}
	w := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d after Close, want 503", w.Code)
	}
}
