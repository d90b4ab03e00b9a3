package declarative

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gantry-gw/gantry/internal/entity"
)

// nesting is a list of child entities that decK allows inside an entity:
// under key, entities of type child, whose foreign key field points at the
// entity they are nested in.
type nesting struct {
	key   string
	child *entity.Schema
	field string
}

// nestings lists, by parent type, the children decK nests, in the order
// they are read and written.
var nestings = map[string][]nesting{
	"certificates": {{"snis", entity.SNIs, "certificate"}},
	"services": {
		{"routes", entity.Routes, "service"},
		{"plugins", entity.Plugins, "service"},
	},
	"routes":    {{"plugins", entity.Plugins, "route"}},
	"upstreams": {{"targets", entity.Targets, "upstream"}},
	"consumers": {
		{"keyauth_credentials", entity.KeyAuthCredentials, "consumer"},
		{"basicauth_credentials", entity.BasicAuthCredentials, "consumer"},
		{"jwt_secrets", entity.JWTSecrets, "consumer"},
		{"acls", entity.ACLs, "consumer"},
		{"plugins", entity.Plugins, "consumer"},
	},
}

// unsupportedTypes are top-level keys of decK and Kong files naming entity
// types Gantry does not have. They get a clearer error than "unknown
// field", since the file is right and Gantry is the one that lacks them.
var unsupportedTypes = map[string]bool{
	"consumer_groups": true, "consumer_group_consumers": true, "consumer_group_plugins": true,
	"vaults": true, "partials": true, "plugins_partials": true, "keys": true, "key_sets": true,
	"filter_chains": true, "custom_entities": true, "custom_plugins": true, "cloned_plugins": true,
	"_plugin_configs": true, "rbac_roles": true, "licenses": true,
	"workspaces": true, "parameters": true, "hmacauth_credentials": true, "oauth2_credentials": true,
	"mtls_auth_credentials": true, "degraphql_routes": true, "document_objects": true,
	"graphql_ratelimiting_cost_decorations": true,
}

// unsupportedFields are keys decK allows inside an entity that name
// entity types Gantry does not have, mapped to that type's name.
var unsupportedFields = map[string]map[string]string{
	"consumers": {
		"groups": "consumer_groups", "hmacauth_credentials": "hmacauth_credentials",
		"oauth2_credentials": "oauth2_credentials", "mtls_auth_credentials": "mtls_auth_credentials",
	},
	"plugins": {"partials": "partials", "consumer_group": "consumer_groups"},
}

func unsupportedMessage(typ string) string {
	return fmt.Sprintf("entity type '%s' is not supported by Gantry", typ)
}

// headerKeys are the top-level keys that describe the file rather than
// hold entities.
var headerKeys = map[string]bool{
	"_format_version": true, "_transform": true, "_workspace": true, "_konnect": true, "_info": true,
}

// item is one entity of the file on its way to the Config.
type item struct {
	schema *entity.Schema
	// path is where the entity is in the file; seq its rank in reading
	// order, which orders the errors.
	path string
	seq  int
	// input is the entity as written, without nested children; raw is
	// what gets validated: input plus defaults, select tags and resolved
	// references.
	input map[string]any
	raw   map[string]any
	// parent is the entity this one is nested in, and parentField the
	// foreign key that points at it.
	parent      *item
	parentField string
	// id is the entity's id: given, derived, or (for an invalid entity)
	// a placeholder that lets the entities pointing at it be checked.
	id      string
	givenID bool
	// valid is the validated entity; nil when errs is not empty.
	valid entity.Entity
	errs  entity.Errors
}

// label names the item for messages: `services[0] (service "orders")`.
func (it *item) label() string {
	ee := EntityError{Type: it.schema.Name, Path: it.path, Name: nameOf(it.schema, it.input)}
	return ee.label()
}

