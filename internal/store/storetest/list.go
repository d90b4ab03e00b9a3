package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gantry-gw/gantry/internal/store"
)

func testListOrderAndPaging(t *testing.T, b store.Backend) {
	var all []string
	var recs []*store.Record
	for i := range 25 {
		id := fmt.Sprintf("svc-%02d", i)
		all = append(all, id)
		recs = append(recs, record("services", id, "1"))
	}
	// Put in a shuffled order: List must sort by id, not by insertion.
	shuffled := slices.Clone(recs)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) {
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	})
	mustUpdate(t, b, put(shuffled...))
	mustUpdate(t, b, put(record("routes", "svc-05x", "1"), record("upstreams", "a", "1")))

	tests := []struct {
		name string
		f    store.Filter
		want []string
	}{
		{"all", store.Filter{}, all},
		{"limit", store.Filter{Limit: 3}, all[:3]},
		{"limit beyond the end", store.Filter{Limit: 100}, all},
		{"after", store.Filter{After: "svc-20"}, all[21:]},
		{"after an absent id", store.Filter{After: "svc-05x"}, all[6:]},
		{"after and limit", store.Filter{After: "svc-10", Limit: 2}, all[11:13]},
		{"after the last", store.Filter{After: "svc-24"}, nil},
		{"after everything", store.Filter{After: "zzz"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := listIDs(t, b, "services", tt.f); !slices.Equal(got, tt.want) {
				t.Errorf("list %+v: %v, want %v", tt.f, got, tt.want)
			}
		})
	}

	t.Run("pages", func(t *testing.T) {
		for _, size := range []int{1, 7, 25, 26} {
			var got []string
			var sizes []int
			f := store.Filter{Limit: size}
			for page := 0; ; page++ {
				if page > len(all) {
					t.Fatalf("page size %d: paging does not end", size)
				}
				ids := listIDs(t, b, "services", f)
				if len(ids) == 0 {
					break
				}
				sizes = append(sizes, len(ids))
				got = append(got, ids...)
				f.After = ids[len(ids)-1]
			}
			if !slices.Equal(got, all) {
				t.Errorf("page size %d: pages hold %v, want %v", size, got, all)
			}
			for i, n := range sizes[:len(sizes)-1] {
				if n != size {
					t.Errorf("page size %d: page %d holds %d records", size, i, n)
				}
			}
		}
	})

	t.Run("records are whole", func(t *testing.T) {
		for _, r := range list(t, b, "services", store.Filter{Limit: 5}) {
			want := record("services", r.ID, "1")
			if !sameRecord(r, want) {
				t.Errorf("got %s, want %s", formatRecord(r), formatRecord(want))
			}
		}
	})
}

func testListTags(t *testing.T, b store.Backend) {
	mustUpdate(t, b, put(
		record("services", "a", "1", tags("x", "y")),
		record("services", "b", "1", tags("x")),
		record("services", "c", "1", tags("y", "z")),
		record("services", "d", "1"),
		record("services", "e", "1", tags("x", "y", "z")),
		record("routes", "a2", "1", tags("x", "y")),
	))
	tests := []struct {
		name string
		f    store.Filter
		want []string
	}{
		{"one tag", store.Filter{Tags: []string{"x"}}, []string{"a", "b", "e"}},
		{"all of two", store.Filter{Tags: []string{"x", "y"}}, []string{"a", "e"}},
		{"all of three", store.Filter{Tags: []string{"z", "y", "x"}}, []string{"e"}},
		{"any of two", store.Filter{Tags: []string{"x", "z"}, AnyTag: true}, []string{"a", "b", "c", "e"}},
		{"any of one", store.Filter{Tags: []string{"z"}, AnyTag: true}, []string{"c", "e"}},
		{"repeated tag", store.Filter{Tags: []string{"x", "x"}}, []string{"a", "b", "e"}},
		{"unknown tag", store.Filter{Tags: []string{"nope"}}, nil},
		{"all with an unknown tag", store.Filter{Tags: []string{"x", "nope"}}, nil},
		{"any with an unknown tag", store.Filter{Tags: []string{"nope", "y"}, AnyTag: true}, []string{"a", "c", "e"}},
		{"all, paged", store.Filter{Tags: []string{"x"}, After: "a", Limit: 1}, []string{"b"}},
		{"any, paged", store.Filter{Tags: []string{"x", "z"}, AnyTag: true, After: "b", Limit: 2}, []string{"c", "e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := listIDs(t, b, "services", tt.f); !slices.Equal(got, tt.want) {
				t.Errorf("list %+v: %v, want %v", tt.f, got, tt.want)
			}
		})
	}

	t.Run("after retagging", func(t *testing.T) {
		mustUpdate(t, b, put(record("services", "b", "2", tags("z"))))
		want := []string{"a", "e"}
		if got := listIDs(t, b, "services", store.Filter{Tags: []string{"x"}}); !slices.Equal(got, want) {
			t.Errorf("tag x: %v, want %v", got, want)
		}
		want = []string{"b", "c", "e"}
		if got := listIDs(t, b, "services", store.Filter{Tags: []string{"z"}}); !slices.Equal(got, want) {
			t.Errorf("tag z: %v, want %v", got, want)
		}
	})
}

