package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gantry-gw/gantry/internal/store"
)

// benchRecord is a route shaped like the ones the Admin API stores: about
// 400 bytes of JSON, a unique name, two tags and a reference to a service.
func benchRecord(id, service string, n int) *store.Record {
	name := fmt.Sprintf("route-%d", n)
	data := fmt.Appendf(nil, `{"id":%q,"name":%q,"protocols":["http","https"],"methods":null,"hosts":null,`+
		`"paths":["/api/v1/%d"],"headers":null,"https_redirect_status_code":426,"regex_priority":0,`+
		`"strip_path":true,"path_handling":"v0","preserve_host":false,"request_buffering":true,`+
		`"response_buffering":true,"tags":["bench","team-%d"],"service":{"id":%q},`+
		`"created_at":1700000000,"updated_at":1700000000}`, id, name, n, n%10, service)
	return &store.Record{
		Type: "routes", ID: id, Data: data,
		Keys: []string{"name:" + name},
		Tags: []string{"bench", fmt.Sprintf("team-%d", n%10)},
		Refs: []store.Ref{{Type: "routes", ID: id, Field: "service", To: service}},
	}
}

// cpuMeter reports the CPU time the process spent per op next to the wall
// time: on a shared machine the wall time of a benchmark also measures its
// neighbours, its CPU time much less so.
type cpuMeter struct {
	b     *testing.B
	start time.Duration
}

func meterCPU(b *testing.B) cpuMeter {
	return cpuMeter{b: b, start: processCPU(b)}
}

// stop reports cpu-ns/op, and cpu-ns/unit for units counted per op (the
// records of a bulk Update); call it after the b.Loop loop.
func (m cpuMeter) stop(perOp int, unit string) {
	ns := float64((processCPU(m.b) - m.start).Nanoseconds()) / float64(m.b.N)
	m.b.ReportMetric(ns, "cpu-ns/op")
	if perOp > 1 {
		m.b.ReportMetric(ns/float64(perOp), "cpu-ns/"+unit)
	}
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func openBench(b *testing.B) *Backend {
	b.Helper()
	be, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Close() })
	return be
}

// seed stores n routes spread over ten services and returns their ids.
func seed(b *testing.B, be *Backend, n int) (ids, services []string) {
	b.Helper()
	for range 10 {
		services = append(services, uuid.NewString())
	}
	_, err := be.Update(context.Background(), func(w store.Writer) error {
		for i := range n {
			id := uuid.NewString()
			ids = append(ids, id)
			if err := w.Put(benchRecord(id, services[i%len(services)], i)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return ids, services
}

// BenchmarkUpdatePut is the Admin API create path: one Put per durable
// Update, so each op includes a WAL fsync.
func BenchmarkUpdatePut(b *testing.B) {
	be := openBench(b)
	service := uuid.NewString()
	ctx := context.Background()
	n := 0
	cpu := meterCPU(b)
	for b.Loop() {
		n++
		rec := benchRecord(uuid.NewString(), service, n)
		if _, err := be.Update(ctx, func(w store.Writer) error { return w.Put(rec) }); err != nil {
			b.Fatal(err)
		}
	}
	cpu.stop(1, "")
}

// BenchmarkUpdatePutParallel is the create path under concurrent clients:
// Updates are serialised, one fsync each, so this measures how far that
// caps throughput.
func BenchmarkUpdatePutParallel(b *testing.B) {
	be := openBench(b)
	service := uuid.NewString()
	ctx := context.Background()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := benchRecord(uuid.NewString(), service, 0)
			rec.Keys = []string{"name:" + rec.ID}
			if _, err := be.Update(ctx, func(w store.Writer) error { return w.Put(rec) }); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkBulkPut is a declarative import: 10,000 Puts in one Update.
func BenchmarkBulkPut(b *testing.B) {
	const batch = 10_000
	be := openBench(b)
	service := uuid.NewString()
	ctx := context.Background()
	n := 0
	cpu := meterCPU(b)
	for b.Loop() {
		recs := make([]*store.Record, batch)
		for i := range recs {
			n++
			recs[i] = benchRecord(uuid.NewString(), service, n)
		}
		_, err := be.Update(ctx, func(w store.Writer) error {
			for _, r := range recs {
				if err := w.Put(r); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/record")
	cpu.stop(batch, "record")
}

// BenchmarkGet reads one record of 10,000: in a View of its own (an Admin
// API GET), in a View shared by many Gets, and from parallel Views.
func BenchmarkGet(b *testing.B) {
	be := openBench(b)
	ids, _ := seed(b, be, 10_000)
	ctx := context.Background()
	b.Run("view-per-get", func(b *testing.B) {
		i := 0
		cpu := meterCPU(b)
		defer cpu.stop(1, "")
		for b.Loop() {
			i++
			err := be.View(ctx, func(r store.Reader) error {
				_, err := r.Get("routes", ids[i%len(ids)])
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("shared-view", func(b *testing.B) {
		cpu := meterCPU(b)
		defer cpu.stop(1, "")
		err := be.View(ctx, func(r store.Reader) error {
			i := 0
			for b.Loop() {
				i++
				if _, err := r.Get("routes", ids[i%len(ids)]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	})
	b.Run("parallel-views", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				err := be.View(ctx, func(r store.Reader) error {
					_, err := r.Get("routes", ids[i%len(ids)])
					return err
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkList reads pages of 100 records out of 10,000, as the Admin API
// list endpoints do.
func BenchmarkList(b *testing.B) {
	be := openBench(b)
	_, services := seed(b, be, 10_000)
	ctx := context.Background()
	filters := []struct {
		name string
		f    store.Filter
	}{
		{"page", store.Filter{Limit: 100}},
		{"service-routes", store.Filter{Limit: 100, RefField: "service", RefTo: services[3]}},
		{"tag", store.Filter{Limit: 100, Tags: []string{"team-3"}}},
		{"all-tags", store.Filter{Limit: 100, Tags: []string{"bench", "team-3"}}},
		{"any-tag", store.Filter{Limit: 100, Tags: []string{"team-3", "team-4"}, AnyTag: true}},
		{"service-routes-tag", store.Filter{Limit: 100, RefField: "service", RefTo: services[3], Tags: []string{"team-3"}}},
	}
	for _, tt := range filters {
		b.Run(tt.name, func(b *testing.B) {
			cpu := meterCPU(b)
			defer cpu.stop(1, "")
			for b.Loop() {
				err := be.View(ctx, func(r store.Reader) error {
					recs, err := r.List("routes", tt.f)
					if err == nil && len(recs) != 100 {
						err = fmt.Errorf("%d records", len(recs))
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
