package declarative

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/gantry-gw/gantry/internal/entity"
)

// decode reads a YAML or JSON document into plain values (map[string]any,
// []any, string, int64, float64, bool, nil). A document whose first
// character is '{' is read as JSON, which is faster and reports columns;
// anything else as YAML, which JSON users never notice since YAML reads
// JSON too.
func decode(data []byte) (any, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if first := bytes.TrimLeft(data, " \t\r\n"); len(first) > 0 && first[0] == '{' {
		return decodeJSON(data)
	}
	return decodeYAML(data)
}

func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, jsonError(data, err, dec.InputOffset())
	}
	if _, err := dec.Token(); err != io.EOF {
		line, col := position(data, dec.InputOffset())
		return nil, &SyntaxError{Format: "JSON", Line: line, Column: col, Msg: "unexpected data after the top-level object"}
	}
	if err := checkNumbers(v); err != nil {
		return nil, err
	}
	if m, ok := v.(map[string]any); ok {
		if n, ok := m["_format_version"].(json.Number); ok {
			m["_format_version"] = string(n) // see versionAsWritten
		}
	}
	return entity.Normalize(v), nil
}

// jsonError turns a decoder error into a SyntaxError with the line and
// column of the offending byte.
func jsonError(data []byte, err error, offset int64) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		offset = se.Offset
	case errors.Is(err, io.ErrUnexpectedEOF):
		offset = int64(len(data))
		err = errors.New("unexpected end of input")
	}
	line, col := position(data, offset)
	return &SyntaxError{Format: "JSON", Line: line, Column: col, Msg: err.Error()}
}

// position converts a byte offset into a 1-based line and column. The JSON
// decoder's offset points just past the byte it refused, which is the
// column of that byte counted from 1.
func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	if col < 1 {
		col = 1
	}
	return line, col
}

// checkNumbers refuses JSON numbers outside float64's range, which would
// otherwise become infinities that no JSON output can carry.
func checkNumbers(v any) error {
	switch t := v.(type) {
	case map[string]any:
		for _, x := range t {
			if err := checkNumbers(x); err != nil {
				return err
			}
		}
	case []any:
		for _, x := range t {
			if err := checkNumbers(x); err != nil {
				return err
			}
		}
	case json.Number:
		if _, err := t.Float64(); err != nil {
			return &SyntaxError{Format: "JSON", Msg: fmt.Sprintf("number %s is out of range", t)}
		}
	}
	return nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func decodeYAML(data []byte) (any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, nil // no document at all: an empty file
		}
		return nil, refineYAMLLine(data, yamlError(err).(*SyntaxError))
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, &SyntaxError{Format: "YAML", Line: next.Line, Column: next.Column,
			Msg: "the file holds more than one YAML document"}
	case err != io.EOF:
		return nil, refineYAMLLine(data, yamlError(err).(*SyntaxError))
	}
	if err := checkYAML(&doc); err != nil {
		return nil, err
	}
	versionAsWritten(&doc)
	var v any
	if err := doc.Decode(&v); err != nil {
		return nil, yamlError(err)
	}
	return entity.Normalize(v), nil
}

// versionAsWritten makes an unquoted _format_version (3.0) read as the
// text written, as decK reads it, rather than as the number 3.
func versionAsWritten(doc *yaml.Node) {
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return
	}
	top := doc.Content[0].Content
	for i := 0; i+1 < len(top); i += 2 {
		v := top[i+1]
		if top[i].Value == "_format_version" && v.Kind == yaml.ScalarNode {
			if t := v.ShortTag(); t == "!!float" || t == "!!int" {
				v.Tag = "!!str"
			}
		}
	}
}

// yamlError turns the YAML library's error text ("yaml: line 3: ...")
// into a SyntaxError.
func yamlError(err error) error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = "yaml: " + te.Errors[0]
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &SyntaxError{Format: "YAML", Line: line, Msg: m[2]}
	}
	if len(msg) > 6 && msg[:6] == "yaml: " {
		msg = msg[6:]
	}
	return &SyntaxError{Format: "YAML", Msg: msg}
}

// refineBudget bounds the input refineYAMLLine re-reads, so that a
// mistake in a very large file costs a less precise line rather than
// seconds.
const refineBudget = 4 << 20

