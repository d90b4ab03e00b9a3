package admin_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// ids returns the ids of a list's data, in order.
func ids(t *testing.T, body map[string]any) []string {
	t.Helper()
	data, ok := body["data"].([]any)
	if !ok {
		t.Fatalf("no data array in %v", body)
	}
	out := make([]string, len(data))
	for i, e := range data {
		out[i] = e.(map[string]any)["id"].(string)
	}
	return out
}

// follow lists path and follows "next" to the end, checking each page's
// size, offset and next link, and returns the ids in the order served.
func (a *api) follow(t *testing.T, path string, size int) []string {
	t.Helper()
	var all []string
	for pages := 0; ; pages++ {
		if pages > 50 {
			t.Fatalf("paging %s does not end", path)
		}
		body := a.get(path).want(t, http.StatusOK)
		page := ids(t, body)
		if len(page) > size || len(page) == 0 && pages > 0 {
			t.Fatalf("GET %s: %d items, page size %d", path, len(page), size)
		}
		all = append(all, page...)
		next := body["next"]
		if next == nil {
			if _, ok := body["offset"]; ok {
				t.Fatalf("GET %s: last page has an offset: %v", path, body["offset"])
			}
			return all
		}
		if len(page) != size {
			t.Fatalf("GET %s: a page of %d before the last, want %d", path, len(page), size)
		}
		u, err := url.Parse(next.(string))
		if err != nil || u.IsAbs() || u.Host != "" {
			t.Fatalf("next %q is not a path", next)
		}
		base, _ := url.Parse(path)
		if u.Path != base.Path {
			t.Fatalf("next %q leaves %s", next, base.Path)
		}
		q := u.Query()
		if q.Get("size") != fmt.Sprint(size) || q.Get("offset") != body["offset"] {
			t.Fatalf("next %q: want size=%d and offset=%v", next, size, body["offset"])
		}
		for k, v := range base.Query() {
			if k != "offset" && !slices.Equal(q[k], v) {
				t.Fatalf("next %q dropped %s=%v", next, k, v)
			}
		}
		path = next.(string)
	}
}

func TestPaging(t *testing.T) {
	a := newAPI(t)
	var want []string
	for i := range 5 {
		svc := a.create("/services", map[string]any{"name": fmt.Sprintf("svc-%d", i), "host": "h.internal"})
		want = append(want, svc["id"].(string))
	}
	slices.Sort(want)

	first := a.get("/services?size=2").want(t, http.StatusOK)
	if got := ids(t, first); len(got) != 2 || !slices.Equal(got, want[:2]) {
		t.Fatalf("first page %v, want %v", got, want[:2])
	}
	if off, _ := first["offset"].(string); off == "" {
		t.Fatalf("first page without an offset: %v", first)
	}
	// The link is written as Kong writes it, "&" and all, for people
	// reading curl's output.
	raw := string(a.get("/services?size=2").raw)
	if want := `"next":"/services?offset=` + first["offset"].(string) + `&size=2"`; !strings.Contains(raw, want) {
		t.Errorf("body %s does not hold %s", raw, want)
	}

	for _, size := range []int{1, 2, 3, 5, 6} {
		t.Run(fmt.Sprintf("size %d", size), func(t *testing.T) {
			if got := a.follow(t, fmt.Sprintf("/services?size=%d", size), size); !slices.Equal(got, want) {
				t.Fatalf("paged through %v, want %v", got, want)
			}
		})
	}

	t.Run("default size", func(t *testing.T) {
		body := a.get("/services").want(t, http.StatusOK)
		if got := ids(t, body); !slices.Equal(got, want) || body["next"] != nil {
			t.Fatalf("GET /services: %v next %v", got, body["next"])
		}
		if _, ok := body["next"]; !ok {
			t.Fatalf("GET /services: no next member (Kong sends null)")
		}
	})

	t.Run("trailing slash", func(t *testing.T) {
		if got := ids(t, a.get("/services/").want(t, http.StatusOK)); !slices.Equal(got, want) {
			t.Fatalf("GET /services/: %v", got)
		}
		r := a.json(http.MethodPost, "/services/", map[string]any{"name": "slash", "host": "h.internal"}).want(t, http.StatusCreated)
		a.get("/services/slash/").want(t, http.StatusOK)
		a.send(http.MethodDelete, "/services/"+r["id"].(string)+"/", "", nil).want(t, http.StatusNoContent)
		a.get("/services/slash").wantBody(t, http.StatusNotFound, `{"message":"Not found"}`)
	})

	bad := []struct {
		query string
		want  string
	}{
		{"size=0", `{"code":9,"name":"invalid size","message":"size must be an integer between 1 and 1000"}`},
		{"size=1001", `{"code":9,"name":"invalid size","message":"size must be an integer between 1 and 1000"}`},
		{"size=-1", `{"code":9,"name":"invalid size","message":"size must be an integer between 1 and 1000"}`},
		{"size=abc", `{"code":9,"name":"invalid size","message":"size must be a number"}`},
		{"offset=garbage", `{"code":7,"name":"invalid offset","message":"'garbage' is not a valid offset: bad offset"}`},
		{"offset=" + url.QueryEscape("!!"), `{"code":7,"name":"invalid offset","message":"'!!' is not a valid offset: bad offset"}`},
	}
	for _, tt := range bad {
		t.Run(tt.query, func(t *testing.T) {
			a.get("/services?"+tt.query).wantBody(t, http.StatusBadRequest, tt.want)
			a.get("/services/svc-0/routes?"+tt.query).wantBody(t, http.StatusBadRequest, tt.want)
		})
	}
	a.get("/services?size=1000").want(t, http.StatusOK)
}

