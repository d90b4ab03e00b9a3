package entity

import (
	"reflect"
	"testing"
)

func TestErrorsError(t *testing.T) {
	tests := []struct {
		name string
		errs Errors
		want string
	}{
		{"one error", Errors{{Field: "host", Message: "required field missing"}},
			"schema violation (host: required field missing)"},
		{"value shown", Errors{{Field: "port", Message: "value should be between 0 and 65535", Value: int64(70000), HasValue: true}},
			"schema violation (port: value should be between 0 and 65535 (got 70000))"},
		{"string value quoted", Errors{{Field: "name", Message: "bad", Value: "a b", HasValue: true}},
			`schema violation (name: bad (got "a b"))`},
		{"null value", Errors{{Field: "name", Message: "bad", Value: nil, HasValue: true}},
			"schema violation (name: bad (got null))"},
		{"long value cut", Errors{{Field: "tags", Message: "bad", Value: []any{
			"aaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbb", "cccccccccccccccccccc", "dddddddddddddddddddd"}, HasValue: true}},
			`schema violation (tags: bad (got ["aaaaaaaaaaaaaaaaaaaa","bbbbbbbbbbbbbbbbbbbb","cccccccccccccccccccc","dddddd...))`},
		{"entity error has no field", Errors{{Field: EntityField, Message: "certificate does not match key"}},
			"schema violation (certificate does not match key)"},
		{"several, entity first then by field", Errors{
			{Field: "port", Message: "expected an integer"},
			{Field: "host", Message: "required field missing"},
			{Field: EntityField, Message: "at least one of these fields must be non-empty: 'custom_id', 'username'"},
		}, "3 schema violations (at least one of these fields must be non-empty: 'custom_id', 'username'; " +
			"host: required field missing; port: expected an integer)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.errs.Error(); got != tc.want {
				t.Errorf("Error()\n got  %s\n want %s", got, tc.want)
			}
		})
	}
}

func TestErrorsFromValidateRender(t *testing.T) {
	_, errs := Services.Validate(map[string]any{"port": 70000}, Options{})
	want := "2 schema violations (host: required field missing; port: value should be between 0 and 65535 (got 70000))"
	if got := errs.Error(); got != want {
		t.Errorf("Error()\n got  %s\n want %s", got, want)
	}
	var err error = errs
	if err.Error() != want {
		t.Error("Errors does not work as an error")
	}
}

func TestErrorsFields(t *testing.T) {
	tests := []struct {
		name string
		errs Errors
		want map[string]any
	}{
		{"flat", Errors{{Field: "host", Message: "required field missing"}},
			map[string]any{"host": "required field missing"}},
		{"nested records", Errors{
			{Field: "healthchecks.active.timeout", Message: "value should be between 0 and 65535"},
			{Field: "healthchecks.active.healthy.successes", Message: "value should be between 0 and 255"},
			{Field: "healthchecks.threshold", Message: "value should be between 0 and 100"},
		}, map[string]any{"healthchecks": map[string]any{
			"active": map[string]any{
				"timeout": "value should be between 0 and 65535",
				"healthy": map[string]any{"successes": "value should be between 0 and 255"},
			},
			"threshold": "value should be between 0 and 100",
		}}},
		{"array indices", Errors{
			{Field: "paths[1]", Message: "should start with: / (fixed path) or ~/ (regex path)"},
			{Field: "paths[3]", Message: "must not have empty segments"},
		}, map[string]any{"paths": []any{nil, "should start with: / (fixed path) or ~/ (regex path)", nil, "must not have empty segments"}}},
		{"records in arrays", Errors{{Field: "sources[1].ip", Message: "invalid ip or cidr range: 'x'"}},
			map[string]any{"sources": []any{nil, map[string]any{"ip": "invalid ip or cidr range: 'x'"}}}},
		{"arrays in maps", Errors{{Field: "headers.x-v[0]", Message: "expected a string"}},
			map[string]any{"headers": map[string]any{"x-v": []any{"expected a string"}}}},
		{"entity list", Errors{
			{Field: "name", Message: "bad"},
			{Field: EntityField, Message: "first"},
			{Field: EntityField, Message: "second"},
		}, map[string]any{EntityField: []any{"first", "second"}, "name": "bad"}},
		{"first message at a slot wins", Errors{
			{Field: "paths", Message: "expected an array"},
			{Field: "paths[0]", Message: "ignored"},
		}, map[string]any{"paths": "expected an array"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.errs.Fields(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Fields()\n got  %s\n want %s", jsonString(got), jsonString(tc.want))
			}
		})
	}
}

// TestErrorsFieldsFromValidate checks the tree for real validation errors:
// nested records, array indices and the entity list together.
func TestErrorsFieldsFromValidate(t *testing.T) {
	_, errs := Upstreams.Validate(map[string]any{
		"name":  "u",
		"slots": 1,
		"healthchecks": map[string]any{
			"active":    map[string]any{"timeout": -1, "unhealthy": map[string]any{"http_statuses": []any{500, 1000}}},
			"threshold": 101,
		},
	}, Options{})
	want := map[string]any{
		"slots": "value should be between 10 and 65536",
		"healthchecks": map[string]any{
			"active": map[string]any{
				"timeout":   "value should be between 0 and 65535",
				"unhealthy": map[string]any{"http_statuses": []any{nil, "value should be between 100 and 999"}},
			},
			"threshold": "value should be between 0 and 100",
		},
	}
	if got := errs.Fields(); !reflect.DeepEqual(got, want) {
		t.Errorf("Fields()\n got  %s\n want %s", jsonString(got), jsonString(want))
	}

	_, errs = Routes.Validate(map[string]any{"protocols": []any{"http"}, "snis": []any{"a.example"}}, Options{})
	want = map[string]any{
		EntityField: []any{"must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'"},
		"snis":      "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls', 'tls_passthrough', or 'wss'",
	}
	if got := errs.Fields(); !reflect.DeepEqual(got, want) {
		t.Errorf("Fields()\n got  %s\n want %s", jsonString(got), jsonString(want))
	}
}

func TestErrorsPrefix(t *testing.T) {
	errs := Errors{
		{Field: "", Message: "self"},
		{Field: EntityField, Message: "entity"},
		{Field: "[2]", Message: "index"},
		{Field: "ip", Message: "member"},
	}
	got := pairs(errs.Prefix("sources"))
	want := []errPair{{"sources", "entity"}, {"sources", "self"}, {"sources.ip", "member"}, {"sources[2]", "index"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Prefix = %q, want %q", got, want)
	}
}
