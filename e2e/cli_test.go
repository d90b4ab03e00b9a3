package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// nestedConfig is a configuration in decK's nested layout; flatConfig is
// the same configuration with one list per entity type and references by
// name. They hold 14 entities.
const nestedConfig = `_format_version: "3.0"
services:
  - name: orders
    url: http://orders.internal:8080/v1
    tags: [shop]
    routes:
      - name: orders-api
        paths: [/orders]
        methods: [GET, POST]
        plugins:
          - name: rate-limiting
            config: {minute: 10, policy: local}
    plugins:
      - name: key-auth
  - name: users
    host: users.internal
    routes:
      - name: users-api
        paths: [/users]
upstreams:
  - name: orders.internal
    targets:
      - target: 10.0.0.1:8080
      - target: 10.0.0.2
        weight: 50
consumers:
  - username: alice
    custom_id: alice-001
    keyauth_credentials:
      - key: alice-key
    basicauth_credentials:
      - username: alice
        password: s3cret
    acls:
      - group: admins
plugins:
  - name: prometheus
`

const flatConfig = `_format_version: "3.0"
consumers:
  - username: alice
    custom_id: alice-001
acls:
  - consumer: alice
    group: admins
basicauth_credentials:
  - consumer: {username: alice}
    username: alice
    password: s3cret
keyauth_credentials:
  - consumer: alice
    key: alice-key
plugins:
  - name: prometheus
  - name: key-auth
    service: orders
  - name: rate-limiting
    route: orders-api
    config: {policy: local, minute: 10}
routes:
  - name: users-api
    service: {name: users}
    paths: [/users]
  - name: orders-api
    service: orders
    methods: [GET, POST]
    paths: [/orders]
services:
  - name: users
    host: users.internal
  - name: orders
    protocol: http
    host: orders.internal
    port: 8080
    path: /v1
    tags: [shop]
targets:
  - upstream: orders.internal
    target: 10.0.0.2:8000
    weight: 50
  - upstream: {name: orders.internal}
    target: 10.0.0.1:8080
upstreams:
  - name: orders.internal
`

var hex32Line = regexp.MustCompile(`^[0-9a-f]{32}\n$`)

// writeFile writes content to name in a new temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// configHash returns what `gantry config hash` prints for path, checking
// that it is exactly one 32-hex line.
func configHash(t *testing.T, path string) string {
	t.Helper()
	out, stderr, code := gantry(t, "config", "hash", path)
	if code != 0 || !hex32Line.MatchString(out) || stderr != "" {
		t.Fatalf("gantry config hash %s: exit %d, stdout %q, stderr %q", path, code, out, stderr)
	}
	return strings.TrimSpace(out)
}

func TestConfigValidate(t *testing.T) {
	valid := writeFile(t, "kong.yaml", nestedConfig)
	t.Run("valid", func(t *testing.T) {
		out, stderr, code := gantry(t, "config", "validate", valid)
		want := regexp.MustCompile(`^` + regexp.QuoteMeta(valid) + ` is valid: 14 entities, config hash ([0-9a-f]{32})\n$`)
		m := want.FindStringSubmatch(out)
		if code != 0 || m == nil || stderr != "" {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, stderr)
		}
		if h := configHash(t, valid); m[1] != h {
			t.Fatalf("validate says hash %s, hash says %s", m[1], h)
		}
	})

	bad := writeFile(t, "bad.yaml", `_format_version: "3.0"
services:
  - name: svc
    host: svc.internal
    port: 99999
routes:
  - name: r1
    paths: [/r1]
    service: nowhere
consumers:
  - username: alice
  - username: alice
`)
	t.Run("three invalid entities", func(t *testing.T) {
		out, stderr, code := gantry(t, "config", "validate", bad)
		if code != 1 || out != "" {
			t.Fatalf("exit %d, stdout %q, want 1 and nothing", code, out)
		}
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		want := []string{
			bad + ": 3 invalid entities",
			`services[0] (service "svc"): port: value should be between 0 and 65535 (got 99999)`,
			`routes[0] (route "r1"): service: the foreign key 'nowhere' does not reference an existing 'services' entity`,
			`consumers[1] (consumer "alice"): username: uniqueness violation: 'consumers' entity with username set to 'alice' already declared at consumers[0] (consumer "alice")`,
			"Error: " + bad + " is not a valid declarative config",
		}
		if !slices.Equal(lines, want) {
			t.Fatalf("stderr:\n%s\nwant:\n%s", stderr, strings.Join(want, "\n"))
		}
	})

	malformed := writeFile(t, "malformed.yaml", "_format_version: \"3.0\"\nservices:\n  - name: a\n    host: [x\n")
	t.Run("malformed YAML", func(t *testing.T) {
		out, stderr, code := gantry(t, "config", "validate", malformed)
		if code != 1 || out != "" || !strings.Contains(stderr, "invalid YAML at line 4") || !strings.Contains(stderr, malformed) {
			t.Fatalf("exit %d, stdout %q, stderr %q; want 1 and the file and line 4 named", code, out, stderr)
		}
	})

	t.Run("missing file", func(t *testing.T) {
		missing := filepath.Join(t.TempDir(), "none.yaml")
		_, stderr, code := gantry(t, "config", "validate", missing)
		if code != 1 || !strings.Contains(stderr, missing) {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
	})
}

