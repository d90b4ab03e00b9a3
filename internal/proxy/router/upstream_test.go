package router

import (
	"fmt"
	"testing"
)

// upstreamCase is one row of the path-handling table. An empty route path
// means a route that matches on its host only. strip and handling list
// every value the row holds for.
type upstreamCase struct {
	service, route string
	strip          []bool
	handling       []string
	request, want  string
}

var (
	both  = []bool{false, true}
	noStr = []bool{false}
	strip = []bool{true}
	v0    = []string{"v0"}
	v1    = []string{"v1"}
	v0v1  = []string{"v0", "v1"}
)

// upstreamTable is Kong's router path-handling table: the v0 rows as the
// traditional_compatible router computes them today, the v1 rows as Kong
// documents path_handling v1, then the cases Gantry adds (empty service
// path, regex strip, re-encoding, dot segments).
var upstreamTable = []upstreamCase{
	// The table Kong's Admin API reference gives for service path "/s".
	{"/s", "/fv0", noStr, v0, "/fv0req", "/s/fv0req"},
	{"/s", "/fv1", noStr, v1, "/fv1req", "/sfv1req"},
	{"/s", "/tv0", strip, v0, "/tv0req", "/s/req"},
	{"/s", "/tv1", strip, v1, "/tv1req", "/sreq"},
	{"/s", "/fv0/", noStr, v0, "/fv0/req", "/s/fv0/req"},
	{"/s", "/fv1/", noStr, v1, "/fv1/req", "/sfv1/req"},
	{"/s", "/tv0/", strip, v0, "/tv0/req", "/s/req"},
	{"/s", "/tv1/", strip, v1, "/tv1/req", "/sreq"},
	{"/s", "/tv0", strip, v0, "/tv0", "/s"},
	{"/s", "/tv0/", strip, v0, "/tv0/", "/s/"},

	// Service path "/".
	{"/", "/", both, v0v1, "/", "/"},
	{"/", "/", both, v0v1, "/route", "/route"},
	{"/", "/", both, v0v1, "/route/", "/route/"},
	{"/", "/", both, v0v1, "/routereq", "/routereq"},
	{"/", "/", both, v0v1, "/route/req", "/route/req"},
	{"/", "/route", noStr, v0v1, "/route", "/route"},
	{"/", "/route", noStr, v0v1, "/route/", "/route/"},
	{"/", "/route", noStr, v0v1, "/routereq", "/routereq"},
	{"/", "/route", strip, v0v1, "/route", "/"},
	{"/", "/route", strip, v0v1, "/route/", "/"},
	{"/", "/route", strip, v0v1, "/routereq", "/req"},
	{"/", "/route/", noStr, v0v1, "/route/", "/route/"},
	{"/", "/route/", noStr, v0v1, "/route/req", "/route/req"},
	{"/", "/route/", strip, v0v1, "/route/", "/"},
	{"/", "/route/", strip, v0v1, "/route/req", "/req"},

	// Service paths without and with a trailing slash.
	{"/srv", "/rou", noStr, v0, "/roureq", "/srv/roureq"},
	{"/srv", "/rou", noStr, v1, "/roureq", "/srvroureq"},
	{"/srv", "/rou", strip, v0, "/roureq", "/srv/req"},
	{"/srv", "/rou", strip, v1, "/roureq", "/srvreq"},
	{"/srv/", "/rou", noStr, v0v1, "/rou", "/srv/rou"},
	{"/srv/", "/rou", strip, v0, "/rou", "/srv"},
	{"/srv/", "/rou", strip, v1, "/rou", "/srv/"},

	{"/service", "/", both, v0v1, "/", "/service"},
	{"/service", "/", both, v0, "/route", "/service/route"},
	{"/service", "/", both, v1, "/route", "/serviceroute"},
	{"/service", "/", both, v0, "/route/", "/service/route/"},
	{"/service", "/", both, v1, "/route/", "/serviceroute/"},
	{"/service", "/", both, v0, "/routereq", "/service/routereq"},
	{"/service", "/", both, v1, "/routereq", "/serviceroutereq"},
	{"/service", "/", both, v0, "/route/req", "/service/route/req"},
	{"/service", "/", both, v1, "/route/req", "/serviceroute/req"},
	{"/service", "/route", noStr, v0, "/route", "/service/route"},
	{"/service", "/route", noStr, v1, "/route", "/serviceroute"},
	{"/service", "/route", noStr, v0, "/route/", "/service/route/"},
	{"/service", "/route", noStr, v1, "/route/", "/serviceroute/"},
	{"/service", "/route", noStr, v0, "/routereq", "/service/routereq"},
	{"/service", "/route", noStr, v1, "/routereq", "/serviceroutereq"},
	{"/service", "/route", strip, v0v1, "/route", "/service"},
	{"/service", "/route", strip, v0v1, "/route/", "/service/"},
	{"/service", "/route", strip, v0, "/routereq", "/service/req"},
	{"/service", "/route", strip, v1, "/routereq", "/servicereq"},
	{"/service", "/route/", noStr, v0, "/route/", "/service/route/"},
	{"/service", "/route/", noStr, v1, "/route/", "/serviceroute/"},
	{"/service", "/route/", noStr, v0, "/route/req", "/service/route/req"},
	{"/service", "/route/", noStr, v1, "/route/req", "/serviceroute/req"},
	{"/service", "/route/", strip, v0, "/route/", "/service/"},
	{"/service", "/route/", strip, v1, "/route/", "/service"},
	{"/service", "/route/", strip, v0, "/route/req", "/service/req"},
	{"/service", "/route/", strip, v1, "/route/req", "/servicereq"},

	{"/service/", "/", both, v0v1, "/", "/service/"},
	{"/service/", "/", both, v0v1, "/route/", "/service/route/"},
	{"/service/", "/", both, v0v1, "/route", "/service/route"},
	{"/service/", "/", both, v0v1, "/routereq", "/service/routereq"},
	{"/service/", "/", both, v0v1, "/route/req", "/service/route/req"},
	{"/service/", "/route", noStr, v0v1, "/route", "/service/route"},
	{"/service/", "/route", noStr, v0v1, "/route/", "/service/route/"},
	{"/service/", "/route", noStr, v0v1, "/routereq", "/service/routereq"},
	{"/service/", "/route", strip, v0, "/route", "/service"},
	{"/service/", "/route", strip, v1, "/route", "/service/"},
	{"/service/", "/route", strip, v0v1, "/route/", "/service/"},
	{"/service/", "/route", strip, v0v1, "/routereq", "/service/req"},
	{"/service/", "/route/", noStr, v0v1, "/route/", "/service/route/"},
	{"/service/", "/route/", noStr, v0v1, "/route/req", "/service/route/req"},
	{"/service/", "/route/", strip, v0v1, "/route/", "/service/"},
	{"/service/", "/route/", strip, v0v1, "/route/req", "/service/req"},

	// Routes without paths: nothing is stripped.
	{"/", "", both, v0v1, "/", "/"},
	{"/", "", both, v0v1, "/route", "/route"},
	{"/", "", both, v0v1, "/route/", "/route/"},
	{"/service", "", both, v0v1, "/", "/service"},
	{"/service", "", both, v0, "/route", "/service/route"},
	{"/service", "", both, v1, "/route", "/serviceroute"},
	{"/service", "", both, v0, "/route/", "/service/route/"},
	{"/service", "", both, v1, "/route/", "/serviceroute/"},
	{"/service/", "", both, v0v1, "/", "/service/"},
	{"/service/", "", both, v0v1, "/route", "/service/route"},
	{"/service/", "", both, v0v1, "/route/", "/service/route/"},

	// An empty service path is "/".
	{"", "/route", strip, v0v1, "/routereq", "/req"},
	{"", "/route", noStr, v0v1, "/routereq", "/routereq"},
	{"", "", both, v0v1, "/x/", "/x/"},

	// A regex strips what it matched.
	{"/s", `~/users/\d+`, strip, v0v1, "/users/42/orders", "/s/orders"},
	{"/s", `~/users/\d+`, noStr, v0, "/users/42/orders", "/s/users/42/orders"},
	{"/s", `~/users/\d+`, strip, v0, "/users/42", "/s"},
	{"/s/", `~/users/\d+/`, strip, v0, "/users/42/x", "/s/x"},

	// The path sent is the normalised one, encoded for the wire.
	{"/s", "/", noStr, v0, "/a%20b", "/s/a%20b"},
	{"/s", "/", noStr, v0, "/caf%c3%a9", "/s/caf%C3%A9"},
	{"/s", "/", noStr, v0, "/a%2fb/%7Ec", "/s/a%2Fb/~c"},
	{"/s", "/route", strip, v0, "/route/x/../y", "/s/y"},
	{"/s", "/route", strip, v0, "/route//y", "/s/y"},
	// Stripping can leave a leading dot segment, which is dropped.
	{"/s", "/foo", strip, v0, "/foo./bar", "/s/bar"},
	{"/s", "/foo", strip, v1, "/foo../bar", "/sbar"},
	{"/s", "/foo", strip, v0, "/foo.", "/s"},
	{"/s/", "/foo", strip, v0, "/foo..", "/s"},
}

func TestUpstreamPath(t *testing.T) {
	for _, tc := range upstreamTable {
		for _, st := range tc.strip {
			for _, ph := range tc.handling {
				name := fmt.Sprintf("%s|%s|strip=%v|%s|%s", tc.service, tc.route, st, ph, tc.request)
				t.Run(name, func(t *testing.T) {
					route := Route{ID: "r", StripPath: st, PathHandling: ph, Hosts: []string{"example.com"}}
					if tc.route != "" {
						route.Paths = []string{tc.route}
					}
					rt, err := New([]Route{route})
					if err != nil {
						t.Fatal(err)
					}
					var m Match
					if !rt.Match(withDefaults(Request{Host: "example.com", Path: tc.request}), &m) {
						t.Fatal("no match")
					}
					if got := m.UpstreamPath(tc.service); got != tc.want {
						t.Fatalf("UpstreamPath = %q; want %q", got, tc.want)
					}
				})
			}
		}
	}
}
