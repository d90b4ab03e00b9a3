package dpcache

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/gantry-gw/gantry/internal/declarative"
)

// testYAML is a small configuration with an entity of most kinds,
// including a basic-auth credential, whose password Parse hashes: the
// cache must read it back to the same config hash.
const testYAML = `_format_version: "3.0"
services:
  - name: users
    url: http://users.internal:8080/v1
    routes:
      - name: users-api
        paths: [/users]
        plugins:
          - name: key-auth
upstreams:
  - name: users.internal
    targets:
      - target: 127.0.0.1:8080
consumers:
  - username: alice
    keyauth_credentials:
      - key: alice-key-0001
    basicauth_credentials:
      - username: alice
        password: s3cret
plugins:
  - name: prometheus
`

// newEntry builds the entry a data plane would save after applying the
// configuration in yml, as the control plane sends it: flat declarative
// JSON with its hashes.
func newEntry(t testing.TB, yml string, version int64) *Entry {
	t.Helper()
	cfg, err := declarative.Parse([]byte(yml))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	table, err := cfg.Encode(declarative.JSON, declarative.Flat)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	h := cfg.Hash()
	hashes := maps.Clone(h.Groups)
	hashes["config"] = h.Config
	return &Entry{
		ConfigVersion: version,
		ConfigHash:    h.Config,
		Hashes:        hashes,
		Timestamp:     1763790000.25,
		ConfigTable:   table,
	}
}

// compact returns data as compact JSON.
func compact(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		t.Fatalf("compact: %v", err)
	}
	return b.Bytes()
}

// checkEntry fails unless got is want, as Load returns it.
func checkEntry(t *testing.T, got, want *Entry) {
	t.Helper()
	if got.ConfigVersion != want.ConfigVersion || got.ConfigHash != want.ConfigHash || got.Timestamp != want.Timestamp {
		t.Errorf("got version %d hash %s timestamp %v, want %d %s %v",
			got.ConfigVersion, got.ConfigHash, got.Timestamp, want.ConfigVersion, want.ConfigHash, want.Timestamp)
	}
	if !maps.Equal(got.Hashes, want.Hashes) {
		t.Errorf("hashes %v, want %v", got.Hashes, want.Hashes)
	}
	if !bytes.Equal(got.ConfigTable, compact(t, want.ConfigTable)) {
		t.Errorf("config_table differs:\n%s\nwant\n%s", got.ConfigTable, compact(t, want.ConfigTable))
	}
}

// saved returns the bytes of a cache file holding e.
func saved(t testing.TB, e *Entry) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	if err := WriteFile(path, e); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// gzipped compresses data as one gzip stream.
func gzipped(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// crafted writes a cache file by hand from the documented format,
// without this package's encoder: the members of e, the SHA-256 of
// table, then edit's changes.
func crafted(t testing.TB, e *Entry, table []byte, edit func(m map[string]any)) []byte {
	t.Helper()
	sum := sha256.Sum256(table)
	m := map[string]any{
		"format":         "gantry-dp-cache",
		"format_version": 1,
		"config_version": e.ConfigVersion,
		"config_hash":    e.ConfigHash,
		"hashes":         e.Hashes,
		"timestamp":      e.Timestamp,
		"config_table":   json.RawMessage(table),
		"sha256":         hex.EncodeToString(sum[:]),
	}
	if edit != nil {
		edit(m)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	return gzipped(t, b.Bytes())
}

// readBytes checks data as ReadFile checks a file.
func readBytes(t testing.TB, data []byte) (*Entry, *declarative.Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return ReadFile(path)
}

func TestSaveLoadRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		yml  string
	}{
		{"configuration", testYAML},
		{"empty configuration", "_format_version: \"3.0\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := t.TempDir()
			c := New(prefix)
			if want := filepath.Join(prefix, "dp_cache", "config.json.gz"); c.Path() != want {
				t.Fatalf("Path() = %s, want %s", c.Path(), want)
			}
			e := newEntry(t, tt.yml, 42)
			if err := c.Save(e); err != nil {
				t.Fatalf("Save: %v", err)
			}
			got, cfg, err := c.Load()
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			checkEntry(t, got, e)
			if h := cfg.Hash().Config; h != e.ConfigHash {
				t.Errorf("loaded config hashes to %s, want %s", h, e.ConfigHash)
			}

			info, err := os.Stat(c.Path())
			if err != nil {
				t.Fatal(err)
			}
			if perm := info.Mode().Perm(); perm != 0o600 {
				t.Errorf("file mode %o, want 600", perm)
			}
			dir, err := os.Stat(filepath.Dir(c.Path()))
			if err != nil {
				t.Fatal(err)
			}
			if perm := dir.Mode().Perm(); perm&0o077 != 0 {
				t.Errorf("directory mode %o, want 700", perm)
			}
		})
	}
}