func TestConfigHash(t *testing.T) {
	nested := writeFile(t, "nested.yaml", nestedConfig)
	flat := writeFile(t, "flat.yaml", flatConfig)
	h := configHash(t, nested)
	if hf := configHash(t, flat); hf != h {
		t.Fatalf("nested hashes to %s, flat to %s", h, hf)
	}
	changed := writeFile(t, "changed.yaml", strings.Replace(nestedConfig, "weight: 50", "weight: 60", 1))
	if hc := configHash(t, changed); hc == h {
		t.Fatal("a changed target weight left the hash alike")
	}

	out, stderr, code := gantry(t, "config", "hash", "--groups", nested)
	if code != 0 || stderr != "" {
		t.Fatalf("hash --groups: exit %d, stderr %q", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 7 || lines[0] != h {
		t.Fatalf("hash --groups printed:\n%s\nwant the config hash %s then six groups", out, h)
	}
	group := regexp.MustCompile(`^(\S+) +([0-9a-f]{32})$`)
	seen := map[string]string{}
	var order []string
	for _, l := range lines[1:] {
		m := group.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("group line %q", l)
		}
		order = append(order, m[1])
		seen[m[1]] = m[2]
	}
	if want := []string{"routes", "services", "plugins", "upstreams", "targets", "rest"}; !slices.Equal(order, want) {
		t.Fatalf("groups %v, want %v", order, want)
	}
	// Changing a target changes its group only.
	out, _, _ = gantry(t, "config", "hash", "--groups", changed)
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n")[1:] {
		m := group.FindStringSubmatch(l)
		if same := seen[m[1]] == m[2]; same == (m[1] == "targets") {
			t.Fatalf("group %s: %s before the change, %s after", m[1], seen[m[1]], m[2])
		}
	}
}

