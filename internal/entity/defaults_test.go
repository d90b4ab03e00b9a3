package entity

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"testing"
)

// healthchecksDefaults is an upstream's healthchecks record as Kong fills
// it: active and passive checks off, Kong's status lists, threshold 0.
func healthchecksDefaults() map[string]any {
	return map[string]any{
		"active": map[string]any{
			"type":                     "http",
			"timeout":                  int64(1),
			"concurrency":              int64(10),
			"http_path":                "/",
			"https_sni":                nil,
			"https_verify_certificate": true,
			"headers":                  nil,
			"healthy": map[string]any{
				"interval":      int64(0),
				"http_statuses": []any{int64(200), int64(302)},
				"successes":     int64(0),
			},
			"unhealthy": map[string]any{
				"interval": int64(0),
				"http_statuses": []any{int64(429), int64(404), int64(500), int64(501), int64(502),
					int64(503), int64(504), int64(505)},
				"tcp_failures":  int64(0),
				"timeouts":      int64(0),
				"http_failures": int64(0),
			},
		},
		"passive": map[string]any{
			"type": "http",
			"healthy": map[string]any{
				"http_statuses": []any{int64(200), int64(201), int64(202), int64(203), int64(204),
					int64(205), int64(206), int64(207), int64(208), int64(226), int64(300), int64(301),
					int64(302), int64(303), int64(304), int64(305), int64(306), int64(307), int64(308)},
				"successes": int64(0),
			},
			"unhealthy": map[string]any{
				"http_statuses": []any{int64(429), int64(500), int64(503)},
				"tcp_failures":  int64(0),
				"timeouts":      int64(0),
				"http_failures": int64(0),
			},
		},
		"threshold": int64(0),
	}
}

// TestValidateDefaults validates the smallest valid input of every schema
// and compares the whole result: Kong's defaults filled, every other field
// present and null.
func TestValidateDefaults(t *testing.T) {
	ec := fixture(t, "ec")
	ca := fixture(t, "ca")
	caDigest := sha256.Sum256(ca.der)

	tests := []struct {
		name   string
		schema *Schema
		input  map[string]any
		want   Entity
	}{
		{
			name:   "service",
			schema: Services,
			input:  map[string]any{"host": "example.com"},
			want: Entity{
				"id": nil, "created_at": nil, "updated_at": nil, "name": nil,
				"retries": int64(5), "protocol": "http", "host": "example.com", "port": int64(80),
				"path": nil, "connect_timeout": int64(60000), "write_timeout": int64(60000),
				"read_timeout": int64(60000), "tags": nil, "client_certificate": nil,
				"tls_verify": nil, "tls_verify_depth": nil, "ca_certificates": nil,
				"tls_sans": nil, "enabled": true,
			},
		},
		{
			name:   "route",
			schema: Routes,
			input:  map[string]any{"paths": []any{"/"}},
			want: Entity{
				"id": nil, "created_at": nil, "updated_at": nil, "name": nil,
				"protocols": []any{"http", "https"}, "methods": nil, "hosts": nil,
				"paths": []any{"/"}, "headers": nil, "https_redirect_status_code": int64(426),
				"regex_priority": int64(0), "strip_path": true, "path_handling": "v0",
				"preserve_host": false, "request_buffering": true, "response_buffering": true,
				"snis": nil, "sources": nil, "destinations": nil, "tags": nil, "service": nil,
			},
		},
		{
			name:   "upstream",
			schema: Upstreams,
			input:  map[string]any{"name": "backend.internal"},
			want: Entity{
				"id": nil, "created_at": nil, "updated_at": nil, "name": "backend.internal",
				"algorithm": "round-robin", "hash_on": "none", "hash_fallback": "none",
				"hash_on_header": nil, "hash_fallback_header": nil, "hash_on_cookie": nil,
				"hash_on_cookie_path": "/", "hash_on_query_arg": nil, "hash_fallback_query_arg": nil,
				"hash_on_uri_capture": nil, "hash_fallback_uri_capture": nil, "slots": int64(10000),
				"healthchecks": healthchecksDefaults(), "tags": nil, "host_header": nil,
				"client_certificate": nil, "use_srv_name": false, "sticky_sessions_cookie": nil,
				"sticky_sessions_cookie_path": "/",
			},
		},
		{
			name:   "target",
			schema: Targets,
			input:  map[string]any{"upstream": ref(testUpstreamID), "target": "api.internal"},
			want: Entity{
				"id": nil, "created_at": nil, "updated_at": nil,
				"upstream": ref(testUpstreamID), "target": "api.internal:8000",
				"weight": int64(100), "tags": nil,
			},
		},
		{
			name:   "consumer",
			schema: Consumers,
			input:  map[string]any{"username": "alice"},
			want: Entity{
				"id": nil, "created_at": nil, "updated_at": nil,
				"username": "alice", "custom_id": nil, "tags": nil,
			},
		},
		{
			name:   "key-auth credential",
			schema: KeyAuthCredentials,
			input:  map[string]any{"consumer": ref(testConsumerID), "key": "secret-key"},
			want: Entity{
				"id": nil, "created_at": nil, "consumer": ref(testConsumerID),
				"key": "secret-key", "tags": nil,
			},
		},
		{
			name:   "basic-auth credential",
			schema: BasicAuthCredentials,
			input:  map[string]any{"consumer": ref(testConsumerID), "username": "alice", "password": "pw"},
			want: Entity{
				"id": nil, "created_at": nil, "consumer": ref(testConsumerID),
				"username": "alice", "password": "pw", "tags": nil,
			},
		},
		{
			name:   "jwt secret",
			schema: JWTSecrets,
			input:  map[string]any{"consumer": ref(testConsumerID), "key": "iss-1", "secret": "s3cr3t"},
			want: Entity{
				"id": nil, "created_at": nil, "consumer": ref(testConsumerID),
				"key": "iss-1", "secret": "s3cr3t", "rsa_public_key": nil,
				"algorithm": "HS256", "tags": nil,
			},
		},
		{
			name:   "acl",
			schema: ACLs,
			input:  map[string]any{"consumer": ref(testConsumerID), "group": "admins"},
			want: Entity{
				"id": nil, "created_at": nil, "consumer": ref(testConsumerID),
				"group": "admins", "tags": nil,
			},
		},
		{
			name:   "plugin",
			schema: Plugins,
			input:  map[string]any{"name": "cors"},
			want: Entity{
				"id": nil, "created_at": nil, "updated_at": nil, "name": "cors",
				"instance_name": nil, "route": nil, "service": nil, "consumer": nil,
				"config": map[string]any{}, "protocols": []any{"grpc", "grpcs", "http", "https"},
				"enabled": true, "tags": nil, "ordering": nil,
			},
		},
		{
			name:   "certificate",
			schema: Certificates,
			input:  map[string]any{"cert": ec.cert, "key": ec.key},
			want: Entity{
				"id": nil, "created_at": nil, "updated_at": nil, "cert": ec.cert, "key": ec.key,
				"cert_alt": nil, "key_alt": nil, "tags": nil,
			},
		},
		{
			name:   "sni",
			schema: SNIs,
			input:  map[string]any{"name": "example.com", "certificate": ref(testCertID)},
			want: Entity{
				"id": nil, "created_at": nil, "updated_at": nil, "name": "example.com",
				"tags": nil, "certificate": ref(testCertID),
			},
		},
		{
			name:   "ca certificate",
			schema: CACertificates,
			input:  map[string]any{"cert": ca.cert},
			want: Entity{
				"id": nil, "created_at": nil, "updated_at": nil, "cert": ca.cert,
				"cert_digest": hex.EncodeToString(caDigest[:]), "tags": nil,
			},
		},
	}
	covered := map[*Schema]bool{}
	for _, tc := range tests {
		covered[tc.schema] = true
		t.Run(tc.name, func(t *testing.T) {
			got := mustValidate(t, tc.schema, tc.input)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Validate(%v)\n got  %s\n want %s", tc.input, jsonString(got), jsonString(tc.want))
				for k, v := range tc.want {
					if g, ok := got[k]; !ok || !reflect.DeepEqual(g, v) {
						t.Errorf("  field %q: got %#v (present %v), want %#v", k, g, ok, v)
					}
				}
			}
			for _, f := range tc.schema.Fields {
				if _, ok := got[f.Name]; !ok {
					t.Errorf("field %q missing from the output", f.Name)
				}
			}
			if len(got) != len(tc.schema.Fields) {
				t.Errorf("output has %d fields, schema %d", len(got), len(tc.schema.Fields))
			}
		})
	}
	for _, s := range Types() {
		if !covered[s] {
			t.Errorf("schema %s has no defaults case", s.Name)
		}
	}
}

