package router

import (
	"maps"
	"net/http"
	"regexp/syntax"
	"strings"
	"testing"
)

// matchCase is one request against one route set: want is the ID of the
// route that must win, "" for no match.
type matchCase struct {
	name     string
	routes   []Route
	req      Request
	want     string
	redirect bool
	prefix   *string // checked when set
}

func str(s string) *string { return &s }

// withDefaults fills what most cases leave out: GET on port 80, path "/".
func withDefaults(r Request) *Request {
	if r.Method == "" {
		r.Method = "GET"
	}
	if r.Port == 0 {
		r.Port = 80
	}
	if r.Path == "" {
		r.Path = "/"
	}
	return &r
}

func runMatchCases(t *testing.T, cases []matchCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := New(tc.routes)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			var m Match
			ok := rt.Match(withDefaults(tc.req), &m)
			got := ""
			if ok {
				got = m.Route.ID
			}
			if got != tc.want {
				t.Fatalf("matched %q; want %q", got, tc.want)
			}
			if !ok {
				return
			}
			if m.Redirect != tc.redirect {
				t.Errorf("Redirect = %v; want %v", m.Redirect, tc.redirect)
			}
			if tc.prefix != nil && m.Prefix != *tc.prefix {
				t.Errorf("Prefix = %q; want %q", m.Prefix, *tc.prefix)
			}
		})
	}
}

func TestMatchMethods(t *testing.T) {
	routes := []Route{
		{ID: "get", Methods: []string{"GET", "HEAD"}},
		{ID: "purge", Methods: []string{"PURGE"}},
	}
	runMatchCases(t, []matchCase{
		{name: "listed method", routes: routes, req: Request{Method: "HEAD"}, want: "get"},
		{name: "other method", routes: routes, req: Request{Method: "POST"}, want: ""},
		{name: "non-standard method", routes: routes, req: Request{Method: "PURGE"}, want: "purge"},
		{name: "methods are exact", routes: routes, req: Request{Method: "get"}, want: ""},
	})
}

