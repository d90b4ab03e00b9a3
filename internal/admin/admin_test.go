package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/gantry-gw/gantry/internal/admin"
	"github.com/gantry-gw/gantry/internal/store"
)

// These tests drive the Admin API over HTTP the way curl scripts do, with
// the bodies and paths of Kong's documentation, against the real server
// over a real SQLite store, and check statuses and bodies member by member.

// api is a client of one test server.
type api struct {
	t    *testing.T
	base string
	http *http.Client
	st   *store.Store
}

func newAPI(t *testing.T) *api {
	t.Helper()
	srv, st := newServer(t)
	return &api{t: t, base: srv.URL, http: srv.Client(), st: st}
}

// response is one answer: its status, headers, raw body, and the body
// decoded as a JSON object when it is one.
type response struct {
	method, path string
	status       int
	header       http.Header
	raw          []byte
	body         map[string]any
}

// send makes one request; ctype "" sends no Content-Type.
func (a *api) send(method, path, ctype string, body []byte) *response {
	a.t.Helper()
	req, err := http.NewRequest(method, a.base+path, bytes.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := a.http.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		a.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	r := &response{method: method, path: path, status: res.StatusCode, header: res.Header, raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 {
		var m map[string]any
		if json.Unmarshal(raw, &m) == nil {
			r.body = m
		}
	}
	return r
}

// json sends v as a JSON body; a string is sent as it is.
func (a *api) json(method, path string, v any) *response {
	a.t.Helper()
	var data []byte
	switch t := v.(type) {
	case nil:
	case string:
		data = []byte(t)
	default:
		var err error
		if data, err = json.Marshal(v); err != nil {
			a.t.Fatal(err)
		}
	}
	return a.send(method, path, "application/json", data)
}

// form sends an application/x-www-form-urlencoded body written as curl's
// --data would send it.
func (a *api) form(method, path, form string) *response {
	a.t.Helper()
	return a.send(method, path, "application/x-www-form-urlencoded", []byte(form))
}

// multipart sends fields and files (name to content) as curl -F does.
func (a *api) multipart(method, path string, fields [][2]string, files map[string]string) *response {
	a.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			a.t.Fatal(err)
		}
	}
	for name, content := range files {
		fw, err := mw.CreateFormFile(name, name+".pem")
		if err != nil {
			a.t.Fatal(err)
		}
		io.WriteString(fw, content)
	}
	if err := mw.Close(); err != nil {
		a.t.Fatal(err)
	}
	return a.send(method, path, mw.FormDataContentType(), buf.Bytes())
}

func (a *api) get(path string) *response {
	a.t.Helper()
	return a.send(http.MethodGet, path, "", nil)
}

// version is the store's config version, which every write advances.
func (a *api) version() int64 {
	a.t.Helper()
	v, err := a.st.Version(context.Background())
	if err != nil {
		a.t.Fatal(err)
	}
	return v
}

// create POSTs a JSON body and returns the created entity.
func (a *api) create(path string, v any) map[string]any {
	a.t.Helper()
	return a.json(http.MethodPost, path, v).want(a.t, http.StatusCreated)
}

// want fails the test unless the status is status, and returns the body.
func (r *response) want(t *testing.T, status int) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", r.method, r.path, r.status, status, r.raw)
	}
	return r.body
}

// wantBody fails the test unless the status is status and the body is the
// JSON document want, member for member.
func (r *response) wantBody(t *testing.T, status int, want string) {
	t.Helper()
	r.want(t, status)
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation %s: %v", want, err)
	}
	var got any
	if err := json.Unmarshal(r.raw, &got); err != nil {
		t.Fatalf("%s %s: body is not JSON: %s", r.method, r.path, r.raw)
	}
	if !reflect.DeepEqual(got, w) {
		t.Fatalf("%s %s: body\n%s\nwant\n%s", r.method, r.path, r.raw, want)
	}
}

// jsonOf renders v as JSON, for expectations built from earlier answers.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// sameJSON reports whether two decoded bodies are equal.
func sameJSON(a, b any) bool { return reflect.DeepEqual(a, b) }

