package declarative

import (
	"crypto/sha1"
	"encoding/hex"
	"slices"
	"testing"

	"github.com/gantry-gw/gantry/internal/entity"
)

// find returns the entity of type typ whose field equals value.
func find(t *testing.T, c *Config, typ, field string, value any) entity.Entity {
	t.Helper()
	for _, e := range c.Entities[typ] {
		if e[field] == value {
			return e
		}
	}
	t.Fatalf("no %s with %s=%v", typ, field, value)
	return nil
}

func TestParseFixtures(t *testing.T) {
	wantCounts := map[string]int{
		"services": 3, "routes": 2, "plugins": 4, "upstreams": 1, "targets": 2, "consumers": 1,
		"keyauth_credentials": 1, "basicauth_credentials": 1, "jwt_secrets": 1, "acls": 1,
		"certificates": 1, "snis": 2, "ca_certificates": 1,
	}
	ref := mustParse(t, fixture(t, "nested.yaml")).Hash()
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			c := mustParse(t, fixture(t, name))
			if c.FormatVersion != FormatVersion {
				t.Errorf("FormatVersion = %q", c.FormatVersion)
			}
			for typ, n := range wantCounts {
				if got := len(c.Entities[typ]); got != n {
					t.Errorf("%d %s, want %d", got, typ, n)
				}
			}
			if c.Count() != 21 {
				t.Errorf("Count() = %d, want 21", c.Count())
			}
			if got := c.Hash(); got.Config != ref.Config {
				t.Errorf("hash %v, want %v (nested.yaml)", got, ref)
			}
			for typ, list := range c.Entities {
				if !slices.IsSortedFunc(list, func(a, b entity.Entity) int { return compareIDs(a, b) }) {
					t.Errorf("%s not sorted by id", typ)
				}
			}
		})
	}
}

// countRefs counts the entities of type typ whose foreign key field
// points at id.
func countRefs(c *Config, typ, field, id string) int {
	n := 0
	for _, e := range c.Entities[typ] {
		if e.Ref(field) == id {
			n++
		}
	}
	return n
}

func compareIDs(a, b entity.Entity) int {
	switch {
	case a.ID() < b.ID():
		return -1
	case a.ID() > b.ID():
		return 1
	}
	return 0
}