// TestReadCrafted reads a file written by hand from the package comment,
// so the documented format and the code cannot drift apart.
func TestReadCrafted(t *testing.T) {
	e := newEntry(t, testYAML, 7)
	got, _, err := readBytes(t, crafted(t, e, compact(t, e.ConfigTable), func(m map[string]any) {
		m["written_by"] = "a later revision" // unknown members are allowed
	}))
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	checkEntry(t, got, e)
}

func TestLoadNoCache(t *testing.T) {
	tests := []struct {
		name string
		load func(dir string) error
	}{
		{"Load", func(dir string) error { _, _, err := New(dir).Load(); return err }},
		{"ReadFile", func(dir string) error { _, _, err := ReadFile(filepath.Join(dir, "nothing.gz")); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.load(t.TempDir())
			if !errors.Is(err, ErrNoCache) || !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("got %v, want ErrNoCache and fs.ErrNotExist", err)
			}
			if errors.Is(err, ErrCorrupt) {
				t.Errorf("a missing file is not corrupt: %v", err)
			}
		})
	}
}

func TestReadCorrupt(t *testing.T) {
	e := newEntry(t, testYAML, 3)
	table := compact(t, e.ConfigTable)
	good := saved(t, e)
	other := newEntry(t, strings.Replace(testYAML, "paths: [/users]", "paths: [/people]", 1), 3)
	otherTable := compact(t, other.ConfigTable)
	invalidTable := []byte(`{"_format_version":"3.0","routes":[{"paths":["no-slash"]}]}`)

	manyInvalid := []byte(`{"_format_version":"3.0","routes":[` + strings.Repeat(`{"paths":["x"]},`, 6) + `{"paths":["x"]}]}`)

	tests := []struct {
		name string
		data []byte
		want string // in the error message
	}{
		{"empty file", nil, "the file is empty"},
		{"garbage", []byte("this is not a gzip file at all"), "not a gzip stream"},
		{"gzip magic only", []byte{0x1f}, "gzip: the stream is truncated"},
		{"truncated", good[:len(good)/2], "truncated"},
		{"trailer flipped", func() []byte {
			b := bytes.Clone(good)
			b[len(b)-6] ^= 0x01 // inside the CRC-32
			return b
		}(), "gzip: invalid checksum"},
		{"garbage after the stream", append(bytes.Clone(good), "junk after the end of the stream"...), "gzip: invalid header"},
		{"not JSON", gzipped(t, []byte("hello")), "JSON"},
		{"a JSON array", gzipped(t, []byte(`[1, 2]`)), "JSON"},
		{"data after the object", gzipped(t, []byte(`{"format":"gantry-dp-cache"} {}`)), "data after the object"},
		{"another JSON object", gzipped(t, []byte(`{"_format_version":"3.0","services":[]}`)), `format is "", expected "gantry-dp-cache"`},
		{"other format", crafted(t, e, table, func(m map[string]any) { m["format"] = "kong" }), `format is "kong"`},
		{"newer format version", crafted(t, e, table, func(m map[string]any) { m["format_version"] = 2 }),
			"format_version 2 is not supported (this build reads version 1)"},
		{"no config_table", crafted(t, e, table, func(m map[string]any) { delete(m, "config_table") }),
			"config_table: expected a JSON object"},
		{"negative config_version", crafted(t, e, table, func(m map[string]any) { m["config_version"] = -1 }),
			"config_version -1 is negative"},
		{"config_table edited", crafted(t, e, table, func(m map[string]any) { m["config_table"] = json.RawMessage(otherTable) }),
			"config_table has SHA-256"},
		{"sha256 missing", crafted(t, e, table, func(m map[string]any) { delete(m, "sha256") }),
			"config_table has SHA-256"},
		{"config_table edited with its checksum", crafted(t, e, otherTable, nil),
			"config_table hashes to " + other.ConfigHash + `, the file says config_hash "` + e.ConfigHash + `"`},
		{"invalid configuration", crafted(t, e, invalidTable, nil), "config_table is not a valid configuration: routes[0]"},
		{"many invalid entities", crafted(t, e, manyInvalid, nil), "; and 2 more errors"},
		{"group hash wrong", crafted(t, e, table, func(m map[string]any) {
			h := maps.Clone(e.Hashes)
			h["routes"] = other.Hashes["routes"]
			m["hashes"] = h
		}), `hashes.routes is "` + other.Hashes["routes"] + `"`},
		{"hashes.config wrong", crafted(t, e, table, func(m map[string]any) {
			h := maps.Clone(e.Hashes)
			h["config"] = other.ConfigHash
			m["hashes"] = h
		}), "hashes.config is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			entry, cfg, err := ReadFile(path)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
			if entry != nil || cfg != nil {
				t.Errorf("a corrupt file returned an entry or a config")
			}
			prefix := "cache " + path + " is corrupt: "
			if msg := err.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tt.want) {
				t.Errorf("error %q, want %q followed by a message with %q", msg, prefix, tt.want)
			}
		})
	}
}

