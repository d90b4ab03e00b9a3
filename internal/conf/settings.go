package conf

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-gw/gantry/internal/connectproxy"
)

// setting describes one kong.conf key: its default, how its text becomes a
// typed field, which values are allowed, and how Redacted shows it. The
// table below is the single list of keys, so Load, Validate, Redacted and
// the documentation test cannot drift apart.
type setting struct {
	key string
	// def is the default in kong.conf syntax; "" means no value.
	def string
	// secret settings are hidden by Redacted and in error messages.
	secret bool
	// set parses text into the field. Its error says what is allowed.
	set func(c *Config, text string) error
	// check tells whether the typed value is allowed. Its error says what
	// is allowed.
	check func(c *Config) error
	// get returns the value for Redacted, or nil when there is none.
	get func(c *Config) any
}

var settings = []setting{
	text("role", RoleTraditional, func(c *Config) *string { return &c.Role },
		oneOf(RoleControlPlane, RoleDataPlane, RoleTraditional)),
	// database has no fixed default: Load derives it from role.
	text("database", "", func(c *Config) *string { return &c.Database },
		oneOf(DatabaseSQLite, DatabasePostgres, DatabaseOff)),
	text("prefix", "/usr/local/gantry", func(c *Config) *string { return &c.Prefix }, required("a directory path")),

	listen("proxy_listen", "0.0.0.0:8000, 0.0.0.0:8443 ssl", func(c *Config) *[]Listener { return &c.ProxyListen }),
	listen("admin_listen", "127.0.0.1:8001", func(c *Config) *[]Listener { return &c.AdminListen }),
	listen("admin_gui_listen", "127.0.0.1:8002", func(c *Config) *[]Listener { return &c.AdminGUIListen }),
	listen("status_listen", "127.0.0.1:8100", func(c *Config) *[]Listener { return &c.StatusListen }),
	listen("cluster_listen", "0.0.0.0:8005", func(c *Config) *[]Listener { return &c.ClusterListen }),
	listen("cluster_telemetry_listen", "0.0.0.0:8006", func(c *Config) *[]Listener { return &c.ClusterTelemetryListen }),

	text("cluster_control_plane", "127.0.0.1:8005", func(c *Config) *string { return &c.ClusterControlPlane }, dialAddr),
	text("cluster_telemetry_endpoint", "127.0.0.1:8006", func(c *Config) *string { return &c.ClusterTelemetryEndpoint }, dialAddr),
	text("cluster_server_name", "", func(c *Config) *string { return &c.ClusterServerName }, serverNameValue),
	text("cluster_telemetry_server_name", "", func(c *Config) *string { return &c.ClusterTelemetryServerName }, serverNameValue),
	text("cluster_mtls", MTLSShared, func(c *Config) *string { return &c.ClusterMTLS }, oneOf(MTLSShared, MTLSPKI)),
	text("cluster_cert", "", func(c *Config) *string { return &c.ClusterCert }, nil),
	secret(text("cluster_cert_key", "", func(c *Config) *string { return &c.ClusterCertKey }, nil)),
	text("cluster_ca_cert", "", func(c *Config) *string { return &c.ClusterCACert }, nil),
	list("lua_ssl_trusted_certificate", SystemTrustStore, func(c *Config) *[]string { return &c.LuaSSLTrustedCertificate }),
	labels("cluster_dp_labels", func(c *Config) *map[string]string { return &c.ClusterDPLabels }),
	integer("cluster_max_payload", "16777216", func(c *Config) *int { return &c.ClusterMaxPayload },
		between(4194304, math.MaxInt32, "bytes")),
	seconds("cluster_data_plane_purge_delay", "1209600", func(c *Config) *time.Duration { return &c.ClusterDataPlanePurgeDelay },
		atLeastSeconds(60)),
	seconds("cluster_ping_interval", "30", func(c *Config) *time.Duration { return &c.ClusterPingInterval }, positiveSeconds),
	seconds("cluster_reconnect_delay", "5", func(c *Config) *time.Duration { return &c.ClusterReconnectDelay }, positiveSeconds),

	text("declarative_config", "", func(c *Config) *string { return &c.DeclarativeConfig }, nil),

	secret(text("proxy_server", "", func(c *Config) *string { return &c.ProxyServer }, proxyURL)),
	boolean("proxy_server_ssl_verify", "on", func(c *Config) *bool { return &c.ProxyServerSSLVerify }),
	boolean("cluster_use_proxy", "off", func(c *Config) *bool { return &c.ClusterUseProxy }),

	seconds("analytics_flush_interval", "1", func(c *Config) *time.Duration { return &c.AnalyticsFlushInterval },
		positiveSeconds),
	integer("analytics_buffer_size_limit", "100000", func(c *Config) *int { return &c.AnalyticsBufferSizeLimit },
		between(1, math.MaxInt32, "records")),

	text("cluster_fallback_config_storage", "", func(c *Config) *string { return &c.ClusterFallbackConfigStorage }, storageURL),
	boolean("cluster_fallback_config_export", "off", func(c *Config) *bool { return &c.ClusterFallbackConfigExport }),
	boolean("cluster_fallback_config_import", "off", func(c *Config) *bool { return &c.ClusterFallbackConfigImport }),
	seconds("cluster_fallback_config_export_delay", "60", func(c *Config) *time.Duration { return &c.ClusterFallbackConfigExportDelay },
		atLeastSeconds(0)),

	boolean("konnect_mode", "off", func(c *Config) *bool { return &c.KonnectMode }),
	boolean("vitals", "off", func(c *Config) *bool { return &c.Vitals }),

	text("pg_host", "127.0.0.1", func(c *Config) *string { return &c.PGHost }, nil),
	integer("pg_port", "5432", func(c *Config) *int { return &c.PGPort }, between(1, 65535, "")),
	text("pg_user", "kong", func(c *Config) *string { return &c.PGUser }, nil),
	secret(text("pg_password", "", func(c *Config) *string { return &c.PGPassword }, nil)),
	text("pg_database", "kong", func(c *Config) *string { return &c.PGDatabase }, nil),
	boolean("pg_ssl", "off", func(c *Config) *bool { return &c.PGSSL }),

	typed("headers", "server_tokens, latency_tokens", func(c *Config) *[]string { return &c.Headers },
		parseList, checkHeaders, func(l []string) any { return slices.Clone(l) }),
	text("log_level", "notice", func(c *Config) *string { return &c.LogLevel },
		oneOf("debug", "info", "notice", "warn", "error", "crit", "alert", "emerg")),

	text("admin_ssl_cert", "", func(c *Config) *string { return &c.AdminSSLCert }, nil),
	secret(text("admin_ssl_cert_key", "", func(c *Config) *string { return &c.AdminSSLCertKey }, nil)),
}