func TestMatchHosts(t *testing.T) {
	runMatchCases(t, []matchCase{
		{name: "exact", routes: []Route{{ID: "a", Hosts: []string{"example.com"}}},
			req: Request{Host: "example.com"}, want: "a"},
		{name: "case-insensitive", routes: []Route{{ID: "a", Hosts: []string{"Example.com"}}},
			req: Request{Host: "EXAMPLE.COM"}, want: "a"},
		{name: "other host", routes: []Route{{ID: "a", Hosts: []string{"example.com"}}},
			req: Request{Host: "example.org"}, want: ""},
		{name: "entry without port matches any port", routes: []Route{{ID: "a", Hosts: []string{"example.com"}}},
			req: Request{Host: "example.com:8443"}, want: "a"},
		{name: "entry with port matches the header's port", routes: []Route{{ID: "a", Hosts: []string{"example.com:8080"}}},
			req: Request{Host: "example.com:8080"}, want: "a"},
		{name: "entry with port refuses another port", routes: []Route{{ID: "a", Hosts: []string{"example.com:8080"}}},
			req: Request{Host: "example.com:9090", Port: 8080}, want: ""},
		{name: "entry with port uses the arrival port without a header port", routes: []Route{{ID: "a", Hosts: []string{"example.com:8080"}}},
			req: Request{Host: "example.com", Port: 8080}, want: "a"},
		{name: "entry with port refuses another arrival port", routes: []Route{{ID: "a", Hosts: []string{"example.com:8080"}}},
			req: Request{Host: "example.com", Port: 80}, want: ""},
		{name: "suffix wildcard, one label", routes: []Route{{ID: "a", Hosts: []string{"*.example.com"}}},
			req: Request{Host: "api.example.com"}, want: "a"},
		{name: "suffix wildcard, several labels", routes: []Route{{ID: "a", Hosts: []string{"*.example.com"}}},
			req: Request{Host: "a.b.Example.com:81"}, want: "a"},
		{name: "suffix wildcard needs a label", routes: []Route{{ID: "a", Hosts: []string{"*.example.com"}}},
			req: Request{Host: "example.com"}, want: ""},
		{name: "suffix wildcard is per label", routes: []Route{{ID: "a", Hosts: []string{"*.example.com"}}},
			req: Request{Host: "badexample.com"}, want: ""},
		{name: "prefix wildcard", routes: []Route{{ID: "a", Hosts: []string{"example.*"}}},
			req: Request{Host: "example.co.uk"}, want: "a"},
		{name: "prefix wildcard is per label", routes: []Route{{ID: "a", Hosts: []string{"example.*"}}},
			req: Request{Host: "examples.com"}, want: ""},
		{name: "wildcard with port", routes: []Route{{ID: "a", Hosts: []string{"*.example.com:8080"}}},
			req: Request{Host: "x.example.com", Port: 8080}, want: "a"},
		{name: "wildcard with port, wrong port", routes: []Route{{ID: "a", Hosts: []string{"*.example.com:8080"}}},
			req: Request{Host: "x.example.com:80"}, want: ""},
		{name: "any entry of the list", routes: []Route{{ID: "a", Hosts: []string{"one.test", "*.two.test"}}},
			req: Request{Host: "x.two.test"}, want: "a"},
		{name: "no Host header", routes: []Route{{ID: "a", Hosts: []string{"example.com"}}, {ID: "b", Paths: []string{"/"}}},
			req: Request{Host: ""}, want: "b"},
		{name: "IPv6 literal", routes: []Route{{ID: "a", Hosts: []string{"[::1]"}}},
			req: Request{Host: "[::1]:8000"}, want: "a"},
		{name: "IPv6 literal with port", routes: []Route{{ID: "a", Hosts: []string{"[::1]:8000"}}},
			req: Request{Host: "[::1]", Port: 8000}, want: "a"},
		{name: "a port that is not a number is part of the host", routes: []Route{{ID: "a", Hosts: []string{"example.com"}}},
			req: Request{Host: "example.com:http"}, want: ""},
		{name: "empty port", routes: []Route{{ID: "a", Hosts: []string{"example.com:8080"}}},
			req: Request{Host: "example.com:", Port: 8080}, want: "a"},
		{name: "very long host", routes: []Route{{ID: "a", Hosts: []string{"*.example.com"}}},
			req: Request{Host: strings.Repeat("Label.", 60) + "example.com"}, want: "a"},
	})
}

func TestMatchHeaders(t *testing.T) {
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}
	one := []Route{{ID: "a", Headers: map[string][]string{"x-version": {"v1", "V2"}}}}
	two := []Route{{ID: "a", Headers: map[string][]string{"x-version": {"v1"}, "X-Region": {"eu"}}}}
	runMatchCases(t, []matchCase{
		{name: "value equal ignoring case", routes: one, req: Request{Header: h("X-Version", "v2")}, want: "a"},
		{name: "one of the request's values", routes: one, req: Request{Header: h("X-Version", "v9", "X-Version", "V1")}, want: "a"},
		{name: "values compare whole", routes: one, req: Request{Header: h("X-Version", "v1, v9")}, want: ""},
		{name: "header missing", routes: one, req: Request{Header: h("X-Other", "v1")}, want: ""},
		{name: "nil headers", routes: one, req: Request{}, want: ""},
		{name: "every name must match", routes: two, req: Request{Header: h("X-Version", "v1")}, want: ""},
		{name: "all names match", routes: two, req: Request{Header: h("X-Version", "v1", "X-Region", "EU")}, want: "a"},
		{name: "regex", routes: []Route{{ID: "a", Headers: map[string][]string{"User-Agent": {`~*windows|os\s+x`}}}},
			req: Request{Header: h("User-Agent", "Mozilla (Mac OS X 14)")}, want: "a"},
		{name: "regex miss", routes: []Route{{ID: "a", Headers: map[string][]string{"User-Agent": {`~*windows`}}}},
			req: Request{Header: h("User-Agent", "curl/8")}, want: ""},
		{name: "regex among literal values", routes: []Route{{ID: "a", Headers: map[string][]string{"X-Env": {"prod", "~*^stag"}}}},
			req: Request{Header: h("X-Env", "Staging")}, want: "a"},
		{name: "underscore in the route's name", routes: []Route{{ID: "a", Headers: map[string][]string{"x_api_version": {"2"}}}},
			req: Request{Header: h("X-Api-Version", "2")}, want: "a"},
	})
}

