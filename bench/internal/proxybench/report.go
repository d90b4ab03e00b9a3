package proxybench

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// machineInfo describes where and with what a run happened.
type machineInfo struct {
	CPUModel string  `json:"cpu_model"`
	CPUs     int     `json:"cpus"`
	Kernel   string  `json:"kernel"`
	Nginx    string  `json:"nginx"`
	Wrk      string  `json:"wrk"`
	Commit   string  `json:"commit"`
	LoadAvg  float64 `json:"loadavg_at_start"`
}

func readMachineInfo(o *Options, t tools) machineInfo {
	m := machineInfo{CPUs: runtime.NumCPU(), CPUModel: "unknown", LoadAvg: loadAvg()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	out, _ := exec.Command(t.nginx, "-v").CombinedOutput()
	m.Nginx = strings.TrimPrefix(strings.TrimSpace(string(out)), "nginx version: ")
	out, _ = exec.Command(t.wrk, "-v").CombinedOutput()
	m.Wrk, _, _ = strings.Cut(strings.TrimSpace(string(out)), " Copyright")
	out, err := exec.Command("git", "-C", o.Repo, "describe", "--always", "--dirty").Output()
	if err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	return m
}

// loadAvg returns the 1-minute load average.
func loadAvg() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func (b *bench) printHeader() {
	m := b.machine
	b.printf("machine: %s, %d CPUs, kernel %s, loadavg %.2f; %s; %s; gantry %s\n",
		m.CPUModel, m.CPUs, m.Kernel, m.LoadAvg, m.Nginx, m.Wrk, m.Commit)
	b.printf("upstream (nginx, return 200): 127.0.0.1:%d, pid %d, CPUs %s\n", b.upstreamPort, b.upstream.pid(), cpuList(b.upstream.pid()))
	b.printf("request: GET %s", b.req.path)
	if b.req.host != "" {
		b.printf(" Host: %s", b.req.host)
	}
	b.printf("\n")
	for _, t := range b.targets {
		switch {
		case t.unavailable != "":
			b.printf("target %-14s UNAVAILABLE: %s\n", t.name, t.unavailable)
		case t.proc == nil:
			b.printf("target %-14s %s (the upstream itself)\n", t.name, t.url())
		default:
			b.printf("target %-14s %s, pid %d, CPUs %s\n", t.name, t.url(), t.proc.pid(), cpuList(t.proc.pid()))
		}
	}
}

// fmtUS formats microseconds for reading: 348µs, 2.65ms, 1.20s.
func fmtUS(us float64) string {
	switch a := math.Abs(us); {
	case a >= 1e6:
		return fmt.Sprintf("%.2fs", us/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.1fms", us/1e3)
	case a >= 1e3:
		return fmt.Sprintf("%.2fms", us/1e3)
	default:
		return fmt.Sprintf("%.0fµs", us)
	}
}

// fmtRPS formats a rate with thousands separators: 176,127.
func fmtRPS(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func formatPeakRun(r peakRun) string {
	s := fmt.Sprintf("%-14s rps %9s  p50 %8s  p99 %8s", r.Target, fmtRPS(r.RPS), fmtUS(r.P50), fmtUS(r.P99))
	if r.ProxyCPU > 0 {
		s += fmt.Sprintf("  proxy %6.2f µs/req", r.ProxyCPU)
	} else {
		s += fmt.Sprintf("  %19s", "")
	}
	s += fmt.Sprintf("  upstream %5.2f µs/req  +%d upstream conns  other %.2f CPU  steal %.0f%%",
		r.UpstreamCPU, r.UpstreamNewConns, r.OtherCPU, r.Steal*100)
	if r.Non2xx > 0 || r.SocketErrors > 0 {
		s += fmt.Sprintf("  ERRORS non-2xx %d socket %d", r.Non2xx, r.SocketErrors)
	}
	return s
}

func formatRoundRatios(m map[string]float64) string {
	if len(m) == 0 {
		return "(none: fewer than two targets)"
	}
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %.3f", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// overloaded tells whether an open-loop run could not be served at its
// rate: requests left unsent, or fewer completed than due.
func overloaded(r olRun) bool {
	return r.Unsent > 0 || r.AchievedRPS < 0.97*r.TargetRPS
}

func formatOLRun(r olRun) string {
	s := fmt.Sprintf("%-14s p50 %8s  p99 %8s  p99.9 %8s  achieved %9s", r.Target, fmtUS(r.P50), fmtUS(r.P99), fmtUS(r.P999), fmtRPS(r.AchievedRPS))
	if r.ProxyCPU > 0 {
		s += fmt.Sprintf("  proxy %6.2f µs/req", r.ProxyCPU)
	} else {
		s += fmt.Sprintf("  %19s", "")
	}
	s += fmt.Sprintf("  upstream %5.2f µs/req  gen lag p99 %s  other %.2f CPU", r.UpstreamCPU, fmtUS(r.GenLagP99), r.OtherCPU)
	if overloaded(r) {
		s += fmt.Sprintf("  OVERLOADED (%d unsent)", r.Unsent)
	}
	if r.Errors > 0 || r.Non2xx > 0 {
		s += fmt.Sprintf("  ERRORS %d non-2xx %d", r.Errors, r.Non2xx)
	}
	return s
}

// ratioRow is one line of the summary: a ratio or difference measured
// within each kept round, and its spread over the rounds.
type ratioRow struct {
	Name   string    `json:"name"`
	Unit   string    `json:"unit"` // "×" or "µs"
	Values []float64 `json:"values"`
	Spread spread    `json:"spread"`
	// All is the same over every round, dropped ones included: shown
	// beside the kept figure so a run on a busy machine still says
	// something, but never in its place.
	All  spread `json:"all_rounds"`
	Note string `json:"note,omitempty"`
}

// summaryRows computes every reported ratio over the kept rounds.
func (b *bench) summaryRows() []ratioRow {
	var rows []ratioRow
	names := []string{ratioRPSGantryNginx, ratioRPSNginxDirect, ratioCPUGantryNginx}
	if b.o.Routes > 1 {
		names = append(names, fmt.Sprintf(ratioRPSRoutes, b.o.Routes), fmt.Sprintf(ratioCPURoutes, b.o.Routes))
	}
	values, all := map[string][]float64{}, map[string][]float64{}
	for r := 1; r <= b.o.Rounds; r++ {
		for k, v := range b.peakRatios(r) {
			all[k] = append(all[k], v)
			if b.peakDrop[roundKey(r)] == "" {
				values[k] = append(values[k], v)
			}
		}
	}
	for _, n := range names {
		rows = append(rows, ratioRow{Name: n, Unit: "×", Values: values[n], Spread: summarize(values[n]), All: summarize(all[n])})
	}
	if len(b.ol) == 0 {
		return rows
	}
	pairs := [][2]string{{targetGantry, targetNginx}, {targetNginx, targetDirect}}
	if b.o.Routes > 1 {
		pairs = append(pairs, [2]string{gantryRoutesName(b.o.Routes), targetGantry})
	}
	for _, pct := range b.o.OLLoads {
		rate := math.Round(b.olBase * float64(pct) / 100)
		for _, pair := range pairs {
			var deltas, allDeltas []float64
			over := false
			for r := 1; r <= b.o.OLRounds; r++ {
				a, okA := b.olRunOf(r, pct, pair[0])
				c, okC := b.olRunOf(r, pct, pair[1])
				if !okA || !okC {
					continue
				}
				allDeltas = append(allDeltas, a.P99-c.P99)
				if b.olDrop[olKey(r, pct)] != "" {
					continue
				}
				deltas = append(deltas, a.P99-c.P99)
				over = over || overloaded(a) || overloaded(c)
			}
			row := ratioRow{
				Name:   fmt.Sprintf("Δp99 %s − %s @%d%% (%s RPS)", pair[0], pair[1], pct, fmtRPS(rate)),
				Unit:   "µs",
				Values: deltas,
				Spread: summarize(deltas),
				All:    summarize(allDeltas),
			}
			if over {
				row.Note = "a target could not sustain the rate: its p99 is queueing"
			}
			rows = append(rows, row)
		}
	}
	return rows
}

func (b *bench) olRunOf(round, pct int, target string) (olRun, bool) {
	for _, r := range b.ol {
		if r.Round == round && r.LoadPct == pct && r.Target == target {
			return r, true
		}
	}
	return olRun{}, false
}

func fmtValue(v float64, unit string) string {
	if unit == "µs" {
		return fmt.Sprintf("%+.0f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

// markdown renders the summary for bench/RESULTS.md.
func (b *bench) markdown() string {
	o, m := b.o, b.machine
	var s strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&s, format, args...) }
	w("## Data-plane proxy benchmark — %s\n\n", b.started.UTC().Format("2006-01-02 15:04 MST"))
	w("`%s` at %s: %s, %d CPUs, kernel %s; %s; %s. ", o.CommandLine, m.Commit, m.CPUModel, m.CPUs, m.Kernel, m.Nginx, m.Wrk)
	w("Load generator and upstream (nginx `return 200`, 1 worker) on CPU%d, proxy under test on CPU%d. ", o.LoadCPU, o.SUTCPU)
	w("Peak: `wrk -t1 -c%d`, %d round(s) of %s after a %s warm-up, interleaved ABC/CBA", o.Connections, o.Rounds, o.Duration, o.Warmup)
	kept := o.Rounds - len(b.peakDrop)
	w("; %d of %d kept by the interference checks (upstream CPU per request ≤ %.2f× its best, other processes ≤ %.2f CPU)",
		kept, o.Rounds, o.Interference, o.MaxOther)
	if n := len(b.discarded) + len(b.discardedOL); n > 0 {
		w("; %d run(s) repeated because other processes loaded the machine", n)
	}
	w(".")
	if len(b.ol) > 0 {
		base := "nginx's median peak"
		if o.OLBaseRPS > 0 {
			base = "-ol-base-rps"
		}
		w(" Open loop: bench/cmd/loadgen at %s%% of %s (%s RPS), %d round(s) of %s.",
			joinInts(o.OLLoads, "/"), base, fmtRPS(b.olBase), o.OLRounds, o.OLDuration)
	}
	w(" Request: `GET %s`", b.req.path)
	if b.req.host != "" {
		w(" with `Host: %s`", b.req.host)
	}
	w(".\n\n")
	for _, t := range b.targets {
		if t.unavailable != "" {
			first, _, _ := strings.Cut(t.unavailable, "\n")
			w("- **%s unavailable**: %s\n", t.name, first)
		}
	}
	w("\n| ratio, measured within each round | median | min | max | rounds | all rounds, dropped too | |\n|---|---|---|---|---|---|---|\n")
	for _, r := range b.summaryRows() {
		all := "—"
		if r.All.N > 0 {
			all = fmt.Sprintf("%s (%s … %s, %d)", fmtValue(r.All.Median, r.Unit), fmtValue(r.All.Min, r.Unit), fmtValue(r.All.Max, r.Unit), r.All.N)
		}
		if r.Spread.N == 0 {
			note := "not measured"
			if r.All.N > 0 {
				note = "every round dropped"
			}
			name := r.Name
			if r.Unit == "µs" {
				name += ", µs"
			}
			w("| %s | — | — | — | 0 | %s | %s |\n", name, all, note)
			continue
		}
		note := r.Note
		if rs := r.Spread.relSpread(); r.Unit == "×" && rs > 0.05 {
			note = strings.TrimPrefix(note+fmt.Sprintf("; spread %.0f%% > 5%%: re-run", rs*100), "; ")
		}
		name := r.Name
		if r.Unit == "µs" {
			name += ", µs"
		}
		w("| %s | %s | %s | %s | %d | %s | %s |\n", name, fmtValue(r.Spread.Median, r.Unit), fmtValue(r.Spread.Min, r.Unit),
			fmtValue(r.Spread.Max, r.Unit), r.Spread.N, all, note)
	}
	w("\nContext — medians of the kept rounds; absolute numbers hold for this machine at this hour only:\n\n")
	w("| target | RPS | p50 | p99 | proxy CPU µs/req | upstream CPU µs/req | new upstream conns/run |\n|---|---|---|---|---|---|---|\n")
	for _, t := range b.targets {
		if t.unavailable != "" {
			continue
		}
		var rps, p50, p99, pc, uc, nc []float64
		for _, p := range b.peak {
			if p.Target == t.name && b.peakDrop[roundKey(p.Round)] == "" {
				rps, p50, p99 = append(rps, p.RPS), append(p50, p.P50), append(p99, p.P99)
				pc, uc, nc = append(pc, p.ProxyCPU), append(uc, p.UpstreamCPU), append(nc, float64(p.UpstreamNewConns))
			}
		}
		if len(rps) == 0 {
			w("| %s | — | — | — | — | — | — |\n", t.name)
			continue
		}
		proxyCPU := "—"
		if t.proc != nil {
			proxyCPU = fmt.Sprintf("%.2f", summarize(pc).Median)
		}
		w("| %s | %s | %s | %s | %s | %.2f | %.0f |\n", t.name, fmtRPS(summarize(rps).Median), fmtUS(summarize(p50).Median),
			fmtUS(summarize(p99).Median), proxyCPU, summarize(uc).Median, summarize(nc).Median)
	}
	if len(b.ol) > 0 {
		w("\nOpen loop — medians over the kept rounds; latency from the due time when the connection was busy, else from the send:\n\n")
		w("| target | load | achieved RPS | p50 | p99 | p99.9 | proxy CPU µs/req | generator lag p99 | |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, pct := range o.OLLoads {
			for _, t := range b.targets {
				if t.unavailable != "" {
					continue
				}
				var ach, p50, p99, p999, pc, lag []float64
				over := 0
				for _, r := range b.ol {
					if r.Target == t.name && r.LoadPct == pct && b.olDrop[olKey(r.Round, pct)] == "" {
						ach, p50, p99 = append(ach, r.AchievedRPS), append(p50, r.P50), append(p99, r.P99)
						p999, pc, lag = append(p999, r.P999), append(pc, r.ProxyCPU), append(lag, r.GenLagP99)
						if overloaded(r) {
							over++
						}
					}
				}
				if len(ach) == 0 {
					continue
				}
				proxyCPU := "—"
				if t.proc != nil {
					proxyCPU = fmt.Sprintf("%.2f", summarize(pc).Median)
				}
				note := ""
				if over > 0 {
					note = fmt.Sprintf("overloaded in %d of %d", over, len(ach))
				}
				w("| %s | %d%% | %s | %s | %s | %s | %s | %s | %s |\n", t.name, pct, fmtRPS(summarize(ach).Median),
					fmtUS(summarize(p50).Median), fmtUS(summarize(p99).Median), fmtUS(summarize(p999).Median), proxyCPU,
					fmtUS(summarize(lag).Median), note)
			}
		}
	}
	if b.swap != nil {
		w("\nConfig swap under load (%s): %s.\n", b.swap.Target, formatSwap(b.swap))
	}
	dropped := sortedKeys(b.peakDrop)
	dropped = append(dropped, sortedKeys(b.olDrop)...)
	if len(dropped) > 0 || len(b.notes) > 0 {
		w("\nNotes:\n\n")
		for _, k := range dropped {
			reason := b.peakDrop[k]
			if reason == "" {
				reason = b.olDrop[k]
			}
			w("- %s dropped: %s\n", k, reason)
		}
		for _, n := range b.notes {
			first, _, _ := strings.Cut(n, "\n")
			w("- %s\n", first)
		}
	}
	return s.String()
}

// writeReport prints the summary and writes it, with every run's raw
// figures as JSON, to OutDir.
func (b *bench) writeReport() error {
	md := b.markdown()
	b.printf("\n%s", md)
	dir := b.o.OutDir
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(b.o.Repo, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	stamp := b.started.Format("20060102-150405")
	mdPath := filepath.Join(dir, "proxy-"+stamp+".md")
	if err := os.WriteFile(mdPath, []byte(md), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "proxy-latest.md"), []byte(md), 0o644); err != nil {
		return err
	}
	raw := struct {
		Started  time.Time         `json:"started"`
		Options  *Options          `json:"options"`
		Machine  machineInfo       `json:"machine"`
		Request  map[string]string `json:"request"`
		Targets  map[string]string `json:"targets"`
		Peak     []peakRun         `json:"peak"`
		PeakDrop map[string]string `json:"peak_dropped"`
		OLBase   float64           `json:"open_loop_base_rps"`
		OpenLoop []olRun           `json:"open_loop"`
		OLDrop   map[string]string `json:"open_loop_dropped"`
		Swap     *swapResult       `json:"swap,omitempty"`
		Repeated []peakRun         `json:"repeated_peak_runs"`
		RepOL    []olRun           `json:"repeated_open_loop_runs"`
		Summary  []ratioRow        `json:"summary"`
		Notes    []string          `json:"notes"`
	}{
		Started: b.started, Options: b.o, Machine: b.machine,
		Request: map[string]string{"path": b.req.path, "host": b.req.host},
		Targets: map[string]string{},
		Peak:    b.peak, PeakDrop: b.peakDrop, OLBase: b.olBase, OpenLoop: b.ol, OLDrop: b.olDrop,
		Swap: b.swap, Repeated: b.discarded, RepOL: b.discardedOL, Summary: b.summaryRows(), Notes: b.notes,
	}
	for _, t := range b.targets {
		raw.Targets[t.name] = "measured"
		if t.unavailable != "" {
			raw.Targets[t.name] = "unavailable: " + t.unavailable
		}
	}
	data, err := json.MarshalIndent(raw, "", "  ")
	if err != nil {
		return err
	}
	jsonPath := filepath.Join(dir, "proxy-"+stamp+".json")
	if err := os.WriteFile(jsonPath, data, 0o644); err != nil {
		return err
	}
	b.printf("\nwrote %s and %s\n", mdPath, jsonPath)
	return nil
}