// settingByKey indexes settings for the loader.
var settingByKey = func() map[string]*setting {
	m := make(map[string]*setting, len(settings))
	for i := range settings {
		m[settings[i].key] = &settings[i]
	}
	return m
}()

// ignoredKeys are Kong keys that Gantry accepts so that an existing kong.conf
// or KONG_* environment loads, but does not use (yet). They end up in
// Config.Ignored so the operator is told.
var ignoredKeys = func() map[string]bool {
	m := make(map[string]bool)
	for _, k := range strings.Fields(`
		plugins router_flavor trusted_ips real_ip_header real_ip_recursive
		anonymous_reports node_id port_maps untrusted_lua allow_debug_header
		error_default_type worker_consistency worker_state_update_frequency

		proxy_access_log proxy_error_log proxy_stream_access_log proxy_stream_error_log
		admin_access_log admin_error_log admin_gui_access_log admin_gui_error_log
		status_access_log status_error_log stream_listen

		admin_gui_url admin_gui_path admin_gui_api_url admin_gui_ssl_cert admin_gui_ssl_cert_key
		status_ssl_cert status_ssl_cert_key
		ssl_cert ssl_cert_key ssl_cipher_suite ssl_ciphers ssl_protocols
		ssl_prefer_server_ciphers ssl_session_tickets ssl_session_timeout
		client_ssl client_ssl_cert client_ssl_cert_key

		db_update_frequency db_update_propagation db_cache_ttl db_cache_warmup_entities
		mem_cache_size dns_resolver dns_order dns_hostsfile
		lmdb_environment_path lmdb_map_size dedicated_config_processing
		upstream_keepalive_pool_size upstream_keepalive_max_requests upstream_keepalive_idle_timeout

		cluster_ocsp cluster_rpc cluster_rpc_sync cluster_cjson cluster_allowed_common_names

		pg_timeout pg_schema pg_ssl_required pg_ssl_verify pg_ssl_version pg_ssl_cert
		pg_ssl_cert_key pg_max_concurrent_queries pg_semaphore_timeout
		pg_keepalive_timeout pg_pool_size pg_backlog
	`) {
		m[k] = true
	}
	return m
}()

