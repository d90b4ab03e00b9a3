package admin

import (
	"net/http"
	"runtime"

	"github.com/gantry-gw/gantry/internal/entity"
)

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
	writeJSON(w, http.StatusOK, map[string]any{
		"database": map[string]any{"reachable": err == nil},
		"server":   s.connections.Counts().ServerStatus(uint64(s.requests.Load())),
		"memory": map[string]any{
			"heap_alloc_bytes": m.HeapAlloc,
			"sys_bytes":        m.Sys,
			"goroutines":       runtime.NumGoroutine(),
		},
	})
}
