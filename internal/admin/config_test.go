package admin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gantry-gw/gantry/internal/declarative"
	"github.com/gantry-gw/gantry/internal/store"
)

// The declarative documents the /config tests post, in the order they are
// posted: each differs from the one before so that every import is a
// change the store must show.
const (
	configFull = `_format_version: "3.0"
services:
- name: billing
  url: http://billing.internal:8080
  tags: [team-a]
  routes:
  - name: billing-route
    paths: [/billing]
- name: orders
  host: orders.internal
  plugins:
  - name: rate-limiting
    config:
      minute: 5
consumers:
- username: alice
  keyauth_credentials:
  - key: alice-key
upstreams:
- name: up.internal
  targets:
  - target: 10.0.0.1:8080
`
	// configSmaller drops orders (and its plugin) and the upstream (and
	// its target), changes billing-route and keeps billing and alice.
	configSmaller = `_format_version: "3.0"
services:
- name: billing
  url: http://billing.internal:8080
  tags: [team-a]
  routes:
  - name: billing-route
    paths: [/billing, /invoices]
consumers:
- username: alice
  keyauth_credentials:
  - key: alice-key
`
	// configInvalid has three bad entities: a service port out of range,
	// a route path without a slash and a consumer with neither username
	// nor custom_id.
	configInvalid = `_format_version: "3.0"
services:
- name: billing
  host: billing.internal
  port: 70000
  routes:
  - name: bad-route
    paths: [nope]
consumers:
- tags: [nobody]
`
)

// hashOf is the config hash of a declarative document.
func hashOf(t *testing.T, doc string) string {
	t.Helper()
	cfg, err := declarative.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("test document does not parse: %v", err)
	}
	return cfg.Hash().Config
}

// wantConfig checks that GET /config serves a document with the hash of
// doc, and that POST /config?check_hash=1 of doc is a 304 that writes
// nothing.
func (a *api) wantConfig(t *testing.T, doc string) {
	t.Helper()
	want := hashOf(t, doc)
	body := a.get("/config").want(t, http.StatusOK)
	text, _ := body["config"].(string)
	if got := hashOf(t, text); got != want {
		t.Fatalf("GET /config serves a document of hash %s, want %s:\n%s", got, want, text)
	}
	if body["config_hash"] != want {
		t.Errorf("GET /config: config_hash %v, want %s", body["config_hash"], want)
	}
	if v := a.version(); body["config_version"] != float64(v) {
		t.Errorf("GET /config: config_version %v, want %d", body["config_version"], v)
	}
	v := a.version()
	r := a.send(http.MethodPost, "/config?check_hash=1", "text/yaml", []byte(doc))
	if r.want(t, http.StatusNotModified); len(r.raw) != 0 {
		t.Errorf("304 with a body: %q", r.raw)
	}
	if a.version() != v {
		t.Errorf("a 304 changed the config version")
	}
}

