package conf

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// defaults is the Config every test starts from; it spells out each default
// so that a changed default fails here and not in production.
func defaults() *Config {
	return &Config{
		Role:                             RoleTraditional,
		Database:                         DatabaseSQLite,
		Prefix:                           "/usr/local/gantry",
		ProxyListen:                      []Listener{{Addr: "0.0.0.0:8000"}, {Addr: "0.0.0.0:8443", SSL: true}},
		AdminListen:                      []Listener{{Addr: "127.0.0.1:8001"}},
		AdminGUIListen:                   []Listener{{Addr: "127.0.0.1:8002"}},
		StatusListen:                     []Listener{{Addr: "127.0.0.1:8100"}},
		ClusterListen:                    []Listener{{Addr: "0.0.0.0:8005"}},
		ClusterTelemetryListen:           []Listener{{Addr: "0.0.0.0:8006"}},
		ClusterControlPlane:              "127.0.0.1:8005",
		ClusterTelemetryEndpoint:         "127.0.0.1:8006",
		ClusterMTLS:                      MTLSShared,
		LuaSSLTrustedCertificate:         []string{SystemTrustStore},
		ClusterMaxPayload:                16777216,
		ClusterDataPlanePurgeDelay:       1209600 * time.Second,
		ClusterPingInterval:              30 * time.Second,
		ClusterReconnectDelay:            5 * time.Second,
		ProxyServerSSLVerify:             true,
		AnalyticsFlushInterval:           time.Second,
		AnalyticsBufferSizeLimit:         100000,
		ClusterFallbackConfigExportDelay: 60 * time.Second,
		PGHost:                           "127.0.0.1",
		PGPort:                           5432,
		PGUser:                           "kong",
		PGDatabase:                       "kong",
		LogLevel:                         "notice",
		Headers:                          []string{"server_tokens", "latency_tokens"},
		Ignored:                          []string{},
	}
}

// hybridCert holds the settings every hybrid test needs.
const hybridCert = "cluster_cert = /c.crt\ncluster_cert_key = /c.key\n"

func mustLoad(t *testing.T, file string, env ...string) *Config {
	t.Helper()
	c, err := load("gantry.conf", []byte(file), env)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return c
}

func loadErr(t *testing.T, file string, env ...string) string {
	t.Helper()
	c, err := load("gantry.conf", []byte(file), env)
	if err == nil {
		t.Fatalf("load succeeded, want an error; config: %+v", c)
	}
	return err.Error()
}

func TestDefault(t *testing.T) {
	t.Run("Default", func(t *testing.T) {
		if got, want := Default(), defaults(); !reflect.DeepEqual(got, want) {
			t.Errorf("Default() =\n%+v\nwant\n%+v", got, want)
		}
	})
	t.Run("Load without file or environment", func(t *testing.T) {
		got, err := Load("", nil)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, defaults()) {
			t.Errorf("Load(\"\", nil) =\n%+v\nwant the defaults", got)
		}
	})
	t.Run("database follows role", func(t *testing.T) {
		for role, want := range map[string]string{
			RoleTraditional:  DatabaseSQLite,
			RoleControlPlane: DatabaseSQLite,
			RoleDataPlane:    DatabaseOff,
		} {
			c := mustLoad(t, "role = "+role+"\n"+hybridCert)
			if c.Database != want {
				t.Errorf("role %s: database = %q, want %q", role, c.Database, want)
			}
		}
	})
	t.Run("Default validates", func(t *testing.T) {
		if err := Default().Validate(); err != nil {
			t.Error(err)
		}
	})
}

