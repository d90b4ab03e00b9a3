// Package sqlite is the embedded backend of the control plane's store: one
// SQLite file (pure Go driver, no cgo) in write-ahead-log mode, so the
// quickstart needs no database server.
//
// Writes go through a single connection in BEGIN IMMEDIATE transactions with
// synchronous=FULL: an Update that returned has been fsynced to the WAL and
// survives a crash of the process or, as far as SQLite and the disk can
// promise it, a power loss. Reads go through a separate pool of read-only
// connections, each View a read transaction on a WAL snapshot, so readers
// never wait for the writer nor the writer for them.
//
// Records are stored as opaque JSON with their index entries (keys,
// references, tags) in lookup tables beside them; see schema.go.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gantry-gw/gantry/internal/store"
)

// Page cache sizes, in KiB, of the writer and of each reader connection.
// SQLite's default of 2 MiB makes a large Update spill dirty pages to the
// WAL and read them back; the cache only grows as pages are used, so a small
// store costs no more than its size.
const (
	writerCacheKiB = 64 << 10
	readerCacheKiB = 16 << 10
)

// Options tune a Backend; the zero value is ready to use.
type Options struct {
	// Logger receives schema migrations; nil discards them.
	Logger *slog.Logger
	// ReadConns caps the connections serving View and Changes; 0 means
	// max(4, GOMAXPROCS). Each open View holds one until it returns.
	ReadConns int
	// BusyTimeout is how long a statement waits for a lock held by another
	// process using the same file before failing; 0 means 5 s.
	BusyTimeout time.Duration
}

// Backend is a store.Backend kept in one SQLite file. It is safe for
// concurrent use; Updates run one at a time, Views run concurrently with
// them and with each other.
type Backend struct {
	path       string
	writer     *sql.DB // one connection: the only writer
	readers    *sql.DB // read-only connections for View and Changes
	writeStmts *statements
	readStmts  *statements
}

var _ store.Backend = (*Backend)(nil)

// Open opens the store in the SQLite file at path, creating the file and
// its schema if absent and migrating an older schema. It refuses, naming
// path, a file that is not an SQLite database, a corrupted one, another
// application's database and a schema newer than this build.
func Open(path string, opts Options) (*Backend, error) {
	b, err := open(path, opts)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return b, nil
}

