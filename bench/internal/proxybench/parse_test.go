package proxybench

import (
	"os"
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	tests := []struct {
		file string
		want wrkResult
	}{
		{"testdata/wrk-clean.txt", wrkResult{Requests: 466020, Seconds: 2, RPS: 233010, P50: 223, P99: 257}},
		{"testdata/wrk-errors.txt", wrkResult{Requests: 470770, Seconds: 10, RPS: 47077, P50: 1200, P99: 2650, Non2xx: 42, SocketErrors: 16}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseWrk(string(data))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Error("wrk's connection error parsed as a result")
	}
}

func TestParseWrkDuration(t *testing.T) {
	for in, want := range map[string]float64{"223.00us": 223, "1.20ms": 1200, "2.00s": 2e6, "1.50m": 90e6, "0.50h": 1800e6} {
		got, err := parseWrkDuration(in)
		if err != nil || got != want {
			t.Errorf("parseWrkDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "12", "1.2x", "msus"} {
		if _, err := parseWrkDuration(in); err == nil {
			t.Errorf("parseWrkDuration(%q) accepted", in)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	// A command name with spaces and parentheses, as a process may set.
	line := "4242 (nginx: (worker) 1) S 4241 4241 4241 0 -1 4194624 100 0 0 0 250 125 7 3 20 0 1 0 100 0 0\n"
	got, err := parseProcStat(line)
	if err != nil {
		t.Fatal(err)
	}
	want := procStat{pid: 4242, ppid: 4241, cpu: (250 + 125 + 7 + 3) * clockTick}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for _, bad := range []string{"", "12 noparens S 1", "12 (x) S 1 2 3"} {
		if _, err := parseProcStat(bad); err == nil {
			t.Errorf("parseProcStat(%q) accepted", bad)
		}
	}
}

func TestTreeCPUOfThisProcess(t *testing.T) {
	table, err := readProcTable()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := table.treeCPU(os.Getpid()); err != nil {
		t.Errorf("own process: %v", err)
	}
	if _, err := table.treeCPU(1 << 30); err == nil {
		t.Error("a missing pid has a CPU time")
	}
}

func TestParseMachineCPU(t *testing.T) {
	got, err := parseMachineCPU("cpu  100 2 30 5000 40 5 6 70 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n")
	if err != nil {
		t.Fatal(err)
	}
	want := machineCPU{busy: (100 + 2 + 30 + 5 + 6) * clockTick, steal: 70 * clockTick}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if _, err := parseMachineCPU("intr 1 2 3\n"); err == nil {
		t.Error("a /proc/stat without a cpu line parsed")
	}
}

func TestOtherCPU(t *testing.T) {
	t0 := time.Unix(100, 0)
	s0 := snapshot{at: t0, machine: machineCPU{busy: 10 * time.Second, steal: time.Second}, ours: 5 * time.Second, kernel: time.Second}
	// In 2 s the machine was busy 3 s: 2 s ours, 0.2 s kernel threads,
	// so 0.8 s of someone else's work: 0.4 CPU.
	s1 := snapshot{at: t0.Add(2 * time.Second), machine: machineCPU{busy: 13 * time.Second, steal: time.Second + 400*time.Millisecond},
		ours: 7 * time.Second, kernel: 1200 * time.Millisecond}
	other, steal := otherCPU(s0, s1)
	if other < 0.399 || other > 0.401 {
		t.Errorf("other = %v, want 0.4", other)
	}
	if steal <= 0 {
		t.Errorf("steal = %v, want > 0", steal)
	}
}

func TestParseStubStatus(t *testing.T) {
	page := "Active connections: 65 \nserver accepts handled requests\n 130 130 4660201 \nReading: 0 Writing: 1 Waiting: 64 \n"
	got, err := parseStubStatus(page)
	if err != nil || got != (stubStatus{accepts: 130, requests: 4660201}) {
		t.Errorf("got %+v, %v", got, err)
	}
	if _, err := parseStubStatus("<html>404</html>"); err == nil {
		t.Error("a 404 page parsed")
	}
}