func TestConfigImportExport(t *testing.T) {
	prefix := t.TempDir()
	file := writeFile(t, "kong.yaml", nestedConfig)
	hash := configHash(t, file)

	// import needs a store: a prefix no node ever used is refused, and
	// left without one.
	_, stderr, code := gantry(t, "config", "import", file, "-p", prefix)
	if code != 1 || !strings.Contains(stderr, "no store at "+filepath.Join(prefix, "gantry.db")) {
		t.Fatalf("import into an empty prefix: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(prefix, "gantry.db")); !os.IsNotExist(err) {
		t.Fatalf("refused import left a store behind: %v", err)
	}

	conf := writeConf(t, prefix)
	startNode(t, conf).stop(t)

	wantImport := "imported 14 entities: config version 1, config hash " + hash + "\n"
	for range 2 { // the second import changes nothing: same version
		out, stderr, code := gantry(t, "config", "import", file, "-p", prefix)
		if code != 0 || out != wantImport || stderr != "" {
			t.Fatalf("import: exit %d, stdout %q, stderr %q; want %q", code, out, stderr, wantImport)
		}
	}

	dir := t.TempDir()
	exports := []struct {
		name string
		args []string
		file string
		// check looks at the exported document.
		check func(t *testing.T, data []byte)
	}{
		{"yaml nested", nil, "export.yaml", func(t *testing.T, data []byte) {
			keys := topLevelKeys(t, data)
			if !slices.Contains(keys, "services") || slices.Contains(keys, "routes") || slices.Contains(keys, "targets") {
				t.Fatalf("nested export has top-level keys %v", keys)
			}
		}},
		{"yaml flat", []string{"--flat"}, "export-flat.yaml", func(t *testing.T, data []byte) {
			keys := topLevelKeys(t, data)
			for _, k := range []string{"services", "routes", "plugins", "upstreams", "targets", "consumers", "keyauth_credentials", "basicauth_credentials", "acls"} {
				if !slices.Contains(keys, k) {
					t.Fatalf("flat export has top-level keys %v, without %s", keys, k)
				}
			}
		}},
		{"json", []string{"--format", "json"}, "export.json", func(t *testing.T, data []byte) {
			var doc map[string]any
			if err := json.Unmarshal(data, &doc); err != nil || doc["_format_version"] != "3.0" {
				t.Fatalf("json export: %v, _format_version %v", err, doc["_format_version"])
			}
		}},
	}
	for _, ex := range exports {
		t.Run(ex.name, func(t *testing.T) {
			out, stderr, code := gantry(t, append([]string{"config", "export", "-p", prefix}, ex.args...)...)
			if code != 0 || stderr != "" || out == "" {
				t.Fatalf("export: exit %d, stderr %q, %d bytes", code, stderr, len(out))
			}
			ex.check(t, []byte(out))
			path := filepath.Join(dir, ex.file)
			if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			if h := configHash(t, path); h != hash {
				t.Fatalf("exported file hashes to %s, imported one to %s:\n%s", h, hash, out)
			}
		})
	}
	t.Run("to a file", func(t *testing.T) {
		path := filepath.Join(dir, "out.yaml")
		out, stderr, code := gantry(t, "config", "export", "-p", prefix, "-o", path)
		if code != 0 || out != "" || stderr != "" {
			t.Fatalf("export -o: exit %d, stdout %q, stderr %q", code, out, stderr)
		}
		if h := configHash(t, path); h != hash {
			t.Fatalf("exported file hashes to %s, want %s", h, hash)
		}
	})
	t.Run("bad format", func(t *testing.T) {
		_, stderr, code := gantry(t, "config", "export", "-p", prefix, "--format", "toml")
		if code != 1 || !strings.Contains(stderr, `"toml"`) {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
	})

	// A node started on the prefix serves what was imported, and export
	// works beside it.
	p := startNode(t, conf)
	for _, path := range []string{"/services/orders", "/services/users", "/routes/orders-api", "/consumers/alice",
		"/upstreams/orders.internal", "/upstreams/orders.internal/targets/10.0.0.2:8000", "/key-auths/alice-key"} {
		if res := call(t, "GET", p.admin+path, nil); res.status != 200 {
			t.Fatalf("GET %s: %d %v", path, res.status, res.body)
		}
	}
	svc := call(t, "GET", p.admin+"/services/orders", nil)
	if svc.body["host"] != "orders.internal" || svc.body["port"] != float64(8080) || svc.body["path"] != "/v1" {
		t.Fatalf("service orders: %v", svc.body)
	}
	out, stderr, code := gantry(t, "config", "export", "-p", prefix, "-o", filepath.Join(dir, "live.yaml"))
	if code != 0 || out != "" || stderr != "" {
		t.Fatalf("export beside a running node: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if h := configHash(t, filepath.Join(dir, "live.yaml")); h != hash {
		t.Fatalf("export beside a running node hashes to %s, want %s", h, hash)
	}
	p.stop(t)
}

// topLevelKeys returns the keys of a YAML document's top-level mapping.
func topLevelKeys(t *testing.T, data []byte) []string {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("exported YAML: %v\n%s", err, data)
	}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestVersionAndUnknownCommands(t *testing.T) {
	out, stderr, code := gantry(t, "version")
	if code != 0 || stderr != "" || !regexp.MustCompile(`^gantry \S+ \(Kong \d+\.\d+\.\d+ compatible\)\n$`).MatchString(out) {
		t.Fatalf("version: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"bogus"}, `Error: unknown command "bogus" for "gantry"`},
		{[]string{"config", "improt", "kong.yaml"}, `Error: unknown command "improt" for "gantry config"`},
		{[]string{"--bogus"}, "Error: unknown flag: --bogus"},
		{[]string{"config", "hash"}, "Error: accepts 1 arg(s), received 0"},
		{[]string{"version", "extra"}, `Error: unknown command "extra" for "gantry version"`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, stderr, code := gantry(t, tc.args...)
			if code == 0 || out != "" || !strings.HasPrefix(stderr, tc.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want non-zero and %q", code, out, stderr, tc.want)
			}
		})
	}
}