// nameOf returns what people call an entity of type s, never a secret.
func nameOf(s *entity.Schema, m map[string]any) string {
	str := func(k string) string { v, _ := m[k].(string); return v }
	switch s {
	case entity.Plugins:
		if n := str("instance_name"); n != "" {
			return n
		}
		return str("name")
	case entity.Consumers:
		if n := str("username"); n != "" {
			return n
		}
		return str("custom_id")
	case entity.KeyAuthCredentials:
		return ""
	case entity.Targets:
		return str("target")
	case entity.ACLs:
		return str("group")
	}
	if s.EndpointKey != "" {
		return str(s.EndpointKey)
	}
	return ""
}

// parser holds the state of one Parse.
type parser struct {
	seq int
	// top holds the problems of the file itself, by top-level key.
	top entity.Errors
	// items are the entities read, by type, in file order; broken are
	// list elements that are not objects.
	items  map[string][]*item
	broken []*item
	// defaults are _info.defaults by type name; selectTags are added to
	// every entity.
	defaults   map[string]map[string]any
	selectTags []any
	// hashPasswords is false when the file says basic-auth passwords are
	// already hashed.
	hashPasswords bool
	indexes       map[string]*index
}

// Parse reads a declarative file — YAML or JSON, decK's nested layout or
// flat lists, format version 3.0 — and returns the configuration it
// describes.
//
// Every entity is validated with its schema; references (a route's
// service by id or by name) are resolved to ids; an entity without an id
// gets one derived from its name, or from its parent and content when it
// has no name, so a file always yields the same ids and the same hash;
// names and cache keys must be unique within the file. Basic-auth
// passwords are hashed unless _info.skip_hash_for_basic_auth is true or
// _transform is false. Generated values (a key-auth key) are never made
// up: a file must give them.
//
// The error is a *SyntaxError when the input is not well-formed YAML or
// JSON, and Errors, listing every problem found, when the content is
// invalid.
func Parse(data []byte) (*Config, error) {
	doc, err := decode(data)
	if err != nil {
		return nil, err
	}
	top, ok := doc.(map[string]any)
	if !ok {
		msg := "expected a mapping of _format_version and entity lists at the top level"
		if doc == nil {
			msg = "the file is empty; " + msg
		}
		return nil, Errors{{Errors: entity.Errors{{Field: entity.EntityField, Message: msg}}}}
	}
	p := &parser{
		items:         map[string][]*item{},
		defaults:      map[string]map[string]any{},
		hashPasswords: true,
		indexes:       map[string]*index{},
	}
	p.readHeader(top)
	for _, s := range entity.Types() {
		p.walkList(s, top[s.Name], s.Name, nil, "")
	}
	for _, k := range slices.Sorted(maps.Keys(top)) {
		switch {
		case headerKeys[k] || entity.Lookup(k) != nil:
		case unsupportedTypes[k]:
			p.top = append(p.top, entity.FieldError{Field: k, Message: unsupportedMessage(k)})
		default:
			p.top = append(p.top, entity.FieldError{Field: k, Message: "unknown field"})
		}
	}
	p.build()
	return p.result()
}

// readHeader reads the keys that describe the file: its format version,
// workspace and _info.
func (p *parser) readHeader(top map[string]any) {
	fail := func(field, msg string, v any) {
		p.top = append(p.top, entity.FieldError{Field: field, Message: msg, Value: v, HasValue: true})
	}
	switch v, ok := top["_format_version"]; {
	case !ok || v == nil:
		p.top = append(p.top, entity.FieldError{Field: "_format_version",
			Message: fmt.Sprintf("required field missing; Gantry reads format version %q", FormatVersion)})
	case v != FormatVersion:
		if _, isStr := v.(string); !isStr {
			fail("_format_version", fmt.Sprintf("expected a string: Gantry reads format version %q", FormatVersion), v)
		} else {
			fail("_format_version", fmt.Sprintf("unsupported format version; Gantry reads %q", FormatVersion), v)
		}
	}
	if v, ok := top["_transform"]; ok && v != nil {
		b, isBool := v.(bool)
		if !isBool {
			fail("_transform", "expected a boolean", v)
		} else if !b {
			p.hashPasswords = false
		}
	}
	if v, ok := top["_workspace"]; ok && v != nil && v != "default" {
		fail("_workspace", `workspaces are not supported by Gantry: only "default" is accepted`, v)
	}
	if v, ok := top["_konnect"]; ok && v != nil {
		if _, isMap := v.(map[string]any); !isMap {
			fail("_konnect", "expected a record", v)
		}
	}
	if v, ok := top["_info"]; ok && v != nil {
		info, isMap := v.(map[string]any)
		if !isMap {
			fail("_info", "expected a record", v)
			return
		}
		p.readInfo(info)
	}
}

