package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-gw/gantry/internal/store"
)

// crashChildEnv carries the database path to the child process of
// TestKill9Durability; its presence makes TestKill9DurabilityChild run.
const crashChildEnv = "GANTRY_SQLITE_CRASH_CHILD_DB"

// recordsAt is how many records the Update producing version v writes:
// mostly one, every tenth a batch, so that the kill can land in a longer
// transaction too.
func recordsAt(v int64) int {
	if v%10 == 0 {
		return 40
	}
	return 1
}

func crashRecordID(v int64, j int) string { return fmt.Sprintf("v%08d-%02d", v, j) }

func crashRecordData(v int64, j int) []byte {
	return fmt.Appendf(nil, `{"version":%d,"j":%d}`, v, j)
}

// TestKill9DurabilityChild is the writer that TestKill9Durability kills: it
// commits Updates in a loop and prints "ack <version>" as soon as each
// returns. It runs only as that child process.
func TestKill9DurabilityChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		t.Skip("runs as the child process of TestKill9Durability")
	}
	b, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Bounded, so that a child whose parent died does not run forever.
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		v, err := b.Update(context.Background(), func(w store.Writer) error {
			base, err := w.Version()
			if err != nil {
				return err
			}
			v := base + 1
			for j := range recordsAt(v) {
				err := w.Put(&store.Record{
					Type: "items", ID: crashRecordID(v, j), Data: crashRecordData(v, j),
					Keys: []string{"name:" + crashRecordID(v, j)}, Tags: []string{"crash"},
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fmt.Fprintf(os.Stdout, "ack %d\n", v); err != nil {
			return // the parent is gone
		}
	}
}

// TestKill9Durability kills a writing process with SIGKILL and checks that
// every version whose Update had returned is in the reopened store, whole,
// and that no version is there in part.
func TestKill9Durability(t *testing.T) {
	const acksBeforeKill = 100
	path := filepath.Join(t.TempDir(), "gantry.db")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestKill9DurabilityChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []int64
	killed := false
	lines := bufio.NewScanner(stdout)
	// The acks the child printed before it died are still in the pipe: read
	// to the end, they were acknowledged too.
	for lines.Scan() {
		v, ok := strings.CutPrefix(lines.Text(), "ack ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("child printed %q", lines.Text())
		}
		acked = append(acked, n)
		if !killed && len(acked) == acksBeforeKill {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatalf("kill: %v", err)
			}
			killed = true
		}
	}
	waitErr := cmd.Wait()
	var exitErr *exec.ExitError
	if !killed || !errors.As(waitErr, &exitErr) || exitErr.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended after %d acks, killed %v: %v\n%s", len(acked), killed, waitErr, stderr.String())
	}
	for i, v := range acked {
		if v != int64(i+1) {
			t.Fatalf("ack %d is version %d, want %d", i, v, i+1)
		}
	}
	last := acked[len(acked)-1]

	b, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer b.Close()
	var integrity string
	if err := b.writer.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("integrity check: %q, %v", integrity, err)
	}
	var version int64
	err = b.View(t.Context(), func(r store.Reader) error {
		if version, err = r.Version(); err != nil {
			return err
		}
		if version < last {
			t.Fatalf("version %d after the kill, but %d was acknowledged", version, last)
		}
		recs, err := r.List("items", store.Filter{})
		if err != nil {
			return err
		}
		byID := make(map[string]*store.Record, len(recs))
		for _, rec := range recs {
			byID[rec.ID] = rec
		}
		want := 0
		for v := int64(1); v <= version; v++ {
			for j := range recordsAt(v) {
				want++
				rec, ok := byID[crashRecordID(v, j)]
				if !ok || !bytes.Equal(rec.Data, crashRecordData(v, j)) {
					t.Errorf("version %d (last acknowledged %d): record %s missing or wrong", v, last, crashRecordID(v, j))
				}
			}
		}
		if len(recs) != want {
			t.Errorf("%d records, want %d: a version beyond %d is there in part", len(recs), want, version)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := b.Changes(t.Context(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantChanges := 0
	for v := int64(1); v <= version; v++ {
		wantChanges += recordsAt(v)
	}
	if len(cs) != wantChanges || cs[len(cs)-1].Version != version {
		t.Errorf("%d change-log entries up to version %d, want %d up to %d", len(cs), cs[len(cs)-1].Version, wantChanges, version)
	}
	t.Logf("killed after %d acknowledged versions; the store holds version %d", last, version)
}
