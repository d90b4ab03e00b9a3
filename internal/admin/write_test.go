package admin_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestPut(t *testing.T) {
	a := newAPI(t)

	created := a.json(http.MethodPut, "/services/billing", map[string]any{
		"host": "a.internal", "retries": 2, "tags": []string{"x"}, "path": "/v1",
	}).want(t, http.StatusOK)
	wantMembers(t, created, map[string]string{"name": `"billing"`, "host": `"a.internal"`, "retries": `2`, "tags": `["x"]`})
	got := a.get("/services/billing").want(t, http.StatusOK)
	if got["id"] != created["id"] {
		t.Fatalf("GET by name after PUT: id %v, want %v", got["id"], created["id"])
	}

	replaced := a.json(http.MethodPut, "/services/billing", map[string]any{"host": "b.internal"}).want(t, http.StatusOK)
	wantMembers(t, replaced, map[string]string{
		"id":         `"` + created["id"].(string) + `"`,
		"created_at": jsonOf(t, created["created_at"]),
		"name":       `"billing"`,
		"host":       `"b.internal"`,
		"retries":    `5`,
		"tags":       `null`,
		"path":       `null`,
	})
	if replaced["updated_at"].(float64) < created["updated_at"].(float64) {
		t.Errorf("updated_at went back: %v then %v", created["updated_at"], replaced["updated_at"])
	}
	if got := a.get("/services/"+created["id"].(string)).want(t, http.StatusOK); !sameJSON(got, replaced) {
		t.Errorf("stored %v, PUT answered %v", got, replaced)
	}

	t.Run("by id", func(t *testing.T) {
		id := "5a0f4d0e-8a3b-4f7e-9d61-3c2b1a0f9e8d"
		r := a.json(http.MethodPut, "/services/"+strings.ToUpper(id), map[string]any{"name": "orders", "host": "o.internal"}).want(t, http.StatusOK)
		wantMembers(t, r, map[string]string{"id": `"` + id + `"`, "name": `"orders"`})
		a.get("/services/orders").want(t, http.StatusOK)
		r = a.json(http.MethodPut, "/services/"+id, map[string]any{"name": "orders", "host": "o2.internal"}).want(t, http.StatusOK)
		wantMembers(t, r, map[string]string{"id": `"` + id + `"`, "host": `"o2.internal"`})
	})

	t.Run("form", func(t *testing.T) {
		r := a.form(http.MethodPut, "/services/formed", "host=f.internal&port=8443&protocol=https").want(t, http.StatusOK)
		wantMembers(t, r, map[string]string{"name": `"formed"`, "port": `8443`})
	})

	watched := []string{"/services/billing", "/services/orders"}
	refused := []struct {
		name   string
		path   string
		body   string
		status int
		want   string
	}{
		{"name differs from the path", "/services/billing", `{"name":"other","host":"h"}`, http.StatusBadRequest,
			`{"code":2,"name":"schema violation","message":"schema violation (name: the name in the body does not match the one in the path (got \"other\"))","fields":{"name":"the name in the body does not match the one in the path"}}`},
		{"id differs from the path", "/services/5a0f4d0e-8a3b-4f7e-9d61-3c2b1a0f9e8d", `{"id":"6a0f4d0e-8a3b-4f7e-9d61-3c2b1a0f9e8d","name":"orders","host":"h"}`, http.StatusBadRequest,
			`{"code":2,"name":"schema violation","message":"schema violation (id: the id in the body does not match the id in the path (got \"6a0f4d0e-8a3b-4f7e-9d61-3c2b1a0f9e8d\"))","fields":{"id":"the id in the body does not match the id in the path"}}`},
		{"takes another's name", "/services/5a0f4d0e-8a3b-4f7e-9d61-3c2b1a0f9e8d", `{"name":"billing","host":"h"}`, http.StatusConflict,
			`{"code":5,"name":"unique constraint violation","message":"UNIQUE violation detected on '{name=\"billing\"}'","fields":{"name":"billing"}}`},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			a.unchanged(t, watched, func() {
				a.json(http.MethodPut, tt.path, tt.body).wantBody(t, tt.status, tt.want)
			})
		})
	}
}

