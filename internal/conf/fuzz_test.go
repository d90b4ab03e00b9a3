package conf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary conf files through the parser and the loader.
// Neither may panic; every error must be one line per problem; and a file
// that loads must give a Config that validates and renders.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"",
		"role = data_plane\ncluster_cert = /c\ncluster_cert_key = /k\n",
		"# comment\n\nadmin_listen = 127.0.0.1:8001 ssl http2, [::1]:8444 reuseport backlog=511\n",
		`pg_password = a\#b # c`,
		"admin_listen\n= x\nfoo = bar\n",
		"cluster_dp_labels = a:b,c:d:e\nrole = data_plane\n",
		"proxy_server = http://u:p@h:3128\ncluster_use_proxy = on\n",
		"analytics_flush_interval = 1e-9\ncluster_data_plane_purge_delay = 1e300\n",
		"\uFEFFlog_level = debug\r\n",
		"proxy_listen = *:0 so_keepalive=1m:2s:3 ipv6only=off\n",
	} {
		f.Add([]byte(seed))
	}
	files, _ := filepath.Glob("testdata/*.conf")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		lines, errs := parseFile(data)
		for _, l := range lines {
			if l.key == "" || strings.TrimSpace(l.key) != l.key || strings.TrimSpace(l.value) != l.value {
				t.Errorf("line %d: untrimmed or empty key/value %q = %q", l.line, l.key, l.value)
			}
			if strings.ContainsAny(l.key, "=\n") {
				t.Errorf("line %d: key %q holds a separator", l.line, l.key)
			}
		}
		for _, e := range errs {
			if e.line < 1 {
				t.Errorf("error without a line number: %+v", e)
			}
		}

		c, err := load("fuzz.conf", data, nil)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if line == "" || strings.ContainsAny(line, "\r") {
					t.Errorf("error line %q is empty or split", line)
				}
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Errorf("loaded config does not validate: %v", err)
		}
		_ = c.Redacted()
		_ = c.ClusterTLSServerName()
		_ = c.TelemetryTLSServerName()
	})
}