func open(path string, opts Options) (_ *Backend, err error) {
	if path == "" {
		return nil, errors.New("no path given")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(abs); err == nil && fi.IsDir() {
		return nil, errors.New("is a directory")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	log = log.With("path", abs)
	busy := opts.BusyTimeout
	if busy <= 0 {
		busy = 5 * time.Second
	}
	readConns := opts.ReadConns
	if readConns <= 0 {
		readConns = max(4, runtime.GOMAXPROCS(0))
	}

	b := &Backend{path: abs}
	defer func() {
		if err != nil {
			err = errors.Join(err, b.Close())
		}
	}()
	ctx := context.Background()
	common := url.Values{
		"_busy_timeout": {strconv.FormatInt(busy.Milliseconds(), 10)},
		"_synchronous":  {"FULL"},
	}

	writerParams := cloneValues(common)
	writerParams.Set("_txlock", "immediate")
	writerParams.Set("_pragma", fmt.Sprintf("cache_size(%d)", -writerCacheKiB))
	if b.writer, err = sql.Open("sqlite", dsn(abs, writerParams)); err != nil {
		return nil, err
	}
	b.writer.SetMaxOpenConns(1)
	if err := b.writer.PingContext(ctx); err != nil {
		return nil, explain(err)
	}
	if err := quickCheck(ctx, b.writer); err != nil {
		return nil, err
	}
	// The schema is checked, and created, before the file is switched to
	// WAL: the switch is persistent and must not touch a file that is not
	// a Gantry store.
	if err := migrate(ctx, b.writer, log); err != nil {
		return nil, explain(err)
	}
	if err := enableWAL(ctx, b.writer); err != nil {
		return nil, err
	}
	// SQLite syncs the directory when it creates the WAL, not when it
	// creates the database file; do it so a new store survives power loss.
	if err := syncDir(filepath.Dir(abs)); err != nil {
		return nil, err
	}
	if b.writeStmts, err = prepareStatements(ctx, b.writer, numStmts); err != nil {
		return nil, err
	}

	readerParams := cloneValues(common)
	readerParams.Set("_query_only", "1")
	readerParams.Set("_pragma", fmt.Sprintf("cache_size(%d)", -readerCacheKiB))
	if b.readers, err = sql.Open("sqlite", dsn(abs, readerParams)); err != nil {
		return nil, err
	}
	b.readers.SetMaxOpenConns(readConns)
	// Idle connections are kept, with the statements prepared on them.
	b.readers.SetMaxIdleConns(readConns)
	if b.readStmts, err = prepareStatements(ctx, b.readers, numReadStmts); err != nil {
		return nil, err
	}
	return b, nil
}

// dsn is the driver's name for the database at path: a file: URI, so that
// any character in the path is escaped rather than taken for the start of
// the parameters.
func dsn(path string, params url.Values) string {
	u := url.URL{Scheme: "file", Path: path, RawQuery: params.Encode()}
	return u.String()
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// quickCheck runs SQLite's quick integrity check, so that a damaged file is
// refused at start-up rather than failing some later request. It reads the
// whole file: a few milliseconds for a configuration store.
func quickCheck(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, "PRAGMA quick_check(5)")
	if err != nil {
		return explain(err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var report string
		if err := rows.Scan(&report); err != nil {
			return explain(err)
		}
		for _, line := range strings.Split(report, "\n") {
			if line = strings.TrimSpace(line); line != "" && line != "ok" {
				problems = append(problems, line)
			}
		}
	}
	if err := rows.Err(); err != nil {
		return explain(err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("database file is corrupt: %s", strings.Join(problems, "; "))
	}
	return nil
}

// enableWAL switches the file to write-ahead logging, which the durability
// of commits and the concurrency of readers with the writer rely on. The
// mode is persistent: every later connection to the file uses it.
func enableWAL(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return fmt.Errorf("enable WAL: %w", explain(err))
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, not WAL (does the file system support it?)", mode)
	}
	return nil
}

// explain prefixes the SQLite errors a damaged or foreign file produces
// with what they mean for the operator.
func explain(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_NOTADB:
		return fmt.Errorf("not an SQLite database, or its header is damaged: %w", err)
	case sqlite3.SQLITE_CORRUPT:
		return fmt.Errorf("database file is corrupt: %w", err)
	case sqlite3.SQLITE_CANTOPEN:
		return fmt.Errorf("cannot open or create the file (does its directory exist, is it writable?): %w", err)
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// View runs fn against a read-only snapshot taken when View is called:
// writes committed while fn runs are not visible to it. The snapshot holds a
// reader connection, and keeps the WAL from being checkpointed past it, until
// fn returns, so fn should not linger.
func (b *Backend) View(ctx context.Context, fn func(store.Reader) error) error {
	tx, err := b.readers.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("view: begin: %w", err)
	}
	defer tx.Rollback() // read-only: nothing to commit
	r := &reader{txStatements: txStatements{ctx: ctx, tx: tx, pool: b.readStmts}}
	if err := r.begin(); err != nil {
		return fmt.Errorf("view: %w", err)
	}
	return fn(r)
}

// Update runs fn in the write transaction and returns the config version
// after it. When fn changed something, the version advances by one and the
// change log gains one entry per entity changed, all committed and fsynced
// before Update returns. An entry tells the net effect of the transaction:
// an entity created and then updated is logged once as created, one that
// existed and was deleted and put again as updated, and one created and then
// deleted not at all. When fn changed nothing, Update writes nothing and
// returns the current version. When fn returns an error, or a Put or Delete
// failed in a way that may have left it half done, nothing is written and
// Update returns that error.
//
// Reads through the Writer see the transaction's own writes; a View opened
// inside fn does not. Updates run one at a time, so fn must not call Update.
func (b *Backend) Update(ctx context.Context, fn func(store.Writer) error) (int64, error) {
	tx, err := b.writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("update: begin: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			tx.Rollback() // the Update failed or changed nothing
		}
	}()
	w := &writer{
		reader:   reader{txStatements: txStatements{ctx: ctx, tx: tx, pool: b.writeStmts}},
		byEntity: make(map[entityKey]int),
	}
	if err := w.begin(); err != nil {
		return 0, fmt.Errorf("update: %w", err)
	}
	if err := fn(w); err != nil {
		return 0, err
	}
	if w.failed != nil {
		return 0, fmt.Errorf("update: %w", w.failed)
	}
	next := w.version + 1
	changed, err := w.logChanges(next)
	if err != nil {
		return 0, fmt.Errorf("update: %w", err)
	}
	if !changed {
		return w.version, nil
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("update: commit version %d: %w", next, err)
	}
	committed = true
	return next, nil
}

// Changes returns the change-log entries with a version greater than since,
// in version order and, within a version, in the order the Update first
// changed each entity; at most limit of them, or all for 0.
func (b *Backend) Changes(ctx context.Context, since int64, limit int) ([]store.Change, error) {
	if limit < 0 {
		return nil, fmt.Errorf("changes since %d: negative limit %d", since, limit)
	}
	sqlLimit := int64(-1) // SQLite: no limit
	if limit > 0 {
		sqlLimit = int64(limit)
	}
	rows, err := b.readStmts.fixed[stmtChanges].QueryContext(ctx, since, sqlLimit)
	if err != nil {
		return nil, fmt.Errorf("changes since %d: %w", since, err)
	}
	defer rows.Close()
	var out []store.Change
	for rows.Next() {
		var (
			c  store.Change
			op string
		)
		if err := rows.Scan(&c.Version, &c.Type, &c.ID, &op); err != nil {
			return nil, fmt.Errorf("changes since %d: %w", since, err)
		}
		c.Op = store.Op(op)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("changes since %d: %w", since, err)
	}
	return out, nil
}

// Close closes the connections; the last one to close checkpoints the WAL
// into the database file. Close waits for running Views and Updates to
// release their connections. Closing twice is harmless.
func (b *Backend) Close() error {
	var errs []error
	for _, s := range []*statements{b.readStmts, b.writeStmts} {
		if s != nil {
			errs = append(errs, s.close())
		}
	}
	for _, db := range []*sql.DB{b.readers, b.writer} {
		if db != nil {
			errs = append(errs, db.Close())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close store %s: %w", b.path, err)
	}
	return nil
}