// TestCorruptCause checks that a corrupt file's error wraps its cause as
// well as ErrCorrupt.
func TestCorruptCause(t *testing.T) {
	b := saved(t, newEntry(t, testYAML, 3))
	b[len(b)-6] ^= 0x01
	_, _, err := read(bytes.NewReader(b), "c", MaxDecompressed)
	if !errors.Is(err, ErrCorrupt) || !errors.Is(err, gzip.ErrChecksum) {
		t.Fatalf("got %v, want ErrCorrupt wrapping gzip.ErrChecksum", err)
	}
}

// TestReadTruncated cuts a cache file at every length: each must be
// refused, since only the whole file has the gzip trailer.
func TestReadTruncated(t *testing.T) {
	good := saved(t, newEntry(t, testYAML, 3))
	for _, n := range []int{0, 1, 9, 10, len(good) / 3, len(good) - 8, len(good) - 1} {
		t.Run("cut at "+strconv.Itoa(n), func(t *testing.T) {
			if _, _, err := read(bytes.NewReader(good[:n]), "c", MaxDecompressed); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
		})
	}
	t.Run("every length", func(t *testing.T) {
		for n := range len(good) {
			if _, _, err := read(bytes.NewReader(good[:n]), "c", MaxDecompressed); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("cut at %d of %d: got %v, want ErrCorrupt", n, len(good), err)
			}
		}
	})
}

// TestReadFlippedByte flips one bit pattern at every offset. The file must
// be refused, or — where the flip only touches gzip header fields no
// checksum covers (modification time, OS) — read back exactly as written:
// a changed configuration must never be trusted.
func TestReadFlippedByte(t *testing.T) {
	e := newEntry(t, testYAML, 3)
	good := saved(t, e)
	for _, mask := range []byte{0x01, 0x80, 0xff} {
		t.Run("xor "+hex.EncodeToString([]byte{mask}), func(t *testing.T) {
			for off := range len(good) {
				b := bytes.Clone(good)
				b[off] ^= mask
				got, cfg, err := read(bytes.NewReader(b), "c", MaxDecompressed)
				if err != nil {
					if !errors.Is(err, ErrCorrupt) {
						t.Fatalf("offset %d: got %v, want ErrCorrupt", off, err)
					}
					continue
				}
				if !bytes.Equal(got.ConfigTable, compact(t, e.ConfigTable)) || got.ConfigHash != e.ConfigHash ||
					got.ConfigVersion != e.ConfigVersion || cfg.Hash().Config != e.ConfigHash {
					t.Fatalf("offset %d: a changed file was accepted with different content", off)
				}
			}
		})
	}
}

