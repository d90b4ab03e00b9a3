package declarative

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gantry-gw/gantry/internal/entity"
)

// wantErr is one expected problem: the entity's path ("" for the file
// itself), the field, and a part of the message.
type wantErr struct {
	path, field, msg string
}

func TestParseErrors(t *testing.T) {
	const v = "_format_version: \"3.0\"\n"
	tests := []struct {
		name  string
		input string
		want  []wantErr
	}{
		{"missing format version", "services: []\n",
			[]wantErr{{"", "_format_version", "required field missing"}}},
		{"wrong format version", "_format_version: \"1.1\"\n",
			[]wantErr{{"", "_format_version", `unsupported format version; Gantry reads "3.0"`}}},
		{"format version not a string", "_format_version: [3]\n",
			[]wantErr{{"", "_format_version", "expected a string"}}},
		{"unknown top-level key", v + "servics: []\n",
			[]wantErr{{"", "servics", "unknown field"}}},
		{"unsupported entity type", v + "vaults: [{name: env, prefix: env}]\n",
			[]wantErr{{"", "vaults", "entity type 'vaults' is not supported by Gantry"}}},
		{"other workspace", v + "_workspace: team-a\n",
			[]wantErr{{"", "_workspace", `only "default" is accepted`}}},
		{"bad select tag", v + "_info: {select_tags: [a/b]}\n",
			[]wantErr{{"", "_info.select_tags[0]", "invalid tag 'a/b'"}}},
		{"unknown default field", v + "_info: {defaults: {service: {hostname: x}}}\n",
			[]wantErr{{"", "_info.defaults.service.hostname", "unknown field"}}},
		{"unknown default kind", v + "_info: {defaults: {vault: {}}}\n",
			[]wantErr{{"", "_info.defaults.vault", "unknown entity kind"}}},
		{"list is not a list", v + "services: {name: a}\n",
			[]wantErr{{"", "services", "expected an array"}}},
		{"element is not an object", v + "services: [a]\n",
			[]wantErr{{"services[0]", entity.EntityField, "expected a record"}}},
		{"unknown field", v + "services: [{name: a, host: h, hostname: h}]\n",
			[]wantErr{{"services[0]", "hostname", "unknown field"}}},
		{"wrong type", v + "services: [{name: a, host: h, port: eighty}]\n",
			[]wantErr{{"services[0]", "port", "expected an integer"}}},
		{"out of range", v + "services: [{name: a, host: h, port: 70000}]\n",
			[]wantErr{{"services[0]", "port", "value should be between 0 and 65535"}}},
		{"dangling flat reference", v + "routes: [{name: r, paths: [/], service: nope}]\n",
			[]wantErr{{"routes[0]", "service", "the foreign key 'nope' does not reference an existing 'services' entity"}}},
		{"dangling reference by id", v + "routes: [{paths: [/], service: {id: 9b2e4c1a-5d3f-4e6a-8b7c-1d2e3f4a5b6c}}]\n",
			[]wantErr{{"routes[0]", "service", "the foreign key '9b2e4c1a-5d3f-4e6a-8b7c-1d2e3f4a5b6c' does not reference"}}},
		{"dangling nested reference", v + "services:\n  - name: s\n    host: h\n    plugins:\n      - {name: rate-limiting, consumer: bob}\n",
			[]wantErr{{"services[0].plugins[0]", "consumer", "the foreign key 'bob' does not reference an existing 'consumers' entity"}}},
		{"dangling CA certificate", v + "services: [{name: s, protocol: https, host: h, ca_certificates: [9b2e4c1a-5d3f-4e6a-8b7c-1d2e3f4a5b6c]}]\n",
			[]wantErr{{"services[0]", "ca_certificates[0]", "does not reference an existing 'ca_certificates' entity"}}},
		{"unknown key in reference", v + "services: [{name: s, host: h}]\nroutes: [{paths: [/], service: {title: s}}]\n",
			[]wantErr{{"routes[0]", "service.title", "unknown field"}}},
		{"duplicate names", v + "services: [{name: a, host: h}, {name: b, host: h}, {name: a, host: h2}]\n",
			[]wantErr{{"services[2]", "name", "uniqueness violation: 'services' entity with name set to 'a' already declared at services[0]"}}},
		{"duplicate name after an invalid entity", v + "services: [{name: a, host: h, port: -1}, {name: a, host: h}]\n",
			[]wantErr{
				{"services[0]", "port", "value should be between"},
				{"services[1]", "name", "already declared at services[0]"},
			}},
		{"duplicate ids", v + "consumers:\n  - {id: 9b2e4c1a-5d3f-4e6a-8b7c-1d2e3f4a5b6c, username: a}\n  - {id: 9B2E4C1A-5D3F-4E6A-8B7C-1D2E3F4A5B6C, username: b}\n",
			[]wantErr{{"consumers[1]", "id", `duplicate id: already used by consumers[0] (consumer "a")`}}},
		{"duplicate targets", v + "upstreams:\n  - name: u\n    targets: [{target: 10.0.0.1}, {target: '10.0.0.1:8000'}]\n",
			[]wantErr{{"upstreams[0].targets[1]", entity.EntityField, "uniqueness violation: 'targets' entity with upstream, target set to"}}},
		{"duplicate plugins", v + "plugins: [{name: cors}, {name: cors}]\n",
			[]wantErr{{"plugins[1]", entity.EntityField, "with name, route, service, consumer set to 'cors, null, null, null' already declared at plugins[0]"}}},
		{"same unnamed route twice", v + "services:\n  - name: s\n    host: h\n    routes: [{paths: [/x]}, {paths: [/x]}]\n",
			[]wantErr{{"services[0].routes[1]", entity.EntityField, "declared twice: same content as services[0].routes[0]"}}},
		{"duplicate key-auth keys stay secret", v + "consumers:\n  - username: a\n    keyauth_credentials: [{key: k1}, {key: k1}]\n",
			[]wantErr{{"consumers[0].keyauth_credentials[1]", "key", "with the same key already declared"}}},
		{"conflicting nested parent", v + "services:\n  - name: a\n    host: h\n    routes: [{paths: [/], service: b}]\n  - {name: b, host: h}\n",
			[]wantErr{{"services[0].routes[0]", "service", `names service 'b' but is nested under services[0] (service "a")`}}},
		{"key-auth credential without key", v + "consumers:\n  - username: a\n    keyauth_credentials: [{tags: [t]}]\n",
			[]wantErr{{"consumers[0].keyauth_credentials[0]", "key", "required field missing"}}},
		{"jwt secret without key", v + "consumers:\n  - username: a\n    jwt_secrets: [{secret: s}]\n",
			[]wantErr{{"consumers[0].jwt_secrets[0]", "key", "required field missing"}}},
		{"unsupported nested type", v + "consumers: [{username: a, groups: [{name: g}]}]\n",
			[]wantErr{{"consumers[0]", "groups", "entity type 'consumer_groups' is not supported by Gantry"}}},
		{"nested list is not a list", v + "services: [{name: a, host: h, routes: {paths: [/]}}]\n",
			[]wantErr{{"services[0]", "routes", "expected an array"}}},
		{"unknown plugin", v + "plugins: [{name: no-such-plugin}]\n",
			[]wantErr{{"plugins[0]", "name", "plugin 'no-such-plugin' not enabled"}}},
		{"invalid parent does not hide its children", v + "services:\n  - host: 'bad host'\n    routes: [{paths: [api]}]\n",
			[]wantErr{
				{"services[0]", "host", "invalid value: bad host"},
				{"services[0].routes[0]", "paths[0]", "should start with: /"},
			}},
		{"reference to an invalid entity is not dangling", v + "services: [{name: a, host: 'bad host'}]\nroutes: [{paths: [/], service: a}]\n",
			[]wantErr{{"services[0]", "host", "invalid value"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := parseErrors(t, tt.input)
			var got []wantErr
			for _, ee := range errs {
				for _, fe := range ee.Errors {
					got = append(got, wantErr{ee.Path, fe.Field, fe.Message})
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(got), len(tt.want), errs)
			}
			for i, w := range tt.want {
				g := got[i]
				if g.path != w.path || g.field != w.field || !strings.Contains(g.msg, w.msg) {
					t.Errorf("error %d = %q %q %q\nwant     %q %q (containing) %q", i, g.path, g.field, g.msg, w.path, w.field, w.msg)
				}
			}
		})
	}
}

func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		name       string
		input      string
		format     string
		line, col  int
		msgContain string
	}{
		{"bad YAML indentation", "_format_version: \"3.0\"\nservices:\n  - name: a\n   host: b\n", "YAML", 4, 0, "did not find expected"},
		{"YAML mapping value in wrong place", "_format_version: \"3.0\"\nservices:\n  - name: a\n    host: b: c\n", "YAML", 4, 0, "mapping values are not allowed"},
		{"YAML duplicate key", "_format_version: \"3.0\"\nservices: []\nservices: []\n", "YAML", 3, 0, `mapping key "services" already defined at line 2`},
		{"YAML non-string key", "_format_version: \"3.0\"\nservices:\n  - name: a\n    1: x\n", "YAML", 4, 5, `mapping key "1" is not a string`},
		{"YAML infinity", "_format_version: \"3.0\"\nplugins: [{name: cors, config: {max_age: .inf}}]\n", "YAML", 2, 42, "not a finite number"},
		{"YAML unknown tag", "_format_version: \"3.0\"\nconsumers: [{username: !vault x}]\n", "YAML", 2, 24, "unsupported tag !vault"},
		{"YAML two documents", "_format_version: \"3.0\"\n---\nservices: []\n", "YAML", 2, 1, "more than one YAML document"},
		{"bad JSON", "{\n  \"_format_version\": \"3.0\",\n  \"services\": [}\n}", "JSON", 3, 16, "invalid character '}'"},
		{"truncated JSON", "{\n  \"_format_version\": \"3.0\",\n  \"services\": [\n", "JSON", 4, 1, "unexpected end of input"},
		{"JSON trailing data", `{"_format_version": "3.0"} {}`, "JSON", 1, 28, "unexpected data after the top-level object"},
		{"JSON number out of range", `{"_format_version": "3.0", "plugins": [{"name": "cors", "config": {"max_age": 1e999}}]}`, "JSON", 0, 0, "number 1e999 is out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.input))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v, want *SyntaxError", err, err)
			}
			if se.Format != tt.format || se.Line != tt.line || se.Column != tt.col || !strings.Contains(se.Msg, tt.msgContain) {
				t.Errorf("got %s %d:%d %q, want %s %d:%d containing %q", se.Format, se.Line, se.Column, se.Msg, tt.format, tt.line, tt.col, tt.msgContain)
			}
		})
	}
}