func TestParseFile(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		lines []fileLine
		errs  []fileError
	}{
		{
			name:  "key and value trimmed",
			in:    "  log_level   =   debug  \n",
			lines: []fileLine{{1, "log_level", "debug"}},
		},
		{
			name:  "comments and blank lines",
			in:    "# heading\n\n   \t\nlog_level = info # trailing\n#prefix = /x\n",
			lines: []fileLine{{4, "log_level", "info"}},
		},
		{
			name:  "escaped hash is kept",
			in:    `pg_password = a\#b\#c # real comment`,
			lines: []fileLine{{1, "pg_password", "a#b#c"}},
		},
		{
			name:  "backslash without hash is literal",
			in:    `prefix = C:\gantry`,
			lines: []fileLine{{1, "prefix", `C:\gantry`}},
		},
		{
			name:  "value may contain =",
			in:    "proxy_server = http://u:p@h:3128/?a=b\n",
			lines: []fileLine{{1, "proxy_server", "http://u:p@h:3128/?a=b"}},
		},
		{
			name:  "empty value",
			in:    "pg_password =\n",
			lines: []fileLine{{1, "pg_password", ""}},
		},
		{
			name:  "CRLF line ends and BOM",
			in:    "\uFEFFrole = data_plane\r\nlog_level = warn\r\n",
			lines: []fileLine{{1, "role", "data_plane"}, {2, "log_level", "warn"}},
		},
		{
			name:  "missing =",
			in:    "log_level = info\nadmin_listen off\nrole = data_plane\n",
			lines: []fileLine{{1, "log_level", "info"}, {3, "role", "data_plane"}},
			errs:  []fileError{{2, `expected "key = value"`}},
		},
		{
			name: "missing key",
			in:   " = value\n",
			errs: []fileError{{1, `missing key before "="`}},
		},
		{
			name: "equals only inside a comment",
			in:   "log_level # = debug\n",
			errs: []fileError{{1, `expected "key = value"`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines, errs := parseFile([]byte(tt.in))
			if !reflect.DeepEqual(lines, tt.lines) {
				t.Errorf("lines = %+v, want %+v", lines, tt.lines)
			}
			if !reflect.DeepEqual(errs, tt.errs) {
				t.Errorf("errors = %+v, want %+v", errs, tt.errs)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	t.Run("missing file", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "nope.conf"), nil)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("err = %v, want one wrapping fs.ErrNotExist", err)
		}
	})
	t.Run("errors name the file and line", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "gantry.conf")
		if err := os.WriteFile(path, []byte("# admin\n\nadmin_listen = abc\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path, nil)
		want := path + `:3: admin_listen: invalid value "abc": expected "[host]:port [ssl] [http2]..." or "off"`
		if err == nil || err.Error() != want {
			t.Errorf("err = %v\nwant %s", err, want)
		}
	})
	t.Run("kong data plane file", func(t *testing.T) {
		c, err := Load("testdata/kong-data-plane.conf", nil)
		if err != nil {
			t.Fatal(err)
		}
		want := defaults()
		want.Role = RoleDataPlane
		want.Database = DatabaseOff
		want.ClusterControlPlane = "cp.example.internal:8005"
		want.ClusterTelemetryEndpoint = "cp.example.internal:8006"
		want.ClusterMTLS = MTLSPKI
		want.ClusterServerName = "cp.example.internal"
		want.ClusterCert = "/etc/kong/cluster/dp.crt"
		want.ClusterCertKey = "/etc/kong/cluster/dp.key"
		want.ClusterCACert = "/etc/kong/cluster/ca.crt"
		want.LuaSSLTrustedCertificate = []string{"system", "/etc/kong/cluster/ca.crt"}
		want.ClusterDPLabels = map[string]string{"region": "eu-west-1", "deployment": "blue"}
		want.ProxyListen = []Listener{{Addr: "0.0.0.0:8000"}, {Addr: "0.0.0.0:8443", SSL: true, HTTP2: true}}
		want.StatusListen = []Listener{{Addr: "0.0.0.0:8100"}}
		want.AdminListen = nil
		want.LogLevel = "warn"
		want.Headers = []string{"off"}
		want.Ignored = []string{"lua_package_path", "nginx_http_client_body_buffer_size",
			"nginx_worker_processes", "plugins", "proxy_access_log", "proxy_error_log"}
		if !reflect.DeepEqual(c, want) {
			t.Errorf("got\n%+v\nwant\n%+v", c, want)
		}
	})
	t.Run("kong control plane file", func(t *testing.T) {
		c, err := Load("testdata/kong-control-plane.conf", nil)
		if err != nil {
			t.Fatal(err)
		}
		want := defaults()
		want.Role = RoleControlPlane
		want.Database = DatabasePostgres
		want.PGHost = "db.example.internal"
		want.PGPort = 5433
		want.PGUser = "gantry"
		want.PGPassword = "s3cr#t"
		want.PGDatabase = "gantry"
		want.PGSSL = true
		want.ClusterCert = "/etc/gantry/cluster.crt"
		want.ClusterCertKey = "/etc/gantry/cluster.key"
		want.ClusterTelemetryListen = nil
		want.AdminListen = []Listener{{Addr: "127.0.0.1:8001"}, {Addr: "127.0.0.1:8444", SSL: true, HTTP2: true}}
		want.AdminSSLCert = "/etc/gantry/admin.crt"
		want.AdminSSLCertKey = "/etc/gantry/admin.key"
		want.ClusterDataPlanePurgeDelay = 24 * time.Hour
		want.Ignored = []string{"pg_ssl_verify", "pg_timeout"}
		if !reflect.DeepEqual(c, want) {
			t.Errorf("got\n%+v\nwant\n%+v", c, want)
		}
	})
	t.Run("later line wins", func(t *testing.T) {
		c := mustLoad(t, "log_level = debug\nlog_level = error\n")
		if c.LogLevel != "error" {
			t.Errorf("log_level = %q, want error", c.LogLevel)
		}
	})
	t.Run("booleans", func(t *testing.T) {
		for in, want := range map[string]bool{"on": true, "true": true, "ON": true, "off": false, "false": false, "False": false} {
			c := mustLoad(t, "pg_ssl = "+in)
			if c.PGSSL != want {
				t.Errorf("pg_ssl = %s gave %v, want %v", in, c.PGSSL, want)
			}
		}
	})
	t.Run("seconds", func(t *testing.T) {
		c := mustLoad(t, "analytics_flush_interval = 0.25\ncluster_fallback_config_export_delay = 0")
		if c.AnalyticsFlushInterval != 250*time.Millisecond || c.ClusterFallbackConfigExportDelay != 0 {
			t.Errorf("got %v and %v", c.AnalyticsFlushInterval, c.ClusterFallbackConfigExportDelay)
		}
	})
	t.Run("all errors at once in file order", func(t *testing.T) {
		got := loadErr(t, "pg_port = x\nbogus = 1\nrole = leader\n")
		want := strings.Join([]string{
			`gantry.conf:1: pg_port: invalid value "x": expected a whole number`,
			`gantry.conf:2: unknown property "bogus"`,
			`gantry.conf:3: role: invalid value "leader": expected one of control_plane, data_plane, traditional`,
		}, "\n")
		if got != want {
			t.Errorf("error =\n%s\nwant\n%s", got, want)
		}
	})
}

