package entity

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"math"
	"reflect"
	"strings"
	"testing"
)

const allProtocols = "grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp, ws, wss"

// TestValidateRefuses feeds each schema wrong input and checks the exact
// errors: the field path and Kong's message.
func TestValidateRefuses(t *testing.T) {
	tests := []struct {
		name   string
		schema *Schema
		input  map[string]any
		opts   Options
		want   []errPair
	}{
		// Unknown fields, at the top and inside records and references.
		{"unknown field", Services, map[string]any{"host": "h", "hots": "h"}, Options{},
			[]errPair{{"hots", "unknown field"}}},
		{"unknown fields sorted", Consumers, map[string]any{"username": "a", "zz": 1, "aa": 2}, Options{},
			[]errPair{{"aa", "unknown field"}, {"zz", "unknown field"}}},
		{"unknown record member", Upstreams,
			map[string]any{"name": "u", "healthchecks": map[string]any{"active": map[string]any{"intervall": 5}}}, Options{},
			[]errPair{{"healthchecks.active.intervall", "unknown field"}}},
		{"unknown foreign member", Routes,
			map[string]any{"paths": []any{"/"}, "service": map[string]any{"title": "x"}}, Options{},
			[]errPair{{"service.title", "unknown field"}}},
		{"empty foreign key", Routes,
			map[string]any{"paths": []any{"/"}, "service": map[string]any{}}, Options{},
			[]errPair{{"service.id", "required field missing"}}},
		{"foreign key not a uuid", Routes,
			map[string]any{"paths": []any{"/"}, "service": map[string]any{"id": "svc-1"}}, Options{},
			[]errPair{{"service.id", "expected a valid UUID"}}},
		{"id not a uuid", Consumers, map[string]any{"id": "1234", "username": "a"}, Options{},
			[]errPair{{"id", "expected a valid UUID"}}},

		// Wrong types.
		{"integer as string", Services, map[string]any{"host": "h", "port": "80"}, Options{},
			[]errPair{{"port", "expected an integer"}}},
		{"integer as fraction", Services, map[string]any{"host": "h", "retries": 1.5}, Options{},
			[]errPair{{"retries", "expected an integer"}}},
		{"string as number", Services, map[string]any{"host": 12}, Options{},
			[]errPair{{"host", "expected a string"}}},
		{"boolean as string", Services, map[string]any{"host": "h", "enabled": "yes"}, Options{},
			[]errPair{{"enabled", "expected a boolean"}}},
		{"set as string", Routes, map[string]any{"methods": "GET"}, Options{},
			[]errPair{{"methods", "expected a set"}}},
		{"array as string", Routes, map[string]any{"paths": "/"}, Options{},
			[]errPair{{"paths", "expected an array"}}},
		{"map as list", Routes, map[string]any{"headers": []any{"x"}}, Options{},
			[]errPair{{"headers", "expected a map"}}},
		{"record as string", Upstreams, map[string]any{"name": "u", "healthchecks": "on"}, Options{},
			[]errPair{{"healthchecks", "expected a record"}}},
		{"number as string", Upstreams,
			map[string]any{"name": "u", "healthchecks": map[string]any{"threshold": "50"}}, Options{},
			[]errPair{{"healthchecks.threshold", "expected a number"}}},
		{"foreign as string", Services, map[string]any{"host": "h", "client_certificate": testCertID}, Options{},
			[]errPair{{"client_certificate", "expected a record"}}},
		{"plugin config not an object", Plugins, map[string]any{"name": "cors", "config": "x"}, Options{},
			[]errPair{{"config", "expected a record"}}},
		{"set element of wrong type", Routes, map[string]any{"methods": []any{"GET", 7}}, Options{},
			[]errPair{{"methods[1]", "expected a string"}}},
		{"null set element", Routes, map[string]any{"paths": []any{"/", nil}}, Options{},
			[]errPair{{"paths[1]", "required field missing"}}},

		// Ranges.
		{"port 70000", Services, map[string]any{"host": "h", "port": 70000}, Options{},
			[]errPair{{"port", "value should be between 0 and 65535"}}},
		{"retries -1", Services, map[string]any{"host": "h", "retries": -1}, Options{},
			[]errPair{{"retries", "value should be between 0 and 32767"}}},
		{"timeouts 0", Services,
			map[string]any{"host": "h", "connect_timeout": 0, "read_timeout": 0, "write_timeout": 2147483647}, Options{},
			[]errPair{
				{"connect_timeout", "value should be between 1 and 2147483646"},
				{"read_timeout", "value should be between 1 and 2147483646"},
				{"write_timeout", "value should be between 1 and 2147483646"},
			}},
		{"tls_verify_depth 65", Services, map[string]any{"host": "h", "protocol": "https", "tls_verify_depth": 65}, Options{},
			[]errPair{{"tls_verify_depth", "value should be between 0 and 64"}}},
		{"slots 5", Upstreams, map[string]any{"name": "u", "slots": 5}, Options{},
			[]errPair{{"slots", "value should be between 10 and 65536"}}},
		{"weight 70000", Targets, map[string]any{"upstream": ref(testUpstreamID), "target": "h", "weight": 70000}, Options{},
			[]errPair{{"weight", "value should be between 0 and 65535"}}},
		{"threshold 101", Upstreams,
			map[string]any{"name": "u", "healthchecks": map[string]any{"threshold": 101}}, Options{},
			[]errPair{{"healthchecks.threshold", "value should be between 0 and 100"}}},
		{"healthcheck members", Upstreams,
			map[string]any{"name": "u", "healthchecks": map[string]any{"active": map[string]any{
				"timeout": -1,
				"healthy": map[string]any{"http_statuses": []any{200, 99}, "successes": 256},
			}}}, Options{},
			[]errPair{
				{"healthchecks.active.healthy.http_statuses[1]", "value should be between 100 and 999"},
				{"healthchecks.active.healthy.successes", "value should be between 0 and 255"},
				{"healthchecks.active.timeout", "value should be between 0 and 65535"},
			}},
		{"source port", Routes,
			map[string]any{"protocols": []any{"tcp"}, "sources": []any{map[string]any{"port": 65536}}}, Options{},
			[]errPair{{"sources[0].port", "value should be between 0 and 65535"}}},

		// one_of.
		{"service protocol ftp", Services, map[string]any{"host": "h", "protocol": "ftp"}, Options{},
			[]errPair{{"protocol", "expected one of: " + allProtocols}}},
		{"route protocol ftp", Routes, map[string]any{"paths": []any{"/"}, "protocols": []any{"http", "ftp"}}, Options{},
			[]errPair{{"protocols[1]", "expected one of: " + allProtocols}}},
		{"redirect code 200", Routes, map[string]any{"paths": []any{"/"}, "https_redirect_status_code": 200}, Options{},
			[]errPair{{"https_redirect_status_code", "expected one of: 426, 301, 302, 307, 308"}}},
		{"path_handling v2", Routes, map[string]any{"paths": []any{"/"}, "path_handling": "v2"}, Options{},
			[]errPair{{"path_handling", "expected one of: v0, v1"}}},
		{"algorithm", Upstreams, map[string]any{"name": "u", "algorithm": "random"}, Options{},
			[]errPair{{"algorithm", "expected one of: consistent-hashing, least-connections, round-robin, latency, sticky-sessions"}}},
		{"hash_on", Upstreams, map[string]any{"name": "u", "hash_on": "body"}, Options{},
			[]errPair{{"hash_on", "expected one of: none, consumer, ip, header, cookie, path, query_arg, uri_capture"}}},
		{"healthcheck type", Upstreams,
			map[string]any{"name": "u", "healthchecks": map[string]any{"passive": map[string]any{"type": "udp"}}}, Options{},
			[]errPair{{"healthchecks.passive.type", "expected one of: tcp, http, https, grpc, grpcs"}}},
		{"jwt algorithm", JWTSecrets, map[string]any{"consumer": ref(testConsumerID), "key": "k", "secret": "s", "algorithm": "none"}, Options{},
			[]errPair{{"algorithm", "expected one of: HS256, HS384, HS512, RS256, RS384, RS512, ES256, ES384, ES512, PS256, PS384, PS512, EdDSA"}}},
		{"plugin protocol", Plugins, map[string]any{"name": "cors", "protocols": []any{"smtp"}}, Options{},
			[]errPair{{"protocols[0]", "expected one of: " + allProtocols}}},

		// Required fields.
		{"service host", Services, map[string]any{}, Options{},
			[]errPair{{"host", "required field missing"}}},
		{"service host null", Services, map[string]any{"host": nil}, Options{},
			[]errPair{{"host", "required field missing"}}},
		{"required with default set to null", Services, map[string]any{"host": "h", "port": nil, "enabled": nil}, Options{},
			[]errPair{{"enabled", "required field missing"}, {"port", "required field missing"}}},
		{"upstream name", Upstreams, map[string]any{}, Options{},
			[]errPair{{"name", "required field missing"}}},
		{"target target", Targets, map[string]any{"upstream": ref(testUpstreamID)}, Options{},
			[]errPair{{"target", "required field missing"}}},
		{"target upstream", Targets, map[string]any{"target": "h"}, Options{},
			[]errPair{{"upstream", "required field missing"}}},
		{"sni certificate", SNIs, map[string]any{"name": "example.com"}, Options{},
			[]errPair{{"certificate", "required field missing"}}},
		{"plugin name", Plugins, map[string]any{}, Options{},
			[]errPair{{"name", "required field missing"}}},
		{"certificate cert and key", Certificates, map[string]any{}, Options{},
			[]errPair{{"cert", "required field missing"}, {"key", "required field missing"}}},
		{"ca certificate cert", CACertificates, map[string]any{}, Options{},
			[]errPair{{"cert", "required field missing"}}},
		{"credential consumer", KeyAuthCredentials, map[string]any{"key": "k"}, Options{},
			[]errPair{{"consumer", "required field missing"}}},
		{"credential key", KeyAuthCredentials, map[string]any{"consumer": ref(testConsumerID)}, Options{},
			[]errPair{{"key", "required field missing"}}},
		{"basic-auth password", BasicAuthCredentials, map[string]any{"consumer": ref(testConsumerID), "username": "u"}, Options{},
			[]errPair{{"password", "required field missing"}}},
		{"acl group", ACLs, map[string]any{"consumer": ref(testConsumerID)}, Options{},
			[]errPair{{"group", "required field missing"}}},
		{"route protocols empty", Routes, map[string]any{"paths": []any{"/"}, "protocols": []any{}}, Options{},
			[]errPair{{"protocols", "length must be at least 1"}}},

		// Empty strings: Kong refuses them unless a field allows it.
		{"empty host", Services, map[string]any{"host": ""}, Options{},
			[]errPair{{"host", "length must be at least 1"}}},
		{"empty name", Services, map[string]any{"host": "h", "name": ""}, Options{},
			[]errPair{{"name", "length must be at least 1"}}},
		{"empty password", BasicAuthCredentials, map[string]any{"consumer": ref(testConsumerID), "username": "u", "password": ""}, Options{},
			[]errPair{{"password", "length must be at least 1"}}},
		{"empty tag", Consumers, map[string]any{"username": "a", "tags": []any{"ok", ""}}, Options{},
			[]errPair{{"tags[1]", "length must be at least 1"}}},
		{"empty username", Consumers, map[string]any{"username": "", "custom_id": "c"}, Options{},
			[]errPair{{"username", "length must be at least 1"}}},

		// Names, tags and other strings.
		{"name with a space", Services, map[string]any{"host": "h", "name": "my service"}, Options{},
			[]errPair{{"name", "invalid value 'my service': the only accepted ascii characters are alphanumerics or ., -, _, and ~"}}},
		{"name with a slash", Routes, map[string]any{"paths": []any{"/"}, "name": "a/b"}, Options{},
			[]errPair{{"name", "invalid value 'a/b': the only accepted ascii characters are alphanumerics or ., -, _, and ~"}}},
		{"instance name", Plugins, map[string]any{"name": "cors", "instance_name": "cors#1"}, Options{},
			[]errPair{{"instance_name", "invalid value 'cors#1': the only accepted ascii characters are alphanumerics or ., -, _, and ~"}}},
		{"tag with a comma", Services, map[string]any{"host": "h", "tags": []any{"a,b"}}, Options{},
			[]errPair{{"tags[0]", "invalid tag 'a,b': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"}}},
		{"tag with a space", Services, map[string]any{"host": "h", "tags": []any{"a b"}}, Options{},
			[]errPair{{"tags[0]", "invalid tag 'a b': expected printable ascii (except `,` and `/`) or valid utf-8 sequences"}}},
		{"upstream name with port", Upstreams, map[string]any{"name": "backend:8080"}, Options{},
			[]errPair{{"name", "Invalid name ('backend:8080'); no port allowed"}}},
		{"upstream name ip", Upstreams, map[string]any{"name": "10.0.0.1"}, Options{},
			[]errPair{{"name", "Invalid name ('10.0.0.1'); no ip addresses allowed"}}},
		{"upstream name invalid", Upstreams, map[string]any{"name": "back end"}, Options{},
			[]errPair{{"name", "Invalid name ('back end'); must be a valid hostname"}}},
		{"target invalid", Targets, map[string]any{"upstream": ref(testUpstreamID), "target": "bad host"}, Options{},
			[]errPair{{"target", "Invalid target ('bad host'); not a valid hostname or ip address"}}},
		{"target bad port", Targets, map[string]any{"upstream": ref(testUpstreamID), "target": "h:99999"}, Options{},
			[]errPair{{"target", "Invalid target ('h:99999'); not a valid hostname or ip address"}}},
		{"route method lowercase", Routes, map[string]any{"methods": []any{"get"}}, Options{},
			[]errPair{{"methods[0]", "invalid value: get"}}},
		{"source ip", Routes,
			map[string]any{"protocols": []any{"tcp"}, "sources": []any{map[string]any{"ip": "10.0.0.300"}}}, Options{},
			[]errPair{{"sources[0].ip", "invalid ip or cidr range: '10.0.0.300'"}}},
		{"source without ip or port", Routes,
			map[string]any{"protocols": []any{"tcp"}, "sources": []any{map[string]any{}}}, Options{},
			[]errPair{{"sources[0]", "at least one of these fields must be non-empty: 'ip', 'port'"}}},
		{"ca_certificates element", Services,
			map[string]any{"host": "h", "protocol": "https", "ca_certificates": []any{"nope"}}, Options{},
			[]errPair{{"ca_certificates[0]", "expected a valid UUID"}}},

		// Hosts and wildcards.
		{"wildcard in the middle", Routes, map[string]any{"hosts": []any{"a.*.com"}}, Options{},
			[]errPair{{"hosts[0]", "invalid wildcard: must be placed at leftmost or rightmost label"}}},
		{"two wildcards", Routes, map[string]any{"hosts": []any{"ok.com", "*.example.*"}}, Options{},
			[]errPair{{"hosts[1]", "invalid wildcard: must have at most one wildcard"}}},
		{"route host invalid", Routes, map[string]any{"hosts": []any{"exa mple.com"}}, Options{},
			[]errPair{{"hosts[0]", "invalid value: exa mple.com"}}},
		{"route host bad port", Routes, map[string]any{"hosts": []any{"example.com:99999"}}, Options{},
			[]errPair{{"hosts[0]", "invalid port number"}}},
		{"service host with port", Services, map[string]any{"host": "example.com:8080"}, Options{},
			[]errPair{{"host", "must not have a port"}}},
		{"service host with bad port", Services, map[string]any{"host": "example.com:http"}, Options{},
			[]errPair{{"host", "must not have a port"}}},
		{"service host invalid", Services, map[string]any{"host": "exa_mple..com"}, Options{},
			[]errPair{{"host", "invalid value: exa_mple..com"}}},
		{"service host wildcard", Services, map[string]any{"host": "*.example.com"}, Options{},
			[]errPair{{"host", "invalid value: *.example.com"}}},
		{"sni ip", SNIs, map[string]any{"name": "10.0.0.1", "certificate": ref(testCertID)}, Options{},
			[]errPair{{"name", "must not be an IP"}}},
		{"sni with port", SNIs, map[string]any{"name": "example.com:443", "certificate": ref(testCertID)}, Options{},
			[]errPair{{"name", "must not have a port"}}},
		{"route sni wildcard in the middle", Routes,
			map[string]any{"protocols": []any{"https"}, "snis": []any{"a.*.com"}}, Options{},
			[]errPair{{"snis[0]", "invalid wildcard: must be placed at leftmost or rightmost label"}}},

		// Paths.
		{"route path without slash", Routes, map[string]any{"paths": []any{"api"}}, Options{},
			[]errPair{{"paths[0]", "should start with: / (fixed path) or ~/ (regex path)"}}},
		{"route regex without slash", Routes, map[string]any{"paths": []any{"~api"}}, Options{},
			[]errPair{{"paths[0]", "should start with: / (fixed path) or ~/ (regex path)"}}},
		{"route regex invalid", Routes, map[string]any{"paths": []any{"/ok", "~/users/(\\d+"}}, Options{},
			[]errPair{{"paths[1]", "invalid regex: '/users/(\\d+' (missing closing ))"}}},
		{"route path bad character", Routes, map[string]any{"paths": []any{"/a b"}}, Options{},
			[]errPair{{"paths[0]", "invalid path: '/a b' (characters outside of the reserved list of RFC 3986 found)"}}},
		{"route path bad percent-encoding", Routes, map[string]any{"paths": []any{"/a%2"}}, Options{},
			[]errPair{{"paths[0]", "invalid url-encoded value: '%2'"}}},
		{"route path empty segment", Routes, map[string]any{"paths": []any{"/a//b"}}, Options{},
			[]errPair{{"paths[0]", "must not have empty segments"}}},
		{"service path without slash", Services, map[string]any{"host": "h", "path": "v1"}, Options{},
			[]errPair{{"path", "should start with: /"}}},
		{"service path bad percent-encoding", Services, map[string]any{"host": "h", "path": "/v1/%zzpath"}, Options{},
			[]errPair{{"path", "invalid url-encoded value: '%zz'"}}},
		{"service path bad character", Services, map[string]any{"host": "h", "path": "/v1?x=1"}, Options{},
			[]errPair{{"path", "invalid path: '/v1?x=1' (characters outside of the reserved list of RFC 3986 found)"}}},
		{"service path empty segment", Services, map[string]any{"host": "h", "path": "//v1"}, Options{},
			[]errPair{{"path", "must not have empty segments"}}},
		{"cookie path", Upstreams, map[string]any{"name": "u", "hash_on_cookie_path": "x"}, Options{},
			[]errPair{{"hash_on_cookie_path", "should start with: /"}}},

		// Headers.
		{"host header", Routes, map[string]any{"headers": map[string]any{"Host": []any{"example.com"}}}, Options{},
			[]errPair{{"headers.Host", "cannot contain 'host' header, which must be specified in the 'hosts' attribute"}}},
		{"bad header name", Routes, map[string]any{"headers": map[string]any{"x(y)": []any{"1"}}}, Options{},
			[]errPair{{"headers.x(y)", "bad header name 'x(y)', allowed characters are A-Z, a-z, 0-9, '_', and '-'"}}},
		{"header name with a dot", Routes, map[string]any{"headers": map[string]any{"x.version": []any{"1"}}}, Options{},
			[]errPair{{"headers.x.version", "bad header name 'x.version', allowed characters are A-Z, a-z, 0-9, '_', and '-'"}}},
		{"header values empty", Routes, map[string]any{"headers": map[string]any{"x-v": []any{}}}, Options{},
			[]errPair{{"headers.x-v", "length must be at least 1"}}},
		{"header value not a string", Routes, map[string]any{"headers": map[string]any{"x-v": []any{"1", 2}}}, Options{},
			[]errPair{{"headers.x-v[1]", "expected a string"}}},
		{"header value not a list", Routes, map[string]any{"headers": map[string]any{"x-v": "1"}}, Options{},
			[]errPair{{"headers.x-v", "expected an array"}}},
		{"hash_on_header", Upstreams, map[string]any{"name": "u", "hash_on": "header", "hash_on_header": "x id"}, Options{},
			[]errPair{{"hash_on_header", "bad header name 'x id', allowed characters are A-Z, a-z, 0-9, '_', and '-'"}}},
		{"active healthcheck header", Upstreams,
			map[string]any{"name": "u", "healthchecks": map[string]any{"active": map[string]any{
				"headers": map[string]any{"bad:name": []any{"v"}}}}}, Options{},
			[]errPair{{"healthchecks.active.headers.bad:name", "bad header name 'bad:name', allowed characters are A-Z, a-z, 0-9, '_', and '-'"}}},

		// Route entity checks.
		{"http route without matcher", Routes, map[string]any{"protocols": []any{"http"}}, Options{},
			[]errPair{{EntityField, "must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'"}}},
		{"default route without matcher", Routes, map[string]any{}, Options{},
			[]errPair{{EntityField, "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'"}}},
		{"empty matchers count as unset", Routes,
			map[string]any{"protocols": []any{"http"}, "paths": []any{}, "hosts": []any{}, "headers": map[string]any{}}, Options{},
			[]errPair{{EntityField, "must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'"}}},
		{"http route with only snis", Routes, map[string]any{"protocols": []any{"http"}, "snis": []any{"example.com"}}, Options{},
			[]errPair{
				{EntityField, "must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'"},
				{"snis", "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls', 'tls_passthrough', or 'wss'"},
			}},
		{"snis on http route", Routes,
			map[string]any{"protocols": []any{"http"}, "paths": []any{"/"}, "snis": []any{"example.com"}}, Options{},
			[]errPair{{"snis", "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls', 'tls_passthrough', or 'wss'"}}},
		{"sources on http route", Routes,
			map[string]any{"paths": []any{"/"}, "sources": []any{map[string]any{"ip": "10.0.0.1"}}}, Options{},
			[]errPair{{"sources", "cannot set 'sources' when 'protocols' is 'http' or 'https'"}}},
		{"tcp route with paths", Routes,
			map[string]any{"protocols": []any{"tcp"}, "paths": []any{"/"}, "destinations": []any{map[string]any{"port": 5432}}}, Options{},
			[]errPair{{"paths", "cannot set 'paths' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'"}}},
		{"tls route with methods and hosts", Routes,
			map[string]any{"protocols": []any{"tls"}, "methods": []any{"GET"}, "hosts": []any{"h"}, "snis": []any{"h"}}, Options{},
			[]errPair{
				{"hosts", "cannot set 'hosts' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'"},
				{"methods", "cannot set 'methods' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'"},
			}},
		{"tcp route without matcher", Routes, map[string]any{"protocols": []any{"tcp", "tls"}}, Options{},
			[]errPair{{EntityField, "must set one of 'sources', 'destinations', 'snis' when 'protocols' is 'tcp', 'tls' or 'udp'"}}},
		{"grpc route with methods", Routes,
			map[string]any{"protocols": []any{"grpc"}, "paths": []any{"/pkg.Svc/"}, "methods": []any{"POST"}}, Options{},
			[]errPair{{"methods", "cannot set 'methods' when 'protocols' is 'grpc' or 'grpcs'"}}},
		{"grpc route with sources", Routes,
			map[string]any{"protocols": []any{"grpc"}, "paths": []any{"/"}, "sources": []any{map[string]any{"port": 1}}}, Options{},
			[]errPair{{"sources", "cannot set 'sources' when 'protocols' is 'grpc' or 'grpcs'"}}},
		{"grpc route without matcher", Routes, map[string]any{"protocols": []any{"grpc"}}, Options{},
			[]errPair{{EntityField, "must set one of 'hosts', 'headers', 'paths' when 'protocols' is 'grpc'"}}},
		{"grpcs route without matcher", Routes, map[string]any{"protocols": []any{"grpc", "grpcs"}}, Options{},
			[]errPair{{EntityField, "must set one of 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'grpcs'"}}},
		{"mixed protocol groups", Routes, map[string]any{"protocols": []any{"http", "tcp"}, "paths": []any{"/"}}, Options{},
			[]errPair{{"protocols", "these sets are mutually exclusive: ('http', 'https'), ('tcp', 'tls', 'udp'), ('tls_passthrough'), ('grpc', 'grpcs'), ('ws', 'wss')"}}},
		{"mixed grpc and https", Routes, map[string]any{"protocols": []any{"grpcs", "https"}, "paths": []any{"/"}}, Options{},
			[]errPair{{"protocols", "these sets are mutually exclusive: ('http', 'https'), ('tcp', 'tls', 'udp'), ('tls_passthrough'), ('grpc', 'grpcs'), ('ws', 'wss')"}}},

		// Service checks.
		{"path with tcp", Services, map[string]any{"host": "h", "protocol": "tcp", "path": "/x"}, Options{},
			[]errPair{{"path", "value must be null"}}},
		{"path with grpc", Services, map[string]any{"host": "h", "protocol": "grpc", "path": "/x"}, Options{},
			[]errPair{{"path", "value must be null"}}},
		{"tls_verify on http", Services, map[string]any{"host": "h", "tls_verify": true}, Options{},
			[]errPair{{"tls_verify", "value must be null"}}},
		{"tls settings on http", Services,
			map[string]any{"host": "h", "tls_verify": false, "tls_verify_depth": 2,
				"client_certificate": ref(testCertID), "ca_certificates": []any{testCertID}}, Options{},
			[]errPair{
				{"ca_certificates", "value must be null"},
				{"client_certificate", "value must be null"},
				{"tls_verify", "value must be null"},
				{"tls_verify_depth", "value must be null"},
			}},

		// Upstream hashing.
		{"hash_on header without header", Upstreams, map[string]any{"name": "u", "hash_on": "header"}, Options{},
			[]errPair{{"hash_on_header", "required field missing"}}},
		{"hash_fallback header without header", Upstreams,
			map[string]any{"name": "u", "hash_on": "ip", "hash_fallback": "header"}, Options{},
			[]errPair{{"hash_fallback_header", "required field missing"}}},
		{"hash_on cookie without cookie", Upstreams, map[string]any{"name": "u", "hash_on": "cookie"}, Options{},
			[]errPair{{"hash_on_cookie", "required field missing"}}},
		{"hash_fallback cookie without cookie", Upstreams,
			map[string]any{"name": "u", "hash_on": "consumer", "hash_fallback": "cookie"}, Options{},
			[]errPair{{"hash_on_cookie", "required field missing"}}},
		{"hash_on query_arg without arg", Upstreams, map[string]any{"name": "u", "hash_on": "query_arg"}, Options{},
			[]errPair{{"hash_on_query_arg", "required field missing"}}},
		{"hash_fallback uri_capture without capture", Upstreams,
			map[string]any{"name": "u", "hash_on": "ip", "hash_fallback": "uri_capture"}, Options{},
			[]errPair{{"hash_fallback_uri_capture", "required field missing"}}},
		{"hash_on none with fallback", Upstreams, map[string]any{"name": "u", "hash_fallback": "ip"}, Options{},
			[]errPair{{"hash_fallback", "expected one of: none"}}},
		{"hash_on cookie with fallback", Upstreams,
			map[string]any{"name": "u", "hash_on": "cookie", "hash_on_cookie": "c", "hash_fallback": "ip"}, Options{},
			[]errPair{{"hash_fallback", "expected one of: none"}}},
		{"same header twice", Upstreams,
			map[string]any{"name": "u", "hash_on": "header", "hash_fallback": "header",
				"hash_on_header": "X-Id", "hash_fallback_header": "x-id"}, Options{},
			[]errPair{{EntityField, "values of these fields must be distinct: 'hash_on_header', 'hash_fallback_header'"}}},

		// Consumers, plugins, JWT secrets.
		{"consumer without username or custom_id", Consumers, map[string]any{"tags": []any{"t"}}, Options{},
			[]errPair{{EntityField, "at least one of these fields must be non-empty: 'custom_id', 'username'"}}},
		{"unknown plugin", Plugins, map[string]any{"name": "foo-bar"}, Options{},
			[]errPair{{"name", "plugin 'foo-bar' not enabled; add it to the 'plugins' configuration property"}}},
		{"key-auth on a consumer", Plugins, map[string]any{"name": "key-auth", "consumer": ref(testConsumerID)}, Options{},
			[]errPair{{"consumer", "value must be null"}}},
		{"acl on a consumer", Plugins, map[string]any{"name": "acl", "consumer": ref(testConsumerID)}, Options{},
			[]errPair{{"consumer", "value must be null"}}},
		{"jwt RS256 without key", JWTSecrets,
			map[string]any{"consumer": ref(testConsumerID), "key": "k", "algorithm": "RS256"}, Options{},
			[]errPair{{"rsa_public_key", "required field missing"}}},
		{"jwt RS256 garbage key", JWTSecrets,
			map[string]any{"consumer": ref(testConsumerID), "key": "k", "algorithm": "RS256", "rsa_public_key": "not a key"}, Options{},
			[]errPair{{"rsa_public_key", "invalid key"}}},
		{"jwt HS256 without secret", JWTSecrets, map[string]any{"consumer": ref(testConsumerID), "key": "k"}, Options{},
			[]errPair{{"secret", "required field missing"}}},
		{"jwt algorithm null", JWTSecrets,
			map[string]any{"consumer": ref(testConsumerID), "key": "k", "algorithm": nil}, Options{},
			[]errPair{{"secret", "required field missing"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErrors(t, tc.schema, tc.input, tc.opts, tc.want)
		})
	}
}

// TestValidateAccepts checks inputs Kong accepts and the values they are
// stored as.
func TestValidateAccepts(t *testing.T) {
	rsaKey := fixture(t, "rsa").signer.Public()
	pubDER, err := x509.MarshalPKIXPublicKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaPublicPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))

	tests := []struct {
		name   string
		schema *Schema
		input  map[string]any
		opts   Options
		want   map[string]any // fields to compare
	}{
		{"wildcard host leftmost", Routes, map[string]any{"hosts": []any{"*.example.com"}}, Options{},
			map[string]any{"hosts": []any{"*.example.com"}}},
		{"wildcard host rightmost", Routes, map[string]any{"hosts": []any{"example.*"}}, Options{},
			map[string]any{"hosts": []any{"example.*"}}},
		{"route host with port", Routes, map[string]any{"hosts": []any{"example.com:8080", "10.0.0.1:80", "[::1]:8443"}}, Options{},
			map[string]any{"hosts": []any{"example.com:8080", "10.0.0.1:80", "[::1]:8443"}}},
		{"regex path", Routes, map[string]any{"paths": []any{`~/users/(?P<id>\d+)$`}}, Options{},
			map[string]any{"paths": []any{`~/users/(?P<id>\d+)$`}}},
		{"path with sub-delims and encoding", Routes, map[string]any{"paths": []any{"/a:b@c/d%20e;f=g"}}, Options{},
			map[string]any{"paths": []any{"/a:b@c/d%20e;f=g"}}},
		{"header names", Routes,
			map[string]any{"headers": map[string]any{"X-Version_2": []any{"1", "2"}, "x-single": []any{"~*^a.*$"}}}, Options{},
			map[string]any{"headers": map[string]any{"X-Version_2": []any{"1", "2"}, "x-single": []any{"~*^a.*$"}}}},
		{"https route with only snis", Routes, map[string]any{"protocols": []any{"https"}, "snis": []any{"example.com"}}, Options{},
			map[string]any{"snis": []any{"example.com"}, "protocols": []any{"https"}}},
		{"default route with only snis", Routes, map[string]any{"snis": []any{"*.example.com"}}, Options{},
			map[string]any{"snis": []any{"*.example.com"}}},
		{"grpcs route with only snis", Routes, map[string]any{"protocols": []any{"grpcs"}, "snis": []any{"example.com"}}, Options{},
			map[string]any{"protocols": []any{"grpcs"}}},
		{"tls_passthrough route", Routes, map[string]any{"protocols": []any{"tls_passthrough"}, "snis": []any{"example.com"}}, Options{},
			map[string]any{"protocols": []any{"tls_passthrough"}}},
		{"tcp route", Routes,
			map[string]any{"protocols": []any{"tcp", "udp"}, "sources": []any{map[string]any{"ip": "10.0.0.0/8"}},
				"destinations": []any{map[string]any{"ip": "::1", "port": 53}}}, Options{},
			map[string]any{
				"sources":      []any{map[string]any{"ip": "10.0.0.0/8", "port": nil}},
				"destinations": []any{map[string]any{"ip": "::1", "port": int64(53)}},
			}},
		{"route service by name", Routes, map[string]any{"paths": []any{"/"}, "service": map[string]any{"name": "svc"}}, Options{},
			map[string]any{"service": map[string]any{"name": "svc"}}},
		{"foreign id lower-cased", Routes,
			map[string]any{"paths": []any{"/"}, "service": map[string]any{"id": strings.ToUpper(testServiceID)}}, Options{},
			map[string]any{"service": map[string]any{"id": testServiceID}}},
		{"utf-8 name", Services, map[string]any{"host": "h", "name": "sérvice~1.a_b-c"}, Options{},
			map[string]any{"name": "sérvice~1.a_b-c"}},
		{"service host ip", Services, map[string]any{"host": "10.0.0.1"}, Options{},
			map[string]any{"host": "10.0.0.1"}},
		{"service host ipv6", Services, map[string]any{"host": "::1"}, Options{},
			map[string]any{"host": "::1"}},
		{"https service tls settings", Services,
			map[string]any{"host": "h", "protocol": "https", "tls_verify": true, "tls_verify_depth": 3,
				"client_certificate": ref(testCertID), "ca_certificates": []any{testCertID},
				"tls_sans": map[string]any{"dnsnames": []any{"*.example.com"}}}, Options{},
			map[string]any{"tls_verify": true, "tls_verify_depth": int64(3), "client_certificate": ref(testCertID),
				"ca_certificates": []any{testCertID},
				"tls_sans":        map[string]any{"dnsnames": []any{"*.example.com"}, "uris": nil}}},
		{"grpc service without path", Services, map[string]any{"host": "h", "protocol": "grpc"}, Options{},
			map[string]any{"protocol": "grpc", "path": nil}},
		{"target default port", Targets, map[string]any{"upstream": ref(testUpstreamID), "target": "API.Internal"}, Options{},
			map[string]any{"target": "api.internal:8000"}},
		{"target with port", Targets, map[string]any{"upstream": ref(testUpstreamID), "target": "10.0.0.1:80", "weight": 0}, Options{},
			map[string]any{"target": "10.0.0.1:80", "weight": int64(0)}},
		{"target ipv6", Targets, map[string]any{"upstream": ref(testUpstreamID), "target": "::1"}, Options{},
			map[string]any{"target": "[::1]:8000"}},
		{"target bracketed ipv6", Targets, map[string]any{"upstream": ref(testUpstreamID), "target": "[2001:db8::1]:9000"}, Options{},
			map[string]any{"target": "[2001:db8::1]:9000"}},
		{"hash on header", Upstreams,
			map[string]any{"name": "u", "algorithm": "consistent-hashing", "hash_on": "header", "hash_on_header": "X-User",
				"hash_fallback": "ip"}, Options{},
			map[string]any{"hash_on": "header", "hash_on_header": "X-User", "hash_fallback": "ip"}},
		{"hash fallback cookie", Upstreams,
			map[string]any{"name": "u", "hash_on": "consumer", "hash_fallback": "cookie", "hash_on_cookie": "session"}, Options{},
			map[string]any{"hash_fallback": "cookie", "hash_on_cookie": "session"}},
		{"two different headers", Upstreams,
			map[string]any{"name": "u", "hash_on": "header", "hash_fallback": "header",
				"hash_on_header": "X-A", "hash_fallback_header": "X-B"}, Options{},
			map[string]any{"hash_fallback_header": "X-B"}},
		{"consumer with custom_id only", Consumers, map[string]any{"custom_id": "ext-1"}, Options{},
			map[string]any{"custom_id": "ext-1", "username": nil}},
		{"rate-limiting on a consumer", Plugins,
			map[string]any{"name": "rate-limiting", "consumer": ref(testConsumerID), "config": map[string]any{"minute": 5}}, Options{},
			map[string]any{"consumer": ref(testConsumerID), "config": map[string]any{"minute": int64(5)}}},
		{"plugin config numbers", Plugins,
			map[string]any{"name": "rate-limiting", "config": map[string]any{"minute": 5.0, "ratio": 0.5, "list": []any{1, "a"}}}, Options{},
			map[string]any{"config": map[string]any{"minute": int64(5), "ratio": 0.5, "list": []any{int64(1), "a"}}}},
		{"plugin ordering", Plugins,
			map[string]any{"name": "cors", "ordering": map[string]any{"before": map[string]any{"access": []any{"key-auth"}}}}, Options{},
			map[string]any{"ordering": map[string]any{"before": map[string]any{"access": []any{"key-auth"}}, "after": nil}}},
		{"jwt RS256 with public key", JWTSecrets,
			map[string]any{"consumer": ref(testConsumerID), "key": "k", "algorithm": "RS256", "rsa_public_key": rsaPublicPEM}, Options{},
			map[string]any{"algorithm": "RS256", "rsa_public_key": rsaPublicPEM, "secret": nil}},
		{"sni wildcard", SNIs, map[string]any{"name": "*.example.com", "certificate": ref(testCertID)}, Options{},
			map[string]any{"name": "*.example.com"}},
		{"tags", Services, map[string]any{"host": "h", "tags": []any{"team:a", "ünïcode", "x.y"}}, Options{},
			map[string]any{"tags": []any{"team:a", "ünïcode", "x.y"}}},

		// Sets deduplicate, arrays keep order and duplicates.
		{"set deduplicates", Routes,
			map[string]any{"methods": []any{"GET", "POST", "GET"}, "protocols": []any{"https", "http", "https"}}, Options{},
			map[string]any{"methods": []any{"GET", "POST"}, "protocols": []any{"https", "http"}}},
		{"set of records deduplicates", Routes,
			map[string]any{"protocols": []any{"tcp"}, "sources": []any{
				map[string]any{"ip": "10.0.0.1"}, map[string]any{"port": 1}, map[string]any{"ip": "10.0.0.1", "port": nil}}}, Options{},
			map[string]any{"sources": []any{map[string]any{"ip": "10.0.0.1", "port": nil}, map[string]any{"ip": nil, "port": int64(1)}}}},
		{"array keeps order", Routes, map[string]any{"paths": []any{"/b", "/a", "/b"}}, Options{},
			map[string]any{"paths": []any{"/b", "/a", "/b"}}},
		{"tags deduplicate", Consumers, map[string]any{"username": "a", "tags": []any{"x", "y", "x"}}, Options{},
			map[string]any{"tags": []any{"x", "y"}}},
		{"empty object as empty list", Routes, map[string]any{"paths": []any{"/"}, "methods": map[string]any{}}, Options{},
			map[string]any{"methods": []any{}}},
		{"null map values dropped", Routes,
			map[string]any{"headers": map[string]any{"x-a": []any{"1"}, "x-b": nil}}, Options{},
			map[string]any{"headers": map[string]any{"x-a": []any{"1"}}}},

		// Numbers arrive as float64 from JSON, and as int or int64 from Go.
		{"whole floats become integers", Services, map[string]any{"host": "h", "port": 8080.0, "retries": int(3)}, Options{},
			map[string]any{"port": int64(8080), "retries": int64(3)}},
		{"integers become numbers", Upstreams,
			map[string]any{"name": "u", "healthchecks": map[string]any{"threshold": 25, "active": map[string]any{"timeout": int64(2)}}}, Options{},
			map[string]any{"healthchecks": func() any {
				hc := healthchecksDefaults()
				hc["threshold"] = int64(25)
				hc["active"].(map[string]any)["timeout"] = int64(2)
				return hc
			}()}},

		// Form input.
		{"coerce integer", Services, map[string]any{"host": "h", "port": "8080", "retries": " 3 "}, Options{Coerce: true},
			map[string]any{"port": int64(8080), "retries": int64(3)}},
		{"coerce boolean", Services, map[string]any{"host": "h", "enabled": "false"}, Options{Coerce: true},
			map[string]any{"enabled": false}},
		{"coerce true", Routes, map[string]any{"paths": "/", "strip_path": "true", "preserve_host": "true"}, Options{Coerce: true},
			map[string]any{"strip_path": true, "preserve_host": true, "paths": []any{"/"}}},
		{"coerce set", Routes, map[string]any{"paths": []any{"/"}, "protocols": "https", "methods": "GET"}, Options{Coerce: true},
			map[string]any{"protocols": []any{"https"}, "methods": []any{"GET"}}},
		{"coerce number", Upstreams,
			map[string]any{"name": "u", "healthchecks": map[string]any{"threshold": "12.5"}}, Options{Coerce: true},
			map[string]any{"healthchecks": func() any {
				hc := healthchecksDefaults()
				hc["threshold"] = 12.5
				return hc
			}()}},
		{"coerce integer elements", Upstreams,
			map[string]any{"name": "u", "healthchecks": map[string]any{"passive": map[string]any{
				"unhealthy": map[string]any{"http_statuses": "503"}}}}, Options{Coerce: true},
			map[string]any{"healthchecks": func() any {
				hc := healthchecksDefaults()
				hc["passive"].(map[string]any)["unhealthy"].(map[string]any)["http_statuses"] = []any{int64(503)}
				return hc
			}()}},
		{"coerce integer one_of", Routes, map[string]any{"paths": []any{"/"}, "https_redirect_status_code": "301"}, Options{Coerce: true},
			map[string]any{"https_redirect_status_code": int64(301)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, errs := tc.schema.Validate(tc.input, tc.opts)
			if errs != nil {
				t.Fatalf("unexpected errors: %v", errs)
			}
			for k, want := range tc.want {
				if !reflect.DeepEqual(got[k], want) {
					t.Errorf("%s = %s (%#v), want %s (%#v)", k, jsonString(got[k]), got[k], jsonString(want), want)
				}
			}
		})
	}
}

