package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/gantry-gw/gantry/internal/admin"
	"github.com/gantry-gw/gantry/internal/entity"
	"github.com/gantry-gw/gantry/internal/store"
	"github.com/gantry-gw/gantry/internal/store/sqlite"
)

// openStore opens a fresh SQLite store in a temporary directory.
func openStore(b *testing.B) *store.Store {
	b.Helper()
	be, err := sqlite.Open(filepath.Join(b.TempDir(), "gantry.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	st := store.New(be)
	b.Cleanup(func() { st.Close() })
	return st
}

// BenchmarkAdminCreateService measures Admin API create throughput: a
// JSON POST /services over loopback HTTP with keep-alive, validated and
// committed durably (WAL, synchronous=FULL) before the 201. The floor it
// is compared with is BenchmarkDurableCommit, a bare one-record commit of
// the same store in the same run.
func BenchmarkAdminCreateService(b *testing.B) {
	for _, clients := range []int{1, 8} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			st := openStore(b)
			srv := httptest.NewServer(admin.New(admin.Options{Store: st}).Handler())
			defer srv.Close()
			client := srv.Client()
			client.Transport.(*http.Transport).MaxIdleConnsPerHost = clients
			var n atomic.Int64
			b.SetParallelism(clients)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					body := fmt.Sprintf(`{"name":"svc-%d","url":"http://svc-%d.internal:8080/v1","tags":["bench"]}`, i, i)
					res, err := client.Post(srv.URL+"/services", "application/json", bytes.NewBufferString(body))
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusCreated {
						b.Errorf("status %d", res.StatusCode)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
		})
	}
}

// BenchmarkDurableCommit is the storage floor under every Admin API write:
// one service inserted through the store in one durable transaction, with
// no HTTP and no JSON body to read.
func BenchmarkDurableCommit(b *testing.B) {
	st := openStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		_, err := st.Update(ctx, func(tx *store.Tx) error {
			_, err := tx.Insert(entity.Services, map[string]any{"name": fmt.Sprintf("svc-%d", i), "host": "h.internal"}, store.WriteOptions{})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}
