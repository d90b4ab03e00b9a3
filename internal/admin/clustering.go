package admin

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gantry-gw/gantry/internal/cluster"
	"github.com/gantry-gw/gantry/internal/store"
)

// ClusterView is what the Admin API shows of a control plane's data
// planes: the node registry and the configuration they should serve. The
// control plane's cluster server (cluster/cp) implements it.
type ClusterView interface {
	// Nodes returns the data plane nodes sorted by id.
	Nodes() []cluster.DataPlane
	// Expected returns the config hash and version every data plane
	// should serve.
	Expected() (hash string, version int64)
}

// errNotControlPlane answers the clustering endpoints on a node that is not
// a control plane, in Kong's words.
var errNotControlPlane = badRequest("this endpoint is only available when Gantry is configured to run as Control Plane for the cluster")

// handleDataPlanes serves GET /clustering/data-planes: the data plane
// nodes, paged by size and offset like the entity collections, with
// Kong's fields and Gantry's (status, connected, config_version,
// last_error).
func (s *Server) handleDataPlanes(w http.ResponseWriter, r *http.Request) {
	if s.cluster == nil {
		s.writeError(w, r, errNotControlPlane)
		return
	}
	q := r.URL.Query()
	opts, err := listOptions(q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	after := ""
	if opts.Offset != "" {
		id, err := base64.RawURLEncoding.DecodeString(opts.Offset)
		if err != nil || len(id) == 0 {
			s.writeError(w, r, &store.Error{Code: store.CodeInvalidOffset, Name: "invalid offset",
				Message: fmt.Sprintf("'%s' is not a valid offset: bad offset", opts.Offset)})
			return
		}
		after = string(id)
	}
	data := []map[string]any{}
	var offset string
	for _, n := range s.cluster.Nodes() {
		if n.ID <= after {
			continue
		}
		if len(data) == opts.Size {
			offset = base64.RawURLEncoding.EncodeToString([]byte(data[len(data)-1]["id"].(string)))
			break
		}
		data = append(data, dataPlaneRow(n))
	}
	out := map[string]any{"data": data, "next": nil}
	if offset != "" {
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Set("offset", offset)
		out["next"] = r.URL.Path + "?" + next.Encode()
		out["offset"] = offset
	}
	writeJSON(w, http.StatusOK, out)
}

// dataPlaneRow renders a node as Kong's clustering_data_planes row, plus
// Gantry's fields. Times are in seconds since the epoch, as Kong's.
func dataPlaneRow(n cluster.DataPlane) map[string]any {
	labels := n.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	var expiry any
	if !n.CertExpiry.IsZero() {
		expiry = n.CertExpiry.Unix()
	}
	var lastError any
	if e := n.LastError; e != nil {
		errs := e.Errors
		if errs == nil {
			errs = []cluster.EntityError{}
		}
		lastError = map[string]any{
			"kind":           e.Kind,
			"message":        e.Message,
			"config_version": e.ConfigVersion,
			"config_hash":    e.ConfigHash,
			"errors":         errs,
		}
	}
	return map[string]any{
		"id":               n.ID,
		"hostname":         n.Hostname,
		"ip":               n.IP,
		"version":          n.Version,
		"sync_status":      n.SyncStatus,
		"config_hash":      n.ConfigHash,
		"last_seen":        n.LastSeen.Unix(),
		"updated_at":       n.UpdatedAt.Unix(),
		"ttl":              int64(n.TTL / time.Second),
		"labels":           labels,
		"cert_details":     map[string]any{"expiry_timestamp": expiry},
		"rpc_capabilities": []string{},
		"status":           n.Status,
		"connected":        n.Connected,
		"config_version":   n.ConfigVersion,
		"last_error":       lastError,
	}
}

// handleClusteringStatus serves GET /clustering/status, which Kong
// deprecated in favour of /clustering/data-planes: each node's config
// hash, hostname, address and last ping, by id.
func (s *Server) handleClusteringStatus(w http.ResponseWriter, r *http.Request) {
	if s.cluster == nil {
		s.writeError(w, r, errNotControlPlane)
		return
	}
	out := map[string]any{}
	for _, n := range s.cluster.Nodes() {
		out[n.ID] = map[string]any{
			"config_hash": n.ConfigHash,
			"hostname":    n.Hostname,
			"ip":          n.IP,
			"last_seen":   n.LastSeen.Unix(),
		}
	}
	w.Header().Set("Deprecation", "true")
	writeJSON(w, http.StatusOK, out)
}

// handleExpectedConfigHash serves GET /clustering/expected-config-hash: the
// config hash and version data planes should serve, to compare with
// theirs.
func (s *Server) handleExpectedConfigHash(w http.ResponseWriter, r *http.Request) {
	if s.cluster == nil {
		s.writeError(w, r, errNotControlPlane)
		return
	}
	hash, version := s.cluster.Expected()
	writeJSON(w, http.StatusOK, map[string]any{"expected_config_hash": hash, "config_version": version})
}
