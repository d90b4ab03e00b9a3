package cli

import (
	"bytes"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-gw/gantry/internal/declarative"
	"github.com/gantry-gw/gantry/internal/dpcache"
)

const cacheYAML = `_format_version: "3.0"
services:
  - name: users
    url: http://users.internal:8080
    routes:
      - name: users-api
        paths: [/users]
consumers:
  - username: alice
    keyauth_credentials:
      - key: alice-key-0001
`

// cacheEntry builds the entry a data plane saves after applying yml.
func cacheEntry(t *testing.T, yml string, version int64) *dpcache.Entry {
	t.Helper()
	cfg, err := declarative.Parse([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	table, err := cfg.Encode(declarative.JSON, declarative.Flat)
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.Hash()
	hashes := maps.Clone(h.Groups)
	hashes["config"] = h.Config
	return &dpcache.Entry{ConfigVersion: version, ConfigHash: h.Config, Hashes: hashes, Timestamp: 1763790000, ConfigTable: table}
}

// nodeWithCache returns a prefix whose cache holds e (none when e is nil).
func nodeWithCache(t *testing.T, e *dpcache.Entry) string {
	t.Helper()
	prefix := t.TempDir()
	if e != nil {
		if err := dpcache.New(prefix).Save(e); err != nil {
			t.Fatal(err)
		}
	}
	return prefix
}

// runCLI runs the gantry command and returns its exit code and output.
func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// corruptCopy writes a copy of the cache in prefix with one byte flipped
// in its gzip checksum.
func corruptCopy(t *testing.T, prefix string) string {
	t.Helper()
	data, err := os.ReadFile(dpcache.New(prefix).Path())
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-6] ^= 0x40
	path := filepath.Join(t.TempDir(), "corrupt.json.gz")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestExportCache(t *testing.T) {
	e := cacheEntry(t, cacheYAML, 4)
	tests := []struct {
		name string
		// setup returns the arguments after "config export-cache" and
		// the file the export should write ("" when it should fail).
		setup   func(t *testing.T) (args []string, output string)
		wantOut []string // in stdout
		wantErr string   // in stderr; "" means success
	}{
		{
			name: "prefix and output",
			setup: func(t *testing.T) ([]string, string) {
				out := filepath.Join(t.TempDir(), "exported.json.gz")
				return []string{"-p", nodeWithCache(t, e), "-o", out}, out
			},
			wantOut: []string{"config version 4", "config hash " + e.ConfigHash, "4 entities", "taken by the control plane at 2025-11-22T05:40:00Z"},
		},
		{
			name: "default output in the working directory",
			setup: func(t *testing.T) ([]string, string) {
				prefix := nodeWithCache(t, e)
				dir := t.TempDir()
				t.Chdir(dir)
				return []string{"--prefix", prefix}, filepath.Join(dir, "config.json.gz")
			},
			wantOut: []string{"to config.json.gz"},
		},
		{
			name: "prefix from the conf file",
			setup: func(t *testing.T) ([]string, string) {
				confPath := filepath.Join(t.TempDir(), "gantry.conf")
				if err := os.WriteFile(confPath, []byte("prefix = "+nodeWithCache(t, e)+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				out := filepath.Join(t.TempDir(), "exported.json.gz")
				return []string{"-c", confPath, "-o", out}, out
			},
			wantOut: []string{"config hash " + e.ConfigHash},
		},
		{
			name: "no cache",
			setup: func(t *testing.T) ([]string, string) {
				return []string{"-p", nodeWithCache(t, nil), "-o", filepath.Join(t.TempDir(), "x.json.gz")}, ""
			},
			wantErr: "no cached configuration at ",
		},
		{
			name: "corrupt cache",
			setup: func(t *testing.T) ([]string, string) {
				prefix := nodeWithCache(t, e)
				c := dpcache.New(prefix)
				data, err := os.ReadFile(c.Path())
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(c.Path(), data[:len(data)-10], 0o600); err != nil {
					t.Fatal(err)
				}
				return []string{"-p", prefix, "-o", filepath.Join(t.TempDir(), "x.json.gz")}, ""
			},
			wantErr: "is corrupt: gzip: the stream is truncated",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, output := tt.setup(t)
			code, stdout, stderr := runCLI(append([]string{"config", "export-cache"}, args...)...)
			if tt.wantErr != "" {
				if code == 0 || !strings.Contains(stderr, tt.wantErr) {
					t.Fatalf("exit %d, stderr %q; want a failure with %q", code, stderr, tt.wantErr)
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, want := range tt.wantOut {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout %q, want %q in it", stdout, want)
				}
			}
			got, _, err := dpcache.ReadFile(output)
			if err != nil {
				t.Fatalf("the exported file: %v", err)
			}
			if got.ConfigHash != e.ConfigHash || got.ConfigVersion != e.ConfigVersion {
				t.Errorf("exported version %d hash %s, want %d %s", got.ConfigVersion, got.ConfigHash, e.ConfigVersion, e.ConfigHash)
			}
			info, err := os.Stat(output)
			if err != nil {
				t.Fatal(err)
			}
			if perm := info.Mode().Perm(); perm != 0o600 {
				t.Errorf("exported file mode %o, want 600", perm)
			}
		})
	}
}

func TestImportCache(t *testing.T) {
	old := cacheEntry(t, cacheYAML, 4)
	fresh := cacheEntry(t, strings.Replace(cacheYAML, "paths: [/users]", "paths: [/people]", 1), 9)
	exported := func(t *testing.T) string {
		path := filepath.Join(t.TempDir(), "config.json.gz")
		if err := dpcache.WriteFile(path, fresh); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name    string
		cached  *dpcache.Entry // the node's cache before the import
		file    func(t *testing.T) string
		prefix  func(t *testing.T, prefix string) string // the -p value (nil: the node's prefix)
		wantOut []string
		wantErr []string
	}{
		{
			name:    "into a node without a cache",
			file:    exported,
			wantOut: []string{"installed ", "config version 9", "config hash " + fresh.ConfigHash, "next start", "control plane's configuration replaces it"},
		},
		{
			name:    "over an existing cache",
			cached:  old,
			file:    exported,
			wantOut: []string{"config version 9"},
		},
		{
			name:   "corrupt file",
			cached: old,
			file: func(t *testing.T) string {
				return corruptCopy(t, nodeWithCache(t, fresh))
			},
			wantErr: []string{"refusing to import", "is corrupt: gzip: invalid checksum", "is unchanged"},
		},
		{
			name:   "a file that is not a cache",
			cached: old,
			file: func(t *testing.T) string {
				path := filepath.Join(t.TempDir(), "kong.yml")
				if err := os.WriteFile(path, []byte(cacheYAML), 0o600); err != nil {
					t.Fatal(err)
				}
				return path
			},
			wantErr: []string{"refusing to import", "is corrupt: not a gzip stream", "is unchanged"},
		},
		{
			name:    "missing file",
			cached:  old,
			file:    func(t *testing.T) string { return filepath.Join(t.TempDir(), "nothing.json.gz") },
			wantErr: []string{"refusing to import", "no such file"},
		},
		{
			name:    "prefix that does not exist",
			file:    exported,
			prefix:  func(_ *testing.T, prefix string) string { return filepath.Join(prefix, "typo") },
			wantErr: []string{"is not a directory"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := nodeWithCache(t, tt.cached)
			c := dpcache.New(prefix)
			before, _ := os.ReadFile(c.Path())
			p := prefix
			if tt.prefix != nil {
				p = tt.prefix(t, prefix)
			}
			code, stdout, stderr := runCLI("config", "import-cache", tt.file(t), "-p", p)
			if len(tt.wantErr) > 0 {
				if code == 0 {
					t.Fatalf("import succeeded: %s", stdout)
				}
				for _, want := range tt.wantErr {
					if !strings.Contains(stderr, want) {
						t.Errorf("stderr %q, want %q in it", stderr, want)
					}
				}
				after, err := os.ReadFile(c.Path())
				if tt.cached == nil {
					if !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("a refused import left a cache behind (%v)", err)
					}
				} else if !bytes.Equal(before, after) {
					t.Error("a refused import changed the cache")
				}
				if tt.prefix != nil {
					if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("the mistyped prefix %s was created (%v)", p, err)
					}
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			for _, want := range tt.wantOut {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout %q, want %q in it", stdout, want)
				}
			}
			got, cfg, err := c.Load()
			if err != nil {
				t.Fatalf("the installed cache: %v", err)
			}
			if got.ConfigHash != fresh.ConfigHash || got.ConfigVersion != fresh.ConfigVersion || cfg.Hash().Config != fresh.ConfigHash {
				t.Errorf("installed version %d hash %s, want %d %s", got.ConfigVersion, got.ConfigHash, fresh.ConfigVersion, fresh.ConfigHash)
			}
		})
	}
}

// TestCacheExportImport copies a cache from one node to another, as the
// FAQ suggests for a node that cannot reach its control plane.
func TestCacheExportImport(t *testing.T) {
	e := cacheEntry(t, cacheYAML, 12)
	from := nodeWithCache(t, e)
	to := nodeWithCache(t, nil)
	file := filepath.Join(t.TempDir(), "config.json.gz")
	if code, _, stderr := runCLI("config", "export-cache", "-p", from, "-o", file); code != 0 {
		t.Fatalf("export-cache: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI("config", "import-cache", file, "-p", to); code != 0 {
		t.Fatalf("import-cache: exit %d: %s", code, stderr)
	}
	a, err := os.ReadFile(dpcache.New(from).Path())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dpcache.New(to).Path())
	if err != nil {
		t.Fatal(err)
	}
	ea, _, errA := dpcache.ReadFile(dpcache.New(from).Path())
	eb, _, errB := dpcache.ReadFile(dpcache.New(to).Path())
	if errA != nil || errB != nil {
		t.Fatalf("reading the caches back: %v, %v", errA, errB)
	}
	if !bytes.Equal(ea.ConfigTable, eb.ConfigTable) || ea.ConfigHash != eb.ConfigHash || ea.ConfigVersion != eb.ConfigVersion ||
		ea.Timestamp != eb.Timestamp || !maps.Equal(ea.Hashes, eb.Hashes) {
		t.Errorf("the imported cache differs from the exported one (%d and %d bytes)", len(a), len(b))
	}
}
