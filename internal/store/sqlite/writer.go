package sqlite

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gantry-gw/gantry/internal/store"
)

// writer implements store.Writer over the write transaction of one Update.
// It keeps, in memory, the entities the transaction changed, from which
// Update writes the change log at the end.
type writer struct {
	reader
	pending  []pending
	byEntity map[entityKey]int // index into pending
	// failed is the first error that may have left a Put or Delete half
	// done. Update then rolls back even if fn ignored the error; every
	// later Put or Delete returns it.
	failed error
}

type entityKey struct{ typ, id string }

// pending is one entity the transaction changed, in the order it was first
// changed; whether it existed before the transaction and whether it exists
// now decide the change-log operation.
type pending struct {
	entityKey
	existed bool
	exists  bool
}

// op returns the change the transaction made to the entity, or false if it
// made none: created then deleted leaves no trace.
func (p pending) op() (store.Op, bool) {
	switch {
	case !p.existed && p.exists:
		return store.OpCreate, true
	case p.existed && p.exists:
		return store.OpUpdate, true
	case p.existed && !p.exists:
		return store.OpDelete, true
	default:
		return "", false
	}
}

// touch records that the transaction changed the entity typ/id, which
// existed before the change and exists after it as told.
func (w *writer) touch(typ, id string, existed, exists bool) {
	k := entityKey{typ, id}
	if i, ok := w.byEntity[k]; ok {
		w.pending[i].exists = exists
		return
	}
	w.byEntity[k] = len(w.pending)
	w.pending = append(w.pending, pending{entityKey: k, existed: existed, exists: exists})
}

func (w *writer) exec(id stmtID, args ...any) error {
	_, err := w.stmt(id).Exec(args...)
	return err
}

// Put creates rec or replaces the record with its type and id, with its
// keys, references and tags. A record equal to the stored one (same data,
// same sets of keys, references and tags) is not a change. A Put refused for
// a key conflict or invalid input writes nothing, so fn may go on with the
// transaction.
func (w *writer) Put(rec *store.Record) error {
	if rec == nil {
		return errors.New("put: nil record")
	}
	if err := w.put(rec); err != nil {
		return fmt.Errorf("put %s %s: %w", rec.Type, rec.ID, err)
	}
	return nil
}

func (w *writer) put(rec *store.Record) error {
	if w.failed != nil {
		return fmt.Errorf("transaction failed earlier: %w", w.failed)
	}
	if rec.Type == "" || rec.ID == "" {
		return errors.New("record without a type or an id")
	}
	if !utf8.ValidString(rec.Type) || !utf8.ValidString(rec.ID) {
		return errors.New("type or id is not valid UTF-8")
	}
	if len(rec.Data) == 0 {
		return errors.New("record without data")
	}
	ix, err := newIndex(rec)
	if err != nil {
		return err
	}
	enc := ix.encode()
	oldData, oldEnc, err := w.load(rec.Type, rec.ID)
	existed := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if existed && bytes.Equal(oldData, rec.Data) && bytes.Equal(oldEnc, enc) {
		return nil
	}
	var old index
	if existed {
		if old, err = decodeIndex(oldEnc); err != nil {
			return err
		}
	}
	removed, added := diffIndex(old, ix)

	// Keys go first: when one is taken, the ones added before it are
	// removed again and nothing else of the record has been written.
	if err := w.addKeys(rec.Type, rec.ID, added.Keys); err != nil {
		return err
	}
	if err := w.write(rec, existed, enc, removed, added); err != nil {
		w.failed = err
		return err
	}
	w.touch(rec.Type, rec.ID, existed, true)
	return nil
}

// addKeys inserts the keys of the record typ/id. A key held by another
// record is a conflict: the keys inserted before it are deleted again, so
// the refused Put leaves no trace. Any other failure spoils the
// transaction.
func (w *writer) addKeys(typ, id string, keys []string) error {
	for i, key := range keys {
		err := w.exec(stmtInsertKey, typ, key, id)
		if err == nil {
			continue
		}
		var (
			se     *sqlite.Error
			holder string
		)
		if !errors.As(err, &se) || se.Code() != sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY ||
			w.stmt(stmtLookup).QueryRow(typ, key).Scan(&holder) != nil {
			w.failed = fmt.Errorf("add key %q: %w", key, err)
			return w.failed
		}
		for _, inserted := range keys[:i] {
			if err := w.exec(stmtDeleteKey, typ, inserted, id); err != nil {
				w.failed = fmt.Errorf("undo key %q: %w", inserted, err)
				return w.failed
			}
		}
		return fmt.Errorf("key %q held by %s: %w", key, holder, store.ErrKeyConflict)
	}
	return nil
}