// TestValidateWithoutCoerce checks that form-style strings are refused in
// JSON input, where Kong wants real types.
func TestValidateWithoutCoerce(t *testing.T) {
	input := map[string]any{"host": "h", "port": "80", "enabled": "true", "tags": "a", "retries": "1"}
	wantErrors(t, Services, input, Options{}, []errPair{
		{"enabled", "expected a boolean"},
		{"port", "expected an integer"},
		{"retries", "expected an integer"},
		{"tags", "expected a set"},
	})
	got, errs := Services.Validate(input, Options{Coerce: true})
	if errs != nil {
		t.Fatalf("with Coerce: %v", errs)
	}
	want := map[string]any{"port": int64(80), "enabled": true, "tags": []any{"a"}, "retries": int64(1)}
	for k, v := range want {
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("with Coerce: %s = %#v, want %#v", k, got[k], v)
		}
	}
	// Coercion still refuses what is not a number or a boolean.
	wantErrors(t, Services, map[string]any{"host": "h", "port": "eighty", "enabled": "maybe"}, Options{Coerce: true},
		[]errPair{{"enabled", "expected a boolean"}, {"port", "expected an integer"}})
}

// TestServiceURL checks the url shorthand: it fills protocol, host, port
// and path, and its errors name the field "url".
func TestServiceURL(t *testing.T) {
	tests := []struct {
		url  string
		want map[string]any
	}{
		{"https://example.com", map[string]any{"protocol": "https", "host": "example.com", "port": int64(443), "path": nil}},
		{"http://example.com:8080/v1", map[string]any{"protocol": "http", "host": "example.com", "port": int64(8080), "path": "/v1"}},
		{"http://example.com", map[string]any{"protocol": "http", "host": "example.com", "port": int64(80), "path": nil}},
		{"grpc://h:50051", map[string]any{"protocol": "grpc", "host": "h", "port": int64(50051), "path": nil}},
		{"grpcs://h", map[string]any{"protocol": "grpcs", "host": "h", "port": int64(443), "path": nil}},
		{"HTTPS://Example.com/", map[string]any{"protocol": "https", "host": "Example.com", "port": int64(443), "path": "/"}},
		{"http://[::1]:9000/a%20b", map[string]any{"protocol": "http", "host": "::1", "port": int64(9000), "path": "/a%20b"}},
		{"tcp://db:5432", map[string]any{"protocol": "tcp", "host": "db", "port": int64(5432), "path": nil}},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			got := mustValidate(t, Services, map[string]any{"url": tc.url, "name": "svc"})
			for k, want := range tc.want {
				if !reflect.DeepEqual(got[k], want) {
					t.Errorf("%s = %#v, want %#v", k, got[k], want)
				}
			}
			if _, ok := got["url"]; ok {
				t.Error("url is write-only but appears in the output")
			}
		})
	}

	refused := []struct {
		name  string
		input map[string]any
		want  []errPair
	}{
		{"not a url", map[string]any{"url": "not a url"},
			[]errPair{{"url", "invalid url: not a url"}, {"host", "required field missing"}}},
		{"no host", map[string]any{"url": "http://"},
			[]errPair{{"url", "invalid url: http://"}, {"host", "required field missing"}}},
		{"not a string", map[string]any{"url": 80},
			[]errPair{{"url", "expected a string"}, {"host", "required field missing"}}},
		{"query", map[string]any{"url": "http://h/a?b=c"},
			[]errPair{{"url", "url must not have a query or fragment"}, {"host", "required field missing"}}},
		{"unknown scheme", map[string]any{"url": "ftp://h"},
			[]errPair{{"protocol", "expected one of: " + allProtocols}}},
		{"port out of range", map[string]any{"url": "http://h:70000"},
			[]errPair{{"port", "value should be between 0 and 65535"}}},
		{"path with tcp", map[string]any{"url": "tcp://h:1/x"},
			[]errPair{{"path", "value must be null"}}},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			wantErrors(t, Services, tc.input, Options{}, tc.want)
		})
	}

	// A url replaces host, port and path given beside it; null is ignored.
	got := mustValidate(t, Services, map[string]any{"url": "https://new.example", "host": "old", "path": "/old", "port": 1})
	if got["host"] != "new.example" || got["path"] != nil || got["port"] != int64(443) {
		t.Errorf("url beside fields: host %v path %v port %v", got["host"], got["path"], got["port"])
	}
	got = mustValidate(t, Services, map[string]any{"url": nil, "host": "h"})
	if got["host"] != "h" {
		t.Errorf("null url: host %v", got["host"])
	}
}

