// Package cp is the control plane's side of the cluster protocol (package
// cluster): it serves data planes on cluster.OutletPath, pushes them the
// store's configuration, checks that they can run it, and keeps the list
// of data plane nodes that the Admin API shows.
//
// The configuration is read from the store, filtered and encoded once per
// config version (a snapshot); every connection sends the same bytes, so
// the control plane's memory grows with the configuration or with the
// number of nodes, never with their product. Each connection has a
// writer goroutine woken by a one-slot signal: a slow data plane only ever
// gets the latest snapshot when it catches up, and never holds up the
// store or the other nodes.
package cp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gantry-gw/gantry/internal/cluster"
	"github.com/gantry-gw/gantry/internal/store"
)

// Defaults for the zero values of Options.
const (
	// DefaultMaxPayload is Kong's cluster_max_payload.
	DefaultMaxPayload = 16 << 20
	// DefaultPingInterval is Kong's fixed heartbeat interval.
	DefaultPingInterval = 30 * time.Second
	// DefaultPurgeDelay is Kong's cluster_data_plane_purge_delay.
	DefaultPurgeDelay = 14 * 24 * time.Hour
	// DefaultPushWindow is how long changes after a push are gathered
	// into the next one.
	DefaultPushWindow = 100 * time.Millisecond
)

// Timing of the server's own work.
const (
	// housekeepingInterval is how often silent nodes are purged and the
	// node list saved when it changed.
	housekeepingInterval = time.Second
	// retryDelay is how long the push loop waits before reading the store
	// again after it failed.
	retryDelay = time.Second
	// closeTimeout bounds the write of a close frame.
	closeTimeout = time.Second
	// minWriteTimeout is the least time a frame may take to be written.
	minWriteTimeout = 10 * time.Second
)

// Per-connection buffer sizes. Data planes send small frames, and a
// configuration is written from the shared snapshot bytes after the first
// WriteBufferSize of it, so small buffers cost nothing in speed and keep a
// connection's memory small; write buffers are only held while a frame is
// written, from a pool shared by all connections.
const (
	readBufferSize  = 1024
	writeBufferSize = 4096
)

// Options configure a Server.
type Options struct {
	// Store is the configuration sent to data planes.
	Store *store.Store
	// Logger receives connection, push and registry events; nil discards
	// them.
	Logger *slog.Logger
	// Version is this control plane's release (version.Gantry), against
	// which data plane releases are checked.
	Version string
	// Plugins are the plugins this control plane knows, with versions,
	// against which data planes' plugins are checked.
	Plugins []cluster.Plugin
	// MaxPayload is cluster_max_payload: the largest compressed
	// configuration sent; 0 means DefaultMaxPayload.
	MaxPayload int
	// PingInterval is cluster_ping_interval: data planes ping this often
	// and are dropped after 1.5 intervals of silence; 0 means
	// DefaultPingInterval.
	PingInterval time.Duration
	// PurgeDelay is cluster_data_plane_purge_delay: how long a node that
	// is no longer seen stays listed; 0 means DefaultPurgeDelay.
	PurgeDelay time.Duration
	// PushWindow: the first change after a quiet period is pushed at once,
	// later changes within the window are pushed together at its end; 0
	// means DefaultPushWindow.
	PushWindow time.Duration
	// StatePath is the file the node list is kept in across restarts; ""
	// keeps it in memory only.
	StatePath string
	// Now is the clock of the node list and snapshot timestamps; nil
	// means time.Now.
	Now func() time.Time
}

// Server is the control plane's cluster endpoint: the data plane
// connections, the current snapshot and the node registry.
type Server struct {
	st         *store.Store
	log        *slog.Logger
	version    string
	plugins    []cluster.Plugin
	maxPayload int
	ping       time.Duration
	purgeDelay time.Duration
	window     time.Duration
	statePath  string
	now        func() time.Time

	upgrader websocket.Upgrader
	// helloTimeout bounds the wait for a Hello (cluster.HandshakeTimeout;
	// tests shorten it).
	helloTimeout atomic.Int64

	ctx     context.Context
	cancel  context.CancelFunc
	changed chan struct{} // one slot: the store changed since the last read
	loops   sync.WaitGroup

	// saveMu serialises writes of the state file.
	saveMu sync.Mutex

	mu sync.Mutex
	// current is the latest snapshot; nil only inside New.
	current *snapshot
	// nodes is the registry, by node id.
	nodes map[string]*node
	// live holds every upgraded connection, registered or not yet, so
	// that Close reaches them all.
	live map[*conn]struct{}
	// dirty records a change worth saving at once, touched one that only
	// moved last_seen; lastSave is when the file was last written.
	dirty, touched bool
	lastSave       time.Time
	closed         bool
	// handlers counts the requests being upgraded and the connections
	// being served.
	handlers sync.WaitGroup
}

