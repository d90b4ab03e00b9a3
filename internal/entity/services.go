package entity

import (
	"net/url"
	"strconv"
	"strings"
)

// Protocols lists every protocol a service, route or plugin may name.
var Protocols = []string{"grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp", "ws", "wss"}

// tlsProtocols are the service protocols that speak TLS to the upstream, for
// which TLS settings (client certificate, verification) make sense.
var tlsProtocols = map[string]bool{"https": true, "grpcs": true, "tls": true, "wss": true}

// Services are upstream APIs or microservices that routes send traffic to.
var Services = register(&Schema{
	Name:        "services",
	EndpointKey: "name",
	Fields: []*Field{
		idField(),
		createdAtField(),
		updatedAtField(),
		nameField(),
		intField("retries", 5, 0, 32767),
		{Name: "protocol", Kind: String, Required: true, Default: "http", OneOf: strs(Protocols...)},
		{Name: "host", Kind: String, Required: true, Check: checkHost},
		{Name: "port", Kind: Integer, Required: true, Default: int64(80), HasRange: true, Min: 0, Max: 65535},
		{Name: "path", Kind: String, Check: checkPath},
		intField("connect_timeout", 60000, 1, 2147483646),
		intField("write_timeout", 60000, 1, 2147483646),
		intField("read_timeout", 60000, 1, 2147483646),
		tagsField(),
		foreignField("client_certificate", "certificates", false, Restrict),
		{Name: "tls_verify", Kind: Boolean},
		{Name: "tls_verify_depth", Kind: Integer, HasRange: true, Min: 0, Max: 64},
		{Name: "ca_certificates", Kind: Array, Elements: &Field{Kind: String, Check: checkUUID, Normalize: lowerUUID}},
		{Name: "tls_sans", Kind: Record, Fields: []*Field{
			{Name: "dnsnames", Kind: Array, Elements: &Field{Kind: String, Check: checkWildcardHost}},
			{Name: "uris", Kind: Array, Elements: &Field{Kind: String}},
		}},
		boolField("enabled", true),
	},
	Checks: []Check{
		func(e Entity) []FieldError {
			var errs []FieldError
			proto := e.String("protocol")
			switch proto {
			case "tcp", "tls", "tls_passthrough", "udp", "grpc", "grpcs":
				if e["path"] != nil {
					errs = append(errs, FieldError{Field: "path", Message: "value must be null"})
				}
			}
			if !tlsProtocols[proto] {
				for _, f := range []string{"client_certificate", "tls_verify", "tls_verify_depth", "ca_certificates", "tls_sans"} {
					if isSet(e[f]) {
						errs = append(errs, FieldError{Field: f, Message: "value must be null"})
					}
				}
			}
			return errs
		},
	},
	Shorthands: map[string]func(any) (Entity, string){"url": expandServiceURL},
})

// expandServiceURL turns a service's write-only url ("https://api:8443/v1")
// into protocol, host, port and path, defaulting the port from the scheme
// like Kong.
func expandServiceURL(v any) (Entity, string) {
	s, ok := v.(string)
	if !ok {
		return nil, "expected a string"
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return nil, "invalid url: " + s
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, "url must not have a query or fragment"
	}
	out := Entity{"protocol": strings.ToLower(u.Scheme), "host": u.Hostname()}
	switch p := u.Port(); {
	case p != "":
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, "invalid port number"
		}
		out["port"] = int64(n)
	case out["protocol"] == "https" || out["protocol"] == "grpcs" || out["protocol"] == "wss":
		out["port"] = int64(443)
	default:
		out["port"] = int64(80)
	}
	if path := u.EscapedPath(); path != "" {
		out["path"] = path
	} else {
		out["path"] = nil
	}
	return out, ""
}