// TestValidateNumbers feeds integer and number fields every numeric form a
// decoder or a Go caller may hand over.
func TestValidateNumbers(t *testing.T) {
	tests := []struct {
		name    string
		value   any
		want    any // regex_priority after validation; nil when refused
		wantErr string
	}{
		{"int", int(7), int64(7), ""},
		{"int64", int64(-7), int64(-7), ""},
		{"uint64", uint64(7), int64(7), ""},
		{"uint64 too large", uint64(1) << 63, nil, "expected an integer"},
		{"whole float", 7.0, int64(7), ""},
		{"fraction", 7.5, nil, "expected an integer"},
		{"float at 2^63", 9223372036854775808.0, nil, "expected an integer"},
		{"float below -2^63", -9223372036854777856.0, nil, "expected an integer"},
		{"json.Number", json.Number("42"), int64(42), ""},
		{"json.Number exponent", json.Number("1e3"), int64(1000), ""},
		{"json.Number fraction", json.Number("1.5"), nil, "expected an integer"},
		{"infinity", math.Inf(1), nil, "expected an integer"},
		{"NaN", math.NaN(), nil, "expected an integer"},
		{"boolean", true, nil, "expected an integer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := map[string]any{"paths": []any{"/"}, "regex_priority": tc.value}
			if tc.wantErr != "" {
				wantErrors(t, Routes, in, Options{}, []errPair{{"regex_priority", tc.wantErr}})
				return
			}
			got := mustValidate(t, Routes, in)
			if got["regex_priority"] != tc.want {
				t.Errorf("regex_priority = %#v, want %#v", got["regex_priority"], tc.want)
			}
		})
	}

	floats := []struct {
		name  string
		value any
		want  any // whole numbers are held as int64, others as float64
		ok    bool
	}{
		{"int", int(3), int64(3), true},
		{"uint64", uint64(3), int64(3), true},
		{"whole float", 4.0, int64(4), true},
		{"fraction", 2.5, 2.5, true},
		{"json.Number", json.Number("0.25"), 0.25, true},
		{"NaN", math.NaN(), 0, false},
		{"infinity", math.Inf(-1), 0, false},
	}
	for _, tc := range floats {
		t.Run("number "+tc.name, func(t *testing.T) {
			in := map[string]any{"name": "u", "healthchecks": map[string]any{"active": map[string]any{"timeout": tc.value}}}
			if !tc.ok {
				wantErrors(t, Upstreams, in, Options{}, []errPair{{"healthchecks.active.timeout", "expected a number"}})
				return
			}
			got := mustValidate(t, Upstreams, in)
			if v := got["healthchecks"].(map[string]any)["active"].(map[string]any)["timeout"]; v != tc.want {
				t.Errorf("timeout = %#v, want %#v", v, tc.want)
			}
		})
	}
}

