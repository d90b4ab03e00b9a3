package balancer

// statusSet is a set of HTTP statuses (100–999, as Kong's schema allows) as
// a bitmap, so classifying a response on the request path is two shifts
// and a mask rather than a slice scan.
type statusSet [16]uint64

func newStatusSet(statuses []int) statusSet {
	var s statusSet
	for _, c := range statuses {
		if c >= 0 && c < 1024 {
			s[c>>6] |= 1 << (c & 63)
		}
	}
	return s
}

func (s *statusSet) has(code int) bool {
	return code >= 0 && code < 1024 && s[code>>6]&(1<<(code&63)) != 0
}

// checkRules is one kind of check (active or passive) compiled for fast
// classification.
type checkRules struct {
	healthy, unhealthy                             statusSet
	successes, httpFailures, tcpFailures, timeouts int
}

func compileRules(h HealthyRule, u UnhealthyRule) checkRules {
	return checkRules{
		healthy:      newStatusSet(h.HTTPStatuses),
		unhealthy:    newStatusSet(u.HTTPStatuses),
		successes:    h.Successes,
		httpFailures: u.HTTPFailures,
		tcpFailures:  u.TCPFailures,
		timeouts:     u.Timeouts,
	}
}

// counts reports whether any report of this kind of check can change a
// target's state, so Done can skip classification when none can.
func (r *checkRules) counts() bool {
	return r.successes > 0 || r.httpFailures > 0 || r.tcpFailures > 0 || r.timeouts > 0
}

// report is one health observation of an address, from an active probe or
// a proxied request.
type report int

const (
	reportIgnored report = iota // a status in neither list
	reportSuccess
	reportHTTPFailure
	reportTCPFailure
	reportTimeout
)

func (r report) String() string {
	return [...]string{"ignored", "success", "http failure", "tcp failure", "timeout"}[r]
}

// classifyStatus maps an HTTP status to a report. Status 0 stands for a
// response that could not be parsed, which lua-resty-healthcheck counts as
// an HTTP failure.
func (r *checkRules) classifyStatus(code int) report {
	switch {
	case r.healthy.has(code):
		return reportSuccess
	case r.unhealthy.has(code) || code == 0:
		return reportHTTPFailure
	}
	return reportIgnored
}

// limit is the count at which a report of kind k changes state; 0 means
// that kind is not counted at all.
func (r *checkRules) limit(k report) int {
	switch k {
	case reportSuccess:
		return r.successes
	case reportHTTPFailure:
		return r.httpFailures
	case reportTCPFailure:
		return r.tcpFailures
	case reportTimeout:
		return r.timeouts
	}
	return 0
}

// record applies one report to an address's counters, with the limits of
// the check that produced it, and reports whether the address changed
// state. The rules are lua-resty-healthcheck's:
//
//   - a counter whose limit is 0 is disabled, and its reports change
//     nothing (not even the other counters);
//   - a success clears the failure counters and a failure clears the
//     success counter, so limits count reports in a row;
//   - successes are not counted while healthy, nor failures while
//     unhealthy;
//   - reaching a limit flips the state and starts every counter afresh.
func (a *address) record(k report, limit int) (changed, healthy bool) {
	if limit == 0 || k == reportIgnored {
		return false, a.healthy.Load()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	healthy = a.healthy.Load()
	if k == reportSuccess {
		a.httpFailures, a.tcpFailures, a.timeouts = 0, 0, 0
		if healthy {
			return false, true
		}
		a.successes++
		if a.successes < limit {
			return false, false
		}
	} else {
		a.successes = 0
		if !healthy {
			return false, false
		}
		n := &a.httpFailures
		switch k {
		case reportTCPFailure:
			n = &a.tcpFailures
		case reportTimeout:
			n = &a.timeouts
		}
		*n++
		if *n < limit {
			return false, true
		}
	}
	a.successes, a.httpFailures, a.tcpFailures, a.timeouts = 0, 0, 0, 0
	a.healthy.Store(!healthy)
	return true, !healthy
}

// passiveReport classifies the outcome of a proxied request: a timeout
// first (it usually comes with an error too), then a transport error, then
// the status. An outcome with none of these (the client went away before
// anything happened) says nothing about the target.
func (r *checkRules) passiveReport(o Outcome) report {
	switch {
	case o.Timeout:
		return reportTimeout
	case o.Err != nil:
		return reportTCPFailure
	case o.Status == 0:
		return reportIgnored
	}
	return r.classifyStatus(o.Status)
}

// applyReport records a report against a and, when the address changes
// state, logs it and recounts the balancer's healthy weight.
func (b *Balancer) applyReport(a *address, rules *checkRules, k report, source string) {
	changed, healthy := a.record(k, rules.limit(k))
	if !changed {
		return
	}
	state := "unhealthy"
	if healthy {
		state = "healthy"
	}
	b.log.Warn("balancer target health changed", "target", a.target.spec,
		"address", a.addr, "state", state, "check", source, "report", k.String())
	b.mu.Lock()
	b.ring.Load().recountHealthy()
	b.mu.Unlock()
}
