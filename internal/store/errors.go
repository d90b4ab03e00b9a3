package store

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/gantry-gw/gantry/internal/entity"
)

// Kong's error codes (kong/db/errors.lua), which Admin API clients read from
// the "code" member of an error body.
const (
	CodeInvalidPrimaryKey = 1
	CodeSchemaViolation   = 2
	CodePrimaryKey        = 3
	CodeForeignKey        = 4
	CodeUnique            = 5
	CodeNotFound          = 6
	CodeInvalidOffset     = 7
	CodeDatabase          = 8
	CodeInvalidSize       = 9
	CodeDeclarative       = 14
)

var codeNames = map[int]string{
	CodeInvalidPrimaryKey: "invalid primary key",
	CodeSchemaViolation:   "schema violation",
	CodePrimaryKey:        "primary key violation",
	CodeForeignKey:        "foreign key violation",
	CodeUnique:            "unique constraint violation",
	CodeNotFound:          "not found",
	CodeInvalidOffset:     "invalid offset",
	CodeDatabase:          "database error",
	CodeInvalidSize:       "invalid size",
	CodeDeclarative:       "invalid declarative configuration",
}

// Error is a refused operation, in the shape of Kong's DAO errors: a code,
// its name, a message for people and, where they help, the fields at fault.
// The Admin API turns it into an HTTP status and a JSON body.
type Error struct {
	Code    int
	Name    string
	Message string
	Fields  map[string]any
	// Extra members for the error body (a declarative config's
	// flattened_errors).
	Extra map[string]any
}

func (e *Error) Error() string { return e.Message }

func newError(code int, msg string, fields map[string]any) *Error {
	return &Error{Code: code, Name: codeNames[code], Message: msg, Fields: fields}
}

// SchemaViolation wraps field validation errors.
func SchemaViolation(errs entity.Errors) *Error {
	return newError(CodeSchemaViolation, errs.Error(), errs.Fields())
}

func uniqueViolation(fields map[string]any) *Error {
	return newError(CodeUnique, "UNIQUE violation detected on '"+luaTable(fields)+"'", fields)
}

func primaryKeyViolation(id string) *Error {
	key := map[string]any{"id": id}
	return newError(CodePrimaryKey, "primary key violation on key '"+luaTable(key)+"'", key)
}

func foreignKeyViolation(field, refType string, ref map[string]any) *Error {
	msg := fmt.Sprintf("the foreign key '%s' does not reference an existing '%s' entity.", luaTable(ref), refType)
	return newError(CodeForeignKey, msg, map[string]any{field: ref})
}

func referencedBy(child, parent string) *Error {
	msg := fmt.Sprintf("an existing '%s' entity references this '%s' entity", child, parent)
	return newError(CodeForeignKey, msg, map[string]any{"@referenced_by": child})
}

// NotFound reports that no entity matches key. A key that is only an id is
// the primary key, which Kong's message names as such.
func NotFound(key map[string]any) *Error {
	if _, ok := key["id"]; ok && len(key) == 1 {
		return newError(CodeNotFound, "could not find the entity with primary key '"+luaTable(key)+"'", key)
	}
	return newError(CodeNotFound, "could not find the entity with '"+luaTable(key)+"'", key)
}

func invalidOffset(offset, reason string) *Error {
	return newError(CodeInvalidOffset, fmt.Sprintf("'%s' is not a valid offset: %s", offset, reason), nil)
}

// InvalidSize reports a page size outside what the API serves.
func InvalidSize(msg string) *Error { return newError(CodeInvalidSize, msg, nil) }

// DeclarativeError reports an invalid declarative config.
func DeclarativeError(msg string, fields map[string]any, extra map[string]any) *Error {
	e := newError(CodeDeclarative, msg, fields)
	e.Extra = extra
	return e
}

// luaTable renders a key the way Kong's messages do: {name="foo"}.
func luaTable(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + luaValue(m[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func luaValue(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(t)
	case map[string]any:
		return luaTable(t)
	default:
		return fmt.Sprint(t)
	}
}
