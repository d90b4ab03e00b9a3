package conf

import (
	"errors"
	"fmt"
	"strings"
)

// Validate checks every value and the rules that tie keys together, such as
// "a data plane keeps no database". Load calls it; call it again after
// changing a Config by hand, as the quickstart does. The error has one line
// per broken rule, in Kong's words where Kong has them, so that a user who
// searches for the message finds Kong's documentation too.
func (c *Config) Validate() error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}

	for i := range settings {
		s := &settings[i]
		if s.check == nil {
			continue
		}
		if err := s.check(c); err != nil {
			errs = append(errs, errors.New(valueError(s, display(s.get(c)), err)))
		}
	}

	hybrid := c.Role == RoleControlPlane || c.Role == RoleDataPlane
	switch c.Role {
	case RoleDataPlane:
		if c.Database != DatabaseOff {
			fail(`only in-memory storage can be used when role = "data_plane"; hint: set database = off in your conf`)
		}
		if len(c.ProxyListen) == 0 {
			fail(`proxy_listen must be specified when role = "data_plane"`)
		}
		if c.ClusterControlPlane == "" {
			fail(`cluster_control_plane must be specified when role = "data_plane"`)
		}
	case RoleControlPlane:
		if c.Database == DatabaseOff {
			fail(`in-memory storage can not be used when role = "control_plane"`)
		}
		if len(c.AdminListen) == 0 {
			fail(`admin_listen must be specified when role = "control_plane"`)
		}
		if len(c.ClusterListen) == 0 {
			fail(`cluster_listen must be specified when role = "control_plane"`)
		}
	}

	if hybrid {
		if c.ClusterCert == "" || c.ClusterCertKey == "" {
			fail("cluster certificate and key must be provided to use Hybrid mode")
		}
		if c.ClusterMTLS == MTLSPKI && c.ClusterCACert == "" {
			fail("cluster_ca_cert must be specified when cluster_mtls = pki")
		}
	}

	if len(c.ClusterDPLabels) > 0 && c.Role != RoleDataPlane {
		fail(`cluster_dp_labels can only be used when role = "data_plane"`)
	}

	if c.ClusterUseProxy {
		if c.ProxyServer == "" {
			fail("cluster_use_proxy is on but proxy_server is not set")
		}
		if c.Role != RoleDataPlane {
			fail(`cluster_use_proxy can only be used when role = "data_plane"`)
		}
	}

	if c.ClusterFallbackConfigImport && c.Role != RoleDataPlane {
		fail(`cluster_fallback_config_import can only be used when role = "data_plane"`)
	}
	if c.ClusterFallbackConfigStorage == "" {
		if c.ClusterFallbackConfigExport {
			fail("cluster_fallback_config_storage must be specified when cluster_fallback_config_export = on")
		}
		if c.ClusterFallbackConfigImport {
			fail("cluster_fallback_config_storage must be specified when cluster_fallback_config_import = on")
		}
	}

	if c.AdminSSLCert != "" && c.AdminSSLCertKey == "" {
		fail("admin_ssl_cert_key must be specified when admin_ssl_cert is set")
	}
	if c.AdminSSLCertKey != "" && c.AdminSSLCert == "" {
		fail("admin_ssl_cert must be specified when admin_ssl_cert_key is set")
	}

	return errors.Join(errs...)
}

// display turns a Redacted-style value back into kong.conf-like text for an
// error message.
func display(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case []string:
		return strings.Join(t, ", ")
	}
	return fmt.Sprint(v)
}
