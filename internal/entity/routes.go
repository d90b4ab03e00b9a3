package entity

import (
	"strings"
)

// routeProtocolGroups are the sets of protocols a route may combine; a route
// mixes protocols from one group only.
var routeProtocolGroups = [][]string{
	{"http", "https"},
	{"tcp", "tls", "udp"},
	{"tls_passthrough"},
	{"grpc", "grpcs"},
	{"ws", "wss"},
}

// Routes are the rules that match requests and send them to a service.
var Routes = register(&Schema{
	Name:        "routes",
	EndpointKey: "name",
	Fields: []*Field{
		idField(),
		createdAtField(),
		updatedAtField(),
		nameField(),
		{Name: "protocols", Kind: Set, Required: true, LenMin: 1, Default: strs("http", "https"),
			Elements: &Field{Kind: String, OneOf: strs(Protocols...)}, Check: checkRouteProtocols},
		stringSet("methods", checkMethod),
		{Name: "hosts", Kind: Array, Elements: &Field{Kind: String, Check: checkWildcardHost}},
		{Name: "paths", Kind: Array, Elements: &Field{Kind: String, Check: checkRouterPath}},
		{Name: "headers", Kind: Map, KeyCheck: checkRouteHeaderName,
			Elements: &Field{Kind: Array, LenMin: 1, Elements: &Field{Kind: String}}},
		{Name: "https_redirect_status_code", Kind: Integer, Required: true, Default: int64(426),
			OneOf: ints(426, 301, 302, 307, 308)},
		{Name: "regex_priority", Kind: Integer, Default: int64(0)},
		boolField("strip_path", true),
		{Name: "path_handling", Kind: String, Default: "v0", OneOf: strs("v0", "v1")},
		boolField("preserve_host", false),
		boolField("request_buffering", true),
		boolField("response_buffering", true),
		stringSet("snis", checkSNI),
		endpointsField("sources"),
		endpointsField("destinations"),
		tagsField(),
		foreignField("service", "services", false, Restrict),
	},
	Checks: []Check{checkRouteMatchers},
})

func endpointsField(name string) *Field {
	return &Field{Name: name, Kind: Set, Elements: &Field{Kind: Record, Fields: []*Field{
		{Name: "ip", Kind: String, Check: checkIPOrCIDR},
		{Name: "port", Kind: Integer, HasRange: true, Min: 0, Max: 65535},
	}, Check: func(v any) string {
		m := v.(map[string]any)
		if m["ip"] == nil && m["port"] == nil {
			return "at least one of these fields must be non-empty: 'ip', 'port'"
		}
		return ""
	}}}
}

func checkRouteHeaderName(k string) string {
	if strings.EqualFold(k, "host") {
		return "cannot contain 'host' header, which must be specified in the 'hosts' attribute"
	}
	return checkHeaderName(k)
}

func checkRouteProtocols(v any) string {
	list := v.([]any)
	group := -1
	for _, p := range list {
		for gi, g := range routeProtocolGroups {
			for _, name := range g {
				if p == name {
					if group >= 0 && group != gi {
						return "these sets are mutually exclusive: ('http', 'https'), ('tcp', 'tls', 'udp'), ('tls_passthrough'), ('grpc', 'grpcs'), ('ws', 'wss')"
					}
					group = gi
				}
			}
		}
	}
	return ""
}

// checkRouteMatchers applies Kong's per-protocol rules: HTTP-like routes
// need at least one HTTP matcher, stream routes need stream matchers and
// may not use HTTP ones, and SNIs need a TLS protocol.
func checkRouteMatchers(e Entity) []FieldError {
	protos := map[string]bool{}
	for _, p := range e["protocols"].([]any) {
		protos[p.(string)] = true
	}
	tls := protos["https"] || protos["grpcs"] || protos["tls"] || protos["tls_passthrough"] || protos["wss"]
	var errs []FieldError
	if isSet(e["snis"]) && !tls {
		errs = append(errs, FieldError{Field: "snis",
			Message: "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls', 'tls_passthrough', or 'wss'"})
	}
	switch {
	case protos["tcp"] || protos["tls"] || protos["udp"] || protos["tls_passthrough"]:
		for _, f := range []string{"methods", "hosts", "headers", "paths"} {
			if isSet(e[f]) {
				errs = append(errs, FieldError{Field: f,
					Message: "cannot set '" + f + "' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'"})
			}
		}
		if !isSet(e["sources"]) && !isSet(e["destinations"]) && !isSet(e["snis"]) {
			errs = append(errs, FieldError{Field: EntityField,
				Message: "must set one of 'sources', 'destinations', 'snis' when 'protocols' is 'tcp', 'tls' or 'udp'"})
		}
	case protos["grpc"] || protos["grpcs"]:
		for _, f := range []string{"methods", "sources", "destinations"} {
			if isSet(e[f]) {
				errs = append(errs, FieldError{Field: f,
					Message: "cannot set '" + f + "' when 'protocols' is 'grpc' or 'grpcs'"})
			}
		}
		has := isSet(e["hosts"]) || isSet(e["headers"]) || isSet(e["paths"])
		if protos["grpcs"] && !has && !isSet(e["snis"]) {
			errs = append(errs, FieldError{Field: EntityField,
				Message: "must set one of 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'grpcs'"})
		} else if !protos["grpcs"] && !has {
			errs = append(errs, FieldError{Field: EntityField,
				Message: "must set one of 'hosts', 'headers', 'paths' when 'protocols' is 'grpc'"})
		}
	default:
		for _, f := range []string{"sources", "destinations"} {
			if isSet(e[f]) {
				errs = append(errs, FieldError{Field: f,
					Message: "cannot set '" + f + "' when 'protocols' is 'http' or 'https'"})
			}
		}
		has := isSet(e["methods"]) || isSet(e["hosts"]) || isSet(e["headers"]) || isSet(e["paths"])
		if tls && !has && !isSet(e["snis"]) {
			errs = append(errs, FieldError{Field: EntityField,
				Message: "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'"})
		} else if !tls && !has {
			errs = append(errs, FieldError{Field: EntityField,
				Message: "must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'"})
		}
	}
	return errs
}
