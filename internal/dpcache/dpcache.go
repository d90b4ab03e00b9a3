// Package dpcache keeps a data plane's last applied configuration on disk,
// so that a data plane restarted while its control plane is away serves
// the configuration it served before, and so that an operator can copy
// that configuration to another node (gantry config export-cache and
// import-cache).
//
// A node's cache is one file, <prefix>/dp_cache/config.json.gz. The file
// is a gzip stream, whose CRC-32 and length trailer catch truncation and
// flipped bits, of one JSON object:
//
//	{
//	  "format": "gantry-dp-cache",
//	  "format_version": 1,
//	  "config_version": 12,
//	  "config_hash": "<32 hex: the config hash of config_table>",
//	  "hashes": {"config": "…", "routes": "…", …},
//	  "timestamp": 1763790000.123,
//	  "config_table": {<flat declarative configuration, compact JSON>},
//	  "sha256": "<64 hex: SHA-256 of the config_table bytes as written>"
//	}
//
// config_version is the control plane's config version (0 when unknown)
// and timestamp when the control plane took the snapshot, in seconds since
// the epoch; the other members are those of the Reconfigure message the
// configuration came in (package cluster).
//
// Reading a cache checks, in this order: the gzip stream to its end (at
// most MaxDecompressed bytes), the JSON, the format and its version, the
// SHA-256 of config_table, that config_table parses as a declarative
// configuration, and that it hashes to config_hash (and to the group
// hashes the file lists). A file that fails any check is never used: the
// error wraps ErrCorrupt and says what failed.
//
// Writes are atomic (package atomicfile): the file is written to a
// temporary file in the same directory, synced, renamed over the old one,
// and the directory synced, so a crash at any point leaves the old cache
// or the new one, never half a file.
package dpcache

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gantry-gw/gantry/internal/atomicfile"
	"github.com/gantry-gw/gantry/internal/cluster"
	"github.com/gantry-gw/gantry/internal/declarative"
)

// Names of the cache in a node's prefix.
const (
	// DirName is the directory in the prefix that holds the cache.
	DirName = "dp_cache"
	// FileName is the cache file's name, the one Kong's documentation
	// gives the data plane's configuration cache.
	FileName = "config.json.gz"
)

// The format this build writes and reads.
const (
	// Format is the value of the file's "format" member; it tells a
	// Gantry cache from any other gzip-compressed JSON.
	Format = "gantry-dp-cache"
	// FormatVersion is the value of "format_version". A reader refuses
	// versions it does not know rather than guess at their meaning.
	FormatVersion = 1
)

// MaxDecompressed bounds a cache file once decompressed (1 GiB), so that
// reading a damaged or hostile file cannot exhaust memory. It is far above
// any real configuration: Kong's data planes keep theirs in a 2 GB LMDB
// map by default, which also holds indexes.
const MaxDecompressed = 1 << 30

// staleTempAge is how old a temporary file must be for Save to take it
// for the leftover of a crash and remove it. A younger one may belong to
// a Save running in another process (import-cache while the node runs).
const staleTempAge = 10 * time.Minute

// ErrNoCache is returned by Load when the node has no cache file, and by
// ReadFile when the file does not exist: a data plane that never applied
// a configuration, or whose cache was deleted. Test for it with errors.Is.
var ErrNoCache = errors.New("no cached configuration")

// ErrCorrupt is wrapped by every error that says a cache file cannot be
// trusted: a broken gzip stream, bad JSON, an unknown format, a checksum
// or hash that does not match, a configuration that does not parse. Test
// for it with errors.Is; the error's message says what failed.
var ErrCorrupt = errors.New("dp cache is corrupt")

// corruptError reports a cache file that failed a check. It matches
// ErrCorrupt and unwraps to the cause, so a caller can test for either.
type corruptError struct {
	path string
	err  error
}

func (e *corruptError) Error() string {
	return "cache " + e.path + " is corrupt: " + e.err.Error()
}

func (e *corruptError) Is(target error) bool { return target == ErrCorrupt }

func (e *corruptError) Unwrap() error { return e.err }

// Entry is one cached configuration: what a data plane applied, with the
// identifiers the control plane sent it with.
type Entry struct {
	// ConfigVersion is the control plane's config version; 0 when unknown.
	ConfigVersion int64
	// ConfigHash is the config hash of ConfigTable, 32 hex characters.
	ConfigHash string
	// Hashes are the group hashes, keyed by group name (and "config", as
	// the control plane sends them).
	Hashes map[string]string
	// Timestamp is when the control plane took the snapshot, in seconds
	// since the epoch.
	Timestamp float64
	// ConfigTable is the configuration as a flat declarative JSON
	// document. It is stored compacted; Load returns it as stored.
	ConfigTable json.RawMessage
}

