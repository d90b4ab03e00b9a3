// Package store keeps the control plane's configuration: entities, the
// monotonic config version and the change log. A Store applies Kong's
// semantics (defaults, unique names, references, cascades) on top of a
// Backend, which only persists records; sqlite/ is the embedded backend.
package store
