package cp

import (
	"fmt"
	"maps"
	"slices"

	"github.com/gantry-gw/gantry/internal/cluster"
	"github.com/gantry-gw/gantry/internal/declarative"
	"github.com/gantry-gw/gantry/internal/entity"
)

// snapshot is one config version as data planes get it, encoded once and
// shared, read-only, by every connection.
type snapshot struct {
	version int64
	// hash is the config hash of the configuration sent (disabled entities
	// left out).
	hash string
	// plugins are the names of the plugins the configuration uses, sorted
	// and distinct: what a data plane must have to run it.
	plugins []string
	// frame is the Reconfigure frame, gzip-compressed; nil when it is
	// larger than cluster_max_payload, and then sent to no one.
	frame []byte
	// size is the frame's length, in bytes.
	size int
	// tooLarge says why frame is nil.
	tooLarge string
}

// readSnapshot reads the store and builds the snapshot of its version.
func (s *Server) readSnapshot() (*snapshot, error) {
	cfg, version, err := s.st.Snapshot(s.ctx)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return buildSnapshot(cfg, version, float64(s.now().UnixMicro())/1e6, s.maxPayload)
}

// buildSnapshot filters cfg to what data planes serve, renders it as a
// flat JSON declarative document and encodes the Reconfigure frame.
func buildSnapshot(cfg *declarative.Config, version int64, timestamp float64, maxPayload int) (*snapshot, error) {
	cfg = servable(cfg)
	table, err := cfg.Encode(declarative.JSON, declarative.Flat)
	if err != nil {
		return nil, fmt.Errorf("config version %d: %w", version, err)
	}
	h := cfg.Hash()
	hashes := maps.Clone(h.Groups)
	hashes["config"] = h.Config
	frame, err := cluster.EncodeReconfigure(&cluster.Reconfigure{
		ConfigVersion: version,
		Timestamp:     timestamp,
		ConfigHash:    h.Config,
		Hashes:        hashes,
		ConfigTable:   table,
	})
	if err != nil {
		return nil, fmt.Errorf("config version %d: encode reconfigure: %w", version, err)
	}
	snap := &snapshot{version: version, hash: h.Config, frame: frame, size: len(frame)}
	for _, p := range cfg.Entities[entity.Plugins.Name] {
		snap.plugins = append(snap.plugins, p.String("name"))
	}
	slices.Sort(snap.plugins)
	snap.plugins = slices.Compact(snap.plugins)
	if len(frame) > maxPayload {
		snap.frame = nil
		snap.tooLarge = fmt.Sprintf("configuration of %d bytes compressed exceeds cluster_max_payload %d", len(frame), maxPayload)
	}
	return snap, nil
}

// servable returns the part of cfg that data planes serve. As Kong's
// export for data planes does, it leaves out disabled services, the routes
// of disabled services, and plugins that are disabled or attached to a
// disabled service or to a route of one: an entity that cannot take
// traffic is not sent, so a data plane need not have the plugins it uses.
// cfg itself is returned when nothing is left out.
func servable(cfg *declarative.Config) *declarative.Config {
	services := cfg.Entities[entity.Services.Name]
	routes := cfg.Entities[entity.Routes.Name]
	plugins := cfg.Entities[entity.Plugins.Name]

	offServices := map[string]bool{}
	for _, e := range services {
		if disabled(e) {
			offServices[e.ID()] = true
		}
	}
	offRoutes := map[string]bool{}
	for _, e := range routes {
		if ref := e.Ref("service"); ref != "" && offServices[ref] {
			offRoutes[e.ID()] = true
		}
	}
	offPlugin := func(e entity.Entity) bool {
		return disabled(e) || offServices[e.Ref("service")] || offRoutes[e.Ref("route")]
	}
	if len(offServices) == 0 && !slices.ContainsFunc(plugins, offPlugin) {
		return cfg
	}
	kept := maps.Clone(cfg.Entities)
	kept[entity.Services.Name] = slices.DeleteFunc(slices.Clone(services), func(e entity.Entity) bool { return offServices[e.ID()] })
	kept[entity.Routes.Name] = slices.DeleteFunc(slices.Clone(routes), func(e entity.Entity) bool { return offRoutes[e.ID()] })
	kept[entity.Plugins.Name] = slices.DeleteFunc(slices.Clone(plugins), offPlugin)
	return declarative.FromEntities(kept)
}

// disabled reports an entity whose enabled field is false.
func disabled(e entity.Entity) bool {
	on, ok := e["enabled"].(bool)
	return ok && !on
}