// refineYAMLLine corrects the line of a YAML parser error. The YAML
// library reports errors such as "did not find expected key" at the
// 0-based line of the block that holds the mistake, which may be far
// above it; the mistake is at that line (counted from 1) or below. A file
// read only up to the line of the mistake fails with the same message,
// while shorter prefixes still read, so a binary search over prefixes
// ending at line breaks finds that line. It runs only on this error path,
// and only when the re-reading fits refineBudget; otherwise the error
// names the line the mistake is at or below.
func refineYAMLLine(data []byte, se *SyntaxError) error {
	if !strings.HasPrefix(se.Msg, "did not find expected") {
		return se
	}
	var ends []int // offset just past each line
	for i, b := range data {
		if b == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] != len(data) {
		ends = append(ends, len(data))
	}
	lo, hi := min(se.Line+1, len(ends)), len(ends)
	if len(data)*bits.Len(uint(hi-lo)) > refineBudget {
		se.Line = lo
		se.Msg += " (at this line or below)"
		return se
	}
	sameFailure := func(lines int) bool {
		var n yaml.Node
		err := yaml.Unmarshal(data[:ends[lines-1]], &n)
		if err == nil {
			return false
		}
		other, ok := yamlError(err).(*SyntaxError)
		return ok && other.Msg == se.Msg
	}
	for lo < hi {
		mid := (lo + hi) / 2
		if sameFailure(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	se.Line = hi
	return se
}

// checkYAML walks a parsed document before it is decoded and refuses what
// a configuration cannot hold, with the line and column: mapping keys that
// are not strings, infinite numbers, binary data, unknown tags, and
// strings that are not UTF-8. Values that look like timestamps
// (2024-01-01) are kept as the strings they are written as, where YAML
// would make them dates, and so is a "<<" that is not a merge key.
func checkYAML(n *yaml.Node) error {
	fail := func(n *yaml.Node, format string, args ...any) error {
		return &SyntaxError{Format: "YAML", Line: n.Line, Column: n.Column, Msg: fmt.Sprintf(format, args...)}
	}
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		if n.Kind == yaml.SequenceNode && n.ShortTag() != "!!seq" {
			return fail(n, "unsupported tag %s", n.Tag)
		}
		for _, c := range n.Content {
			if err := checkYAML(c); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		if n.ShortTag() != "!!map" {
			return fail(n, "unsupported tag %s", n.Tag)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!timestamp" {
				k.Tag = "!!str"
			}
			if k.Kind != yaml.ScalarNode || (k.ShortTag() != "!!str" && k.ShortTag() != "!!merge") {
				return fail(k, "mapping key %s is not a string; quote it", describeYAMLKey(k))
			}
			if !utf8.ValidString(k.Value) {
				return fail(k, "mapping key is not valid UTF-8")
			}
			if err := checkYAML(n.Content[i+1]); err != nil {
				return err
			}
		}
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			if !utf8.ValidString(n.Value) {
				return fail(n, "string is not valid UTF-8")
			}
		case "!!timestamp", "!!merge":
			n.Tag = "!!str"
		case "!!float", "!!int", "!!bool", "!!null":
			if n.Style&yaml.TaggedStyle != 0 {
				// An explicit tag may not fit the value (!!int abc).
				var x any
				if err := n.Decode(&x); err != nil {
					return fail(n, "%s", strings.TrimPrefix(yamlError(err).(*SyntaxError).Msg, "yaml: "))
				}
			}
			if n.ShortTag() == "!!float" {
				if v := strings.ToLower(n.Value); strings.Contains(v, "inf") || strings.Contains(v, "nan") {
					return fail(n, "%s is not a finite number", n.Value)
				}
			}
		default:
			return fail(n, "unsupported tag %s", n.Tag)
		}
	}
	return nil
}

func describeYAMLKey(k *yaml.Node) string {
	switch k.Kind {
	case yaml.ScalarNode:
		return strconv.Quote(k.Value)
	case yaml.MappingNode:
		return "(a mapping)"
	case yaml.SequenceNode:
		return "(a sequence)"
	}
	return "(an alias)"
}
