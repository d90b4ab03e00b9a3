package sqlite

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gantry-gw/gantry/internal/store"
)

// reader implements store.Reader over one SQLite transaction: a read
// transaction for View, the write transaction for Update.
type reader struct {
	txStatements
	// version is the config version the transaction started from.
	version int64
}

// begin reads the config version. In a read transaction this first read is
// what fixes the WAL snapshot, so the view starts when View is called and not
// at its first Get.
func (r *reader) begin() error {
	if err := r.stmt(stmtVersion).QueryRow().Scan(&r.version); err != nil {
		return fmt.Errorf("read config version: %w", err)
	}
	return nil
}

// Version returns the config version the transaction started from. Inside
// Update that is the version before the update; Update returns the new one.
func (r *reader) Version() (int64, error) {
	return r.version, nil
}

// Get returns the record of type typ with id, or store.ErrNotFound.
func (r *reader) Get(typ, id string) (*store.Record, error) {
	data, rawIndex, err := r.load(typ, id)
	if err != nil {
		return nil, fmt.Errorf("get %s %s: %w", typ, id, err)
	}
	ix, err := decodeIndex(rawIndex)
	if err != nil {
		return nil, fmt.Errorf("get %s %s: %w", typ, id, err)
	}
	return ix.record(typ, id, data), nil
}

// load reads the data and the encoded index of one record, or
// store.ErrNotFound.
func (r *reader) load(typ, id string) (data, rawIndex []byte, err error) {
	err = r.stmt(stmtGet).QueryRow(typ, id).Scan(&data, &rawIndex)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, store.ErrNotFound
	}
	return data, rawIndex, err
}

// Lookup returns the id of the record of type typ holding key, or
// store.ErrNotFound.
func (r *reader) Lookup(typ, key string) (string, error) {
	var id string
	err := r.stmt(stmtLookup).QueryRow(typ, key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("lookup %s key %q: %w", typ, key, store.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("lookup %s key %q: %w", typ, key, err)
	}
	return id, nil
}

// Referencing returns the references other records hold to id, ordered by
// the referring record's type, the field and the referring record's id.
func (r *reader) Referencing(id string) ([]store.Ref, error) {
	rows, err := r.stmt(stmtReferencing).Query(id)
	if err != nil {
		return nil, fmt.Errorf("referencing %s: %w", id, err)
	}
	defer rows.Close()
	var refs []store.Ref
	for rows.Next() {
		ref := store.Ref{To: id}
		if err := rows.Scan(&ref.Type, &ref.ID, &ref.Field); err != nil {
			return nil, fmt.Errorf("referencing %s: %w", id, err)
		}
		refs = append(refs, ref)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("referencing %s: %w", id, err)
	}
	return refs, nil
}

// List returns the records of type typ that pass f, in id order, with one
// query. A RefTo without a RefField keeps records referring to RefTo through
// any field; a RefField without a RefTo is refused, since it names no target.
func (r *reader) List(typ string, f store.Filter) ([]*store.Record, error) {
	shape, args, err := listArgs(typ, f)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", typ, err)
	}
	rows, err := r.listStmt(shape).Query(args...)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", typ, err)
	}
	defer rows.Close()
	var recs []*store.Record
	if f.Limit > 0 {
		recs = make([]*store.Record, 0, min(f.Limit, 1024))
	}
	for rows.Next() {
		var (
			id             string
			data, rawIndex []byte
		)
		if err := rows.Scan(&id, &data, &rawIndex); err != nil {
			return nil, fmt.Errorf("list %s: %w", typ, err)
		}
		ix, err := decodeIndex(rawIndex)
		if err != nil {
			return nil, fmt.Errorf("list %s: record %s: %w", typ, id, err)
		}
		recs = append(recs, ix.record(typ, id, data))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s: %w", typ, err)
	}
	return recs, nil
}

// listArgs picks the List statement for f and its arguments. Every shape
// takes the same named arguments and uses the ones it needs.
func listArgs(typ string, f store.Filter) (int, []any, error) {
	if f.Limit < 0 {
		return 0, nil, fmt.Errorf("negative limit %d", f.Limit)
	}
	ref := refNone
	switch {
	case f.RefTo != "" && f.RefField != "":
		ref = refField
	case f.RefTo != "":
		ref = refAnyField
	case f.RefField != "":
		return 0, nil, fmt.Errorf("reference filter on field %q without a target", f.RefField)
	}
	tag := tagNone
	tags := sortedSet(f.Tags, strings.Compare)
	switch {
	case len(tags) == 0:
	case f.AnyTag:
		tag = tagAny
	default:
		tag = tagAll
	}
	var tagsJSON, firstTag string
	if len(tags) > 0 {
		b, err := json.Marshal(tags)
		if err != nil {
			return 0, nil, fmt.Errorf("encode tags: %w", err)
		}
		tagsJSON, firstTag = string(b), f.Tags[0]
	}
	limit := int64(-1) // SQLite: no limit
	if f.Limit > 0 {
		limit = int64(f.Limit)
	}
	return listShape(ref, tag), []any{
		sql.Named("type", typ),
		sql.Named("after", f.After),
		sql.Named("limit", limit),
		sql.Named("ref_to", f.RefTo),
		sql.Named("ref_field", f.RefField),
		sql.Named("tags", tagsJSON),
		sql.Named("ntags", int64(len(tags))),
		sql.Named("first_tag", firstTag),
	}, nil
}
