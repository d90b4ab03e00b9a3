package entity

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// EntityField is the pseudo-field Kong uses for errors that concern the
// entity as a whole rather than one field.
const EntityField = "@entity"

// FieldError is one validation failure: the field's path ("port",
// "config.minute", "paths[1]", or "@entity"), Kong's message, and the value
// that was refused when there was one.
type FieldError struct {
	Field   string
	Message string
	Value   any
	// HasValue tells a nil Value apart from no value.
	HasValue bool
}

// String renders the error for people: the field, the message and the
// refused value.
func (fe FieldError) String() string {
	var b strings.Builder
	if fe.Field != EntityField {
		b.WriteString(fe.Field)
		b.WriteString(": ")
	}
	b.WriteString(fe.Message)
	if fe.HasValue {
		b.WriteString(" (got ")
		b.WriteString(formatValue(fe.Value))
		b.WriteString(")")
	}
	return b.String()
}

func formatValue(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(t)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(b)
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

// Errors is a list of field errors from one validation; it is an error
// whose text follows Kong's "schema violation (...)" message.
type Errors []FieldError

// Error renders every failure, entity-level ones first, then by field.
func (es Errors) Error() string {
	sorted := es.Sorted()
	parts := make([]string, len(sorted))
	for i, fe := range sorted {
		parts[i] = fe.String()
	}
	if len(parts) == 1 {
		return "schema violation (" + parts[0] + ")"
	}
	return fmt.Sprintf("%d schema violations (%s)", len(parts), strings.Join(parts, "; "))
}

// Sorted returns the errors with "@entity" first, then by field path.
func (es Errors) Sorted() Errors {
	out := append(Errors(nil), es...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Field, out[j].Field
		if (a == EntityField) != (b == EntityField) {
			return a == EntityField
		}
		return a < b
	})
	return out
}

// Prefix returns the errors with prefix prepended to each field path, for
// errors found inside a nested value.
func (es Errors) Prefix(prefix string) Errors {
	out := make(Errors, len(es))
	for i, fe := range es {
		if fe.Field == EntityField || fe.Field == "" {
			fe.Field = prefix
		} else if strings.HasPrefix(fe.Field, "[") {
			fe.Field = prefix + fe.Field
		} else {
			fe.Field = prefix + "." + fe.Field
		}
		out[i] = fe
	}
	return out
}

// Fields renders the errors as Kong's "fields" object: a tree that mirrors
// the entity, with a message at each failing leaf, arrays for indexed
// elements, and a list of messages under "@entity".
func (es Errors) Fields() map[string]any {
	root := map[string]any{}
	for _, fe := range es.Sorted() {
		if fe.Field == EntityField {
			list, _ := root[EntityField].([]any)
			root[EntityField] = append(list, fe.Message)
			continue
		}
		setPath(root, splitPath(fe.Field), fe.Message)
	}
	return root
}

// pathStep is one step of a field path: a name or an array index.
type pathStep struct {
	name  string
	index int // -1 for a name
}

func splitPath(p string) []pathStep {
	var steps []pathStep
	for _, part := range strings.Split(p, ".") {
		name := part
		var idx []int
		if i := strings.IndexByte(part, '['); i >= 0 {
			name = part[:i]
			for _, seg := range strings.Split(part[i+1:], "[") {
				n, err := strconv.Atoi(strings.TrimSuffix(seg, "]"))
				if err == nil {
					idx = append(idx, n)
				}
			}
		}
		if name != "" {
			steps = append(steps, pathStep{name: name, index: -1})
		}
		for _, n := range idx {
			steps = append(steps, pathStep{index: n})
		}
	}
	return steps
}

// setPath places msg at path in tree, creating maps and arrays on the way.
// A slot that already holds a message keeps it.
func setPath(tree any, path []pathStep, msg string) any {
	if len(path) == 0 {
		if tree == nil {
			return msg
		}
		return tree
	}
	step := path[0]
	if step.index < 0 {
		m, ok := tree.(map[string]any)
		if !ok {
			if tree != nil {
				return tree
			}
			m = map[string]any{}
		}
		m[step.name] = setPath(m[step.name], path[1:], msg)
		return m
	}
	s, ok := tree.([]any)
	if !ok {
		if tree != nil {
			return tree
		}
	}
	for len(s) <= step.index {
		s = append(s, nil)
	}
	s[step.index] = setPath(s[step.index], path[1:], msg)
	return s
}
