package atomicfile

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// temps lists the temporary files of writes in dir.
func temps(t *testing.T, dir string) []string {
	t.Helper()
	left, err := filepath.Glob(filepath.Join(dir, ".*.tmp*"))
	if err != nil {
		t.Fatal(err)
	}
	return left
}

func TestWrite(t *testing.T) {
	tests := []struct {
		name     string
		existing []byte // nil: no file before the write
		data     []byte
		perm     os.FileMode
	}{
		{name: "new file", data: []byte("new\n"), perm: 0o644},
		{name: "private file", data: []byte("secret"), perm: 0o600},
		{name: "empty file", data: []byte{}, perm: 0o640},
		// An existing file with another mode is replaced, not reused.
		{name: "replaces existing", existing: []byte("old content, longer than the new"), data: []byte("new"), perm: 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "file.txt")
			if tt.existing != nil {
				if err := os.WriteFile(path, tt.existing, 0o666); err != nil {
					t.Fatal(err)
				}
			}
			if err := Write(path, tt.data, tt.perm); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.data) {
				t.Errorf("content %q, want %q", got, tt.data)
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if perm := info.Mode().Perm(); perm != tt.perm {
				t.Errorf("mode %o, want %o", perm, tt.perm)
			}
			if left := temps(t, dir); len(left) > 0 {
				t.Errorf("temporary files left behind: %v", left)
			}
		})
	}
}

func TestWriteFunc(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "stream")
	// More than the buffer, in small writes, to check that all is flushed.
	want := bytes.Repeat([]byte("0123456789abcdef"), 10000)
	err := WriteFunc(path, 0o600, func(w io.Writer) error {
		for chunk := range slices.Chunk(want, 7) {
			if _, err := w.Write(chunk); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("read back %d bytes, want %d", len(got), len(want))
	}
}

func TestWriteErrors(t *testing.T) {
	errFill := errors.New("fill failed")
	tests := []struct {
		name  string
		write func(dir string) (path string, err error)
		want  error // matched with errors.Is when set
	}{
		{"fill fails", func(dir string) (string, error) {
			path := filepath.Join(dir, "file")
			return path, WriteFunc(path, 0o644, func(w io.Writer) error {
				w.Write([]byte("half"))
				return errFill
			})
		}, errFill},
		{"directory missing", func(dir string) (string, error) {
			path := filepath.Join(dir, "missing", "file")
			return path, Write(path, []byte("x"), 0o644)
		}, fs.ErrNotExist},
		{"path is a directory", func(dir string) (string, error) {
			path := filepath.Join(dir, "sub")
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
			return path, Write(path, []byte("x"), 0o644)
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path, err := tt.write(dir)
			if err == nil {
				t.Fatal("succeeded, want an error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v, want one wrapping %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s", err, path)
			}
			if left := temps(t, dir); len(left) > 0 {
				t.Errorf("temporary files left behind: %v", left)
			}
		})
	}
}

// TestFailedWriteKeepsOld checks that a write that fails leaves the old
// file as it was.
func TestFailedWriteKeepsOld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	if err := Write(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := WriteFunc(path, 0o644, func(w io.Writer) error {
		w.Write([]byte("new"))
		return errors.New("fail")
	})
	if err == nil {
		t.Fatal("succeeded, want an error")
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "old" {
		t.Errorf("file holds %q (%v), want the old content", got, err)
	}
}

func TestRemoveStaleTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "file")
	old := time.Now().Add(-time.Hour)
	files := []struct {
		name     string
		old      bool
		wantKept bool
	}{
		{".file.tmp111", true, false}, // a crash's leftover
		{".file.tmp222", false, true}, // maybe another process's write in progress
		{".other.tmp333", true, true}, // another file's
		{"file", true, true},          // the file itself
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if f.old {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	RemoveStaleTemps(path, time.Now().Add(-10*time.Minute))
	for _, f := range files {
		_, err := os.Stat(filepath.Join(dir, f.name))
		if kept := err == nil; kept != f.wantKept {
			t.Errorf("%s kept = %v, want %v (%v)", f.name, kept, f.wantKept, err)
		}
	}
}
