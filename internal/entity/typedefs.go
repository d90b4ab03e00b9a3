package entity

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Fields and checks shared by many schemas, after Kong's typedefs.

func idField() *Field {
	return &Field{Name: "id", Kind: String, Auto: true, Check: checkUUID, Normalize: lowerUUID}
}

func createdAtField() *Field { return &Field{Name: "created_at", Kind: Integer, Auto: true} }
func updatedAtField() *Field { return &Field{Name: "updated_at", Kind: Integer, Auto: true} }

func tagsField() *Field {
	return &Field{Name: "tags", Kind: Set, Elements: &Field{Kind: String, Check: checkTag}}
}

func nameField() *Field {
	return &Field{Name: "name", Kind: String, Unique: true, Check: checkName}
}

func foreignField(name, reference string, required bool, onDelete OnDelete) *Field {
	return &Field{Name: name, Kind: Foreign, Reference: reference, Required: required, OnDelete: onDelete}
}

func intField(name string, def int64, min, max float64) *Field {
	return &Field{Name: name, Kind: Integer, Default: def, HasRange: true, Min: min, Max: max}
}

func boolField(name string, def bool) *Field {
	return &Field{Name: name, Kind: Boolean, Default: def, Required: true}
}

func stringSet(name string, check func(any) string) *Field {
	return &Field{Name: name, Kind: Set, Elements: &Field{Kind: String, Check: check}}
}

func intList(name string, def []any, min, max float64) *Field {
	return &Field{Name: name, Kind: Array, Default: def,
		Elements: &Field{Kind: Integer, HasRange: true, Min: min, Max: max}}
}

func oneOfStrings(vals ...string) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		out[i] = v
	}
	return out
}

func oneOfInts(vals ...int64) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		out[i] = v
	}
	return out
}

func strs(vals ...string) []any { return oneOfStrings(vals...) }

func ints(vals ...int64) []any { return oneOfInts(vals...) }

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsUUID reports whether s is a UUID in its canonical text form.
func IsUUID(s string) bool { return uuidPattern.MatchString(s) }

func checkUUID(v any) string {
	if !IsUUID(v.(string)) {
		return "expected a valid UUID"
	}
	return ""
}

// lowerUUID stores a UUID in lower case, the form foreign keys are stored
// in, so that a reference always finds the entity it names.
func lowerUUID(v any) any { return strings.ToLower(v.(string)) }

// checkName follows Kong's utf8_name: printable UTF-8, and of ASCII only
// letters, digits and . - _ ~.
func checkName(v any) string {
	s := v.(string)
	if s == "" {
		return "length must be at least 1"
	}
	if !utf8.ValidString(s) {
		return "invalid utf-8 sequence"
	}
	for _, r := range s {
		if r < utf8.RuneSelf && !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '.' || r == '-' || r == '_' || r == '~') {
			return fmt.Sprintf("invalid value '%s': the only accepted ascii characters are alphanumerics or ., -, _, and ~", s)
		}
	}
	return ""
}

func checkTag(v any) string {
	s := v.(string)
	if s == "" || !utf8.ValidString(s) {
		return fmt.Sprintf("invalid tag '%s': expected printable ascii (except `,` and `/`) or valid utf-8 sequences", s)
	}
	for _, r := range s {
		if r == ',' || r == '/' || (r < utf8.RuneSelf && (r < 0x21 || r == 0x7f)) {
			return fmt.Sprintf("invalid tag '%s': expected printable ascii (except `,` and `/`) or valid utf-8 sequences", s)
		}
	}
	return ""
}

var hostnameLabel = regexp.MustCompile(`^[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9_])?$`)

// validHostname reports whether s is a DNS name (labels of letters, digits,
// '-' and '_', at most 253 characters).
func validHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if !hostnameLabel.MatchString(label) {
			return false
		}
	}
	return true
}

// splitHostPort separates an optional port from a host, accepting bare
// IPv6 addresses and bracketed ones. port is -1 when absent, -2 when
// present but not a number in 0-65535.
func splitHostPort(s string) (host string, port int) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return s, -1
		}
		host, rest := s[1:end], s[end+1:]
		if rest == "" {
			return host, -1
		}
		if !strings.HasPrefix(rest, ":") {
			return s, -2
		}
		return host, parsePort(rest[1:])
	}
	if strings.Count(s, ":") > 1 {
		return s, -1 // bare IPv6
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		return s[:i], parsePort(s[i+1:])
	}
	return s, -1
}

