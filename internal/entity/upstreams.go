package entity

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

var hashOn = strs("none", "consumer", "ip", "header", "cookie", "path", "query_arg", "uri_capture")

// Upstreams are virtual hostnames that balance traffic over targets.
var Upstreams = register(&Schema{
	Name:        "upstreams",
	EndpointKey: "name",
	Fields: []*Field{
		idField(),
		createdAtField(),
		updatedAtField(),
		{Name: "name", Kind: String, Required: true, Unique: true, Check: checkUpstreamName},
		{Name: "algorithm", Kind: String, Default: "round-robin",
			OneOf: strs("consistent-hashing", "least-connections", "round-robin", "latency", "sticky-sessions")},
		{Name: "hash_on", Kind: String, Default: "none", OneOf: hashOn},
		{Name: "hash_fallback", Kind: String, Default: "none", OneOf: hashOn},
		{Name: "hash_on_header", Kind: String, Check: checkHeaderValue},
		{Name: "hash_fallback_header", Kind: String, Check: checkHeaderValue},
		{Name: "hash_on_cookie", Kind: String},
		{Name: "hash_on_cookie_path", Kind: String, Default: "/", Check: checkPath},
		{Name: "hash_on_query_arg", Kind: String, LenMin: 1},
		{Name: "hash_fallback_query_arg", Kind: String, LenMin: 1},
		{Name: "hash_on_uri_capture", Kind: String, LenMin: 1},
		{Name: "hash_fallback_uri_capture", Kind: String, LenMin: 1},
		intField("slots", 10000, 10, 65536),
		healthchecksField(),
		tagsField(),
		{Name: "host_header", Kind: String, Check: checkHost},
		foreignField("client_certificate", "certificates", false, Restrict),
		{Name: "use_srv_name", Kind: Boolean, Default: false},
		{Name: "sticky_sessions_cookie", Kind: String},
		{Name: "sticky_sessions_cookie_path", Kind: String, Default: "/", Check: checkPath},
	},
	Checks: []Check{checkUpstreamHashing},
})

func checkHeaderValue(v any) string { return checkHeaderName(v.(string)) }

func checkUpstreamName(v any) string {
	s := v.(string)
	host, port := splitHostPort(s)
	switch {
	case port != -1:
		return fmt.Sprintf("Invalid name ('%s'); no port allowed", s)
	case isIP(host):
		return fmt.Sprintf("Invalid name ('%s'); no ip addresses allowed", s)
	case !validHostname(host):
		return fmt.Sprintf("Invalid name ('%s'); must be a valid hostname", s)
	}
	return ""
}

// checkUpstreamHashing requires the parameter each hashing mode needs and
// refuses combinations Kong refuses.
func checkUpstreamHashing(e Entity) []FieldError {
	var errs []FieldError
	on, fallback := e.String("hash_on"), e.String("hash_fallback")
	need := map[string][2]string{
		"header":      {"hash_on_header", "hash_fallback_header"},
		"cookie":      {"hash_on_cookie", "hash_on_cookie"},
		"query_arg":   {"hash_on_query_arg", "hash_fallback_query_arg"},
		"uri_capture": {"hash_on_uri_capture", "hash_fallback_uri_capture"},
	}
	if f, ok := need[on]; ok && e[f[0]] == nil {
		errs = append(errs, FieldError{Field: f[0], Message: "required field missing"})
	}
	if f, ok := need[fallback]; ok && e[f[1]] == nil {
		errs = append(errs, FieldError{Field: f[1], Message: "required field missing"})
	}
	if (on == "none" || on == "cookie") && fallback != "none" {
		errs = append(errs, FieldError{Field: "hash_fallback", Message: "expected one of: none", Value: fallback, HasValue: true})
	}
	if on != "none" && on == fallback && on != "header" && on != "query_arg" && on != "uri_capture" {
		errs = append(errs, FieldError{Field: EntityField, Message: "values of these fields must be distinct: 'hash_on', 'hash_fallback'"})
	}
	if on == "header" && fallback == "header" && e.String("hash_on_header") != "" &&
		strings.EqualFold(e.String("hash_on_header"), e.String("hash_fallback_header")) {
		errs = append(errs, FieldError{Field: EntityField, Message: "values of these fields must be distinct: 'hash_on_header', 'hash_fallback_header'"})
	}
	return errs
}

