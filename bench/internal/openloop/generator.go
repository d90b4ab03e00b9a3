// Package openloop is an open-loop HTTP/1.1 load generator: it sends GET
// requests at a fixed rate over a fixed set of keep-alive connections and
// measures each response's latency from the moment the request was due,
// not from the moment it went out, so a server that stalls is charged for
// the requests it held back (no coordinated omission, as in wrk2).
//
// Closed-loop tools such as wrk stop sending while the server stalls, so
// their tail latencies describe the load generator's patience more than
// the server; and measured at saturation they describe queueing, not
// service. bench/proxy uses wrk for peak throughput and this generator
// for latency below the knee.
//
// The client is a minimal HTTP/1.1 one written for cost, not generality:
// one pre-built request, a status line and headers read in place, bodies
// discarded by Content-Length or chunked framing. It spends a few
// microseconds of CPU per request, so one core can drive a proxy at well
// over 100,000 requests per second.
package openloop

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"syscall"
	"time"
)

// Config describes one open-loop run.
type Config struct {
	// Addr is the server's host:port.
	Addr string
	// Path is the request target, starting with "/".
	Path string
	// Host is the Host header; Addr when empty.
	Host string
	// Rate is the total request rate, in requests per second, over all
	// connections.
	Rate float64
	// Connections is how many keep-alive connections share the rate;
	// each sends at Rate/Connections. It must be at least the rate times
	// the slowest latency of interest (p99.9), or a connection still
	// waiting for a response holds up the next request on it.
	Connections int
	// Warmup runs at the same rate before the measurement and is not
	// recorded: connections are opened and caches warmed there.
	Warmup time.Duration
	// Duration is the measured window.
	Duration time.Duration
	// Timeout bounds each request from its send; a request that takes
	// longer is an error and its connection is replaced.
	Timeout time.Duration
}

// Result is the outcome of one run. Latencies are in microseconds.
type Result struct {
	TargetRPS   float64 `json:"target_rps"`
	Connections int     `json:"connections"`
	DurationS   float64 `json:"duration_s"`
	// Scheduled counts requests due within the measured window.
	Scheduled uint64 `json:"scheduled"`
	// Sent and Completed count those that went out and got a response.
	Sent      uint64 `json:"sent"`
	Completed uint64 `json:"completed"`
	// Errors counts failed dials, writes, reads, malformed responses and
	// timeouts; Non2xx counts responses with a status outside 200–299.
	Errors uint64 `json:"errors"`
	Non2xx uint64 `json:"non_2xx"`
	// Unsent counts requests that were due but never sent because their
	// connection was still busy when the window closed: the server could
	// not keep up. Each is recorded with the time from its due moment to
	// the window's end, a lower bound of its latency.
	Unsent      uint64  `json:"unsent"`
	AchievedRPS float64 `json:"achieved_rps"`
	// P50 … Max measure from the due time when the connection was still
	// busy with the previous response at that moment (the server's delay),
	// and from the actual send otherwise (the generator's own timer or
	// scheduling delay is not the server's).
	P50  float64 `json:"p50_us"`
	P90  float64 `json:"p90_us"`
	P99  float64 `json:"p99_us"`
	P999 float64 `json:"p999_us"`
	Max  float64 `json:"max_us"`
	// SchedP50 … SchedMax measure every request from its due time, as
	// wrk2 does, generator delays included.
	SchedP50  float64 `json:"sched_p50_us"`
	SchedP99  float64 `json:"sched_p99_us"`
	SchedP999 float64 `json:"sched_p999_us"`
	SchedMax  float64 `json:"sched_max_us"`
	// GenLagP99 is the 99th percentile of the generator's own delay in
	// sending a request once it was due and its connection was free. Tens
	// of microseconds are normal; much more means the generator, not the
	// server, is the limit.
	GenLagP99 float64 `json:"gen_lag_p99_us"`
	// GenCPUPerReq is the generator's CPU time (user + system) per
	// completed request within the window.
	GenCPUPerReq float64 `json:"gen_cpu_us_per_req"`
	// FirstError describes the first error seen, if any.
	FirstError string `json:"first_error,omitempty"`
}

// ErrConfig reports a Config that cannot run.
var ErrConfig = errors.New("openloop: invalid config")

