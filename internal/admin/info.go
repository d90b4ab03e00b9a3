package admin

import (
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/gantry-gw/gantry/internal/entity"
)

// connStats counts the Admin API's connections for GET /status, which
// Kong reports with nginx's names: accepted ever, open now, and of those
// the busy and the idle ones.
type connStats struct {
	accepted atomic.Int64
	mu       sync.Mutex
	state    map[net.Conn]http.ConnState
}

func (c *connStats) track(conn net.Conn, state http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == nil {
		c.state = map[net.Conn]http.ConnState{}
	}
	switch state {
	case http.StateNew:
		c.accepted.Add(1)
		c.state[conn] = state
	case http.StateHijacked, http.StateClosed:
		delete(c.state, conn)
	default:
		c.state[conn] = state
	}
}

// counts returns the open connections and how many of them are idle.
func (c *connStats) counts() (active, idle int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.state {
		if st == http.StateIdle {
			idle++
		}
	}
	return len(c.state), idle
}

// handleRoot serves GET /: what this node is, which plugins it has, and its
// settings with secrets removed.
func (s *Server) handleRoot(w http.ResponseWriter, r *http.Request) {
	available := map[string]any{}
	for _, name := range entity.PluginNames() {
		p := entity.KnownPlugins[name]
		available[name] = map[string]any{"version": s.info.GantryVersion, "priority": p.Priority}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"tagline":        "Welcome to gantry",
		"version":        s.info.Version,
		"gantry_version": s.info.GantryVersion,
		"edition":        "community",
		"hostname":       s.info.Hostname,
		"node_id":        s.info.NodeID,
		"role":           s.info.Role,
		"plugins": map[string]any{
			"available_on_server": available,
			"enabled_in_cluster":  s.enabledInCluster(r),
		},
		"configuration": s.info.Configuration,
	})
}

// enabledInCluster lists the names of the plugins configured in the store.
func (s *Server) enabledInCluster(r *http.Request) []string {
	names, err := s.store.PluginNames(r.Context())
	if err != nil {
		s.log.Warn("list configured plugins", "err", err)
		return []string{}
	}
	return names
}

// handleStatus serves GET /status: whether the database answers, the
// Admin API's connection counters, and the process's memory.
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	_, err := s.store.Version(r.Context())
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	c := &s.connections
	active, idle := c.counts()
	writeJSON(w, http.StatusOK, map[string]any{
		"database": map[string]any{"reachable": err == nil},
		"server": map[string]any{
			"connections_accepted": c.accepted.Load(),
			"connections_handled":  c.accepted.Load(),
			"connections_active":   active,
			"connections_reading":  0,
			"connections_writing":  active - idle,
			"connections_waiting":  idle,
			"total_requests":       s.requests.Load(),
		},
		"memory": map[string]any{
			"heap_alloc_bytes": m.HeapAlloc,
			"sys_bytes":        m.Sys,
			"goroutines":       runtime.NumGoroutine(),
		},
	})
}
