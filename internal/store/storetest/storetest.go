// Package storetest holds the scenarios every store.Backend must pass,
// written once and run by the tests of each implementation (SQLite now,
// PostgreSQL later), so that the backends behave alike down to the change
// log:
//
//	func TestBackend(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Backend { return openEmpty(t) })
//	}
//
// Beyond the documentation of store.Backend, the scenarios pin these rules:
//   - Get returns Data byte for byte as it was put; Keys, Refs and Tags are
//     compared as sets, and a returned Ref carries the record's type and id.
//   - A Put refused (key conflict, invalid record) writes nothing, so fn may
//     go on with the transaction; if fn returns the error, nothing at all is
//     written.
//   - Inside Update, Version returns the version the transaction started
//     from; Update returns the new one.
//   - The change log records the net effect of an Update, one entry per
//     entity in the order the Update first changed it: created then updated
//     is a create, existing then deleted and put again is an update, created
//     then deleted is nothing (and alone bumps no version).
//   - List with RefTo and no RefField keeps records referring to RefTo
//     through any field; RefField without RefTo is an error.
//   - Changes with a limit returns the first entries in order, even when the
//     limit falls inside a version.
//   - A View is a snapshot taken when View is called, and does not block
//     Update, nor Update it.
//   - A panic in fn rolls the Update back and leaves the backend usable; a
//     canceled context fails Update and View with context.Canceled.
package storetest

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-gw/gantry/internal/store"
)

// Run runs every scenario as a subtest, each against a backend of its own.
// open must return a new, empty backend each time it is called; Run closes
// it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Backend) {
	scenarios := []struct {
		name string
		run  func(t *testing.T, b store.Backend)
	}{
		{"PutGetRoundTrip", testPutGetRoundTrip},
		{"InvalidRecordsRefused", testInvalidRecordsRefused},
		{"Lookup", testLookup},
		{"KeyConflict", testKeyConflict},
		{"DeleteRemovesIndexEntries", testDeleteRemovesIndexEntries},
		{"ReadOwnWrites", testReadOwnWrites},
		{"ListOrderAndPaging", testListOrderAndPaging},
		{"ListTags", testListTags},
		{"ListRefs", testListRefs},
		{"ListCombinedFilters", testListCombinedFilters},
		{"Referencing", testReferencing},
		{"Versions", testVersions},
		{"FailedUpdateLeavesNoTrace", testFailedUpdateLeavesNoTrace},
		{"ChangeLog", testChangeLog},
		{"ChangesLimit", testChangesLimit},
		{"ViewSnapshotIsolation", testViewSnapshotIsolation},
		{"ConcurrentReadersDuringWrite", testConcurrentReadersDuringWrite},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"CanceledContext", testCanceledContext},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			b := open(t)
			t.Cleanup(func() {
				if err := b.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			sc.run(t, b)
		})
	}
}

// recordOption sets an index entry of a record under construction.
type recordOption func(*store.Record)

// record builds a record whose data names its id and carries payload, so
// that two versions of a record differ by payload.
func record(typ, id, payload string, opts ...recordOption) *store.Record {
	r := &store.Record{Type: typ, ID: id, Data: fmt.Appendf(nil, `{"id":%q,"payload":%q}`, id, payload)}
	for _, o := range opts {
		o(r)
	}
	return r
}

func keys(k ...string) recordOption { return func(r *store.Record) { r.Keys = append(r.Keys, k...) } }

func tags(t ...string) recordOption { return func(r *store.Record) { r.Tags = append(r.Tags, t...) } }

func ref(field, to string) recordOption {
	return func(r *store.Record) {
		r.Refs = append(r.Refs, store.Ref{Type: r.Type, ID: r.ID, Field: field, To: to})
	}
}

// put returns an Update function that puts recs in order.
func put(recs ...*store.Record) func(store.Writer) error {
	return func(w store.Writer) error {
		for _, r := range recs {
			if err := w.Put(r); err != nil {
				return err
			}
		}
		return nil
	}
}

// mustUpdate runs fn in an Update that must succeed and returns the version.
func mustUpdate(t *testing.T, b store.Backend, fn func(store.Writer) error) int64 {
	t.Helper()
	v, err := b.Update(t.Context(), fn)
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	return v
}

// mustView runs fn in a View that must succeed.
func mustView(t *testing.T, b store.Backend, fn func(store.Reader) error) {
	t.Helper()
	if err := b.View(t.Context(), fn); err != nil {
		t.Fatalf("view: %v", err)
	}
}

