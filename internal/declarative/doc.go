// Package declarative reads and writes Gantry's declarative configuration:
// the decK / kong.yml format 3.0 that Kong users already keep in version
// control, in YAML or JSON, with entities nested under their parents
// (decK's style) or listed flat.
//
// Parse turns a file into a Config: every entity validated with its
// schema from package entity, references between entities resolved to ids,
// ids given where the file has none (derived from the entity's name or
// content, so the same file always yields the same ids), and uniqueness
// checked within the file. It reports every problem it finds, each with the
// place in the file it comes from, so a user fixes a file in one pass.
//
// A Config is also what the control plane builds from its store to send to
// data planes (FromEntities). Config.Hash gives the config hash and the
// group hashes that a data plane compares to decide whether, and what, to
// rebuild; Config.Encode writes the config back out as a file that Parse
// reads to the same hash.
//
// The package knows nothing of HTTP, storage or sockets.
package declarative