func statusList(name string, def ...int64) *Field {
	return intList(name, ints(def...), 100, 999)
}

func counter(name string) *Field { return intField(name, 0, 0, 255) }

func seconds(name string, def float64) *Field {
	return &Field{Name: name, Kind: Number, Default: def, HasRange: true, Min: 0, Max: 65535}
}

// healthchecksField is an upstream's health check configuration with Kong's
// defaults: both active and passive checks are off until an interval or a
// counter is set.
func healthchecksField() *Field {
	return &Field{Name: "healthchecks", Kind: Record, Fields: []*Field{
		{Name: "active", Kind: Record, Fields: []*Field{
			{Name: "type", Kind: String, Default: "http", OneOf: strs("tcp", "http", "https", "grpc", "grpcs")},
			seconds("timeout", 1),
			{Name: "concurrency", Kind: Integer, Default: int64(10), HasRange: true, Min: 1, Max: 2147483648},
			{Name: "http_path", Kind: String, Default: "/", Check: checkPath},
			{Name: "https_sni", Kind: String, Check: checkHost},
			{Name: "https_verify_certificate", Kind: Boolean, Default: true},
			{Name: "headers", Kind: Map, KeyCheck: checkHeaderName, Elements: &Field{Kind: Array, Elements: &Field{Kind: String}}},
			{Name: "healthy", Kind: Record, Fields: []*Field{
				seconds("interval", 0),
				statusList("http_statuses", 200, 302),
				counter("successes"),
			}},
			{Name: "unhealthy", Kind: Record, Fields: []*Field{
				seconds("interval", 0),
				statusList("http_statuses", 429, 404, 500, 501, 502, 503, 504, 505),
				counter("tcp_failures"),
				counter("timeouts"),
				counter("http_failures"),
			}},
		}},
		{Name: "passive", Kind: Record, Fields: []*Field{
			{Name: "type", Kind: String, Default: "http", OneOf: strs("tcp", "http", "https", "grpc", "grpcs")},
			{Name: "healthy", Kind: Record, Fields: []*Field{
				statusList("http_statuses", 200, 201, 202, 203, 204, 205, 206, 207, 208, 226,
					300, 301, 302, 303, 304, 305, 306, 307, 308),
				counter("successes"),
			}},
			{Name: "unhealthy", Kind: Record, Fields: []*Field{
				statusList("http_statuses", 429, 500, 503),
				counter("tcp_failures"),
				counter("timeouts"),
				counter("http_failures"),
			}},
		}},
		{Name: "threshold", Kind: Number, Default: float64(0), HasRange: true, Min: 0, Max: 100},
	}}
}

// DefaultTargetPort is the port Kong gives a target that names none.
const DefaultTargetPort = 8000

// Targets are the addresses an upstream balances over.
var Targets = register(&Schema{
	Name:     "targets",
	CacheKey: []string{"upstream", "target"},
	Fields: []*Field{
		idField(),
		createdAtField(),
		updatedAtField(),
		foreignField("upstream", "upstreams", true, Cascade),
		{Name: "target", Kind: String, Required: true, Check: checkTarget, Normalize: normalizeTarget},
		intField("weight", 100, 0, 65535),
		tagsField(),
	},
})

func checkTarget(v any) string {
	s := v.(string)
	host, port := splitHostPort(s)
	if port == -2 {
		return fmt.Sprintf("Invalid target ('%s'); not a valid hostname or ip address", s)
	}
	if !isIP(host) && !validHostname(host) {
		return fmt.Sprintf("Invalid target ('%s'); not a valid hostname or ip address", s)
	}
	return ""
}

// normalizeTarget writes a target as host:port, with Kong's default port
// and IPv6 addresses in brackets, so equal targets compare equal.
func normalizeTarget(v any) any {
	host, port := splitHostPort(v.(string))
	if port < 0 {
		port = DefaultTargetPort
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Is6() {
			return "[" + a.String() + "]:" + strconv.Itoa(port)
		}
		host = a.String()
	}
	return strings.ToLower(host) + ":" + strconv.Itoa(port)
}