// member returns the value at a dotted path ("healthchecks.active.type")
// of a decoded body.
func member(t *testing.T, body map[string]any, path string) any {
	t.Helper()
	var cur any = body
	for _, step := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("%s: %q is not an object in %v", path, step, body)
		}
		if cur, ok = m[step]; !ok {
			t.Fatalf("%s: no member %q in %v", path, step, body)
		}
	}
	return cur
}

// wantMembers checks members of body given as dotted paths against values
// written as JSON.
func wantMembers(t *testing.T, body map[string]any, want map[string]string) {
	t.Helper()
	for path, js := range want {
		var w any
		if err := json.Unmarshal([]byte(js), &w); err != nil {
			t.Fatalf("bad expectation %s: %v", js, err)
		}
		if got := member(t, body, path); !reflect.DeepEqual(got, w) {
			gotJSON, _ := json.Marshal(got)
			t.Errorf("%s = %s, want %s", path, gotJSON, js)
		}
	}
}

// unchanged runs a refused request and checks that it wrote nothing: the
// config version stays and every entity at paths reads as before.
func (a *api) unchanged(t *testing.T, paths []string, refused func()) {
	t.Helper()
	before := map[string]string{}
	for _, p := range paths {
		before[p] = string(a.get(p).raw)
	}
	v := a.version()
	refused()
	if got := a.version(); got != v {
		t.Errorf("config version %d after a refused write, want %d", got, v)
	}
	for _, p := range paths {
		if got := string(a.get(p).raw); got != before[p] {
			t.Errorf("GET %s after a refused write:\n%s\nbefore:\n%s", p, got, before[p])
		}
	}
}

