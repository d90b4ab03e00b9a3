// Package proxybench is the data-plane benchmark behind bench/proxy: it
// measures, in one sitting on one machine, a request sent straight to an
// upstream, the same request through nginx as a reverse proxy, and
// through Gantry's proxy, and reports Gantry against nginx as ratios
// measured within the same rounds.
//
// The method follows shared/reference/performance-anchors.md §6–§7:
// load generator and upstream pinned to one CPU, the proxy under test to
// the other (so Go runs with GOMAXPROCS=1, like nginx's single worker);
// peak throughput with wrk in rounds interleaved ABC then CBA; CPU time
// per request of the proxy from /proc; open-loop latency below the knee
// at fractions of nginx's peak; and rounds dropped when the upstream's own
// CPU per request shows that the machine, not the target, changed.
package proxybench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gantry-gw/gantry/bench/internal/openloop"
)

// Main runs the benchmark described by args (see parseFlags) and returns
// the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench/proxy:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{o: o, out: stdout}
	err = b.run(ctx)
	b.cleanup()
	if err != nil {
		fmt.Fprintln(stderr, "bench/proxy:", err)
		return 1
	}
	return 0
}

// Target names. A Gantry node with many routes is named gantryRoutesName.
const (
	targetDirect = "direct"
	targetNginx  = "nginx"
	targetGantry = "gantry"
)

func gantryRoutesName(n int) string { return fmt.Sprintf("gantry-%dr", n) }

// target is one thing the load generators are pointed at.
type target struct {
	name string
	port int
	req  request
	// proc is the system under test whose CPU is measured; nil for the
	// upstream itself.
	proc   *process
	gantry *gantryNode
	// unavailable says why the target is not measured, when it is not.
	unavailable string
}

func (t *target) url() string { return fmt.Sprintf("http://127.0.0.1:%d%s", t.port, t.req.path) }

// peakRun is one measured wrk run.
type peakRun struct {
	Round  int    `json:"round"`
	Target string `json:"target"`
	wrkResult
	// ProxyCPU is the proxy's CPU time (user + system, process tree) per
	// request, in µs; 0 for the direct target.
	ProxyCPU float64 `json:"proxy_cpu_us_per_req"`
	// UpstreamCPU is the upstream's CPU time per request, in µs: the
	// interference signal.
	UpstreamCPU float64 `json:"upstream_cpu_us_per_req"`
	// UpstreamNewConns counts connections the upstream accepted during
	// the run: about the client connections for direct, and near zero
	// for a proxy that keeps its upstream connections alive.
	UpstreamNewConns int64 `json:"upstream_new_conns"`
	machineLoad
}

// machineLoad is what else the machine did during a run.
type machineLoad struct {
	// OtherCPU is the work, in CPUs, of processes the harness did not
	// start; above -max-other the run's round is dropped.
	OtherCPU float64 `json:"other_cpu"`
	// Steal is the share of the machine's CPU time the hypervisor gave to
	// other guests.
	Steal float64 `json:"steal"`
}

// olRun is one open-loop run.
type olRun struct {
	Round   int    `json:"round"`
	LoadPct int    `json:"load_pct"`
	Target  string `json:"target"`
	openloop.Result
	ProxyCPU    float64 `json:"proxy_cpu_us_per_req"`
	UpstreamCPU float64 `json:"upstream_cpu_us_per_req"`
	machineLoad
}

// bench is one run of the harness and everything it started.
type bench struct {
	o   *Options
	t   tools
	out io.Writer

	dir          string
	procs        []*process
	upstream     *process
	upstreamPort int
	req          request
	targets      []*target

	started  time.Time
	machine  machineInfo
	peak     []peakRun
	peakDrop map[string]string
	ol       []olRun
	olDrop   map[string]string
	olBase   float64
	swap     *swapResult
	notes    []string
	// discarded and discardedOL hold the runs of rounds repeated because
	// someone else's work shared the machine; kept in the JSON report.
	discarded   []peakRun
	discardedOL []olRun
}

