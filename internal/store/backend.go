package store

import (
	"context"
	"errors"
)

// ErrNotFound is returned by a Backend when no record matches.
var ErrNotFound = errors.New("not found")

// ErrKeyConflict is returned by Writer.Put when another record of the same
// type already holds one of the record's keys.
var ErrKeyConflict = errors.New("unique key held by another record")

// Ref is one reference from an entity to another: the referring entity's
// type and id, the field holding the reference, and the id referred to.
type Ref struct {
	Type  string // type of the referring entity ("routes")
	ID    string // id of the referring entity
	Field string // field holding the reference ("service")
	To    string // id of the entity referred to
}

// Record is an entity as a backend stores it: the JSON document plus the
// index entries the Store derives from it, so a backend needs no knowledge
// of schemas.
type Record struct {
	Type string
	ID   string
	// Data is the entity as JSON.
	Data []byte
	// Keys are values unique within the type ("name:foo"); a backend must
	// refuse a second record of the same type with the same key.
	Keys []string
	// Refs are the references this record holds (Type and ID are this
	// record's own).
	Refs []Ref
	// Tags are the entity's tags, for filtering lists.
	Tags []string
}

// Op is what a change did to an entity.
type Op string

// The operations a change log records.
const (
	OpCreate Op = "create"
	OpUpdate Op = "update"
	OpDelete Op = "delete"
)

// Change is one entry of the change log: an entity that a write at Version
// created, updated or deleted.
type Change struct {
	Version int64
	Type    string
	ID      string
	Op      Op
}

// Filter narrows a List.
type Filter struct {
	// After returns only records whose id sorts after it (paging).
	After string
	// Limit caps the number of records; 0 means all.
	Limit int
	// Tags keeps records carrying every tag, or any of them with AnyTag.
	Tags   []string
	AnyTag bool
	// RefField and RefTo keep records whose field RefField refers to RefTo
	// (the routes of one service). RefTo alone matches a reference from any
	// field; RefField alone is an error.
	RefField string
	RefTo    string
}

// Reader reads a consistent view of the stored entities.
type Reader interface {
	// Get returns the record of type typ with id, or ErrNotFound.
	Get(typ, id string) (*Record, error)
	// Lookup returns the id of the record of type typ holding key, or
	// ErrNotFound.
	Lookup(typ, key string) (string, error)
	// List returns records of type typ in id order, ids compared as bytes
	// (a PostgreSQL backend needs COLLATE "C" to agree).
	List(typ string, f Filter) ([]*Record, error)
	// Referencing returns the references other records hold to id.
	Referencing(id string) ([]Ref, error)
	// Version returns the config version this view sees; inside Update,
	// the version the transaction started from.
	Version() (int64, error)
}

// Writer changes entities inside one transaction.
type Writer interface {
	Reader
	// Put creates the record or replaces the one with the same type and
	// id, with its keys, references and tags. A record identical to the
	// stored one is not a change.
	Put(rec *Record) error
	// Delete removes a record with its index entries, or returns
	// ErrNotFound.
	Delete(typ, id string) error
}

// Backend is a place entities are kept: SQLite now, PostgreSQL later. Every
// Update is one transaction that, when it changed anything, advances the
// config version by one and appends a change-log entry per entity changed,
// all committed together and durably before Update returns.
type Backend interface {
	// View runs fn against a consistent read-only snapshot.
	View(ctx context.Context, fn func(Reader) error) error
	// Update runs fn in a write transaction and returns the config version
	// after it. If fn returns an error nothing is written and the version
	// is unchanged.
	Update(ctx context.Context, fn func(Writer) error) (int64, error)
	// Changes returns change-log entries with a version greater than since,
	// oldest first, at most limit of them (0 for all). A limit can end the
	// list inside a version; a caller paging through the log must drop the
	// last, possibly partial, version and ask again from the one before.
	// The log is kept whole for now; pruning comes with incremental sync.
	Changes(ctx context.Context, since int64, limit int) ([]Change, error)
	// Close releases the backend.
	Close() error
}