// file is the JSON object inside the gzip stream.
type file struct {
	Format        string            `json:"format"`
	FormatVersion int               `json:"format_version"`
	ConfigVersion int64             `json:"config_version"`
	ConfigHash    string            `json:"config_hash"`
	Hashes        map[string]string `json:"hashes"`
	Timestamp     float64           `json:"timestamp"`
	ConfigTable   json.RawMessage   `json:"config_table"`
	SHA256        string            `json:"sha256"`
}

// Cache is the cache file in one node's prefix. Its methods may be called
// from several goroutines; Saves are serialised.
type Cache struct {
	path string
	mu   sync.Mutex
}

// New returns the cache of the node whose prefix is prefix. Nothing is
// read or created until Load or Save.
func New(prefix string) *Cache {
	return &Cache{path: filepath.Join(prefix, DirName, FileName)}
}

// Path returns the cache file's path.
func (c *Cache) Path() string { return c.path }

// Save replaces the cache with e, atomically: the old cache stays whole
// until the new one is on disk. It creates the cache directory (mode
// 0700) when missing, writes the file with mode 0600 (a configuration
// holds credentials and private keys), and removes temporary files that
// an earlier Save left behind when the process died.
func (c *Cache) Save(e *Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	dir := filepath.Dir(c.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save cache: %w", err)
	}
	atomicfile.RemoveStaleTemps(c.path, time.Now().Add(-staleTempAge))
	if err := WriteFile(c.path, e); err != nil {
		return fmt.Errorf("save cache: %w", err)
	}
	return nil
}

// Load reads and checks the cache. It returns ErrNoCache when there is no
// cache file, and an error wrapping ErrCorrupt when the file fails a
// check; in both cases the caller starts without a cached configuration.
// On success it returns the entry and the configuration, parsed.
func (c *Cache) Load() (*Entry, *declarative.Config, error) {
	return ReadFile(c.path)
}

// ReadFile reads and checks a cache file at any path, as Load does: to
// import a file exported from another node. A missing file is ErrNoCache
// (and fs.ErrNotExist).
func ReadFile(path string) (*Entry, *declarative.Config, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("%w: %w", ErrNoCache, err)
		}
		return nil, nil, fmt.Errorf("read cache: %w", err)
	}
	defer f.Close()
	return read(f, path, MaxDecompressed)
}

// readRecorder records an error of the underlying reader, so that a
// failing disk is not reported as a corrupt file.
type readRecorder struct {
	r   io.Reader
	err error
}