// TestValidateDoesNotShareDefaults makes sure a default list or map handed
// out by one validation cannot be changed through another's result.
func TestValidateDoesNotShareDefaults(t *testing.T) {
	first := mustValidate(t, Routes, map[string]any{"paths": []any{"/"}})
	first["protocols"].([]any)[0] = "grpc"
	up := mustValidate(t, Upstreams, map[string]any{"name": "u"})
	up["healthchecks"].(map[string]any)["active"].(map[string]any)["healthy"].(map[string]any)["http_statuses"].([]any)[0] = int64(999)

	second := mustValidate(t, Routes, map[string]any{"paths": []any{"/"}})
	if got := second["protocols"]; !reflect.DeepEqual(got, []any{"http", "https"}) {
		t.Errorf("route protocols default changed to %v", got)
	}
	up2 := mustValidate(t, Upstreams, map[string]any{"name": "u"})
	if !reflect.DeepEqual(up2["healthchecks"], healthchecksDefaults()) {
		t.Errorf("healthchecks default changed to %s", jsonString(up2["healthchecks"]))
	}
}

// TestValidateDoesNotModifyInput checks that the caller's map is left
// alone, shorthands included.
func TestValidateDoesNotModifyInput(t *testing.T) {
	in := map[string]any{"url": "https://example.com/v1"}
	mustValidate(t, Services, in)
	if !reflect.DeepEqual(in, map[string]any{"url": "https://example.com/v1"}) {
		t.Errorf("input changed to %v", in)
	}
}

func TestLookupAndTypes(t *testing.T) {
	names := TypeNames()
	want := []string{"acls", "basicauth_credentials", "ca_certificates", "certificates", "consumers",
		"jwt_secrets", "keyauth_credentials", "plugins", "routes", "services", "snis", "targets", "upstreams"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("TypeNames() = %v, want %v", names, want)
	}
	seen := map[string]int{}
	for i, s := range Types() {
		seen[s.Name] = i
		if Lookup(s.Name) != s {
			t.Errorf("Lookup(%q) does not return the schema", s.Name)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("Types() lists %d types, want %d", len(seen), len(want))
	}
	// Every reference points at a type listed earlier.
	for i, s := range Types() {
		for _, f := range s.ForeignFields() {
			if j, ok := seen[f.Reference]; !ok || j >= i {
				t.Errorf("%s.%s references %s, which is not listed before it", s.Name, f.Name, f.Reference)
			}
		}
	}
	if Lookup("apis") != nil {
		t.Error("Lookup of an unknown type returned a schema")
	}
}