func TestParseNotAMapping(t *testing.T) {
	for _, input := range []string{"", "# only a comment\n", "- a\n- b\n", "just text"} {
		t.Run(input, func(t *testing.T) {
			errs := parseErrors(t, input)
			if len(errs) != 1 || errs[0].Path != "" || !strings.Contains(errs[0].Errors[0].Message, "expected a mapping") {
				t.Errorf("got %v", errs)
			}
		})
	}
}

// badFile has three invalid entities (and valid ones around them).
const badFile = `_format_version: "3.0"
services:
  - name: good
    host: good.internal
    routes:
      - name: r0
        paths: [/ok]
      - name: r1
        paths: [api]
  - name: bad-port
    host: h
    port: 99999
consumers:
  - username: alice
    keyauth_credentials:
      - tags: [x]
`

// TestAllErrorsReported wants every failing entity reported, not just the
// first.
func TestAllErrorsReported(t *testing.T) {
	errs := parseErrors(t, badFile)
	paths := make([]string, len(errs))
	for i, ee := range errs {
		paths[i] = ee.Path
	}
	want := []string{"services[0].routes[1]", "services[1]", "consumers[0].keyauth_credentials[0]"}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("paths %v, want %v", paths, want)
	}
}

func TestErrorText(t *testing.T) {
	errs := parseErrors(t, badFile)
	want := `services[0].routes[1] (route "r1"): paths[0]: should start with: / (fixed path) or ~/ (regex path) (got "api")
services[1] (service "bad-port"): port: value should be between 0 and 65535 (got 99999)
consumers[0].keyauth_credentials[0]: key: required field missing`
	if got := errs.Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	top := parseErrors(t, "_format_version: \"2.1\"\nvaults: []\n")
	wantTop := `_format_version: unsupported format version; Gantry reads "3.0" (got "2.1")
vaults: entity type 'vaults' is not supported by Gantry`
	if got := top.Error(); got != wantTop {
		t.Errorf("got\n%s\nwant\n%s", got, wantTop)
	}
}

