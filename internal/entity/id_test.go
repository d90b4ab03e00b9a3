package entity

import (
	"reflect"
	"regexp"
	"testing"
)

func TestNaturalKey(t *testing.T) {
	tests := []struct {
		name   string
		schema *Schema
		e      Entity
		want   []string
		wantOK bool
	}{
		{"service by name", Services, Entity{"name": "svc", "host": "h"}, []string{"name", "svc"}, true},
		{"unnamed service", Services, Entity{"host": "h"}, nil, false},
		{"unnamed route", Routes, Entity{"paths": []any{"/"}}, nil, false},
		{"consumer by username", Consumers, Entity{"username": "alice", "custom_id": "c1"}, []string{"username", "alice"}, true},
		{"consumer by custom_id", Consumers, Entity{"custom_id": "c1"}, []string{"custom_id", "c1"}, true},
		{"target by upstream and address", Targets, Entity{"upstream": ref(testUpstreamID), "target": "h:8000"},
			[]string{"upstream", testUpstreamID, "target", "h:8000"}, true},
		{"acl by consumer and group", ACLs, Entity{"consumer": ref(testConsumerID), "group": "g"},
			[]string{"consumer", testConsumerID, "group", "g"}, true},
		{"plugin by scope", Plugins, Entity{"name": "cors", "service": ref(testServiceID)},
			[]string{"name", "cors", "route", "", "service", testServiceID, "consumer", ""}, true},
		{"plugin by instance name", Plugins, Entity{"name": "cors", "instance_name": "cors-1"},
			[]string{"instance_name", "cors-1"}, true},
		{"key-auth by key", KeyAuthCredentials, Entity{"key": "k1"}, []string{"key", "k1"}, true},
		{"certificate", Certificates, Entity{"cert": "x"}, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.schema.NaturalKey(tc.e)
			if ok != tc.wantOK || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("NaturalKey = %q, %v; want %q, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

var uuidV5 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestStableID(t *testing.T) {
	base := StableID("services", "name", "svc")
	if !uuidV5.MatchString(base) {
		t.Fatalf("StableID = %q, not a version 5 UUID", base)
	}
	if again := StableID("services", "name", "svc"); again != base {
		t.Errorf("StableID not deterministic: %q then %q", base, again)
	}
	others := []struct {
		name string
		id   string
	}{
		{"other type", StableID("routes", "name", "svc")},
		{"other key", StableID("services", "name", "svc2")},
		{"other key field", StableID("services", "custom_id", "svc")},
		{"split differently", StableID("services", "namesvc")},
		{"no key", StableID("services")},
	}
	seen := map[string]string{base: "base"}
	for _, o := range others {
		if prev, dup := seen[o.id]; dup {
			t.Errorf("%s: StableID %q equals that of %s", o.name, o.id, prev)
		}
		seen[o.id] = o.name
	}
}

func TestStableIDIsFixed(t *testing.T) {
	// Recorded once: ids of declarative entities must never change between
	// releases, or every data plane would see a new configuration.
	const want = "37bc349d-1f4e-52ac-a1cc-9b389efc1ed4"
	got := StableID("services", "name", "example")
	if !uuidV5.MatchString(got) {
		t.Fatalf("StableID = %q, not a version 5 UUID", got)
	}
	if got != want {
		t.Errorf("StableID(services, name, example) = %q, want %q", got, want)
	}
}

func TestNewID(t *testing.T) {
	a, b := NewID(), NewID()
	for _, id := range []string{a, b} {
		if !IsUUID(id) || !uuidV4.MatchString(id) {
			t.Errorf("NewID = %q, not a version 4 UUID", id)
		}
	}
	if a == b {
		t.Errorf("NewID returned %q twice", a)
	}
}

func TestIsUUID(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{testServiceID, true},
		{"3B0B0A1E-52D0-4B9A-9F0E-2C6F3F4A1B01", true},
		{"3b0b0a1e52d04b9a9f0e2c6f3f4a1b01", false},
		{"{3b0b0a1e-52d0-4b9a-9f0e-2c6f3f4a1b01}", false},
		{"3b0b0a1e-52d0-4b9a-9f0e-2c6f3f4a1b0", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := IsUUID(tc.in); got != tc.want {
			t.Errorf("IsUUID(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestHashBasicAuthPassword(t *testing.T) {
	tests := []struct {
		name     string
		password string
		consumer string
		want     string
	}{
		// sha1("hunter2" + consumer id), computed with sha1sum.
		{"with consumer", "hunter2", testConsumerID, "522904df03f1f92c730e3d02449da6aca39cf02b"},
		{"other consumer gives another digest", "hunter2", testServiceID, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := Entity{"username": "u", "password": tc.password, "consumer": ref(tc.consumer)}
			HashBasicAuthPassword(e)
			got := e.String("password")
			if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(got) {
				t.Fatalf("password = %q, not hex SHA-1", got)
			}
			if tc.want != "" && got != tc.want {
				t.Errorf("password = %q, want %q", got, tc.want)
			}
			if tc.want == "" && got == "522904df03f1f92c730e3d02449da6aca39cf02b" {
				t.Error("digest does not depend on the consumer")
			}
			if e["username"] != "u" {
				t.Error("other fields changed")
			}
		})
	}
}

func TestGenerate(t *testing.T) {
	in := map[string]any{"consumer": ref(testConsumerID)}
	KeyAuthCredentials.Generate(in)
	key, _ := in["key"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(key) {
		t.Errorf("generated key = %q, want 32 hex characters", in["key"])
	}
	in2 := map[string]any{"consumer": ref(testConsumerID)}
	KeyAuthCredentials.Generate(in2)
	if in2["key"] == key {
		t.Error("two generated keys are equal")
	}
	given := map[string]any{"key": "mine"}
	KeyAuthCredentials.Generate(given)
	if given["key"] != "mine" {
		t.Errorf("Generate replaced a given key with %v", given["key"])
	}
	jwt := map[string]any{}
	JWTSecrets.Generate(jwt)
	if jwt["key"] == nil || jwt["secret"] == nil {
		t.Errorf("JWT secret generation gave %v", jwt)
	}
	svc := map[string]any{}
	Services.Generate(svc)
	if len(svc) != 0 {
		t.Errorf("Generate filled service fields: %v", svc)
	}
}