func (c Config) validate() error {
	switch {
	case c.Addr == "":
		return fmt.Errorf("%w: no address", ErrConfig)
	case len(c.Path) == 0 || c.Path[0] != '/':
		return fmt.Errorf("%w: path %q must start with /", ErrConfig, c.Path)
	case !(c.Rate > 0):
		return fmt.Errorf("%w: rate %v must be positive", ErrConfig, c.Rate)
	case c.Connections < 1:
		return fmt.Errorf("%w: connections %d must be at least 1", ErrConfig, c.Connections)
	case c.Duration <= 0 || c.Warmup < 0 || c.Timeout <= 0:
		return fmt.Errorf("%w: durations must be positive", ErrConfig)
	}
	return nil
}

// connStats is what one connection gathers; merged after the run.
type connStats struct {
	latency, sched, lag                Histogram
	scheduled, sent, completed, unsent uint64
	errors, non2xx                     uint64
	firstErr                           error
}

// Run sends c.Rate requests per second for c.Warmup + c.Duration and
// returns what the measured window saw. It stops early, with what it has,
// when ctx ends.
func Run(ctx context.Context, c Config) (Result, error) {
	if err := c.validate(); err != nil {
		return Result{}, err
	}
	host := c.Host
	if host == "" {
		host = c.Addr
	}
	request := []byte("GET " + c.Path + " HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: gantry-loadgen\r\n\r\n")
	stats := make([]*connStats, c.Connections)
	for i := range stats {
		stats[i] = new(connStats)
	}

	t0 := time.Now()
	var cpuStart, cpuEnd time.Duration
	var wg sync.WaitGroup
	wg.Go(func() {
		// CPU time is taken at the window's edges, from the same clock
		// the schedule uses.
		sleepUntil(ctx, t0, c.Warmup)
		cpuStart = processCPU()
	})
	for i := range c.Connections {
		wg.Go(func() {
			w := worker{cfg: c, request: request, t0: t0, stats: stats[i]}
			w.run(ctx, i)
		})
	}
	wg.Wait()
	cpuEnd = processCPU()

	var total connStats
	for _, s := range stats {
		total.latency.Merge(&s.latency)
		total.sched.Merge(&s.sched)
		total.lag.Merge(&s.lag)
		total.scheduled += s.scheduled
		total.sent += s.sent
		total.completed += s.completed
		total.unsent += s.unsent
		total.errors += s.errors
		total.non2xx += s.non2xx
		if total.firstErr == nil {
			total.firstErr = s.firstErr
		}
	}
	r := Result{
		TargetRPS:   c.Rate,
		Connections: c.Connections,
		DurationS:   c.Duration.Seconds(),
		Scheduled:   total.scheduled,
		Sent:        total.sent,
		Completed:   total.completed,
		Errors:      total.errors,
		Non2xx:      total.non2xx,
		Unsent:      total.unsent,
		AchievedRPS: round1(float64(total.completed) / c.Duration.Seconds()),
		P50:         micros(total.latency.Quantile(0.50)),
		P90:         micros(total.latency.Quantile(0.90)),
		P99:         micros(total.latency.Quantile(0.99)),
		P999:        micros(total.latency.Quantile(0.999)),
		Max:         micros(total.latency.Max()),
		SchedP50:    micros(total.sched.Quantile(0.50)),
		SchedP99:    micros(total.sched.Quantile(0.99)),
		SchedP999:   micros(total.sched.Quantile(0.999)),
		SchedMax:    micros(total.sched.Max()),
		GenLagP99:   micros(total.lag.Quantile(0.99)),
	}
	if total.completed > 0 {
		perReq := float64((cpuEnd - cpuStart).Nanoseconds()) / 1e3 / float64(total.completed)
		r.GenCPUPerReq = math.Round(perReq*100) / 100
	}
	if total.firstErr != nil {
		r.FirstError = total.firstErr.Error()
	}
	return r, ctx.Err()
}

// worker drives one connection through its share of the schedule.
type worker struct {
	cfg     Config
	request []byte
	t0      time.Time
	stats   *connStats

	conn     net.Conn
	reader   *bufio.Reader
	deadline time.Duration // current deadline, relative to t0
}

