package entity

import (
	"strings"

	"github.com/google/uuid"
)

// NewID returns a random (version 4) UUID for an entity created through the
// Admin API.
func NewID() string { return uuid.NewString() }

// idNamespace seeds the name-based ids of entities read from declarative
// files; it is Gantry's own, fixed forever so ids stay stable across
// releases.
var idNamespace = uuid.MustParse("5b0b4d1e-3c0f-4c52-9e5e-6761e7a1c0de")

// StableID returns a name-based (version 5) UUID for an entity of type typ
// identified by key, so that a declarative file without ids yields the same
// ids, and so the same config hash, every time it is read.
func StableID(typ string, key ...string) string {
	return uuid.NewSHA1(idNamespace, []byte(typ+"\x00"+strings.Join(key, "\x00"))).String()
}

// NaturalKey returns what identifies an entity besides its id: its
// endpoint key (a service's name, a consumer's username) or, failing that,
// its cache key (a target's upstream and address). ok is false when the
// entity has neither, as an unnamed route or a certificate.
func (s *Schema) NaturalKey(e Entity) (key []string, ok bool) {
	if s.EndpointKey != "" {
		if v := e.String(s.EndpointKey); v != "" {
			return []string{s.EndpointKey, v}, true
		}
	}
	if s == Consumers {
		if v := e.String("custom_id"); v != "" {
			return []string{"custom_id", v}, true
		}
	}
	if len(s.CacheKey) == 0 {
		return nil, false
	}
	for _, name := range s.CacheKey {
		f := s.byName[name]
		v := ""
		if f.Kind == Foreign {
			v = e.Ref(name)
		} else {
			v = e.String(name)
		}
		key = append(key, name, v)
	}
	return key, true
}