func (r *readRecorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// read decodes and checks a cache file read from r, named path in errors,
// holding at most limit bytes once decompressed.
func read(r io.Reader, path string, limit int64) (*Entry, *declarative.Config, error) {
	corrupt := func(format string, args ...any) (*Entry, *declarative.Config, error) {
		return nil, nil, &corruptError{path: path, err: fmt.Errorf(format, args...)}
	}
	src := &readRecorder{r: r}
	data, err := decompress(bufio.NewReader(src), limit)
	if src.err != nil {
		return nil, nil, fmt.Errorf("read cache %s: %w", path, src.err)
	}
	if err != nil {
		return corrupt("%w", err)
	}

	var f file
	if err := decodeJSON(data, &f); err != nil {
		return corrupt("%w", err)
	}
	if f.Format != Format {
		return corrupt("format is %q, expected %q: not a Gantry data plane cache", f.Format, Format)
	}
	if f.FormatVersion != FormatVersion {
		return corrupt("format_version %d is not supported (this build reads version %d)", f.FormatVersion, FormatVersion)
	}
	if len(f.ConfigTable) == 0 || f.ConfigTable[0] != '{' {
		return corrupt("config_table: expected a JSON object")
	}
	if f.ConfigVersion < 0 {
		return corrupt("config_version %d is negative", f.ConfigVersion)
	}
	sum := sha256.Sum256(f.ConfigTable)
	if got := hex.EncodeToString(sum[:]); got != f.SHA256 {
		return corrupt("config_table has SHA-256 %s, the file says %q", got, f.SHA256)
	}
	cfg, err := declarative.Parse(f.ConfigTable)
	if err != nil {
		return corrupt("config_table is not a valid configuration: %s", summarize(err))
	}
	h := cfg.Hash()
	if h.Config != f.ConfigHash {
		return corrupt("config_table hashes to %s, the file says config_hash %q", h.Config, f.ConfigHash)
	}
	for _, name := range slices.Sorted(maps.Keys(f.Hashes)) {
		want := f.Hashes[name]
		got, known := h.Groups[name]
		if name == "config" {
			got, known = h.Config, true
		}
		if known && got != want {
			return corrupt("hashes.%s is %q, the configuration hashes to %s", name, want, got)
		}
	}
	return &Entry{
		ConfigVersion: f.ConfigVersion,
		ConfigHash:    f.ConfigHash,
		Hashes:        f.Hashes,
		Timestamp:     f.Timestamp,
		ConfigTable:   f.ConfigTable,
	}, cfg, nil
}

// gzipMagic are the first two bytes of every gzip stream.
var gzipMagic = []byte{0x1f, 0x8b}

// decompress reads the whole gzip stream from r, which checks its CRC-32
// and length, refusing more than limit bytes of output.
func decompress(r *bufio.Reader, limit int64) ([]byte, error) {
	magic, _ := r.Peek(len(gzipMagic))
	switch {
	case len(magic) == 0:
		return nil, errors.New("the file is empty")
	case !bytes.HasPrefix(gzipMagic, magic):
		return nil, errors.New("not a gzip stream (a cache file is gzip-compressed JSON)")
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, gzipError(err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, gzipError(err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("more than %s once decompressed", sizeString(limit))
	}
	return data, nil
}

// gzipError says which part of the gzip stream failed, once: the gzip
// package's own errors already start with "gzip: ".
func gzipError(err error) error {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("gzip: the stream is truncated: %w", err)
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader):
		return err
	}
	return fmt.Errorf("gzip: %w", err)
}

// decodeJSON decodes one JSON object into f and refuses anything after it.
// Unknown members are allowed: a later revision of format version 1 may
// add some.
func decodeJSON(data []byte, f *file) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(f); err != nil {
		return fmt.Errorf("JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("JSON: data after the object")
	}
	return nil
}

// summarize shortens a parse error to its first lines: a damaged file can
// make every entity invalid, and the log needs the gist, not thousands of
// lines.
func summarize(err error) string {
	const keep = 5
	lines := strings.Split(err.Error(), "\n")
	if len(lines) <= keep {
		return strings.Join(lines, "; ")
	}
	return fmt.Sprintf("%s; and %d more errors", strings.Join(lines[:keep], "; "), len(lines)-keep)
}

// sizeString renders a byte count in the largest binary unit that divides
// it.
func sizeString(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// WriteFile writes e as a cache file at path, atomically (temporary file,
// fsync, rename, fsync of the directory), with mode 0600. The directory
// must exist. It checks that e is well-formed (a config hash, a JSON
// object as ConfigTable) but does not parse the configuration: Save is on
// the path of every configuration a data plane applies, and that
// configuration was just parsed.
func WriteFile(path string, e *Entry) error {
	body, err := encode(e)
	if err != nil {
		return err
	}
	return atomicfile.WriteFunc(path, 0o600, func(w io.Writer) error {
		zw := gzip.NewWriter(w)
		for _, part := range body {
			if _, err := zw.Write(part); err != nil {
				return err
			}
		}
		return zw.Close()
	})
}

// encode renders e as the parts of the file's JSON object. The object is
// assembled by hand around config_table so that the bytes the SHA-256
// covers are exactly the bytes written, whatever the JSON encoder would
// do to a raw message.
func encode(e *Entry) ([][]byte, error) {
	if e == nil {
		return nil, errors.New("encode cache: no entry")
	}
	if !cluster.ValidHash(e.ConfigHash) {
		return nil, fmt.Errorf("encode cache: config_hash: expected 32 lowercase hexadecimal characters (got %q)", e.ConfigHash)
	}
	if e.ConfigVersion < 0 {
		return nil, fmt.Errorf("encode cache: config_version: must not be negative (got %d)", e.ConfigVersion)
	}
	var table bytes.Buffer
	if err := json.Compact(&table, e.ConfigTable); err != nil {
		return nil, fmt.Errorf("encode cache: config_table: %w", err)
	}
	if table.Len() == 0 || table.Bytes()[0] != '{' {
		return nil, errors.New("encode cache: config_table: expected a JSON object")
	}
	head, err := json.Marshal(file{
		Format:        Format,
		FormatVersion: FormatVersion,
		ConfigVersion: e.ConfigVersion,
		ConfigHash:    e.ConfigHash,
		Hashes:        e.Hashes,
		Timestamp:     e.Timestamp,
		ConfigTable:   json.RawMessage("{}"),
	})
	if err != nil {
		return nil, fmt.Errorf("encode cache: %w", err)
	}
	// head ends with `"config_table":{},"sha256":""}`; cut it there.
	const tail = `"config_table":{},"sha256":""}`
	if !bytes.HasSuffix(head, []byte(tail)) {
		return nil, errors.New("encode cache: unexpected JSON layout")
	}
	head = head[:len(head)-len(tail)]
	sum := sha256.Sum256(table.Bytes())
	return [][]byte{
		head,
		[]byte(`"config_table":`),
		table.Bytes(),
		[]byte(`,"sha256":"` + hex.EncodeToString(sum[:]) + `"}` + "\n"),
	}, nil
}
