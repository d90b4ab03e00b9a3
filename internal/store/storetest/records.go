package storetest

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-gw/gantry/internal/store"
)

func testPutGetRoundTrip(t *testing.T, b store.Backend) {
	big := record("services", "big", strings.Repeat("x", 1<<20))
	tests := []struct {
		name string
		rec  *store.Record
	}{
		{"bare", record("services", "s-bare", "bare")},
		{"with index entries", record("routes", "r-full", "full",
			keys("name:full", "paths:/a"), tags("blue", "green"), ref("service", "s-bare"), ref("plugin", "p-1"))},
		{"unicode", record("consumers", "c-ünï", "名前", keys("username:ünï"), tags("日本"))},
		{"same id, other type", record("routes", "s-bare", "a route sharing an id")},
		{"large", big},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustUpdate(t, b, put(tt.rec))
			got, err := getRecord(t, b, tt.rec.Type, tt.rec.ID)
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if !sameRecord(got, tt.rec) {
				t.Errorf("got %s\nwant %s", formatRecord(got), formatRecord(tt.rec))
			}
		})
	}

	t.Run("replace", func(t *testing.T) {
		next := record("routes", "r-full", "replaced", keys("name:full"), tags("red"))
		mustUpdate(t, b, put(next))
		got, err := getRecord(t, b, "routes", "r-full")
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		if !sameRecord(got, next) {
			t.Errorf("got %s\nwant %s", formatRecord(got), formatRecord(next))
		}
	})

	t.Run("missing", func(t *testing.T) {
		for _, k := range [][2]string{{"services", "nope"}, {"upstreams", "s-bare"}, {"", ""}} {
			if _, err := getRecord(t, b, k[0], k[1]); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("get %s %q: %v, want ErrNotFound", k[0], k[1], err)
			}
		}
	})
}