func parsePort(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 65535 {
		return -2
	}
	return n
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// checkHost is Kong's typedefs.host: a hostname or an IP, without a port.
func checkHost(v any) string {
	s := v.(string)
	host, port := splitHostPort(s)
	if port != -1 {
		return "must not have a port"
	}
	if !isIP(host) && !validHostname(host) {
		return "invalid value: " + s
	}
	return ""
}

// checkWildcardHost accepts a host with an optional port and one wildcard
// at the leftmost or rightmost label ("*.example.com", "example.*"), as
// Kong allows in a route's hosts.
func checkWildcardHost(v any) string {
	s := v.(string)
	host, port := splitHostPort(s)
	if port == -2 {
		return "invalid port number"
	}
	return checkWildcard(host, s)
}

func checkWildcard(host, orig string) string {
	n := strings.Count(host, "*")
	if n > 1 {
		return "invalid wildcard: must have at most one wildcard"
	}
	if n == 1 {
		if !strings.HasPrefix(host, "*.") && !strings.HasSuffix(host, ".*") {
			return "invalid wildcard: must be placed at leftmost or rightmost label"
		}
		host = strings.Replace(host, "*", "wildcard", 1)
	}
	if !isIP(host) && !validHostname(host) {
		return "invalid value: " + orig
	}
	return ""
}

// checkSNI accepts a server name for TLS: a hostname, possibly with one
// leading or trailing wildcard label, never an IP and never a port.
func checkSNI(v any) string {
	s := v.(string)
	if isIP(s) {
		return "must not be an IP"
	}
	if _, port := splitHostPort(s); port != -1 {
		return "must not have a port"
	}
	return checkWildcard(s, s)
}

// rfc3986Path lists the characters a URI path may hold unescaped.
var rfc3986Path = regexp.MustCompile(`^[A-Za-z0-9._~/%:@!$&'()*+,;=-]*$`)

// checkPath is Kong's typedefs.path for a service path.
func checkPath(v any) string {
	s := v.(string)
	if !strings.HasPrefix(s, "/") {
		return "should start with: /"
	}
	return checkPathChars(s)
}

func checkPathChars(s string) string {
	if strings.Contains(s, "//") {
		return "must not have empty segments"
	}
	if !rfc3986Path.MatchString(s) {
		return fmt.Sprintf("invalid path: '%s' (characters outside of the reserved list of RFC 3986 found)", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			return fmt.Sprintf("invalid url-encoded value: '%s'", s[i:min(i+3, len(s))])
		}
	}
	return ""
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// checkRouterPath accepts a plain prefix ("/api") or a regex ("~/api/\d+")
// that compiles with Go's regexp, which the router uses.
func checkRouterPath(v any) string {
	s := v.(string)
	if strings.HasPrefix(s, "~") {
		re := s[1:]
		if !strings.HasPrefix(re, "/") {
			return "should start with: / (fixed path) or ~/ (regex path)"
		}
		if _, err := regexp.Compile(re); err != nil {
			return fmt.Sprintf("invalid regex: '%s' (%s)", re, regexpReason(err))
		}
		return ""
	}
	if !strings.HasPrefix(s, "/") {
		return "should start with: / (fixed path) or ~/ (regex path)"
	}
	return checkPathChars(s)
}

func regexpReason(err error) string {
	if re, ok := err.(*syntax.Error); ok {
		return string(re.Code)
	}
	return err.Error()
}

var methodPattern = regexp.MustCompile(`^[A-Z]+$`)

func checkMethod(v any) string {
	if !methodPattern.MatchString(v.(string)) {
		return "invalid value: " + v.(string)
	}
	return ""
}

var headerNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func checkHeaderName(name string) string {
	if !headerNamePattern.MatchString(name) {
		return fmt.Sprintf("bad header name '%s', allowed characters are A-Z, a-z, 0-9, '_', and '-'", name)
	}
	return ""
}

// checkIPOrCIDR accepts an address or a network in CIDR notation.
func checkIPOrCIDR(v any) string {
	s := v.(string)
	if isIP(s) {
		return ""
	}
	if _, _, err := net.ParseCIDR(s); err == nil {
		return ""
	}
	return fmt.Sprintf("invalid ip or cidr range: '%s'", s)
}

// needsOneOf returns an entity check that wants at least one of fields set
// (non-null, and non-empty for strings and lists).
func needsOneOf(fields ...string) Check {
	return func(e Entity) []FieldError {
		for _, f := range fields {
			if isSet(e[f]) {
				return nil
			}
		}
		quoted := make([]string, len(fields))
		for i, f := range fields {
			quoted[i] = "'" + f + "'"
		}
		return []FieldError{{Field: EntityField,
			Message: "at least one of these fields must be non-empty: " + strings.Join(quoted, ", ")}}
	}
}

// isSet reports whether a normalised value counts as given: not null, not
// an empty string, list or map.
func isSet(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case string:
		return t != ""
	case []any:
		return len(t) > 0
	case map[string]any:
		return len(t) > 0
	}
	return true
}
