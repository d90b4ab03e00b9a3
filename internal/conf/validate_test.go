package conf

import (
	"fmt"
	"strings"
	"testing"
)

func TestCrossKeyRules(t *testing.T) {
	const (
		dp = "role = data_plane\n" + hybridCert
		cp = "role = control_plane\n" + hybridCert
	)
	tests := []struct {
		name string
		file string
		want string // the whole error; "" means the file must load
	}{
		{"data plane defaults to no database", dp, ""},
		{"data plane with a database", dp + "database = sqlite",
			`only in-memory storage can be used when role = "data_plane"; hint: set database = off in your conf`},
		{"data plane with postgres", dp + "database = postgres",
			`only in-memory storage can be used when role = "data_plane"; hint: set database = off in your conf`},
		{"control plane without a database", cp + "database = off",
			`in-memory storage can not be used when role = "control_plane"`},
		{"traditional without a database is fine", "database = off", ""},
		{"control plane without certificate", "role = control_plane\ncluster_cert_key = /k",
			"cluster certificate and key must be provided to use Hybrid mode"},
		{"data plane without key", "role = data_plane\ncluster_cert = /c",
			"cluster certificate and key must be provided to use Hybrid mode"},
		{"traditional needs no certificate", "", ""},
		{"pki without CA on a control plane", cp + "cluster_mtls = pki",
			"cluster_ca_cert must be specified when cluster_mtls = pki"},
		{"pki without CA on a data plane", dp + "cluster_mtls = pki",
			"cluster_ca_cert must be specified when cluster_mtls = pki"},
		{"pki with CA", dp + "cluster_mtls = pki\ncluster_ca_cert = /ca", ""},
		{"labels on a control plane", cp + "cluster_dp_labels = a:b",
			`cluster_dp_labels can only be used when role = "data_plane"`},
		{"labels on a traditional node", "cluster_dp_labels = a:b",
			`cluster_dp_labels can only be used when role = "data_plane"`},
		{"labels on a data plane", dp + "cluster_dp_labels = a:b", ""},
		{"proxy without proxy_server", dp + "cluster_use_proxy = on",
			"cluster_use_proxy is on but proxy_server is not set"},
		{"proxy on a control plane", cp + "cluster_use_proxy = on\nproxy_server = http://p:3128",
			`cluster_use_proxy can only be used when role = "data_plane"`},
		{"proxy on a data plane", dp + "cluster_use_proxy = on\nproxy_server = https://u:p@p", ""},
		{"proxy_server alone is fine", "proxy_server = http://p:3128", ""},
		{"control plane without admin_listen", cp + "admin_listen = off",
			`admin_listen must be specified when role = "control_plane"`},
		{"control plane without cluster_listen", cp + "cluster_listen = off",
			`cluster_listen must be specified when role = "control_plane"`},
		{"data plane without proxy_listen", dp + "proxy_listen = off",
			`proxy_listen must be specified when role = "data_plane"`},
		{"data plane without control plane", dp + "cluster_control_plane =",
			`cluster_control_plane must be specified when role = "data_plane"`},
		{"admin cert without key", "admin_ssl_cert = /a.crt",
			"admin_ssl_cert_key must be specified when admin_ssl_cert is set"},
		{"admin key without cert", "admin_ssl_cert_key = /a.key",
			"admin_ssl_cert must be specified when admin_ssl_cert_key is set"},
		{"fallback import off a data plane", cp + "cluster_fallback_config_import = on\ncluster_fallback_config_storage = s3://b/p",
			`cluster_fallback_config_import can only be used when role = "data_plane"`},
		{"fallback export without storage", cp + "cluster_fallback_config_export = on",
			"cluster_fallback_config_storage must be specified when cluster_fallback_config_export = on"},
		{"fallback import without storage", dp + "cluster_fallback_config_import = on",
			"cluster_fallback_config_storage must be specified when cluster_fallback_config_import = on"},
		{"fallback with storage", dp + "cluster_fallback_config_import = on\ncluster_fallback_config_storage = file:///var/fallback", ""},
		{"several rules broken, one line each", "role = data_plane\ndatabase = sqlite\ncluster_mtls = pki",
			strings.Join([]string{
				`only in-memory storage can be used when role = "data_plane"; hint: set database = off in your conf`,
				"cluster certificate and key must be provided to use Hybrid mode",
				"cluster_ca_cert must be specified when cluster_mtls = pki",
			}, "\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load("gantry.conf", []byte(tt.file), nil)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("error =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestValueErrors covers the rules on single values: each error is one line
// naming the place, the key, the value and what is allowed.
func TestValueErrors(t *testing.T) {
	tests := []struct {
		line string // a line of gantry.conf; "" means it must load
		want string
	}{
		{"role = leader", `role: invalid value "leader": expected one of control_plane, data_plane, traditional`},
		{"role = Data_Plane", `role: invalid value "Data_Plane": expected one of control_plane, data_plane, traditional`},
		{"database = cassandra", `database: invalid value "cassandra": expected one of sqlite, postgres, off`},
		{"database =", `database: invalid value "": expected one of sqlite, postgres, off`},
		{"prefix =", `prefix: invalid value "": expected a directory path`},
		{"cluster_mtls = pki_check_cn", `cluster_mtls: invalid value "pki_check_cn": expected one of shared, pki`},
		{"log_level = trace", `log_level: invalid value "trace": expected one of debug, info, notice, warn, error, crit, alert, emerg`},
		{"pg_ssl = yes", `pg_ssl: invalid value "yes": expected on or off`},
		{"pg_ssl =", `pg_ssl: invalid value "": expected on or off`},
		{"pg_port = 0", `pg_port: invalid value "0": expected a whole number from 1 to 65535`},
		{"pg_port = 5432.5", `pg_port: invalid value "5432.5": expected a whole number`},
		{"cluster_max_payload = 4194303", `cluster_max_payload: invalid value "4194303": expected a whole number from 4194304 to 2147483647 bytes`},
		{"cluster_max_payload = 4194304", ""},
		{"cluster_data_plane_purge_delay = 59", `cluster_data_plane_purge_delay: invalid value "59": expected at least 60 seconds`},
		{"cluster_data_plane_purge_delay = 60", ""},
		{"cluster_data_plane_purge_delay = 14d", `cluster_data_plane_purge_delay: invalid value "14d": expected a number of seconds between 0 and 3153600000`},
		{"cluster_data_plane_purge_delay = -60", `cluster_data_plane_purge_delay: invalid value "-60": expected a number of seconds between 0 and 3153600000`},
		{"cluster_data_plane_purge_delay = NaN", `cluster_data_plane_purge_delay: invalid value "NaN": expected a number of seconds between 0 and 3153600000`},
		{"analytics_flush_interval = 0", `analytics_flush_interval: invalid value "0": expected a number of seconds greater than 0`},
		{"analytics_buffer_size_limit = 0", `analytics_buffer_size_limit: invalid value "0": expected a whole number from 1 to 2147483647 records`},
		{"cluster_control_plane = cp.example", `cluster_control_plane: invalid value "cp.example": expected "host:port" with a port from 1 to 65535`},
		{"cluster_control_plane = cp.example:0", `cluster_control_plane: invalid value "cp.example:0": expected "host:port" with a port from 1 to 65535`},
		{"cluster_control_plane = ::1:8005", `cluster_control_plane: invalid value "::1:8005": expected "host:port" with a port from 1 to 65535`},
		{"cluster_control_plane = [::1]:8005", ""},
		{"cluster_telemetry_endpoint = wss://cp:8006", `cluster_telemetry_endpoint: invalid value "wss://cp:8006": expected "host:port" with a port from 1 to 65535`},
		{"cluster_server_name = not a name", `cluster_server_name: invalid value "not a name": expected a host name`},
		{"cluster_server_name = kong_clustering", ""},
		{"lua_ssl_trusted_certificate = system,,/ca.pem", `lua_ssl_trusted_certificate: invalid value "system,,/ca.pem": expected a comma-separated list without empty entries`},
		{"proxy_server = socks5://u:secret@p:1080", `proxy_server: invalid value (hidden): only http and https proxies are supported; expected http://[user:password@]host[:port] or https://[user:password@]host[:port]`},
		{`proxy_server = http://u:se\#cret@p:3128`, `proxy_server: invalid value (hidden): a proxy URL may not have a fragment (write # in a password as %23); expected http://[user:password@]host[:port] or https://[user:password@]host[:port]`},
		{"proxy_server = http://p:3128/?x=1", `proxy_server: invalid value (hidden): a proxy URL may not have a query; expected http://[user:password@]host[:port] or https://[user:password@]host[:port]`},
		{"proxy_server = http://p:3128/path", `proxy_server: invalid value (hidden): a proxy URL may not have a path; expected http://[user:password@]host[:port] or https://[user:password@]host[:port]`},
		{"proxy_server = p:3128", `proxy_server: invalid value (hidden): only http and https proxies are supported; expected http://[user:password@]host[:port] or https://[user:password@]host[:port]`},
		{"proxy_server = http://u:p%23w@p:3128", ""},
		{"cluster_fallback_config_storage = gcs://bucket/p", `cluster_fallback_config_storage: invalid value "gcs://bucket/p": expected s3://bucket/prefix or file:///path`},
		{"cluster_fallback_config_storage = s3://bucket/prefix", ""},
		{"cluster_fallback_config_storage = file:///var/lib/fallback", ""},
		{"cluster_fallback_config_storage = /var/lib/fallback", `cluster_fallback_config_storage: invalid value "/var/lib/fallback": expected s3://bucket/prefix or file:///path`},
		{"status_listen = 127.0.0.1:8100 sssl", `status_listen: invalid value "127.0.0.1:8100 sssl": unknown flag "sssl" (allowed: ssl, http2, reuseport, backlog=N, deferred, bind, ipv6only=on|off, so_keepalive=on|off|[idle]:[interval]:[count], proxy_protocol)`},
		{"prefix = " + strings.Repeat("p", 100), ""},
		{"declarative_config = " + strings.Repeat("x", 100) + "=", ""},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			_, err := load("gantry.conf", []byte(tt.line), nil)
			got := ""
			if err != nil {
				got = err.Error()
			}
			want := tt.want
			if want != "" {
				want = "gantry.conf:1: " + want
			}
			if got != want {
				t.Errorf("error =\n%s\nwant\n%s", got, want)
			}
		})
	}
	t.Run("long values are shortened", func(t *testing.T) {
		got := loadErr(t, "role = "+strings.Repeat("r", 200))
		want := fmt.Sprintf(`gantry.conf:1: role: invalid value "%s...": expected one of control_plane, data_plane, traditional`, strings.Repeat("r", 80))
		if got != want {
			t.Errorf("error =\n%s\nwant\n%s", got, want)
		}
	})
}

func TestLabels(t *testing.T) {
	const dp = "role = data_plane\n" + hybridCert
	tests := []struct {
		value string
		want  map[string]string
		err   string
	}{
		{value: "deployment:mycloud,region:us-east-1", want: map[string]string{"deployment": "mycloud", "region": "us-east-1"}},
		{value: " a:b , c:d ", want: map[string]string{"a": "b", "c": "d"}},
		{value: "url:host:8080", want: map[string]string{"url": "host:8080"}},
		{value: "A.b_c-D:X.y_z-9", want: map[string]string{"A.b_c-D": "X.y_z-9"}},
		{value: "k:" + strings.Repeat("v", 63), want: map[string]string{"k": strings.Repeat("v", 63)}},
		{value: "w@:x", err: `label key validation failed: w@ (expected 1 to 63 letters, digits, "_", ".", ":" or "-", starting and ending with a letter or digit)`},
		{value: "-a:x", err: `label key validation failed: -a (expected 1 to 63 letters, digits, "_", ".", ":" or "-", starting and ending with a letter or digit)`},
		{value: ":x", err: `label format invalid: ":x": expected key:value`},
		{value: "a:", err: `label format invalid: "a:": expected key:value`},
		{value: "a:b_", err: `label value validation failed: b_ (expected 1 to 63 letters, digits, "_", ".", ":" or "-", starting and ending with a letter or digit)`},
		{value: "a:" + strings.Repeat("v", 64), err: `label value validation failed: ` + strings.Repeat("v", 64) + ` (expected 1 to 63 letters, digits, "_", ".", ":" or "-", starting and ending with a letter or digit)`},
		{value: "kongregion:x", err: `label key validation failed: kongregion (keys may not start with kong, konnect, insomnia, mesh or kic)`},
		{value: "Mesh1:x", err: `label key validation failed: Mesh1 (keys may not start with kong, konnect, insomnia, mesh or kic)`},
		{value: "kic:x", err: `label key validation failed: kic (keys may not start with kong, konnect, insomnia, mesh or kic)`},
		{value: "region", err: `label format invalid: "region": expected key:value`},
		{value: "a:b,,c:d", err: `label format invalid: "": expected key:value`},
		{value: "a:b,a:c", err: `label key repeated: a`},
		{value: "k0:v,k1:v,k2:v,k3:v,k4:v,k5:v,k6:v,k7:v,k8:v,k9:v", want: map[string]string{
			"k0": "v", "k1": "v", "k2": "v", "k3": "v", "k4": "v", "k5": "v", "k6": "v", "k7": "v", "k8": "v", "k9": "v"}},
		{value: "k0:v,k1:v,k2:v,k3:v,k4:v,k5:v,k6:v,k7:v,k8:v,k9:v,k10:v", err: "at most 10 labels are allowed, got 11"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			c, err := load("gantry.conf", []byte(dp+"cluster_dp_labels = "+tt.value), nil)
			if tt.err != "" {
				want := fmt.Sprintf("gantry.conf:4: cluster_dp_labels: invalid value %q: %s", strings.TrimSpace(tt.value), tt.err)
				if err == nil || err.Error() != want {
					t.Errorf("error =\n%v\nwant\n%s", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(c.ClusterDPLabels) != fmt.Sprint(tt.want) {
				t.Errorf("labels = %v, want %v", c.ClusterDPLabels, tt.want)
			}
		})
	}
}

// TestValidateHandBuilt checks that Validate catches values set in code,
// which never went through the parser.
func TestValidateHandBuilt(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"valid defaults", func(*Config) {}, ""},
		{"role without database", func(c *Config) { c.Role = RoleDataPlane; c.ClusterCert, c.ClusterCertKey = "/c", "/k" },
			`only in-memory storage can be used when role = "data_plane"; hint: set database = off in your conf`},
		{"bad role", func(c *Config) { c.Role = "edge" },
			`role: invalid value "edge": expected one of control_plane, data_plane, traditional`},
		{"empty database", func(c *Config) { c.Database = "" },
			`database: invalid value "": expected one of sqlite, postgres, off`},
		{"small payload", func(c *Config) { c.ClusterMaxPayload = 1 },
			`cluster_max_payload: invalid value "1": expected a whole number from 4194304 to 2147483647 bytes`},
		{"short purge delay", func(c *Config) { c.ClusterDataPlanePurgeDelay = 0 },
			`cluster_data_plane_purge_delay: invalid value "0": expected at least 60 seconds`},
		{"bad label", func(c *Config) {
			c.Role, c.Database, c.ClusterCert, c.ClusterCertKey = RoleDataPlane, DatabaseOff, "/c", "/k"
			c.ClusterDPLabels = map[string]string{"w@": "x"}
		}, `cluster_dp_labels: invalid value "w@:x": label key validation failed: w@ (expected 1 to 63 letters, digits, "_", ".", ":" or "-", starting and ending with a letter or digit)`},
		{"secret hidden", func(c *Config) { c.ProxyServer = "ftp://u:hunter2@p" },
			`proxy_server: invalid value (hidden): only http and https proxies are supported; expected http://[user:password@]host[:port] or https://[user:password@]host[:port]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.change(c)
			got := ""
			if err := c.Validate(); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("error =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