func TestPatch(t *testing.T) {
	a := newAPI(t)
	svc := a.create("/services", map[string]any{
		"name": "billing", "url": "https://billing.internal:8443/v1", "retries": 3, "tags": []string{"a", "b"},
		"tls_verify": true,
	})

	t.Run("partial update keeps other fields", func(t *testing.T) {
		r := a.json(http.MethodPatch, "/services/billing", map[string]any{"retries": 1}).want(t, http.StatusOK)
		wantMembers(t, r, map[string]string{
			"id": `"` + svc["id"].(string) + `"`, "retries": `1`, "host": `"billing.internal"`, "port": `8443`,
			"protocol": `"https"`, "path": `"/v1"`, "tags": `["a","b"]`, "tls_verify": `true`,
			"created_at": jsonOf(t, svc["created_at"]),
		})
		if got := a.get("/services/billing").want(t, http.StatusOK); !sameJSON(got, r) {
			t.Errorf("stored %v, PATCH answered %v", got, r)
		}
	})

	t.Run("form", func(t *testing.T) {
		r := a.form(http.MethodPatch, "/services/"+svc["id"].(string), "connect_timeout=1000&enabled=false").want(t, http.StatusOK)
		wantMembers(t, r, map[string]string{"connect_timeout": `1000`, "enabled": `false`, "retries": `1`, "host": `"billing.internal"`})
	})

	t.Run("url shorthand", func(t *testing.T) {
		r := a.json(http.MethodPatch, "/services/billing", map[string]any{"url": "https://new.internal/v2"}).want(t, http.StatusOK)
		wantMembers(t, r, map[string]string{"protocol": `"https"`, "host": `"new.internal"`, "port": `443`, "path": `"/v2"`, "retries": `1`})
	})

	t.Run("null unsets", func(t *testing.T) {
		r := a.json(http.MethodPatch, "/services/billing", `{"path":null,"tags":null,"tls_verify":null}`).want(t, http.StatusOK)
		wantMembers(t, r, map[string]string{"path": `null`, "tags": `null`, "tls_verify": `null`, "host": `"new.internal"`})
		got := a.get("/services/billing").want(t, http.StatusOK)
		wantMembers(t, got, map[string]string{"path": `null`, "tags": `null`, "tls_verify": `null`})
	})

	t.Run("healthchecks merge member by member", func(t *testing.T) {
		up := a.create("/upstreams", map[string]any{"name": "up.internal", "slots": 200})
		a.json(http.MethodPatch, "/upstreams/up.internal", `{"healthchecks":{"active":{"healthy":{"interval":5}}}}`).want(t, http.StatusOK)
		r := a.json(http.MethodPatch, "/upstreams/"+up["id"].(string), `{"healthchecks":{"active":{"unhealthy":{"http_failures":2}},"threshold":25}}`).
			want(t, http.StatusOK)
		wantMembers(t, r, map[string]string{
			"healthchecks.active.healthy.interval":        `5`,
			"healthchecks.active.healthy.successes":       `0`,
			"healthchecks.active.healthy.http_statuses":   `[200,302]`,
			"healthchecks.active.unhealthy.http_failures": `2`,
			"healthchecks.active.unhealthy.timeouts":      `0`,
			"healthchecks.active.http_path":               `"/"`,
			"healthchecks.passive.type":                   `"http"`,
			"healthchecks.threshold":                      `25`,
			"slots":                                       `200`,
		})
		r = a.form(http.MethodPatch, "/upstreams/up.internal", "healthchecks.active.healthy.successes=3").want(t, http.StatusOK)
		wantMembers(t, r, map[string]string{
			"healthchecks.active.healthy.interval":        `5`,
			"healthchecks.active.healthy.successes":       `3`,
			"healthchecks.active.unhealthy.http_failures": `2`,
		})
	})

	t.Run("plugin config merges", func(t *testing.T) {
		p := a.create("/plugins", map[string]any{"name": "rate-limiting", "config": map[string]any{"minute": 5, "policy": "local"}})
		r := a.json(http.MethodPatch, "/plugins/"+p["id"].(string), `{"config":{"hour":100}}`).want(t, http.StatusOK)
		wantMembers(t, r, map[string]string{"config": `{"minute":5,"policy":"local","hour":100}`})
	})

	t.Run("refused patch changes nothing", func(t *testing.T) {
		a.unchanged(t, []string{"/services/billing"}, func() {
			a.json(http.MethodPatch, "/services/billing", `{"protocol":"tcp","path":"/x"}`).wantBody(t, http.StatusBadRequest,
				`{"code":2,"name":"schema violation","message":"schema violation (path: value must be null)","fields":{"path":"value must be null"}}`)
		})
	})
}

