package declarative

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/gantry-gw/gantry/internal/entity"
)

// canonical writes entities in Gantry's canonical form: compact JSON with
// object keys sorted, members whose value is null left out, and an
// entity's created_at and updated_at dropped, since they record when a
// change happened, not what the configuration is. Numbers are written by
// value, so 1 and 1.0 read by different decoders encode alike.
//
// It is written by hand rather than with encoding/json because hashing a
// large config encodes every entity: walking the values directly, with
// buffers reused from one entity to the next, costs no reflection and
// almost no allocation.
type canonical struct {
	buf []byte
	// keys holds one reusable key buffer per depth of nesting.
	keys [][]string
}

// sortedField is a schema field's name and its canonical rendering as an
// object key ("name":), written once rather than for every entity.
type sortedField struct {
	name string
	key  []byte
}

// sortedFields holds each schema's fields sorted by name, so the common
// case of an entity holding only its schema's fields needs no sort.
var sortedFields = func() map[string][]sortedField {
	m := map[string][]sortedField{}
	for _, s := range entity.Types() {
		var fields []sortedField
		for _, f := range s.Fields {
			fields = append(fields, sortedField{f.Name, append(appendJSONString(nil, f.Name), ':')})
		}
		slices.SortFunc(fields, func(a, b sortedField) int { return strings.Compare(a.name, b.name) })
		m[s.Name] = fields
	}
	return m
}()

// entity appends the canonical form of e, an entity of type typ. It
// walks the schema's sorted fields, looking each up once; if the entity
// turns out to hold fields the schema does not know, it starts over,
// sorting the entity's own keys.
func (c *canonical) entity(typ string, e entity.Entity) {
	start := len(c.buf)
	c.buf = append(c.buf, '{')
	found, first := 0, true
	for _, f := range sortedFields[typ] {
		v, ok := e[f.name]
		if !ok {
			continue
		}
		found++
		if v == nil || f.name == "created_at" || f.name == "updated_at" {
			continue
		}
		if !first {
			c.buf = append(c.buf, ',')
		}
		first = false
		c.buf = append(c.buf, f.key...)
		c.value(v, 1)
	}
	if found != len(e) {
		c.buf = c.buf[:start]
		c.object(e, 0, true)
		return
	}
	c.buf = append(c.buf, '}')
}

// object appends a map with its keys sorted; top drops the timestamps of
// an entity.
func (c *canonical) object(m map[string]any, depth int, top bool) {
	for len(c.keys) <= depth {
		c.keys = append(c.keys, nil)
	}
	keys := c.keys[depth][:0]
	for k, v := range m {
		if v == nil || top && (k == "created_at" || k == "updated_at") {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	c.keys[depth] = keys
	c.buf = append(c.buf, '{')
	for i, k := range keys {
		if i > 0 {
			c.buf = append(c.buf, ',')
		}
		c.str(k)
		c.buf = append(c.buf, ':')
		c.value(m[k], depth+1)
	}
	c.buf = append(c.buf, '}')
}

// value appends any JSON-compatible value.
func (c *canonical) value(v any, depth int) {
	switch t := v.(type) {
	case nil:
		c.buf = append(c.buf, "null"...)
	case string:
		c.str(t)
	case bool:
		c.buf = strconv.AppendBool(c.buf, t)
	case int64:
		c.buf = strconv.AppendInt(c.buf, t, 10)
	case int:
		c.buf = strconv.AppendInt(c.buf, int64(t), 10)
	case float64:
		c.float(t)
	case json.Number:
		if n, err := t.Int64(); err == nil {
			c.buf = strconv.AppendInt(c.buf, n, 10)
		} else if f, err := t.Float64(); err == nil {
			c.float(f)
		} else {
			c.buf = append(c.buf, t...)
		}
	case map[string]any:
		c.object(t, depth, false)
	case entity.Entity:
		c.object(t, depth, false)
	case []any:
		c.buf = append(c.buf, '[')
		for i, x := range t {
			if i > 0 {
				c.buf = append(c.buf, ',')
			}
			c.value(x, depth+1)
		}
		c.buf = append(c.buf, ']')
	case []string:
		c.buf = append(c.buf, '[')
		for i, x := range t {
			if i > 0 {
				c.buf = append(c.buf, ',')
			}
			c.str(x)
		}
		c.buf = append(c.buf, ']')
	default:
		// Not a type entities hold after validation; encode it the slow
		// way rather than lose it.
		b, err := json.Marshal(t)
		if err != nil {
			b = strconv.AppendQuote(nil, err.Error())
		}
		c.buf = append(c.buf, b...)
	}
}

// float writes whole numbers that a float64 holds exactly as integers, so
// a value hashes the same whether a decoder made it an int or a float.
func (c *canonical) float(f float64) {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		c.buf = strconv.AppendInt(c.buf, int64(f), 10)
		return
	}
	c.buf = strconv.AppendFloat(c.buf, f, 'g', -1, 64)
}

// str appends s as a JSON string.
func (c *canonical) str(s string) {
	c.buf = appendJSONString(c.buf, s)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as a JSON string: quotes, backslashes
// and control characters escaped, everything else (UTF-8 included) as is.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 0x20 && ch != '"' && ch != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch ch {
		case '"', '\\':
			b = append(b, '\\', ch)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[ch>>4], hexDigits[ch&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// canonicalString returns the canonical form of a value, or of an entity
// without its timestamps.
func canonicalString(v any) string {
	var c canonical
	if e, ok := v.(entity.Entity); ok {
		c.object(e, 0, true)
	} else {
		c.value(v, 0)
	}
	return string(c.buf)
}
