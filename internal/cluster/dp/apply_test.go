package dp

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/gantry-gw/gantry/internal/cluster"
	"github.com/gantry-gw/gantry/internal/declarative"
	"github.com/gantry-gw/gantry/internal/proxy"
)

func TestRejection(t *testing.T) {
	parseErr := func(doc string) error {
		_, err := declarative.Parse([]byte(doc))
		if err == nil {
			t.Fatalf("%s parsed", doc)
		}
		return err
	}
	tests := []struct {
		name        string
		err         error
		wantMessage string
		wantErrors  []cluster.EntityError
	}{
		{
			name: "invalid entities",
			err: parseErr(`{"_format_version": "3.0",
 "services": [{"id": "5b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", "name": "s1", "host": "example.internal", "port": 70000}],
 "routes": [{"name": "r1", "paths": ["api"]}]}`),
			wantMessage: `invalid configuration: services[0] (service "s1"): port: value should be between 0 and 65535 (got 70000) (and 1 more)`,
			wantErrors: []cluster.EntityError{
				{EntityType: "service", EntityID: "5b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e", EntityName: "s1", Field: "port", Message: "value should be between 0 and 65535"},
				{EntityType: "route", EntityName: "r1", Field: "paths[0]", Message: "should start with: / (fixed path) or ~/ (regex path)"},
			},
		},
		{
			name:        "invalid file",
			err:         parseErr(`{"_format_version": "3.0", "bogus": []}`),
			wantMessage: "invalid configuration: bogus: unknown field",
			wantErrors:  []cluster.EntityError{{Field: "bogus", Message: "unknown field"}},
		},
		{
			name: "configuration the node cannot run",
			err: fmt.Errorf("apply: %w", &proxy.CompileError{Problems: []proxy.Problem{
				{Type: "ca_certificates", ID: "c1", Field: "cert", Message: "not a certificate"},
				{Message: "router: two routes collide"},
			}}),
			wantMessage: "configuration cannot run on this node: ca_certificates c1: cert: not a certificate (and 1 more)",
			wantErrors: []cluster.EntityError{
				{EntityType: "ca_certificate", EntityID: "c1", Field: "cert", Message: "not a certificate"},
				{Message: "router: two routes collide"},
			},
		},
		{
			name:        "any other error",
			err:         errors.New("first line\nsecond line"),
			wantMessage: "first line; second line",
			wantErrors:  []cluster.EntityError{{Message: "first line; second line"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			message, problems := rejection(tt.err)
			if message != tt.wantMessage {
				t.Errorf("message = %q\nwant      %q", message, tt.wantMessage)
			}
			if !reflect.DeepEqual(problems, tt.wantErrors) {
				t.Errorf("errors = %+v\nwant     %+v", problems, tt.wantErrors)
			}
		})
	}
}

func TestPeekVersion(t *testing.T) {
	hash := strings.Repeat("0f", 16)
	tests := []struct {
		name        string
		frame       func(t *testing.T) []byte
		limit       int64
		wantVersion int64
		wantHash    string
		wantOK      bool
	}{
		{
			name:  "not gzip",
			frame: func(*testing.T) []byte { return []byte("garbage") },
		},
		{
			name:  "not JSON",
			frame: func(t *testing.T) []byte { return gzipped(t, []byte("garbage")) },
		},
		{
			name:  "not an object",
			frame: func(t *testing.T) []byte { return gzipped(t, []byte(`[1, 2]`)) },
		},
		{
			name: "no version",
			frame: func(t *testing.T) []byte {
				return gzipped(t, []byte(`{"type": "reconfigure", "config_hash": "`+hash+`"}`))
			},
		},
		{
			name:  "negative version",
			frame: func(t *testing.T) []byte { return gzipped(t, []byte(`{"config_version": -1}`)) },
		},
		{
			name:  "version that is not an integer",
			frame: func(t *testing.T) []byte { return gzipped(t, []byte(`{"config_version": 1.5}`)) },
		},
		{
			name: "version and hash",
			frame: func(t *testing.T) []byte {
				return gzipped(t, []byte(`{"config_version": 12, "config_hash": "`+hash+`"}`))
			},
			wantVersion: 12, wantHash: hash, wantOK: true,
		},
		{
			name:        "malformed hash",
			frame:       func(t *testing.T) []byte { return gzipped(t, []byte(`{"config_version": 12, "config_hash": "XYZ"}`)) },
			wantVersion: 12, wantOK: true,
		},
		{
			name: "members after the configuration",
			frame: func(t *testing.T) []byte {
				return gzipped(t, []byte(`{"type": "reconfigure", "config_table": {"routes": [{"paths": ["/a"]}, []]}, "hashes": {"config": "x"}, "config_version": 3, "config_hash": "`+hash+`"}`))
			},
			wantVersion: 3, wantHash: hash, wantOK: true,
		},
		{
			name: "version before a configuration over the limit",
			frame: func(t *testing.T) []byte {
				return gzipped(t, []byte(`{"config_version": 6, "config_table": {"pad": "`+strings.Repeat("a", 4096)+`"}, "config_hash": "`+hash+`"}`))
			},
			limit:       1024,
			wantVersion: 6, wantOK: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limit := tt.limit
			if limit == 0 {
				limit = 1 << 20
			}
			version, hash, ok := peekVersion(tt.frame(t), limit)
			if version != tt.wantVersion || hash != tt.wantHash || ok != tt.wantOK {
				t.Errorf("peekVersion = %d, %q, %v; want %d, %q, %v", version, hash, ok, tt.wantVersion, tt.wantHash, tt.wantOK)
			}
		})
	}
}

func TestLatest(t *testing.T) {
	l := latest{ready: make(chan struct{}, 1)}
	for v := range int64(3) {
		l.put(&cluster.Reconfigure{ConfigVersion: v + 1})
	}
	select {
	case <-l.ready:
	default:
		t.Fatal("nothing signalled")
	}
	if r := l.take(); r == nil || r.ConfigVersion != 3 {
		t.Fatalf("take = %+v, want version 3", r)
	}
	if r := l.take(); r != nil {
		t.Fatalf("second take = %+v, want nothing", r)
	}
}
