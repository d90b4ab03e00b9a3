// Package entity defines Gantry's configuration entities — services, routes,
// upstreams, targets, consumers, credentials, plugins, certificates, SNIs and
// CA certificates — with Kong's field names, types, defaults and validation.
//
// An entity is held as JSON-compatible values (Entity), described by a Schema.
// Keeping one generic representation lets the Admin API, the declarative
// reader and the stores share a single validator: defaults, coercion of form
// input, partial updates and field-level errors are written once, here, and
// every caller reports errors in the same Kong-compatible shape.
//
// The package knows nothing of HTTP, storage or sockets. Checks that need
// other entities (unique names, references) are described here (Unique,
// CacheKey, Reference) and enforced by the store.
package entity

import (
	"fmt"
	"sort"
)

// Entity is one configuration object as decoded JSON: string, int64, float64,
// bool, []any, map[string]any and nil values. After Schema.Validate every
// field of the schema is present (nil when unset), so output always carries
// the full shape Kong clients expect.
type Entity map[string]any

// ID returns the entity's id, or "" when it has none yet.
func (e Entity) ID() string {
	s, _ := e["id"].(string)
	return s
}

// String returns the string value of field name, or "" when unset.
func (e Entity) String(name string) string {
	s, _ := e[name].(string)
	return s
}

// Ref returns the id a foreign-key field points to, or "" when it is unset.
func (e Entity) Ref(name string) string {
	m, ok := e[name].(map[string]any)
	if !ok {
		return ""
	}
	s, _ := m["id"].(string)
	return s
}

// Clone returns a deep copy, so a caller can change it without touching a
// value shared with others (a cached snapshot, say).
func (e Entity) Clone() Entity {
	if e == nil {
		return nil
	}
	return cloneValue(map[string]any(e)).(map[string]any)
}

// CloneValue returns a deep copy of a JSON-compatible value (maps and
// slices copied, scalars shared).
func CloneValue(v any) any { return cloneValue(v) }

func cloneValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = cloneValue(x)
		}
		return m
	case Entity:
		return Entity(cloneValue(map[string]any(t)).(map[string]any))
	case []any:
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = cloneValue(x)
		}
		return s
	default:
		return v
	}
}

// Kind is the type of a field's value.
type Kind int

// The kinds of values a field can hold, after Kong's schema types.
const (
	String  Kind = iota
	Integer      // whole number, held as int64
	Number       // any number, held as float64
	Boolean
	Array   // ordered list of Elements
	Set     // list of Elements with duplicates removed
	Map     // string keys to Elements
	Record  // nested Fields
	Foreign // {"id": "<uuid>"} pointing at an entity of type Reference
	JSON    // any JSON value, checked only by Check
)

var kindNames = map[Kind]string{
	String: "a string", Integer: "an integer", Number: "a number",
	Boolean: "a boolean", Array: "an array", Set: "a set", Map: "a map",
	Record: "a record", Foreign: "a foreign key", JSON: "a JSON value",
}

func (k Kind) String() string { return kindNames[k] }

// OnDelete says what happens to an entity when the entity its foreign key
// points at is deleted.
type OnDelete int

const (
	// Restrict refuses the delete while this entity still points at it
	// (Kong's default: a service with routes cannot be deleted).
	Restrict OnDelete = iota
	// Cascade deletes this entity along with the one it points at.
	Cascade
)

