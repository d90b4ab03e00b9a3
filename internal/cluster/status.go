package cluster

import "time"

// NodeStatus sums up, for people, how a data plane is doing: Gantry's
// addition to Kong's sync_status, which only says whether a node can be
// served.
type NodeStatus string

// The node statuses.
const (
	// StatusConnected: the node is connected, serves the expected
	// configuration, has not refused it and pings on time.
	StatusConnected NodeStatus = "connected"
	// StatusOutOfSync: the node is connected but serves another
	// configuration, refused the expected one, cannot be served it, or
	// has not pinged for more than two ping intervals.
	StatusOutOfSync NodeStatus = "out_of_sync"
	// StatusDisconnected: the node has no live connection; it is listed
	// until cluster_data_plane_purge_delay after it was last seen.
	StatusDisconnected NodeStatus = "disconnected"
)

// The kinds of NodeError.
const (
	// ErrorRejected: the node refused a configuration (a Rejected
	// message).
	ErrorRejected = "rejected"
	// ErrorPayloadTooLarge: the configuration, compressed, is larger than
	// cluster_max_payload and was sent to no node.
	ErrorPayloadTooLarge = "payload_too_large"
	// ErrorIncompatible: the node cannot run the configuration (its sync
	// status says why) and is not sent it.
	ErrorIncompatible = "incompatible"
)

// NodeError is why a data plane does not serve the expected
// configuration. The control plane clears it when the node applies a
// later version or is found serving the expected configuration.
type NodeError struct {
	// Kind is one of ErrorRejected, ErrorPayloadTooLarge and
	// ErrorIncompatible.
	Kind    string `json:"kind"`
	Message string `json:"message"`
	// ConfigVersion and ConfigHash name the configuration concerned.
	ConfigVersion int64  `json:"config_version"`
	ConfigHash    string `json:"config_hash,omitempty"`
	// Errors are the problems by entity of a refused configuration.
	Errors []EntityError `json:"errors,omitempty"`
}

// DataPlane is what a control plane knows about one data plane node: a
// row of the Admin API's /clustering/data-planes. Its JSON form is how the
// control plane keeps the list across restarts; the fields marked "-" are
// derived when the list is read.
type DataPlane struct {
	ID       string            `json:"id"`
	Hostname string            `json:"hostname"`
	IP       string            `json:"ip"`
	Version  string            `json:"version"`
	Labels   map[string]string `json:"labels"`
	// Plugins are the plugins the node said it has.
	Plugins    []Plugin   `json:"plugins"`
	SyncStatus SyncStatus `json:"sync_status"`
	// ConfigHash is the hash of the configuration the node last said it
	// serves (in its hello, a ping or an Applied).
	ConfigHash string `json:"config_hash"`
	// ConfigVersion is the control plane's config version the node last
	// applied; 0 when unknown.
	ConfigVersion int64      `json:"config_version"`
	LastError     *NodeError `json:"last_error,omitempty"`
	// LastSeen is when the node last connected or sent a frame; UpdatedAt
	// when the row last changed.
	LastSeen  time.Time `json:"last_seen"`
	UpdatedAt time.Time `json:"updated_at"`
	// CertExpiry is when the node's client certificate expires; zero
	// when unknown.
	CertExpiry time.Time `json:"cert_expiry,omitzero"`

	// Connected reports a live connection.
	Connected bool `json:"-"`
	// Status is the node's status, derived from the fields above, the
	// expected configuration and the ping interval.
	Status NodeStatus `json:"-"`
	// TTL is how long the row stays listed if the node is not seen again
	// (cluster_data_plane_purge_delay after LastSeen).
	TTL time.Duration `json:"-"`
}
