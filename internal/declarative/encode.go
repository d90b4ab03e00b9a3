package declarative

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/gantry-gw/gantry/internal/entity"
)

// Format is the syntax Encode writes.
type Format int

const (
	// YAML is decK's usual syntax, and what people edit.
	YAML Format = iota
	// JSON is for programs; it is also read by Parse.
	JSON
)

// Layout is how Encode arranges entities.
type Layout int

const (
	// Nested writes entities under their parents as decK does: routes
	// under their service, targets under their upstream, credentials
	// under their consumer, plugins under their only scope. It reads best.
	Nested Layout = iota
	// Flat writes one top-level list per entity type with references as
	// ids: every entity in one place, for programs and diffs by type.
	Flat
)

// Encode writes the config as a declarative file that Parse reads back to
// the same config and hash. Fields come in schema order (id first) with
// defaults written out, so the file says exactly what is served; nulls are
// left out, except where the field has a default that reading the file
// again would otherwise bring back. When the config holds basic-auth credentials, whose passwords
// are stored hashed, the file says so (_info.skip_hash_for_basic_auth) so
// that reading it back does not hash them again.
func (c *Config) Encode(f Format, l Layout) ([]byte, error) {
	if l != Nested && l != Flat {
		return nil, fmt.Errorf("encode config: unknown layout %d", l)
	}
	root, err := c.document(l)
	if err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	switch f {
	case YAML:
		var buf bytes.Buffer
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(root); err != nil {
			return nil, fmt.Errorf("encode config: %w", err)
		}
		if err := enc.Close(); err != nil {
			return nil, fmt.Errorf("encode config: %w", err)
		}
		return buf.Bytes(), nil
	case JSON:
		return append(appendJSON(nil, root, 0), '\n'), nil
	}
	return nil, fmt.Errorf("encode config: unknown format %d", f)
}

// document builds the file as an ordered YAML tree, which both syntaxes
// are written from, so keys come out in a reading order rather than
// sorted.
func (c *Config) document(l Layout) (*yaml.Node, error) {
	for _, typ := range slices.Sorted(maps.Keys(c.Entities)) {
		if entity.Lookup(typ) == nil && len(c.Entities[typ]) > 0 {
			return nil, fmt.Errorf("unknown entity type %q", typ)
		}
	}
	root := mappingNode()
	addMember(root, "_format_version", stringNode(FormatVersion))
	if len(c.Entities[entity.BasicAuthCredentials.Name]) > 0 {
		info := mappingNode()
		addMember(info, "skip_hash_for_basic_auth", scalarNode("!!bool", "true"))
		addMember(root, "_info", info)
	}
	w := &writer{c: c}
	if l == Nested {
		w.planNesting()
	}
	for _, s := range entity.Types() {
		list := seqNode()
		for _, e := range c.list(s.Name) {
			if w.nested[s.Name][e.ID()] {
				continue
			}
			n, err := w.entityNode(s, e, "")
			if err != nil {
				return nil, err
			}
			list.Content = append(list.Content, n)
		}
		if len(list.Content) > 0 {
			addMember(root, s.Name, list)
		}
	}
	return root, nil
}

// writer builds entity nodes, with their nested children in the nested
// layout.
type writer struct {
	c *Config
	// nested marks, by type and id, the entities written under a parent.
	nested map[string]map[string]bool
	// children holds, by parent type, parent id and nesting key, the
	// entities nested there, in id order.
	children map[string]map[string]map[string][]entity.Entity
}

// planNesting decides where each entity goes in the nested layout: under
// its parent when the parent is in the config (a plugin only when it has
// exactly one scope), else at the top level.
func (w *writer) planNesting() {
	w.nested = map[string]map[string]bool{}
	w.children = map[string]map[string]map[string][]entity.Entity{}
	for _, parent := range entity.Types() {
		present := map[string]bool{}
		for _, e := range w.c.Entities[parent.Name] {
			present[e.ID()] = true
		}
		for _, n := range nestings[parent.Name] {
			for _, e := range w.c.list(n.child.Name) {
				ref := e.Ref(n.field)
				if ref == "" || !present[ref] || (n.child == entity.Plugins && scopes(e) != 1) {
					continue
				}
				if w.nested[n.child.Name] == nil {
					w.nested[n.child.Name] = map[string]bool{}
				}
				w.nested[n.child.Name][e.ID()] = true
				byID := w.children[parent.Name]
				if byID == nil {
					byID = map[string]map[string][]entity.Entity{}
					w.children[parent.Name] = byID
				}
				if byID[ref] == nil {
					byID[ref] = map[string][]entity.Entity{}
				}
				byID[ref][n.key] = append(byID[ref][n.key], e)
			}
		}
	}
}