func (w *worker) run(ctx context.Context, i int) {
	defer w.close()
	c := w.cfg
	// Connection i sends at times offset + k·interval: the connections'
	// schedules interleave evenly, so the total is a steady c.Rate.
	interval := float64(c.Connections) / c.Rate * 1e9
	offset := interval * float64(i) / float64(c.Connections)
	end := c.Warmup + c.Duration
	var prevRecv time.Duration
	for k := 0; ; k++ {
		sched := time.Duration(offset + float64(k)*interval)
		if sched >= end {
			return
		}
		measured := sched >= c.Warmup
		now := time.Since(w.t0)
		if sched > now {
			// A plain sleep, not a select on ctx: it is the cheapest
			// timer the runtime has, and the schedule is short.
			time.Sleep(sched - now)
			now = time.Since(w.t0)
		}
		if ctx.Err() != nil {
			return
		}
		if now >= end && prevRecv > sched {
			// The server still held this connection when the window
			// closed: the rest of its schedule was never sent. (A
			// request whose timer merely fired late is still sent.)
			w.countUnsent(sched, time.Duration(interval), end)
			return
		}
		if measured {
			w.stats.scheduled++
		}
		status, err := w.roundTrip(now)
		recv := time.Since(w.t0)
		if !measured {
			prevRecv = recv
			continue
		}
		w.stats.sent++
		// The server is charged from the due time when it still held
		// this connection then; otherwise from the actual send.
		start := now
		if prevRecv > sched {
			start = sched
		}
		free := max(sched, prevRecv) // when this request could have gone out
		prevRecv = recv
		if err != nil {
			w.stats.errors++
			if w.stats.firstErr == nil {
				w.stats.firstErr = err
			}
			continue
		}
		w.stats.completed++
		if status < 200 || status > 299 {
			w.stats.non2xx++
		}
		w.stats.latency.Record(recv - start)
		w.stats.sched.Record(recv - sched)
		w.stats.lag.Record(now - free)
	}
}

// countUnsent records the requests from sched up to the window's end as
// unsent, each with the latency it had at least: from its due time to end.
func (w *worker) countUnsent(sched, interval, end time.Duration) {
	for ; sched < end; sched += interval {
		if sched < w.cfg.Warmup {
			continue
		}
		w.stats.scheduled++
		w.stats.unsent++
		w.stats.latency.Record(end - sched)
		w.stats.sched.Record(end - sched)
	}
}

// roundTrip sends the request on the worker's connection, dialling one if
// needed, and reads the response. now is the send time relative to t0.
func (w *worker) roundTrip(now time.Duration) (int, error) {
	if w.conn == nil {
		conn, err := net.DialTimeout("tcp", w.cfg.Addr, w.cfg.Timeout)
		if err != nil {
			return 0, fmt.Errorf("dial %s: %w", w.cfg.Addr, err)
		}
		w.conn = conn
		if w.reader == nil {
			w.reader = bufio.NewReaderSize(conn, 16<<10)
		} else {
			w.reader.Reset(conn)
		}
		w.deadline = 0
	}
	// Moving a deadline costs a timer update; doing it only when half
	// of the timeout has been used keeps every request bounded by
	// between Timeout/2 and Timeout at a fraction of the cost.
	if w.deadline-now < w.cfg.Timeout/2 {
		w.deadline = now + w.cfg.Timeout
		if err := w.conn.SetDeadline(w.t0.Add(w.deadline)); err != nil {
			w.close()
			return 0, err
		}
	}
	if _, err := w.conn.Write(w.request); err != nil {
		w.close()
		return 0, fmt.Errorf("write: %w", err)
	}
	status, keepAlive, err := readResponse(w.reader)
	if err != nil {
		w.close()
		return 0, fmt.Errorf("read: %w", err)
	}
	if !keepAlive {
		w.close()
	}
	return status, nil
}

func (w *worker) close() {
	if w.conn != nil {
		w.conn.Close()
		w.conn = nil
	}
}

// sleepUntil sleeps until t0+at or until ctx ends.
func sleepUntil(ctx context.Context, t0 time.Time, at time.Duration) {
	d := at - time.Since(t0)
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// processCPU returns the user + system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func micros(d time.Duration) float64 { return round1(float64(d) / 1e3) }

func round1(v float64) float64 { return math.Round(v*10) / 10 }
