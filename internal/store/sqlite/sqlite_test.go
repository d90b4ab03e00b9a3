package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gantry-gw/gantry/internal/store"
	"github.com/gantry-gw/gantry/internal/store/storetest"
)

func openTemp(t *testing.T) *Backend {
	t.Helper()
	b, err := Open(filepath.Join(t.TempDir(), "gantry.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBackend(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Backend { return openTemp(t) })
}

// TestCloseLeavesNoGoroutines checks that Close stops everything Open and
// use started.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	b := openTemp(t)
	if _, err := b.Update(t.Context(), func(w store.Writer) error {
		return w.Put(&store.Record{Type: "services", ID: "s1", Data: []byte(`{}`)})
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.View(t.Context(), func(r store.Reader) error { _, err := r.Get("services", "s1"); return err }); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond) // poll: goroutines end asynchronously
	}
}

func TestPragmas(t *testing.T) {
	b := openTemp(t)
	defer b.Close()
	tests := []struct {
		db     *sql.DB
		pragma string
		want   string
	}{
		{b.writer, "journal_mode", "wal"},
		{b.writer, "synchronous", "2"}, // FULL
		{b.writer, "busy_timeout", "5000"},
		{b.writer, "user_version", fmt.Sprint(len(migrations))},
		{b.writer, "application_id", fmt.Sprint(applicationID)},
		{b.readers, "query_only", "1"},
		{b.readers, "busy_timeout", "5000"},
	}
	for _, tt := range tests {
		var got string
		if err := tt.db.QueryRow("PRAGMA " + tt.pragma).Scan(&got); err != nil {
			t.Fatalf("%s: %v", tt.pragma, err)
		}
		if got != tt.want {
			t.Errorf("%s = %s, want %s", tt.pragma, got, tt.want)
		}
	}
}

func TestPersistsAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gantry.db")
	want := &store.Record{Type: "services", ID: "s1", Data: []byte(`{"name":"one"}`),
		Keys: []string{"name:one"}, Tags: []string{"t"},
		Refs: []store.Ref{{Type: "services", ID: "s1", Field: "client_certificate", To: "c1"}}}
	for round := range 3 {
		b, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		v, err := b.Update(t.Context(), func(w store.Writer) error {
			if round == 0 {
				if err := w.Put(want); err != nil {
					return err
				}
			}
			return w.Put(&store.Record{Type: "routes", ID: fmt.Sprintf("r%d", round), Data: []byte(`{}`)})
		})
		if err != nil || v != int64(round+1) {
			t.Fatalf("round %d: update: %d, %v", round, v, err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}

	b, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.View(t.Context(), func(r store.Reader) error {
		if v, _ := r.Version(); v != 3 {
			t.Errorf("version %d, want 3", v)
		}
		got, err := r.Get("services", "s1")
		if err != nil {
			return err
		}
		if string(got.Data) != string(want.Data) || fmt.Sprint(got.Keys, got.Tags, got.Refs) != fmt.Sprint(want.Keys, want.Tags, want.Refs) {
			t.Errorf("got %+v, want %+v", got, want)
		}
		if id, err := r.Lookup("services", "name:one"); err != nil || id != "s1" {
			t.Errorf("lookup: %q, %v", id, err)
		}
		routes, err := r.List("routes", store.Filter{})
		if err != nil || len(routes) != 3 {
			t.Errorf("routes: %d, %v; want 3", len(routes), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := b.Changes(t.Context(), 0, 0)
	if err != nil || len(cs) != 4 {
		t.Errorf("changes: %+v, %v; want 4", cs, err)
	}
}

func TestOpenRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	valid := func(name string) string {
		path := filepath.Join(dir, name)
		b, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.Update(t.Context(), func(w store.Writer) error {
			for i := range 200 {
				if err := w.Put(&store.Record{Type: "services", ID: fmt.Sprintf("s%03d", i), Data: []byte(strings.Repeat("x", 500)),
					Keys: []string{fmt.Sprintf("name:%d", i)}}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// corrupt overwrites n bytes at offset of a valid store.
	corrupt := func(name string, offset int64, n int) string {
		path := valid(name)
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte(strings.Repeat("\xa5", n)), offset); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	foreign := func(name string) string {
		path := filepath.Join(dir, name)
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec("CREATE TABLE songs (title TEXT)"); err != nil {
			t.Fatal(err)
		}
		return path
	}
	newer := func(name string) string {
		path := valid(name)
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", len(migrations)+1)); err != nil {
			t.Fatal(err)
		}
		return path
	}

	tests := []struct {
		name string
		path string
		want string
	}{
		{"text file", write("notes.txt", []byte(strings.Repeat("not a database\n", 300))), "not an SQLite database"},
		{"damaged header", corrupt("header.db", 0, 16), "not an SQLite database"},
		{"damaged pages", corrupt("pages.db", 4096, 8192), "corrupt"},
		{"another application's database", foreign("songs.db"), "not a Gantry store"},
		{"newer schema", newer("newer.db"), "newer than this build"},
		{"directory", dir, "is a directory"},
		{"missing parent directory", filepath.Join(dir, "nope", "gantry.db"), "open store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Open(tt.path, Options{})
			if err == nil {
				b.Close()
				t.Fatal("opened")
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tt.path) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name the path or say %q", err, tt.want)
			}
		})
	}
}

// TestForeignDatabaseUntouched checks that Open refuses another
// application's database before changing anything in it, its journal mode
// included.
func TestForeignDatabaseUntouched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "songs.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE songs (title TEXT)"); err != nil {
		t.Fatal(err)
	}
	if b, err := Open(path, Options{}); err == nil {
		b.Close()
		t.Fatal("opened another application's database")
	}
	var mode string
	var tables int
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if mode != "delete" || tables != 1 {
		t.Errorf("journal mode %q, %d schema objects; want delete, 1", mode, tables)
	}
}

func TestEmptyFileBecomesStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestInvalidFilters(t *testing.T) {
	b := openTemp(t)
	defer b.Close()
	filters := []store.Filter{
		{Limit: -1},
		{RefField: "service"},
	}
	for _, f := range filters {
		err := b.View(t.Context(), func(r store.Reader) error {
			_, err := r.List("routes", f)
			return err
		})
		if err == nil {
			t.Errorf("list %+v: no error", f)
		}
	}
	if _, err := b.Changes(t.Context(), 0, -1); err == nil {
		t.Error("changes with a negative limit: no error")
	}
}

// TestFailedWriteSpoilsTransaction checks that a Put or Delete that failed
// after it began writing makes Update roll back even if fn ignores it: the
// transaction could otherwise commit half a record.
func TestFailedWriteSpoilsTransaction(t *testing.T) {
	b := openTemp(t)
	defer b.Close()
	if _, err := b.writer.Exec(`CREATE TRIGGER refuse_tag BEFORE INSERT ON entity_tags
		WHEN NEW.tag = 'poison' BEGIN SELECT RAISE(ABORT, 'refused by test'); END`); err != nil {
		t.Fatal(err)
	}
	_, err := b.Update(t.Context(), func(w store.Writer) error {
		if err := w.Put(&store.Record{Type: "services", ID: "s1", Data: []byte(`{}`), Tags: []string{"poison"}}); err == nil {
			t.Error("put: no error")
		}
		if err := w.Put(&store.Record{Type: "services", ID: "s2", Data: []byte(`{}`)}); err == nil {
			t.Error("put after a failed write: no error")
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "refused by test") {
		t.Fatalf("update: %v, want the failed write", err)
	}
	err = b.View(t.Context(), func(r store.Reader) error {
		for _, id := range []string{"s1", "s2"} {
			if _, err := r.Get("services", id); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("get %s: %v, want ErrNotFound", id, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