func TestNestedPaths(t *testing.T) {
	a := newAPI(t)
	svcA := a.create("/services", map[string]any{"name": "a", "host": "a.internal"})
	svcB := a.create("/services", map[string]any{"name": "b", "host": "b.internal"})
	const missing = "0b7e2c1d-3f4a-4b5c-8d6e-7f8091a2b3c4"

	routeA := a.json(http.MethodPost, "/services/a/routes", map[string]any{"name": "ra", "paths": []string{"/a"}}).want(t, http.StatusCreated)
	wantMembers(t, routeA, map[string]string{"service": `{"id":"` + svcA["id"].(string) + `"}`})
	// The path's service wins over one in the body, as in Kong.
	routeB := a.form(http.MethodPost, "/services/"+svcB["id"].(string)+"/routes", "name=rb&paths[]=/b&service.id="+svcA["id"].(string)).
		want(t, http.StatusCreated)
	wantMembers(t, routeB, map[string]string{"service": `{"id":"` + svcB["id"].(string) + `"}`})

	t.Run("routes of a service", func(t *testing.T) {
		if got := ids(t, a.get("/services/a/routes").want(t, http.StatusOK)); !slices.Equal(got, []string{routeA["id"].(string)}) {
			t.Fatalf("routes of a: %v", got)
		}
		a.get("/services/a/routes/ra").want(t, http.StatusOK)
		a.get("/services/a/routes/"+routeA["id"].(string)).want(t, http.StatusOK)
		a.get("/routes/rb/service").wantBody(t, http.StatusOK, string(a.get("/services/b").raw))
	})

	watched := []string{"/routes/ra", "/routes/rb", "/services/a", "/services/b"}
	notFound := []struct {
		name, method, path, body string
	}{
		{"get a route of another service", "GET", "/services/a/routes/rb", ""},
		{"get a route of another service by id", "GET", "/services/a/routes/" + routeB["id"].(string), ""},
		{"patch a route of another service", "PATCH", "/services/a/routes/rb", `{"paths":["/x"]}`},
		{"delete a route of another service", "DELETE", "/services/a/routes/" + routeB["id"].(string), ""},
		{"delete a missing route", "DELETE", "/services/a/routes/nope", ""},
		{"list under a missing service", "GET", "/services/nope/routes", ""},
		{"create under a missing service", "POST", "/services/nope/routes", `{"paths":["/x"]}`},
		{"create under a missing service id", "POST", "/services/" + missing + "/routes", `{"paths":["/x"]}`},
		{"put under a missing service", "PUT", "/services/nope/routes/rx", `{"paths":["/x"]}`},
		{"delete under a missing service", "DELETE", "/services/" + missing + "/routes/ra", ""},
	}
	for _, tt := range notFound {
		t.Run(tt.name, func(t *testing.T) {
			a.unchanged(t, watched, func() {
				a.json(tt.method, tt.path, tt.body).wantBody(t, http.StatusNotFound, `{"message":"Not found"}`)
			})
		})
	}

	t.Run("delete through the right service", func(t *testing.T) {
		a.send(http.MethodDelete, "/services/b/routes/rb", "", nil).want(t, http.StatusNoContent)
		a.get("/routes/rb").wantBody(t, http.StatusNotFound, `{"message":"Not found"}`)
	})

	t.Run("key-auth of a consumer", func(t *testing.T) {
		alice := a.create("/consumers", map[string]any{"username": "alice"})
		a.create("/consumers", map[string]any{"username": "bob"})
		cred := a.form(http.MethodPost, "/consumers/alice/key-auth", "key=alice-secret-key&tags[]=t").want(t, http.StatusCreated)
		wantMembers(t, cred, map[string]string{"key": `"alice-secret-key"`, "consumer": `{"id":"` + alice["id"].(string) + `"}`, "tags": `["t"]`})
		generated := a.send(http.MethodPost, "/consumers/alice/key-auth", "", nil).want(t, http.StatusCreated)
		if k, _ := generated["key"].(string); len(k) < 16 {
			t.Errorf("generated key %q", k)
		}

		got := a.get("/consumers/alice/key-auth/alice-secret-key").want(t, http.StatusOK)
		if got["id"] != cred["id"] {
			t.Fatalf("by key: %v", got)
		}
		a.get("/consumers/alice/key-auth/"+cred["id"].(string)).want(t, http.StatusOK)
		a.get("/key-auths/alice-secret-key").want(t, http.StatusOK)
		a.get("/consumers/bob/key-auth/alice-secret-key").wantBody(t, http.StatusNotFound, `{"message":"Not found"}`)
		a.unchanged(t, []string{"/key-auths/alice-secret-key"}, func() {
			a.send(http.MethodDelete, "/consumers/bob/key-auth/alice-secret-key", "", nil).wantBody(t, http.StatusNotFound, `{"message":"Not found"}`)
		})
		if got := ids(t, a.get("/consumers/alice/key-auth").want(t, http.StatusOK)); len(got) != 2 {
			t.Fatalf("key-auths of alice: %v", got)
		}
		a.json(http.MethodPatch, "/consumers/alice/key-auth/alice-secret-key", `{"tags":["u"]}`).want(t, http.StatusOK)
		a.send(http.MethodDelete, "/consumers/alice/key-auth/alice-secret-key", "", nil).want(t, http.StatusNoContent)
		a.get("/key-auths/"+cred["id"].(string)).wantBody(t, http.StatusNotFound, `{"message":"Not found"}`)
	})

	t.Run("targets of an upstream", func(t *testing.T) {
		up := a.create("/upstreams", map[string]any{"name": "up.internal"})
		a.create("/upstreams", map[string]any{"name": "other.internal"})
		tg := a.form(http.MethodPost, "/upstreams/up.internal/targets", "target=10.0.0.1:8080&weight=50").want(t, http.StatusCreated)
		wantMembers(t, tg, map[string]string{"target": `"10.0.0.1:8080"`, "weight": `50`, "upstream": `{"id":"` + up["id"].(string) + `"}`})
		def := a.create("/upstreams/up.internal/targets", map[string]any{"target": "10.0.0.2"})
		wantMembers(t, def, map[string]string{"target": `"10.0.0.2:8000"`, "weight": `100`})

		a.get("/upstreams/up.internal/targets/10.0.0.1:8080").want(t, http.StatusOK)
		a.get("/upstreams/up.internal/targets/10.0.0.2").want(t, http.StatusOK)
		a.get("/upstreams/"+up["id"].(string)+"/targets/"+tg["id"].(string)).want(t, http.StatusOK)
		a.get("/upstreams/other.internal/targets/10.0.0.1:8080").wantBody(t, http.StatusNotFound, `{"message":"Not found"}`)

		a.json(http.MethodPost, "/upstreams/up.internal/targets", map[string]any{"target": "10.0.0.1:8080"}).wantBody(t, http.StatusConflict,
			`{"code":5,"name":"unique constraint violation","message":"UNIQUE violation detected on '{target=\"10.0.0.1:8080\",upstream={id=\"`+up["id"].(string)+`\"}}'",
			  "fields":{"target":"10.0.0.1:8080","upstream":{"id":"`+up["id"].(string)+`"}}}`)

		r := a.json(http.MethodPatch, "/upstreams/up.internal/targets/10.0.0.1:8080", `{"weight":0}`).want(t, http.StatusOK)
		wantMembers(t, r, map[string]string{"weight": `0`, "target": `"10.0.0.1:8080"`})
		a.send(http.MethodDelete, "/upstreams/up.internal/targets/10.0.0.1:8080", "", nil).want(t, http.StatusNoContent)
		if got := ids(t, a.get("/upstreams/up.internal/targets").want(t, http.StatusOK)); !slices.Equal(got, []string{def["id"].(string)}) {
			t.Fatalf("targets after delete: %v", got)
		}
	})
}

