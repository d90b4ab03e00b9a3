package declarative

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gantry-gw/gantry/internal/entity"
)

// placeholderRef stands in for a reference that did not resolve, so the
// rest of the entity is still validated without a second, misleading
// "required field missing" for the same field.
const placeholderRef = "00000000-0000-0000-0000-000000000000"

// index finds the entities of one type read so far.
type index struct {
	byID       map[string]*item
	byKey      map[string]*item // by endpoint key (name, username)
	byCustomID map[string]*item // consumers only
	// unique maps uniqueness keys (a field and its value, or a cache
	// key) to the first entity holding them.
	unique map[string]*item
}

func (p *parser) index(typ string) *index {
	idx := p.indexes[typ]
	if idx == nil {
		idx = &index{byID: map[string]*item{}, byKey: map[string]*item{}, byCustomID: map[string]*item{}, unique: map[string]*item{}}
		p.indexes[typ] = idx
	}
	return idx
}

// build resolves, validates and identifies every entity, type by type in
// dependency order, so that the entities a reference can point at have
// all been read (and given ids) before it is resolved.
func (p *parser) build() {
	for _, s := range entity.Types() {
		idx := p.index(s.Name)
		for _, it := range p.items[s.Name] {
			p.process(it, idx)
		}
	}
}

// process takes one entity from its raw form to a validated entity with
// an id, recording every problem on the item.
func (p *parser) process(it *item, idx *index) {
	s, raw := it.schema, it.raw
	if v, ok := raw["id"].(string); ok {
		v = strings.ToLower(v)
		raw["id"] = v
		if entity.IsUUID(v) {
			it.id, it.givenID = v, true
		}
	}
	for _, f := range s.ForeignFields() {
		p.resolveField(it, f)
	}
	if s == entity.Services {
		lowerCAs(raw)
	}
	e, errs := s.Validate(raw, entity.Options{})
	it.errs = append(it.errs, errs...)
	if len(it.errs) == 0 {
		p.finish(it, e, idx)
	} else {
		// Still claim the unique values the entity gives, so a later
		// entity that repeats them is told so in this same pass.
		it.errs = append(it.errs, p.checkUnique(it, it.raw, false)...)
	}
	p.register(it, idx)
}

// finish runs the checks that need a valid entity — references to CA
// certificates, uniqueness, ids — and keeps the entity when they pass.
func (p *parser) finish(it *item, e entity.Entity, idx *index) {
	s := it.schema
	if s == entity.Services {
		cas := p.index(entity.CACertificates.Name)
		list, _ := e["ca_certificates"].([]any)
		for i, id := range list {
			if cas.byID[id.(string)] == nil {
				it.errs = append(it.errs, entity.FieldError{Field: fmt.Sprintf("ca_certificates[%d]", i),
					Message: danglingMessage(id.(string), entity.CACertificates.Name)})
			}
		}
	}
	if s == entity.BasicAuthCredentials && p.hashPasswords {
		entity.HashBasicAuthPassword(e)
	}
	if !it.givenID {
		it.id = deriveID(s, e)
	}
	unique := p.checkUnique(it, e, true)
	it.errs = append(it.errs, unique...)
	if prev := idx.byID[it.id]; prev != nil && len(unique) == 0 {
		if it.givenID {
			it.errs = append(it.errs, entity.FieldError{Field: "id",
				Message: "duplicate id: already used by " + prev.label(), Value: it.id, HasValue: true})
		} else {
			it.errs = append(it.errs, entity.FieldError{Field: entity.EntityField,
				Message: "declared twice: same content as " + prev.label() +
					" (an entity without a name or an id is identified by its content)"})
		}
	}
	if len(it.errs) == 0 {
		e["id"] = it.id
		it.valid = e
	}
}

// register makes the entity findable by the references of later types:
// by id, and by endpoint key as written even when it is invalid, so that
// one bad entity does not also make every reference to it dangle.
func (p *parser) register(it *item, idx *index) {
	if it.id == "" {
		it.id = entity.StableID(it.schema.Name, "\x00invalid", it.path)
	}
	if idx.byID[it.id] == nil {
		idx.byID[it.id] = it
	}
	if k := it.schema.EndpointKey; k != "" {
		if v, ok := it.raw[k].(string); ok && v != "" && idx.byKey[v] == nil {
			idx.byKey[v] = it
		}
	}
	if it.schema == entity.Consumers {
		if v, ok := it.raw["custom_id"].(string); ok && v != "" && idx.byCustomID[v] == nil {
			idx.byCustomID[v] = it
		}
	}
}

// deriveID gives an entity without an id a deterministic one: from its
// natural key (a name, a username, a cache key) when it has one, else
// from its references and content. A file without ids thus yields the
// same ids, and the same hash, every time it is read, and a named entity
// keeps its id while its other fields change.
func deriveID(s *entity.Schema, e entity.Entity) string {
	if key, ok := s.NaturalKey(e); ok {
		return entity.StableID(s.Name, key...)
	}
	var parts []string
	for _, f := range s.ForeignFields() {
		if ref := e.Ref(f.Name); ref != "" {
			parts = append(parts, f.Name, ref)
		}
	}
	parts = append(parts, "content", canonicalString(e))
	return entity.StableID(s.Name, parts...)
}

