package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
)

// applicationID marks a database file as a Gantry store ("GNTY") in the
// SQLite header, so that Open refuses another application's database
// instead of adding tables to it.
const applicationID = 0x474E5459

// migrations turn a schema of version i into version i+1; the schema version
// is kept in PRAGMA user_version. Entries are only ever appended: a released
// migration never changes, so every store reaches the same schema.
var migrations = []string{
	// 1: entities, their lookup tables, the config version and the change
	// log.
	`
CREATE TABLE entities (
	type TEXT NOT NULL,
	id   TEXT NOT NULL,
	data BLOB NOT NULL, -- the entity as JSON, opaque to the backend
	idx  BLOB NOT NULL, -- the index entries below, encoded (see index.go)
	PRIMARY KEY (type, id)
) WITHOUT ROWID;

-- Unique keys: one row per key, so the primary key enforces uniqueness
-- within a type and serves Lookup.
CREATE TABLE entity_keys (
	type TEXT NOT NULL,
	key  TEXT NOT NULL,
	id   TEXT NOT NULL,
	PRIMARY KEY (type, key)
) WITHOUT ROWID;

-- References, keyed by target first: a prefix (to_id) serves Referencing,
-- a prefix (to_id, type, field) returns the referring records of one type
-- in id order, so "routes of this service after id A, limit N" is one range
-- scan.
CREATE TABLE entity_refs (
	to_id TEXT NOT NULL,
	type  TEXT NOT NULL,
	field TEXT NOT NULL,
	id    TEXT NOT NULL,
	PRIMARY KEY (to_id, type, field, id)
) WITHOUT ROWID;

-- Tags: a prefix (type, tag) lists the records carrying a tag in id order;
-- (type, tag, id) tests one record for one tag.
CREATE TABLE entity_tags (
	type TEXT NOT NULL,
	tag  TEXT NOT NULL,
	id   TEXT NOT NULL,
	PRIMARY KEY (type, tag, id)
) WITHOUT ROWID;

CREATE TABLE config_version (
	one     INTEGER PRIMARY KEY CHECK (one = 1),
	version INTEGER NOT NULL
);
INSERT INTO config_version (one, version) VALUES (1, 0);

CREATE TABLE change_log (
	version INTEGER NOT NULL,
	seq     INTEGER NOT NULL,
	type    TEXT NOT NULL,
	id      TEXT NOT NULL,
	op      TEXT NOT NULL CHECK (op IN ('create', 'update', 'delete')),
	PRIMARY KEY (version, seq)
) WITHOUT ROWID;
`,
}

// migrate brings the schema of the database behind db up to date in one
// write transaction, after checking that the file is a Gantry store (or an
// empty database) and not newer than this build understands.
func migrate(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() // a no-op once committed

	var appID, version, objects int
	if err := tx.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return fmt.Errorf("read application id: %w", err)
	}
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&objects); err != nil {
		return fmt.Errorf("read schema: %w", err)
	}
	switch {
	case appID == 0 && version == 0 && objects == 0:
		// A new, empty database.
	case appID != applicationID:
		return fmt.Errorf("an SQLite database that is not a Gantry store (application_id %#x)", appID)
	case version > len(migrations):
		return fmt.Errorf("schema version %d is newer than this build supports (%d)", version, len(migrations))
	case version == len(migrations):
		return nil
	}

	for v := version; v < len(migrations); v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("migrate schema to version %d: %w", v+1, err)
		}
	}
	// PRAGMA arguments cannot be bound parameters; both values are integers
	// from this package.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
		return fmt.Errorf("set schema version: %w", err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", applicationID)); err != nil {
		return fmt.Errorf("set application id: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit schema: %w", err)
	}
	log.Info("store schema migrated", "from_version", version, "to_version", len(migrations))
	return nil
}
