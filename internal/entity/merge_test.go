package entity

import (
	"reflect"
	"testing"
)

// TestMerge applies PATCH bodies to stored entities and validates the
// result, as the Admin API does.
func TestMerge(t *testing.T) {
	service := mustValidate(t, Services, map[string]any{"name": "svc", "host": "a.example", "path": "/v1", "tags": []any{"x"}})
	upstream := mustValidate(t, Upstreams, map[string]any{"name": "u",
		"healthchecks": map[string]any{"active": map[string]any{"healthy": map[string]any{"interval": 5}}}})
	plugin := mustValidate(t, Plugins, map[string]any{"name": "rate-limiting", "config": map[string]any{
		"minute": 10, "policy": "local", "redis": map[string]any{"host": "r", "port": 6379}}})

	tests := []struct {
		name   string
		schema *Schema
		old    Entity
		patch  map[string]any
		want   map[string]any // fields to compare after Validate
	}{
		{"plain fields replaced", Services, service, map[string]any{"port": 8080, "tags": []any{"y", "z"}},
			map[string]any{"port": int64(8080), "tags": []any{"y", "z"}, "host": "a.example", "path": "/v1", "name": "svc"}},
		{"explicit null unsets", Services, service, map[string]any{"path": nil, "name": nil},
			map[string]any{"path": nil, "name": nil, "host": "a.example"}},
		{"null brings back no default", Services, service, map[string]any{"tags": nil},
			map[string]any{"tags": nil}},
		{"url shorthand replaces parts", Services, service, map[string]any{"url": "https://b.example"},
			map[string]any{"protocol": "https", "host": "b.example", "port": int64(443), "path": nil}},
		{"record merged member by member", Upstreams, upstream,
			map[string]any{"healthchecks": map[string]any{"active": map[string]any{"timeout": 5, "healthy": map[string]any{"successes": 2}}}},
			map[string]any{"healthchecks": func() any {
				hc := healthchecksDefaults()
				active := hc["active"].(map[string]any)
				active["timeout"] = int64(5)
				active["healthy"].(map[string]any)["interval"] = int64(5)
				active["healthy"].(map[string]any)["successes"] = int64(2)
				return hc
			}()}},
		{"list inside a record replaced", Upstreams, upstream,
			map[string]any{"healthchecks": map[string]any{"passive": map[string]any{"unhealthy": map[string]any{"http_statuses": []any{502}}}}},
			map[string]any{"healthchecks": func() any {
				hc := healthchecksDefaults()
				hc["active"].(map[string]any)["healthy"].(map[string]any)["interval"] = int64(5)
				hc["passive"].(map[string]any)["unhealthy"].(map[string]any)["http_statuses"] = []any{int64(502)}
				return hc
			}()}},
		{"plugin config merged recursively", Plugins, plugin,
			map[string]any{"config": map[string]any{"hour": 100, "redis": map[string]any{"port": 6380}}},
			map[string]any{"config": map[string]any{"minute": int64(10), "hour": int64(100), "policy": "local",
				"redis": map[string]any{"host": "r", "port": int64(6380)}}}},
		{"null inside config unsets a member", Plugins, plugin,
			map[string]any{"config": map[string]any{"minute": nil}},
			map[string]any{"config": map[string]any{"minute": nil, "policy": "local",
				"redis": map[string]any{"host": "r", "port": int64(6379)}}}},
		{"config object replaces a scalar", Plugins, plugin,
			map[string]any{"config": map[string]any{"policy": map[string]any{"name": "redis"}}},
			map[string]any{"config": map[string]any{"minute": int64(10), "policy": map[string]any{"name": "redis"},
				"redis": map[string]any{"host": "r", "port": int64(6379)}}}},
		{"plain and record fields together", Plugins, plugin,
			map[string]any{"enabled": false, "protocols": []any{"https"}},
			map[string]any{"enabled": false, "protocols": []any{"https"}, "config": plugin["config"]}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.old.Clone()
			merged := tc.schema.Merge(tc.old, tc.patch)
			got, errs := tc.schema.Validate(merged, Options{})
			if errs != nil {
				t.Fatalf("Validate(merged): %v", errs)
			}
			for k, want := range tc.want {
				if !reflect.DeepEqual(got[k], want) {
					t.Errorf("%s = %s, want %s", k, jsonString(got[k]), jsonString(want))
				}
			}
			if !reflect.DeepEqual(tc.old, before) {
				t.Errorf("Merge changed the stored entity:\n got  %s\n want %s", jsonString(tc.old), jsonString(before))
			}
		})
	}

	t.Run("patch errors are reported", func(t *testing.T) {
		merged := Services.Merge(service, map[string]any{"port": "x", "host": nil})
		wantErrors(t, Services, merged, Options{}, []errPair{{"host", "required field missing"}, {"port", "expected an integer"}})
	})
	t.Run("result changes do not reach the old entity", func(t *testing.T) {
		old := mustValidate(t, Upstreams, map[string]any{"name": "u"})
		merged := Upstreams.Merge(old, map[string]any{"name": "v"})
		merged["healthchecks"].(map[string]any)["threshold"] = int64(50)
		if old["healthchecks"].(map[string]any)["threshold"] != int64(0) {
			t.Error("Merge shares records with the old entity")
		}
	})
}

func TestClone(t *testing.T) {
	e := Entity{"a": map[string]any{"b": []any{int64(1), map[string]any{"c": "d"}}}, "n": nil}
	c := e.Clone()
	if !reflect.DeepEqual(c, e) {
		t.Fatalf("Clone = %v, want %v", c, e)
	}
	c["a"].(map[string]any)["b"].([]any)[1].(map[string]any)["c"] = "changed"
	if e["a"].(map[string]any)["b"].([]any)[1].(map[string]any)["c"] != "d" {
		t.Error("Clone shares nested values")
	}
	if Entity(nil).Clone() != nil {
		t.Error("Clone of nil is not nil")
	}
}

func TestEntityAccessors(t *testing.T) {
	e := Entity{"id": testServiceID, "name": "svc", "port": int64(80), "service": ref(testServiceID), "route": nil}
	tests := []struct {
		name, got, want string
	}{
		{"ID", e.ID(), testServiceID},
		{"String", e.String("name"), "svc"},
		{"String of a number", e.String("port"), ""},
		{"String of a missing field", e.String("nope"), ""},
		{"Ref", e.Ref("service"), testServiceID},
		{"Ref of null", e.Ref("route"), ""},
		{"Ref of a string", e.Ref("name"), ""},
		{"ID of an empty entity", Entity{}.ID(), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	e, err := Decode([]byte(`{"port": 80, "ratio": 1.5, "big": 12345678901234, "list": [1, 2.5, "x"], "obj": {"n": 3.0}, "null": null}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Entity{"port": int64(80), "ratio": 1.5, "big": int64(12345678901234),
		"list": []any{int64(1), 2.5, "x"}, "obj": map[string]any{"n": int64(3)}, "null": nil}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("Decode = %#v, want %#v", e, want)
	}
	if _, err := Decode([]byte(`[1]`)); err == nil {
		t.Error("Decode of an array succeeded")
	}
	if _, err := Decode([]byte(`{`)); err == nil {
		t.Error("Decode of broken JSON succeeded")
	}
}