// readInfo reads _info: select_tags, defaults and
// skip_hash_for_basic_auth.
func (p *parser) readInfo(info map[string]any) {
	fail := func(field, msg string, v any) {
		fe := entity.FieldError{Field: "_info." + field, Message: msg}
		if v != nil {
			fe.Value, fe.HasValue = v, true
		}
		p.top = append(p.top, fe)
	}
	tagCheck := entity.Services.Field("tags").Elements.Check
	for _, k := range slices.Sorted(maps.Keys(info)) {
		v := info[k]
		if v == nil {
			continue
		}
		switch k {
		case "select_tags":
			list, ok := v.([]any)
			if !ok {
				fail(k, "expected an array", v)
				continue
			}
			for i, t := range list {
				s, ok := t.(string)
				if !ok {
					fail(fmt.Sprintf("%s[%d]", k, i), "expected a string", t)
					continue
				}
				if msg := tagCheck(s); msg != "" {
					fail(fmt.Sprintf("%s[%d]", k, i), msg, nil)
					continue
				}
				p.selectTags = append(p.selectTags, s)
			}
		case "skip_hash_for_basic_auth":
			b, ok := v.(bool)
			if !ok {
				fail(k, "expected a boolean", v)
			} else if b {
				p.hashPasswords = false
			}
		case "defaults":
			p.readDefaults(v, fail)
		case "default_lookup_tags", "consumer_group_policy_overrides":
			fail(k, "not supported by Gantry: a file holds the whole configuration, so every reference must resolve within it", nil)
		default:
			fail(k, "unknown field", nil)
		}
	}
}

// readDefaults reads _info.defaults: per entity kind ("service", "route"),
// values given to entities that lack the field, as decK does.
func (p *parser) readDefaults(v any, fail func(field, msg string, v any)) {
	defs, ok := v.(map[string]any)
	if !ok {
		fail("defaults", "expected a record", v)
		return
	}
	for _, kind := range slices.Sorted(maps.Keys(defs)) {
		field := "defaults." + kind
		s := entity.Lookup(kind + "s")
		if s == nil {
			fail(field, "unknown entity kind; expected one of: "+kindNames(), nil)
			continue
		}
		values, ok := defs[kind].(map[string]any)
		if !ok {
			if defs[kind] != nil {
				fail(field, "expected a record", defs[kind])
			}
			continue
		}
		good := map[string]any{}
		for _, name := range slices.Sorted(maps.Keys(values)) {
			switch f := s.Field(name); {
			case f == nil:
				fail(field+"."+name, "unknown field", nil)
			case f.Auto:
				fail(field+"."+name, "cannot have a default", nil)
			default:
				good[name] = values[name]
			}
		}
		p.defaults[s.Name] = good
	}
}

// kindNames lists the singular entity kinds _info.defaults accepts.
func kindNames() string {
	var names []string
	for _, s := range entity.Types() {
		names = append(names, singular(s.Name))
	}
	return strings.Join(names, ", ")
}

// walkList reads a list of entities of type s found at path: a top-level
// list when parent is nil, else one nested in parent under parentField.
func (p *parser) walkList(s *entity.Schema, v any, path string, parent *item, parentField string) {
	if v == nil {
		return
	}
	list, ok := v.([]any)
	if !ok {
		if m, isMap := v.(map[string]any); isMap && len(m) == 0 {
			return // an empty object is how some encoders write an empty list
		}
		fe := entity.FieldError{Field: path, Message: "expected an array", Value: v, HasValue: true}
		if parent == nil {
			p.top = append(p.top, fe)
		} else {
			fe.Field = path[strings.LastIndexByte(path, '.')+1:]
			parent.errs = append(parent.errs, fe)
		}
		return
	}
	for i, x := range list {
		p.walkItem(s, x, fmt.Sprintf("%s[%d]", path, i), parent, parentField)
	}
}