// Field describes one field of a schema or of a nested record.
type Field struct {
	Name string
	Kind Kind

	// Elements describes the elements of an Array or Set and the values of
	// a Map.
	Elements *Field
	// Fields are the members of a Record.
	Fields []*Field
	// Reference is the entity type a Foreign field points at; OnDelete says
	// what deleting that entity does to this one.
	Reference string
	OnDelete  OnDelete

	// Default is filled in when the field is absent from the input. Slices
	// and maps are deep-copied on use.
	Default any
	// Required fields must be present and not null after defaults.
	Required bool
	// Unique values may appear on one entity of the type only.
	Unique bool
	// Auto fields (id, created_at, updated_at) are set by Gantry; a value
	// given by the client is checked but never required.
	Auto bool

	// OneOf lists the allowed values.
	OneOf []any
	// Min and Max bound numbers (inclusive) when HasRange is set.
	Min, Max float64
	HasRange bool
	// LenMin and LenMax bound string length and element counts; zero means
	// no bound, except that a string is never empty (Kong's default).
	LenMin, LenMax int
	// Check runs after the type checks on a non-null value and returns a
	// Kong-style message when the value is wrong.
	Check func(v any) string
	// KeyCheck validates the keys of a Map.
	KeyCheck func(k string) string
	// Normalize rewrites a valid value into its stored form (a target
	// without a port gains Kong's default :8000).
	Normalize func(v any) any
	// Generate makes a value for an absent field on entities created
	// through the Admin API (a key-auth key). Declarative files must give
	// such values themselves, so that a file always yields the same config.
	Generate func() any
}

// Check is an entity-level validation rule: it sees the whole entity after
// field validation and reports errors against fields or "@entity".
type Check func(e Entity) []FieldError

// Schema describes one entity type.
type Schema struct {
	// Name is the entity type's plural name as Kong's database and
	// declarative config spell it: "services", "keyauth_credentials".
	Name string
	// EndpointKey is the field, besides id, that identifies an entity in
	// Admin API paths (services/{name}); "" when there is none.
	EndpointKey string
	// CacheKey lists fields whose combined values must be unique (a target's
	// upstream and address, a plugin's name and scope).
	CacheKey []string
	// Fields in output order.
	Fields []*Field
	// Checks run after field validation, in order, and only when every
	// field is valid. A check may fill fields derived from others (a CA
	// certificate's digest).
	Checks []Check
	// Shorthands are write-only input fields expanded into real fields
	// before validation (a service's url).
	Shorthands map[string]func(v any) (Entity, string)

	byName map[string]*Field
}

// Field returns the top-level field called name, or nil.
func (s *Schema) Field(name string) *Field {
	return s.byName[name]
}

// ForeignFields returns the fields that point at other entities, in schema
// order.
func (s *Schema) ForeignFields() []*Field {
	var out []*Field
	for _, f := range s.Fields {
		if f.Kind == Foreign {
			out = append(out, f)
		}
	}
	return out
}

// UniqueFields returns the fields whose values are unique per type.
func (s *Schema) UniqueFields() []*Field {
	var out []*Field
	for _, f := range s.Fields {
		if f.Unique {
			out = append(out, f)
		}
	}
	return out
}

// Generate fills absent fields that have a generator (Field.Generate), as
// the Admin API does on create.
func (s *Schema) Generate(in map[string]any) {
	for _, f := range s.Fields {
		if f.Generate == nil {
			continue
		}
		if v, ok := in[f.Name]; !ok || v == nil {
			in[f.Name] = f.Generate()
		}
	}
}

var registry = map[string]*Schema{}

// register indexes a schema's fields and adds it to the set Lookup knows.
func register(s *Schema) *Schema {
	s.byName = make(map[string]*Field, len(s.Fields))
	for _, f := range s.Fields {
		s.byName[f.Name] = f
	}
	if _, dup := registry[s.Name]; dup {
		panic(fmt.Sprintf("entity: schema %q registered twice", s.Name))
	}
	registry[s.Name] = s
	return s
}

// Lookup returns the schema for an entity type name, or nil.
func Lookup(name string) *Schema {
	return registry[name]
}

// Types lists every entity type in dependency order: an entity's references
// always point at types listed before it, so importing in this order never
// meets a dangling reference, and deleting in reverse order never meets a
// restricted one.
func Types() []*Schema {
	return []*Schema{
		Certificates, CACertificates, SNIs, Services, Routes, Upstreams,
		Targets, Consumers, KeyAuthCredentials, BasicAuthCredentials,
		JWTSecrets, ACLs, Plugins,
	}
}

// TypeNames returns the names of Types, sorted, for error messages.
func TypeNames() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