// asJSON renders v as JSON, so expected shapes can be written as JSON
// text.
func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestErrorsFlattened(t *testing.T) {
	errs := parseErrors(t, `_format_version: "3.0"
_info: {select_tags: [team]}
services:
  - id: 9b2e4c1a-5d3f-4e6a-8b7c-1d2e3f4a5b6c
    name: a
    host: h
    port: 99999
    tags: [t1]
    routes:
      - paths: [/]
  - name: b
    host: h
    routes:
      - {paths: [/], protocols: []}
vaults: []
`)
	want := `[{"entity":{"host":"h","id":"9b2e4c1a-5d3f-4e6a-8b7c-1d2e3f4a5b6c","name":"a","port":99999,"tags":["t1"]},` +
		`"entity_id":"9b2e4c1a-5d3f-4e6a-8b7c-1d2e3f4a5b6c","entity_name":"a","entity_tags":["t1"],"entity_type":"service",` +
		`"errors":[{"field":"port","message":"value should be between 0 and 65535","type":"field"}]},` +
		`{"entity":{"paths":["/"],"protocols":[]},"entity_type":"route",` +
		`"errors":[{"field":"protocols","message":"length must be at least 1","type":"field"}]}]`
	if got := asJSON(t, errs.Flattened()); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	entityLevel := parseErrors(t, "_format_version: \"3.0\"\nroutes: [{name: r}]\n")
	wantEntity := `[{"entity":{"name":"r"},"entity_name":"r","entity_type":"route",` +
		`"errors":[{"message":"must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'","type":"entity"}]}]`
	if got := asJSON(t, entityLevel.Flattened()); got != wantEntity {
		t.Errorf("got\n%s\nwant\n%s", got, wantEntity)
	}
}