// New subscribes to the store's changes, builds the first snapshot from
// opts.Store and loads the node list from opts.StatePath (an unreadable
// file is logged and an empty list used). Close releases what it starts;
// the store has no way to unsubscribe, so after Close the listener only
// marks a change that nobody reads.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("cluster control plane: no store")
	}
	if opts.MaxPayload < 0 || opts.PingInterval < 0 || opts.PurgeDelay < 0 || opts.PushWindow < 0 {
		return nil, errors.New("cluster control plane: negative limit or interval")
	}
	s := &Server{
		st:         opts.Store,
		log:        opts.Logger,
		version:    opts.Version,
		plugins:    slices.Clone(opts.Plugins),
		maxPayload: orDefault(opts.MaxPayload, DefaultMaxPayload),
		ping:       orDefault(opts.PingInterval, DefaultPingInterval),
		purgeDelay: orDefault(opts.PurgeDelay, DefaultPurgeDelay),
		window:     orDefault(opts.PushWindow, DefaultPushWindow),
		statePath:  opts.StatePath,
		now:        opts.Now,
		changed:    make(chan struct{}, 1),
		nodes:      map[string]*node{},
		live:       map[*conn]struct{}{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.helloTimeout.Store(int64(cluster.HandshakeTimeout))
	s.upgrader = websocket.Upgrader{
		HandshakeTimeout: cluster.HandshakeTimeout,
		ReadBufferSize:   readBufferSize,
		WriteBufferSize:  writeBufferSize,
		WriteBufferPool:  &sync.Pool{},
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			writeJSON(w, status, reason.Error())
		},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())

	// Subscribe first, so that a write made while the first snapshot is
	// read is pushed after it rather than missed.
	s.st.OnChange(s.onChange)
	snap, err := s.readSnapshot()
	if err != nil {
		s.cancel()
		return nil, fmt.Errorf("cluster control plane: %w", err)
	}
	s.current = snap
	if snap.frame == nil {
		s.logTooLarge(snap)
	} else {
		s.log.Info("config snapshot built", "config_version", snap.version, "config_hash", snap.hash, "bytes", snap.size)
	}
	s.load()

	s.loops.Add(2)
	go s.pushLoop()
	go s.housekeepingLoop()
	return s, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Expected returns the config hash and config version of the latest
// snapshot: what every data plane should serve.
func (s *Server) Expected() (hash string, version int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current.hash, s.current.version
}

// Close ends every connection (close code 1001), stops the server's
// goroutines and saves the node list. The Handler refuses connections
// afterwards.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	conns := make([]*conn, 0, len(s.live))
	for c := range s.live {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	s.cancel()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() { c.close(websocket.CloseGoingAway, "control plane shutting down") })
	}
	wg.Wait()
	s.handlers.Wait()
	s.loops.Wait()
	s.save(true)
}

// onChange is the store's change listener: it only marks the change, so
// the store's writer never waits for a push.
func (s *Server) onChange(int64) {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// pushLoop reads and pushes a snapshot on each change. The first change
// after a quiet period goes out at once; then the loop waits one push
// window, so the changes made meanwhile go out together in the next
// snapshot.
func (s *Server) pushLoop() {
	defer s.loops.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.changed:
		}
		wait := s.window
		if err := s.refresh(); err != nil {
			if s.ctx.Err() != nil {
				return
			}
			s.log.Error("cannot read the configuration for data planes; retrying", "err", err)
			s.onChange(0)
			wait = max(wait, retryDelay)
		}
		t := time.NewTimer(wait)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// refresh reads the store and, when its version moved, publishes a new
// snapshot and wakes every connection's writer.
func (s *Server) refresh() error {
	snap, err := s.readSnapshot()
	if err != nil {
		return err
	}
	s.mu.Lock()
	if snap.version == s.current.version {
		s.mu.Unlock()
		return nil
	}
	s.current = snap
	offered := 0
	for _, n := range s.nodes {
		if n.conn != nil {
			n.conn.wake()
			if n.row.ConfigHash != snap.hash {
				offered++
			}
		}
	}
	s.mu.Unlock()
	if snap.frame == nil {
		s.logTooLarge(snap)
		return nil
	}
	s.log.Info("config pushed", "config_version", snap.version, "config_hash", snap.hash, "bytes", snap.size, "nodes", offered)
	return nil
}

// logTooLarge reports a snapshot that no data plane is sent.
func (s *Server) logTooLarge(snap *snapshot) {
	s.log.Warn("configuration not sent to data planes: "+snap.tooLarge,
		"config_version", snap.version, "config_hash", snap.hash, "bytes", snap.size, "max_payload", s.maxPayload)
}

// housekeepingLoop purges silent nodes and saves the node list.
func (s *Server) housekeepingLoop() {
	defer s.loops.Done()
	t := time.NewTicker(housekeepingInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.purge()
			s.save(false)
		}
	}
}
