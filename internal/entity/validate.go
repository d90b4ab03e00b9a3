package entity

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Options tune how input is read.
type Options struct {
	// Coerce converts strings to the field's type, as Kong does for
	// form-encoded bodies and query strings ("80" becomes 80, "true" true,
	// and a lone value becomes a one-element array).
	Coerce bool
}

// Validate checks input against the schema and returns the complete entity:
// shorthands expanded, defaults filled for absent fields, values normalised
// (int64, float64, deduplicated sets), every schema field present. It
// reports every problem it finds, not just the first. Validate does not
// check uniqueness or references to other entities; the store does.
func (s *Schema) Validate(input map[string]any, opts Options) (Entity, Errors) {
	in := make(map[string]any, len(input))
	for k, v := range input {
		in[k] = v
	}
	var errs Errors
	for name, expand := range s.Shorthands {
		v, ok := in[name]
		if !ok {
			continue
		}
		delete(in, name)
		if v == nil {
			continue
		}
		fields, msg := expand(v)
		if msg != "" {
			errs = append(errs, FieldError{Field: name, Message: msg, Value: v, HasValue: true})
			continue
		}
		for k, x := range fields {
			in[k] = x
		}
	}
	out, ferrs := validateFields(s.Fields, in, opts)
	errs = append(errs, ferrs...)
	if len(errs) > 0 {
		return nil, errs
	}
	e := Entity(out)
	for _, check := range s.Checks {
		errs = append(errs, check(e)...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return e, nil
}

// validateFields validates the members of a schema or record: unknown
// names are refused, absent ones take their defaults.
func validateFields(fields []*Field, in map[string]any, opts Options) (map[string]any, Errors) {
	var errs Errors
	known := make(map[string]bool, len(fields))
	for _, f := range fields {
		known[f.Name] = true
	}
	var unknown []string
	for k := range in {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		errs = append(errs, FieldError{Field: k, Message: "unknown field"})
	}
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		v, present := in[f.Name]
		if !present {
			v = defaultValue(f)
		}
		if v == nil {
			if f.Required && !f.Auto {
				errs = append(errs, FieldError{Field: f.Name, Message: "required field missing"})
			}
			out[f.Name] = nil
			continue
		}
		nv, ferrs := validateValue(f, v, opts)
		errs = append(errs, ferrs.Prefix(f.Name)...)
		out[f.Name] = nv
	}
	return out, errs
}

// defaultValue returns a fresh copy of a field's default. A record without
// a default of its own is built from its members' defaults, as Kong does for
// an upstream's healthchecks.
func defaultValue(f *Field) any {
	if f.Default != nil {
		return cloneValue(f.Default)
	}
	if f.Kind == Record && recordHasDefaults(f) {
		return map[string]any{}
	}
	return nil
}

func recordHasDefaults(f *Field) bool {
	for _, sub := range f.Fields {
		if sub.Default != nil || (sub.Kind == Record && recordHasDefaults(sub)) {
			return true
		}
	}
	return false
}

// validateValue checks one non-nil value. Errors carry paths relative to
// the value ("" for the value itself, "[2]" or "minute" below it).
func validateValue(f *Field, v any, opts Options) (any, Errors) {
	fail := func(msg string) (any, Errors) {
		return nil, Errors{{Message: msg, Value: v, HasValue: true}}
	}
	var out any
	switch f.Kind {
	case String:
		s, ok := v.(string)
		if !ok {
			if !opts.Coerce {
				return fail("expected a string")
			}
			s = fmt.Sprint(v)
		}
		// Like Kong, no string may be empty, whatever its LenMin.
		if s == "" || f.LenMin > 0 && len(s) < f.LenMin {
			if f.LenMin <= 1 {
				return fail("length must be at least 1")
			}
			return fail(fmt.Sprintf("length must be at least %d", f.LenMin))
		}
		if f.LenMax > 0 && len(s) > f.LenMax {
			return fail(fmt.Sprintf("length must be at most %d", f.LenMax))
		}
		out = s
	case Integer:
		n, ok := toInt(v, opts.Coerce)
		if !ok {
			return fail("expected an integer")
		}
		if f.HasRange && (float64(n) < f.Min || float64(n) > f.Max) {
			return nil, Errors{{Message: fmt.Sprintf("value should be between %s and %s", fmtNum(f.Min), fmtNum(f.Max)), Value: n, HasValue: true}}
		}
		out = n
	case Number:
		n, ok := toFloat(v, opts.Coerce)
		if !ok {
			return fail("expected a number")
		}
		if f.HasRange && (n < f.Min || n > f.Max) {
			return nil, Errors{{Message: fmt.Sprintf("value should be between %s and %s", fmtNum(f.Min), fmtNum(f.Max)), Value: normalizeNumber(n), HasValue: true}}
		}
		// Whole numbers are held as int64, as Decode reads them back, so
		// an entity has the same Go values before and after storage.
		out = normalizeNumber(n)
	case Boolean:
		b, ok := v.(bool)
		if !ok && opts.Coerce {
			if s, isStr := v.(string); isStr {
				b, ok = parseBool(s)
			}
		}
		if !ok {
			return fail("expected a boolean")
		}
		out = b
	case Array, Set:
		list, ok := toList(v, opts.Coerce)
		if !ok {
			return fail("expected " + f.Kind.String())
		}
		var errs Errors
		vals := make([]any, 0, len(list))
		seen := map[string]bool{}
		for i, x := range list {
			if x == nil {
				errs = append(errs, FieldError{Field: fmt.Sprintf("[%d]", i), Message: "required field missing"})
				continue
			}
			nx, xerrs := validateValue(f.Elements, x, opts)
			if len(xerrs) > 0 {
				errs = append(errs, xerrs.Prefix(fmt.Sprintf("[%d]", i))...)
				continue
			}
			if f.Kind == Set {
				key := canonicalKey(nx)
				if seen[key] {
					continue
				}
				seen[key] = true
			}
			vals = append(vals, nx)
		}
		if len(errs) > 0 {
			return nil, errs
		}
		if f.LenMin > 0 && len(vals) < f.LenMin {
			return fail(fmt.Sprintf("length must be at least %d", f.LenMin))
		}
		if f.LenMax > 0 && len(vals) > f.LenMax {
			return fail(fmt.Sprintf("length must be at most %d", f.LenMax))
		}
		out = vals
	case Map:
		m, ok := v.(map[string]any)
		if !ok {
			return fail("expected a map")
		}
		var errs Errors
		vals := make(map[string]any, len(m))
		for k, x := range m {
			if f.KeyCheck != nil {
				if msg := f.KeyCheck(k); msg != "" {
					errs = append(errs, FieldError{Field: k, Message: msg})
					continue
				}
			}
			if x == nil {
				continue
			}
			nx, xerrs := validateValue(f.Elements, x, opts)
			if len(xerrs) > 0 {
				errs = append(errs, xerrs.Prefix(k)...)
				continue
			}
			vals[k] = nx
		}
		if len(errs) > 0 {
			return nil, errs
		}
		out = vals
	case Record:
		m, ok := v.(map[string]any)
		if !ok {
			return fail("expected a record")
		}
		rec, errs := validateFields(f.Fields, m, opts)
		if len(errs) > 0 {
			return nil, errs
		}
		out = rec
	case Foreign:
		m, ok := v.(map[string]any)
		if !ok {
			return fail("expected a record")
		}
		ref, errs := validateForeign(f, m)
		if len(errs) > 0 {
			return nil, errs
		}
		out = ref
	case JSON:
		out = normalizeJSON(v)
	}
	if len(f.OneOf) > 0 && !oneOf(out, f.OneOf) {
		return fail("expected one of: " + joinValues(f.OneOf))
	}
	if f.Check != nil {
		if msg := f.Check(out); msg != "" {
			return fail(msg)
		}
	}
	if f.Normalize != nil {
		out = f.Normalize(out)
	}
	return out, nil
}

// validateForeign checks a reference: {"id": uuid}, or the referenced
// type's endpoint key ({"name": "svc"}) for the store to resolve.
func validateForeign(f *Field, m map[string]any) (map[string]any, Errors) {
	var errs Errors
	target := Lookup(f.Reference)
	out := map[string]any{}
	for k, x := range m {
		switch {
		case k == "id":
			s, ok := x.(string)
			if !ok || !IsUUID(s) {
				errs = append(errs, FieldError{Field: "id", Message: "expected a valid UUID", Value: x, HasValue: true})
				continue
			}
			out["id"] = strings.ToLower(s)
		case target != nil && target.EndpointKey != "" && k == target.EndpointKey:
			s, ok := x.(string)
			if !ok || s == "" {
				errs = append(errs, FieldError{Field: k, Message: "expected a string", Value: x, HasValue: true})
				continue
			}
			out[k] = s
		default:
			errs = append(errs, FieldError{Field: k, Message: "unknown field"})
		}
	}
	if len(errs) == 0 && len(out) == 0 {
		errs = append(errs, FieldError{Field: "id", Message: "required field missing"})
	}
	return out, errs
}

func toInt(v any, coerce bool) (int64, bool) {
	switch t := v.(type) {
	case int:
		return int64(t), true
	case int64:
		return t, true
	case uint64:
		if t > math.MaxInt64 {
			return 0, false
		}
		return int64(t), true
	case float64:
		// float64(math.MaxInt64) rounds up to 2^63, which does not fit.
		if t != math.Trunc(t) || math.IsInf(t, 0) || t >= math.MaxInt64 || t < math.MinInt64 {
			return 0, false
		}
		return int64(t), true
	case json.Number:
		if n, err := t.Int64(); err == nil {
			return n, true
		}
		if f, err := t.Float64(); err == nil {
			return toInt(f, false)
		}
	case string:
		if coerce {
			n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

func toFloat(v any, coerce bool) (float64, bool) {
	switch t := v.(type) {
	case int:
		return float64(t), true
	case int64:
		return float64(t), true
	case uint64:
		return float64(t), true
	case float64:
		return t, !math.IsNaN(t) && !math.IsInf(t, 0)
	case json.Number:
		f, err := t.Float64()
		return f, err == nil
	case string:
		if coerce {
			f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
			return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
		}
	}
	return 0, false
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "on", "yes", "1":
		return true, true
	case "false", "off", "no", "0":
		return false, true
	}
	return false, false
}

// toList accepts a JSON array; an empty object, which Kong reads as an empty
// array; and, when coercing form input, a single scalar as a one-element
// list.
func toList(v any, coerce bool) ([]any, bool) {
	switch t := v.(type) {
	case []any:
		return t, true
	case []string:
		out := make([]any, len(t))
		for i, s := range t {
			out[i] = s
		}
		return out, true
	case map[string]any:
		if len(t) == 0 {
			return []any{}, true
		}
	case string:
		if coerce {
			return []any{t}, true
		}
	}
	return nil, false
}

// normalizeJSON converts decoded numbers to int64 (whole) or float64 and
// copies maps and slices, so equal documents compare and hash equally
// whichever decoder read them.
func normalizeJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = normalizeJSON(x)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = normalizeJSON(x)
		}
		return s
	case json.Number:
		if n, err := t.Int64(); err == nil {
			return n
		}
		f, _ := t.Float64()
		return normalizeNumber(f)
	case int:
		return int64(t)
	case uint64:
		if t <= math.MaxInt64 {
			return int64(t)
		}
		return float64(t)
	case float64:
		return normalizeNumber(t)
	case float32:
		return normalizeNumber(float64(t))
	}
	return v
}

