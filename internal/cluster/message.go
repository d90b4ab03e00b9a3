// Package cluster is Gantry's control plane / data plane wire protocol,
// version 1: the messages, how they are framed and checked, and the values
// both sides must agree on. docs/protocol.md is its specification; the
// control plane's side lives in cluster/cp, the data plane's in cluster/dp.
//
// A data plane dials the control plane over mutual TLS and opens a
// WebSocket on OutletPath. Every message is one binary WebSocket frame
// holding one JSON object with a "type" member. The data plane speaks
// first (Hello); the control plane sends Reconfigure, compressed with gzip;
// the data plane answers every Reconfigure with Applied or Rejected.
// Heartbeats are WebSocket pings whose payload is the data plane's config
// hash, answered by pongs.
package cluster

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ProtocolVersion is the version of the protocol this build speaks. A
// Hello that names another version is refused.
const ProtocolVersion = 1

// OutletPath is the WebSocket endpoint on cluster_listen; the data plane
// adds the query arguments node_id, node_hostname and node_version.
const OutletPath = "/v1/outlet"

// Message types, the "type" member of every frame.
const (
	TypeHello       = "hello"
	TypeReconfigure = "reconfigure"
	TypeApplied     = "applied"
	TypeRejected    = "rejected"
)

// EmptyHash is the config hash of a node that has no configuration: 32
// zeros, as in Kong.
const EmptyHash = "00000000000000000000000000000000"

// Limits of the protocol.
const (
	// MaxDataPlaneFrame is the largest frame a control plane reads from a
	// data plane (a Hello listing plugins, a Rejected listing errors).
	MaxDataPlaneFrame = 1 << 20
	// MaxRejectedErrors is how many entity errors a Rejected carries at
	// most; the rest are counted in its message.
	MaxRejectedErrors = 100
	// HandshakeTimeout bounds the TLS handshake, the WebSocket upgrade and
	// the wait for Hello (Kong's CLUSTERING_TIMEOUT).
	HandshakeTimeout = 5 * time.Second
	// DecompressionFactor bounds a Reconfigure once decompressed, as a
	// multiple of the largest compressed frame a data plane accepts
	// (cluster_max_payload), so a compressed bomb cannot exhaust memory.
	DecompressionFactor = 32
)

// Close codes the control plane uses when it ends a connection for a
// reason the data plane should log (RFC 6455 leaves 4000–4999 to
// applications). The close reason says more.
const (
	CloseProtocolError       = 4400 // a frame the protocol does not allow
	CloseVersionIncompatible = 4409 // kong_version_incompatible
	CloseReplaced            = 4410 // the same node id connected again
)

// Plugin is a plugin a data plane can run, with its version.
type Plugin struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Hello is a data plane's first frame: who it is, what it can run and what
// it runs now.
type Hello struct {
	Type            string            `json:"type"`
	ProtocolVersion int               `json:"protocol_version"`
	NodeID          string            `json:"node_id"`
	Hostname        string            `json:"hostname"`
	Version         string            `json:"version"`
	Labels          map[string]string `json:"labels,omitempty"`
	Plugins         []Plugin          `json:"plugins"`
	// ConfigHash is the hash of the configuration the node serves
	// (EmptyHash for none) and ConfigVersion the control plane's version
	// it came with (0 when unknown: none, or loaded from a file).
	ConfigHash    string `json:"config_hash"`
	ConfigVersion int64  `json:"config_version"`
}

// Reconfigure carries a whole configuration from the control plane. It is
// sent gzip-compressed.
type Reconfigure struct {
	Type string `json:"type"`
	// ConfigVersion is the control plane's config version the
	// configuration was taken at.
	ConfigVersion int64 `json:"config_version"`
	// Timestamp is when the snapshot was taken, in seconds since the epoch.
	Timestamp float64 `json:"timestamp"`
	// ConfigHash and Hashes are the config hash and the group hashes
	// (docs/protocol.md, "Config hash") of ConfigTable; Hashes also holds
	// the config hash under "config", as in Kong.
	ConfigHash string            `json:"config_hash"`
	Hashes     map[string]string `json:"hashes"`
	// ConfigTable is the configuration: a flat declarative document
	// (_format_version "3.0", one list per entity type, foreign keys as
	// ids).
	ConfigTable json.RawMessage `json:"config_table"`
}

// Applied tells the control plane a data plane serves a configuration.
type Applied struct {
	Type          string `json:"type"`
	ConfigVersion int64  `json:"config_version"`
	ConfigHash    string `json:"config_hash"`
}

// Rejected tells the control plane a data plane refused a configuration
// and keeps serving the one it had.
type Rejected struct {
	Type          string `json:"type"`
	ConfigVersion int64  `json:"config_version"`
	ConfigHash    string `json:"config_hash"`
	// Message sums the refusal up in one line.
	Message string `json:"message"`
	// Errors are the problems by entity, at most MaxRejectedErrors.
	Errors []EntityError `json:"errors,omitempty"`
}

// EntityError is one problem of a refused configuration: the entity
// (type in Kong's singular form, "route"; empty for the configuration as
// a whole), the field when one is to blame, and the message.
type EntityError struct {
	EntityType string `json:"entity_type,omitempty"`
	EntityID   string `json:"entity_id,omitempty"`
	EntityName string `json:"entity_name,omitempty"`
	Field      string `json:"field,omitempty"`
	Message    string `json:"message"`
}

