package declarative

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gantry-gw/gantry/internal/entity"
)

// SyntaxError reports input that is not well-formed YAML or JSON, or that
// holds values no configuration can (a non-string mapping key, an infinite
// number). It carries the position where reading stopped so that a user
// can find the typo.
type SyntaxError struct {
	// Format is "YAML" or "JSON".
	Format string
	// Line and Column are 1-based; zero when the decoder did not say.
	Line, Column int
	// Msg says what is wrong.
	Msg string
}

// Error renders the error as "invalid YAML at line 3: ...".
func (e *SyntaxError) Error() string {
	var b strings.Builder
	b.WriteString("invalid ")
	b.WriteString(e.Format)
	if e.Line > 0 {
		fmt.Fprintf(&b, " at line %d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ", column %d", e.Column)
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// EntityError gathers the problems of one entity of a declarative file, or
// of the file itself, with enough context to find it: where it is in the
// file and what it is called.
type EntityError struct {
	// Type is the entity type ("routes"); "" for problems of the file
	// itself (a missing _format_version, an unknown top-level key), whose
	// Errors then name top-level keys as fields.
	Type string
	// Path is where the entity is in the file, as written:
	// "services[0].routes[1]". "" for problems of the file itself.
	Path string
	// ID is the id the file gives the entity (lower-cased), or "".
	ID string
	// Name is what people call the entity: its name, a consumer's
	// username, a plugin's instance name or plugin name; "" when it has
	// none. Secrets (a key-auth key) are never used as names.
	Name string
	// Tags are the entity's tags as written, for Kong's flattened errors.
	Tags []string
	// Entity is the entity as written, without nested children, for
	// Kong's flattened errors.
	Entity map[string]any
	// Errors are the entity's field-level problems.
	Errors entity.Errors
}

// singular returns the name Kong's flattened errors give an entity type:
// "routes" becomes "route", "keyauth_credentials" "keyauth_credential".
func singular(typ string) string { return strings.TrimSuffix(typ, "s") }

// label names the entity for messages: its path, then its type and name
// when it has one, as in `services[0].routes[1] (route "r1")`.
func (ee *EntityError) label() string {
	switch {
	case ee.Name != "":
		return ee.Path + " (" + singular(ee.Type) + " " + strconv.Quote(ee.Name) + ")"
	case ee.ID != "":
		return ee.Path + " (" + singular(ee.Type) + " " + ee.ID + ")"
	}
	return ee.Path
}

// lines renders one line per failing field.
func (ee *EntityError) lines() []string {
	prefix := ""
	if ee.Path != "" {
		prefix = ee.label() + ": "
	}
	out := make([]string, 0, len(ee.Errors))
	for _, fe := range ee.Errors.Sorted() {
		out = append(out, prefix+fe.String())
	}
	return out
}

// Errors lists every problem Parse found in a declarative file: problems
// of the file itself first, then one entry per failing entity in reading
// order (entity lists in dependency order — certificates first, plugins
// last — each entity followed by those nested in it). Reporting them all
// at once lets a user fix a file in one pass instead of one error per
// attempt.
type Errors []EntityError

// Error renders one line per failing field, as in
//
//	services[0].routes[1] (route "r1"): paths[0]: should start with: / (fixed path) or ~/ (regex path) (got "api")
func (es Errors) Error() string {
	var lines []string
	for i := range es {
		lines = append(lines, es[i].lines()...)
	}
	return strings.Join(lines, "\n")
}

// Flattened renders the entity errors in the shape of Kong's
// flattened_errors, which Kong clients (decK, Konnect's UI) know how to
// show: one object per entity with entity_type (singular), entity_name,
// entity_id, entity_tags, entity (the input) and errors, each error with
// its field, message and type ("field" or "entity"). Problems of the file
// itself are not entity errors and appear only in Fields, as in Kong.
func (es Errors) Flattened() []map[string]any {
	out := []map[string]any{}
	for _, ee := range es {
		if ee.Type == "" {
			continue
		}
		m := map[string]any{"entity_type": singular(ee.Type)}
		if ee.Name != "" {
			m["entity_name"] = ee.Name
		}
		if ee.ID != "" {
			m["entity_id"] = ee.ID
		}
		if ee.Tags != nil {
			tags := make([]any, len(ee.Tags))
			for i, t := range ee.Tags {
				tags[i] = t
			}
			m["entity_tags"] = tags
		}
		if ee.Entity != nil {
			m["entity"] = ee.Entity
		}
		list := make([]any, 0, len(ee.Errors))
		for _, fe := range ee.Errors.Sorted() {
			if fe.Field == entity.EntityField {
				list = append(list, map[string]any{"message": fe.Message, "type": "entity"})
				continue
			}
			list = append(list, map[string]any{"field": fe.Field, "message": fe.Message, "type": "field"})
		}
		m["errors"] = list
		out = append(out, m)
	}
	return out
}

// Fields renders the errors as Kong's nested "fields" object, which
// mirrors the file: keyed by entity type, then index, then field, with
// nested entities under their parents, as in
// {"services": [{"port": "value should be between 0 and 65535"}]}.
// Problems of the file itself sit at the top ({"_format_version": ...}).
func (es Errors) Fields() map[string]any {
	var root any = map[string]any{}
	for _, ee := range es {
		root = insertTree(root, splitPath(ee.Path), ee.Errors.Fields())
	}
	return root.(map[string]any)
}

// pathStep is one step of a path in the file: a key, or an index when key
// is "".
type pathStep struct {
	key   string
	index int
}

// splitPath splits "services[0].routes[1]" into its steps.
func splitPath(p string) []pathStep {
	var steps []pathStep
	if p == "" {
		return nil
	}
	for _, part := range strings.Split(p, ".") {
		name, rest, _ := strings.Cut(part, "[")
		if name != "" {
			steps = append(steps, pathStep{key: name})
		}
		for rest != "" {
			num, after, _ := strings.Cut(rest, "]")
			if n, err := strconv.Atoi(num); err == nil {
				steps = append(steps, pathStep{index: n})
			}
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return steps
}

// insertTree places tree at path in node, creating maps and arrays on the
// way, and merges it with what is already there (a service's own errors
// and those of its nested routes share one object).
func insertTree(node any, path []pathStep, tree map[string]any) any {
	if len(path) == 0 {
		return mergeTrees(node, tree)
	}
	step := path[0]
	if step.key != "" {
		m, ok := node.(map[string]any)
		if !ok {
			m = map[string]any{}
		}
		m[step.key] = insertTree(m[step.key], path[1:], tree)
		return m
	}
	s, _ := node.([]any)
	for len(s) <= step.index {
		s = append(s, nil)
	}
	s[step.index] = insertTree(s[step.index], path[1:], tree)
	return s
}

// mergeTrees adds the members of tree to node when node is an object;
// where both hold a value that is not an object, node's is kept.
func mergeTrees(node any, tree map[string]any) any {
	m, ok := node.(map[string]any)
	if !ok {
		return tree
	}
	for k, v := range tree {
		old, exists := m[k]
		if !exists {
			m[k] = v
			continue
		}
		oldMap, oldIsMap := old.(map[string]any)
		sub, isMap := v.(map[string]any)
		if oldIsMap && isMap {
			m[k] = mergeTrees(oldMap, sub)
		}
	}
	return m
}