func TestCertificateSNIs(t *testing.T) {
	a := newAPI(t)
	certPEM, keyPEM := selfSigned(t, "shop.example", false, true)
	cert := a.create("/certificates", map[string]any{"cert": certPEM, "key": keyPEM, "snis": []string{"shop.example", "a.shop.example"}})
	id := cert["id"].(string)
	wantMembers(t, cert, map[string]string{"snis": `["a.shop.example","shop.example"]`})
	otherCert, otherKey := selfSigned(t, "other.example", false, false)
	other := a.create("/certificates", map[string]any{"cert": otherCert, "key": otherKey})
	otherID := other["id"].(string)
	wantMembers(t, other, map[string]string{"snis": `[]`})

	snisOf := func(t *testing.T, certID string) string {
		t.Helper()
		return jsonOf(t, a.get("/certificates/"+certID).want(t, http.StatusOK)["snis"])
	}

	t.Run("nested snis", func(t *testing.T) {
		list := a.get("/certificates/"+id+"/snis").want(t, http.StatusOK)
		if got := ids(t, list); len(got) != 2 {
			t.Fatalf("snis of the certificate: %v", list)
		}
		sni := a.form(http.MethodPost, "/certificates/"+id+"/snis", "name=b.shop.example").want(t, http.StatusCreated)
		wantMembers(t, sni, map[string]string{"name": `"b.shop.example"`, "certificate": `{"id":"` + id + `"}`})
		if got := snisOf(t, id); got != `["a.shop.example","b.shop.example","shop.example"]` {
			t.Fatalf("snis after a nested create: %s", got)
		}
		a.get("/certificates/"+id+"/snis/b.shop.example").want(t, http.StatusOK)
		a.get("/certificates/shop.example/snis/b.shop.example").want(t, http.StatusOK)
		a.get("/snis/b.shop.example").want(t, http.StatusOK)
		a.get("/certificates/"+otherID+"/snis/b.shop.example").wantBody(t, http.StatusNotFound, `{"message":"Not found"}`)
		a.json(http.MethodPost, "/certificates/"+id+"/snis", map[string]any{"name": "shop.example"}).want(t, http.StatusConflict)
	})

	t.Run("wildcard sni", func(t *testing.T) {
		a.create("/snis", map[string]any{"name": "*.wild.example", "certificate": map[string]any{"id": otherID}})
		got := a.get("/snis/%2A.wild.example").want(t, http.StatusOK)
		wantMembers(t, got, map[string]string{"name": `"*.wild.example"`})
		a.get("/certificates/%2A.wild.example").want(t, http.StatusOK)
		a.send(http.MethodDelete, "/snis/%2A.wild.example", "", nil).want(t, http.StatusNoContent)
		a.get("/snis/%2A.wild.example").wantBody(t, http.StatusNotFound, `{"message":"Not found"}`)
	})

	t.Run("certificate in use", func(t *testing.T) {
		svc := a.create("/services", map[string]any{"name": "mtls", "url": "https://m.internal", "client_certificate": map[string]any{"id": id}})
		a.unchanged(t, []string{"/certificates", "/snis"}, func() {
			a.send(http.MethodDelete, "/certificates/shop.example", "", nil).wantBody(t, http.StatusBadRequest,
				`{"code":4,"name":"foreign key violation","message":"an existing 'services' entity references this 'certificates' entity","fields":{"@referenced_by":"services"}}`)
		})
		a.send(http.MethodDelete, "/services/"+svc["id"].(string), "", nil).want(t, http.StatusNoContent)
	})

	t.Run("by sni name", func(t *testing.T) {
		for _, name := range []string{"shop.example", "b.shop.example"} {
			got := a.get("/certificates/"+name).want(t, http.StatusOK)
			if got["id"] != id {
				t.Fatalf("GET /certificates/%s: %v", name, got["id"])
			}
		}
		watched := []string{"/certificates/" + id, "/certificates/" + otherID}
		for _, tt := range []struct{ method, path, body string }{
			{"GET", "/certificates/nope.example", ""},
			{"PATCH", "/certificates/nope.example", `{"tags":["x"]}`},
			{"DELETE", "/certificates/nope.example", ""},
			{"GET", "/certificates/nope.example/snis", ""},
			{"POST", "/certificates/nope.example/snis", `{"name":"new.example"}`},
		} {
			a.unchanged(t, watched, func() {
				a.json(tt.method, tt.path, tt.body).wantBody(t, http.StatusNotFound, `{"message":"SNI not found"}`)
			})
		}
	})

	t.Run("patch replaces the sni set", func(t *testing.T) {
		r := a.json(http.MethodPatch, "/certificates/"+id, map[string]any{"snis": []string{"shop.example", "c.shop.example"}}).want(t, http.StatusOK)
		wantMembers(t, r, map[string]string{"snis": `["c.shop.example","shop.example"]`, "cert": jsonOf(t, certPEM)})
		var names []string
		for _, e := range a.get("/snis").want(t, http.StatusOK)["data"].([]any) {
			names = append(names, e.(map[string]any)["name"].(string))
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"c.shop.example", "shop.example"}) {
			t.Fatalf("stored snis %v", names)
		}
		a.get("/snis/a.shop.example").wantBody(t, http.StatusNotFound, `{"message":"Not found"}`)
	})

	t.Run("patch without snis keeps them", func(t *testing.T) {
		r := a.json(http.MethodPatch, "/certificates/shop.example", map[string]any{"tags": []string{"edge"}}).want(t, http.StatusOK)
		wantMembers(t, r, map[string]string{"snis": `["c.shop.example","shop.example"]`, "tags": `["edge"]`})
	})

	refused := []struct {
		name, method, path, body string
		want                     string
	}{
		{"sni held by another certificate", "PATCH", "/certificates/" + otherID, `{"snis":["x.example","shop.example"]}`,
			`{"code":2,"name":"schema violation","message":"schema violation (snis: shop.example already associated with existing certificate '` + id + `')",
			  "fields":{"snis":"shop.example already associated with existing certificate '` + id + `'"}}`},
		{"new certificate with a held sni", "POST", "/certificates", jsonOf(t, map[string]any{"cert": otherCert, "key": otherKey, "snis": []string{"c.shop.example"}}),
			`{"code":2,"name":"schema violation","message":"schema violation (snis: c.shop.example already associated with existing certificate '` + id + `')",
			  "fields":{"snis":"c.shop.example already associated with existing certificate '` + id + `'"}}`},
		{"duplicated sni", "PATCH", "/certificates/" + otherID, `{"snis":["d.example","e.example","d.example"]}`,
			`{"code":2,"name":"schema violation","message":"schema violation (snis: d.example is duplicated)","fields":{"snis":"d.example is duplicated"}}`},
		{"invalid sni", "POST", "/certificates", jsonOf(t, map[string]any{"cert": otherCert, "key": otherKey, "snis": []string{"ok.example", "10.0.0.1"}}),
			`{"code":2,"name":"schema violation","message":"schema violation (snis[1]: must not be an IP (got \"10.0.0.1\"))","fields":{"snis":[null,"must not be an IP"]}}`},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			a.unchanged(t, []string{"/certificates", "/snis"}, func() {
				a.json(tt.method, tt.path, tt.body).wantBody(t, http.StatusBadRequest, tt.want)
			})
		})
	}

	t.Run("put by sni adds that sni", func(t *testing.T) {
		r := a.json(http.MethodPut, "/certificates/put.example", map[string]any{"cert": otherCert, "key": otherKey, "snis": []string{"put2.example"}}).
			want(t, http.StatusOK)
		wantMembers(t, r, map[string]string{"snis": `["put.example","put2.example"]`})
		putID := r["id"].(string)
		r = a.json(http.MethodPut, "/certificates/put.example", map[string]any{"cert": otherCert, "key": otherKey, "snis": []string{"put.example", "put3.example"}}).
			want(t, http.StatusOK)
		wantMembers(t, r, map[string]string{"id": `"` + putID + `"`, "snis": `["put.example","put3.example"]`})
		r = a.json(http.MethodPut, "/certificates/put3.example", map[string]any{"cert": otherCert, "key": otherKey}).want(t, http.StatusOK)
		wantMembers(t, r, map[string]string{"id": `"` + putID + `"`, "snis": `["put3.example"]`})
	})

	t.Run("put by id without snis removes them", func(t *testing.T) {
		r := a.json(http.MethodPut, "/certificates/"+id, map[string]any{"cert": certPEM, "key": keyPEM}).want(t, http.StatusOK)
		wantMembers(t, r, map[string]string{"snis": `[]`, "tags": `null`})
		a.get("/snis/shop.example").wantBody(t, http.StatusNotFound, `{"message":"Not found"}`)
	})

	t.Run("patch with null snis removes them", func(t *testing.T) {
		a.json(http.MethodPatch, "/certificates/"+otherID, map[string]any{"snis": []string{"n.example"}}).want(t, http.StatusOK)
		r := a.json(http.MethodPatch, "/certificates/"+otherID, `{"snis":null}`).want(t, http.StatusOK)
		if !strings.Contains(string(a.get("/certificates/"+otherID).raw), `"snis":[]`) {
			t.Errorf("snis not an empty array: %v", r)
		}
		a.get("/snis/n.example").wantBody(t, http.StatusNotFound, `{"message":"Not found"}`)
	})

	t.Run("delete by sni cascades", func(t *testing.T) {
		putID := a.get("/certificates/put3.example").want(t, http.StatusOK)["id"].(string)
		a.send(http.MethodDelete, "/certificates/put3.example", "", nil).want(t, http.StatusNoContent)
		a.get("/snis/put3.example").wantBody(t, http.StatusNotFound, `{"message":"Not found"}`)
		a.get("/certificates/"+putID).wantBody(t, http.StatusNotFound, `{"message":"Not found"}`)
	})
}
