package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// stmtID names one of the fixed statements. The read statements come first
// so that the reader pool prepares only those.
type stmtID int

const (
	stmtVersion stmtID = iota
	stmtGet
	stmtLookup
	stmtReferencing
	stmtChanges

	stmtInsertEntity
	stmtUpdateEntity
	stmtDeleteEntity
	stmtInsertKey
	stmtDeleteKey
	stmtInsertRef
	stmtDeleteRef
	stmtInsertTag
	stmtDeleteTag
	stmtInsertChanges
	stmtSetVersion

	numStmts
	numReadStmts = stmtInsertEntity
)

var stmtSQL = [numStmts]string{
	stmtVersion:     `SELECT version FROM config_version WHERE one = 1`,
	stmtGet:         `SELECT data, idx FROM entities WHERE type = ? AND id = ?`,
	stmtLookup:      `SELECT id FROM entity_keys WHERE type = ? AND key = ?`,
	stmtReferencing: `SELECT type, id, field FROM entity_refs WHERE to_id = ? ORDER BY type, field, id`,
	stmtChanges:     `SELECT version, type, id, op FROM change_log WHERE version > ? ORDER BY version, seq LIMIT ?`,

	stmtInsertEntity: `INSERT INTO entities (type, id, data, idx) VALUES (?, ?, ?, ?)`,
	stmtUpdateEntity: `UPDATE entities SET data = ?, idx = ? WHERE type = ? AND id = ?`,
	stmtDeleteEntity: `DELETE FROM entities WHERE type = ? AND id = ?`,
	stmtInsertKey:    `INSERT INTO entity_keys (type, key, id) VALUES (?, ?, ?)`,
	stmtDeleteKey:    `DELETE FROM entity_keys WHERE type = ? AND key = ? AND id = ?`,
	stmtInsertRef:    `INSERT INTO entity_refs (to_id, type, field, id) VALUES (?, ?, ?, ?)`,
	stmtDeleteRef:    `DELETE FROM entity_refs WHERE to_id = ? AND type = ? AND field = ? AND id = ?`,
	stmtInsertTag:    `INSERT INTO entity_tags (type, tag, id) VALUES (?, ?, ?)`,
	stmtDeleteTag:    `DELETE FROM entity_tags WHERE type = ? AND tag = ? AND id = ?`,
	// The change log of a whole Update goes in with one statement, from a
	// JSON array of [type, id, op] entries in order: a bulk Update logs
	// thousands of entries.
	stmtInsertChanges: `INSERT INTO change_log (version, seq, type, id, op)
		SELECT ?1, key + 1, value ->> 0, value ->> 1, value ->> 2 FROM json_each(?2)`,
	stmtSetVersion: `UPDATE config_version SET version = ? WHERE one = 1`,
}

// refMode and tagMode select the shape of a List query. Every combination
// is prepared once, so a List never compiles SQL; the variable part of a
// filter (the tags) is bound as one JSON array.
type (
	refMode int
	tagMode int
)

const (
	refNone     refMode = iota // no reference filter
	refField                   // RefTo through the field RefField
	refAnyField                // RefTo through any field
	numRefModes
)

const (
	tagNone tagMode = iota // no tag filter
	tagAll                 // every tag of Filter.Tags
	tagAny                 // at least one tag of Filter.Tags
	numTagModes
)

const numListShapes = int(numRefModes) * int(numTagModes)

func listShape(ref refMode, tag tagMode) int {
	return int(ref)*int(numTagModes) + int(tag)
}

// listSQL builds the List query of one shape. The table that drives the
// scan is the most selective one the filter names, read in id order, so the
// query needs no sort and stops after :limit rows: the references of
// :ref_to through :ref_field, else, when all tags are required, the records
// carrying the first tag the caller named, else the records of the type.
func listSQL(ref refMode, tag tagMode) string {
	var from, where, order string
	switch {
	case ref == refField:
		from = `entity_refs r JOIN entities e ON e.type = r.type AND e.id = r.id`
		where = `r.to_id = :ref_to AND r.type = :type AND r.field = :ref_field AND r.id > :after`
		order = `r.id`
	case tag == tagAll:
		from = `entity_tags t JOIN entities e ON e.type = t.type AND e.id = t.id`
		where = `t.type = :type AND t.tag = :first_tag AND t.id > :after`
		order = `t.id`
	default:
		from = `entities e`
		where = `e.type = :type AND e.id > :after`
		order = `e.id`
	}
	if ref == refAnyField {
		where += ` AND e.id IN (SELECT r.id FROM entity_refs r WHERE r.to_id = :ref_to AND r.type = :type)`
	}
	const tagged = `FROM entity_tags g WHERE g.type = :type AND g.tag IN (SELECT value FROM json_each(:tags)) AND g.id = e.id`
	switch tag {
	case tagAll:
		where += ` AND (SELECT count(*) ` + tagged + `) = :ntags`
	case tagAny:
		where += ` AND EXISTS (SELECT 1 ` + tagged + `)`
	}
	return `SELECT e.id, e.data, e.idx FROM ` + from + ` WHERE ` + where + ` ORDER BY ` + order + ` LIMIT :limit`
}

// statements are the prepared statements of one connection pool. database/sql
// prepares each lazily on every connection of the pool it runs on and keeps
// it there, so a statement is compiled once per connection.
type statements struct {
	fixed [numStmts]*sql.Stmt
	list  [numListShapes]*sql.Stmt
}

// prepareStatements prepares the fixed statements before upTo and every List
// shape on db.
func prepareStatements(ctx context.Context, db *sql.DB, upTo stmtID) (*statements, error) {
	s := &statements{}
	prep := func(query string) (*sql.Stmt, error) {
		st, err := db.PrepareContext(ctx, query)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("prepare %q: %w", strings.Join(strings.Fields(query), " "), err), s.close())
		}
		return st, nil
	}
	var err error
	for id := range upTo {
		if s.fixed[id], err = prep(stmtSQL[id]); err != nil {
			return nil, err
		}
	}
	for ref := range numRefModes {
		for tag := range numTagModes {
			if s.list[listShape(ref, tag)], err = prep(listSQL(ref, tag)); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

func (s *statements) close() error {
	var errs []error
	for _, st := range s.fixed {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	for _, st := range s.list {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

// txStatements hands out the statements of a pool bound to one transaction,
// binding each at most once per transaction: a bulk Update runs the same few
// statements thousands of times.
type txStatements struct {
	ctx   context.Context
	tx    *sql.Tx
	pool  *statements
	fixed [numStmts]*sql.Stmt
	list  [numListShapes]*sql.Stmt
}

func (t *txStatements) stmt(id stmtID) *sql.Stmt {
	if t.fixed[id] == nil {
		t.fixed[id] = t.tx.StmtContext(t.ctx, t.pool.fixed[id])
	}
	return t.fixed[id]
}

func (t *txStatements) listStmt(shape int) *sql.Stmt {
	if t.list[shape] == nil {
		t.list[shape] = t.tx.StmtContext(t.ctx, t.pool.list[shape])
	}
	return t.list[shape]
}
