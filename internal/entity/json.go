package entity

import (
	"bytes"
	"encoding/json"
)

// Decode reads an entity from JSON, keeping whole numbers as int64 and
// others as float64 rather than letting every number become a float.
func Decode(data []byte) (Entity, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return Entity(Normalize(m).(map[string]any)), nil
}

// Normalize converts a decoded JSON or YAML value into the forms entities
// hold (int64 for whole numbers, float64 for others, map[string]any and
// []any for containers), so equal documents compare and hash equally
// whichever decoder read them.
func Normalize(v any) any { return normalizeJSON(v) }
