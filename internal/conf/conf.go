// Package conf holds Gantry's typed settings.
//
// The settings keep kong.conf's names and Kong's defaults so that users can
// bring their kong.conf and KONG_* environment with them. They are read from
// a conf file, then from the environment, and validated before anything
// starts: a bad key or value stops start-up with one line that names the
// key, the value and what is allowed, because a gateway that quietly runs
// with a setting it misread is worse than one that refuses to start.
package conf

import (
	"net"
	"sort"
	"time"
)

// Roles a node can run as (kong.conf key role).
const (
	// RoleTraditional runs the Admin API and the proxy in one process on
	// one database, as a Kong node without hybrid mode does.
	RoleTraditional = "traditional"
	// RoleControlPlane owns the configuration and pushes it to data planes.
	RoleControlPlane = "control_plane"
	// RoleDataPlane proxies traffic with configuration received from a
	// control plane and keeps no database of its own.
	RoleDataPlane = "data_plane"
)

// Storage back-ends (kong.conf key database).
const (
	// DatabaseSQLite is the embedded store, the default, so that a control
	// plane needs no database server.
	DatabaseSQLite = "sqlite"
	// DatabasePostgres is the shared store for several control plane nodes.
	DatabasePostgres = "postgres"
	// DatabaseOff keeps configuration in memory only; data planes must use it.
	DatabaseOff = "off"
)

// Ways the control plane and data planes authenticate each other
// (kong.conf key cluster_mtls).
const (
	// MTLSShared pins one certificate that both sides hold.
	MTLSShared = "shared"
	// MTLSPKI trusts any certificate signed by cluster_ca_cert.
	MTLSPKI = "pki"
)

// DefaultClusterServerName is the TLS server name (SNI) a data plane sends in
// shared mode when cluster_server_name is not set. It is the name Kong uses,
// so certificates made by Kong keep working.
const DefaultClusterServerName = "kong_clustering"

// SystemTrustStore is the lua_ssl_trusted_certificate entry that stands for
// the operating system's CA bundle.
const SystemTrustStore = "system"