func TestTagFilters(t *testing.T) {
	a := newAPI(t)
	tagged := map[string][]string{"ab": {"a", "b"}, "a": {"a"}, "b": {"b"}, "c": {"c"}, "none": nil}
	id := map[string]string{}
	for name, tags := range tagged {
		body := map[string]any{"name": name, "host": "h.internal"}
		if tags != nil {
			body["tags"] = tags
		}
		id[name] = a.create("/services", body)["id"].(string)
	}
	idsOf := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, id[n])
		}
		slices.Sort(out)
		return out
	}

	tests := []struct {
		tags string
		want []string
	}{
		{"a", idsOf("ab", "a")},
		{"a,b", idsOf("ab")},
		{"a/b", idsOf("ab", "a", "b")},
		{"a/c", idsOf("ab", "a", "c")},
		{"b,c", nil},
		{"zzz", nil},
	}
	for _, tt := range tests {
		t.Run(tt.tags, func(t *testing.T) {
			got := a.follow(t, "/services?size=1&tags="+url.QueryEscape(tt.tags), 1)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("tags=%s: %v, want %v", tt.tags, got, tt.want)
			}
		})
	}

	for _, tags := range []string{"a,b/c", "a/b,c", "a,,b", ",a"} {
		t.Run("invalid "+tags, func(t *testing.T) {
			a.get("/services?tags="+url.QueryEscape(tags)).wantBody(t, http.StatusBadRequest,
				`{"code":11,"name":"invalid options","message":"invalid option (tags: invalid filter syntax)","options":{"tags":"invalid filter syntax"}}`)
		})
	}
}

// TestConsumerByCustomID checks GET /consumers?custom_id=, which Kong
// answers with a list of the one consumer, or none.
func TestConsumerByCustomID(t *testing.T) {
	a := newAPI(t)
	alice := a.create("/consumers", map[string]any{"username": "alice", "custom_id": "c-1"})
	a.create("/consumers", map[string]any{"username": "bob", "custom_id": "c-2"})
	if got := ids(t, a.get("/consumers?custom_id=c-1").want(t, http.StatusOK)); !slices.Equal(got, []string{alice["id"].(string)}) {
		t.Fatalf("custom_id=c-1: %v", got)
	}
	a.get("/consumers?custom_id=nope").wantBody(t, http.StatusOK, `{"data":[],"next":null}`)
}
