package proxybench

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Options configure one benchmark run; Main fills them from flags.
type Options struct {
	// Repo is the module root: where ./cmd/gantry is built and where a
	// relative OutDir lives.
	Repo string
	// Loadgen is the open-loop generator binary (bench/cmd/loadgen).
	Loadgen string

	Rounds      int
	Duration    time.Duration
	Warmup      time.Duration
	Connections int
	Targets     []string

	// GantryBin is the gantry binary: empty to build ./cmd/gantry from
	// Repo, "off" to leave the Gantry targets out.
	GantryBin   string
	GantryArgs  string
	GantryEnv   []string
	GantryAdmin bool
	// Routes above 1 adds a second Gantry target whose config holds that
	// many services and routes, measured in the same rounds as the
	// one-route node.
	Routes int

	Swap         bool
	SwapCmd      string
	SwapInterval time.Duration

	OpenLoop      bool
	OLRounds      int
	OLDuration    time.Duration
	OLWarmup      time.Duration
	OLLoads       []int
	OLConnections int
	OLBaseRPS     float64

	// KeepAwake runs an idle-priority busy loop on both benchmark CPUs
	// during the open-loop part.
	KeepAwake    bool
	IdleWait     time.Duration
	QuietWait    time.Duration
	MaxOther     float64
	LoadCPU      int
	SUTCPU       int
	Interference float64
	// Retries is how many times a round is repeated when other processes
	// loaded the machine during it.
	Retries      int
	ReadyTimeout time.Duration
	OutDir       string

	// CommandLine is recorded in the report.
	CommandLine string
}

// quickDefaults are the settings -quick changes, for a smoke test that
// runs every step once in well under a minute.
var quickDefaults = map[string]string{
	"rounds":      "1",
	"duration":    "2s",
	"warmup":      "1s",
	"ol-rounds":   "1",
	"ol-duration": "2s",
	"ol-warmup":   "500ms",
	"idle-wait":   "0s",
	"quiet-wait":  "0s",
	"retries":     "0",
}