func TestReadLimit(t *testing.T) {
	good := saved(t, newEntry(t, testYAML, 3))
	_, _, err := read(bytes.NewReader(good), "c", 100)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "more than 100 bytes once decompressed") {
		t.Fatalf("got %v, want ErrCorrupt for the size", err)
	}
	if _, _, err := read(bytes.NewReader(good), "c", MaxDecompressed); err != nil {
		t.Fatalf("under the limit: %v", err)
	}
	for n, want := range map[int64]string{MaxDecompressed: "1 GiB", 16 << 20: "16 MiB", 64 << 10: "64 KiB", 1000: "1000 bytes", 3 << 29: "1536 MiB"} {
		if got := sizeString(n); got != want {
			t.Errorf("sizeString(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestReadIOError checks that a failing disk is reported as such, not as
// a corrupt file that the operator would delete.
func TestReadIOError(t *testing.T) {
	good := saved(t, newEntry(t, testYAML, 3))
	errDisk := errors.New("input/output error")
	r := io.MultiReader(bytes.NewReader(good[:len(good)/2]), iotest.ErrReader(errDisk))
	_, _, err := read(r, "c", MaxDecompressed)
	if !errors.Is(err, errDisk) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want the read error and not ErrCorrupt", err)
	}
}

func TestSaveReplaces(t *testing.T) {
	c := New(t.TempDir())
	first := newEntry(t, testYAML, 1)
	second := newEntry(t, strings.Replace(testYAML, "paths: [/users]", "paths: [/people]", 1), 2)
	if err := c.Save(first); err != nil {
		t.Fatal(err)
	}
	// A reader that opened the old file keeps reading the old file: Save
	// replaces it by renaming a new one over it, never by rewriting it.
	old, err := os.Open(c.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := c.Save(second); err != nil {
		t.Fatal(err)
	}
	got, _, err := c.Load()
	if err != nil {
		t.Fatal(err)
	}
	checkEntry(t, got, second)
	was, _, err := read(old, "old", MaxDecompressed)
	if err != nil {
		t.Fatalf("the old file, still open: %v", err)
	}
	checkEntry(t, was, first)

	entries, err := os.ReadDir(filepath.Dir(c.Path()))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != FileName {
		t.Errorf("cache directory holds %v, want only %s", entries, FileName)
	}
}

// TestSaveInvalidKeepsOld checks that a Save that fails leaves the old
// cache whole and no temporary file behind.
func TestSaveInvalidKeepsOld(t *testing.T) {
	good := newEntry(t, testYAML, 1)
	tests := []struct {
		name string
		e    *Entry
		want string
	}{
		{"no entry", nil, "no entry"},
		{"bad hash", &Entry{ConfigHash: "ABC", ConfigTable: good.ConfigTable}, "config_hash"},
		{"negative version", &Entry{ConfigVersion: -2, ConfigHash: good.ConfigHash, ConfigTable: good.ConfigTable}, "config_version"},
		{"table not JSON", &Entry{ConfigHash: good.ConfigHash, ConfigTable: json.RawMessage(`{"a":`)}, "config_table"},
		{"table not an object", &Entry{ConfigHash: good.ConfigHash, ConfigTable: json.RawMessage(`[]`)}, "expected a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(t.TempDir())
			if err := c.Save(good); err != nil {
				t.Fatal(err)
			}
			err := c.Save(tt.e)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error about %s", err, tt.want)
			}
			got, _, err := c.Load()
			if err != nil {
				t.Fatalf("the old cache: %v", err)
			}
			checkEntry(t, got, good)
			entries, _ := os.ReadDir(filepath.Dir(c.Path()))
			if len(entries) != 1 {
				t.Errorf("cache directory holds %v, want only %s", entries, FileName)
			}
		})
	}
}

// TestCrashLeftovers checks that temporary files left by a Save that died
// before its rename are ignored by Load, do not break Save, and are
// removed by Save once old enough not to belong to a Save in progress.
func TestCrashLeftovers(t *testing.T) {
	c := New(t.TempDir())
	dir := filepath.Dir(c.Path())
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	e := newEntry(t, testYAML, 5)
	good := saved(t, e)
	fresh := filepath.Join(dir, ".config.json.gz.tmp123456")
	stale := filepath.Join(dir, ".config.json.gz.tmp999999")
	for _, p := range []string{fresh, stale} {
		// Half a file, as a crash in the middle of a write leaves it.
		if err := os.WriteFile(p, good[:len(good)/2], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}

	if _, _, err := c.Load(); !errors.Is(err, ErrNoCache) {
		t.Fatalf("Load with only leftovers: got %v, want ErrNoCache", err)
	}
	if err := c.Save(e); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, _, err := c.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checkEntry(t, got, e)
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale leftover still there (%v)", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a recent temporary file, maybe another Save's, was removed: %v", err)
	}
}

