package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/gantry-gw/gantry/internal/store"
)

func deleteRecord(typ, id string) func(store.Writer) error {
	return func(w store.Writer) error { return w.Delete(typ, id) }
}

// steps returns an Update function running fns in order.
func steps(fns ...func(store.Writer) error) func(store.Writer) error {
	return func(w store.Writer) error {
		for _, fn := range fns {
			if err := fn(w); err != nil {
				return err
			}
		}
		return nil
	}
}

func testVersions(t *testing.T, b store.Backend) {
	if v := currentVersion(t, b); v != 0 {
		t.Fatalf("version of an empty store: %d, want 0", v)
	}
	if cs := changes(t, b, 0, 0); len(cs) != 0 {
		t.Fatalf("changes of an empty store: %+v", cs)
	}
	tests := []struct {
		name string
		fn   func(store.Writer) error
		want int64
	}{
		{"first write", put(record("services", "a", "1", keys("name:a"), tags("t"))), 1},
		{"nothing written", func(store.Writer) error { return nil }, 1},
		{"only reads", func(w store.Writer) error { _, err := w.Get("services", "a"); return err }, 1},
		{"identical put", put(record("services", "a", "1", keys("name:a"), tags("t"))), 1},
		{"changed data", put(record("services", "a", "2", keys("name:a"), tags("t"))), 2},
		{"changed tags only", put(record("services", "a", "2", keys("name:a"), tags("t", "u"))), 3},
		{"several writes, one version", put(
			record("services", "b", "1"),
			record("services", "c", "1"),
			record("services", "a", "3", keys("name:a")),
		), 4},
		{"created then deleted", steps(put(record("services", "tmp", "1")), deleteRecord("services", "tmp")), 4},
		{"identical puts among changes", put(record("services", "b", "1"), record("services", "c", "2")), 5},
		{"delete", deleteRecord("services", "b"), 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v := mustUpdate(t, b, tt.fn); v != tt.want {
				t.Errorf("update returned version %d, want %d", v, tt.want)
			}
			if v := currentVersion(t, b); v != tt.want {
				t.Errorf("view sees version %d, want %d", v, tt.want)
			}
		})
	}
}

func testFailedUpdateLeavesNoTrace(t *testing.T, b store.Backend) {
	mustUpdate(t, b, put(
		record("services", "s1", "1", keys("name:s1"), tags("t")),
		record("routes", "r1", "1", keys("name:r1"), ref("service", "s1")),
	))
	many := func(w store.Writer) error {
		for i := range 100 {
			if err := w.Put(record("routes", fmt.Sprintf("bulk-%03d", i), "1", keys(fmt.Sprintf("name:bulk-%03d", i)), ref("service", "s1"))); err != nil {
				return err
			}
		}
		return nil
	}
	tests := []struct {
		name    string
		fn      func(store.Writer) error
		wantErr error
	}{
		{"error after a create", steps(put(record("services", "s2", "1", keys("name:s2"))), fail), errInjected},
		{"error after an update", steps(put(record("services", "s1", "2", keys("name:other"), tags("u"))), fail), errInjected},
		{"error after a delete", steps(deleteRecord("routes", "r1"), fail), errInjected},
		{"error after many writes", steps(many, deleteRecord("services", "s1"), fail), errInjected},
		{"key conflict", put(record("services", "s3", "1"), record("services", "s2", "1", keys("name:s1"))), store.ErrKeyConflict},
		{"missing record deleted", steps(put(record("services", "s3", "1")), deleteRecord("services", "nope")), store.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, b, "services", "routes")
			_, err := b.Update(t.Context(), tt.fn)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("update: %v, want %v", err, tt.wantErr)
			}
			if err := before.diff(snapshot(t, b, "services", "routes")); err != nil {
				t.Error(err)
			}
		})
	}

	t.Run("panic", func(t *testing.T) {
		before := snapshot(t, b, "services", "routes")
		func() {
			defer func() {
				if recover() == nil {
					t.Error("the panic in fn did not reach the caller")
				}
			}()
			_, _ = b.Update(t.Context(), steps(put(record("services", "s9", "1")), func(store.Writer) error { panic("boom") }))
		}()
		if err := before.diff(snapshot(t, b, "services", "routes")); err != nil {
			t.Error(err)
		}
		if v := mustUpdate(t, b, put(record("services", "s9", "1"))); v != before.version+1 {
			t.Errorf("update after a panic: version %d, want %d", v, before.version+1)
		}
	})
}