// write stores rec with its encoded index enc and moves its index rows:
// removed ones are deleted, the added references and tags inserted (the
// keys already are).
func (w *writer) write(rec *store.Record, existed bool, enc []byte, removed, added index) error {
	typ, id := rec.Type, rec.ID
	var err error
	if existed {
		err = w.exec(stmtUpdateEntity, rec.Data, enc, typ, id)
	} else {
		err = w.exec(stmtInsertEntity, typ, id, rec.Data, enc)
	}
	if err != nil {
		return fmt.Errorf("write record: %w", err)
	}
	if err := w.removeEntries(typ, id, removed); err != nil {
		return err
	}
	for _, r := range added.Refs {
		if err := w.exec(stmtInsertRef, r.To, typ, r.Field, id); err != nil {
			return fmt.Errorf("add reference %s: %w", r.Field, err)
		}
	}
	for _, tag := range added.Tags {
		if err := w.exec(stmtInsertTag, typ, tag, id); err != nil {
			return fmt.Errorf("add tag %q: %w", tag, err)
		}
	}
	return nil
}

// removeEntries deletes the index rows of ix held by the record typ/id.
func (w *writer) removeEntries(typ, id string, ix index) error {
	for _, key := range ix.Keys {
		if err := w.exec(stmtDeleteKey, typ, key, id); err != nil {
			return fmt.Errorf("remove key %q: %w", key, err)
		}
	}
	for _, r := range ix.Refs {
		if err := w.exec(stmtDeleteRef, r.To, typ, r.Field, id); err != nil {
			return fmt.Errorf("remove reference %s: %w", r.Field, err)
		}
	}
	for _, tag := range ix.Tags {
		if err := w.exec(stmtDeleteTag, typ, tag, id); err != nil {
			return fmt.Errorf("remove tag %q: %w", tag, err)
		}
	}
	return nil
}

// Delete removes the record of type typ with id and its index entries, or
// returns store.ErrNotFound.
func (w *writer) Delete(typ, id string) error {
	if err := w.delete(typ, id); err != nil {
		return fmt.Errorf("delete %s %s: %w", typ, id, err)
	}
	return nil
}

func (w *writer) delete(typ, id string) error {
	if w.failed != nil {
		return fmt.Errorf("transaction failed earlier: %w", w.failed)
	}
	_, rawIndex, err := w.load(typ, id)
	if err != nil {
		return err
	}
	ix, err := decodeIndex(rawIndex)
	if err != nil {
		return err
	}
	err = w.exec(stmtDeleteEntity, typ, id)
	if err == nil {
		err = w.removeEntries(typ, id, ix)
	}
	if err != nil {
		w.failed = err
		return err
	}
	w.touch(typ, id, true, false)
	return nil
}

// logChanges appends one change-log row at version per entity the
// transaction changed, in the order each was first changed, and moves the
// config version to version. It reports false, and writes nothing, when the
// transaction changed nothing.
func (w *writer) logChanges(version int64) (bool, error) {
	entries := make([][3]string, 0, len(w.pending))
	for _, p := range w.pending {
		if op, ok := p.op(); ok {
			entries = append(entries, [3]string{p.typ, p.id, string(op)})
		}
	}
	if len(entries) == 0 {
		return false, nil
	}
	enc, err := json.Marshal(entries)
	if err != nil {
		return false, fmt.Errorf("encode change log: %w", err)
	}
	if err := w.exec(stmtInsertChanges, version, string(enc)); err != nil {
		return false, fmt.Errorf("write change log: %w", err)
	}
	if err := w.exec(stmtSetVersion, version); err != nil {
		return false, fmt.Errorf("set config version: %w", err)
	}
	return true, nil
}
