package declarative

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/gantry-gw/gantry/internal/entity"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// encodings are the four ways Encode can write a config.
var encodings = []struct {
	name   string
	format Format
	layout Layout
}{
	{"nested.yaml", YAML, Nested},
	{"flat.yaml", YAML, Flat},
	{"nested.json", JSON, Nested},
	{"flat.json", JSON, Flat},
}

// TestRoundTrip writes each fixture in every format and layout, reads it
// back, and wants the same hash; writing the result again must give the
// same bytes.
func TestRoundTrip(t *testing.T) {
	for _, name := range fixtureNames {
		c := mustParse(t, fixture(t, name))
		want := c.Hash()
		for _, enc := range encodings {
			t.Run(name+"->"+enc.name, func(t *testing.T) {
				out, err := c.Encode(enc.format, enc.layout)
				if err != nil {
					t.Fatal(err)
				}
				back := mustParse(t, out)
				if got := back.Hash(); got.Config != want.Config {
					t.Fatalf("hash %v, want %v\n%s", got, want, out)
				}
				again, err := back.Encode(enc.format, enc.layout)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(again, out) {
					t.Errorf("second encoding differs:\n%s\nfirst:\n%s", again, out)
				}
			})
		}
	}
}

// TestRoundTripExplicitNulls keeps fields set to null on purpose: left
// out, they would take their defaults when read again.
func TestRoundTripExplicitNulls(t *testing.T) {
	c := mustParse(t, []byte(`_format_version: "3.0"
services: [{name: s, host: h, retries: null, routes: [{paths: [/], regex_priority: null}]}]
upstreams: [{name: u, healthchecks: null}, {name: v, healthchecks: {active: {timeout: null}}}]
plugins: [{name: cors, config: null}]
`))
	for _, enc := range encodings {
		t.Run(enc.name, func(t *testing.T) {
			out, err := c.Encode(enc.format, enc.layout)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := mustParse(t, out).Hash(), c.Hash(); got.Config != want.Config {
				t.Errorf("hash %s after round trip, want %s\n%s", got.Config, want.Config, out)
			}
		})
	}
}

// TestEncodeGolden compares Encode's output with files kept in
// testdata/golden, so changes to the layout are seen in review.
func TestEncodeGolden(t *testing.T) {
	c := mustParse(t, fixture(t, "golden/input.yaml"))
	for _, enc := range encodings {
		t.Run(enc.name, func(t *testing.T) {
			out, err := c.Encode(enc.format, enc.layout)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", enc.name)
			if *update {
				if err := os.WriteFile(path, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("output differs from %s (run with -update after checking):\n%s", path, out)
			}
		})
	}
}

// TestEncodeNesting checks where the nested layout puts entities.
func TestEncodeNesting(t *testing.T) {
	c := mustParse(t, fixture(t, "golden/input.yaml"))
	out, err := c.Encode(YAML, Nested)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	orders := find(t, c, "services", "name", "orders")
	route := find(t, c, "routes", "name", "orders-api")
	services := doc["services"].([]any)
	service := services[0].(map[string]any)
	nestedRoute := service["routes"].([]any)[0].(map[string]any)
	topPlugins := doc["plugins"].([]any)
	names := func(list []any) []string {
		var out []string
		for _, x := range list {
			out = append(out, x.(map[string]any)["name"].(string))
		}
		return out
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"route under its service", nestedRoute["name"], "orders-api"},
		{"nested route omits its service", nestedRoute["service"], nil},
		{"route plugin under the route", names(nestedRoute["plugins"].([]any))[0], "cors"},
		{"service plugin under the service", names(service["plugins"].([]any))[0], "rate-limiting"},
		{"route without service at the top", names(doc["routes"].([]any))[0], "orphan"},
		{"global and two-scope plugins at the top", len(topPlugins), 2},
		{"target under its upstream", len(doc["upstreams"].([]any)[0].(map[string]any)["targets"].([]any)), 1},
		{"no top-level targets", doc["targets"], nil},
		{"credential under its consumer", len(doc["consumers"].([]any)[0].(map[string]any)["basicauth_credentials"].([]any)), 1},
		{"_info says passwords are hashed", doc["_info"].(map[string]any)["skip_hash_for_basic_auth"], true},
		{"format version first", string(out[:len(`_format_version: "3.0"`)]), `_format_version: "3.0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
	t.Run("two-scope plugin keeps ids", func(t *testing.T) {
		for _, x := range topPlugins {
			p := x.(map[string]any)
			if p["name"] != "request-transformer" {
				continue
			}
			if p["service"] != orders.ID() || p["route"] != route.ID() {
				t.Errorf("service %v route %v, want %s and %s", p["service"], p["route"], orders.ID(), route.ID())
			}
			return
		}
		t.Error("request-transformer not at the top level")
	})
}

func TestEncodeNoInfoWithoutBasicAuth(t *testing.T) {
	c := mustParse(t, []byte("_format_version: \"3.0\"\nconsumers: [{username: a}]\n"))
	out, err := c.Encode(YAML, Flat)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("_info")) {
		t.Errorf("unexpected _info:\n%s", out)
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		c      *Config
		format Format
		layout Layout
	}{
		{"unknown type", FromEntities(map[string][]entity.Entity{"vaults": {{"id": "x"}}}), YAML, Flat},
		{"unknown format", &Config{}, Format(9), Flat},
		{"unknown layout", &Config{}, YAML, Layout(9)},
		{"unencodable value", FromEntities(map[string][]entity.Entity{"consumers": {{"id": "x", "username": make(chan int)}}}), JSON, Flat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.c.Encode(tt.format, tt.layout); err == nil {
				t.Error("Encode succeeded, want an error")
			}
		})
	}
}