// TestParseValues checks what Parse makes of the reference fixture:
// defaults, shorthands, references, derived ids and hashed passwords.
func TestParseValues(t *testing.T) {
	c := mustParse(t, fixture(t, "flat.yaml"))
	orders := find(t, c, "services", "name", "orders")
	users := find(t, c, "services", "name", "users")
	alice := find(t, c, "consumers", "username", "alice")
	cred := find(t, c, "basicauth_credentials", "username", "alice")
	sum := sha1.Sum([]byte("s3cret" + alice.ID()))
	tests := []struct {
		name      string
		got, want any
	}{
		{"id derived from name", orders.ID(), entity.StableID("services", "name", "orders")},
		{"_info.defaults filled", users["read_timeout"], int64(30000)},
		{"schema default", users["write_timeout"], int64(60000)},
		{"url expanded", orders["port"], int64(8080)},
		{"select_tags added", len(orders["tags"].([]any)), 2},
		{"route service by name", find(t, c, "routes", "name", "orders-api").Ref("service"), orders.ID()},
		{"route service as string", countRefs(c, "routes", "service", users.ID()), 1},
		{"target port defaulted", find(t, c, "targets", "target", "10.0.0.2:8000")["weight"], int64(50)},
		{"consumer by custom_id", cred.Ref("consumer"), alice.ID()},
		{"password hashed", cred["password"], hex.EncodeToString(sum[:])},
		{"upper-case id lowered", c.Entities["ca_certificates"][0].ID(), "7a3e1c52-9d0f-4b6e-8f21-3c4d5e6f7a8b"},
		{"cert digest filled", len(c.Entities["ca_certificates"][0].String("cert_digest")), 64},
		{"no timestamps invented", orders["created_at"], nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

// TestParseHeader covers the top-level keys that describe the file.
func TestParseHeader(t *testing.T) {
	const cred = `
consumers:
  - username: bob
    basicauth_credentials:
      - username: bob
        password: pw
`
	tests := []struct {
		name  string
		input string
		check func(t *testing.T, c *Config)
	}{
		{"unquoted format version", "_format_version: 3.0\n", nil},
		{"format version as JSON number", `{"_format_version": 3.0}`, nil},
		{"default workspace and konnect", "_format_version: \"3.0\"\n_workspace: default\n_konnect: {control_plane_name: cp}\n_transform: true\n", nil},
		{"empty object as empty list", `{"_format_version": "3.0", "services": {}}`, nil},
		{"password hashed by default", "_format_version: \"3.0\"\n" + cred, func(t *testing.T, c *Config) {
			if pw := c.Entities["basicauth_credentials"][0]["password"]; pw == "pw" {
				t.Error("password kept in clear")
			}
		}},
		{"skip_hash_for_basic_auth", "_format_version: \"3.0\"\n_info: {skip_hash_for_basic_auth: true}\n" + cred, func(t *testing.T, c *Config) {
			if pw := c.Entities["basicauth_credentials"][0]["password"]; pw != "pw" {
				t.Errorf("password = %v, want it as written", pw)
			}
		}},
		{"_transform false", "_format_version: \"3.0\"\n_transform: false\n" + cred, func(t *testing.T, c *Config) {
			if pw := c.Entities["basicauth_credentials"][0]["password"]; pw != "pw" {
				t.Errorf("password = %v, want it as written", pw)
			}
		}},
		{"defaults do not override", `
_format_version: "3.0"
_info:
  defaults:
    service: {retries: 1, port: 81}
services:
  - {name: a, host: a.internal, port: 9000}
`, func(t *testing.T, c *Config) {
			s := c.Entities["services"][0]
			if s["port"] != int64(9000) || s["retries"] != int64(1) {
				t.Errorf("port %v retries %v, want 9000 and 1", s["port"], s["retries"])
			}
		}},
		{"select tags not duplicated", `
_format_version: "3.0"
_info: {select_tags: [a, b]}
consumers: [{username: x, tags: [b, c]}]
`, func(t *testing.T, c *Config) {
			tags := c.Entities["consumers"][0]["tags"].([]any)
			if !slices.Equal(tags, []any{"b", "c", "a"}) {
				t.Errorf("tags = %v, want [b c a]", tags)
			}
		}},
		{"timestamps kept", "_format_version: \"3.0\"\nconsumers: [{username: x, created_at: 1700000000}]\n", func(t *testing.T, c *Config) {
			if got := c.Entities["consumers"][0]["created_at"]; got != int64(1700000000) {
				t.Errorf("created_at = %v", got)
			}
		}},
		{"dates stay strings", "_format_version: \"3.0\"\nconsumers: [{username: x, tags: [2024-01-01]}]\n", func(t *testing.T, c *Config) {
			if got := c.Entities["consumers"][0]["tags"].([]any)[0]; got != "2024-01-01" {
				t.Errorf("tag = %#v", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, []byte(tt.input))
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

// TestDerivedIDs checks that ids follow names where there are names, and
// content where there are none.
func TestDerivedIDs(t *testing.T) {
	routeID := func(t *testing.T, route string) string {
		t.Helper()
		c := mustParse(t, []byte("_format_version: \"3.0\"\nservices:\n  - name: s\n    host: h\n    routes:\n      - "+route+"\n"))
		return c.Entities["routes"][0].ID()
	}
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"named route keeps its id", "{name: r, paths: [/a]}", "{name: r, paths: [/b]}", true},
		{"unnamed route follows content", "{paths: [/a]}", "{paths: [/b]}", false},
		{"unnamed route ignores key order", "{paths: [/a], hosts: [x.com]}", "{hosts: [x.com], paths: [/a]}", true},
		{"explicit id kept", "{id: 9B2E4C1A-5D3F-4E6A-8B7C-1D2E3F4A5B6C, paths: [/a]}", "{id: 9b2e4c1a-5d3f-4e6a-8b7c-1d2e3f4a5b6c, paths: [/b]}", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := routeID(t, tt.a), routeID(t, tt.b)
			if (a == b) != tt.same {
				t.Errorf("ids %s and %s: same = %v, want %v", a, b, a == b, tt.same)
			}
		})
	}
	t.Run("same unnamed route under two services", func(t *testing.T) {
		c := mustParse(t, []byte(`
_format_version: "3.0"
services:
  - {name: a, host: h, routes: [{paths: [/x]}]}
  - {name: b, host: h, routes: [{paths: [/x]}]}
`))
		if r := c.Entities["routes"]; r[0].ID() == r[1].ID() {
			t.Errorf("both routes got id %s", r[0].ID())
		}
	})
}
