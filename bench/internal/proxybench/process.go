package proxybench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is a server the harness started: pinned to one CPU with
// taskset, in a process group of its own so that stopping it reaches its
// children (nginx's worker) and nothing else.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string // file holding its stdout and stderr
	done chan struct{}
	err  error // exit status, once done is closed
}

// startPinned runs argv on cpu. The child gets SIGTERM if the harness dies
// without stopping it, so no server outlives a killed run.
func startPinned(tasksetPath string, cpu int, name, logPath string, env []string, argv ...string) (*process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer logFile.Close()
	cmd := exec.Command(tasksetPath, append([]string{"-c", strconv.Itoa(cpu)}, argv...)...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// pid is the server's own pid: taskset execs it, so the pid is the same.
func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the server to end (SIGTERM), then kills its process group if
// it has not ended within grace.
func (p *process) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.done
	}
	// nginx's worker leaves with its master; make sure of it.
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
}

// logTail returns the last lines of the process's output, for errors.
func (p *process) logTail(lines int) string {
	data, err := os.ReadFile(p.log)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// cpuList returns the CPUs the process may run on (Cpus_allowed_list), to
// show that pinning took effect.
func cpuList(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// procStat is what the harness reads from one /proc/PID/stat line.
type procStat struct {
	pid, ppid int
	// cpu is utime + stime of the process and cutime + cstime of the
	// children it has waited for, so a tree's sum keeps the time of
	// processes that ended (wrk, a finished test binary).
	cpu time.Duration
}

// parseProcStat reads a /proc/PID/stat line. The command name is in
// parentheses and may itself hold spaces and parentheses, so the fields
// are counted from the last ')'.
func parseProcStat(line string) (procStat, error) {
	open := strings.IndexByte(line, '(')
	closing := strings.LastIndexByte(line, ')')
	if open < 1 || closing < open {
		return procStat{}, fmt.Errorf("parse stat %q: no command name", line)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line[:open]))
	if err != nil {
		return procStat{}, fmt.Errorf("parse stat pid: %w", err)
	}
	// After ')': state(3) ppid(4) … utime(14) stime(15) cutime(16) cstime(17).
	f := strings.Fields(line[closing+1:])
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("parse stat %q: %d fields", line, len(f)+2)
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procStat{}, fmt.Errorf("parse stat %q: %w", line, err)
	}
	var ticks int64
	for _, field := range f[11:15] {
		n, err := strconv.ParseInt(field, 10, 64)
		if err != nil {
			return procStat{}, fmt.Errorf("parse stat %q: %w", line, err)
		}
		ticks += n
	}
	return procStat{pid: pid, ppid: ppid, cpu: time.Duration(ticks) * clockTick}, nil
}

// procTable is every process's CPU time at one moment.
type procTable struct {
	stats    map[int]procStat
	children map[int][]int
}

// readProcTable reads /proc/*/stat.
func readProcTable() (procTable, error) {
	paths, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return procTable{}, err
	}
	t := procTable{stats: make(map[int]procStat, len(paths)), children: make(map[int][]int)}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // the process ended meanwhile
		}
		s, err := parseProcStat(string(data))
		if err != nil {
			continue
		}
		t.stats[s.pid] = s
		t.children[s.ppid] = append(t.children[s.ppid], s.pid)
	}
	return t, nil
}

// treeCPU returns the CPU time used so far by pid and all its
// descendants: nginx's master and worker, or a Gantry node and anything
// it runs.
func (t procTable) treeCPU(pid int) (time.Duration, error) {
	if _, ok := t.stats[pid]; !ok {
		return 0, fmt.Errorf("process %d is gone", pid)
	}
	var total time.Duration
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		total += t.stats[p].cpu
		queue = append(queue, t.children[p]...)
	}
	return total, nil
}

// kthreadd is the parent of every kernel thread; their CPU time (softirq
// work for the benchmark's own loopback traffic, mostly) is not another
// user's load.
const kthreadd = 2

// machineCPU is the busy CPU time of the whole machine, from /proc/stat:
// user + nice + system + irq + softirq over all CPUs (with tick-based
// accounting a task's stime includes the softirq ticks it was charged),
// and the time the hypervisor gave the CPUs to someone else.
type machineCPU struct {
	busy, steal time.Duration
}

// parseMachineCPU reads the "cpu" line of /proc/stat:
//
//	cpu  user nice system idle iowait irq softirq steal guest guest_nice
func parseMachineCPU(stat string) (machineCPU, error) {
	line, _, _ := strings.Cut(stat, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return machineCPU{}, fmt.Errorf("parse /proc/stat: unexpected first line %q", line)
	}
	var v [8]int64
	for i := range v {
		n, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil {
			return machineCPU{}, fmt.Errorf("parse /proc/stat %q: %w", line, err)
		}
		v[i] = n
	}
	busy := v[0] + v[1] + v[2] + v[5] + v[6]
	return machineCPU{busy: time.Duration(busy) * clockTick, steal: time.Duration(v[7]) * clockTick}, nil
}

func readMachineCPU() (machineCPU, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineCPU{}, err
	}
	return parseMachineCPU(string(data))
}

// freePort asks the kernel for a free loopback port. Another process
// could take it before the server binds it; on a benchmark machine that
// is rare, and the server's start-up then fails loudly.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// errExited reports a server that ended while the harness waited for it.
var errExited = errors.New("process exited")

// waitHTTP polls url until it answers want (or the process ends, or
// timeout passes) and returns the body of that answer.
func waitHTTP(ctx context.Context, p *process, url, host string, want int, timeout time.Duration) ([]byte, error) {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		if host != "" {
			req.Host = host
		}
		resp, err := client.Do(req)
		if err == nil {
			var body bytes.Buffer
			_, _ = body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == want {
				return body.Bytes(), nil
			}
			last = fmt.Sprintf("status %d", resp.StatusCode)
		} else {
			last = err.Error()
		}
		if p != nil && p.exited() {
			return nil, fmt.Errorf("%s: %w (%v)", p.name, errExited, p.err)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("GET %s: no %d within %s (last: %s)", url, want, timeout, last)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}