func normalizeNumber(f float64) any {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int64(f)
	}
	return f
}

func oneOf(v any, allowed []any) bool {
	for _, a := range allowed {
		if equalScalar(v, a) {
			return true
		}
	}
	return false
}

func equalScalar(a, b any) bool {
	switch x := a.(type) {
	case int64:
		switch y := b.(type) {
		case int:
			return x == int64(y)
		case int64:
			return x == y
		}
	case string:
		y, ok := b.(string)
		return ok && x == y
	}
	return false
}

func joinValues(vals []any) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ", ")
}

func fmtNum(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// canonicalKey is a comparable rendering of a normalised value, used to
// deduplicate sets.
func canonicalKey(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// Merge applies a partial update to an existing entity the way Kong's PATCH
// does: fields in patch replace those in old, except records and JSON
// objects (a plugin's config), which are merged member by member. An
// explicit null in patch unsets the field. The result still has to go
// through Validate.
func (s *Schema) Merge(old Entity, patch map[string]any) map[string]any {
	out := make(map[string]any, len(old)+len(patch))
	for k, v := range old {
		out[k] = cloneValue(v)
	}
	for k, v := range patch {
		f := s.byName[k]
		if f != nil && (f.Kind == Record || f.Kind == JSON) {
			out[k] = mergeObjects(out[k], v)
			continue
		}
		out[k] = v
	}
	return out
}

func mergeObjects(old, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	om, ok := old.(map[string]any)
	if !ok {
		return patch
	}
	out := make(map[string]any, len(om)+len(pm))
	for k, v := range om {
		out[k] = v
	}
	for k, v := range pm {
		out[k] = mergeObjects(om[k], v)
	}
	return out
}
