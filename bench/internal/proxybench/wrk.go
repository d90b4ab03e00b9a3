package proxybench

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what one wrk run reports.
type wrkResult struct {
	Requests int64   `json:"requests"`
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"rps"`
	// Latency quantiles from wrk's --latency output, in µs. wrk is closed
	// loop: these describe latency at saturation, queueing included.
	P50 float64 `json:"p50_us"`
	P99 float64 `json:"p99_us"`
	// Non2xx counts responses with status ≥ 400 (wrk's "Non-2xx or 3xx
	// responses" line); SocketErrors sums connect, read, write and
	// timeout errors.
	Non2xx       int64 `json:"non_2xx"`
	SocketErrors int64 `json:"socket_errors"`
}

// wrkArgs builds the command line of one run.
func wrkArgs(t tools, cpu, connections int, d time.Duration, tg *target) []string {
	args := []string{"-c", strconv.Itoa(cpu), t.wrk, "-t1", "-c" + strconv.Itoa(connections),
		"-d" + strconv.Itoa(int(d.Round(time.Second)/time.Second)) + "s", "--latency"}
	if tg.req.host != "" {
		args = append(args, "-H", "Host: "+tg.req.host)
	}
	return append(args, tg.url())
}

// runWrk runs wrk pinned to cpu and parses its report.
func runWrk(ctx context.Context, t tools, cpu, connections int, d time.Duration, tg *target) (wrkResult, error) {
	cmd := exec.CommandContext(ctx, t.taskset, wrkArgs(t, cpu, connections, d, tg)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w\n%s", tg.name, err, out)
	}
	r, err := parseWrk(string(out))
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %w", tg.name, err)
	}
	return r, nil
}

// parseWrk reads the text wrk 4 prints with --latency.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var sawRequests, sawP50, sawP99 bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "50%":
			v, err := parseWrkDuration(f[1])
			if err != nil {
				return r, err
			}
			r.P50, sawP50 = v, true
		case len(f) == 2 && f[0] == "99%":
			v, err := parseWrkDuration(f[1])
			if err != nil {
				return r, err
			}
			r.P99, sawP99 = v, true
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			// "1760000 requests in 10.00s, 200.00MB read"
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return r, fmt.Errorf("requests line %q: %w", sc.Text(), err)
			}
			secs, err := parseWrkDuration(strings.TrimSuffix(f[3], ","))
			if err != nil {
				return r, err
			}
			r.Requests, r.Seconds, sawRequests = n, secs/1e6, true
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("requests/sec %q: %w", f[1], err)
			}
			r.RPS = v
		case strings.HasPrefix(strings.TrimSpace(sc.Text()), "Non-2xx or 3xx responses:"):
			n, err := strconv.ParseInt(f[len(f)-1], 10, 64)
			if err != nil {
				return r, fmt.Errorf("non-2xx line %q: %w", sc.Text(), err)
			}
			r.Non2xx = n
		case len(f) > 0 && f[0] == "Socket" && len(f) >= 10:
			// "Socket errors: connect 0, read 12, write 0, timeout 3"
			for _, i := range []int{3, 5, 7, 9} {
				n, err := strconv.ParseInt(strings.TrimSuffix(f[i], ","), 10, 64)
				if err != nil {
					return r, fmt.Errorf("socket errors line %q: %w", sc.Text(), err)
				}
				r.SocketErrors += n
			}
		}
	}
	if !sawRequests || !sawP50 || !sawP99 {
		return r, fmt.Errorf("unexpected wrk output (run with --latency?):\n%s", out)
	}
	return r, nil
}

// parseWrkDuration reads wrk's durations ("223.00us", "1.20ms", "2.00s",
// "1.50m") and returns microseconds.
func parseWrkDuration(s string) (float64, error) {
	units := []struct {
		suffix string
		us     float64
	}{{"us", 1}, {"ms", 1e3}, {"s", 1e6}, {"m", 60e6}, {"h", 3600e6}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("duration %q: %w", s, err)
			}
			return v * u.us, nil
		}
	}
	return 0, fmt.Errorf("duration %q: unknown unit", s)
}
