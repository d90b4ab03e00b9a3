package proxybench

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// swapResult is the config-swap-under-load scenario's outcome.
type swapResult struct {
	Target string `json:"target"`
	Routes int    `json:"routes"`
	// Skipped says why the scenario did not run, when it did not.
	Skipped string    `json:"skipped,omitempty"`
	Run     wrkResult `json:"run"`
	// Swaps counts configs applied under load; ApplyMS is, for each, the
	// time from the start of the swap command until the new config's
	// marker route answered through the proxy.
	Swaps   int       `json:"swaps"`
	Failed  int       `json:"failed"`
	ApplyMS []float64 `json:"apply_ms"`
	// SteadyRPS and SteadyP99 are the same target's medians from the peak
	// rounds, the baseline the swap run is read against.
	SteadyRPS float64 `json:"steady_rps"`
	SteadyP99 float64 `json:"steady_p99_us"`
}

// markerPath is the path of the marker route of swap number i.
func markerPath(i int) string { return fmt.Sprintf("/gantry-bench-swap-%d", i) }

// runSwap replaces the Gantry node's declarative config every
// SwapInterval while wrk runs against it, through reloadGantryConfig,
// and measures how long each swap takes to show and what it costs the
// traffic. The node with the most routes is used.
func (b *bench) runSwap(ctx context.Context) error {
	var tg *target
	for _, t := range b.targets {
		if t.gantry != nil && (tg == nil || t.gantry.routes > tg.gantry.routes) {
			tg = t
		}
	}
	res := &swapResult{}
	b.swap = res
	b.printf("\n== Config swap under load ==\n")
	if tg == nil {
		res.Skipped = "no Gantry target is running"
		b.printf("skipped: %s\n", res.Skipped)
		return nil
	}
	res.Target, res.Routes = tg.name, tg.gantry.routes
	var rps, p99 []float64
	for _, p := range b.peak {
		if p.Target == tg.name && b.peakDrop[roundKey(p.Round)] == "" {
			rps, p99 = append(rps, p.RPS), append(p99, p.P99)
		}
	}
	if len(rps) == 0 { // every round dropped: the baseline is all there is
		for _, p := range b.peak {
			if p.Target == tg.name {
				rps, p99 = append(rps, p.RPS), append(p99, p.P99)
			}
		}
	}
	res.SteadyRPS, res.SteadyP99 = summarize(rps).Median, summarize(p99).Median

	// One swap without load first: it shows whether the mechanism works
	// at all before traffic depends on it.
	if _, err := b.applySwap(ctx, tg, 0, 30*time.Second); err != nil {
		res.Skipped = err.Error()
		if errors.Is(err, ErrSwapUnavailable) {
			b.printf("skipped: %s\n", err)
		} else {
			b.note("config swap skipped: %v", err)
		}
		return nil
	}
	o := b.o
	if o.Warmup >= time.Second {
		if _, err := runWrk(ctx, b.t, o.LoadCPU, o.Connections, o.Warmup, tg); err != nil {
			return err
		}
	}
	type wrkDone struct {
		res wrkResult
		err error
	}
	done := make(chan wrkDone, 1)
	go func() {
		r, err := runWrk(ctx, b.t, o.LoadCPU, o.Connections, o.Duration, tg)
		done <- wrkDone{r, err}
	}()
	// Swaps start one interval in and stop one interval before the end,
	// so each is applied while wrk is running.
	start := time.Now()
	for i := 1; time.Since(start)+2*o.SwapInterval <= o.Duration; i++ {
		time.Sleep(time.Until(start.Add(time.Duration(i) * o.SwapInterval)))
		ms, err := b.applySwap(ctx, tg, i, o.SwapInterval)
		res.Swaps++
		if err != nil {
			res.Failed++
			b.note("config swap %d: %v", i, err)
			continue
		}
		res.ApplyMS = append(res.ApplyMS, ms)
	}
	d := <-done
	if d.err != nil {
		return d.err
	}
	res.Run = d.res
	b.printf("%s (%d routes): %s\n", tg.name, res.Routes, formatSwap(res))
	if d.res.Non2xx > 0 || d.res.SocketErrors > 0 {
		b.note("config swap: %d non-2xx responses and %d socket errors under swaps (must be 0)", d.res.Non2xx, d.res.SocketErrors)
	}
	return nil
}

// applySwap writes config number i (the node's routes plus marker i) and
// has the node load it, then polls the marker through the proxy; it
// returns the time until the marker answered, in ms.
func (b *bench) applySwap(ctx context.Context, tg *target, i int, timeout time.Duration) (float64, error) {
	n := tg.gantry
	content := declarativeConfig(n.first, n.routes, n.upstreamPort, markerPath(i))
	start := time.Now()
	if err := reloadGantryConfig(ctx, b.o, n, content); err != nil {
		return 0, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d%s", n.proxyPort, markerPath(i))
	if _, err := waitHTTP(ctx, n.proc, url, "", 200, timeout); err != nil {
		return 0, fmt.Errorf("new config not served: %w", err)
	}
	return float64(time.Since(start).Microseconds()) / 1e3, nil
}

func formatSwap(r *swapResult) string {
	if r.Skipped != "" {
		return "skipped: " + r.Skipped
	}
	apply := summarize(r.ApplyMS)
	s := fmt.Sprintf("%d swaps (%d failed), applied in median %.1f ms (max %.1f ms); rps %s (%.2f× steady %s), p99 %s (steady %s), errors %d",
		r.Swaps, r.Failed, apply.Median, apply.Max, fmtRPS(r.Run.RPS), safeRatio(r.Run.RPS, r.SteadyRPS), fmtRPS(r.SteadyRPS),
		fmtUS(r.Run.P99), fmtUS(r.SteadyP99), r.Run.Non2xx+r.Run.SocketErrors)
	return s
}

func safeRatio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