// scopes counts the entities a plugin is scoped to.
func scopes(e entity.Entity) int {
	n := 0
	for _, f := range []string{"route", "service", "consumer"} {
		if e.Ref(f) != "" {
			n++
		}
	}
	return n
}

// entityNode writes one entity of type s, without the field omit (the
// parent it is nested in), followed by its nested children.
func (w *writer) entityNode(s *entity.Schema, e entity.Entity, omit string) (*yaml.Node, error) {
	m := mappingNode()
	for _, f := range s.Fields {
		v := e[f.Name]
		if f.Name == omit {
			continue
		}
		if v == nil {
			addNullIfDefaulted(m, f)
			continue
		}
		if f.Kind == entity.Foreign {
			if id := e.Ref(f.Name); id != "" {
				addMember(m, f.Name, stringNode(id))
				continue
			}
		}
		n, err := valueNode(v, f)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %s: %w", s.Name, e.ID(), f.Name, err)
		}
		addMember(m, f.Name, n)
	}
	if err := addExtra(m, e, func(k string) bool { return s.Field(k) != nil }); err != nil {
		return nil, fmt.Errorf("%s %s: %w", s.Name, e.ID(), err)
	}
	for _, n := range nestings[s.Name] {
		kids := w.children[s.Name][e.ID()][n.key]
		if len(kids) == 0 {
			continue
		}
		list := seqNode()
		for _, kid := range kids {
			kn, err := w.entityNode(n.child, kid, n.field)
			if err != nil {
				return nil, err
			}
			list.Content = append(list.Content, kn)
		}
		addMember(m, n.key, list)
	}
	return m, nil
}

