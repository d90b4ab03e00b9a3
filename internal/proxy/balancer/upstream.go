package balancer

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The algorithms an upstream can name, as Kong spells them.
const (
	AlgorithmRoundRobin        = "round-robin"
	AlgorithmLeastConnections  = "least-connections"
	AlgorithmConsistentHashing = "consistent-hashing"
	AlgorithmLatency           = "latency"
	AlgorithmStickySessions    = "sticky-sessions"
)

// The inputs consistent hashing can take its key from (hash_on and
// hash_fallback).
const (
	HashNone       = "none"
	HashConsumer   = "consumer"
	HashIP         = "ip"
	HashHeader     = "header"
	HashCookie     = "cookie"
	HashPath       = "path"
	HashQueryArg   = "query_arg"
	HashURICapture = "uri_capture"
)

// defaultTargetPort is the port Kong gives a target written without one.
const defaultTargetPort = "8000"

// Upstream is what the balancer needs of an upstream entity and its
// targets. UpstreamFromEntities builds one from validated entities; code
// and tests may also fill one in directly, in which case zero scalar fields
// take Kong's defaults (see Validate) while nil status lists stay empty.
type Upstream struct {
	// ID identifies the upstream across configurations: NewSet matches a
	// new upstream with the previous Set's by ID (by Name when ID is
	// empty) to decide whether its state carries over.
	ID string
	// Name is the virtual host name a service's host refers to.
	Name string
	// Algorithm is one of the Algorithm* constants.
	Algorithm string

	// HashOn and HashFallback name the request input consistent hashing
	// uses (one of the Hash* constants); the fallback applies when the
	// primary input is empty. The fields after them name the header,
	// cookie, query argument or URI capture group each mode reads.
	HashOn, HashFallback                           string
	HashOnHeader, HashFallbackHeader               string
	HashOnCookie, HashOnCookiePath                 string
	HashOnQueryArg, HashFallbackQueryArg           string
	HashOnURICapture, HashFallbackURICapture       string
	StickySessionsCookie, StickySessionsCookiePath string

	// Slots is the size of the consistent-hashing ring's position space.
	Slots int
	// Healthchecks configures active and passive checks and the health
	// threshold.
	Healthchecks Healthchecks
	// HostHeader, when set, replaces the target's name as the Host header
	// (and TLS server name) sent upstream and to active checks.
	HostHeader string
	// Targets are the addresses to balance over.
	Targets []Target
}

// Target is one target of an upstream.
type Target struct {
	// ID is the target entity's id, reported back in Pick.TargetID.
	ID string
	// Target is "host:port", where host is an IP address or a name to
	// resolve; a missing port means Kong's default, 8000.
	Target string
	// Weight is the target's share of traffic (0–65535). A name that
	// resolves to several addresses gives each of them this weight, as
	// Kong does. Weight 0 keeps a target configured but unused.
	Weight int
}

// Healthchecks is an upstream's health check configuration, Kong's
// "healthchecks" record.
type Healthchecks struct {
	// Active checks probe targets on a timer.
	Active ActiveHealthcheck
	// Passive checks (the circuit breaker) judge targets from the
	// outcomes of proxied requests.
	Passive PassiveHealthcheck
	// Threshold is the percentage of total weight that must be healthy
	// for the upstream to take traffic at all; below it Pick fails.
	Threshold float64
}

// ActiveHealthcheck configures probes of every address on a timer.
type ActiveHealthcheck struct {
	// Type is "http", "https", "tcp", "grpc" or "grpcs". tcp, and grpc and
	// grpcs too (see probe), only check that a connection is accepted.
	Type string
	// Timeout bounds one probe, from connect to response status.
	Timeout time.Duration
	// Concurrency is how many probes of one round run at once.
	Concurrency int
	// HTTPPath is the path requested by http and https probes.
	HTTPPath string
	// HTTPSSNI overrides the TLS server name of https probes.
	HTTPSSNI string
	// HTTPSVerifyCertificate checks the target's certificate on https
	// probes.
	HTTPSVerifyCertificate bool
	// Headers are added to every http and https probe.
	Headers map[string][]string
	// Healthy says how often healthy targets are probed and what makes a
	// target healthy again.
	Healthy HealthyRule
	// Unhealthy says how often unhealthy targets are probed and what makes
	// a target unhealthy.
	Unhealthy UnhealthyRule
}

// Enabled reports whether active checks run, which is when either interval
// is set, as in Kong.
func (a ActiveHealthcheck) Enabled() bool {
	return a.Healthy.Interval > 0 || a.Unhealthy.Interval > 0
}

// PassiveHealthcheck configures how outcomes of proxied requests count.
type PassiveHealthcheck struct {
	// Healthy says which statuses count as successes and how many
	// successes make an unhealthy target healthy again (0: never, only
	// active checks can).
	Healthy HealthyRule
	// Unhealthy says which statuses count as failures and how many
	// failures of each kind trip the breaker (0: that kind never does).
	Unhealthy UnhealthyRule
}

// HealthyRule is the "healthy" half of an active or passive check.
type HealthyRule struct {
	// Interval is the time between probes of healthy targets (active
	// checks only; 0 leaves healthy targets unprobed).
	Interval time.Duration
	// HTTPStatuses count as successes.
	HTTPStatuses []int
	// Successes is how many successes in a row make a target healthy; 0
	// disables counting successes.
	Successes int
}