// ValidHash reports whether s is a config hash: 32 lowercase hexadecimal
// characters.
func ValidHash(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Validate checks a Hello read from the wire.
func (h *Hello) Validate() error {
	var errs []string
	if h.Type != TypeHello {
		errs = append(errs, fmt.Sprintf("type: expected %q (got %q)", TypeHello, h.Type))
	}
	if h.ProtocolVersion != ProtocolVersion {
		errs = append(errs, fmt.Sprintf("protocol_version: this control plane speaks version %d (got %d)", ProtocolVersion, h.ProtocolVersion))
	}
	if h.NodeID == "" {
		errs = append(errs, "node_id: required")
	}
	if h.Version == "" {
		errs = append(errs, "version: required")
	}
	if h.Plugins == nil {
		errs = append(errs, "plugins: required (an empty list when the node runs none)")
	}
	for i, p := range h.Plugins {
		if p.Name == "" {
			errs = append(errs, fmt.Sprintf("plugins[%d].name: required", i))
		}
	}
	if !ValidHash(h.ConfigHash) {
		errs = append(errs, fmt.Sprintf("config_hash: expected 32 lowercase hexadecimal characters (got %q)", h.ConfigHash))
	}
	if h.ConfigVersion < 0 {
		errs = append(errs, fmt.Sprintf("config_version: must not be negative (got %d)", h.ConfigVersion))
	}
	if len(errs) > 0 {
		return errors.New("invalid hello: " + strings.Join(errs, "; "))
	}
	return nil
}

// DecodeDataPlaneMessage reads a frame a data plane sent after its Hello:
// an *Applied or a *Rejected, checked.
func DecodeDataPlaneMessage(frame []byte) (any, error) {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(frame, &head); err != nil {
		return nil, fmt.Errorf("frame is not a JSON object: %w", err)
	}
	switch head.Type {
	case TypeApplied:
		var m Applied
		if err := strictUnmarshal(frame, &m); err != nil {
			return nil, fmt.Errorf("invalid applied: %w", err)
		}
		if !ValidHash(m.ConfigHash) {
			return nil, fmt.Errorf("invalid applied: config_hash: expected 32 lowercase hexadecimal characters (got %q)", m.ConfigHash)
		}
		return &m, nil
	case TypeRejected:
		var m Rejected
		if err := strictUnmarshal(frame, &m); err != nil {
			return nil, fmt.Errorf("invalid rejected: %w", err)
		}
		if len(m.Errors) > MaxRejectedErrors {
			m.Errors = m.Errors[:MaxRejectedErrors]
		}
		return &m, nil
	case TypeHello:
		return nil, errors.New("a second hello on the same connection")
	}
	return nil, fmt.Errorf("unknown message type %q", head.Type)
}

// DecodeHello reads a data plane's first frame.
func DecodeHello(frame []byte) (*Hello, error) {
	var h Hello
	if err := strictUnmarshal(frame, &h); err != nil {
		return nil, fmt.Errorf("invalid hello: %w", err)
	}
	if err := h.Validate(); err != nil {
		return nil, err
	}
	return &h, nil
}

// strictUnmarshal decodes one JSON object and nothing after it. Unknown
// members are allowed, so that a newer peer may add some.
func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON object")
	}
	return nil
}

// EncodeReconfigure renders r as the gzip-compressed JSON frame the
// control plane sends. It is called once per config version; every data
// plane gets the same bytes.
func EncodeReconfigure(r *Reconfigure) ([]byte, error) {
	r.Type = TypeReconfigure
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err := json.NewEncoder(zw).Encode(r); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DecodeReconfigure reads a frame from the control plane: gzip, at most
// maxDecompressed bytes once decompressed, holding a Reconfigure whose
// hashes are well-formed. It does not parse the configuration itself.
func DecodeReconfigure(frame []byte, maxDecompressed int64) (*Reconfigure, error) {
	zr, err := gzip.NewReader(bytes.NewReader(frame))
	if err != nil {
		return nil, fmt.Errorf("reconfigure frame is not gzip: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, maxDecompressed+1))
	if err != nil {
		return nil, fmt.Errorf("reconfigure frame: decompress: %w", err)
	}
	if int64(len(data)) > maxDecompressed {
		return nil, fmt.Errorf("reconfigure frame: more than %d bytes once decompressed", maxDecompressed)
	}
	var r Reconfigure
	if err := strictUnmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("invalid reconfigure: %w", err)
	}
	if r.Type != TypeReconfigure {
		return nil, fmt.Errorf("invalid reconfigure: type: expected %q (got %q)", TypeReconfigure, r.Type)
	}
	if !ValidHash(r.ConfigHash) {
		return nil, fmt.Errorf("invalid reconfigure: config_hash: expected 32 lowercase hexadecimal characters (got %q)", r.ConfigHash)
	}
	if r.ConfigVersion < 0 {
		return nil, fmt.Errorf("invalid reconfigure: config_version: must not be negative (got %d)", r.ConfigVersion)
	}
	if len(r.ConfigTable) == 0 || r.ConfigTable[0] != '{' {
		return nil, errors.New("invalid reconfigure: config_table: expected a JSON object")
	}
	return &r, nil
}

// Encode renders a data plane message (Hello, Applied or Rejected) as a
// frame, setting its type.
func Encode(m any) ([]byte, error) {
	switch t := m.(type) {
	case *Hello:
		t.Type = TypeHello
	case *Applied:
		t.Type = TypeApplied
	case *Rejected:
		t.Type = TypeRejected
		if len(t.Errors) > MaxRejectedErrors {
			t.Message = fmt.Sprintf("%s (%d more errors not shown)", t.Message, len(t.Errors)-MaxRejectedErrors)
			t.Errors = t.Errors[:MaxRejectedErrors]
		}
	default:
		return nil, fmt.Errorf("cluster: cannot encode %T", m)
	}
	return json.Marshal(m)
}
