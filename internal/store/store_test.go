package store_test

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-gw/gantry/internal/declarative"
	"github.com/gantry-gw/gantry/internal/entity"
	"github.com/gantry-gw/gantry/internal/pki"
	"github.com/gantry-gw/gantry/internal/store"
	"github.com/gantry-gw/gantry/internal/store/sqlite"
)

// obj keeps entity inputs short.
type obj = map[string]any

// openStore returns a Store over a new SQLite backend in a temporary
// directory, closed when the test ends.
func openStore(t *testing.T) *store.Store {
	t.Helper()
	b, err := sqlite.Open(filepath.Join(t.TempDir(), "gantry.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(b)
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return st
}

// fakeClock is a clock the test moves by hand (see store.SetClock).
type fakeClock struct{ now int64 }

func (c *fakeClock) time() time.Time   { return time.Unix(c.now, 0) }
func (c *fakeClock) advance(sec int64) { c.now += sec }

// withClock returns a new store stamping times from a fake clock.
func withClock(t *testing.T) (*store.Store, *fakeClock) {
	st := openStore(t)
	c := &fakeClock{now: 1_700_000_000}
	store.SetClock(st, c.time)
	return st, c
}

// write runs fn in one Update, failing the test if it fails, and returns
// the version after it.
func write(t *testing.T, st *store.Store, fn func(*store.Tx) error) int64 {
	t.Helper()
	v, err := st.Update(t.Context(), fn)
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	return v
}

func insert(t *testing.T, st *store.Store, s *entity.Schema, in obj) entity.Entity {
	t.Helper()
	var e entity.Entity
	write(t, st, func(tx *store.Tx) error {
		var err error
		e, err = tx.Insert(s, in, store.WriteOptions{})
		return err
	})
	return e
}

func get(t *testing.T, st *store.Store, s *entity.Schema, idOrKey string, scope *store.Scope) (entity.Entity, error) {
	t.Helper()
	var e entity.Entity
	err := st.View(t.Context(), func(tx *store.Tx) error {
		var err error
		e, err = tx.Get(s, idOrKey, scope)
		return err
	})
	return e, err
}

func mustGet(t *testing.T, st *store.Store, s *entity.Schema, idOrKey string) entity.Entity {
	t.Helper()
	e, err := get(t, st, s, idOrKey, nil)
	if err != nil {
		t.Fatalf("get %s %s: %v", s.Name, idOrKey, err)
	}
	return e
}

func version(t *testing.T, st *store.Store) int64 {
	t.Helper()
	v, err := st.Version(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func changesSince(t *testing.T, st *store.Store, since int64) []store.Change {
	t.Helper()
	c, err := st.Changes(t.Context(), since, 0)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wantStoreError checks that err is a *store.Error with code and fields.
func wantStoreError(t *testing.T, err error, code int, fields map[string]any) *store.Error {
	t.Helper()
	var se *store.Error
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T), want a *store.Error with code %d", err, err, code)
	}
	if se.Code != code || !reflect.DeepEqual(se.Fields, fields) {
		t.Fatalf("error code %d fields %#v (%q), want code %d fields %#v", se.Code, se.Fields, se.Message, code, fields)
	}
	return se
}

// refuse runs fn in an Update that must fail with a *store.Error of code
// and fields, and checks that the version and change log did not move.
func refuse(t *testing.T, st *store.Store, fn func(*store.Tx) error, code int, fields map[string]any) *store.Error {
	t.Helper()
	before := version(t, st)
	v, err := st.Update(t.Context(), fn)
	se := wantStoreError(t, err, code, fields)
	if after := version(t, st); after != before {
		t.Fatalf("version moved from %d to %d after a refused update", before, after)
	}
	if v != 0 {
		t.Fatalf("refused update returned version %d", v)
	}
	if c := changesSince(t, st, before); len(c) != 0 {
		t.Fatalf("refused update logged changes %v", c)
	}
	return se
}

// Certificates the tests make, once per run.
var testPEM = sync.OnceValue(func() (pems struct{ cert, key, ca string }) {
	issue := func(isCA bool) *pki.KeyPair {
		kp, err := pki.Issue(pki.Template{CommonName: "gantry store test", IsCA: isCA, NotAfter: time.Now().Add(24 * time.Hour)}, nil)
		if err != nil {
			panic(err)
		}
		return kp
	}
	leaf := issue(false)
	pems.cert, pems.key = string(leaf.CertPEM), string(leaf.KeyPEM)
	pems.ca = string(issue(true).CertPEM)
	return pems
})

// id is the fixed id of the seed entity labelled label.
func id(label string) string { return entity.StableID("store_test", label) }

// seedEntity is one entity of the seed, with the schema it belongs to;
// references are given in every accepted form (by id, by endpoint key).
type seedEntity struct {
	label string
	s     *entity.Schema
	in    obj
}

func seedEntities() []seedEntity {
	p := testPEM()
	return []seedEntity{
		{"ca", entity.CACertificates, obj{"cert": p.ca}},
		{"cert", entity.Certificates, obj{"cert": p.cert, "key": p.key}},
		{"sni-a", entity.SNIs, obj{"name": "a.example.com", "certificate": obj{"id": id("cert")}}},
		{"sni-b", entity.SNIs, obj{"name": "b.example.com", "certificate": obj{"id": id("cert")}}},
		{"svc", entity.Services, obj{"name": "svc", "host": "svc.internal"}},
		{"tls-svc", entity.Services, obj{"name": "tls-svc", "protocol": "https", "host": "tls.internal",
			"client_certificate": obj{"id": id("cert")}, "ca_certificates": []any{id("ca")}}},
		{"lone", entity.Services, obj{"name": "lone", "host": "lone.internal"}},
		{"route", entity.Routes, obj{"name": "route", "paths": []any{"/r"}, "service": obj{"name": "svc"}}},
		{"route-plugin", entity.Plugins, obj{"name": "key-auth", "route": obj{"name": "route"}}},
		{"svc-plugin", entity.Plugins, obj{"name": "rate-limiting", "instance_name": "svc-limit",
			"service": obj{"name": "svc"}, "config": obj{"minute": 10, "policy": "local"}}},
		{"lone-plugin", entity.Plugins, obj{"name": "cors", "service": obj{"id": id("lone")}}},
		{"global-plugin", entity.Plugins, obj{"name": "prometheus"}},
		{"alice", entity.Consumers, obj{"username": "alice", "custom_id": "alice-001"}},
		{"bob", entity.Consumers, obj{"username": "bob"}},
		{"alice-key", entity.KeyAuthCredentials, obj{"consumer": obj{"username": "alice"}, "key": "alice-key"}},
		{"bob-key", entity.KeyAuthCredentials, obj{"consumer": obj{"id": id("bob")}, "key": "bob-key"}},
		{"alice-basic", entity.BasicAuthCredentials, obj{"consumer": obj{"username": "alice"}, "username": "alice", "password": "s3cret"}},
		{"alice-jwt", entity.JWTSecrets, obj{"consumer": obj{"username": "alice"}, "key": "alice-issuer"}},
		{"alice-acl", entity.ACLs, obj{"consumer": obj{"username": "alice"}, "group": "admins"}},
		{"bob-acl", entity.ACLs, obj{"consumer": obj{"username": "bob"}, "group": "admins"}},
		{"alice-plugin", entity.Plugins, obj{"name": "rate-limiting", "consumer": obj{"username": "alice"}, "config": obj{"minute": 100}}},
		{"alice-route-plugin", entity.Plugins, obj{"name": "request-size-limiting", "route": obj{"id": id("route")}, "consumer": obj{"id": id("alice")}}},
		{"up", entity.Upstreams, obj{"name": "up.internal"}},
		{"up2", entity.Upstreams, obj{"name": "up2.internal"}},
		{"t1", entity.Targets, obj{"upstream": obj{"name": "up.internal"}, "target": "10.0.0.1"}},
		{"t2", entity.Targets, obj{"upstream": obj{"id": id("up")}, "target": "10.0.0.2:8080"}},
	}
}

// seed returns a store holding seedEntities, written in one Update
// (version 1), and the schema of each label.
func seed(t *testing.T) (*store.Store, map[string]*entity.Schema) {
	t.Helper()
	st := openStore(t)
	schemas := map[string]*entity.Schema{}
	v := write(t, st, func(tx *store.Tx) error {
		for _, se := range seedEntities() {
			in := obj{"id": id(se.label)}
			for k, v := range se.in {
				in[k] = v
			}
			if _, err := tx.Insert(se.s, in, store.WriteOptions{}); err != nil {
				return fmt.Errorf("seed %s: %w", se.label, err)
			}
			schemas[se.label] = se.s
		}
		return nil
	})
	if v != 1 {
		t.Fatalf("seed version %d, want 1", v)
	}
	return st, schemas
}

func TestInsertFillsDefaultsAndTimestamps(t *testing.T) {
	st := openStore(t)
	svc := insert(t, st, entity.Services, obj{"name": "svc", "host": "svc.internal"})
	consumer := insert(t, st, entity.Consumers, obj{"username": "alice"})
	tests := []struct {
		name  string
		s     *entity.Schema
		in    obj
		want  obj      // fields that must hold exactly these values
		unset []string // fields that must be null
	}{
		{"service", entity.Services, obj{"name": "orders", "host": "orders.internal"},
			obj{"protocol": "http", "port": int64(80), "retries": int64(5), "connect_timeout": int64(60000),
				"write_timeout": int64(60000), "read_timeout": int64(60000), "enabled": true},
			[]string{"path", "tags", "client_certificate", "tls_verify"}},
		{"route", entity.Routes, obj{"paths": []any{"/x"}, "service": obj{"id": svc.ID()}},
			obj{"protocols": []any{"http", "https"}, "https_redirect_status_code": int64(426), "regex_priority": int64(0),
				"strip_path": true, "path_handling": "v0", "preserve_host": false, "request_buffering": true,
				"response_buffering": true, "service": obj{"id": svc.ID()}},
			[]string{"name", "hosts", "methods"}},
		{"upstream", entity.Upstreams, obj{"name": "up.internal"},
			obj{"algorithm": "round-robin", "hash_on": "none", "hash_fallback": "none", "slots": int64(10000),
				"hash_on_cookie_path": "/", "use_srv_name": false},
			[]string{"host_header", "client_certificate"}},
		{"target", entity.Targets, obj{"upstream": obj{"name": "up.internal"}, "target": "10.0.0.1"},
			obj{"target": "10.0.0.1:8000", "weight": int64(100)}, nil},
		{"plugin", entity.Plugins, obj{"name": "prometheus"},
			obj{"config": obj{}, "enabled": true, "protocols": []any{"grpc", "grpcs", "http", "https"}},
			[]string{"route", "service", "consumer", "instance_name"}},
		{"jwt secret", entity.JWTSecrets, obj{"consumer": obj{"id": consumer.ID()}, "key": "iss"},
			obj{"algorithm": "HS256", "key": "iss"}, []string{"rsa_public_key"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := time.Now().Unix()
			e := insert(t, st, tc.s, tc.in)
			after := time.Now().Unix()
			if !entity.IsUUID(e.ID()) {
				t.Fatalf("id %q is not a UUID", e.ID())
			}
			created, ok := e["created_at"].(int64)
			if !ok || created < before || created > after {
				t.Fatalf("created_at %v, want a time between %d and %d", e["created_at"], before, after)
			}
			if tc.s.Field("updated_at") != nil && e["updated_at"] != e["created_at"] {
				t.Fatalf("updated_at %v, want created_at %v", e["updated_at"], e["created_at"])
			}
			for k, want := range tc.want {
				if !reflect.DeepEqual(e[k], want) {
					t.Errorf("%s = %#v, want %#v", k, e[k], want)
				}
			}
			for _, k := range tc.unset {
				if v, ok := e[k]; !ok || v != nil {
					t.Errorf("%s = %#v (present %v), want null", k, v, ok)
				}
			}
			// Compared as JSON: a whole number in a Number field (an
			// upstream's healthcheck timeout) comes back as an int64.
			stored := mustGet(t, st, tc.s, e.ID())
			if got, want := asJSON(t, stored), asJSON(t, e); got != want {
				t.Fatalf("stored entity differs from the one Insert returned:\n got %s\nwant %s", got, want)
			}
		})
	}
}

func asJSON(t *testing.T, e entity.Entity) string {
	t.Helper()
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestInsertGeneratesValues(t *testing.T) {
	st := openStore(t)
	c := insert(t, st, entity.Consumers, obj{"username": "alice"})
	hex32 := func(v any) bool {
		s, _ := v.(string)
		_, err := hex.DecodeString(s)
		return len(s) == 32 && err == nil
	}
	k1 := insert(t, st, entity.KeyAuthCredentials, obj{"consumer": obj{"id": c.ID()}})
	k2 := insert(t, st, entity.KeyAuthCredentials, obj{"consumer": obj{"id": c.ID()}})
	if !hex32(k1["key"]) || !hex32(k2["key"]) || k1["key"] == k2["key"] {
		t.Fatalf("generated keys %v and %v, want two different 32-hex keys", k1["key"], k2["key"])
	}
	given := insert(t, st, entity.KeyAuthCredentials, obj{"consumer": obj{"id": c.ID()}, "key": "mine"})
	if given["key"] != "mine" {
		t.Fatalf("given key replaced by %v", given["key"])
	}
	jwt := insert(t, st, entity.JWTSecrets, obj{"consumer": obj{"id": c.ID()}})
	if !hex32(jwt["key"]) || !hex32(jwt["secret"]) {
		t.Fatalf("jwt key %v secret %v, want generated", jwt["key"], jwt["secret"])
	}
}

func TestBasicAuthPasswordHashing(t *testing.T) {
	st := openStore(t)
	c := insert(t, st, entity.Consumers, obj{"username": "alice"})
	digest := func(pw string) string {
		sum := sha1.Sum([]byte(pw + c.ID()))
		return hex.EncodeToString(sum[:])
	}
	cred := insert(t, st, entity.BasicAuthCredentials, obj{"consumer": obj{"username": "alice"}, "username": "al", "password": "s3cret"})
	steps := []struct {
		name  string
		patch obj
		want  string
	}{
		{"insert hashes", nil, digest("s3cret")},
		{"patch without password keeps the hash", obj{"tags": []any{"x"}}, digest("s3cret")},
		{"patch with a new password hashes it", obj{"password": "n3w"}, digest("n3w")},
		{"patch of the username keeps the hash", obj{"username": "alice"}, digest("n3w")},
	}
	for _, step := range steps {
		if step.patch != nil {
			write(t, st, func(tx *store.Tx) error {
				_, err := tx.Patch(entity.BasicAuthCredentials, cred.ID(), step.patch, store.WriteOptions{})
				return err
			})
		}
		if got := mustGet(t, st, entity.BasicAuthCredentials, cred.ID())["password"]; got != step.want {
			t.Fatalf("%s: stored password %v, want %s", step.name, got, step.want)
		}
	}
	// PUT gives the password again: hashed once, not the stored hash hashed.
	write(t, st, func(tx *store.Tx) error {
		_, _, err := tx.Upsert(entity.BasicAuthCredentials, cred.ID(),
			obj{"consumer": obj{"id": c.ID()}, "username": "alice", "password": "put"}, store.WriteOptions{})
		return err
	})
	if got := mustGet(t, st, entity.BasicAuthCredentials, "alice")["password"]; got != digest("put") {
		t.Fatalf("after PUT: stored password %v, want %s", got, digest("put"))
	}
}

func TestForeignKeysResolveToIDs(t *testing.T) {
	st, schemas := seed(t)
	tests := []struct {
		label, field, to string
	}{
		{"route", "service", "svc"},               // by name
		{"route-plugin", "route", "route"},        // by name
		{"lone-plugin", "service", "lone"},        // by id
		{"alice-key", "consumer", "alice"},        // by username
		{"bob-key", "consumer", "bob"},            // by id
		{"alice-plugin", "consumer", "alice"},     // by username
		{"t1", "upstream", "up"},                  // by name
		{"sni-a", "certificate", "cert"},          // by id
		{"tls-svc", "client_certificate", "cert"}, // by id
	}
	for _, tc := range tests {
		t.Run(tc.label, func(t *testing.T) {
			e := mustGet(t, st, schemas[tc.label], id(tc.label))
			if want := (obj{"id": id(tc.to)}); !reflect.DeepEqual(e[tc.field], want) {
				t.Fatalf("%s = %#v, want %#v", tc.field, e[tc.field], want)
			}
		})
	}
	plugin := mustGet(t, st, entity.Plugins, id("alice-route-plugin"))
	if plugin.Ref("route") != id("route") || plugin.Ref("consumer") != id("alice") || plugin["service"] != nil {
		t.Fatalf("plugin scope %v %v %v", plugin["route"], plugin["consumer"], plugin["service"])
	}
	tls := mustGet(t, st, entity.Services, "tls-svc")
	if !reflect.DeepEqual(tls["ca_certificates"], []any{id("ca")}) {
		t.Fatalf("ca_certificates %#v", tls["ca_certificates"])
	}
}

func TestWritesRefused(t *testing.T) {
	st, _ := seed(t)
	ins := func(s *entity.Schema, in obj) func(*store.Tx) error {
		return func(tx *store.Tx) error {
			_, err := tx.Insert(s, in, store.WriteOptions{})
			return err
		}
	}
	missing := "00000000-0000-4000-8000-00000000abcd"
	tests := []struct {
		name    string
		fn      func(*store.Tx) error
		code    int
		fields  map[string]any
		message string
	}{
		{"primary key", ins(entity.Services, obj{"id": id("svc"), "name": "other", "host": "h"}),
			store.CodePrimaryKey, obj{"id": id("svc")}, `primary key violation on key '{id="` + id("svc") + `"}'`},
		{"primary key in upper case", ins(entity.Consumers, obj{"id": strings.ToUpper(id("bob")), "username": "bobby"}),
			store.CodePrimaryKey, obj{"id": id("bob")}, ""},
		{"service name", ins(entity.Services, obj{"name": "svc", "host": "h"}),
			store.CodeUnique, obj{"name": "svc"}, `UNIQUE violation detected on '{name="svc"}'`},
		{"consumer custom_id", ins(entity.Consumers, obj{"username": "carol", "custom_id": "alice-001"}),
			store.CodeUnique, obj{"custom_id": "alice-001"}, ""},
		{"key-auth key of another consumer", ins(entity.KeyAuthCredentials, obj{"consumer": obj{"username": "bob"}, "key": "alice-key"}),
			store.CodeUnique, obj{"key": "alice-key"}, ""},
		{"sni name", ins(entity.SNIs, obj{"name": "a.example.com", "certificate": obj{"id": id("cert")}}),
			store.CodeUnique, obj{"name": "a.example.com"}, ""},
		{"ca certificate digest", ins(entity.CACertificates, obj{"cert": testPEM().ca}),
			store.CodeUnique, obj{"cert_digest": mustGet(t, st, entity.CACertificates, id("ca"))["cert_digest"]}, ""},
		{"target cache key, normalized", ins(entity.Targets, obj{"upstream": obj{"name": "up.internal"}, "target": "10.0.0.1:8000"}),
			store.CodeUnique, obj{"upstream": obj{"id": id("up")}, "target": "10.0.0.1:8000"},
			`UNIQUE violation detected on '{target="10.0.0.1:8000",upstream={id="` + id("up") + `"}}'`},
		{"acl cache key", ins(entity.ACLs, obj{"consumer": obj{"username": "alice"}, "group": "admins"}),
			store.CodeUnique, obj{"consumer": obj{"id": id("alice")}, "group": "admins"}, ""},
		{"global plugin cache key", ins(entity.Plugins, obj{"name": "prometheus"}),
			store.CodeUnique, obj{"name": "prometheus", "route": nil, "service": nil, "consumer": nil},
			`UNIQUE violation detected on '{consumer=null,name="prometheus",route=null,service=null}'`},
		{"service plugin cache key", ins(entity.Plugins, obj{"name": "rate-limiting", "service": obj{"id": id("svc")}}),
			store.CodeUnique, obj{"name": "rate-limiting", "route": nil, "service": obj{"id": id("svc")}, "consumer": nil}, ""},
		{"plugin instance name", ins(entity.Plugins, obj{"name": "cors", "instance_name": "svc-limit"}),
			store.CodeUnique, obj{"instance_name": "svc-limit"}, ""},
		{"route to a missing service name", ins(entity.Routes, obj{"paths": []any{"/m"}, "service": obj{"name": "nowhere"}}),
			store.CodeForeignKey, obj{"service": obj{"name": "nowhere"}},
			`the foreign key '{name="nowhere"}' does not reference an existing 'services' entity.`},
		{"route to a missing service id", ins(entity.Routes, obj{"paths": []any{"/m"}, "service": obj{"id": missing}}),
			store.CodeForeignKey, obj{"service": obj{"id": missing}}, ""},
		{"credential of a missing consumer", ins(entity.KeyAuthCredentials, obj{"consumer": obj{"username": "carol"}}),
			store.CodeForeignKey, obj{"consumer": obj{"username": "carol"}}, ""},
		{"plugin of a missing route", ins(entity.Plugins, obj{"name": "cors", "route": obj{"id": missing}}),
			store.CodeForeignKey, obj{"route": obj{"id": missing}}, ""},
		{"sni of a missing certificate", ins(entity.SNIs, obj{"name": "c.example.com", "certificate": obj{"id": missing}}),
			store.CodeForeignKey, obj{"certificate": obj{"id": missing}}, ""},
		{"service with a missing ca certificate", ins(entity.Services, obj{"name": "s2", "protocol": "https", "host": "h",
			"ca_certificates": []any{id("ca"), missing}}),
			store.CodeForeignKey, obj{"ca_certificates": []any{nil, obj{"id": missing}}}, ""},
		{"patch to a taken name", func(tx *store.Tx) error {
			_, err := tx.Patch(entity.Services, "lone", obj{"name": "svc"}, store.WriteOptions{})
			return err
		}, store.CodeUnique, obj{"name": "svc"}, ""},
		{"patch to a missing ca certificate", func(tx *store.Tx) error {
			_, err := tx.Patch(entity.Services, "tls-svc", obj{"ca_certificates": []any{missing}}, store.WriteOptions{})
			return err
		}, store.CodeForeignKey, obj{"ca_certificates": []any{obj{"id": missing}}}, ""},
		{"put to a taken name", func(tx *store.Tx) error {
			_, _, err := tx.Upsert(entity.Services, id("lone"), obj{"name": "svc", "host": "h"}, store.WriteOptions{})
			return err
		}, store.CodeUnique, obj{"name": "svc"}, ""},
		{"a failure after a good write undoes it", func(tx *store.Tx) error {
			if _, err := tx.Insert(entity.Services, obj{"name": "fine", "host": "h"}, store.WriteOptions{}); err != nil {
				return err
			}
			_, err := tx.Insert(entity.Services, obj{"name": "fine", "host": "h"}, store.WriteOptions{})
			return err
		}, store.CodeUnique, obj{"name": "fine"}, ""},
		{"delete of a missing entity", func(tx *store.Tx) error {
			_, err := tx.Delete(entity.Services, "nope", nil)
			return err
		}, store.CodeNotFound, obj{"name": "nope"}, `could not find the entity with '{name="nope"}'`},
		{"schema violation", ins(entity.Services, obj{"name": "bad", "host": "h", "port": 99999}),
			store.CodeSchemaViolation, obj{"port": "value should be between 0 and 65535"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			se := refuse(t, st, tc.fn, tc.code, tc.fields)
			if tc.message != "" && se.Message != tc.message {
				t.Fatalf("message %q, want %q", se.Message, tc.message)
			}
		})
	}
	if _, err := get(t, st, entity.Services, "fine", nil); err == nil {
		t.Fatal("service of a failed update was kept")
	}
}

func TestUpsert(t *testing.T) {
	st, clock := withClock(t)
	put := func(s *entity.Schema, idOrKey string, in obj) (entity.Entity, bool) {
		t.Helper()
		clock.advance(10)
		var e entity.Entity
		var created bool
		write(t, st, func(tx *store.Tx) error {
			var err error
			e, created, err = tx.Upsert(s, idOrKey, in, store.WriteOptions{})
			return err
		})
		return e, created
	}
	// By name: created, then replaced whole (port back to its default).
	e1, created := put(entity.Services, "orders", obj{"host": "orders.internal", "port": 8080, "tags": []any{"a"}})
	if !created || e1["name"] != "orders" || e1["port"] != int64(8080) || !entity.IsUUID(e1.ID()) {
		t.Fatalf("PUT by name created=%v %v", created, e1)
	}
	e2, created := put(entity.Services, "orders", obj{"host": "orders2.internal"})
	if created || e2.ID() != e1.ID() || e2["port"] != int64(80) || e2["tags"] != nil || e2["host"] != "orders2.internal" {
		t.Fatalf("PUT by name again created=%v %v", created, e2)
	}
	if e2["created_at"] != e1["created_at"] || e2["updated_at"] != clock.now {
		t.Fatalf("timestamps after PUT: created_at %v (was %v), updated_at %v (now %d)", e2["created_at"], e1["created_at"], e2["updated_at"], clock.now)
	}
	// By id: created with that id, then replaced, renamed.
	uid := "6f1c0f5e-8a4b-4c2d-9e7f-0a1b2c3d4e5f"
	e3, created := put(entity.Services, strings.ToUpper(uid), obj{"name": "users", "host": "users.internal"})
	if !created || e3.ID() != uid {
		t.Fatalf("PUT by id created=%v id %s", created, e3.ID())
	}
	e4, created := put(entity.Services, uid, obj{"name": "people", "host": "users.internal"})
	if created || e4.ID() != uid || e4["name"] != "people" {
		t.Fatalf("PUT by id again created=%v %v", created, e4)
	}
	if _, err := get(t, st, entity.Services, "users", nil); err == nil {
		t.Fatal("old name still resolves after a rename by PUT")
	}
	if got := mustGet(t, st, entity.Services, "people"); got.ID() != uid {
		t.Fatalf("new name resolves to %s", got.ID())
	}
	// Scoped: an acl by group inside its consumer.
	c := insert(t, st, entity.Consumers, obj{"username": "alice"})
	scope := &store.Scope{Field: "consumer", ID: c.ID()}
	var acl entity.Entity
	write(t, st, func(tx *store.Tx) error {
		var err error
		acl, _, err = tx.Upsert(entity.ACLs, uid, obj{"group": "admins"}, store.WriteOptions{Scope: scope})
		return err
	})
	if acl.Ref("consumer") != c.ID() {
		t.Fatalf("scoped PUT: consumer %v", acl["consumer"])
	}
	// Scoped by the rest of the cache key: a target by its address inside
	// its upstream, created then replaced in place.
	up := insert(t, st, entity.Upstreams, obj{"name": "orders.upstream"})
	upScope := &store.Scope{Field: "upstream", ID: up.ID()}
	var t1, t2 entity.Entity
	for i, weight := range []int{5, 7} {
		write(t, st, func(tx *store.Tx) error {
			e, _, err := tx.Upsert(entity.Targets, "10.0.0.9", obj{"weight": weight}, store.WriteOptions{Scope: upScope})
			if i == 0 {
				t1 = e
			} else {
				t2 = e
			}
			return err
		})
	}
	if t1["target"] != "10.0.0.9:8000" || t2.ID() != t1.ID() || t2["weight"] != int64(7) {
		t.Fatalf("PUT target by address: first %v, second %v", t1, t2)
	}

	refuse(t, st, func(tx *store.Tx) error {
		_, _, err := tx.Upsert(entity.Services, uid, obj{"id": e1.ID(), "name": "x", "host": "h"}, store.WriteOptions{})
		return err
	}, store.CodeSchemaViolation, obj{"id": "the id in the body does not match the id in the path"})
	refuse(t, st, func(tx *store.Tx) error {
		_, _, err := tx.Upsert(entity.Services, "orders", obj{"name": "other", "host": "h"}, store.WriteOptions{})
		return err
	}, store.CodeSchemaViolation, obj{"name": "the name in the body does not match the one in the path"})
}

func TestPatch(t *testing.T) {
	st, clock := withClock(t)
	svc := insert(t, st, entity.Services, obj{"name": "svc", "host": "svc.internal", "path": "/v1", "tags": []any{"a"}})
	plugin := insert(t, st, entity.Plugins, obj{"name": "rate-limiting", "service": obj{"id": svc.ID()},
		"config": obj{"minute": 10, "policy": "local", "limits": obj{"a": 1, "b": 2}}})
	patch := func(s *entity.Schema, idOrKey string, p obj) entity.Entity {
		t.Helper()
		clock.advance(5)
		var e entity.Entity
		write(t, st, func(tx *store.Tx) error {
			var err error
			e, err = tx.Patch(s, idOrKey, p, store.WriteOptions{})
			return err
		})
		if got := mustGet(t, st, s, e.ID()); !reflect.DeepEqual(got, e) {
			t.Fatalf("stored %v, Patch returned %v", got, e)
		}
		return e
	}

	e := patch(entity.Services, "svc", obj{"port": 8443})
	want := svc.Clone()
	want["port"], want["updated_at"] = int64(8443), clock.now
	if !reflect.DeepEqual(e, want) {
		t.Fatalf("PATCH port:\n got %v\nwant %v", e, want)
	}
	e = patch(entity.Services, svc.ID(), obj{"path": nil, "tags": []any{"b", "c"}})
	if e["path"] != nil || !reflect.DeepEqual(e["tags"], []any{"b", "c"}) || e["port"] != int64(8443) || e["host"] != "svc.internal" {
		t.Fatalf("PATCH null path and tags: %v", e)
	}
	if e["created_at"] != svc["created_at"] {
		t.Fatalf("created_at %v, was %v", e["created_at"], svc["created_at"])
	}
	// A plugin's config merges member by member, nested objects too.
	e = patch(entity.Plugins, plugin.ID(), obj{"config": obj{"minute": 20, "limits": obj{"b": 3}}})
	wantConfig := obj{"minute": int64(20), "policy": "local", "limits": obj{"a": int64(1), "b": int64(3)}}
	if !reflect.DeepEqual(e["config"], wantConfig) {
		t.Fatalf("merged config %#v, want %#v", e["config"], wantConfig)
	}
	// A reference given by name resolves like on insert.
	other := insert(t, st, entity.Services, obj{"name": "other", "host": "other.internal"})
	e = patch(entity.Plugins, plugin.ID(), obj{"service": obj{"name": "other"}})
	if !reflect.DeepEqual(e["service"], obj{"id": other.ID()}) {
		t.Fatalf("service %v, want {id: %s}", e["service"], other.ID())
	}

	refuse(t, st, func(tx *store.Tx) error {
		_, err := tx.Patch(entity.Services, "svc", obj{"id": other.ID()}, store.WriteOptions{})
		return err
	}, store.CodeSchemaViolation, obj{"id": "cannot change an entity's id"})
	refuse(t, st, func(tx *store.Tx) error {
		_, err := tx.Patch(entity.Services, "nope", obj{"port": 1}, store.WriteOptions{})
		return err
	}, store.CodeNotFound, obj{"name": "nope"})
}

func TestGet(t *testing.T) {
	st, _ := seed(t)
	inUp := &store.Scope{Field: "upstream", ID: id("up")}
	inUp2 := &store.Scope{Field: "upstream", ID: id("up2")}
	ofAlice := &store.Scope{Field: "consumer", ID: id("alice")}
	ofBob := &store.Scope{Field: "consumer", ID: id("bob")}
	tests := []struct {
		name    string
		s       *entity.Schema
		idOrKey string
		scope   *store.Scope
		want    string         // label of the entity found
		missing map[string]any // else the fields of the not-found error
	}{
		{"service by id", entity.Services, id("svc"), nil, "svc", nil},
		{"service by id in upper case", entity.Services, strings.ToUpper(id("svc")), nil, "svc", nil},
		{"service by name", entity.Services, "svc", nil, "svc", nil},
		{"route by name", entity.Routes, "route", nil, "route", nil},
		{"consumer by username", entity.Consumers, "alice", nil, "alice", nil},
		{"key-auth by key", entity.KeyAuthCredentials, "alice-key", nil, "alice-key", nil},
		{"plugin by instance name", entity.Plugins, "svc-limit", nil, "svc-plugin", nil},
		{"upstream by name", entity.Upstreams, "up.internal", nil, "up", nil},
		{"sni by name", entity.SNIs, "b.example.com", nil, "sni-b", nil},
		{"missing name", entity.Services, "nope", nil, "", obj{"name": "nope"}},
		{"missing id", entity.Services, id("nope"), nil, "", obj{"id": id("nope")}},
		{"id of another type", entity.Routes, id("svc"), nil, "", obj{"id": id("svc")}},
		{"type without endpoint key", entity.Certificates, "cert", nil, "", obj{"id": "cert"}},
		{"target by address in its upstream", entity.Targets, "10.0.0.2:8080", inUp, "t2", nil},
		{"target by address without the default port", entity.Targets, "10.0.0.1", inUp, "t1", nil},
		{"target by id in its upstream", entity.Targets, id("t1"), inUp, "t1", nil},
		{"target by address in another upstream", entity.Targets, "10.0.0.1:8000", inUp2, "", obj{"id": "10.0.0.1:8000"}},
		{"target by id in another upstream", entity.Targets, id("t1"), inUp2, "", obj{"id": id("t1")}},
		{"acl by group in its consumer", entity.ACLs, "admins", ofAlice, "alice-acl", nil},
		{"acl by group in the other consumer", entity.ACLs, "admins", ofBob, "bob-acl", nil},
		{"acl by id in another consumer", entity.ACLs, id("alice-acl"), ofBob, "", obj{"id": id("alice-acl")}},
		{"key-auth by key in its consumer", entity.KeyAuthCredentials, "alice-key", ofAlice, "alice-key", nil},
		{"key-auth by key in another consumer", entity.KeyAuthCredentials, "alice-key", ofBob, "", obj{"key": "alice-key"}},
		{"key-auth by id in another consumer", entity.KeyAuthCredentials, id("alice-key"), ofBob, "", obj{"id": id("alice-key")}},
		{"basic-auth by username in another consumer", entity.BasicAuthCredentials, "alice", ofBob, "", obj{"username": "alice"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := get(t, st, tc.s, tc.idOrKey, tc.scope)
			if tc.missing != nil {
				wantStoreError(t, err, store.CodeNotFound, tc.missing)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.ID() != id(tc.want) {
				t.Fatalf("found %s %v, want %s", e.ID(), e, tc.want)
			}
		})
	}
	t.Run("consumer by custom_id", func(t *testing.T) {
		var e entity.Entity
		err := st.View(t.Context(), func(tx *store.Tx) error {
			var err error
			e, err = tx.GetBy(entity.Consumers, "custom_id", "alice-001")
			return err
		})
		if err != nil || e.ID() != id("alice") {
			t.Fatalf("GetBy custom_id: %v %v", e, err)
		}
	})
}

func TestDeleteRestricted(t *testing.T) {
	st, _ := seed(t)
	tests := []struct {
		name     string
		s        *entity.Schema
		label    string
		referrer string
	}{
		{"service with routes", entity.Services, "svc", "routes"},
		{"certificate used as a client certificate", entity.Certificates, "cert", "services"},
		{"ca certificate used by a service", entity.CACertificates, "ca", "services"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			se := refuse(t, st, func(tx *store.Tx) error {
				_, err := tx.Delete(tc.s, id(tc.label), nil)
				return err
			}, store.CodeForeignKey, obj{"@referenced_by": tc.referrer})
			if want := fmt.Sprintf("an existing '%s' entity references this '%s' entity", tc.referrer, tc.s.Name); se.Message != want {
				t.Fatalf("message %q, want %q", se.Message, want)
			}
			mustGet(t, st, tc.s, id(tc.label))
		})
	}
	// The certificate's snis, which would cascade, are still there.
	mustGet(t, st, entity.SNIs, id("sni-a"))
	mustGet(t, st, entity.Plugins, id("svc-plugin"))
}

func TestDeleteCascades(t *testing.T) {
	tests := []struct {
		name string
		// deletes are done in order, each in its own Update; the last
		// one's change log is checked.
		deletes []string
		gone    []string // labels deleted by the last delete
		earlier []string // labels cascaded by the earlier deletes
	}{
		{"service takes its plugins", []string{"lone"}, []string{"lone", "lone-plugin"}, nil},
		{"route takes its plugins, those also scoped to a consumer included", []string{"route"},
			[]string{"route", "route-plugin", "alice-route-plugin"}, nil},
		{"service once its routes are gone", []string{"route", "svc"}, []string{"svc", "svc-plugin"},
			[]string{"route-plugin", "alice-route-plugin"}},
		{"consumer takes credentials, acls and its plugins", []string{"alice"},
			[]string{"alice", "alice-key", "alice-basic", "alice-jwt", "alice-acl", "alice-plugin", "alice-route-plugin"}, nil},
		{"upstream takes its targets", []string{"up"}, []string{"up", "t1", "t2"}, nil},
		{"certificate takes its snis once no service uses it", []string{"tls-svc", "cert"}, []string{"cert", "sni-a", "sni-b"}, nil},
		{"ca certificate once no service uses it", []string{"tls-svc", "ca"}, []string{"ca"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, schemas := seed(t)
			var v int64
			for _, label := range tc.deletes {
				var deleted entity.Entity
				v = write(t, st, func(tx *store.Tx) error {
					var err error
					deleted, err = tx.Delete(schemas[label], id(label), nil)
					return err
				})
				if deleted.ID() != id(label) {
					t.Fatalf("Delete returned %v", deleted)
				}
			}
			if want := int64(1 + len(tc.deletes)); v != want {
				t.Fatalf("version %d, want %d", v, want)
			}
			var want []store.Change
			for _, label := range tc.gone {
				want = append(want, store.Change{Version: v, Type: schemas[label].Name, ID: id(label), Op: store.OpDelete})
			}
			got := changesSince(t, st, v-1)
			if !sameChanges(got, want) {
				t.Fatalf("changes %v, want (in any order) %v", got, want)
			}
			gone := map[string]bool{}
			for _, l := range tc.deletes {
				gone[l] = true
			}
			for _, l := range append(tc.gone, tc.earlier...) {
				gone[l] = true
			}
			for _, se := range seedEntities() {
				_, err := get(t, st, se.s, id(se.label), nil)
				switch {
				case gone[se.label] && err == nil:
					t.Errorf("%s still there", se.label)
				case !gone[se.label] && err != nil:
					t.Errorf("%s gone: %v", se.label, err)
				}
			}
		})
	}
}

// sameChanges compares change lists as sets.
func sameChanges(a, b []store.Change) bool {
	key := func(c store.Change) string { return fmt.Sprint(c) }
	sa, sb := make([]string, len(a)), make([]string, len(b))
	for i := range a {
		sa[i] = key(a[i])
	}
	for i := range b {
		sb[i] = key(b[i])
	}
	slices.Sort(sa)
	slices.Sort(sb)
	return slices.Equal(sa, sb)
}

func TestDeleteFreesUniqueKeys(t *testing.T) {
	st, _ := seed(t)
	write(t, st, func(tx *store.Tx) error {
		if _, err := tx.Delete(entity.Consumers, "alice", nil); err != nil {
			return err
		}
		if _, err := tx.Delete(entity.Services, "tls-svc", nil); err != nil {
			return err
		}
		_, err := tx.Delete(entity.Certificates, id("cert"), nil)
		return err
	})
	// Every key the deleted entities and their children held is free.
	write(t, st, func(tx *store.Tx) error {
		c, err := tx.Insert(entity.Consumers, obj{"username": "alice", "custom_id": "alice-001"}, store.WriteOptions{})
		if err != nil {
			return err
		}
		for _, in := range []struct {
			s  *entity.Schema
			in obj
		}{
			{entity.KeyAuthCredentials, obj{"consumer": obj{"username": "bob"}, "key": "alice-key"}},
			{entity.BasicAuthCredentials, obj{"consumer": obj{"id": c.ID()}, "username": "alice", "password": "x"}},
			{entity.JWTSecrets, obj{"consumer": obj{"id": c.ID()}, "key": "alice-issuer"}},
			{entity.ACLs, obj{"consumer": obj{"id": c.ID()}, "group": "admins"}},
			{entity.Services, obj{"name": "tls-svc", "host": "h"}},
		} {
			if _, err := tx.Insert(in.s, in.in, store.WriteOptions{}); err != nil {
				return fmt.Errorf("insert %s: %w", in.s.Name, err)
			}
		}
		cert, err := tx.Insert(entity.Certificates, obj{"cert": testPEM().cert, "key": testPEM().key}, store.WriteOptions{})
		if err != nil {
			return err
		}
		_, err = tx.Insert(entity.SNIs, obj{"name": "a.example.com", "certificate": obj{"id": cert.ID()}}, store.WriteOptions{})
		return err
	})
	if got := mustGet(t, st, entity.KeyAuthCredentials, "alice-key"); got.Ref("consumer") != id("bob") {
		t.Fatalf("key alice-key belongs to %v", got["consumer"])
	}
}

func TestVersionsAndChangeLog(t *testing.T) {
	st, _ := seed(t)
	v := version(t, st)

	// A write that changes nothing is no version.
	noops := []struct {
		name string
		fn   func(*store.Tx) error
	}{
		{"empty update", func(*store.Tx) error { return nil }},
		{"read-only update", func(tx *store.Tx) error {
			_, err := tx.List(entity.Services, store.ListOptions{})
			return err
		}},
		{"patch of a credential with its own values", func(tx *store.Tx) error {
			_, err := tx.Patch(entity.KeyAuthCredentials, "alice-key", obj{"key": "alice-key", "tags": nil}, store.WriteOptions{})
			return err
		}},
		{"put of an acl as it is", func(tx *store.Tx) error {
			_, _, err := tx.Upsert(entity.ACLs, id("alice-acl"), obj{"consumer": obj{"username": "alice"}, "group": "admins"}, store.WriteOptions{})
			return err
		}},
		{"insert then delete", func(tx *store.Tx) error {
			e, err := tx.Insert(entity.Services, obj{"name": "brief", "host": "h"}, store.WriteOptions{})
			if err != nil {
				return err
			}
			_, err = tx.Delete(entity.Services, e.ID(), nil)
			return err
		}},
	}
	for _, tc := range noops {
		if got := write(t, st, tc.fn); got != v {
			t.Fatalf("%s: version %d, want %d", tc.name, got, v)
		}
	}
	if c := changesSince(t, st, v); len(c) != 0 {
		t.Fatalf("no-op updates logged %v", c)
	}

	svc := insert(t, st, entity.Services, obj{"name": "orders", "host": "orders.internal"})
	write(t, st, func(tx *store.Tx) error {
		_, err := tx.Patch(entity.Services, "orders", obj{"port": 8080}, store.WriteOptions{})
		return err
	})
	write(t, st, func(tx *store.Tx) error {
		_, err := tx.Delete(entity.Consumers, "alice", nil)
		return err
	})
	// Cascaded children go first, in the order the backend lists
	// references (type, field, id), then the entity deleted.
	plugins := []string{id("alice-plugin"), id("alice-route-plugin")}
	slices.Sort(plugins)
	want := []store.Change{
		{Version: v + 1, Type: "services", ID: svc.ID(), Op: store.OpCreate},
		{Version: v + 2, Type: "services", ID: svc.ID(), Op: store.OpUpdate},
		{Version: v + 3, Type: "acls", ID: id("alice-acl"), Op: store.OpDelete},
		{Version: v + 3, Type: "basicauth_credentials", ID: id("alice-basic"), Op: store.OpDelete},
		{Version: v + 3, Type: "jwt_secrets", ID: id("alice-jwt"), Op: store.OpDelete},
		{Version: v + 3, Type: "keyauth_credentials", ID: id("alice-key"), Op: store.OpDelete},
		{Version: v + 3, Type: "plugins", ID: plugins[0], Op: store.OpDelete},
		{Version: v + 3, Type: "plugins", ID: plugins[1], Op: store.OpDelete},
		{Version: v + 3, Type: "consumers", ID: id("alice"), Op: store.OpDelete},
	}
	if got := changesSince(t, st, v); !reflect.DeepEqual(got, want) {
		t.Fatalf("change log:\n got %v\nwant %v", got, want)
	}
	if got := version(t, st); got != v+3 {
		t.Fatalf("version %d, want %d", got, v+3)
	}
}

func TestList(t *testing.T) {
	st := openStore(t)
	tagSets := [][]any{{"a"}, {"b"}, {"a", "b"}, nil, {"c"}}
	var all []string
	byTags := map[string][]string{}
	write(t, st, func(tx *store.Tx) error {
		for i := range 23 {
			in := obj{"username": fmt.Sprintf("user-%02d", i)}
			if tags := tagSets[i%len(tagSets)]; tags != nil {
				in["tags"] = tags
			}
			e, err := tx.Insert(entity.Consumers, in, store.WriteOptions{})
			if err != nil {
				return err
			}
			all = append(all, e.ID())
			byTags[fmt.Sprint(tagSets[i%len(tagSets)])] = append(byTags[fmt.Sprint(tagSets[i%len(tagSets)])], e.ID())
		}
		return nil
	})
	slices.Sort(all)
	list := func(opts store.ListOptions) (store.Page, error) {
		var page store.Page
		err := st.View(t.Context(), func(tx *store.Tx) error {
			var err error
			page, err = tx.List(entity.Consumers, opts)
			return err
		})
		return page, err
	}
	// pages walks every page of opts and returns the ids and page sizes.
	pages := func(opts store.ListOptions) (ids []string, sizes []int) {
		t.Helper()
		for range 100 {
			page, err := list(opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page.Data {
				ids = append(ids, e.ID())
			}
			sizes = append(sizes, len(page.Data))
			if page.Offset == "" {
				return ids, sizes
			}
			opts.Offset = page.Offset
		}
		t.Fatal("paging did not end")
		return nil, nil
	}
	union := func(keys ...string) []string {
		var out []string
		for _, k := range keys {
			out = append(out, byTags[k]...)
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		name      string
		opts      store.ListOptions
		wantIDs   []string
		wantSizes []int
	}{
		{"everything", store.ListOptions{}, all, []int{23}},
		{"pages of 10", store.ListOptions{Size: 10}, all, []int{10, 10, 3}},
		{"pages of 23", store.ListOptions{Size: 23}, all, []int{23}},
		{"pages of 1", store.ListOptions{Size: 1}, all, slices.Repeat([]int{1}, 23)},
		{"tag a", store.ListOptions{Tags: []string{"a"}}, union("[a]", "[a b]"), []int{10}},
		{"tags a and b", store.ListOptions{Tags: []string{"a", "b"}}, union("[a b]"), []int{5}},
		{"tags a or b", store.ListOptions{Tags: []string{"a", "b"}, AnyTag: true}, union("[a]", "[b]", "[a b]"), []int{15}},
		{"tags a or c, pages of 4", store.ListOptions{Tags: []string{"a", "c"}, AnyTag: true, Size: 4},
			union("[a]", "[a b]", "[c]"), []int{4, 4, 4, 2}},
		{"unknown tag", store.ListOptions{Tags: []string{"zzz"}}, nil, []int{0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ids, sizes := pages(tc.opts)
			if !slices.Equal(ids, tc.wantIDs) || !slices.Equal(sizes, tc.wantSizes) {
				t.Fatalf("ids %v in pages %v, want %v in pages %v", ids, sizes, tc.wantIDs, tc.wantSizes)
			}
		})
	}

	t.Run("scope", func(t *testing.T) {
		st, _ := seed(t)
		var page store.Page
		err := st.View(t.Context(), func(tx *store.Tx) error {
			var err error
			page, err = tx.List(entity.Plugins, store.ListOptions{Scope: &store.Scope{Field: "consumer", ID: id("alice")}})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{id("alice-plugin"), id("alice-route-plugin")}
		slices.Sort(want)
		var got []string
		for _, e := range page.Data {
			got = append(got, e.ID())
		}
		if !slices.Equal(got, want) {
			t.Fatalf("plugins of alice %v, want %v", got, want)
		}
	})

	for _, offset := range []string{"!!", base64.RawURLEncoding.EncodeToString([]byte("not-a-uuid")), "e30"} {
		t.Run("offset "+offset, func(t *testing.T) {
			_, err := list(store.ListOptions{Size: 5, Offset: offset})
			se := wantStoreError(t, err, store.CodeInvalidOffset, nil)
			if !strings.Contains(se.Message, "'"+offset+"' is not a valid offset") {
				t.Fatalf("message %q", se.Message)
			}
		})
	}
}

// replaceYAML is the configuration the Replace tests import, then change.
const replaceYAML = `_format_version: "3.0"
services:
  - name: orders
    url: http://orders.internal:8080
    routes:
      - name: orders-list
        paths: [/orders]
      - name: orders-create
        paths: [/orders/new]
        methods: [POST]
    plugins:
      - name: rate-limiting
        config: {minute: 10}
  - name: users
    host: users.internal
    routes:
      - name: users-api
        paths: [/users]
upstreams:
  - name: orders.internal
    targets:
      - target: 10.0.0.1:8080
consumers:
  - username: alice
    keyauth_credentials:
      - key: alice-key
    basicauth_credentials:
      - username: alice
        password: s3cret
    acls:
      - group: admins
`

func parse(t *testing.T, text string) *declarative.Config {
	t.Helper()
	cfg, err := declarative.Parse([]byte(text))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return cfg
}

func replace(t *testing.T, st *store.Store, cfg *declarative.Config) int64 {
	t.Helper()
	return write(t, st, func(tx *store.Tx) error { return tx.Replace(cfg) })
}

// stamps returns the timestamps of every stored entity, by type and id.
func stamps(t *testing.T, st *store.Store) map[string][2]any {
	t.Helper()
	cfg, _, err := st.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][2]any{}
	for typ, es := range cfg.Entities {
		for _, e := range es {
			out[typ+"/"+e.ID()] = [2]any{e["created_at"], e["updated_at"]}
		}
	}
	return out
}

func TestReplace(t *testing.T) {
	st, clock := withClock(t)
	cfg := parse(t, replaceYAML)
	if v := replace(t, st, cfg); v != 1 {
		t.Fatalf("first import: version %d", v)
	}
	created := changesSince(t, st, 0)
	if len(created) != cfg.Count() {
		t.Fatalf("first import logged %d changes for %d entities", len(created), cfg.Count())
	}
	for _, c := range created {
		if c.Op != store.OpCreate || c.Version != 1 {
			t.Fatalf("first import logged %v", c)
		}
	}
	snap, v, err := st.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if v != 1 || snap.Hash().Config != cfg.Hash().Config || !reflect.DeepEqual(snap.Hash().Groups, cfg.Hash().Groups) {
		t.Fatalf("snapshot version %d hash %v, want 1 and %v", v, snap.Hash(), cfg.Hash())
	}
	for _, s := range stamps(t, st) {
		if s[0] != clock.now || (s[1] != nil && s[1] != clock.now) {
			t.Fatalf("timestamps %v, want %d", s, clock.now)
		}
	}
	firstStamps := stamps(t, st)

	// The same config again is no change at all, even later.
	clock.advance(60)
	if v := replace(t, st, parse(t, replaceYAML)); v != 1 {
		t.Fatalf("same import again: version %d", v)
	}
	if got := stamps(t, st); !reflect.DeepEqual(got, firstStamps) {
		t.Fatalf("timestamps changed by a no-op import:\n got %v\nwant %v", got, firstStamps)
	}

	// One route changed: that route only, created_at kept.
	clock.advance(60)
	changed := parse(t, strings.Replace(replaceYAML, "paths: [/orders/new]", "paths: [/orders/create]", 1))
	if v := replace(t, st, changed); v != 2 {
		t.Fatalf("changed import: version %d", v)
	}
	route := mustGet(t, st, entity.Routes, "orders-create")
	routeID := route.ID()
	if got, want := changesSince(t, st, 1), []store.Change{{Version: 2, Type: "routes", ID: routeID, Op: store.OpUpdate}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	if !reflect.DeepEqual(route["paths"], []any{"/orders/create"}) || route["created_at"] != firstStamps["routes/"+routeID][0] || route["updated_at"] != clock.now {
		t.Fatalf("changed route %v (first stamps %v, now %d)", route, firstStamps["routes/"+routeID], clock.now)
	}
	for k, s := range stamps(t, st) {
		if k != "routes/"+routeID && s != firstStamps[k] {
			t.Fatalf("%s timestamps %v, were %v", k, s, firstStamps[k])
		}
	}
	if snap, v, _ := st.Snapshot(t.Context()); v != 2 || snap.Hash().Config != changed.Hash().Config {
		t.Fatalf("snapshot version %d hash %s, want 2 and %s", v, snap.Hash().Config, changed.Hash().Config)
	}

	// Entities missing from the config are deleted, with their children.
	clock.advance(60)
	smaller := parse(t, `_format_version: "3.0"
services:
  - name: users
    host: users.internal
    routes:
      - name: users-api
        paths: [/users]
`)
	if v := replace(t, st, smaller); v != 3 {
		t.Fatalf("smaller import: version %d", v)
	}
	var wantDeleted []store.Change
	for typ, es := range changed.Entities {
		for _, e := range es {
			if !slices.ContainsFunc(smaller.Entities[typ], func(k entity.Entity) bool { return k.ID() == e.ID() }) {
				wantDeleted = append(wantDeleted, store.Change{Version: 3, Type: typ, ID: e.ID(), Op: store.OpDelete})
			}
		}
	}
	if got := changesSince(t, st, 2); len(wantDeleted) != changed.Count()-smaller.Count() || !sameChanges(got, wantDeleted) {
		t.Fatalf("changes %v, want the deletes %v", got, wantDeleted)
	}
	if snap, _, _ := st.Snapshot(t.Context()); snap.Count() != 2 || snap.Hash().Config != smaller.Hash().Config {
		t.Fatalf("snapshot holds %d entities, hash %s; want 2 and %s", snap.Count(), snap.Hash().Config, smaller.Hash().Config)
	}
}

func TestReplaceMovesUniqueKeys(t *testing.T) {
	const (
		svc1, svc2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
		svc3       = "00000000-3333-4333-8333-333333333333" // sorts before the others
		con1, con2 = "aaaaaaaa-1111-4111-8111-111111111111", "bbbbbbbb-2222-4222-8222-222222222222"
		key1, key2 = "cccccccc-1111-4111-8111-111111111111", "dddddddd-2222-4222-8222-222222222222"
	)
	tests := []struct {
		name       string
		before     string
		after      string
		wantChange []store.Change
	}{
		{"from a deleted entity to a new one",
			`_format_version: "3.0"
services:
  - {id: ` + svc1 + `, name: svc, host: a.internal}
consumers:
  - id: ` + con1 + `
    username: alice
    keyauth_credentials:
      - {id: ` + key1 + `, key: shared-key}
`, `_format_version: "3.0"
services:
  - {id: ` + svc2 + `, name: svc, host: a.internal}
consumers:
  - id: ` + con2 + `
    username: alice
    keyauth_credentials:
      - {id: ` + key2 + `, key: shared-key}
`, []store.Change{
				{Type: "services", ID: svc1, Op: store.OpDelete},
				{Type: "consumers", ID: con1, Op: store.OpDelete},
				{Type: "keyauth_credentials", ID: key1, Op: store.OpDelete},
				{Type: "services", ID: svc2, Op: store.OpCreate},
				{Type: "consumers", ID: con2, Op: store.OpCreate},
				{Type: "keyauth_credentials", ID: key2, Op: store.OpCreate},
			}},
		{"two kept entities swap names",
			`_format_version: "3.0"
services:
  - {id: ` + svc1 + `, name: first, host: a.internal}
  - {id: ` + svc2 + `, name: second, host: a.internal}
`, `_format_version: "3.0"
services:
  - {id: ` + svc1 + `, name: second, host: a.internal}
  - {id: ` + svc2 + `, name: first, host: a.internal}
`, []store.Change{
				{Type: "services", ID: svc1, Op: store.OpUpdate},
				{Type: "services", ID: svc2, Op: store.OpUpdate},
			}},
		{"from a kept entity to a new one",
			`_format_version: "3.0"
services:
  - {id: ` + svc1 + `, name: svc, host: a.internal}
`, `_format_version: "3.0"
services:
  - {id: ` + svc1 + `, name: renamed, host: a.internal}
  - {id: ` + svc3 + `, name: svc, host: a.internal}
`, []store.Change{
				{Type: "services", ID: svc3, Op: store.OpCreate},
				{Type: "services", ID: svc1, Op: store.OpUpdate},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t)
			replace(t, st, parse(t, tc.before))
			after := parse(t, tc.after)
			if v := replace(t, st, after); v != 2 {
				t.Fatalf("version %d, want 2", v)
			}
			for i := range tc.wantChange {
				tc.wantChange[i].Version = 2
			}
			if got := changesSince(t, st, 1); !sameChanges(got, tc.wantChange) {
				t.Fatalf("changes %v, want %v", got, tc.wantChange)
			}
			snap, _, err := st.Snapshot(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if snap.Hash().Config != after.Hash().Config {
				t.Fatal("snapshot differs from the imported config")
			}
			// The indexes follow: names resolve to their new holders.
			for _, e := range after.Entities["services"] {
				if got := mustGet(t, st, entity.Services, e.String("name")); got.ID() != e.ID() {
					t.Fatalf("name %s resolves to %s, want %s", e.String("name"), got.ID(), e.ID())
				}
			}
		})
	}
}

func TestReplaceOverAdminWrites(t *testing.T) {
	// A config valid on its own replaces whatever the store held: the
	// seed's alice, her key-auth key and her basic-auth username move to
	// the file's entities of other ids.
	st, _ := seed(t)
	cfg := parse(t, replaceYAML)
	replace(t, st, cfg)
	snap, _, err := st.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if snap.Hash().Config != cfg.Hash().Config {
		t.Fatal("snapshot differs from the imported config")
	}
}

func TestSnapshotEncodesToTheSameHash(t *testing.T) {
	// What the Admin API wrote (every entity type, references given every
	// way) exports to files that read back to the same config.
	st, _ := seed(t)
	snap, v, err := st.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if v != 1 || snap.Count() != len(seedEntities()) {
		t.Fatalf("snapshot version %d with %d entities, want 1 and %d", v, snap.Count(), len(seedEntities()))
	}
	for _, f := range []declarative.Format{declarative.YAML, declarative.JSON} {
		for _, l := range []declarative.Layout{declarative.Nested, declarative.Flat} {
			t.Run(fmt.Sprintf("format %d layout %d", f, l), func(t *testing.T) {
				data, err := snap.Encode(f, l)
				if err != nil {
					t.Fatal(err)
				}
				back, err := declarative.Parse(data)
				if err != nil {
					t.Fatalf("parse the export: %v\n%s", err, data)
				}
				if back.Hash().Config != snap.Hash().Config {
					t.Fatalf("export reads back to hash %v, snapshot has %v\n%s", back.Hash(), snap.Hash(), data)
				}
				// Imported over the store it came from, it changes nothing.
				if got := replace(t, st, back); got != v {
					t.Fatalf("importing the export moved the version to %d", got)
				}
			})
		}
	}
}