// TestValidateIDCase checks that ids and the references to them are stored
// in one case, so that a reference always finds its entity.
func TestValidateIDCase(t *testing.T) {
	upper := strings.ToUpper(testServiceID)
	svc := mustValidate(t, Services, map[string]any{"id": upper, "host": "h", "protocol": "https",
		"ca_certificates": []any{strings.ToUpper(testCertID)}})
	route := mustValidate(t, Routes, map[string]any{"paths": []any{"/"}, "service": map[string]any{"id": upper}})
	if svc.ID() != route.Ref("service") {
		t.Errorf("service id %q, route reference %q", svc.ID(), route.Ref("service"))
	}
	if svc.ID() != testServiceID {
		t.Errorf("id = %q, want %q", svc.ID(), testServiceID)
	}
	if got := svc["ca_certificates"]; !reflect.DeepEqual(got, []any{testCertID}) {
		t.Errorf("ca_certificates = %v, want [%s]", got, testCertID)
	}
}

func TestValidateForeignEndpointKey(t *testing.T) {
	wantErrors(t, Routes, map[string]any{"paths": []any{"/"}, "service": map[string]any{"name": 5}}, Options{},
		[]errPair{{"service.name", "expected a string"}})
	wantErrors(t, Plugins, map[string]any{"name": "cors", "consumer": map[string]any{"username": ""}}, Options{},
		[]errPair{{"consumer.username", "expected a string"}})
	got := mustValidate(t, Plugins, map[string]any{"name": "rate-limiting", "consumer": map[string]any{"username": "alice"}})
	if !reflect.DeepEqual(got["consumer"], map[string]any{"username": "alice"}) {
		t.Errorf("consumer = %v", got["consumer"])
	}
	// Certificates have no endpoint key: only an id names one.
	wantErrors(t, SNIs, map[string]any{"name": "a.example", "certificate": map[string]any{"name": "c"}}, Options{},
		[]errPair{{"certificate.name", "unknown field"}})
}
