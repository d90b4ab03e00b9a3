// Package atomicfile replaces files so that a crash cannot leave half of
// one: the new content goes to a temporary file in the same directory,
// which is synced, renamed over the old file, and the directory synced.
// After Write or WriteFunc returns nil the new content is durable; a crash
// at any point leaves the old file or the new one, never a mix of the two.
//
// The temporary files are named "." + the file's base name + ".tmp"
// followed by random digits. A process that dies between creating one and
// renaming it leaves it behind; nothing reads it, and RemoveStaleTemps
// clears such leftovers.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Write replaces path with data, with mode perm. The directory must exist.
func Write(path string, data []byte, perm os.FileMode) error {
	return WriteFunc(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFunc replaces path with what fill writes, with mode perm, for
// content produced as a stream (a gzip writer, an encoder). fill's writes
// are buffered. When fill fails, the temporary file is removed, path is
// left as it was, and the error is returned, wrapped. The directory must
// exist.
func WriteFunc(path string, perm os.FileMode, fill func(w io.Writer) error) error {
	if err := writeFunc(path, perm, fill); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeFunc is WriteFunc without the path in its errors.
func writeFunc(path string, perm os.FileMode, fill func(w io.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, tempPrefix(path)+"*")
	if err != nil {
		return err
	}
	renamed := false
	defer func() {
		if !renamed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// The mode is set before any content is written, so that a file
	// meant to be private never holds its content under a looser mode.
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	bw := bufio.NewWriterSize(tmp, 64<<10)
	if err := fill(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	renamed = true
	return syncDir(dir)
}

// RemoveStaleTemps removes the temporary files that writes of path left
// behind and that were last modified before cutoff. A cutoff well in the
// past spares the temporary file of a write running in another process.
// Errors are ignored: a leftover costs disk space, not correctness, since
// nothing reads it.
func RemoveStaleTemps(path string, cutoff time.Time) {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := tempPrefix(path)
	for _, de := range entries {
		if !strings.HasPrefix(de.Name(), prefix) || !de.Type().IsRegular() {
			continue
		}
		info, err := de.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			continue
		}
		os.Remove(filepath.Join(dir, de.Name()))
	}
}

// tempPrefix is the name prefix of the temporary files written next to
// path: hidden, and named after the file they will replace.
func tempPrefix(path string) string {
	return "." + filepath.Base(path) + ".tmp"
}

// syncDir flushes a directory, so that a rename in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