// changed returns the changes after version since, as "type op id".
func (a *api) changed(t *testing.T, since int64) map[string]string {
	t.Helper()
	cs, err := a.st.Changes(context.Background(), since, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range cs {
		out[c.ID] = c.Type + " " + string(c.Op)
	}
	return out
}

func TestPostConfig(t *testing.T) {
	a := newAPI(t)

	// The JSON envelope, as decK and Kong's docs send it.
	r := a.json(http.MethodPost, "/config", map[string]any{"config": configFull}).want(t, http.StatusCreated)
	wantMembers(t, r, map[string]string{
		"config_hash":    `"` + hashOf(t, configFull) + `"`,
		"config_version": jsonOf(t, a.version()),
		"entities":       `8`,
	})
	a.wantConfig(t, configFull)
	for _, p := range []string{"/services/billing", "/routes/billing-route", "/services/orders/plugins", "/consumers/alice/key-auth/alice-key",
		"/upstreams/up.internal/targets/10.0.0.1:8080"} {
		a.get(p).want(t, http.StatusOK)
	}
	if got := ids(t, a.get("/plugins").want(t, http.StatusOK)); len(got) != 1 {
		t.Fatalf("plugins after import: %v", got)
	}

	billing := a.get("/services/billing").want(t, http.StatusOK)
	alice := a.get("/consumers/alice").want(t, http.StatusOK)
	route := a.get("/routes/billing-route").want(t, http.StatusOK)

	t.Run("invalid document writes nothing", func(t *testing.T) {
		watched := []string{"/services/billing", "/services/orders", "/routes/billing-route", "/consumers/alice", "/upstreams/up.internal"}
		a.unchanged(t, watched, func() {
			res := a.send(http.MethodPost, "/config", "text/yaml", []byte(configInvalid))
			body := res.want(t, http.StatusBadRequest)
			wantMembers(t, body, map[string]string{"code": `14`, "name": `"invalid declarative configuration"`})
			if msg, _ := body["message"].(string); !strings.HasPrefix(msg, "declarative config is invalid: ") {
				t.Errorf("message %q", msg)
			}
			flat, _ := body["flattened_errors"].([]any)
			if len(flat) != 3 {
				t.Fatalf("flattened_errors has %d entries, want 3: %s", len(flat), res.raw)
			}
			types := map[string]bool{}
			for _, e := range flat {
				m := e.(map[string]any)
				types[m["entity_type"].(string)] = true
				if errs, _ := m["errors"].([]any); len(errs) == 0 {
					t.Errorf("flattened error without errors: %v", m)
				}
			}
			for _, typ := range []string{"service", "route", "consumer"} {
				if !types[typ] {
					t.Errorf("no flattened error for a %s: %s", typ, res.raw)
				}
			}
			if _, ok := body["fields"].(map[string]any); !ok {
				t.Errorf("no fields: %s", res.raw)
			}
		})
	})

	t.Run("malformed documents", func(t *testing.T) {
		docs := []struct{ name, ctype, body string }{
			{"yaml syntax", "text/yaml", "_format_version: \"3.0\"\nservices: [\n"},
			{"no format version", "text/yaml", "services:\n- name: x\n  host: h\n"},
			{"config not a string", "application/json", `{"config":{"services":[]}}`},
			{"empty", "application/json", ``},
		}
		for _, tt := range docs {
			t.Run(tt.name, func(t *testing.T) {
				a.unchanged(t, []string{"/services/billing"}, func() {
					body := a.send(http.MethodPost, "/config", tt.ctype, []byte(tt.body)).want(t, http.StatusBadRequest)
					if msg, _ := body["message"].(string); msg == "" {
						t.Errorf("no message: %v", body)
					}
				})
			})
		}
	})

	// Timestamps are in seconds: let one pass so that a rewrite shows.
	time.Sleep(1100 * time.Millisecond)

	t.Run("removing entities deletes them", func(t *testing.T) {
		before := a.version()
		a.send(http.MethodPost, "/config", "text/yaml", []byte(configSmaller)).want(t, http.StatusCreated)
		a.wantConfig(t, configSmaller)
		for _, p := range []string{"/services/orders", "/upstreams/up.internal", "/targets/10.0.0.1:8080"} {
			a.get(p).wantBody(t, http.StatusNotFound, `{"message":"Not found"}`)
		}
		if got := ids(t, a.get("/plugins").want(t, http.StatusOK)); len(got) != 0 {
			t.Errorf("plugins of a removed service remain: %v", got)
		}

		wantMembers(t, a.get("/services/billing").want(t, http.StatusOK), map[string]string{
			"created_at": jsonOf(t, billing["created_at"]), "updated_at": jsonOf(t, billing["updated_at"]),
		})
		wantMembers(t, a.get("/consumers/alice").want(t, http.StatusOK), map[string]string{
			"created_at": jsonOf(t, alice["created_at"]),
		})
		changedRoute := a.get("/routes/billing-route").want(t, http.StatusOK)
		wantMembers(t, changedRoute, map[string]string{
			"created_at": jsonOf(t, route["created_at"]), "paths": `["/billing","/invoices"]`,
		})
		if changedRoute["updated_at"].(float64) <= route["updated_at"].(float64) {
			t.Errorf("a changed route kept updated_at %v", route["updated_at"])
		}

		changes := a.changed(t, before)
		if _, ok := changes[billing["id"].(string)]; ok {
			t.Errorf("unchanged service billing is in the change log: %v", changes)
		}
		if _, ok := changes[alice["id"].(string)]; ok {
			t.Errorf("unchanged consumer alice is in the change log: %v", changes)
		}
		if changes[route["id"].(string)] != "routes "+string(store.OpUpdate) {
			t.Errorf("changed route: %q in %v", changes[route["id"].(string)], changes)
		}
	})

	t.Run("names move between kept entities", func(t *testing.T) {
		const before = `_format_version: "3.0"
services:
- id: 11111111-1111-4111-8111-111111111111
  name: first
  host: h.internal
- id: 22222222-2222-4222-8222-222222222222
  name: second
  host: h.internal
`
		swapped := strings.NewReplacer("name: first", "name: second", "name: second", "name: first").Replace(before)
		a.send(http.MethodPost, "/config", "text/yaml", []byte(before)).want(t, http.StatusCreated)
		a.send(http.MethodPost, "/config", "text/yaml", []byte(swapped)).want(t, http.StatusCreated)
		a.wantConfig(t, swapped)
		wantMembers(t, a.get("/services/first").want(t, http.StatusOK), map[string]string{"id": `"22222222-2222-4222-8222-222222222222"`})
	})

	t.Run("check_hash with a different document imports it", func(t *testing.T) {
		a.send(http.MethodPost, "/config?check_hash=1", "text/yaml", []byte(configFull)).want(t, http.StatusCreated)
		a.wantConfig(t, configFull)
	})
}

// TestPostConfigBodies posts a document in each of the ways clients send
// one; each import is checked through GET /config.
func TestPostConfigBodies(t *testing.T) {
	docJSON, err := json.Marshal(map[string]any{
		"_format_version": "3.0",
		"services":        []any{map[string]any{"name": "json-doc", "host": "j.internal"}},
	})
	must(t, err)
	tests := []struct {
		name string
		doc  string
		send func(a *api, doc string) *response
	}{
		{"JSON envelope", configFull, func(a *api, doc string) *response {
			return a.json(http.MethodPost, "/config", map[string]any{"config": doc})
		}},
		{"YAML as text/yaml", configFull, func(a *api, doc string) *response {
			return a.send(http.MethodPost, "/config", "text/yaml", []byte(doc))
		}},
		{"YAML as application/yaml", configSmaller, func(a *api, doc string) *response {
			return a.send(http.MethodPost, "/config", "application/yaml", []byte(doc))
		}},
		{"YAML without a content type", configFull, func(a *api, doc string) *response {
			return a.send(http.MethodPost, "/config", "", []byte(doc))
		}},
		{"YAML as curl --data-binary sends it", configFull, func(a *api, doc string) *response {
			return a.form(http.MethodPost, "/config", doc)
		}},
		{"YAML with = and & as a form", strings.Replace(configSmaller, "tags: [team-a]", `tags: ["a=b&c"]`, 1), func(a *api, doc string) *response {
			return a.form(http.MethodPost, "/config", doc)
		}},
		{"form with a config member", configSmaller, func(a *api, doc string) *response {
			return a.form(http.MethodPost, "/config", "config="+url.QueryEscape(doc))
		}},
		{"multipart config file", configFull, func(a *api, doc string) *response {
			return a.multipart(http.MethodPost, "/config", nil, map[string]string{"config": doc})
		}},
		{"JSON document", string(docJSON), func(a *api, doc string) *response {
			return a.json(http.MethodPost, "/config", doc)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newAPI(t)
			v := a.version()
			body := tt.send(a, tt.doc).want(t, http.StatusCreated)
			if a.version() <= v {
				t.Fatalf("import did not advance the config version")
			}
			if body["config_hash"] != hashOf(t, tt.doc) {
				t.Errorf("config_hash %v, want %s", body["config_hash"], hashOf(t, tt.doc))
			}
			a.wantConfig(t, tt.doc)
		})
	}
}