func currentVersion(t *testing.T, b store.Backend) int64 {
	t.Helper()
	var v int64
	mustView(t, b, func(r store.Reader) error {
		var err error
		v, err = r.Version()
		return err
	})
	return v
}

func getRecord(t *testing.T, b store.Backend, typ, id string) (*store.Record, error) {
	t.Helper()
	var rec *store.Record
	var getErr error
	mustView(t, b, func(r store.Reader) error {
		rec, getErr = r.Get(typ, id)
		return nil
	})
	return rec, getErr
}

func list(t *testing.T, b store.Backend, typ string, f store.Filter) []*store.Record {
	t.Helper()
	var recs []*store.Record
	mustView(t, b, func(r store.Reader) error {
		var err error
		recs, err = r.List(typ, f)
		return err
	})
	return recs
}

func listIDs(t *testing.T, b store.Backend, typ string, f store.Filter) []string {
	t.Helper()
	return ids(list(t, b, typ, f))
}

func ids(recs []*store.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

func lookup(t *testing.T, b store.Backend, typ, key string) (string, error) {
	t.Helper()
	var id string
	var lookupErr error
	mustView(t, b, func(r store.Reader) error {
		id, lookupErr = r.Lookup(typ, key)
		return nil
	})
	return id, lookupErr
}

func referencing(t *testing.T, b store.Backend, id string) []store.Ref {
	t.Helper()
	var refs []store.Ref
	mustView(t, b, func(r store.Reader) error {
		var err error
		refs, err = r.Referencing(id)
		return err
	})
	return sortRefs(refs)
}

func changes(t *testing.T, b store.Backend, since int64, limit int) []store.Change {
	t.Helper()
	cs, err := b.Changes(t.Context(), since, limit)
	if err != nil {
		t.Fatalf("changes since %d: %v", since, err)
	}
	return cs
}

// sameRecord reports whether two records are equal with their index
// entries taken as sets.
func sameRecord(a, b *store.Record) bool {
	return a.Type == b.Type && a.ID == b.ID && bytes.Equal(a.Data, b.Data) &&
		slices.Equal(sortStrings(a.Keys), sortStrings(b.Keys)) &&
		slices.Equal(sortStrings(a.Tags), sortStrings(b.Tags)) &&
		slices.Equal(sortRefs(a.Refs), sortRefs(b.Refs))
}

func sortStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

func sortRefs(refs []store.Ref) []store.Ref {
	out := slices.Clone(refs)
	slices.SortFunc(out, func(a, b store.Ref) int {
		return cmp.Or(strings.Compare(a.To, b.To), strings.Compare(a.Type, b.Type),
			strings.Compare(a.Field, b.Field), strings.Compare(a.ID, b.ID))
	})
	return slices.Compact(out)
}

func formatRecord(r *store.Record) string {
	if r == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%s %s data=%s keys=%q tags=%q refs=%+v", r.Type, r.ID, r.Data, r.Keys, r.Tags, r.Refs)
}

// state is everything observable in a backend, for checking that a failed
// Update left no trace.
type state struct {
	version int64
	records map[string][]*store.Record
	changes []store.Change
}

func snapshot(t *testing.T, b store.Backend, types ...string) state {
	t.Helper()
	s := state{records: map[string][]*store.Record{}}
	mustView(t, b, func(r store.Reader) error {
		var err error
		if s.version, err = r.Version(); err != nil {
			return err
		}
		for _, typ := range types {
			if s.records[typ], err = r.List(typ, store.Filter{}); err != nil {
				return err
			}
		}
		return nil
	})
	s.changes = changes(t, b, 0, 0)
	return s
}

func (s state) diff(other state) error {
	if s.version != other.version {
		return fmt.Errorf("version %d, want %d", other.version, s.version)
	}
	if !slices.Equal(s.changes, other.changes) {
		return fmt.Errorf("changes %+v, want %+v", other.changes, s.changes)
	}
	for typ, recs := range s.records {
		got := other.records[typ]
		if !slices.EqualFunc(recs, got, sameRecord) {
			return fmt.Errorf("%s: records %v, want %v", typ, ids(got), ids(recs))
		}
	}
	return nil
}

// errInjected is returned by Update functions that must fail.
var errInjected = errors.New("injected failure")