// ignoredPrefixes are open-ended Kong key families: nginx_* injects nginx
// directives, lua_* tunes OpenResty, and pg_ro_* mirrors every pg_* key for a
// read-only replica.
var ignoredPrefixes = []string{"nginx_", "lua_", "pg_ro_"}

// isIgnored tells whether key is a Kong key Gantry accepts but does not use.
// Known keys (such as lua_ssl_trusted_certificate) are never ignored.
func isIgnored(key string) bool {
	if _, known := settingByKey[key]; known {
		return false
	}
	if ignoredKeys[key] {
		return true
	}
	for _, p := range ignoredPrefixes {
		if strings.HasPrefix(key, p) && len(key) > len(p) {
			return true
		}
	}
	return false
}

// typed builds a setting for a field of type T.
func typed[T any](key, def string, field func(*Config) *T, parse func(string) (T, error), check func(T) error, render func(T) any) setting {
	s := setting{
		key: key,
		def: def,
		set: func(c *Config, text string) error {
			v, err := parse(text)
			if err != nil {
				return err
			}
			*field(c) = v
			return nil
		},
		get: func(c *Config) any { return render(*field(c)) },
	}
	if check != nil {
		s.check = func(c *Config) error { return check(*field(c)) }
	}
	return s
}

func secret(s setting) setting {
	s.secret = true
	return s
}

// text is a string setting; an empty value means "not set".
func text(key, def string, field func(*Config) *string, check func(string) error) setting {
	return typed(key, def, field,
		func(s string) (string, error) { return s, nil },
		check,
		func(s string) any {
			if s == "" {
				return nil
			}
			return s
		})
}

func boolean(key, def string, field func(*Config) *bool) setting {
	return typed(key, def, field, parseBool, nil, func(b bool) any { return b })
}

func integer(key, def string, field func(*Config) *int, check func(int) error) setting {
	return typed(key, def, field, parseInt, check, func(n int) any { return n })
}

func seconds(key, def string, field func(*Config) *time.Duration, check func(time.Duration) error) setting {
	return typed(key, def, field, parseSeconds, check, renderSeconds)
}

func listen(key, def string, field func(*Config) *[]Listener) setting {
	return typed(key, def, field, parseListeners, nil, renderListeners)
}

func list(key, def string, field func(*Config) *[]string) setting {
	return typed(key, def, field, parseList, nil, func(l []string) any {
		if len(l) == 0 {
			return nil
		}
		return slices.Clone(l)
	})
}

// HeaderTokens are the values the headers setting accepts, as Kong names
// them: groups (server_tokens, latency_tokens), single headers, or off.
var HeaderTokens = []string{"off", "server_tokens", "latency_tokens", "Server", "Via",
	"X-Kong-Upstream-Latency", "X-Kong-Proxy-Latency", "X-Kong-Response-Latency",
	"X-Kong-Admin-Latency", "X-Kong-Upstream-Status", "X-Kong-Request-Id"}

func checkHeaders(l []string) error {
	for _, h := range l {
		if !slices.ContainsFunc(HeaderTokens, func(t string) bool { return strings.EqualFold(t, h) }) {
			return fmt.Errorf("%q is not a header token: expected any of %s", h, strings.Join(HeaderTokens, ", "))
		}
	}
	if len(l) > 1 && slices.ContainsFunc(l, func(t string) bool { return strings.EqualFold(t, "off") }) {
		return errors.New("off cannot be combined with other values")
	}
	return nil
}

func labels(key string, field func(*Config) *map[string]string) setting {
	return typed(key, "", field, parseLabels, checkLabels, renderLabels)
}

// parseBool accepts kong.conf's on/off and also true/false, in any case.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "on", "true":
		return true, nil
	case "off", "false":
		return false, nil
	}
	return false, errors.New("expected on or off")
}

func parseInt(s string) (int, error) {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, errors.New("expected a whole number")
	}
	return int(n), nil
}

// maxSeconds keeps second counts far from time.Duration's overflow.
const maxSeconds = 100 * 365 * 24 * 3600

// parseSeconds reads a count of seconds, as Kong writes durations; a
// fraction is allowed.
func parseSeconds(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > maxSeconds {
		return 0, fmt.Errorf("expected a number of seconds between 0 and %d", maxSeconds)
	}
	return time.Duration(math.Round(f * float64(time.Second))), nil
}

// renderSeconds shows a duration as Kong does: a number of seconds, whole
// when it can be.
func renderSeconds(d time.Duration) any {
	if d%time.Second == 0 {
		return int64(d / time.Second)
	}
	return d.Seconds()
}

