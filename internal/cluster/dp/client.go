// Package dp is the data plane's side of Gantry's control plane / data
// plane protocol (package cluster, docs/protocol.md): it keeps one mutual
// TLS WebSocket to the control plane open, says who the node is, reports
// the config hash it serves in every heartbeat, and applies the
// configurations the control plane pushes.
//
// A configuration is applied only once it is parsed, checked against the
// hash the control plane announced and compiled by the Applier; on any
// failure the node keeps serving what it had and tells the control plane
// why with a Rejected. Frames that arrive while a configuration is being
// applied are coalesced: only the newest is applied next, as in Kong.
//
// When the link drops, or cannot be made, the client redials after a random
// delay between ReconnectDelay and twice that, for as long as it runs; the
// node keeps proxying with its last configuration meanwhile.
package dp

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gantry-gw/gantry/internal/cluster"
	"github.com/gantry-gw/gantry/internal/declarative"
	"github.com/gantry-gw/gantry/internal/dpcache"
)

// Defaults for the Options left at zero.
const (
	// DefaultPingInterval is Kong's CLUSTERING_PING_INTERVAL.
	DefaultPingInterval = 30 * time.Second
	// DefaultReconnectDelay gives Kong's 5–10 s between attempts.
	DefaultReconnectDelay = 5 * time.Second
	// DefaultMaxPayload is Kong's cluster_max_payload default, 16 MiB.
	DefaultMaxPayload = 16 << 20
)

// writeTimeout bounds every frame the client writes. A control plane that
// takes longer to accept a small frame is as good as gone.
const writeTimeout = 5 * time.Second

// closeTimeout bounds the wait for the control plane to answer a close
// frame when the client shuts down.
const closeTimeout = time.Second

// Applier makes a configuration the one the node serves, or refuses it and
// changes nothing. *proxy.Proxy is one.
type Applier interface {
	Apply(cfg *declarative.Config) error
}

// Options configure a Client.
type Options struct {
	// ControlPlane is the control plane's cluster address, host:port
	// (cluster_control_plane).
	ControlPlane string
	// TLS is the client side of the mutual TLS handshake: the node's
	// cluster certificate, how the control plane is verified and the
	// server name to send. It is required; the client only adds ALPN
	// http/1.1 to a copy.
	TLS *tls.Config
	// Dial opens the TCP connection to the control plane, on top of which
	// the client runs TLS; nil means a plain net.Dialer. A forward proxy
	// (cluster_use_proxy) is plugged in here.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// NodeID, Hostname and Version identify the node to the control plane
	// in the query string and in Hello. NodeID and Version are required.
	NodeID, Hostname, Version string
	// Labels are the node's cluster_dp_labels.
	Labels map[string]string
	// Plugins are the plugins the node can run, sent in Hello.
	Plugins []cluster.Plugin
	// Applier applies the configurations the control plane sends. It is
	// required.
	Applier Applier
	// Cache, when not nil, receives every configuration once applied, so
	// that a restarted node serves it before it reaches the control plane.
	Cache *dpcache.Cache
	// MaxPayload is the largest frame, compressed, the client reads
	// (cluster_max_payload); 0 means DefaultMaxPayload. Decompressed, a
	// frame may be cluster.DecompressionFactor times larger.
	MaxPayload int
	// PingInterval is how often the node sends its heartbeat; the link is
	// dropped after 1.5 intervals without a frame from the control plane.
	// 0 means DefaultPingInterval.
	PingInterval time.Duration
	// ReconnectDelay is the shortest wait before a redial; the wait is
	// drawn uniformly between it and twice it. 0 means
	// DefaultReconnectDelay.
	ReconnectDelay time.Duration
	// Logger receives the client's logs; nil discards them.
	Logger *slog.Logger
}

// Client keeps a data plane connected to its control plane and applies the
// configurations it receives. Its methods are safe for concurrent use.
type Client struct {
	opts    Options
	log     *slog.Logger
	plugins []cluster.Plugin

	running   atomic.Bool
	connected atomic.Bool

	mu      sync.Mutex
	hash    string
	version int64
}