func TestFormBodies(t *testing.T) {
	a := newAPI(t)

	svc := a.form(http.MethodPost, "/services", "name=billing&url=http://billing.internal").want(t, http.StatusCreated)
	wantMembers(t, svc, map[string]string{
		"name": `"billing"`, "protocol": `"http"`, "host": `"billing.internal"`, "port": `80`, "path": `null`,
	})

	typed := a.form(http.MethodPost, "/services", "name=typed&host=h.internal&port=8080&retries=3&enabled=false&tls_verify=true&protocol=https").
		want(t, http.StatusCreated)
	wantMembers(t, typed, map[string]string{
		"port": `8080`, "retries": `3`, "enabled": `false`, "tls_verify": `true`,
	})

	tests := []struct {
		name string
		form string
		want map[string]string
	}{
		{"brackets", "name=r1&paths[]=/a&paths[]=/b", map[string]string{"paths": `["/a","/b"]`}},
		{"repeated keys", "name=r2&paths=/a&paths=/b&methods=GET&methods=POST", map[string]string{
			"paths": `["/a","/b"]`, "methods": `["GET","POST"]`}},
		{"single value for an array", "name=r0&paths=/a", map[string]string{"paths": `["/a"]`}},
		{"indexed", "name=r3&paths[1]=/a", map[string]string{"paths": `["/a"]`}},
		{"array of records", "name=r8&protocols[]=tcp&sources[1].ip=10.0.0.1&sources[1].port=80&sources[2].ip=10.0.0.2",
			map[string]string{"sources": `[{"ip":"10.0.0.1","port":80},{"ip":"10.0.0.2","port":null}]`, "protocols": `["tcp"]`}},
		{"indexes out of order", "name=r4&paths[2]=/b&paths[1]=/a", map[string]string{"paths": `["/a","/b"]`}},
		{"nested header", "name=r5&headers.x-env=prod", map[string]string{"headers": `{"x-env":["prod"]}`}},
		{"service by id and typed members", "name=r6&paths[]=/r6&service.id=" + svc["id"].(string) + "&strip_path=false&regex_priority=7",
			map[string]string{"service": `{"id":"` + svc["id"].(string) + `"}`, "strip_path": `false`, "regex_priority": `7`}},
		{"service by name", "name=r7&paths[]=/r7&service.name=billing", map[string]string{"service": `{"id":"` + svc["id"].(string) + `"}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.form(http.MethodPost, "/routes", tt.form).want(t, http.StatusCreated)
			wantMembers(t, r, tt.want)
		})
	}

	t.Run("plugin config", func(t *testing.T) {
		p := a.form(http.MethodPost, "/services/billing/plugins", "name=rate-limiting&config.minute=5&config.policy=local&protocols[]=http").
			want(t, http.StatusCreated)
		// Gantry has no per-plugin config schema yet, so a form's config
		// values stay as sent; Kong would make minute the number 5.
		wantMembers(t, p, map[string]string{
			"config":     `{"minute":"5","policy":"local"}`,
			"protocols":  `["http"]`,
			"service.id": `"` + svc["id"].(string) + `"`,
		})
	})

	t.Run("nested arrays", func(t *testing.T) {
		p := a.form(http.MethodPost, "/plugins", "name=request-transformer&config.m[1][1]=a&config.m[1][2]=b&config.m[2][1]=c").
			want(t, http.StatusCreated)
		wantMembers(t, p, map[string]string{"config": `{"m":[["a","b"],["c"]]}`})
	})

	t.Run("upstream healthchecks", func(t *testing.T) {
		u := a.form(http.MethodPost, "/upstreams", "name=up.internal&healthchecks.active.healthy.interval=5&healthchecks.active.unhealthy.http_failures=3&slots=100").
			want(t, http.StatusCreated)
		wantMembers(t, u, map[string]string{
			"healthchecks.active.healthy.interval":         `5`,
			"healthchecks.active.healthy.successes":        `0`,
			"healthchecks.active.unhealthy.http_failures":  `3`,
			"healthchecks.active.type":                     `"http"`,
			"healthchecks.passive.unhealthy.http_statuses": `[429,500,503]`,
			"slots": `100`,
		})
	})

	t.Run("coercion failure", func(t *testing.T) {
		a.form(http.MethodPost, "/services", "name=bad&host=h&port=eighty").wantBody(t, http.StatusBadRequest,
			`{"code":2,"name":"schema violation","message":"schema violation (port: expected an integer (got \"eighty\"))","fields":{"port":"expected an integer"}}`)
	})
}

func TestMultipartCertificate(t *testing.T) {
	a := newAPI(t)
	certPEM, keyPEM := selfSigned(t, "shop.example", false, false)

	r := a.multipart(http.MethodPost, "/certificates",
		[][2]string{{"snis[]", "shop.example"}, {"snis[]", "www.shop.example"}, {"tags[]", "edge"}},
		map[string]string{"cert": certPEM, "key": keyPEM})
	cert := r.want(t, http.StatusCreated)
	if cert["cert"] != certPEM || cert["key"] != keyPEM {
		t.Fatalf("file parts not stored as sent: %v", cert)
	}
	wantMembers(t, cert, map[string]string{"snis": `["shop.example","www.shop.example"]`, "tags": `["edge"]`})

	got := a.get("/certificates/shop.example").want(t, http.StatusOK)
	if got["id"] != cert["id"] {
		t.Fatalf("GET by SNI: id %v, want %v", got["id"], cert["id"])
	}

	t.Run("missing key part", func(t *testing.T) {
		a.multipart(http.MethodPost, "/certificates", nil, map[string]string{"cert": certPEM}).wantBody(t, http.StatusBadRequest,
			`{"code":2,"name":"schema violation","message":"schema violation (key: required field missing)","fields":{"key":"required field missing"}}`)
	})
}

func TestJSONBodies(t *testing.T) {
	a := newAPI(t)
	tests := []struct {
		name   string
		ctype  string
		body   string
		status int
		// prefix of the message a refusal carries
		message string
	}{
		{"object", "application/json", `{"name":"a","host":"a.internal"}`, http.StatusCreated, ""},
		{"no content type is JSON", "", `{"name":"b","host":"b.internal"}`, http.StatusCreated, ""},
		{"charset parameter", "application/json; charset=utf-8", `{"name":"c","host":"c.internal"}`, http.StatusCreated, ""},
		{"malformed", "application/json", `{"name":"d",`, http.StatusBadRequest, "Cannot parse JSON body"},
		{"not JSON at all", "application/json", `name=e`, http.StatusBadRequest, "Cannot parse JSON body"},
		{"array", "application/json", `[{"name":"f","host":"f.internal"}]`, http.StatusBadRequest, "Cannot parse JSON body"},
		{"string", "application/json", `"g"`, http.StatusBadRequest, "Cannot parse JSON body"},
		{"second object", "application/json", `{"name":"h","host":"h.internal"} {"name":"i"}`, http.StatusBadRequest, "Cannot parse JSON body"},
		{"trailing garbage", "application/json", `{"name":"j","host":"j.internal"} x`, http.StatusBadRequest, "Cannot parse JSON body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r *response
			v := a.version()
			r = a.send(http.MethodPost, "/services", tt.ctype, []byte(tt.body))
			body := r.want(t, tt.status)
			if tt.status != http.StatusCreated {
				msg, _ := body["message"].(string)
				if !strings.HasPrefix(msg, tt.message) {
					t.Errorf("message %q, want it to start with %q", msg, tt.message)
				}
				if a.version() != v {
					t.Errorf("a refused body changed the config version")
				}
			}
		})
	}

	t.Run("empty body", func(t *testing.T) {
		for _, ctype := range []string{"", "application/json", "application/x-www-form-urlencoded"} {
			a.send(http.MethodPost, "/services", ctype, nil).wantBody(t, http.StatusBadRequest,
				`{"code":2,"name":"schema violation","message":"schema violation (host: required field missing)","fields":{"host":"required field missing"}}`)
		}
	})

	t.Run("too large", func(t *testing.T) {
		v := a.version()
		big := `{"name":"big","host":"big.internal","tags":["` + strings.Repeat("x", 5<<20) + `"]}`
		r := a.json(http.MethodPost, "/services", big)
		r.wantBody(t, http.StatusRequestEntityTooLarge, `{"message":"request body too large"}`)
		if a.version() != v {
			t.Errorf("a refused body changed the config version")
		}
	})
}

// TestErrors checks Kong's error bodies, and that no refused write changes
// anything.
func TestErrors(t *testing.T) {
	a := newAPI(t)
	svc := a.create("/services", map[string]any{"name": "svc", "host": "svc.internal"})
	other := a.create("/services", map[string]any{"name": "other", "host": "other.internal"})
	route := a.create("/services/svc/routes", map[string]any{"name": "r1", "paths": []string{"/r1"}})
	a.create("/consumers", map[string]any{"username": "alice"})
	missing := "6b3b6f44-5bd5-4b61-9ee6-9ad9d4a0e3a4"
	watched := []string{"/services/svc", "/services/other", "/routes/r1", "/consumers/alice"}

	tests := []struct {
		name   string
		method string
		path   string
		body   string
		status int
		want   string
	}{
		{"unknown field", "POST", "/services", `{"name":"n","host":"h","foo":1}`, 400,
			`{"code":2,"name":"schema violation","message":"schema violation (foo: unknown field)","fields":{"foo":"unknown field"}}`},
		{"several errors", "POST", "/services", `{"name":"n","port":70000,"protocol":"ftp"}`, 400,
			`{"code":2,"name":"schema violation",
			  "message":"3 schema violations (host: required field missing; port: value should be between 0 and 65535 (got 70000); protocol: expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp, ws, wss (got \"ftp\"))",
			  "fields":{"host":"required field missing","port":"value should be between 0 and 65535","protocol":"expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp, ws, wss"}}`},
		{"dangling service id", "POST", "/routes", `{"paths":["/x"],"service":{"id":"` + missing + `"}}`, 400,
			`{"code":4,"name":"foreign key violation","message":"the foreign key '{id=\"` + missing + `\"}' does not reference an existing 'services' entity.","fields":{"service":{"id":"` + missing + `"}}}`},
		{"dangling service name", "POST", "/routes", `{"paths":["/x"],"service":{"name":"nope"}}`, 400,
			`{"code":4,"name":"foreign key violation","message":"the foreign key '{name=\"nope\"}' does not reference an existing 'services' entity.","fields":{"service":{"name":"nope"}}}`},
		{"unique name on create", "POST", "/services", `{"name":"svc","host":"h"}`, 409,
			`{"code":5,"name":"unique constraint violation","message":"UNIQUE violation detected on '{name=\"svc\"}'","fields":{"name":"svc"}}`},
		{"unique name on patch", "PATCH", "/services/other", `{"name":"svc"}`, 409,
			`{"code":5,"name":"unique constraint violation","message":"UNIQUE violation detected on '{name=\"svc\"}'","fields":{"name":"svc"}}`},
		{"unique username", "POST", "/consumers", `{"username":"alice"}`, 409,
			`{"code":5,"name":"unique constraint violation","message":"UNIQUE violation detected on '{username=\"alice\"}'","fields":{"username":"alice"}}`},
		{"invalid patch", "PATCH", "/services/svc", `{"port":-1}`, 400,
			`{"code":2,"name":"schema violation","message":"schema violation (port: value should be between 0 and 65535 (got -1))","fields":{"port":"value should be between 0 and 65535"}}`},
		{"patch to a dangling service", "PATCH", "/routes/r1", `{"service":{"id":"` + missing + `"}}`, 400,
			`{"code":4,"name":"foreign key violation","message":"the foreign key '{id=\"` + missing + `\"}' does not reference an existing 'services' entity.","fields":{"service":{"id":"` + missing + `"}}}`},
		{"invalid put", "PUT", "/services/svc", `{"port":1}`, 400,
			`{"code":2,"name":"schema violation","message":"schema violation (host: required field missing)","fields":{"host":"required field missing"}}`},
		{"delete a referenced service", "DELETE", "/services/svc", ``, 400,
			`{"code":4,"name":"foreign key violation","message":"an existing 'routes' entity references this 'services' entity","fields":{"@referenced_by":"routes"}}`},
		{"delete a referenced service by id", "DELETE", "/services/" + svc["id"].(string), ``, 400,
			`{"code":4,"name":"foreign key violation","message":"an existing 'routes' entity references this 'services' entity","fields":{"@referenced_by":"routes"}}`},
		{"get unknown id", "GET", "/services/" + missing, ``, 404, `{"message":"Not found"}`},
		{"get unknown name", "GET", "/services/nope", ``, 404, `{"message":"Not found"}`},
		{"get unknown route", "GET", "/routes/nope", ``, 404, `{"message":"Not found"}`},
		{"get unknown certificate id", "GET", "/certificates/" + missing, ``, 404, `{"message":"Not found"}`},
		{"get unknown certificate sni", "GET", "/certificates/nope.example", ``, 404, `{"message":"SNI not found"}`},
		{"delete unknown certificate sni", "DELETE", "/certificates/nope.example", ``, 404, `{"message":"SNI not found"}`},
		// Kong answers writes to a missing entity with the DAO's error.
		{"patch unknown id", "PATCH", "/services/" + missing, `{"retries":1}`, 404,
			`{"code":6,"name":"not found","message":"could not find the entity with primary key '{id=\"` + missing + `\"}'","fields":{"id":"` + missing + `"}}`},
		{"patch unknown name", "PATCH", "/services/nope", `{"retries":1}`, 404,
			`{"code":6,"name":"not found","message":"could not find the entity with '{name=\"nope\"}'","fields":{"name":"nope"}}`},
		{"unknown path", "GET", "/nothing-here", ``, 404, `{"message":"Not found"}`},
		{"unknown nested path", "GET", "/services/svc/nothing", ``, 404, `{"message":"Not found"}`},
		{"wrong method on a collection", "DELETE", "/services", ``, 405, `{"message":"Method not allowed"}`},
		{"wrong method on an item", "POST", "/services/svc", `{}`, 405, `{"message":"Method not allowed"}`},
		{"wrong method on /status", "POST", "/status", ``, 405, `{"message":"Method not allowed"}`},
		{"wrong method on /", "DELETE", "/", ``, 405, `{"message":"Method not allowed"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.unchanged(t, watched, func() {
				a.json(tt.method, tt.path, tt.body).wantBody(t, tt.status, tt.want)
			})
		})
	}

	t.Run("delete unknown", func(t *testing.T) {
		// Top-level only: below a parent, Kong answers a missing child 404.
		for _, p := range []string{"/services/" + missing, "/services/nope", "/routes/nope", "/key-auths/nope", "/certificates/" + missing, "/upstreams/" + missing} {
			a.unchanged(t, watched, func() {
				r := a.send(http.MethodDelete, p, "", nil)
				if r.want(t, http.StatusNoContent); len(r.raw) != 0 {
					t.Errorf("DELETE %s: 204 with a body %q", p, r.raw)
				}
			})
		}
	})

	t.Run("reference by name", func(t *testing.T) {
		r := a.create("/routes", map[string]any{"name": "by-name", "paths": []string{"/n"}, "service": map[string]any{"name": "other"}})
		wantMembers(t, r, map[string]string{"service": `{"id":"` + other["id"].(string) + `"}`})
		stored := a.get("/routes/by-name").want(t, http.StatusOK)
		wantMembers(t, stored, map[string]string{"service": `{"id":"` + other["id"].(string) + `"}`})
	})

	t.Run("route kept its service", func(t *testing.T) {
		got := a.get("/routes/"+route["id"].(string)).want(t, http.StatusOK)
		wantMembers(t, got, map[string]string{"service.id": `"` + svc["id"].(string) + `"`})
	})
}

func TestRootAndStatus(t *testing.T) {
	info := admin.NodeInfo{
		Version: "3.10.0", GantryVersion: "0.1.0-test", Hostname: "cp-1", Role: "control_plane",
		NodeID:        "2c4ef0a4-3f5b-4d56-8b0e-0c7d1f0b9a11",
		Configuration: map[string]any{"role": "control_plane", "admin_listen": []any{"127.0.0.1:8001"}},
	}
	srv, st := newServerWith(t, info)
	a := &api{t: t, base: srv.URL, http: srv.Client(), st: st}

	root := a.get("/").want(t, http.StatusOK)
	wantMembers(t, root, map[string]string{
		"version":                    `"3.10.0"`,
		"gantry_version":             `"0.1.0-test"`,
		"node_id":                    `"2c4ef0a4-3f5b-4d56-8b0e-0c7d1f0b9a11"`,
		"hostname":                   `"cp-1"`,
		"role":                       `"control_plane"`,
		"configuration":              `{"role":"control_plane","admin_listen":["127.0.0.1:8001"]}`,
		"plugins.enabled_in_cluster": `[]`,
		"plugins.available_on_server.key-auth.priority": `1250`,
		"plugins.available_on_server.key-auth.version":  `"0.1.0-test"`,
	})
	available := member(t, root, "plugins.available_on_server").(map[string]any)
	for _, name := range []string{"rate-limiting", "key-auth", "cors", "prometheus", "jwt", "acl"} {
		if _, ok := available[name]; !ok {
			t.Errorf("plugin %s not in available_on_server", name)
		}
	}

	a.create("/plugins", map[string]any{"name": "cors"})
	a.create("/plugins", map[string]any{"name": "prometheus"})
	root = a.get("/").want(t, http.StatusOK)
	wantMembers(t, root, map[string]string{"plugins.enabled_in_cluster": `["cors","prometheus"]`})

	status := func() map[string]any { return a.get("/status").want(t, http.StatusOK) }
	first := status()
	wantMembers(t, first, map[string]string{"database.reachable": `true`})
	for i := 0; i < 3; i++ {
		a.get("/services")
	}
	// A second connection, as another client would open.
	other := &http.Client{Transport: &http.Transport{}}
	res, err := other.Get(srv.URL + "/status")
	must(t, err)
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	other.CloseIdleConnections()

	second := status()
	n1 := member(t, first, "server.total_requests").(float64)
	n2 := member(t, second, "server.total_requests").(float64)
	if n2 != n1+5 {
		t.Errorf("total_requests went from %v to %v over 5 requests", n1, n2)
	}
	c1 := member(t, first, "server.connections_accepted").(float64)
	c2 := member(t, second, "server.connections_accepted").(float64)
	if c1 < 1 || c2 <= c1 {
		t.Errorf("connections_accepted went from %v to %v over a new connection", c1, c2)
	}
	if active := member(t, second, "server.connections_active").(float64); active < 1 {
		t.Errorf("connections_active %v while a request is being served", active)
	}
}

// TestStatusDatabaseDown checks that GET /status reports a store that no
// longer answers, and still answers itself.
func TestStatusDatabaseDown(t *testing.T) {
	a := newAPI(t)
	wantMembers(t, a.get("/status").want(t, http.StatusOK), map[string]string{"database.reachable": `true`})
	must(t, a.st.Close())
	wantMembers(t, a.get("/status").want(t, http.StatusOK), map[string]string{"database.reachable": `false`})
}