// UnhealthyRule is the "unhealthy" half of an active or passive check.
type UnhealthyRule struct {
	// Interval is the time between probes of unhealthy targets (active
	// checks only; 0 leaves unhealthy targets unprobed).
	Interval time.Duration
	// HTTPStatuses count as HTTP failures.
	HTTPStatuses []int
	// TCPFailures, Timeouts and HTTPFailures are how many failures of each
	// kind make a healthy target unhealthy; 0 disables that counter.
	TCPFailures, Timeouts, HTTPFailures int
}

// Validate fills the zero scalar fields that have a Kong default and
// reports what the balancer cannot work with. NewSet validates every
// upstream; UpstreamFromEntities does too, so a bad entity is reported
// when the configuration is loaded rather than on the first request.
func (u *Upstream) Validate() error {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&u.Algorithm, AlgorithmRoundRobin)
	def(&u.HashOn, HashNone)
	def(&u.HashFallback, HashNone)
	def(&u.HashOnCookiePath, "/")
	def(&u.StickySessionsCookiePath, "/")
	if u.Slots == 0 {
		u.Slots = 10000
	}
	a := &u.Healthchecks.Active
	def(&a.Type, "http")
	def(&a.HTTPPath, "/")
	if a.Timeout == 0 {
		// A zero deadline would fail every probe; Kong's default is 1 s.
		a.Timeout = time.Second
	}
	if a.Concurrency == 0 {
		a.Concurrency = 10
	}

	var errs []error
	if u.Name == "" {
		errs = append(errs, errors.New("upstream has no name"))
	}
	switch u.Algorithm {
	case AlgorithmRoundRobin, AlgorithmLeastConnections, AlgorithmConsistentHashing, AlgorithmLatency:
	case AlgorithmStickySessions:
		if u.StickySessionsCookie == "" {
			errs = append(errs, errors.New("algorithm sticky-sessions needs sticky_sessions_cookie"))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown algorithm %q", u.Algorithm))
	}
	if u.Slots < 10 || u.Slots > 65536 {
		errs = append(errs, fmt.Errorf("slots %d out of range 10-65536", u.Slots))
	}
	errs = append(errs, checkHashInput("hash_on", u.HashOn, u.HashOnHeader, u.HashOnCookie, u.HashOnQueryArg, u.HashOnURICapture))
	errs = append(errs, checkHashInput("hash_fallback", u.HashFallback, u.HashFallbackHeader, u.HashOnCookie, u.HashFallbackQueryArg, u.HashFallbackURICapture))
	switch a.Type {
	case "http", "https", "tcp", "grpc", "grpcs":
	default:
		errs = append(errs, fmt.Errorf("unknown active health check type %q", a.Type))
	}
	if a.Timeout < 0 || a.Concurrency < 0 {
		errs = append(errs, errors.New("negative active health check timeout or concurrency"))
	}
	for _, t := range u.Targets {
		if _, _, err := splitTarget(t.Target); err != nil {
			errs = append(errs, err)
		}
		if t.Weight < 0 || t.Weight > 65535 {
			errs = append(errs, fmt.Errorf("target %s: weight %d out of range 0-65535", t.Target, t.Weight))
		}
	}
	return errors.Join(errs...)
}

// checkHashInput reports a hashing mode that lacks the name it reads.
func checkHashInput(field, mode, header, cookie, query, capture string) error {
	need := map[string]string{HashHeader: header, HashCookie: cookie, HashQueryArg: query, HashURICapture: capture}
	switch mode {
	case HashNone, HashConsumer, HashIP, HashPath:
		return nil
	case HashHeader, HashCookie, HashQueryArg, HashURICapture:
		if need[mode] == "" {
			return fmt.Errorf("%s %s needs the name of the %s to read", field, mode, mode)
		}
		return nil
	}
	return fmt.Errorf("unknown %s %q", field, mode)
}

// splitTarget splits "host:port" into its parts, giving a target without a
// port Kong's default one.
func splitTarget(s string) (host, port string, err error) {
	host, port, err = net.SplitHostPort(s)
	if err != nil {
		// No port: a bare name, IPv4 address or bracketed IPv6 address.
		host, port = s, defaultTargetPort
		if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
			host = host[1 : len(host)-1]
		}
		if strings.Contains(host, ":") && !isIP(host) {
			return "", "", fmt.Errorf("target %q is not host:port", s)
		}
	}
	if host == "" {
		return "", "", fmt.Errorf("target %q has no host", s)
	}
	if n, perr := strconv.Atoi(port); perr != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("target %q has an invalid port", s)
	}
	return host, port, nil
}

// isIP reports whether host is an IP literal, which needs no DNS.
func isIP(host string) bool {
	_, err := netip.ParseAddr(host)
	return err == nil
}

// sameUpstream reports whether two validated upstreams describe the same
// balancer, so its state can carry over. Target order does not matter:
// stores list targets in no promised order.
func sameUpstream(a, b Upstream) bool {
	a.Targets, b.Targets = sortedTargets(a.Targets), sortedTargets(b.Targets)
	return reflect.DeepEqual(a, b)
}

// sortedTargets returns a sorted copy of ts, leaving the caller's slice
// alone.
func sortedTargets(ts []Target) []Target {
	out := slices.Clone(ts)
	slices.SortFunc(out, func(x, y Target) int {
		return cmp.Or(cmp.Compare(x.Target, y.Target), cmp.Compare(x.ID, y.ID), cmp.Compare(x.Weight, y.Weight))
	})
	return out
}