func TestErrorsFields(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{
		{"top-level entity", "_format_version: \"3.0\"\nservices: [{name: a, host: h, port: 99999}]\n",
			`{"services":[{"port":"value should be between 0 and 65535"}]}`},
		{"nested under its parent", badFile,
			`{"consumers":[{"keyauth_credentials":[{"key":"required field missing"}]}],` +
				`"services":[{"routes":[null,{"paths":["should start with: / (fixed path) or ~/ (regex path)"]}]},{"port":"value should be between 0 and 65535"}]}`},
		{"parent and child errors merge", "_format_version: \"3.0\"\nservices:\n  - {name: a, port: 99999, routes: [{paths: [x]}]}\n",
			`{"services":[{"host":"required field missing","port":"value should be between 0 and 65535","routes":[{"paths":["should start with: / (fixed path) or ~/ (regex path)"]}]}]}`},
		{"file problems at the top", "_format_version: \"1.1\"\n_info: {defaults: {service: {x: 1}}}\nroutes: [{name: r}]\n",
			`{"_format_version":"unsupported format version; Gantry reads \"3.0\"","_info":{"defaults":{"service":{"x":"unknown field"}}},` +
				`"routes":[{"@entity":["must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'"]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := parseErrors(t, tt.input)
			if got := asJSON(t, errs.Fields()); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