// New returns a client for opts; Run connects it. Zero durations and
// sizes take their defaults; required options are checked by Run.
func New(opts Options) *Client {
	if opts.MaxPayload <= 0 {
		opts.MaxPayload = DefaultMaxPayload
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = DefaultPingInterval
	}
	if opts.ReconnectDelay <= 0 {
		opts.ReconnectDelay = DefaultReconnectDelay
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Hello always lists plugins (an empty list for none), sorted by name
	// without regard to case as Kong's data planes do.
	plugins := append([]cluster.Plugin{}, opts.Plugins...)
	slices.SortFunc(plugins, func(a, b cluster.Plugin) int {
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	return &Client{
		opts:    opts,
		log:     log.With("control_plane", opts.ControlPlane),
		plugins: plugins,
		hash:    cluster.EmptyHash,
	}
}

// SetCurrent tells the client what the node serves before Run: the hash of
// the configuration it loaded (from the cache or declarative_config; ""
// for none) and the control plane's config version it came with (0 when
// unknown). The control plane sends nothing when the hash is already its
// own.
func (c *Client) SetCurrent(hash string, version int64) {
	if hash == "" {
		hash = cluster.EmptyHash
	}
	c.mu.Lock()
	c.hash, c.version = hash, version
	c.mu.Unlock()
}

// Current returns the hash of the configuration the node serves and the
// control plane's config version it came with.
func (c *Client) Current() (hash string, version int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hash, c.version
}

// Connected reports whether the client has a link to the control plane
// now (Kong's control_plane_connected).
func (c *Client) Connected() bool { return c.connected.Load() }

// Run connects to the control plane and keeps connecting, after a random
// delay, whenever the link drops or cannot be made. It returns nil when
// ctx ends, once the link is closed cleanly (close code 1000) and any
// apply in progress has finished; it returns an error at once when the
// options are incomplete or Run is already running.
func (c *Client) Run(ctx context.Context) error {
	if err := c.check(); err != nil {
		return err
	}
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("cluster/dp: Run is already running")
	}
	defer c.running.Store(false)
	for {
		c.connect(ctx)
		if ctx.Err() != nil {
			return nil
		}
		t := time.NewTimer(c.reconnectDelay())
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// check reports options Run cannot do without.
func (c *Client) check() error {
	var missing []string
	if c.opts.ControlPlane == "" {
		missing = append(missing, "ControlPlane")
	}
	if c.opts.TLS == nil {
		missing = append(missing, "TLS")
	}
	if c.opts.NodeID == "" {
		missing = append(missing, "NodeID")
	}
	if c.opts.Version == "" {
		missing = append(missing, "Version")
	}
	if c.opts.Applier == nil {
		missing = append(missing, "Applier")
	}
	if len(missing) > 0 {
		return fmt.Errorf("cluster/dp: missing options: %s", strings.Join(missing, ", "))
	}
	if hash, _ := c.Current(); !cluster.ValidHash(hash) {
		return fmt.Errorf("cluster/dp: SetCurrent: %q is not a config hash", hash)
	}
	return nil
}

// reconnectDelay draws the wait before the next dial, uniformly in
// [ReconnectDelay, 2×ReconnectDelay], so that data planes cut off together
// do not all come back at the same instant.
func (c *Client) reconnectDelay() time.Duration {
	d := c.opts.ReconnectDelay
	return d + rand.N(d+1)
}

// connect dials once and, when that works, serves the link until it drops
// or ctx ends. It logs what happened.
func (c *Client) connect(ctx context.Context) {
	conn, err := c.dial(ctx)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Error("cannot connect to control plane", "error", err)
		}
		return
	}
	hash, version := c.Current()
	c.log.Info("connected to control plane", "config_hash", hash, "config_version", version)
	s := newSession(c, conn)
	reason := s.serve(ctx)
	attrs := append([]any{"reason", reason.text}, reason.attrs...)
	switch {
	case ctx.Err() != nil:
		c.log.Info("disconnected from control plane", attrs...)
	case reason.serious:
		c.log.Error("disconnected from control plane", attrs...)
	default:
		c.log.Warn("disconnected from control plane", attrs...)
	}
}

// dial opens the WebSocket: TCP (through Options.Dial when set), TLS with
// Options.TLS, then the upgrade at cluster.OutletPath, all within
// cluster.HandshakeTimeout.
func (c *Client) dial(ctx context.Context) (*websocket.Conn, error) {
	tlsConf := c.opts.TLS.Clone()
	// The upgrade is HTTP/1.1; a tls.Config shared with an HTTP/2 client
	// must not offer h2 here.
	tlsConf.NextProtos = []string{"http/1.1"}
	d := websocket.Dialer{
		HandshakeTimeout: cluster.HandshakeTimeout,
		TLSClientConfig:  tlsConf,
		NetDialContext:   c.opts.Dial,
	}
	u := url.URL{
		Scheme: "wss",
		Host:   c.opts.ControlPlane,
		Path:   cluster.OutletPath,
		RawQuery: url.Values{
			"node_id":       {c.opts.NodeID},
			"node_hostname": {c.opts.Hostname},
			"node_version":  {c.opts.Version},
		}.Encode(),
	}
	conn, resp, err := d.DialContext(ctx, u.String(), nil)
	if err != nil {
		if resp != nil && errors.Is(err, websocket.ErrBadHandshake) {
			return nil, fmt.Errorf("the control plane refused the WebSocket upgrade: %s", upgradeRefusal(resp.Status, resp.Body))
		}
		return nil, err
	}
	conn.SetReadLimit(int64(c.opts.MaxPayload))
	return conn, nil
}

// upgradeRefusal renders a refused upgrade: the status and, when the body
// is the control plane's {"message": …}, its message, else the start of
// the body.
func upgradeRefusal(status string, body io.Reader) string {
	data, _ := io.ReadAll(io.LimitReader(body, 1024))
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &m) == nil && m.Message != "" {
		return status + ": " + m.Message
	}
	if text := strings.TrimSpace(string(data)); text != "" {
		return status + ": " + text
	}
	return status
}