func TestEnvironment(t *testing.T) {
	const file = "log_level = info\n"
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"file only", nil, "info"},
		{"KONG_ beats file", []string{"KONG_LOG_LEVEL=warn"}, "warn"},
		{"GANTRY_ beats file", []string{"GANTRY_LOG_LEVEL=error"}, "error"},
		{"GANTRY_ beats KONG_", []string{"GANTRY_LOG_LEVEL=error", "KONG_LOG_LEVEL=warn"}, "error"},
		{"GANTRY_ beats KONG_ in any order", []string{"KONG_LOG_LEVEL=warn", "GANTRY_LOG_LEVEL=crit"}, "crit"},
		{"value trimmed", []string{"GANTRY_LOG_LEVEL= debug "}, "debug"},
		{"lower-case prefix is not ours", []string{"gantry_log_level=debug"}, "info"},
		{"unrelated variables", []string{"PATH=/bin", "HOME", "KONGA_LOG_LEVEL=debug"}, "info"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustLoad(t, file, tt.env...).LogLevel; got != tt.want {
				t.Errorf("log_level = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("an overridden bad file value is not an error", func(t *testing.T) {
		if got := mustLoad(t, "pg_port = nope\n", "GANTRY_PG_PORT=6543").PGPort; got != 6543 {
			t.Errorf("pg_port = %d, want 6543", got)
		}
	})
	t.Run("env can clear a secret", func(t *testing.T) {
		if got := mustLoad(t, "pg_password = x\n", "KONG_PG_PASSWORD=").PGPassword; got != "" {
			t.Errorf("pg_password = %q, want empty", got)
		}
	})
	t.Run("env errors name the variable", func(t *testing.T) {
		got := loadErr(t, "", "KONG_CLUSTER_MAX_PAYLOAD=1024")
		want := `env KONG_CLUSTER_MAX_PAYLOAD: cluster_max_payload: invalid value "1024": expected a whole number from 4194304 to 2147483647 bytes`
		if got != want {
			t.Errorf("error =\n%s\nwant\n%s", got, want)
		}
	})
}

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  []string
		want string
	}{
		{
			name: "unknown key in file",
			file: "log_level = info\nfoo = bar\n",
			want: `gantry.conf:2: unknown property "foo"`,
		},
		{
			name: "typo gets a suggestion",
			file: "admin_listne = 127.0.0.1:9001\n",
			want: `gantry.conf:1: unknown property "admin_listne" (did you mean "admin_listen"?)`,
		},
		{
			name: "keys are case-sensitive",
			file: "Log_Level = info\n",
			want: `gantry.conf:1: unknown property "Log_Level" (did you mean "log_level"?)`,
		},
		{
			name: "unknown GANTRY_ variable",
			env:  []string{"GANTRY_LOGLEVEL=debug"},
			want: `env GANTRY_LOGLEVEL: unknown property "loglevel" (did you mean "log_level"?)`,
		},
		{
			name: "bare nginx_ prefix is not a key",
			file: "nginx_ = x\n",
			want: `gantry.conf:1: unknown property "nginx_"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := loadErr(t, tt.file, tt.env...); got != tt.want {
				t.Errorf("error =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestIgnoredKeys(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  []string
		want []string
	}{
		{name: "none", want: []string{}},
		{
			name: "file keys",
			file: "plugins = bundled\nnginx_worker_processes = 2\npg_ro_host = r\nlua_socket_pool_size = 30\npg_timeout = 1\n",
			want: []string{"lua_socket_pool_size", "nginx_worker_processes", "pg_ro_host", "pg_timeout", "plugins"},
		},
		{
			name: "KONG_ keys, unknown KONG_ variables skipped",
			env:  []string{"KONG_PROXY_ACCESS_LOG=/dev/stdout", "KONG_NOT_A_KEY=1", "KONG_NGINX_HTTP_GZIP=on"},
			want: []string{"nginx_http_gzip", "proxy_access_log"},
		},
		{
			name: "GANTRY_ ignored keys are not unknown",
			env:  []string{"GANTRY_ROUTER_FLAVOR=expressions"},
			want: []string{"router_flavor"},
		},
		{
			name: "reported once",
			file: "trusted_ips = 0.0.0.0/0\n",
			env:  []string{"KONG_TRUSTED_IPS=0.0.0.0/0", "GANTRY_TRUSTED_IPS=0.0.0.0/0"},
			want: []string{"trusted_ips"},
		},
		{
			name: "lua_ssl_trusted_certificate is used, not ignored",
			file: "lua_ssl_trusted_certificate = /ca.pem\n",
			want: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustLoad(t, tt.file, tt.env...).Ignored; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Ignored = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	c := mustLoad(t, strings.Join([]string{
		"role = data_plane",
		hybridCert,
		"pg_password = hunter2",
		"proxy_server = http://user:pass@proxy:3128",
		"cluster_use_proxy = on",
		"cluster_dp_labels = zone:b, app:web",
		"admin_listen = off",
		"admin_ssl_cert = /a.crt",
		"admin_ssl_cert_key = /a.key",
		"analytics_flush_interval = 0.5",
		"proxy_listen = [::1]:8000 http2 reuseport, *:8443 ssl",
	}, "\n"))
	got := c.Redacted()

	for key, want := range map[string]any{
		"pg_password":                    "******",
		"cluster_cert_key":               "******",
		"admin_ssl_cert_key":             "******",
		"proxy_server":                   "******",
		"cluster_cert":                   "/c.crt",
		"admin_ssl_cert":                 "/a.crt",
		"role":                           "data_plane",
		"database":                       "off",
		"admin_listen":                   []string{"off"},
		"proxy_listen":                   []string{"[::1]:8000 http2", "0.0.0.0:8443 ssl"},
		"cluster_dp_labels":              []string{"app:web", "zone:b"},
		"cluster_data_plane_purge_delay": int64(1209600),
		"cluster_ping_interval":          int64(30),
		"cluster_reconnect_delay":        int64(5),
		"analytics_flush_interval":       0.5,
		"cluster_use_proxy":              true,
		"pg_port":                        5432,
	} {
		if !reflect.DeepEqual(got[key], want) {
			t.Errorf("%s = %#v, want %#v", key, got[key], want)
		}
	}
	unset := []string{"cluster_ca_cert", "cluster_server_name", "cluster_telemetry_server_name",
		"declarative_config", "cluster_fallback_config_storage"}
	for _, key := range unset {
		if v, ok := got[key]; ok {
			t.Errorf("%s = %#v, want it left out as it has no value", key, v)
		}
	}
	if len(got) != len(settings)-len(unset) {
		t.Errorf("Redacted has %d keys, want every one of the %d settings but the %d unset", len(got), len(settings), len(unset))
	}
	for key, v := range got {
		if s := display(v); strings.Contains(s, "hunter2") || strings.Contains(s, "pass@") || strings.HasSuffix(s, ".key") {
			t.Errorf("%s leaks a secret: %#v", key, v)
		}
	}
}

func TestTLSServerNames(t *testing.T) {
	tests := []struct {
		name, file       string
		cluster, telemet string
	}{
		{"shared default", "", DefaultClusterServerName, DefaultClusterServerName},
		{"pki uses the endpoint host",
			"cluster_mtls = pki\ncluster_ca_cert = /ca\ncluster_control_plane = cp.example:8005\ncluster_telemetry_endpoint = [::1]:8006",
			"cp.example", "::1"},
		{"explicit names win",
			"cluster_mtls = pki\ncluster_ca_cert = /ca\ncluster_server_name = a.example\ncluster_telemetry_server_name = b.example",
			"a.example", "b.example"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustLoad(t, "role = data_plane\n"+hybridCert+tt.file)
			if got := c.ClusterTLSServerName(); got != tt.cluster {
				t.Errorf("ClusterTLSServerName() = %q, want %q", got, tt.cluster)
			}
			if got := c.TelemetryTLSServerName(); got != tt.telemet {
				t.Errorf("TelemetryTLSServerName() = %q, want %q", got, tt.telemet)
			}
		})
	}
}

// TestDocsListEveryKey keeps docs/configuration.md in step with the code.
func TestDocsListEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		if !strings.Contains(string(doc), "| `"+s.key+"` |") {
			t.Errorf("docs/configuration.md has no table row for %s", s.key)
		}
	}
	for key := range ignoredKeys {
		if !strings.Contains(string(doc), "`"+key+"`") {
			t.Errorf("docs/configuration.md does not list ignored key %s", key)
		}
	}
}