func TestMatchSNIs(t *testing.T) {
	both := []Route{{ID: "a", Protocols: []string{"http", "https"}, SNIs: []string{"api.example.com", "*.internal.test"}}}
	runMatchCases(t, []matchCase{
		{name: "exact", routes: both, req: Request{TLS: true, SNI: "api.example.com"}, want: "a"},
		{name: "case-insensitive", routes: both, req: Request{TLS: true, SNI: "API.example.com"}, want: "a"},
		{name: "wildcard", routes: both, req: Request{TLS: true, SNI: "db.internal.test"}, want: "a"},
		{name: "other name", routes: both, req: Request{TLS: true, SNI: "www.example.com"}, want: ""},
		{name: "TLS without SNI", routes: both, req: Request{TLS: true}, want: ""},
		{name: "ignored over plain HTTP", routes: both, req: Request{}, want: "a"},
		{name: "FQDN dot in the route", routes: []Route{{ID: "a", Protocols: []string{"https"}, SNIs: []string{"example.com."}}},
			req: Request{TLS: true, SNI: "example.com"}, want: "a"},
	})
}

func TestMatchPaths(t *testing.T) {
	runMatchCases(t, []matchCase{
		{name: "plain prefix", routes: []Route{{ID: "a", Paths: []string{"/foo"}}},
			req: Request{Path: "/foo/bar"}, want: "a", prefix: str("/foo")},
		{name: "plain prefix has no segment boundary", routes: []Route{{ID: "a", Paths: []string{"/foo"}}},
			req: Request{Path: "/foobar"}, want: "a", prefix: str("/foo")},
		{name: "plain prefix is case-sensitive", routes: []Route{{ID: "a", Paths: []string{"/foo"}}},
			req: Request{Path: "/Foo"}, want: ""},
		{name: "trailing slash is part of the prefix", routes: []Route{{ID: "a", Paths: []string{"/foo/"}}},
			req: Request{Path: "/foo"}, want: ""},
		{name: "matching uses the normalised path", routes: []Route{{ID: "a", Paths: []string{"/~user/x"}}},
			req: Request{Path: "//%7euser/./y/../x"}, want: "a", prefix: str("/~user/x")},
		{name: "route path is normalised too", routes: []Route{{ID: "a", Paths: []string{"/%7Euser/%2fx"}}},
			req: Request{Path: "/~user/%2Fx"}, want: "a", prefix: str("/~user/%2Fx")},
		{name: "encoded slash is not a slash", routes: []Route{{ID: "a", Paths: []string{"/a/b"}}},
			req: Request{Path: "/a%2Fb"}, want: ""},
		{name: "invalid path matches nothing", routes: []Route{{ID: "a", Paths: []string{"/"}}},
			req: Request{Path: "/%zz"}, want: ""},
		{name: "regex anchored at the start", routes: []Route{{ID: "a", Paths: []string{`~/users/\d+`}}},
			req: Request{Path: "/api/users/42"}, want: ""},
		{name: "regex not anchored at the end", routes: []Route{{ID: "a", Paths: []string{`~/users/\d+`}}},
			req: Request{Path: "/users/42/orders"}, want: "a", prefix: str("/users/42")},
		{name: "every alternative is anchored", routes: []Route{{ID: "a", Paths: []string{`~/a|/b`}}},
			req: Request{Path: "/x/b"}, want: ""},
		{name: "regex with $", routes: []Route{{ID: "a", Paths: []string{`~/users/\d+$`}}},
			req: Request{Path: "/users/42/orders"}, want: ""},
		{name: "regex sees the normalised path", routes: []Route{{ID: "a", Paths: []string{`~/~bob$`}}},
			req: Request{Path: "/%7Ebob"}, want: "a"},
		{name: "case-insensitive regex", routes: []Route{{ID: "a", Paths: []string{`~/(?i)ABC`}}},
			req: Request{Path: "/abc"}, want: "a"},
		{name: "any path of the route", routes: []Route{{ID: "a", Paths: []string{"/one", "~/two$"}}},
			req: Request{Path: "/two"}, want: "a"},
	})
}