// Config is every setting Gantry reads, typed and with defaults applied. The
// comment on each field gives its kong.conf key; docs/configuration.md
// explains each one. Build one with Load or Default; a Config changed by
// hand should be checked again with Validate.
type Config struct {
	// Role is role: RoleTraditional, RoleControlPlane or RoleDataPlane.
	Role string
	// Database is database: DatabaseSQLite, DatabasePostgres or
	// DatabaseOff. When no source sets it, Load picks DatabaseOff for a data
	// plane and DatabaseSQLite otherwise.
	Database string
	// Prefix is prefix: the directory for the node id, caches,
	// certificates and logs.
	Prefix string

	// ProxyListen is proxy_listen: where a data plane or traditional node
	// serves API traffic. Empty means off.
	ProxyListen []Listener
	// AdminListen is admin_listen: where the Admin API listens. Empty means
	// off.
	AdminListen []Listener
	// AdminGUIListen is admin_gui_listen: where the control plane serves the
	// UI. Empty means off.
	AdminGUIListen []Listener
	// StatusListen is status_listen: where /status, /status/ready and
	// /metrics are served. Empty means off.
	StatusListen []Listener
	// ClusterListen is cluster_listen: where a control plane accepts data
	// plane connections. Empty means off.
	ClusterListen []Listener
	// ClusterTelemetryListen is cluster_telemetry_listen: where a control
	// plane accepts telemetry from data planes. Empty means off.
	ClusterTelemetryListen []Listener

	// ClusterControlPlane is cluster_control_plane: the host:port a data
	// plane dials for configuration.
	ClusterControlPlane string
	// ClusterTelemetryEndpoint is cluster_telemetry_endpoint: the host:port a
	// data plane dials to send telemetry.
	ClusterTelemetryEndpoint string
	// ClusterServerName is cluster_server_name; empty means the rule in
	// ClusterTLSServerName applies.
	ClusterServerName string
	// ClusterTelemetryServerName is cluster_telemetry_server_name; empty
	// means the rule in TelemetryTLSServerName applies.
	ClusterTelemetryServerName string
	// ClusterMTLS is cluster_mtls: MTLSShared or MTLSPKI.
	ClusterMTLS string
	// ClusterCert is cluster_cert: the PEM certificate a node shows to its
	// peer. Load does not read the file; the cluster code does.
	ClusterCert string
	// ClusterCertKey is cluster_cert_key: the PEM private key of ClusterCert.
	ClusterCertKey string
	// ClusterCACert is cluster_ca_cert: the CA that signs node certificates
	// in pki mode.
	ClusterCACert string
	// Headers are the headers the proxy adds to responses (Kong's
	// "headers": server_tokens, latency_tokens, single header names, off).
	Headers []string
	// LuaSSLTrustedCertificate is lua_ssl_trusted_certificate (the name is
	// kept for drop-in use): the CAs a data plane trusts when it verifies the
	// control plane or an https proxy. Each entry is SystemTrustStore or a
	// PEM file path.
	LuaSSLTrustedCertificate []string
	// ClusterDPLabels is cluster_dp_labels: labels a data plane reports to
	// the control plane. Nil when there are none.
	ClusterDPLabels map[string]string
	// ClusterMaxPayload is cluster_max_payload: the largest compressed
	// configuration, in bytes, a control plane sends and a data plane
	// accepts.
	ClusterMaxPayload int
	// ClusterDataPlanePurgeDelay is cluster_data_plane_purge_delay (seconds
	// in kong.conf): how long a silent data plane stays listed.
	ClusterDataPlanePurgeDelay time.Duration
	// ClusterPingInterval is cluster_ping_interval (Gantry's; seconds): how
	// often a data plane pings its control plane. Either side drops the
	// link after 1.5 intervals without a frame. Kong's fixed value is 30.
	ClusterPingInterval time.Duration
	// ClusterReconnectDelay is cluster_reconnect_delay (Gantry's; seconds):
	// a data plane redials after a random delay between this and twice
	// this. Kong's fixed range is 5–10 s.
	ClusterReconnectDelay time.Duration

	// DeclarativeConfig is declarative_config: a declarative file a node
	// loads when it has no database and no cached configuration.
	DeclarativeConfig string

	// ProxyServer is proxy_server: a forward proxy URL for data plane to
	// control plane traffic. It may carry credentials, so it is a secret.
	ProxyServer string
	// ProxyServerSSLVerify is proxy_server_ssl_verify: whether the
	// certificate of an https proxy is verified.
	ProxyServerSSLVerify bool
	// ClusterUseProxy is cluster_use_proxy: whether a data plane reaches the
	// control plane through ProxyServer.
	ClusterUseProxy bool

	// AnalyticsFlushInterval is analytics_flush_interval (seconds in
	// kong.conf): the longest a data plane holds telemetry before sending.
	AnalyticsFlushInterval time.Duration
	// AnalyticsBufferSizeLimit is analytics_buffer_size_limit: how many
	// telemetry records a data plane keeps while disconnected before it
	// drops the oldest.
	AnalyticsBufferSizeLimit int

	// ClusterFallbackConfigStorage is cluster_fallback_config_storage: where
	// fallback configuration is exported to and imported from, as
	// s3://bucket/prefix or file:///path.
	ClusterFallbackConfigStorage string
	// ClusterFallbackConfigExport is cluster_fallback_config_export: whether
	// this node exports its configuration to the fallback storage.
	ClusterFallbackConfigExport bool
	// ClusterFallbackConfigImport is cluster_fallback_config_import: whether
	// a data plane that cannot reach the control plane at start-up imports
	// the fallback configuration.
	ClusterFallbackConfigImport bool
	// ClusterFallbackConfigExportDelay is
	// cluster_fallback_config_export_delay (seconds in kong.conf): the least
	// time between two exports.
	ClusterFallbackConfigExportDelay time.Duration

	// KonnectMode is konnect_mode, accepted so that Konnect-made
	// configurations load; it changes nothing yet.
	KonnectMode bool
	// Vitals is vitals, accepted for the same reason as KonnectMode.
	Vitals bool

	// PGHost is pg_host.
	PGHost string
	// PGPort is pg_port.
	PGPort int
	// PGUser is pg_user.
	PGUser string
	// PGPassword is pg_password, a secret.
	PGPassword string
	// PGDatabase is pg_database.
	PGDatabase string
	// PGSSL is pg_ssl: whether the Postgres connection uses TLS.
	PGSSL bool

	// LogLevel is log_level: debug, info, notice, warn, error, crit, alert
	// or emerg, as in Kong.
	LogLevel string

	// AdminSSLCert is admin_ssl_cert: the certificate for admin listeners
	// with the ssl flag. Set with AdminSSLCertKey or not at all.
	AdminSSLCert string
	// AdminSSLCertKey is admin_ssl_cert_key, a secret.
	AdminSSLCertKey string

	// Ignored lists, sorted, the Kong keys that were set (in the file or as
	// KONG_* or GANTRY_* variables) and accepted for compatibility but that
	// Gantry does not use, so the caller can log them once at start-up.
	Ignored []string
}