func testInvalidRecordsRefused(t *testing.T, b store.Backend) {
	tests := []struct {
		name string
		rec  *store.Record
	}{
		{"no type", &store.Record{ID: "x", Data: []byte(`{}`)}},
		{"no id", &store.Record{Type: "services", Data: []byte(`{}`)}},
		{"no data", &store.Record{Type: "services", ID: "x"}},
		{"id not UTF-8", &store.Record{Type: "services", ID: "\xff", Data: []byte(`{}`)}},
		{"key not UTF-8", &store.Record{Type: "services", ID: "x", Data: []byte(`{}`), Keys: []string{"name:\xff"}}},
		{"reference held by another record", &store.Record{Type: "routes", ID: "r", Data: []byte(`{}`),
			Refs: []store.Ref{{Type: "routes", ID: "other", Field: "service", To: "s"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := b.Update(t.Context(), func(w store.Writer) error {
				if err := w.Put(tt.rec); err == nil {
					t.Errorf("put %s accepted", formatRecord(tt.rec))
				}
				return nil
			})
			if err != nil {
				t.Fatalf("update after a refused put: %v", err)
			}
			if v != 0 {
				t.Errorf("version %d after a refused put, want 0", v)
			}
		})
	}
}

func testLookup(t *testing.T, b store.Backend) {
	mustUpdate(t, b, put(
		record("services", "s1", "1", keys("name:alpha")),
		record("routes", "r1", "1", keys("name:alpha", "other:x")),
	))
	check := func(t *testing.T, typ, key, wantID string) {
		t.Helper()
		id, err := lookup(t, b, typ, key)
		switch {
		case wantID == "" && !errors.Is(err, store.ErrNotFound):
			t.Errorf("lookup %s %s: %q, %v; want ErrNotFound", typ, key, id, err)
		case wantID != "" && (err != nil || id != wantID):
			t.Errorf("lookup %s %s: %q, %v; want %q", typ, key, id, err, wantID)
		}
	}
	t.Run("keys are per type", func(t *testing.T) {
		check(t, "services", "name:alpha", "s1")
		check(t, "routes", "name:alpha", "r1")
		check(t, "routes", "other:x", "r1")
		check(t, "services", "other:x", "")
		check(t, "consumers", "name:alpha", "")
	})
	t.Run("changed keys free the old ones", func(t *testing.T) {
		mustUpdate(t, b, put(record("services", "s1", "2", keys("name:beta"))))
		check(t, "services", "name:alpha", "")
		check(t, "services", "name:beta", "s1")
		mustUpdate(t, b, put(record("services", "s2", "1", keys("name:alpha"))))
		check(t, "services", "name:alpha", "s2")
	})
	t.Run("keys swapped in one transaction", func(t *testing.T) {
		mustUpdate(t, b, put(
			record("services", "s1", "3", keys("name:swap")),
			record("services", "s2", "2", keys("name:beta")),
			record("services", "s1", "4", keys("name:alpha")),
		))
		check(t, "services", "name:alpha", "s1")
		check(t, "services", "name:beta", "s2")
		check(t, "services", "name:swap", "")
	})
}

func testKeyConflict(t *testing.T, b store.Backend) {
	holder := record("services", "s1", "1", keys("name:taken"))
	v0 := mustUpdate(t, b, put(holder))

	t.Run("refused and rolled back", func(t *testing.T) {
		before := snapshot(t, b, "services")
		_, err := b.Update(t.Context(), put(
			record("services", "s-new", "1", keys("name:free")),
			record("services", "s2", "1", keys("name:other", "name:taken")),
		))
		if !errors.Is(err, store.ErrKeyConflict) {
			t.Fatalf("update: %v, want ErrKeyConflict", err)
		}
		if !strings.Contains(err.Error(), "name:taken") {
			t.Errorf("error %q does not name the key", err)
		}
		if err := before.diff(snapshot(t, b, "services")); err != nil {
			t.Error(err)
		}
		if _, err := lookup(t, b, "services", "name:free"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("key of the rolled back record: %v, want ErrNotFound", err)
		}
	})

	t.Run("refused put writes nothing", func(t *testing.T) {
		v, err := b.Update(t.Context(), func(w store.Writer) error {
			if err := w.Put(record("services", "s2", "1", keys("name:other", "name:taken"))); !errors.Is(err, store.ErrKeyConflict) {
				t.Errorf("put: %v, want ErrKeyConflict", err)
			}
			if err := w.Put(record("routes", "r1", "1", keys("name:taken"))); err != nil {
				t.Errorf("same key in another type: %v", err)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("update that ignored a conflict: %v", err)
		}
		if v != v0+1 {
			t.Errorf("version %d, want %d", v, v0+1)
		}
		if _, err := getRecord(t, b, "services", "s2"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("refused record: %v, want ErrNotFound", err)
		}
		if _, err := lookup(t, b, "services", "name:other"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("first key of the refused record: %v, want ErrNotFound", err)
		}
		if got, err := getRecord(t, b, "services", "s1"); err != nil || !sameRecord(got, holder) {
			t.Errorf("holder: %s, %v; want %s", formatRecord(got), err, formatRecord(holder))
		}
	})

	t.Run("refused update of an existing record keeps it", func(t *testing.T) {
		mustUpdate(t, b, put(record("services", "s4", "1", keys("name:s4"))))
		v := currentVersion(t, b)
		got, err := b.Update(t.Context(), func(w store.Writer) error {
			if err := w.Put(record("services", "s4", "2", keys("name:s4", "name:taken"))); !errors.Is(err, store.ErrKeyConflict) {
				t.Errorf("put: %v, want ErrKeyConflict", err)
			}
			return nil
		})
		if err != nil || got != v {
			t.Errorf("update: %d, %v; want %d, nil", got, err, v)
		}
		want := record("services", "s4", "1", keys("name:s4"))
		if r, err := getRecord(t, b, "services", "s4"); err != nil || !sameRecord(r, want) {
			t.Errorf("got %s, %v; want %s", formatRecord(r), err, formatRecord(want))
		}
	})
	t.Run("holder may put its own key again", func(t *testing.T) {
		mustUpdate(t, b, put(record("services", "s1", "2", keys("name:taken", "name:extra"))))
		if id, err := lookup(t, b, "services", "name:taken"); err != nil || id != "s1" {
			t.Errorf("lookup: %q, %v; want s1", id, err)
		}
	})
}

func testDeleteRemovesIndexEntries(t *testing.T, b store.Backend) {
	mustUpdate(t, b, put(
		record("services", "s1", "1", keys("name:s1"), tags("t")),
		record("routes", "r1", "1", keys("name:r1"), tags("t", "u"), ref("service", "s1")),
		record("routes", "r2", "1", keys("name:r2"), tags("t"), ref("service", "s1")),
	))
	v := mustUpdate(t, b, func(w store.Writer) error { return w.Delete("routes", "r1") })

	if _, err := getRecord(t, b, "routes", "r1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get: %v, want ErrNotFound", err)
	}
	if _, err := lookup(t, b, "routes", "name:r1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("lookup: %v, want ErrNotFound", err)
	}
	wantRefs := []store.Ref{{Type: "routes", ID: "r2", Field: "service", To: "s1"}}
	if got := referencing(t, b, "s1"); !equalRefs(got, wantRefs) {
		t.Errorf("referencing: %+v, want %+v", got, wantRefs)
	}
	filters := []store.Filter{
		{Tags: []string{"t"}},
		{Tags: []string{"u"}},
		{Tags: []string{"u", "t"}, AnyTag: true},
		{RefField: "service", RefTo: "s1"},
		{RefTo: "s1"},
	}
	for _, f := range filters {
		if got := listIDs(t, b, "routes", f); slices.Contains(got, "r1") {
			t.Errorf("list %+v: %v still holds the deleted record", f, got)
		}
	}
	if _, err := b.Update(t.Context(), put(record("routes", "r3", "1", keys("name:r1")))); err != nil {
		t.Errorf("key of the deleted record not free: %v", err)
	}

	t.Run("missing", func(t *testing.T) {
		v := currentVersion(t, b)
		_, err := b.Update(t.Context(), func(w store.Writer) error { return w.Delete("routes", "r1") })
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("delete of a missing record: %v, want ErrNotFound", err)
		}
		if got := currentVersion(t, b); got != v {
			t.Errorf("version %d, want %d", got, v)
		}
	})
	if v < 2 {
		t.Errorf("version %d after a delete, want at least 2", v)
	}
}

func testReadOwnWrites(t *testing.T, b store.Backend) {
	v0 := mustUpdate(t, b, put(
		record("services", "s1", "1", keys("name:s1")),
		record("routes", "r1", "1", keys("name:r1"), ref("service", "s1")),
	))
	check := func(ok bool, format string, args ...any) {
		t.Helper()
		if !ok {
			t.Errorf(format, args...)
		}
	}
	for _, rollback := range []bool{true, false} {
		t.Run(map[bool]string{false: "committed", true: "rolled back"}[rollback], func(t *testing.T) {
			before := snapshot(t, b, "services", "routes")
			_, err := b.Update(t.Context(), func(w store.Writer) error {
				v, err := w.Version()
				check(err == nil && v == before.version, "version inside update: %d, %v; want %d", v, err, before.version)

				s2 := record("services", "s2", "1", keys("name:s2"), tags("new"))
				r2 := record("routes", "r2", "1", ref("service", "s2"))
				if err := put(s2, r2)(w); err != nil {
					return err
				}
				if err := w.Delete("routes", "r1"); err != nil {
					return err
				}
				got, err := w.Get("services", "s2")
				check(err == nil && sameRecord(got, s2), "get own put: %s, %v", formatRecord(got), err)
				id, err := w.Lookup("services", "name:s2")
				check(err == nil && id == "s2", "lookup own put: %q, %v", id, err)
				_, err = w.Get("routes", "r1")
				check(errors.Is(err, store.ErrNotFound), "get own delete: %v, want ErrNotFound", err)
				_, err = w.Lookup("routes", "name:r1")
				check(errors.Is(err, store.ErrNotFound), "lookup own delete: %v, want ErrNotFound", err)
				recs, err := w.List("services", store.Filter{Tags: []string{"new"}})
				check(err == nil && slices.Equal(ids(recs), []string{"s2"}), "list own put: %v, %v", ids(recs), err)
				recs, err = w.List("routes", store.Filter{})
				check(err == nil && slices.Equal(ids(recs), []string{"r2"}), "list after own delete: %v, %v", ids(recs), err)
				refs, err := w.Referencing("s1")
				check(err == nil && len(refs) == 0, "referencing after own delete: %+v, %v", refs, err)
				refs, err = w.Referencing("s2")
				check(err == nil && len(refs) == 1 && refs[0].ID == "r2", "referencing own put: %+v, %v", refs, err)
				if rollback {
					return errInjected
				}
				return nil
			})
			if rollback {
				if !errors.Is(err, errInjected) {
					t.Fatalf("update: %v, want the injected error", err)
				}
				if err := before.diff(snapshot(t, b, "services", "routes")); err != nil {
					t.Error(err)
				}
				return
			}
			if err != nil {
				t.Fatalf("update: %v", err)
			}
			if got := currentVersion(t, b); got != v0+1 {
				t.Errorf("version %d, want %d", got, v0+1)
			}
		})
	}
}

func testReferencing(t *testing.T, b store.Backend) {
	mustUpdate(t, b, put(
		record("services", "s1", "1"),
		record("services", "s2", "1"),
		record("routes", "r1", "1", ref("service", "s1")),
		record("routes", "r2", "1", ref("service", "s2")),
		record("plugins", "p1", "1", ref("service", "s1"), ref("route", "r1")),
		record("plugins", "p2", "1", ref("consumer", "s1")),
	))
	tests := []struct {
		name string
		step func(store.Writer) error
		to   string
		want []store.Ref
	}{
		{name: "several types and fields", to: "s1", want: []store.Ref{
			{Type: "plugins", ID: "p1", Field: "service", To: "s1"},
			{Type: "plugins", ID: "p2", Field: "consumer", To: "s1"},
			{Type: "routes", ID: "r1", Field: "service", To: "s1"},
		}},
		{name: "one", to: "r1", want: []store.Ref{{Type: "plugins", ID: "p1", Field: "route", To: "r1"}}},
		{name: "none", to: "unknown"},
		{
			name: "after a reference moved",
			step: put(record("routes", "r1", "2", ref("service", "s2"))),
			to:   "s2",
			want: []store.Ref{
				{Type: "routes", ID: "r1", Field: "service", To: "s2"},
				{Type: "routes", ID: "r2", Field: "service", To: "s2"},
			},
		},
		{
			name: "the old target lost it",
			to:   "s1",
			want: []store.Ref{
				{Type: "plugins", ID: "p1", Field: "service", To: "s1"},
				{Type: "plugins", ID: "p2", Field: "consumer", To: "s1"},
			},
		},
		{
			name: "after the holder was deleted",
			step: func(w store.Writer) error { return w.Delete("plugins", "p1") },
			to:   "s1",
			want: []store.Ref{{Type: "plugins", ID: "p2", Field: "consumer", To: "s1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.step != nil {
				mustUpdate(t, b, tt.step)
			}
			if got := referencing(t, b, tt.to); !equalRefs(got, tt.want) {
				t.Errorf("referencing %s: %+v, want %+v", tt.to, got, tt.want)
			}
		})
	}
}

func equalRefs(a, b []store.Ref) bool {
	return slices.Equal(sortRefs(a), sortRefs(b))
}
