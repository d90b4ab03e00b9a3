package cp

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/gantry-gw/gantry/internal/atomicfile"
	"github.com/gantry-gw/gantry/internal/cluster"
)

// Node is one row of the node registry, as Nodes returns it. It is
// defined in package cluster so that the Admin API can show it without
// depending on this package.
type Node = cluster.DataPlane

// node is a registry entry: the row and the connection that may change
// it. Only the current connection of a node updates its row, so a
// replaced connection still draining cannot undo what the new one said.
type node struct {
	row  cluster.DataPlane
	conn *conn // nil when disconnected
}

// stateFile is the JSON document kept at StatePath.
type stateFile struct {
	// Format is the document's version, for later changes.
	Format int                 `json:"format"`
	Nodes  []cluster.DataPlane `json:"nodes"`
}

const stateFormat = 1

// Nodes returns the registry, sorted by id, with each node's status and
// TTL derived now. The rows are copies the caller may keep.
func (s *Server) Nodes() []Node {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Node, 0, len(s.nodes))
	for _, n := range s.nodes {
		row := copyRow(n.row)
		row.Connected = n.conn != nil
		row.Status = s.statusOf(&row, now)
		row.TTL = max(0, s.purgeDelay-now.Sub(row.LastSeen))
		out = append(out, row)
	}
	slices.SortFunc(out, func(a, b Node) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// statusOf derives a row's status. s.mu is held.
func (s *Server) statusOf(row *cluster.DataPlane, now time.Time) cluster.NodeStatus {
	switch {
	case !row.Connected:
		return cluster.StatusDisconnected
	case row.ConfigHash != s.current.hash,
		row.LastError != nil,
		row.SyncStatus != cluster.SyncNormal,
		now.Sub(row.LastSeen) > 2*s.ping:
		return cluster.StatusOutOfSync
	}
	return cluster.StatusConnected
}

// copyRow copies a row's maps and slices, so a caller cannot change the
// registry through it.
func copyRow(r cluster.DataPlane) cluster.DataPlane {
	r.Labels = maps.Clone(r.Labels)
	r.Plugins = slices.Clone(r.Plugins)
	if r.LastError != nil {
		e := *r.LastError
		e.Errors = slices.Clone(e.Errors)
		r.LastError = &e
	}
	return r
}

// register makes c the connection of its node, with row as what the node
// says about itself, and returns the connection it replaces, if any. The
// node's config version and a rejection are kept from the previous row
// when the node still serves the configuration they were about.
func (s *Server) register(c *conn, row cluster.DataPlane) (replaced *conn, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errShuttingDown
	}
	if n := s.nodes[row.ID]; n != nil {
		replaced = n.conn
		if row.ConfigVersion == 0 && n.row.ConfigHash == row.ConfigHash {
			row.ConfigVersion = n.row.ConfigVersion
		}
		if e := n.row.LastError; e != nil && e.Kind == cluster.ErrorRejected {
			row.LastError = e
		}
	}
	s.nodes[row.ID] = &node{row: row, conn: c}
	s.dirty = true
	return replaced, nil
}

// change is what an update did to a row, which says how soon it must be
// saved.
type change int

const (
	// noChange: nothing to save.
	noChange change = iota
	// lastSeenOnly: saved within a ping interval.
	lastSeenOnly
	// rowChanged: saved within a second.
	rowChanged
)

// update applies fn to the row of c's node if c is still its connection,
// and moves the row's updated_at when fn changed it.
func (s *Server) update(c *conn, fn func(row *cluster.DataPlane) change) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodes[c.id]
	if n == nil || n.conn != c {
		return
	}
	switch fn(&n.row) {
	case noChange:
		return
	case lastSeenOnly:
		s.touched = true
	case rowChanged:
		s.dirty = true
	}
	n.row.UpdatedAt = now
}

// unregister marks c's node disconnected if c is still its connection,
// and forgets c.
func (s *Server) unregister(c *conn) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.live, c)
	if n := s.nodes[c.id]; n != nil && n.conn == c {
		n.conn = nil
		n.row.UpdatedAt = now
		s.dirty = true
	}
}

// purge drops the disconnected nodes not seen for the purge delay.
func (s *Server) purge() {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, n := range s.nodes {
		if n.conn == nil && now.Sub(n.row.LastSeen) > s.purgeDelay {
			delete(s.nodes, id)
			s.dirty = true
			s.log.Info("data plane purged", "node_id", id, "hostname", n.row.Hostname,
				"last_seen", n.row.LastSeen.UTC().Format(time.RFC3339))
		}
	}
}

// load reads the node list from the state file into the registry, every
// node disconnected, and purges the nodes not seen for too long. A
// missing file is an empty list; an unreadable one is logged and left to
// be overwritten.
func (s *Server) load() {
	if s.statePath == "" {
		return
	}
	data, err := os.ReadFile(s.statePath)
	if os.IsNotExist(err) {
		return
	}
	var f stateFile
	if err == nil {
		err = json.Unmarshal(data, &f)
		if err == nil && f.Format != stateFormat {
			err = fmt.Errorf("unknown format %d", f.Format)
		}
	}
	if err != nil {
		s.log.Error("cannot read the data plane list; starting with an empty one", "path", s.statePath, "err", err)
		return
	}
	s.mu.Lock()
	for _, row := range f.Nodes {
		if row.ID != "" {
			s.nodes[row.ID] = &node{row: row}
		}
	}
	s.mu.Unlock()
	s.purge()
}

// save writes the node list to the state file: when force is set, or a
// change is waiting (a change of last_seen alone waits up to a ping
// interval, so pings of many nodes do not rewrite the file every second).
// The file is replaced atomically, its directory created if missing: a
// crash leaves the old list or the new.
func (s *Server) save(force bool) {
	if s.statePath == "" {
		return
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	now := time.Now()
	s.mu.Lock()
	due := force || s.dirty || s.touched && now.Sub(s.lastSave) >= s.ping
	if !due {
		s.mu.Unlock()
		return
	}
	f := stateFile{Format: stateFormat, Nodes: make([]cluster.DataPlane, 0, len(s.nodes))}
	for _, n := range s.nodes {
		f.Nodes = append(f.Nodes, copyRow(n.row))
	}
	s.dirty, s.touched, s.lastSave = false, false, now
	s.mu.Unlock()

	slices.SortFunc(f.Nodes, func(a, b cluster.DataPlane) int { return cmp.Compare(a.ID, b.ID) })
	data, err := json.MarshalIndent(f, "", "  ")
	if err == nil {
		err = os.MkdirAll(filepath.Dir(s.statePath), 0o700)
	}
	if err == nil {
		err = atomicfile.Write(s.statePath, data, 0o600)
	}
	if err != nil {
		s.log.Error("cannot save the data plane list", "path", s.statePath, "err", err)
		s.mu.Lock()
		s.dirty = true
		s.mu.Unlock()
	}
}