func testListRefs(t *testing.T, b store.Backend) {
	mustUpdate(t, b, put(
		record("services", "s1", "1"),
		record("services", "s2", "1"),
		record("routes", "r1", "1", ref("service", "s1")),
		record("routes", "r2", "1", ref("service", "s2")),
		record("routes", "r3", "1", ref("service", "s1")),
		record("routes", "r4", "1"),
		record("routes", "r5", "1", ref("service", "s1")),
		record("plugins", "p1", "1", ref("service", "s1"), ref("route", "r1")),
		record("plugins", "p2", "1", ref("route", "r1")),
		record("plugins", "p3", "1", ref("consumer", "s1")),
	))
	tests := []struct {
		name string
		typ  string
		f    store.Filter
		want []string
	}{
		{"routes of a service", "routes", store.Filter{RefField: "service", RefTo: "s1"}, []string{"r1", "r3", "r5"}},
		{"routes of another service", "routes", store.Filter{RefField: "service", RefTo: "s2"}, []string{"r2"}},
		{"first page", "routes", store.Filter{RefField: "service", RefTo: "s1", Limit: 2}, []string{"r1", "r3"}},
		{"next page", "routes", store.Filter{RefField: "service", RefTo: "s1", After: "r3", Limit: 2}, []string{"r5"}},
		{"unknown target", "routes", store.Filter{RefField: "service", RefTo: "nope"}, nil},
		{"other field", "plugins", store.Filter{RefField: "route", RefTo: "r1"}, []string{"p1", "p2"}},
		{"field does not match", "plugins", store.Filter{RefField: "route", RefTo: "s1"}, nil},
		{"any field", "plugins", store.Filter{RefTo: "s1"}, []string{"p1", "p3"}},
		{"any field, paged", "plugins", store.Filter{RefTo: "s1", After: "p1", Limit: 1}, []string{"p3"}},
		{"type filters", "services", store.Filter{RefField: "service", RefTo: "s1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := listIDs(t, b, tt.typ, tt.f); !slices.Equal(got, tt.want) {
				t.Errorf("list %s %+v: %v, want %v", tt.typ, tt.f, got, tt.want)
			}
		})
	}

	t.Run("field without target refused", func(t *testing.T) {
		err := b.View(t.Context(), func(r store.Reader) error {
			_, err := r.List("routes", store.Filter{RefField: "service"})
			return err
		})
		if err == nil {
			t.Error("list with a RefField and no RefTo: no error")
		}
	})
}

func testListCombinedFilters(t *testing.T, b store.Backend) {
	var recs []*store.Record
	for i := range 12 {
		opts := []recordOption{ref("service", []string{"s1", "s2"}[i%2])}
		if i%3 == 0 {
			opts = append(opts, tags("blue"))
		}
		if i%4 == 0 {
			opts = append(opts, tags("green"))
		}
		recs = append(recs, record("routes", fmt.Sprintf("r%02d", i), "1", opts...))
	}
	// r00 s1 blue green   r01 s2             r02 s1
	// r03 s2 blue         r04 s1 green       r05 s2
	// r06 s1 blue         r07 s2             r08 s1 green
	// r09 s2 blue         r10 s1             r11 s2
	mustUpdate(t, b, put(recs...))
	blueOrGreen := []string{"blue", "green"}
	tests := []struct {
		name string
		f    store.Filter
		want []string
	}{
		{"ref and tag", store.Filter{RefField: "service", RefTo: "s1", Tags: []string{"blue"}}, []string{"r00", "r06"}},
		{"ref and all tags", store.Filter{RefField: "service", RefTo: "s1", Tags: blueOrGreen}, []string{"r00"}},
		{"ref and any tag", store.Filter{RefField: "service", RefTo: "s1", Tags: blueOrGreen, AnyTag: true}, []string{"r00", "r04", "r06", "r08"}},
		{"ref, any tag, paged", store.Filter{RefField: "service", RefTo: "s1", Tags: blueOrGreen, AnyTag: true, After: "r00", Limit: 2}, []string{"r04", "r06"}},
		{"ref, tag, paged", store.Filter{RefField: "service", RefTo: "s2", Tags: []string{"blue"}, After: "r03"}, []string{"r09"}},
		{"any-field ref and tag", store.Filter{RefTo: "s2", Tags: []string{"blue"}, Limit: 1}, []string{"r03"}},
		{"any-field ref and any tag", store.Filter{RefTo: "s2", Tags: blueOrGreen, AnyTag: true}, []string{"r03", "r09"}},
		{"tags and paging", store.Filter{Tags: blueOrGreen, AnyTag: true, After: "r04", Limit: 3}, []string{"r06", "r08", "r09"}},
		{"no match", store.Filter{RefField: "service", RefTo: "s2", Tags: []string{"green"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := listIDs(t, b, "routes", tt.f); !slices.Equal(got, tt.want) {
				t.Errorf("list %+v: %v, want %v", tt.f, got, tt.want)
			}
		})
	}
}
