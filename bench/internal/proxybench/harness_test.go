package proxybench

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gantry-gw/gantry/internal/declarative"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		in   []float64
		want spread
	}{
		{nil, spread{}},
		{[]float64{3}, spread{3, 3, 3, 1}},
		{[]float64{5, 1, 3}, spread{3, 1, 5, 3}},
		{[]float64{4, 1, 3, 2}, spread{2.5, 1, 4, 4}},
	}
	for _, tc := range tests {
		if got := summarize(tc.in); got != tc.want {
			t.Errorf("summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	if got := (spread{Median: 0.5, Min: 0.48, Max: 0.53, N: 3}).relSpread(); got < 0.0999 || got > 0.1001 {
		t.Errorf("relSpread = %v, want 0.1", got)
	}
}

func TestInterferenceDropsTheWholeGroup(t *testing.T) {
	samples := []upstreamSample{
		{"round 1", "direct", 2.0}, {"round 1", "nginx", 3.0},
		{"round 2", "direct", 2.1}, {"round 2", "nginx", 4.0}, // nginx 1.33× its best
		{"round 3", "direct", 2.6}, {"round 3", "nginx", 3.1}, // direct 1.30× its best
		{"round 4", "direct", 2.4}, {"round 4", "nginx", 3.7}, // both within 1.25×
	}
	got := interference(samples, 1.25, func(s upstreamSample) string { return s.target })
	if len(got) != 2 || got["round 2"] == "" || got["round 3"] == "" {
		t.Errorf("dropped %v, want rounds 2 and 3", got)
	}
	if !strings.Contains(got["round 2"], "nginx") {
		t.Errorf("reason %q does not name the target", got["round 2"])
	}
}

func TestRoundOrderAlternates(t *testing.T) {
	ts := []*target{{name: "a"}, {name: "b"}, {name: "c"}}
	names := func(r int) string {
		var s []string
		for _, t := range roundOrder(ts, r) {
			s = append(s, t.name)
		}
		return strings.Join(s, "")
	}
	if names(0) != "abc" || names(1) != "cba" || names(2) != "abc" || ts[0].name != "a" {
		t.Errorf("orders %s %s %s", names(0), names(1), names(2))
	}
}

// The generated configs must be valid decK files that Gantry's own
// reader accepts, with the measured route among them.
func TestDeclarativeConfigs(t *testing.T) {
	tests := []struct {
		first, routes int
		marker        string
		entities      int
	}{
		{-1, 1, "", 2},
		{-1, 1, markerPath(3), 4},
		{5000, 1, "", 2},
		{0, 10000, "", 20000},
		{0, 10000, markerPath(1), 20002},
	}
	for _, tc := range tests {
		data := declarativeConfig(tc.first, tc.routes, 8080, tc.marker)
		c, err := declarative.Parse(data)
		if err != nil {
			t.Fatalf("%d routes, marker %q: %v", tc.routes, tc.marker, err)
		}
		if c.Count() != tc.entities {
			t.Errorf("%d routes, marker %q: %d entities, want %d", tc.routes, tc.marker, c.Count(), tc.entities)
		}
		if !bytes.Contains(data, []byte("url: http://127.0.0.1:8080\n")) {
			t.Errorf("%d routes: services do not point at the upstream", tc.routes)
		}
	}
	req := measuredRequest(10000)
	if req.host != "svc-05000.example.com" || !strings.HasPrefix(req.path, "/api/svc-05000/") {
		t.Errorf("measured request %+v", req)
	}
	// Both nodes of a -routes 10000 run hold the measured route: the
	// 10,000-route one and the one-route one.
	for _, c := range []struct{ first, n int }{{0, 10000}, {measuredRoute(10000), 1}} {
		data := declarativeConfig(c.first, c.n, 8080, "")
		if !bytes.Contains(data, []byte("hosts: [svc-05000.example.com]\n        paths: [/api/svc-05000]\n")) {
			t.Errorf("the measured route is not in the config of %d route(s) from %d", c.n, c.first)
		}
	}
	if r := measuredRequest(1); r.path != "/" || r.host != "" {
		t.Errorf("one-route request %+v", r)
	}
}

func TestGantryConfHasTheBriefsSettings(t *testing.T) {
	n := &gantryNode{dir: "/tmp/x", declPath: "/tmp/x/kong.yml", proxyPort: 8000, statusPort: 8100}
	conf := gantryConf(n)
	for _, line := range []string{
		"role = traditional", "database = off", "declarative_config = /tmp/x/kong.yml",
		"proxy_listen = 127.0.0.1:8000", "status_listen = 127.0.0.1:8100", "admin_listen = off", "prefix = /tmp/x/prefix",
	} {
		if !strings.Contains(conf, line+"\n") {
			t.Errorf("conf lacks %q:\n%s", line, conf)
		}
	}
	n.adminPort = 8001
	if !strings.Contains(gantryConf(n), "admin_listen = 127.0.0.1:8001\n") {
		t.Error("admin port not used")
	}
	n.confPath = "/tmp/x/gantry.conf"
	args := expandArgs("start -c {conf} --prefix {prefix}", n.placeholders())
	if got := strings.Join(args, " "); got != "start -c /tmp/x/gantry.conf --prefix /tmp/x/prefix" {
		t.Errorf("args %q", got)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-quick", "-rounds", "3", "-loadgen", "/bin/lg", "-ol-loads", "10,50%", "-gantry-env", "GOGC=200"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Rounds != 3 || o.Duration != 2*time.Second || o.IdleWait != 0 || o.OLRounds != 1 {
		t.Errorf("quick with -rounds 3: rounds %d duration %s idle %s ol-rounds %d", o.Rounds, o.Duration, o.IdleWait, o.OLRounds)
	}
	if len(o.OLLoads) != 2 || o.OLLoads[1] != 50 || len(o.GantryEnv) != 1 {
		t.Errorf("loads %v env %v", o.OLLoads, o.GantryEnv)
	}
	if got := commandLine([]string{"-repo", "/r", "-loadgen=/l", "-quick", "-swap-cmd", "kill -HUP {pid}"}); got != "bench/proxy -quick -swap-cmd 'kill -HUP {pid}'" {
		t.Errorf("command line %q", got)
	}
	o, err = parseFlags([]string{"-loadgen", "x"}, io.Discard)
	if err != nil || o.Rounds != 6 || o.Duration != 10*time.Second || o.Warmup != 3*time.Second || o.Connections != 64 {
		t.Errorf("defaults: %+v, %v", o, err)
	}
	for _, bad := range [][]string{
		{"-targets", "direct,haproxy", "-loadgen", "x"},
		{"-ol-loads", "150", "-loadgen", "x"},
		{"-rounds", "0", "-loadgen", "x"},
		{"-load-cpu", "1", "-sut-cpu", "1", "-loadgen", "x"},
		{}, // open loop without a generator
		{"-loadgen", "x", "extra"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
}

func TestFormatting(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 176127.4: "176,127", 1234567: "1,234,567", -4200: "-4,200"} {
		if got := fmtRPS(in); got != want {
			t.Errorf("fmtRPS(%v) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[float64]string{348: "348µs", 2650: "2.65ms", 53100: "53.1ms", 1.2e6: "1.20s", -120: "-120µs"} {
		if got := fmtUS(in); got != want {
			t.Errorf("fmtUS(%v) = %q, want %q", in, got, want)
		}
	}
}

// A report from synthetic rounds: ratios come from kept rounds only, and
// an unavailable Gantry shows as such rather than as zeros.
func TestSummaryAndMarkdown(t *testing.T) {
	o, err := parseFlags([]string{"-loadgen", "x", "-rounds", "3", "-ol-rounds", "1", "-ol-loads", "25"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{o: o, req: request{path: "/"}, olBase: 100000}
	b.targets = []*target{{name: "direct"}, {name: "nginx", proc: &process{}}, {name: "gantry", unavailable: "go build ./cmd/gantry: exit status 1\ndetails"}}
	for r, rps := range [][2]float64{{200000, 150000}, {200000, 100000}, {210000, 160000}} {
		b.peak = append(b.peak,
			peakRun{Round: r + 1, Target: "direct", wrkResult: wrkResult{RPS: rps[0]}, UpstreamCPU: 2},
			peakRun{Round: r + 1, Target: "nginx", wrkResult: wrkResult{RPS: rps[1]}, ProxyCPU: 6, UpstreamCPU: 3})
	}
	b.peakDrop = map[string]string{"round 2": "upstream CPU 5.00 µs/req during nginx is 1.67× its best 3.00"}
	b.ol = []olRun{{Round: 1, LoadPct: 25, Target: "direct"}, {Round: 1, LoadPct: 25, Target: "nginx"}}
	b.ol[0].P99, b.ol[1].P99 = 300, 450
	b.ol[0].TargetRPS, b.ol[1].TargetRPS = 25000, 25000
	b.ol[0].AchievedRPS, b.ol[1].AchievedRPS = 25000, 25000

	rows := b.summaryRows()
	byName := map[string]ratioRow{}
	for _, r := range rows {
		byName[r.Name] = r
	}
	nd := byName[ratioRPSNginxDirect].Spread
	if nd.N != 2 || nd.Min != 0.75 || nd.Max < 0.7618 || nd.Max > 0.7620 {
		t.Errorf("nginx/direct over kept rounds = %+v", nd)
	}
	if byName[ratioRPSGantryNginx].Spread.N != 0 {
		t.Error("gantry ratio without gantry runs")
	}
	delta := byName["Δp99 nginx − direct @25% (25,000 RPS)"].Spread
	if delta.N != 1 || delta.Median != 150 {
		t.Errorf("Δp99 nginx − direct = %+v", delta)
	}
	md := b.markdown()
	for _, want := range []string{"**gantry unavailable**: go build ./cmd/gantry: exit status 1\n", "| RPS nginx / direct | 0.756 | 0.750 | 0.762 | 2 | 0.750 (0.500 … 0.762, 3) |",
		"round 2 dropped", "| RPS gantry / nginx | — | — | — | 0 | — | not measured |", "Δp99 nginx − direct @25% (25,000 RPS), µs | +150 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