func TestMatchCaptures(t *testing.T) {
	rt, err := New([]Route{
		{ID: "named", Paths: []string{`~/users/(?<user>[^/]+)/orders/(\d+)?`}},
		{ID: "plain", Paths: []string{"/plain"}},
		{ID: "nogroup", Paths: []string{`~/static/.*`}},
		{ID: "unused", Paths: []string{`~/opt(ional)?`}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path   string
		want   map[string]string
		prefix string
	}{
		{"/users/bob/orders/42/x", map[string]string{"0": "/users/bob/orders/42", "1": "bob", "user": "bob", "2": "42"}, "/users/bob/orders/42"},
		{"/users/bob/orders/", map[string]string{"0": "/users/bob/orders/", "1": "bob", "user": "bob"}, "/users/bob/orders/"},
		{"/plain/x", nil, "/plain"},
		{"/static/a.css", nil, "/static/a.css"},
		{"/opt", nil, "/opt"},
		{"/optional", map[string]string{"0": "/optional", "1": "ional"}, "/optional"},
	}
	var m Match
	for _, tt := range tests {
		// The same Match is reused: every field must be overwritten.
		if !rt.Match(withDefaults(Request{Path: tt.path}), &m) {
			t.Fatalf("%s: no match", tt.path)
		}
		if !maps.Equal(m.Captures, tt.want) || (m.Captures == nil) != (tt.want == nil) {
			t.Errorf("%s: Captures = %v; want %v", tt.path, m.Captures, tt.want)
		}
		if m.Prefix != tt.prefix {
			t.Errorf("%s: Prefix = %q; want %q", tt.path, m.Prefix, tt.prefix)
		}
	}
}

func TestMatchProtocols(t *testing.T) {
	httpOnly := Route{ID: "http", Protocols: []string{"http"}, Paths: []string{"/"}}
	httpsOnly := Route{ID: "https", Protocols: []string{"https"}, Paths: []string{"/"}}
	both := Route{ID: "both", Paths: []string{"/"}} // Kong's default: http, https
	grpc := Route{ID: "grpc", Protocols: []string{"grpc"}, Paths: []string{"/"}}
	grpcs := Route{ID: "grpcs", Protocols: []string{"grpcs"}, Paths: []string{"/"}}
	ws := Route{ID: "ws", Protocols: []string{"ws", "wss"}, Paths: []string{"/"}}
	stream := Route{ID: "tcp", Protocols: []string{"tcp", "tls"}}
	runMatchCases(t, []matchCase{
		{name: "http over http", routes: []Route{httpOnly}, req: Request{}, want: "http"},
		{name: "http-only over TLS", routes: []Route{httpOnly}, req: Request{TLS: true}, want: ""},
		{name: "https over TLS", routes: []Route{httpsOnly}, req: Request{TLS: true}, want: "https"},
		{name: "https-only over http redirects", routes: []Route{httpsOnly}, req: Request{}, want: "https", redirect: true},
		{name: "default protocols over both", routes: []Route{both}, req: Request{TLS: true}, want: "both"},
		{name: "grpc request on an http route", routes: []Route{both}, req: Request{GRPC: true}, want: "both"},
		{name: "plain request on a grpc route", routes: []Route{grpc}, req: Request{}, want: ""},
		{name: "grpc request on a grpc route", routes: []Route{grpc}, req: Request{GRPC: true}, want: "grpc"},
		{name: "grpc request on a grpcs route over TLS", routes: []Route{grpcs}, req: Request{GRPC: true, TLS: true}, want: "grpcs"},
		{name: "plain grpc request on a grpcs route redirects", routes: []Route{grpcs}, req: Request{GRPC: true}, want: "grpcs", redirect: true},
		{name: "grpc over TLS on a grpc-only route", routes: []Route{grpc}, req: Request{GRPC: true, TLS: true}, want: ""},
		{name: "websocket on an http route", routes: []Route{both}, req: Request{WebSocket: true}, want: "both"},
		{name: "plain request on a ws route", routes: []Route{ws}, req: Request{}, want: ""},
		{name: "websocket on a ws route", routes: []Route{ws}, req: Request{WebSocket: true, TLS: true}, want: "ws"},
		{name: "stream routes are ignored", routes: []Route{stream}, req: Request{}, want: ""},
		{name: "a redirect wins over a lower-priority match",
			routes: []Route{{ID: "https", Protocols: []string{"https"}, Paths: []string{"/long"}}, {ID: "both", Paths: []string{"/"}}},
			req:    Request{Path: "/long"}, want: "https", redirect: true},
		{name: "a higher-priority match wins over a redirect",
			routes: []Route{{ID: "https", Protocols: []string{"https"}, Paths: []string{"/"}}, {ID: "both", Paths: []string{"/long"}}},
			req:    Request{Path: "/long"}, want: "both"},
		{name: "a route of another protocol does not hide the next one",
			routes: []Route{grpc, {ID: "z", Paths: []string{"/"}}},
			req:    Request{}, want: "z"},
	})
}

// TestPriority has one case for each priority rule, where that rule is the
// one that decides.
func TestPriority(t *testing.T) {
	runMatchCases(t, []matchCase{
		{name: "1: more criteria beat a longer path",
			routes: []Route{{ID: "a", Paths: []string{"/foo/bar"}}, {ID: "b", Paths: []string{"/f"}, Methods: []string{"GET"}}},
			req:    Request{Path: "/foo/bar"}, want: "b"},
		{name: "1: snis count as a criterion",
			routes: []Route{{ID: "a", Paths: []string{"/foo/bar"}}, {ID: "b", Paths: []string{"/"}, SNIs: []string{"x.test"}}},
			req:    Request{Path: "/foo/bar", TLS: true, SNI: "x.test"}, want: "b"},
		{name: "2: plain hosts beat wildcard hosts",
			routes: []Route{{ID: "a", Hosts: []string{"*.example.com"}, Paths: []string{"/long/path"}}, {ID: "b", Hosts: []string{"api.example.com"}, Paths: []string{"/"}}},
			req:    Request{Host: "api.example.com", Path: "/long/path"}, want: "b"},
		{name: "2: plain hosts beat no hosts",
			routes: []Route{{ID: "a", Methods: []string{"GET"}, Paths: []string{"/long/path"}}, {ID: "b", Hosts: []string{"api.example.com"}, Paths: []string{"/"}}},
			req:    Request{Host: "api.example.com", Path: "/long/path"}, want: "b"},
		{name: "2: one wildcard makes the route a wildcard one",
			routes: []Route{{ID: "a", Hosts: []string{"api.example.com", "*.other.test"}, Paths: []string{"/long"}}, {ID: "b", Hosts: []string{"api.example.com"}, Paths: []string{"/"}}},
			req:    Request{Host: "api.example.com", Path: "/long"}, want: "b"},
		{name: "3: more headers",
			routes: []Route{
				{ID: "a", Headers: map[string][]string{"X-A": {"1"}}, Paths: []string{"/long/path"}},
				{ID: "b", Headers: map[string][]string{"X-A": {"1"}, "X-B": {"2"}}, Paths: []string{"/"}},
			},
			req: Request{Path: "/long/path", Header: http.Header{"X-A": {"1"}, "X-B": {"2"}}}, want: "b"},
		{name: "4: regex beats a longer plain path",
			routes: []Route{{ID: "a", Paths: []string{"/foo/bar/baz"}}, {ID: "b", Paths: []string{"~/foo"}}},
			req:    Request{Path: "/foo/bar/baz"}, want: "b", prefix: str("/foo")},
		{name: "4: higher regex_priority",
			routes: []Route{{ID: "a", Paths: []string{"~/a/b"}, RegexPriority: 1}, {ID: "b", Paths: []string{"~/a"}, RegexPriority: 5}},
			req:    Request{Path: "/a/b"}, want: "b"},
		{name: "4: negative regex_priority",
			routes: []Route{{ID: "a", Paths: []string{"~/a"}, RegexPriority: -1}, {ID: "b", Paths: []string{"~/a"}}},
			req:    Request{Path: "/a"}, want: "b"},
		{name: "4: longer plain path",
			routes: []Route{{ID: "a", Paths: []string{"/a"}}, {ID: "b", Paths: []string{"/a/b"}}},
			req:    Request{Path: "/a/b/c"}, want: "b"},
		{name: "4: regex_priority does not order plain paths",
			routes: []Route{{ID: "a", Paths: []string{"/a"}, RegexPriority: 9}, {ID: "b", Paths: []string{"/a/b"}}},
			req:    Request{Path: "/a/b"}, want: "b"},
		{name: "5: ties go to the lower id",
			routes: []Route{{ID: "b", Paths: []string{"/x"}}, {ID: "a", Paths: []string{"/x"}}},
			req:    Request{Path: "/x"}, want: "a"},
		{name: "5: regex ties go to the lower id",
			routes: []Route{{ID: "b", Paths: []string{"~/x"}}, {ID: "a", Paths: []string{"~/."}}},
			req:    Request{Path: "/x"}, want: "a"},
		{name: "5: host-only ties go to the lower id",
			routes: []Route{{ID: "b", Hosts: []string{"*.test"}}, {ID: "a", Hosts: []string{"x.*"}}},
			req:    Request{Host: "x.test"}, want: "a"},
		{name: "each path competes on its own: the short one loses",
			routes: []Route{{ID: "a", Paths: []string{"/a", "/a/b/c/d"}}, {ID: "b", Paths: []string{"/a/b"}}},
			req:    Request{Path: "/a/b/x"}, want: "b", prefix: str("/a/b")},
		{name: "each path competes on its own: the long one wins",
			routes: []Route{{ID: "a", Paths: []string{"/a", "/a/b/c/d"}}, {ID: "b", Paths: []string{"/a/b"}}},
			req:    Request{Path: "/a/b/c/d"}, want: "a", prefix: str("/a/b/c/d")},
		{name: "the route's regex path beats its plain one",
			routes: []Route{{ID: "a", Paths: []string{"/a/b", "~/a"}}},
			req:    Request{Path: "/a/b"}, want: "a", prefix: str("/a")},
		{name: "a failing criterion falls through to the next candidate",
			routes: []Route{{ID: "a", Paths: []string{"/a/b"}, Methods: []string{"POST"}}, {ID: "b", Paths: []string{"/a"}, Methods: []string{"GET"}}},
			req:    Request{Path: "/a/b"}, want: "b"},
	})
}

func TestSplitHostPort(t *testing.T) {
	tests := []struct {
		in      string
		name    string
		port    int
		hasPort bool
	}{
		{"example.com", "example.com", 0, false},
		{"example.com:8080", "example.com", 8080, true},
		{"example.com:", "example.com", 0, false},
		{"example.com:http", "example.com", 0, true},
		{"example.com:123456", "example.com", 0, true},
		{"example.com:70000", "example.com", 0, true},
		{"[::1]", "[::1]", 0, false},
		{"[::1]:443", "[::1]", 443, true},
		{"::1", "::1", 0, false},
		{"[::1", "[::1", 0, false},
	}
	for _, tt := range tests {
		name, port, hasPort := splitHostPort(tt.in)
		if name != tt.name || port != tt.port || hasPort != tt.hasPort {
			t.Errorf("splitHostPort(%q) = %q, %d, %v; want %q, %d, %v", tt.in, name, port, hasPort, tt.name, tt.port, tt.hasPort)
		}
	}
}

func TestLiteralPrefix(t *testing.T) {
	tests := []struct{ pattern, want string }{
		{`/users/\d+`, "/users/"},
		{`/(a)(b)c+`, "/ab"},
		{`/(a+)b`, "/"},
		{`/(?i)abc`, "/"},
		{`/a|/b`, "/"},
		{`/x*`, "/"},
		{`/café/(\d)`, "/café/"},
		{"/a\uFFFDb", "/a"},
		{`/(?:)x`, "/x"},
		{`/$`, "/"},
	}
	for _, tt := range tests {
		tree, err := syntax.Parse(tt.pattern, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		if got := literalPrefix(tree); got != tt.want {
			t.Errorf("literalPrefix(%q) = %q; want %q", tt.pattern, got, tt.want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name  string
		route Route
		want  []string // substrings of the error
	}{
		{"bad regex", Route{ID: "r1", Name: "users", Paths: []string{"~/users/(\\d+"}}, []string{`"users"`, "r1", "invalid regex"}},
		{"regex without slash", Route{ID: "r1", Paths: []string{"~users"}}, []string{"id r1", "~/"}},
		{"relative path", Route{ID: "r1", Paths: []string{"users"}}, []string{"must start with /"}},
		{"path above root", Route{ID: "r1", Paths: []string{"/../x"}}, []string{"invalid path"}},
		{"bad header regex", Route{ID: "r1", Headers: map[string][]string{"X": {"~*("}}}, []string{"header", "invalid regex"}},
		{"header without values", Route{ID: "r1", Headers: map[string][]string{"X": {}}}, []string{"no values"}},
		{"two wildcards", Route{ID: "r1", Hosts: []string{"*.a.*"}}, []string{"hosts", "wildcard"}},
		{"wildcard inside", Route{ID: "r1", Hosts: []string{"a.*.com"}}, []string{"leftmost or rightmost"}},
		{"bad port", Route{ID: "r1", Hosts: []string{"a.com:99999"}}, []string{"invalid port"}},
		{"sni with port", Route{ID: "r1", SNIs: []string{"a.com:443"}}, []string{"snis", "port"}},
		{"nothing to match", Route{ID: "r1", Protocols: []string{"https"}}, []string{"no methods", "match on"}},
		{"bad path_handling", Route{ID: "r1", Paths: []string{"/"}, PathHandling: "v2"}, []string{"path_handling"}},
		{"unnamed route", Route{Paths: []string{"~("}}, []string{"#0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New([]Route{tt.route})
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestNewFillsDefaultsInItsCopy(t *testing.T) {
	routes := []Route{{ID: "a", Paths: []string{"/"}}}
	rt, err := New(routes)
	if err != nil {
		t.Fatal(err)
	}
	routes[0] = Route{ID: "changed"} // the caller's slice is not the router's
	var m Match
	if !rt.Match(withDefaults(Request{Path: "/x"}), &m) {
		t.Fatal("no match")
	}
	if m.Route.ID != "a" || m.Route.PathHandling != "v0" || m.Route.HTTPSRedirectStatusCode != 426 ||
		strings.Join(m.Route.Protocols, ",") != "http,https" {
		t.Errorf("route = %+v", *m.Route)
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	rt, err := New([]Route{
		{ID: "a", Hosts: []string{"api.example.com"}, Paths: []string{"/v1/users"}, Methods: []string{"GET"}},
		{ID: "b", Hosts: []string{"*.example.com"}, Paths: []string{"/"}},
		{ID: "c", Paths: []string{"/health"}},
		{ID: "d", Hosts: []string{"example.*"}, Paths: []string{"~/regex/\\d+$"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range []Request{
		{Method: "GET", Host: "API.example.com:443", Path: "/v1/users/42"},
		{Method: "GET", Host: "x.example.com", Path: "/other"},
		{Method: "GET", Host: "nothing.test", Path: "/health/ready"},
		{Method: "GET", Host: "example.org", Path: "/health"}, // passes the regex by
	} {
		var m Match
		if n := testing.AllocsPerRun(100, func() { rt.Match(&req, &m) }); n != 0 {
			t.Errorf("%s%s: %v allocations", req.Host, req.Path, n)
		}
		if m.Route == nil {
			t.Errorf("%s%s: no match", req.Host, req.Path)
		}
	}
}