// walkItem reads one entity and the children nested in it.
func (p *parser) walkItem(s *entity.Schema, v any, path string, parent *item, parentField string) {
	if name, ok := v.(string); ok && s == entity.SNIs && parent != nil {
		v = map[string]any{"name": name} // decK writes a certificate's snis as bare names
	}
	p.seq++
	it := &item{schema: s, path: path, seq: p.seq, parent: parent, parentField: parentField}
	m, ok := v.(map[string]any)
	if !ok {
		it.errs = append(it.errs, entity.FieldError{Field: entity.EntityField, Message: "expected a record", Value: v, HasValue: true})
		p.broken = append(p.broken, it)
		return
	}
	nested := nestings[s.Name]
	it.input = make(map[string]any, len(m))
	for k, x := range m {
		if slices.ContainsFunc(nested, func(n nesting) bool { return n.key == k }) {
			continue
		}
		if typ, ok := unsupportedFields[s.Name][k]; ok {
			it.errs = append(it.errs, entity.FieldError{Field: k, Message: unsupportedMessage(typ)})
			continue
		}
		it.input[k] = x
	}
	it.raw = maps.Clone(it.input)
	for k, def := range p.defaults[s.Name] {
		it.raw[k] = fillDefault(it.raw[k], def)
	}
	if len(p.selectTags) > 0 {
		it.raw["tags"] = addTags(it.raw["tags"], p.selectTags)
	}
	p.items[s.Name] = append(p.items[s.Name], it)
	for _, n := range nested {
		p.walkList(n.child, m[n.key], path+"."+n.key, it, n.field)
	}
}

// fillDefault returns cur, or a copy of def where cur is unset; objects
// are filled member by member, as decK fills nested structures.
func fillDefault(cur, def any) any {
	if cur == nil {
		return entity.CloneValue(def)
	}
	cm, ok1 := cur.(map[string]any)
	dm, ok2 := def.(map[string]any)
	if !ok1 || !ok2 {
		return cur
	}
	out := maps.Clone(cm)
	for k, v := range dm {
		out[k] = fillDefault(cm[k], v)
	}
	return out
}

// addTags returns the entity's tags with the select tags added; tags that
// are not a list are left for validation to refuse.
func addTags(cur any, tags []any) any {
	if cur == nil {
		return slices.Clone(tags)
	}
	list, ok := cur.([]any)
	if !ok {
		return cur
	}
	out := slices.Clone(list)
	for _, t := range tags {
		if !slices.Contains(list, t) {
			out = append(out, t)
		}
	}
	return out
}

// result gathers the errors in file order, or builds the Config.
func (p *parser) result() (*Config, error) {
	var errs Errors
	if len(p.top) > 0 {
		errs = append(errs, EntityError{Errors: p.top})
	}
	failed := slices.Clone(p.broken)
	for _, list := range p.items {
		for _, it := range list {
			if len(it.errs) > 0 {
				failed = append(failed, it)
			}
		}
	}
	slices.SortFunc(failed, func(a, b *item) int { return a.seq - b.seq })
	for _, it := range failed {
		ee := EntityError{Type: it.schema.Name, Path: it.path, Entity: it.input, Errors: it.errs}
		if it.givenID {
			ee.ID = it.id
		}
		if it.input != nil {
			ee.Name = nameOf(it.schema, it.input)
			if tags, ok := it.input["tags"].([]any); ok {
				for _, t := range tags {
					if s, ok := t.(string); ok {
						ee.Tags = append(ee.Tags, s)
					}
				}
			}
		}
		errs = append(errs, ee)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	c := &Config{FormatVersion: FormatVersion, Entities: map[string][]entity.Entity{}, sorted: true}
	for typ, list := range p.items {
		out := make([]entity.Entity, 0, len(list))
		for _, it := range list {
			out = append(out, it.valid)
		}
		if len(out) > 0 {
			c.Entities[typ] = sortedByID(out)
		}
	}
	return c, nil
}