// parseList reads a comma-separated list, trimming each entry.
func parseList(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, errors.New("expected a comma-separated list without empty entries")
		}
		out = append(out, p)
	}
	return out, nil
}

func oneOf(allowed ...string) func(string) error {
	return func(s string) error {
		if slices.Contains(allowed, s) {
			return nil
		}
		return fmt.Errorf("expected one of %s", strings.Join(allowed, ", "))
	}
}

func required(what string) func(string) error {
	return func(s string) error {
		if s == "" {
			return fmt.Errorf("expected %s", what)
		}
		return nil
	}
}

func between(lo, hi int, unit string) func(int) error {
	return func(n int) error {
		if n >= lo && n <= hi {
			return nil
		}
		if unit != "" {
			return fmt.Errorf("expected a whole number from %d to %d %s", lo, hi, unit)
		}
		return fmt.Errorf("expected a whole number from %d to %d", lo, hi)
	}
}

func atLeastSeconds(min int) func(time.Duration) error {
	return func(d time.Duration) error {
		if d >= time.Duration(min)*time.Second {
			return nil
		}
		return fmt.Errorf("expected at least %d seconds", min)
	}
}

func positiveSeconds(d time.Duration) error {
	if d > 0 {
		return nil
	}
	return errors.New("expected a number of seconds greater than 0")
}

// dialAddr checks a host:port that a data plane dials. Empty means not set.
func dialAddr(s string) error {
	if s == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(s)
	if err == nil && validHost(host, s[0] == '[') {
		if _, ok := parsePort(port, 1); ok {
			return nil
		}
	}
	return errors.New(`expected "host:port" with a port from 1 to 65535`)
}

// serverNameValue checks a TLS server name. Empty means not set.
func serverNameValue(s string) error {
	if s == "" || validHostname(s) {
		return nil
	}
	return errors.New("expected a host name")
}

// proxyURL checks proxy_server. Its errors never repeat the URL, which may
// hold a password.
func proxyURL(s string) error {
	if s == "" {
		return nil
	}
	// The data plane's dialer owns the rules, so conf refuses exactly what
	// it would.
	_, err := connectproxy.ParseProxyURL(s)
	return err
}

// storageURL checks cluster_fallback_config_storage. Empty means not set.
func storageURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err == nil && u.RawQuery == "" && u.Fragment == "" {
		switch {
		case u.Scheme == "s3" && u.Host != "":
			return nil
		case u.Scheme == "file" && u.Host == "" && u.Path != "":
			return nil
		}
	}
	return errors.New("expected s3://bucket/prefix or file:///path")
}

const maxLabels = 10

var reservedLabelPrefixes = []string{"kong", "konnect", "insomnia", "mesh", "kic"}

// parseLabels reads "key:value,..." splitting each pair at its first colon;
// checkLabels then applies Kong's rules to the keys and values.
func parseLabels(s string) (map[string]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	m := make(map[string]string)
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		k, v, ok := strings.Cut(item, ":")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("label format invalid: %q: expected key:value", item)
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("label key repeated: %s", k)
		}
		m[k] = v
	}
	return m, nil
}

func checkLabels(m map[string]string) error {
	if len(m) > maxLabels {
		return fmt.Errorf("at most %d labels are allowed, got %d", maxLabels, len(m))
	}
	const form = `expected 1 to 63 letters, digits, "_", ".", ":" or "-", starting and ending with a letter or digit`
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !validLabelPart(k) {
			return fmt.Errorf("label key validation failed: %s (%s)", k, form)
		}
		lower := strings.ToLower(k)
		for _, p := range reservedLabelPrefixes {
			if strings.HasPrefix(lower, p) {
				return fmt.Errorf("label key validation failed: %s (keys may not start with %s)", k, orList(reservedLabelPrefixes))
			}
		}
		if !validLabelPart(m[k]) {
			return fmt.Errorf("label value validation failed: %s (%s)", m[k], form)
		}
	}
	return nil
}

// validLabelPart applies Kong's label pattern: 1 to 63 characters, ASCII
// letters or digits at both ends, and letters, digits, "_", ".", ":" or "-"
// inside.
func validLabelPart(s string) bool {
	if len(s) < 1 || len(s) > 63 || !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		c := s[i]
		if !isAlnum(c) && c != '_' && c != '.' && c != ':' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// renderLabels shows labels as Kong stores cluster_dp_labels: a sorted list
// of "key:value".
func renderLabels(m map[string]string) any {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+":"+v)
	}
	sort.Strings(out)
	return out
}

// orList writes "a, b or c" for error messages.
func orList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}