// note records a warning for the console and the report.
func (b *bench) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.notes = append(b.notes, msg)
	fmt.Fprintln(b.out, "NOTE:", msg)
}

func (b *bench) printf(format string, args ...any) { fmt.Fprintf(b.out, format, args...) }

func (b *bench) cleanup() {
	for i := len(b.procs) - 1; i >= 0; i-- {
		b.procs[i].stop(5 * time.Second)
	}
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

func (b *bench) run(ctx context.Context) error {
	b.started = time.Now()
	var err error
	if b.t, err = findTools(b.o); err != nil {
		return err
	}
	if b.dir, err = os.MkdirTemp("", "gantry-bench-"); err != nil {
		return err
	}
	// nginx's workers run as nobody and must reach their files.
	if err := os.Chmod(b.dir, 0o755); err != nil {
		return err
	}
	b.machine = readMachineInfo(b.o, b.t)
	b.req = measuredRequest(b.o.Routes)
	if err := b.startTargets(ctx); err != nil {
		return err
	}
	b.printHeader()
	var active []*target
	for _, t := range b.targets {
		if t.unavailable == "" {
			active = append(active, t)
		}
	}
	if len(active) == 0 {
		return errors.New("no target could be started")
	}
	b.waitIdle(ctx)
	if err := b.runPeak(ctx, active); err != nil {
		return err
	}
	if b.o.Swap {
		if err := b.runSwap(ctx); err != nil {
			return err
		}
	}
	if b.o.OpenLoop {
		if err := b.runOpenLoop(ctx, active); err != nil {
			return err
		}
	}
	return b.writeReport()
}

// startKeepAwake runs a busy loop at SCHED_IDLE priority on each of the
// two CPUs for the open-loop part. It only gets a CPU that nothing else
// wants, but it keeps the vCPU from halting: on a VM, waking a halted
// vCPU (an interrupt from the other CPU when a request arrives) takes up
// to milliseconds, which below peak load would measure the hypervisor
// rather than the proxy. The peak part runs without it: the CPUs are
// busy there anyway, and its figures stay comparable with §7's. The
// caller stops the returned processes.
func (b *bench) startKeepAwake() ([]*process, error) {
	var procs []*process
	for _, cpu := range []int{b.o.LoadCPU, b.o.SUTCPU} {
		name := fmt.Sprintf("keep-awake-cpu%d", cpu)
		p, err := startPinned(b.t.taskset, cpu, name, filepath.Join(b.dir, name+".log"), nil,
			b.t.chrt, "--idle", "0", "sh", "-c", "while :; do :; done")
		if err != nil {
			return procs, err
		}
		b.procs = append(b.procs, p) // stopped at the end even if the caller fails first
		procs = append(procs, p)
	}
	return procs, nil
}

// startTargets starts the upstream and every requested target; a Gantry
// that cannot be built or started is marked unavailable, not fatal.
func (b *bench) startTargets(ctx context.Context) error {
	var err error
	if b.upstreamPort, err = freePort(); err != nil {
		return err
	}
	b.upstream, err = startNginx(ctx, b.t, b.o.LoadCPU, b.dir, "upstream", upstreamConf(b.dir, b.upstreamPort), b.upstreamPort, "/")
	if err != nil {
		return err
	}
	b.procs = append(b.procs, b.upstream)

	if b.o.wants(targetDirect) {
		b.targets = append(b.targets, &target{name: targetDirect, port: b.upstreamPort, req: b.req})
	}
	if b.o.wants(targetNginx) {
		tg := &target{name: targetNginx, req: b.req}
		if tg.port, err = freePort(); err != nil {
			return err
		}
		tg.proc, err = startNginx(ctx, b.t, b.o.SUTCPU, b.dir, "nginx-proxy", nginxProxyConf(b.dir, tg.port, b.upstreamPort), tg.port, "/")
		if err != nil {
			return err
		}
		b.procs = append(b.procs, tg.proc)
		b.targets = append(b.targets, tg)
	}
	if b.o.wants(targetGantry) && b.o.GantryBin != "off" {
		routes := []int{1}
		if b.o.Routes > 1 {
			routes = append(routes, b.o.Routes)
		}
		bin, buildErr := b.gantryBinary(ctx)
		for _, n := range routes {
			name := targetGantry
			if n > 1 {
				name = gantryRoutesName(n)
			}
			tg := &target{name: name, req: b.req}
			b.targets = append(b.targets, tg)
			if buildErr != nil {
				tg.unavailable = buildErr.Error()
				continue
			}
			first := -1 // the brief's one route, paths [/]
			switch {
			case n > 1:
				first = 0
			case b.o.Routes > 1:
				first = measuredRoute(b.o.Routes) // the same route the N-route node matches
			}
			node, err := startGantry(ctx, b.o, b.t, bin, filepath.Join(b.dir, name), first, n, b.req, b.upstreamPort)
			if err != nil {
				tg.unavailable = err.Error()
				continue
			}
			b.procs = append(b.procs, node.proc)
			tg.port, tg.proc, tg.gantry = node.proxyPort, node.proc, node
		}
	}
	// direct and nginx must answer with the upstream's body, as Gantry
	// was checked to in startGantry.
	for _, tg := range b.targets {
		if tg.unavailable != "" || tg.gantry != nil {
			continue
		}
		body, err := waitHTTP(ctx, tg.proc, tg.url(), tg.req.host, 200, 5*time.Second)
		if err == nil && string(body) != upstreamBody {
			err = fmt.Errorf("answered %q, not %q", body, upstreamBody)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", tg.name, err)
		}
	}
	return nil
}

// gantryBinary returns the binary to run: the one given, or ./cmd/gantry
// built from the repository.
func (b *bench) gantryBinary(ctx context.Context) (string, error) {
	if b.o.GantryBin != "" {
		if _, err := os.Stat(b.o.GantryBin); err != nil {
			return "", fmt.Errorf("gantry binary: %w", err)
		}
		return b.o.GantryBin, nil
	}
	bin := filepath.Join(b.dir, "gantry-bin")
	b.printf("building ./cmd/gantry ...\n")
	if err := buildGantry(ctx, b.o.Repo, bin); err != nil {
		return "", err
	}
	return bin, nil
}

// waitIdle waits, at most IdleWait, until the 1-minute load average per
// CPU is below 0.2 (Kong's perf suite does the same).
func (b *bench) waitIdle(ctx context.Context) {
	if b.o.IdleWait <= 0 {
		return
	}
	deadline := time.Now().Add(b.o.IdleWait)
	for {
		load := loadAvg()
		if load/float64(runtime.NumCPU()) < 0.2 {
			b.printf("loadavg %.2f: starting\n", load)
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			b.note("loadavg still %.2f after waiting %s; starting anyway", load, b.o.IdleWait)
			return
		}
		time.Sleep(2 * time.Second)
	}
}

// dropForOtherLoad drops group when a run in it shared the machine with
// more than maxOther CPUs of someone else's work.
func dropForOtherLoad(dropped map[string]string, group, target string, l machineLoad, maxOther float64) {
	if l.OtherCPU <= maxOther {
		return
	}
	if _, done := dropped[group]; !done {
		dropped[group] = fmt.Sprintf("other processes used %.2f CPU during %s (limit %.2f)", l.OtherCPU, target, maxOther)
	}
}

// waitQuiet waits, at most QuietWait, until processes the harness did not
// start use less than MaxOther CPUs over a two-second sample: on a
// shared machine another build or test run would otherwise land in the
// round.
func (b *bench) waitQuiet(ctx context.Context) {
	if b.o.QuietWait <= 0 {
		return
	}
	deadline := time.Now().Add(b.o.QuietWait)
	waited := false
	for ctx.Err() == nil {
		s0, _, err0 := snapMachine()
		time.Sleep(2 * time.Second)
		s1, _, err1 := snapMachine()
		if err0 != nil || err1 != nil {
			return
		}
		other, _ := otherCPU(s0, s1)
		if other <= b.o.MaxOther {
			if waited {
				b.printf("machine quiet again (other processes %.2f CPU)\n", other)
			}
			return
		}
		if time.Now().After(deadline) {
			b.note("other processes still use %.2f CPU after waiting %s; measuring anyway (the round will likely be dropped)", other, b.o.QuietWait)
			return
		}
		if !waited {
			b.printf("waiting for the machine to be quiet: other processes use %.2f CPU (limit %.2f) ...\n", other, b.o.MaxOther)
			waited = true
		}
	}
}

// snapshot is the counters read before and after a run.
type snapshot struct {
	at                    time.Time
	proxyCPU, upstreamCPU time.Duration
	// ours is the CPU time of the harness and everything it started
	// (servers, and wrk or loadgen once waited for); kernel is the
	// kernel threads'; machine is the whole machine's.
	ours, kernel time.Duration
	machine      machineCPU
	upstream     stubStatus
}

// otherCPU returns the CPUs' worth of work done between s0 and s1 by
// processes the harness did not start (another build or test on the
// same machine), and the share of the machine's time the hypervisor
// stole.
func otherCPU(s0, s1 snapshot) (other, steal float64) {
	wall := s1.at.Sub(s0.at).Seconds()
	if wall <= 0 {
		return 0, 0
	}
	foreign := (s1.machine.busy - s0.machine.busy) - (s1.ours - s0.ours) - (s1.kernel - s0.kernel)
	other = max(0, foreign.Seconds()/wall)
	steal = (s1.machine.steal - s0.machine.steal).Seconds() / wall / float64(runtime.NumCPU())
	return other, steal
}

// snapMachine reads the machine-wide counters of a snapshot.
func snapMachine() (snapshot, procTable, error) {
	s := snapshot{at: time.Now()}
	var err error
	if s.machine, err = readMachineCPU(); err != nil {
		return s, procTable{}, err
	}
	table, err := readProcTable()
	if err != nil {
		return s, table, err
	}
	if s.ours, err = table.treeCPU(os.Getpid()); err != nil {
		return s, table, err
	}
	s.kernel, _ = table.treeCPU(kthreadd)
	return s, table, nil
}

var statusClient = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func (b *bench) snap(ctx context.Context, tg *target) (snapshot, error) {
	s, table, err := snapMachine()
	if err != nil {
		return s, err
	}
	if tg.proc != nil {
		if s.proxyCPU, err = table.treeCPU(tg.proc.pid()); err != nil {
			return s, fmt.Errorf("%s: %w", tg.name, err)
		}
	}
	if s.upstreamCPU, err = table.treeCPU(b.upstream.pid()); err != nil {
		return s, fmt.Errorf("upstream: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", b.upstreamPort, upstreamStatusPath), nil)
	if err != nil {
		return s, err
	}
	resp, err := statusClient.Do(req)
	if err != nil {
		return s, fmt.Errorf("upstream status: %w", err)
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil {
		return s, err
	}
	s.upstream, err = parseStubStatus(string(page))
	return s, err
}

// perRequest divides a CPU time by a request count, in µs.
func perRequest(d time.Duration, n int64) float64 {
	if n <= 0 {
		return 0
	}
	return float64(d.Nanoseconds()) / 1e3 / float64(n)
}

// roundOrder is ABC for even rounds and CBA for odd ones, so that no
// target always runs first, or right after the same neighbour.
func roundOrder(targets []*target, round int) []*target {
	order := slices.Clone(targets)
	if round%2 == 1 {
		slices.Reverse(order)
	}
	return order
}

func (b *bench) runPeak(ctx context.Context, active []*target) error {
	o := b.o
	b.printf("\n== Peak throughput: wrk -t1 -c%d -d%s (after %s warm-up), %d round(s) ==\n",
		o.Connections, o.Duration, o.Warmup, o.Rounds)
	for r := range o.Rounds {
		for attempt := 0; ; attempt++ {
			runs, err := b.runPeakRound(ctx, active, r)
			if err != nil {
				return err
			}
			if reason := otherLoadIn(runs, o.MaxOther); reason != "" && attempt < o.Retries {
				b.printf("round %d repeated: %s\n", r+1, reason)
				b.discarded = append(b.discarded, runs...)
				continue
			}
			b.peak = append(b.peak, runs...)
			break
		}
		b.printf("  ratios: %s\n", formatRoundRatios(b.peakRatios(r+1)))
	}
	var samples []upstreamSample
	for _, p := range b.peak {
		samples = append(samples, upstreamSample{group: roundKey(p.Round), target: p.Target, cpuUS: p.UpstreamCPU})
	}
	b.peakDrop = interference(samples, o.Interference, func(s upstreamSample) string { return s.target })
	for _, p := range b.peak {
		dropForOtherLoad(b.peakDrop, roundKey(p.Round), p.Target, p.machineLoad, o.MaxOther)
	}
	for _, k := range sortedKeys(b.peakDrop) {
		b.printf("%s dropped: %s\n", k, b.peakDrop[k])
	}
	return nil
}

// runPeakRound measures every target once, in round r's order.
func (b *bench) runPeakRound(ctx context.Context, active []*target, r int) ([]peakRun, error) {
	o := b.o
	order := roundOrder(active, r)
	names := make([]string, len(order))
	for i, t := range order {
		names[i] = t.name
	}
	b.waitQuiet(ctx)
	b.printf("round %d/%d: %s\n", r+1, o.Rounds, strings.Join(names, " → "))
	var runs []peakRun
	for _, tg := range order {
		if o.Warmup >= time.Second {
			if _, err := runWrk(ctx, b.t, o.LoadCPU, o.Connections, o.Warmup, tg); err != nil {
				return nil, err
			}
		}
		s0, err := b.snap(ctx, tg)
		if err != nil {
			return nil, err
		}
		res, err := runWrk(ctx, b.t, o.LoadCPU, o.Connections, o.Duration, tg)
		if err != nil {
			return nil, err
		}
		s1, err := b.snap(ctx, tg)
		if err != nil {
			return nil, err
		}
		run := peakRun{
			Round:       r + 1,
			Target:      tg.name,
			wrkResult:   res,
			UpstreamCPU: perRequest(s1.upstreamCPU-s0.upstreamCPU, res.Requests),
			// The status request of s1 opened one connection.
			UpstreamNewConns: s1.upstream.accepts - s0.upstream.accepts - 1,
		}
		if tg.proc != nil {
			run.ProxyCPU = perRequest(s1.proxyCPU-s0.proxyCPU, res.Requests)
		}
		run.OtherCPU, run.Steal = otherCPU(s0, s1)
		runs = append(runs, run)
		b.printf("  %s\n", formatPeakRun(run))
		b.checkPeakRun(tg, run)
	}
	return runs, nil
}

// otherLoadIn returns why a round's runs shared the machine with someone
// else's work, or "" when none did.
func otherLoadIn(runs []peakRun, maxOther float64) string {
	for _, r := range runs {
		if r.OtherCPU > maxOther {
			return fmt.Sprintf("other processes used %.2f CPU during %s", r.OtherCPU, r.Target)
		}
	}
	return ""
}

func roundKey(r int) string { return fmt.Sprintf("round %d", r) }

// checkPeakRun notes what makes a run's numbers suspect.
func (b *bench) checkPeakRun(tg *target, r peakRun) {
	if r.Non2xx > 0 || r.SocketErrors > 0 {
		b.note("round %d %s: %d non-2xx responses and %d socket errors (must be 0)", r.Round, tg.name, r.Non2xx, r.SocketErrors)
	}
	if tg.proc != nil && r.UpstreamNewConns > int64(b.o.Connections) {
		b.note("round %d %s: the upstream accepted %d new connections during the run: upstream keep-alive is not effective (pool smaller than %d?)",
			r.Round, tg.name, r.UpstreamNewConns, b.o.Connections)
	}
	if tg.proc != nil && tg.proc.exited() {
		b.note("%s exited during round %d:\n%s", tg.name, r.Round, indent(tg.proc.logTail(8)))
	}
}

// peakRatios returns the ratios measured within one round, by name.
func (b *bench) peakRatios(round int) map[string]float64 {
	by := map[string]peakRun{}
	for _, p := range b.peak {
		if p.Round == round {
			by[p.Target] = p
		}
	}
	out := map[string]float64{}
	ratio := func(name string, num, den float64) {
		if num > 0 && den > 0 {
			out[name] = num / den
		}
	}
	g, n, d := by[targetGantry], by[targetNginx], by[targetDirect]
	ratio(ratioRPSGantryNginx, g.RPS, n.RPS)
	ratio(ratioRPSNginxDirect, n.RPS, d.RPS)
	ratio(ratioCPUGantryNginx, g.ProxyCPU, n.ProxyCPU)
	if b.o.Routes > 1 {
		gr := by[gantryRoutesName(b.o.Routes)]
		ratio(fmt.Sprintf(ratioRPSRoutes, b.o.Routes), gr.RPS, g.RPS)
		ratio(fmt.Sprintf(ratioCPURoutes, b.o.Routes), gr.ProxyCPU, g.ProxyCPU)
	}
	return out
}

// Names of the in-round ratios, as reported.
const (
	ratioRPSGantryNginx = "RPS gantry / nginx"
	ratioRPSNginxDirect = "RPS nginx / direct"
	ratioCPUGantryNginx = "CPU per request gantry / nginx"
	ratioRPSRoutes      = "RPS gantry %d routes / 1 route"
	ratioCPURoutes      = "CPU per request gantry %d routes / 1 route"
)

// olConnections is the generator's connection count for a rate: at least
// the rate times 2 ms, the p99.9 a proxy on this machine should beat, so
// a slow response does not hold up the requests behind it.
func (b *bench) olConnections(rate float64) int {
	if b.o.OLConnections > 0 {
		return b.o.OLConnections
	}
	return max(64, int(math.Ceil(rate*0.002)))
}

func (b *bench) runOpenLoop(ctx context.Context, active []*target) error {
	o := b.o
	b.olBase = o.OLBaseRPS
	if b.olBase == 0 {
		var rps []float64
		for _, p := range b.peak {
			if p.Target == targetNginx && b.peakDrop[roundKey(p.Round)] == "" {
				rps = append(rps, p.RPS)
			}
		}
		if len(rps) == 0 {
			for _, p := range b.peak {
				if p.Target == targetNginx {
					rps = append(rps, p.RPS)
				}
			}
			if len(rps) > 0 {
				b.note("every peak round was dropped: open-loop rates are based on nginx's dropped rounds")
			}
		}
		b.olBase = summarize(rps).Median
	}
	if b.olBase == 0 {
		b.note("open loop skipped: no nginx peak measured (give -ol-base-rps)")
		return nil
	}
	b.printf("\n== Open-loop latency at %v%% of %.0f RPS, %d round(s) of %s (after %s warm-up) ==\n",
		joinInts(o.OLLoads, "/"), b.olBase, o.OLRounds, o.OLDuration, o.OLWarmup)
	if o.KeepAwake {
		procs, err := b.startKeepAwake()
		defer func() {
			for _, p := range procs {
				p.stop(time.Second)
			}
		}()
		if err != nil {
			return err
		}
		b.printf("keep-awake: SCHED_IDLE busy loops on CPU%d and CPU%d\n", o.LoadCPU, o.SUTCPU)
	}
	step := 0
	for r := range o.OLRounds {
		for _, pct := range o.OLLoads {
			rate := math.Round(b.olBase * float64(pct) / 100)
			conns := b.olConnections(rate)
			for attempt := 0; ; attempt++ {
				b.waitQuiet(ctx)
				b.printf("open-loop round %d/%d @%d%% = %.0f RPS over %d connections\n", r+1, o.OLRounds, pct, rate, conns)
				var group []olRun
				reason := ""
				for _, tg := range roundOrder(active, step) {
					run, err := b.runLoadgen(ctx, tg, rate, conns)
					if err != nil {
						return err
					}
					run.Round, run.LoadPct = r+1, pct
					group = append(group, run)
					b.printf("  %s\n", formatOLRun(run))
					if run.OtherCPU > o.MaxOther && reason == "" {
						reason = fmt.Sprintf("other processes used %.2f CPU during %s", run.OtherCPU, tg.name)
					}
				}
				if reason != "" && attempt < o.Retries {
					b.printf("open-loop round %d @%d%% repeated: %s\n", r+1, pct, reason)
					b.discardedOL = append(b.discardedOL, group...)
					continue
				}
				for _, run := range group {
					if run.Errors > 0 || run.Non2xx > 0 {
						b.note("open loop round %d @%d%% %s: %d errors, %d non-2xx (first: %s)", run.Round, pct, run.Target, run.Errors, run.Non2xx, run.FirstError)
					}
				}
				b.ol = append(b.ol, group...)
				break
			}
			step++
		}
	}
	var samples []upstreamSample
	for _, r := range b.ol {
		samples = append(samples, upstreamSample{group: olKey(r.Round, r.LoadPct), target: r.Target + "@" + strconv.Itoa(r.LoadPct), cpuUS: r.UpstreamCPU})
	}
	b.olDrop = interference(samples, o.Interference, func(s upstreamSample) string { return s.target })
	for _, r := range b.ol {
		dropForOtherLoad(b.olDrop, olKey(r.Round, r.LoadPct), r.Target, r.machineLoad, o.MaxOther)
	}
	for _, k := range sortedKeys(b.olDrop) {
		b.printf("%s dropped: %s\n", k, b.olDrop[k])
	}
	return nil
}

func olKey(round, pct int) string { return fmt.Sprintf("open-loop round %d @%d%%", round, pct) }

// runLoadgen runs the open-loop generator against tg and measures the
// proxy's and the upstream's CPU over its measured window.
func (b *bench) runLoadgen(ctx context.Context, tg *target, rate float64, conns int) (olRun, error) {
	o := b.o
	args := []string{"-c", strconv.Itoa(o.LoadCPU), b.t.loadgen,
		"-url", tg.url(), "-rate", strconv.FormatFloat(rate, 'f', 0, 64), "-connections", strconv.Itoa(conns),
		"-warmup", o.OLWarmup.String(), "-duration", o.OLDuration.String(), "-timeout", "2s"}
	if tg.req.host != "" {
		args = append(args, "-host", tg.req.host)
	}
	cmd := exec.CommandContext(ctx, b.t.taskset, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		return olRun{}, fmt.Errorf("loadgen: %w", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var s0 snapshot
	var snapErr error
	select {
	case <-time.After(o.OLWarmup):
		s0, snapErr = b.snap(ctx, tg)
	case err := <-waited:
		return olRun{}, fmt.Errorf("loadgen %s ended early: %v\n%s", tg.name, err, stderr.String())
	}
	if err := <-waited; err != nil {
		return olRun{}, fmt.Errorf("loadgen %s: %w\n%s", tg.name, err, stderr.String())
	}
	if snapErr != nil {
		return olRun{}, snapErr
	}
	s1, err := b.snap(ctx, tg)
	if err != nil {
		return olRun{}, err
	}
	run := olRun{Target: tg.name}
	if err := json.Unmarshal([]byte(strings.TrimSpace(stdout.String())), &run.Result); err != nil {
		return olRun{}, fmt.Errorf("loadgen %s output %q: %w", tg.name, stdout.String(), err)
	}
	n := int64(run.Completed)
	run.UpstreamCPU = perRequest(s1.upstreamCPU-s0.upstreamCPU, n)
	if tg.proc != nil {
		run.ProxyCPU = perRequest(s1.proxyCPU-s0.proxyCPU, n)
	}
	run.OtherCPU, run.Steal = otherCPU(s0, s1)
	return run, nil
}

func joinInts(v []int, sep string) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, sep)
}