// parseFlags reads args into Options. -quick sets the values in
// quickDefaults for every flag not given explicitly.
func parseFlags(args []string, stderr io.Writer) (*Options, error) {
	o := &Options{}
	fs := flag.NewFlagSet("bench/proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: bench/proxy [flags]\n\nData-plane benchmark: direct to upstream, nginx as reverse proxy and Gantry, in the same run.\nSee bench/README.md.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	quick := fs.Bool("quick", false, "smoke test: 1 round of 2 s, open loop 1 round of 2 s, no idle wait")
	fs.StringVar(&o.Repo, "repo", ".", "module root (where ./cmd/gantry is built)")
	fs.StringVar(&o.Loadgen, "loadgen", "", "open-loop generator binary (bench/cmd/loadgen; bench/proxy builds it)")
	fs.IntVar(&o.Rounds, "rounds", 6, "peak-throughput rounds, interleaved ABC then CBA")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "measured wrk run per target and round (whole seconds)")
	fs.DurationVar(&o.Warmup, "warmup", 3*time.Second, "unmeasured wrk run before each measured one (whole seconds)")
	fs.IntVar(&o.Connections, "connections", 64, "wrk connections")
	targets := fs.String("targets", "direct,nginx,gantry", "targets to measure, from direct, nginx, gantry")
	fs.StringVar(&o.GantryBin, "gantry-bin", "", `gantry binary; empty: build ./cmd/gantry from -repo; "off": no Gantry target`)
	fs.StringVar(&o.GantryArgs, "gantry-args", "start -c {conf}", "arguments after the binary; {conf} {declarative} {prefix} {proxy} {status} {admin} are filled in")
	fs.Func("gantry-env", "KEY=VALUE added to Gantry's environment (repeatable), e.g. GOGC=200", func(s string) error {
		if !strings.Contains(s, "=") {
			return errors.New("want KEY=VALUE")
		}
		o.GantryEnv = append(o.GantryEnv, s)
		return nil
	})
	fs.BoolVar(&o.GantryAdmin, "gantry-admin", false, "give Gantry an admin_listen on a free port ({admin}) instead of admin_listen = off")
	fs.IntVar(&o.Routes, "routes", 1, "N > 1 adds target gantry-Nr: a node whose config has N services and routes, the measured one among them")
	fs.BoolVar(&o.Swap, "swap", false, "config swap under load: replace Gantry's declarative config while wrk runs (needs -swap-cmd)")
	fs.StringVar(&o.SwapCmd, "swap-cmd", "", `command that makes Gantry load its rewritten declarative_config, e.g. "kill -HUP {pid}"`)
	fs.DurationVar(&o.SwapInterval, "swap-interval", 2*time.Second, "time between config swaps under load")
	fs.BoolVar(&o.OpenLoop, "open-loop", true, "measure open-loop latency at fractions of nginx's peak")
	fs.IntVar(&o.OLRounds, "ol-rounds", 3, "open-loop rounds per load level, interleaved")
	fs.DurationVar(&o.OLDuration, "ol-duration", 10*time.Second, "measured open-loop window per target and level")
	fs.DurationVar(&o.OLWarmup, "ol-warmup", time.Second, "unrecorded open-loop run before each window")
	loads := fs.String("ol-loads", "25,50,75", "open-loop rates, in percent of nginx's median peak RPS")
	fs.IntVar(&o.OLConnections, "ol-connections", 0, "open-loop connections; 0: max(64, rate × 2 ms)")
	fs.Float64Var(&o.OLBaseRPS, "ol-base-rps", 0, "rate the -ol-loads percentages refer to; 0: nginx's median peak in this run")
	fs.DurationVar(&o.IdleWait, "idle-wait", 60*time.Second, "wait at most this long for loadavg/nproc < 0.2 before starting")
	fs.BoolVar(&o.KeepAwake, "keep-awake", true, "during the open loop, run a SCHED_IDLE busy loop on both CPUs so they never halt (waking a halted vCPU takes milliseconds on a VM)")
	fs.DurationVar(&o.QuietWait, "quiet-wait", 2*time.Minute, "before each round, wait at most this long for other processes to use less than -max-other CPUs")
	fs.Float64Var(&o.MaxOther, "max-other", 0.10, "drop a round when processes the harness did not start used more than this many CPUs during one of its runs")
	fs.IntVar(&o.LoadCPU, "load-cpu", 0, "CPU for the load generators and the upstream")
	fs.IntVar(&o.SUTCPU, "sut-cpu", 1, "CPU for the proxy under test")
	fs.Float64Var(&o.Interference, "interference", 1.25, "drop a round when the upstream's CPU per request exceeds this × its best")
	fs.IntVar(&o.Retries, "retries", 2, "repeat a round at most this many times when other processes used more than -max-other CPUs during it")
	fs.DurationVar(&o.ReadyTimeout, "ready-timeout", 60*time.Second, "how long Gantry may take to answer /status/ready")
	fs.StringVar(&o.OutDir, "out", "bench/out", "directory for the markdown and JSON reports (relative to -repo)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for name, v := range quickDefaults {
			if !set[name] {
				if err := fs.Set(name, v); err != nil {
					return nil, err
				}
			}
		}
	}
	o.Targets = splitList(*targets)
	for _, t := range o.Targets {
		if t != "direct" && t != "nginx" && t != "gantry" {
			return nil, fmt.Errorf("-targets: unknown target %q (want direct, nginx, gantry)", t)
		}
	}
	for _, s := range splitList(*loads) {
		n, err := strconv.Atoi(strings.TrimSuffix(s, "%"))
		if err != nil || n <= 0 || n > 100 {
			return nil, fmt.Errorf("-ol-loads: %q is not a percentage in 1..100", s)
		}
		o.OLLoads = append(o.OLLoads, n)
	}
	switch {
	case o.Retries < 0:
		return nil, errors.New("-retries must not be negative")
	case o.Rounds < 1:
		return nil, errors.New("-rounds must be at least 1")
	case o.Duration < time.Second || o.Warmup < 0:
		return nil, errors.New("-duration must be at least 1s and -warmup not negative")
	case o.Connections < 1:
		return nil, errors.New("-connections must be at least 1")
	case o.OpenLoop && (o.OLRounds < 1 || o.OLDuration <= 0):
		return nil, errors.New("-ol-rounds must be at least 1 and -ol-duration positive")
	case o.LoadCPU == o.SUTCPU:
		return nil, errors.New("-load-cpu and -sut-cpu must differ")
	case o.Swap && o.SwapInterval <= 0:
		return nil, errors.New("-swap-interval must be positive")
	}
	if o.OpenLoop && o.Loadgen == "" {
		return nil, errors.New("-loadgen is required for the open-loop part (or -open-loop=false)")
	}
	o.CommandLine = commandLine(args)
	return o, nil
}

// commandLine is the bench/proxy command as the user typed it: without
// the -repo and -loadgen flags the wrapper adds.
func commandLine(args []string) string {
	words := []string{"bench/proxy"}
	for i := 0; i < len(args); i++ {
		a := args[i]
		name := strings.TrimLeft(a, "-")
		if name == "repo" || name == "loadgen" {
			i++ // and its value
			continue
		}
		if strings.HasPrefix(name, "repo=") || strings.HasPrefix(name, "loadgen=") {
			continue
		}
		if strings.ContainsAny(a, " {}'") {
			a = "'" + a + "'"
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}

func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (o *Options) wants(target string) bool {
	for _, t := range o.Targets {
		if t == target {
			return true
		}
	}
	return false
}

// tools are the external programs the harness drives.
type tools struct {
	wrk, nginx, taskset, chrt, loadgen string
}

// findTools locates wrk, nginx and taskset (nginx lives in /usr/sbin,
// which a non-root PATH may lack).
func findTools(o *Options) (tools, error) {
	var t tools
	var missing []string
	look := func(name string, extra ...string) string {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		for _, p := range extra {
			if _, err := exec.LookPath(p); err == nil {
				return p
			}
		}
		missing = append(missing, name)
		return ""
	}
	t.wrk = look("wrk")
	t.nginx = look("nginx", "/usr/sbin/nginx")
	t.taskset = look("taskset")
	if o.KeepAwake {
		t.chrt = look("chrt")
	}
	t.loadgen = o.Loadgen
	if len(missing) > 0 {
		return t, fmt.Errorf("missing %s: run bench/setup", strings.Join(missing, ", "))
	}
	return t, nil
}