// Listener is one entry of a listen setting such as proxy_listen.
type Listener struct {
	// Addr is host:port, ready for net.Listen. A "*" host is turned into
	// 0.0.0.0; an empty host means every interface.
	Addr string
	// SSL is the ssl flag: the listener serves TLS.
	SSL bool
	// HTTP2 is the http2 flag: the listener offers HTTP/2.
	HTTP2 bool
}

// String renders l the way it is written in kong.conf, so the Admin API and
// logs show listeners in the form users wrote them.
func (l Listener) String() string {
	s := l.Addr
	if l.SSL {
		s += " ssl"
	}
	if l.HTTP2 {
		s += " http2"
	}
	return s
}

// Default returns a Config with every default applied and role traditional.
// It is what Load returns with no file and an empty environment. Callers
// that change the role should also set Database, since the role-dependent
// default is only chosen by Load.
func Default() *Config {
	c, err := load("", nil, nil)
	if err != nil {
		panic("conf: built-in defaults are invalid: " + err.Error())
	}
	return c
}

// ClusterTLSServerName returns the TLS server name (SNI) a data plane sends
// when it dials cluster_control_plane and expects in the control plane's
// certificate: cluster_server_name when set; otherwise the host of
// cluster_control_plane in pki mode, and DefaultClusterServerName in shared
// mode, where the pinned certificate carries that name.
func (c *Config) ClusterTLSServerName() string {
	return serverName(c.ClusterServerName, c.ClusterMTLS, c.ClusterControlPlane)
}

// TelemetryTLSServerName is ClusterTLSServerName for the telemetry
// connection: cluster_telemetry_server_name, else the same rule applied to
// cluster_telemetry_endpoint.
func (c *Config) TelemetryTLSServerName() string {
	return serverName(c.ClusterTelemetryServerName, c.ClusterMTLS, c.ClusterTelemetryEndpoint)
}

func serverName(set, mode, endpoint string) string {
	if set != "" {
		return set
	}
	if mode == MTLSPKI {
		if host, _, err := net.SplitHostPort(endpoint); err == nil && host != "" {
			return host
		}
	}
	return DefaultClusterServerName
}

// redactedValue replaces secrets in Redacted.
const redactedValue = "******"

// Redacted returns every setting that has a value, by kong.conf key, with its
// effective value in the shape Kong shows in the Admin API's GET /
// "configuration" object: listeners as lists of strings ("off" when
// disabled), durations as seconds, labels as "key:value" strings. Secrets
// (pg_password, cluster_cert_key, admin_ssl_cert_key and proxy_server, whose
// URL may carry credentials) are replaced by "******". Settings without a
// value are left out, as Kong does.
func (c *Config) Redacted() map[string]any {
	out := make(map[string]any, len(settings))
	for _, s := range settings {
		v := s.get(c)
		if v == nil {
			continue
		}
		if s.secret {
			v = redactedValue
		}
		out[s.key] = v
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