// resolveField turns the foreign key f of an entity into {"id": ...}: from
// the entity it is nested in, or by resolving what the file wrote (an id,
// a name, {id: ...} or {name: ...}) against the entities of the file.
func (p *parser) resolveField(it *item, f *entity.Field) {
	v, present := it.raw[f.Name]
	if it.parent != nil && it.parentField == f.Name {
		if present && v != nil {
			if target, _ := p.lookupRef(f, v); target != it.parent {
				it.errs = append(it.errs, entity.FieldError{Field: f.Name,
					Message: fmt.Sprintf("names %s '%s' but is nested under %s",
						singular(f.Reference), describeRef(v), it.parent.label())})
			}
		}
		it.raw[f.Name] = map[string]any{"id": it.parent.id}
		return
	}
	if !present || v == nil {
		return
	}
	target, errs := p.lookupRef(f, v)
	if len(errs) > 0 {
		it.errs = append(it.errs, errs...)
		it.raw[f.Name] = map[string]any{"id": placeholderRef}
		return
	}
	it.raw[f.Name] = map[string]any{"id": target.id}
}

// lookupRef finds the entity a reference names: a string is an id or the
// referenced type's endpoint key (a consumer's username or custom_id); an
// object gives one of those under its own key.
func (p *parser) lookupRef(f *entity.Field, v any) (*item, entity.Errors) {
	idx := p.index(f.Reference)
	target := entity.Lookup(f.Reference)
	switch t := v.(type) {
	case string:
		if entity.IsUUID(t) {
			if it := idx.byID[strings.ToLower(t)]; it != nil {
				return it, nil
			}
		}
		if it := idx.byKey[t]; it != nil {
			return it, nil
		}
		if it := idx.byCustomID[t]; it != nil {
			return it, nil
		}
		return nil, entity.Errors{{Field: f.Name, Message: danglingMessage(t, f.Reference)}}
	case map[string]any:
		if len(t) == 0 {
			return nil, entity.Errors{{Field: f.Name + ".id", Message: "required field missing"}}
		}
		var found *item
		var errs entity.Errors
		for _, k := range slices.Sorted(maps.Keys(t)) {
			var in map[string]*item
			switch {
			case k == "id":
				in = idx.byID
			case target.EndpointKey != "" && k == target.EndpointKey:
				in = idx.byKey
			case target == entity.Consumers && k == "custom_id":
				in = idx.byCustomID
			default:
				errs = append(errs, entity.FieldError{Field: f.Name + "." + k, Message: "unknown field"})
				continue
			}
			s, ok := t[k].(string)
			if !ok || s == "" {
				errs = append(errs, entity.FieldError{Field: f.Name + "." + k, Message: "expected a string", Value: t[k], HasValue: true})
				continue
			}
			if k == "id" {
				s = strings.ToLower(s)
			}
			switch hit := in[s]; {
			case hit == nil:
				errs = append(errs, entity.FieldError{Field: f.Name, Message: danglingMessage(s, f.Reference)})
			case found != nil && found != hit:
				errs = append(errs, entity.FieldError{Field: f.Name, Message: "the keys of the reference name different entities"})
			default:
				found = hit
			}
		}
		return found, errs
	}
	return nil, entity.Errors{{Field: f.Name, Message: "expected an id, a name or a record", Value: v, HasValue: true}}
}

func danglingMessage(value, typ string) string {
	return fmt.Sprintf("the foreign key '%s' does not reference an existing '%s' entity", value, typ)
}

// describeRef renders what a reference names, for messages.
func describeRef(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(t)) {
			if s, ok := t[k].(string); ok {
				return s
			}
		}
	}
	return canonicalString(v)
}

// lowerCAs lower-cases the ids a service lists in ca_certificates, so they
// match the ids of the CA certificates they name.
func lowerCAs(raw map[string]any) {
	list, ok := raw["ca_certificates"].([]any)
	if !ok {
		return
	}
	out := make([]any, len(list))
	for i, x := range list {
		if s, ok := x.(string); ok {
			x = strings.ToLower(s)
		}
		out[i] = x
	}
	raw["ca_certificates"] = out
}

// secretFields are unique fields whose values must not appear in
// messages.
var secretFields = map[string]bool{"keyauth_credentials.key": true}

// checkUnique enforces, within the file, what the store enforces in a
// database: unique fields, and, when cacheKey is set (the entity is valid
// and its references resolved), cache keys (all their fields combined).
func (p *parser) checkUnique(it *item, e entity.Entity, cacheKey bool) entity.Errors {
	s := it.schema
	idx := p.index(s.Name)
	var errs entity.Errors
	claim := func(key, field string, names []string, value string) {
		prev := idx.unique[key]
		if prev == nil {
			idx.unique[key] = it
			return
		}
		what := fmt.Sprintf("with %s set to '%s'", strings.Join(names, ", "), value)
		if len(names) == 1 && secretFields[s.Name+"."+names[0]] {
			what = "with the same " + names[0]
		}
		errs = append(errs, entity.FieldError{Field: field,
			Message: fmt.Sprintf("uniqueness violation: '%s' entity %s already declared at %s", s.Name, what, prev.label())})
	}
	for _, f := range s.UniqueFields() {
		v := e[f.Name]
		if v == nil {
			continue
		}
		text := canonicalString(v)
		if str, ok := v.(string); ok {
			text = str
		}
		claim(f.Name+"\x00"+text, f.Name, []string{f.Name}, text)
	}
	if cacheKey && len(s.CacheKey) > 0 {
		key := "\x00cache"
		shown := make([]string, len(s.CacheKey))
		for i, name := range s.CacheKey {
			v := e[name]
			if s.Field(name).Kind == entity.Foreign {
				v = nil
				if ref := e.Ref(name); ref != "" {
					v = ref
				}
			}
			switch t := v.(type) {
			case nil:
				key += "\x00\x01"
				shown[i] = "null"
			case string:
				key += "\x00" + t
				shown[i] = t
			default:
				key += "\x00" + canonicalString(t)
				shown[i] = canonicalString(t)
			}
		}
		claim(key, entity.EntityField, s.CacheKey, strings.Join(shown, ", "))
	}
	return errs
}