func fail(store.Writer) error { return errInjected }

func testChangeLog(t *testing.T, b store.Backend) {
	s1 := func(payload string) *store.Record { return record("services", "s1", payload, keys("name:s1")) }
	r := func(id, payload string) *store.Record { return record("routes", id, payload, ref("service", "s1")) }
	change := func(op store.Op, typ, id string) store.Change { return store.Change{Type: typ, ID: id, Op: op} }
	tests := []struct {
		name string
		fn   func(store.Writer) error
		want []store.Change // versions are filled in
	}{
		{"creates", put(s1("1"), r("r1", "1")), []store.Change{
			change(store.OpCreate, "services", "s1"),
			change(store.OpCreate, "routes", "r1"),
		}},
		{"created then updated is a create", put(s1("2"), r("r2", "1"), r("r2", "2")), []store.Change{
			change(store.OpUpdate, "services", "s1"),
			change(store.OpCreate, "routes", "r2"),
		}},
		{"created then deleted leaves nothing", steps(put(r("tmp", "1")), deleteRecord("routes", "tmp")), nil},
		{"deleted then put again is an update", steps(deleteRecord("routes", "r1"), put(r("r1", "2"))), []store.Change{
			change(store.OpUpdate, "routes", "r1"),
		}},
		{"updated then deleted is a delete", steps(put(r("r2", "3")), deleteRecord("routes", "r2")), []store.Change{
			change(store.OpDelete, "routes", "r2"),
		}},
		{"entries follow the first change of each entity", steps(
			put(r("r3", "1"), s1("3")),
			deleteRecord("routes", "r1"),
			put(r("r3", "2"), s1("4")),
		), []store.Change{
			change(store.OpCreate, "routes", "r3"),
			change(store.OpUpdate, "services", "s1"),
			change(store.OpDelete, "routes", "r1"),
		}},
		{"identical puts are not logged", put(s1("4"), r("r3", "2"), r("r4", "1")), []store.Change{
			change(store.OpCreate, "routes", "r4"),
		}},
	}
	var all []store.Change
	version := int64(0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := version
			if len(tt.want) > 0 {
				version++
			}
			if v := mustUpdate(t, b, tt.fn); v != version {
				t.Fatalf("update returned version %d, want %d", v, version)
			}
			want := slices.Clone(tt.want)
			for i := range want {
				want[i].Version = version
			}
			all = append(all, want...)
			if got := changes(t, b, before, 0); !slices.Equal(got, want) {
				t.Errorf("changes since %d: %+v, want %+v", before, got, want)
			}
		})
	}
	for since := int64(0); since <= version; since++ {
		var want []store.Change
		for _, c := range all {
			if c.Version > since {
				want = append(want, c)
			}
		}
		if got := changes(t, b, since, 0); !slices.Equal(got, want) {
			t.Errorf("changes since %d: %+v, want %+v", since, got, want)
		}
	}
}

func testChangesLimit(t *testing.T, b store.Backend) {
	for i := range 4 {
		mustUpdate(t, b, put(record("services", fmt.Sprintf("s%d", i), "1")))
	}
	mustUpdate(t, b, put(record("routes", "r1", "1"), record("routes", "r2", "1"), record("routes", "r3", "1")))
	all := changes(t, b, 0, 0)
	if len(all) != 7 {
		t.Fatalf("changes: %+v, want 7 entries", all)
	}
	tests := []struct {
		name  string
		since int64
		limit int
		want  []store.Change
	}{
		{"first page", 0, 2, all[:2]},
		{"next page", 2, 2, all[2:4]},
		{"limit beyond the end", 0, 100, all},
		{"limit inside a version", 4, 2, all[4:6]},
		{"nothing newer", 5, 0, nil},
		{"since a future version", 9, 3, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := changes(t, b, tt.since, tt.limit); !slices.Equal(got, tt.want) {
				t.Errorf("changes since %d limit %d: %+v, want %+v", tt.since, tt.limit, got, tt.want)
			}
		})
	}
}
