package declarative

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/gantry-gw/gantry/internal/entity"
)

func TestHashEmpty(t *testing.T) {
	for _, input := range []string{`_format_version: "3.0"`, `{"_format_version": "3.0", "services": []}`} {
		t.Run(input, func(t *testing.T) {
			h := mustParse(t, []byte(input)).Hash()
			if h.Config != EmptyHash {
				t.Errorf("config hash %s, want %s", h.Config, EmptyHash)
			}
			for _, g := range GroupNames() {
				if h.Groups[g] != EmptyHash {
					t.Errorf("group %s hash %s, want %s", g, h.Groups[g], EmptyHash)
				}
			}
		})
	}
	if h := (&Config{}).Hash(); h.Config != EmptyHash {
		t.Errorf("zero Config hash %s", h.Config)
	}
}

// TestHashGroups changes one entity at a time and checks which group
// hashes move: only that entity's group, and the config hash.
func TestHashGroups(t *testing.T) {
	base := fixture(t, "nested.yaml")
	before := mustParse(t, base).Hash()
	tests := []struct {
		name, old, new string
		changed        string
	}{
		{"route path", "paths: [/orders]", "paths: [/orders/v2]", GroupRoutes},
		{"service host", "host: users.internal", "host: people.internal", GroupServices},
		{"plugin config", "minute: 100", "minute: 99", GroupPlugins},
		{"upstream algorithm", "algorithm: least-connections", "algorithm: round-robin", GroupUpstreams},
		{"target weight", "weight: 50", "weight: 51", GroupTargets},
		{"acl group", "group: admins", "group: staff", GroupRest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changed := bytes.Replace(base, []byte(tt.old), []byte(tt.new), 1)
			if bytes.Equal(changed, base) {
				t.Fatalf("fixture has no %q", tt.old)
			}
			after := mustParse(t, changed).Hash()
			if after.Config == before.Config {
				t.Error("config hash did not change")
			}
			for _, g := range GroupNames() {
				if moved := after.Groups[g] != before.Groups[g]; moved != (g == tt.changed) {
					t.Errorf("group %s changed = %v, want %v", g, moved, g == tt.changed)
				}
			}
		})
	}
}

// TestHashIgnoresOrder re-reads the reference fixtures with every list of
// entities and every object's keys shuffled.
func TestHashIgnoresOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, name := range fixtureNames {
		data := fixture(t, name)
		want := mustParse(t, data).Hash()
		var doc any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			shuffled := shuffledJSON(rng, doc)
			got := mustParse(t, shuffled).Hash()
			if got.Config != want.Config {
				t.Fatalf("%s shuffle %d: hash %s, want %s\n%s", name, i, got.Config, want.Config, shuffled)
			}
		}
	}
}

// shuffledJSON writes v as JSON with object keys in random order, and
// lists of entities (lists of objects under an entity-list key) in random
// order too. Other lists keep their order, which means something
// (a service's ca_certificates, made of ids, is such a list).
func shuffledJSON(rng *rand.Rand, v any) []byte {
	var b bytes.Buffer
	var write func(v any, key string)
	write = func(v any, key string) {
		switch t := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			b.WriteByte('{')
			for i, k := range keys {
				if i > 0 {
					b.WriteByte(',')
				}
				kb, _ := json.Marshal(k)
				b.Write(kb)
				b.WriteByte(':')
				write(t[k], k)
			}
			b.WriteByte('}')
		case []any:
			list := slices.Clone(t)
			objects := !slices.ContainsFunc(list, func(x any) bool { _, ok := x.(map[string]any); return !ok })
			if objects && entity.Lookup(key) != nil {
				rng.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
			}
			b.WriteByte('[')
			for i, x := range list {
				if i > 0 {
					b.WriteByte(',')
				}
				write(x, "")
			}
			b.WriteByte(']')
		default:
			vb, _ := json.Marshal(t)
			b.Write(vb)
		}
	}
	write(v, "")
	return b.Bytes()
}

func TestHashFromEntities(t *testing.T) {
	parsed := mustParse(t, fixture(t, "nested.yaml"))
	m := map[string][]entity.Entity{}
	for typ, list := range parsed.Entities {
		reversed := slices.Clone(list)
		slices.Reverse(reversed)
		m[typ] = reversed
	}
	firstRoute := m["routes"][0]
	c := FromEntities(m)
	if got, want := c.Hash(), parsed.Hash(); got.Config != want.Config {
		t.Errorf("FromEntities hash %s, want %s", got.Config, want.Config)
	}
	if m["routes"][0].ID() != firstRoute.ID() {
		t.Error("FromEntities reordered the caller's slice")
	}
	// A Config made by hand with unsorted slices hashes the same too.
	if got := (&Config{Entities: m}).Hash(); got.Config != parsed.Hash().Config {
		t.Errorf("unsorted Config hash %s, want %s", got.Config, parsed.Hash().Config)
	}
}

// TestHashIgnoresTimestamps: when an entity was created or updated is not
// part of what the configuration is.
func TestHashIgnoresTimestamps(t *testing.T) {
	const v = "_format_version: \"3.0\"\n"
	plain := mustParse(t, []byte(v+"services: [{name: s, host: h}]\nconsumers: [{username: c}]\n")).Hash()
	stamped := mustParse(t, []byte(v+"services: [{name: s, host: h, created_at: 1, updated_at: 2}]\nconsumers: [{username: c, created_at: 3}]\n")).Hash()
	if plain.Config != stamped.Config {
		t.Errorf("timestamps changed the hash: %v, want %v", stamped, plain)
	}
}

// TestHashRestTypes checks that the rest group tells types apart: the
// same entity under another type changes the hash.
func TestHashRestTypes(t *testing.T) {
	e := entity.Entity{"id": "0b8f5a4e-0000-4000-8000-000000000001", "group": "g"}
	a := FromEntities(map[string][]entity.Entity{"acls": {e}}).Hash()
	b := FromEntities(map[string][]entity.Entity{"jwt_secrets": {e}}).Hash()
	if a.Groups[GroupRest] == b.Groups[GroupRest] || a.Config == b.Config {
		t.Error("moving an entity between types did not change the hash")
	}
	if a.Groups[GroupRoutes] != EmptyHash {
		t.Errorf("routes group %s, want %s", a.Groups[GroupRoutes], EmptyHash)
	}
}

// TestCanonical pins the canonical form the hashes are computed over.
func TestCanonical(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"keys sorted, nulls and timestamps dropped", entity.Entity{
			"name": "a", "id": "x", "created_at": int64(1), "updated_at": int64(2), "path": nil,
		}, `{"id":"x","name":"a"}`},
		{"nested timestamps kept", entity.Entity{
			"config": map[string]any{"created_at": int64(1), "b": nil, "a": []any{int64(1), "x", nil, true}},
		}, `{"config":{"a":[1,"x",null,true],"created_at":1}}`},
		{"numbers by value", []any{1.0, int64(1), 0.5, 1e21, json.Number("2"), json.Number("2.5")}, `[1,1,0.5,1e+21,2,2.5]`},
		{"strings escaped", "a\"b\\c\n\x01é", `"a\"b\\c\n\u0001é"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := canonicalString(tt.in); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	t.Run("schema fast path agrees", func(t *testing.T) {
		c := mustParse(t, fixture(t, "nested.yaml"))
		for typ, list := range c.Entities {
			for _, e := range list {
				var enc canonical
				enc.entity(typ, e)
				if got, want := string(enc.buf), canonicalString(e); got != want {
					t.Errorf("%s: fast path\n%s\nwant\n%s", typ, got, want)
				}
			}
		}
	})
}