// addExtra writes the members of m that known does not claim, in sorted
// order, after the known ones.
func addExtra(node *yaml.Node, m map[string]any, known func(string) bool) error {
	var extra []string
	for k, v := range m {
		if v != nil && !known(k) {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	for _, k := range extra {
		n, err := valueNode(m[k], nil)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		addMember(node, k, n)
	}
	return nil
}

// valueNode writes a value described by field f (nil when the schema does
// not describe it): records in their fields' order, other objects with
// sorted keys.
func valueNode(v any, f *entity.Field) (*yaml.Node, error) {
	switch t := v.(type) {
	case nil:
		return scalarNode("!!null", "null"), nil
	case string:
		return stringNode(t), nil
	case bool:
		return scalarNode("!!bool", strconv.FormatBool(t)), nil
	case int64:
		return scalarNode("!!int", strconv.FormatInt(t, 10)), nil
	case int:
		return scalarNode("!!int", strconv.Itoa(t)), nil
	case float64:
		return floatNode(t)
	case json.Number:
		if n, err := t.Int64(); err == nil {
			return scalarNode("!!int", strconv.FormatInt(n, 10)), nil
		}
		fl, err := t.Float64()
		if err != nil {
			return nil, fmt.Errorf("number %s out of range", t)
		}
		return floatNode(fl)
	case []string:
		list := seqNode()
		for _, s := range t {
			list.Content = append(list.Content, stringNode(s))
		}
		flowIfShort(list)
		return list, nil
	case []any:
		var elem *entity.Field
		if f != nil {
			elem = f.Elements
		}
		list := seqNode()
		for i, x := range t {
			n, err := valueNode(x, elem)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			list.Content = append(list.Content, n)
		}
		flowIfShort(list)
		return list, nil
	case entity.Entity:
		return objectNode(t, f)
	case map[string]any:
		return objectNode(t, f)
	}
	return nil, fmt.Errorf("cannot encode a value of type %T", v)
}

// objectNode writes a record's fields in schema order, then any other
// members sorted; a map's values are described by the field's Elements.
func objectNode(m map[string]any, f *entity.Field) (*yaml.Node, error) {
	node := mappingNode()
	var fields []*entity.Field
	var elem *entity.Field
	if f != nil {
		switch f.Kind {
		case entity.Record:
			fields = f.Fields
		case entity.Map:
			elem = f.Elements
		}
	}
	known := map[string]bool{}
	for _, sub := range fields {
		known[sub.Name] = true
		v := m[sub.Name]
		if v == nil {
			addNullIfDefaulted(node, sub)
			continue
		}
		n, err := valueNode(v, sub)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sub.Name, err)
		}
		addMember(node, sub.Name, n)
	}
	var rest []string
	for k, v := range m {
		if v != nil && !known[k] {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	for _, k := range rest {
		n, err := valueNode(m[k], elem)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		addMember(node, k, n)
	}
	return node, nil
}

// addNullIfDefaulted writes an explicit null for an unset field that has
// a default. Such a field was set to null on purpose (an absent one would
// hold its default), and leaving it out would bring the default back when
// the file is read again. Other unset fields are left out.
func addNullIfDefaulted(m *yaml.Node, f *entity.Field) {
	if hasDefault(f) {
		addMember(m, f.Name, scalarNode("!!null", "null"))
	}
}

// hasDefault reports whether validation fills f when it is absent: it has
// a default, or it is a record some of whose members have one.
func hasDefault(f *entity.Field) bool {
	if f.Default != nil {
		return true
	}
	if f.Kind == entity.Record {
		return slices.ContainsFunc(f.Fields, hasDefault)
	}
	return false
}

// floatNode writes whole numbers as integers, as they were most likely
// written, and refuses infinities and NaN, which JSON cannot carry.
func floatNode(f float64) (*yaml.Node, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, fmt.Errorf("%v is not a finite number", f)
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return scalarNode("!!int", strconv.FormatInt(int64(f), 10)), nil
	}
	return scalarNode("!!float", strconv.FormatFloat(f, 'g', -1, 64)), nil
}

// flowIfShort writes a short list of single-line scalars on one line
// ([http, https]), as people write them by hand.
func flowIfShort(list *yaml.Node) {
	width := 0
	for _, n := range list.Content {
		if n.Kind != yaml.ScalarNode || strings.ContainsAny(n.Value, "\n\r") {
			return
		}
		width += len(n.Value) + 2
	}
	if width <= 60 {
		list.Style = yaml.FlowStyle
	}
}

func mappingNode() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"} }

func seqNode() *yaml.Node { return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"} }

// stringNode is tagged !!str so that the YAML encoder quotes strings that
// would otherwise read back as something else ("true", "80", "3.0"). The
// encoder does not know that a plain "<<" reads back as a merge key, so
// that one is quoted here.
func stringNode(s string) *yaml.Node {
	n := scalarNode("!!str", s)
	if s == "<<" {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

func scalarNode(tag, value string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
}

func addMember(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, stringNode(key), v)
}

// appendJSON writes a tree built by document as JSON indented by two
// spaces per level.
func appendJSON(b []byte, n *yaml.Node, depth int) []byte {
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		opening, closing, step := byte('{'), byte('}'), 2
		if n.Kind == yaml.SequenceNode {
			opening, closing, step = '[', ']', 1
		}
		if len(n.Content) == 0 {
			return append(b, opening, closing)
		}
		b = append(b, opening, '\n')
		for i := 0; i < len(n.Content); i += step {
			b = appendIndent(b, depth+1)
			if step == 2 {
				b = appendJSONString(b, n.Content[i].Value)
				b = append(b, ':', ' ')
			}
			b = appendJSON(b, n.Content[i+step-1], depth+1)
			if i+step < len(n.Content) {
				b = append(b, ',')
			}
			b = append(b, '\n')
		}
		b = appendIndent(b, depth)
		return append(b, closing)
	}
	if n.Tag == "!!str" {
		return appendJSONString(b, n.Value)
	}
	return append(b, n.Value...)
}

func appendIndent(b []byte, depth int) []byte {
	for range depth {
		b = append(b, ' ', ' ')
	}
	return b
}