func TestWriteErrors(t *testing.T) {
	e := newEntry(t, testYAML, 1)
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		save func() error
	}{
		{"WriteFile into a missing directory", func() error { return WriteFile(filepath.Join(dir, "missing", FileName), e) }},
		{"Save under a prefix that is a file", func() error { return New(notDir).Save(e) }},
		{"WriteFile over a directory", func() error { return WriteFile(dir, e) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.save(); err == nil {
				t.Fatal("succeeded, want an error")
			}
			left, err := filepath.Glob(filepath.Join(dir, ".*.tmp*"))
			if err != nil || len(left) > 0 {
				t.Errorf("temporary files left behind: %v (%v)", left, err)
			}
		})
	}
}

// TestCrashDuringSave kills a process that saves one configuration after
// another, at whatever point of a Save it is in, and checks that the
// cache it leaves is always one of the two, whole. The test runs itself
// as that process.
func TestCrashDuringSave(t *testing.T) {
	a := newEntry(t, testYAML, 1)
	b := newEntry(t, strings.Replace(testYAML, "paths: [/users]", "paths: [/people]", 1), 2)
	if prefix := os.Getenv("DPCACHE_TEST_CRASH_PREFIX"); prefix != "" {
		c := New(prefix)
		for i := 0; ; i++ {
			e := a
			if i%2 == 1 {
				e = b
			}
			if err := c.Save(e); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stdout.WriteString("saved\n"); err != nil {
				return
			}
		}
	}
	if testing.Short() {
		t.Skip("starts processes")
	}
	prefix := t.TempDir()
	for round := range 8 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDuringSave$")
		cmd.Env = append(os.Environ(), "DPCACHE_TEST_CRASH_PREFIX="+prefix)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Let it complete a few Saves, a different number each round,
		// then kill it in the middle of the next one.
		sc := bufio.NewScanner(out)
		for saves := 0; saves < 1+round%4 && sc.Scan(); {
			if sc.Text() == "saved" {
				saves++
			}
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, out)
		cmd.Wait()

		got, cfg, err := New(prefix).Load()
		if err != nil {
			t.Fatalf("round %d: the cache after a crash: %v", round, err)
		}
		if got.ConfigHash != a.ConfigHash && got.ConfigHash != b.ConfigHash || cfg.Hash().Config != got.ConfigHash {
			t.Fatalf("round %d: the cache holds neither configuration (%s)", round, got.ConfigHash)
		}
	}
}

func TestWriteFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "export.json.gz")
	// An existing file with a looser mode is replaced, not reused.
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, newEntry(t, testYAML, 1)); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("mode %o, want 600", perm)
	}
	if _, _, err := ReadFile(path); err != nil {
		t.Errorf("ReadFile: %v", err)
	}
}

// FuzzReadFile feeds the reader arbitrary bytes. It must never panic; it
// must refuse with ErrCorrupt whatever it does not accept; and whatever it
// accepts must be consistent: config_table matching its checksum and
// parsing to config_hash.
func FuzzReadFile(f *testing.F) {
	e := newEntry(f, testYAML, 9)
	good := saved(f, e)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(saved(f, newEntry(f, "_format_version: \"3.0\"\n", 0)))
	f.Add(crafted(f, e, compact(f, e.ConfigTable), func(m map[string]any) { m["format_version"] = 2 }))
	f.Add(gzipped(f, []byte(`{"format":"gantry-dp-cache","format_version":1,"config_table":{}}`)))
	f.Add([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, cfg, err := read(bytes.NewReader(data), "fuzz", 16<<20)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if got == nil || cfg == nil {
			t.Fatal("nil entry or config without an error")
		}
		if h := cfg.Hash().Config; h != got.ConfigHash {
			t.Fatalf("accepted a config hashing to %s with config_hash %s", h, got.ConfigHash)
		}
	})
}
