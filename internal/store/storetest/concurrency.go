package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gantry-gw/gantry/internal/store"
)

// testTimeout bounds the steps that would hang if a backend serialised
// readers behind the writer.
const testTimeout = 30 * time.Second

func withTimeout(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func testViewSnapshotIsolation(t *testing.T, b store.Backend) {
	old := record("services", "s1", "old", keys("name:old"), tags("t"))
	v1 := mustUpdate(t, b, put(old))
	next := record("services", "s1", "new", keys("name:new"))
	var v2 int64
	mustView(t, b, func(r store.Reader) error {
		var err error
		v2, err = b.Update(withTimeout(t), put(next, record("services", "s2", "1", tags("t"))))
		if err != nil {
			return fmt.Errorf("update while a view is open: %w", err)
		}
		if v, err := r.Version(); err != nil || v != v1 {
			t.Errorf("version: %d, %v; want %d", v, err, v1)
		}
		if got, err := r.Get("services", "s1"); err != nil || !sameRecord(got, old) {
			t.Errorf("get: %s, %v; want %s", formatRecord(got), err, formatRecord(old))
		}
		if id, err := r.Lookup("services", "name:old"); err != nil || id != "s1" {
			t.Errorf("lookup of the old key: %q, %v; want s1", id, err)
		}
		if _, err := r.Lookup("services", "name:new"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("lookup of the new key: %v, want ErrNotFound", err)
		}
		for _, f := range []store.Filter{{}, {Tags: []string{"t"}}} {
			recs, err := r.List("services", f)
			if err != nil || !slices.Equal(ids(recs), []string{"s1"}) {
				t.Errorf("list %+v: %v, %v; want [s1]", f, ids(recs), err)
			}
		}
		return nil
	})
	if v := currentVersion(t, b); v != v2 || v2 != v1+1 {
		t.Errorf("version after the view: %d, update returned %d; want %d", v, v2, v1+1)
	}
	if got, err := getRecord(t, b, "services", "s1"); err != nil || !sameRecord(got, next) {
		t.Errorf("new view: %s, %v; want %s", formatRecord(got), err, formatRecord(next))
	}
}

func testConcurrentReadersDuringWrite(t *testing.T, b store.Backend) {
	const readers, rounds = 8, 20
	oldData := record("services", "s1", "old").Data
	v1 := mustUpdate(t, b, put(record("services", "s1", "old")))
	ctx := withTimeout(t)

	written := make(chan struct{})
	release := make(chan struct{})
	// Released at the end, or by the cleanup if the scenario fails first.
	releaseWriter := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseWriter)
	type result struct {
		version int64
		err     error
	}
	done := make(chan result, 1)
	go func() {
		v, err := b.Update(ctx, func(w store.Writer) error {
			if err := put(record("services", "s1", "new"), record("services", "s2", "new"))(w); err != nil {
				return err
			}
			close(written)
			<-release
			return nil
		})
		done <- result{v, err}
	}()
	select {
	case <-written:
	case res := <-done:
		t.Fatalf("update ended before it was released: %d, %v", res.version, res.err)
	case <-ctx.Done():
		t.Fatal("update did not start")
	}

	errs := make(chan error, readers*rounds)
	var wg sync.WaitGroup
	for range readers {
		wg.Go(func() {
			for range rounds {
				errs <- b.View(ctx, func(r store.Reader) error {
					if v, err := r.Version(); err != nil || v != v1 {
						return fmt.Errorf("version %d, %v; want %d", v, err, v1)
					}
					got, err := r.Get("services", "s1")
					if err != nil || !bytes.Equal(got.Data, oldData) {
						return fmt.Errorf("uncommitted data visible: %v", err)
					}
					recs, err := r.List("services", store.Filter{})
					if err != nil || len(recs) != 1 {
						return fmt.Errorf("list: %v, %v; want [s1]", ids(recs), err)
					}
					return nil
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("view during a write: %v", err)
			break
		}
	}

	releaseWriter()
	res := <-done
	if res.err != nil || res.version != v1+1 {
		t.Fatalf("update: %d, %v; want %d", res.version, res.err, v1+1)
	}
	if got, err := getRecord(t, b, "services", "s1"); err != nil || string(got.Data) == string(oldData) {
		t.Errorf("after the write: %s, %v; want the new data", formatRecord(got), err)
	}
}

func testConcurrentUpdates(t *testing.T, b store.Backend) {
	const writers, perWriter = 8, 10
	ctx := withTimeout(t)
	versions := make(chan int64, writers*perWriter)
	var writing sync.WaitGroup
	for w := range writers {
		writing.Go(func() {
			for i := range perWriter {
				v, err := b.Update(ctx, put(record("services", fmt.Sprintf("w%d-%02d", w, i), "1")))
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				versions <- v
			}
		})
	}
	// Readers watch the version while the writers run: it never goes back.
	stop := make(chan struct{})
	var reading sync.WaitGroup
	for range 2 {
		reading.Go(func() {
			last := int64(0)
			for {
				select {
				case <-stop:
					return
				default:
				}
				err := b.View(ctx, func(r store.Reader) error {
					v, err := r.Version()
					if err != nil {
						return err
					}
					if v < last {
						return fmt.Errorf("version went back from %d to %d", last, v)
					}
					last = v
					return nil
				})
				if err != nil {
					t.Errorf("reader: %v", err)
					return
				}
			}
		})
	}
	writing.Wait()
	close(stop)
	reading.Wait()
	close(versions)

	var got []int64
	for v := range versions {
		got = append(got, v)
	}
	slices.Sort(got)
	want := make([]int64, writers*perWriter)
	for i := range want {
		want[i] = int64(i + 1)
	}
	if !slices.Equal(got, want) {
		t.Errorf("versions returned: %v, want 1..%d once each", got, len(want))
	}
	cs := changes(t, b, 0, 0)
	if len(cs) != len(want) {
		t.Fatalf("%d change-log entries, want %d", len(cs), len(want))
	}
	for i, c := range cs {
		if c.Version != int64(i+1) || c.Op != store.OpCreate {
			t.Errorf("change %d: %+v, want a create at version %d", i, c, i+1)
		}
	}
}

func testCanceledContext(t *testing.T, b store.Backend) {
	mustUpdate(t, b, put(record("services", "s1", "1")))
	before := snapshot(t, b, "services")

	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := b.Update(ctx, put(record("services", "s2", "1"))); !errors.Is(err, context.Canceled) {
			t.Errorf("update: %v, want context.Canceled", err)
		}
		if err := b.View(ctx, func(store.Reader) error { return nil }); !errors.Is(err, context.Canceled) {
			t.Errorf("view: %v, want context.Canceled", err)
		}
		if err := before.diff(snapshot(t, b, "services")); err != nil {
			t.Error(err)
		}
	})

	t.Run("during", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		_, err := b.Update(ctx, func(w store.Writer) error {
			if err := w.Put(record("services", "s2", "1")); err != nil {
				return err
			}
			cancel()
			// The backend may notice the cancellation here or at commit.
			_ = w.Put(record("services", "s3", "1"))
			return nil
		})
		if err == nil {
			t.Error("update whose context was canceled: no error")
		}
		if err := before.diff(snapshot(t, b, "services")); err != nil {
			t.Error(err)
		}
	})

	if v := mustUpdate(t, b, put(record("services", "s4", "1"))); v != before.version+1 {
		t.Errorf("version after canceled updates: %d, want %d", v, before.version+1)
	}
}
