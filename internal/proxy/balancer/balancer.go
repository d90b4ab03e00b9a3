package balancer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNoHealthyTargets is returned by Pick when the upstream cannot take the
// request: its healthy weight is at or below the threshold, or no address
// is left to try. Its text is the message Kong answers 503 with.
var ErrNoHealthyTargets = errors.New("failure to get a peer from the ring-balancer")

// algorithm is an upstream's balancing algorithm, parsed once.
type algorithm int

const (
	roundRobin algorithm = iota
	leastConnections
	consistentHashing
	latency
	stickySessions
)

func parseAlgorithm(s string) algorithm {
	switch s {
	case AlgorithmLeastConnections:
		return leastConnections
	case AlgorithmConsistentHashing:
		return consistentHashing
	case AlgorithmLatency:
		return latency
	case AlgorithmStickySessions:
		return stickySessions
	}
	return roundRobin
}

// Balancer balances requests over the targets of one upstream. It is safe
// for concurrent use. Pick takes no lock; Done locks only the one
// address's health counters, and only when passive checks count the
// outcome.
type Balancer struct {
	up        Upstream // validated; compared by NewSet to decide reuse
	invalid   error    // why the upstream cannot be balanced, or nil
	alg       algorithm
	hash      hashConfig
	active    checkRules
	passive   checkRules
	passiveOn bool // some passive report can change a state
	checksOn  bool // Kong's "healthchecks on" (active or passive breaker)
	threshold float64
	targets   []*target
	opts      Options
	log       *slog.Logger

	ring atomic.Pointer[ring]
	next atomic.Uint64 // rotates round-robin and tie-breaking start points

	mu  sync.Mutex           // serialises ring rebuilds and healthy recounts
	ips map[*target][]string // last good resolution of each name target

	life   sync.Mutex // guards owner and cancel, and orders start and stop
	owner  *Set       // the Set that last started b; only it may stop b
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// newBalancer builds the balancer of u. An upstream that fails validation
// still gets a balancer, one that refuses every Pick with the reason, so a
// service naming it answers 503 instead of being sent to DNS.
func newBalancer(u Upstream, opts Options) *Balancer {
	err := u.Validate()
	b := &Balancer{
		up:        u,
		invalid:   err,
		alg:       parseAlgorithm(u.Algorithm),
		hash:      newHashConfig(&u),
		active:    compileRules(u.Healthchecks.Active.Healthy, u.Healthchecks.Active.Unhealthy),
		passive:   compileRules(u.Healthchecks.Passive.Healthy, u.Healthchecks.Passive.Unhealthy),
		threshold: u.Healthchecks.Threshold,
		opts:      opts,
		log:       opts.Logger.With("upstream", u.Name),
		ips:       map[*target][]string{},
	}
	b.passiveOn = b.passive.counts()
	pu := u.Healthchecks.Passive.Unhealthy
	b.checksOn = u.Healthchecks.Active.Enabled() || pu.TCPFailures > 0 || pu.Timeouts > 0 || pu.HTTPFailures > 0
	if err != nil {
		b.log.Error("upstream cannot be balanced", "err", err)
	} else {
		for _, t := range u.Targets {
			host, port, _ := splitTarget(t.Target)
			bt := &target{id: t.ID, spec: t.Target, host: host, port: port, weight: int64(t.Weight), isName: !isIP(host)}
			switch {
			case u.HostHeader != "":
				bt.header = u.HostHeader
			case bt.isName:
				bt.header = host
			}
			b.targets = append(b.targets, bt)
		}
	}
	b.ring.Store(buildRing(b.alg, u.Slots, b.targets, b.ips, nil))
	return b
}

// Name returns the upstream's name.
func (b *Balancer) Name() string { return b.up.Name }

// ID returns the upstream's id.
func (b *Balancer) ID() string { return b.up.ID }

// Healthy reports whether the upstream's healthy weight is above its
// threshold, that is whether Pick can succeed at all (Kong's balancer
// health).
func (b *Balancer) Healthy() bool {
	return b.invalid == nil && b.ring.Load().healthyEnough(b.threshold)
}

// Pick is the address chosen for one attempt of a request. Report its
// outcome with Done, exactly once.
type Pick struct {
	// Addr is the "ip:port" to dial.
	Addr string
	// Host is the name to send as Host header and TLS server name: the
	// upstream's host_header when set, else the target's name. It is empty
	// when the target is an IP address; the proxy then uses Addr's host.
	Host string
	// TargetID is the id of the target the address belongs to.
	TargetID string
	// SetCookie, when not empty, is a Set-Cookie header value the response
	// to the client must carry: the hash cookie created for
	// hash_on=cookie, or the sticky-sessions cookie naming the chosen
	// address. When a request is retried, use the last Pick's value.
	SetCookie string

	b *Balancer
	a *address
}

// Outcome is what became of one attempt, for passive health checks,
// least-connections counts and latency averages.
type Outcome struct {
	// Status is the response status, or 0 when no response arrived.
	Status int
	// Err is the transport error of an attempt that failed before a
	// response (connect, TLS, reset); it counts as a TCP failure.
	Err error
	// Timeout says the attempt timed out (connect, write or read); it
	// counts as a timeout, whatever Err says.
	Timeout bool
	// Latency is the time from sending the request to the response
	// header, which the latency algorithm averages.
	Latency time.Duration
}

// Pick chooses an address for one attempt of a request. in carries what
// hashing algorithms read of the request and may be nil for the others.
// tried lists the addresses earlier attempts of the same request used:
// Pick avoids them while another usable address remains, and goes back to
// them (as Kong's least-connections does) once none does, so a request
// with more retries than targets still has somewhere to go.
//
// Pick returns ErrNoHealthyTargets when the upstream's healthy weight is at
// or below its threshold or no usable address is left.
func (b *Balancer) Pick(in *HashInput, tried []string) (Pick, error) {
	if b.invalid != nil {
		return Pick{}, fmt.Errorf("%w: upstream %s: %v", ErrNoHealthyTargets, b.up.Name, b.invalid)
	}
	r := b.ring.Load()
	if !r.healthyEnough(b.threshold) {
		return Pick{}, ErrNoHealthyTargets
	}
	a, setCookie := b.choose(r, in, tried)
	if a == nil && len(tried) > 0 {
		a, setCookie = b.choose(r, in, nil)
	}
	if a == nil {
		return Pick{}, ErrNoHealthyTargets
	}
	a.inflight.Add(1)
	return Pick{Addr: a.addr, Host: a.target.header, TargetID: a.target.id, SetCookie: setCookie, b: b, a: a}, nil
}

// choose runs the upstream's algorithm over the usable addresses not in
// tried.
func (b *Balancer) choose(r *ring, in *HashInput, tried []string) (*address, string) {
	switch b.alg {
	case leastConnections:
		return r.pickLeast(b.next.Add(1), tried), ""
	case consistentHashing:
		key, setCookie := b.hash.key(in)
		return r.pickHash(key, tried), setCookie
	case latency:
		return r.pickLatency(b.next.Add(1), b.opts.Now().UnixNano(), tried), ""
	case stickySessions:
		return b.pickSticky(r, in, tried)
	}
	return r.pickRoundRobin(b.next.Add(1), tried), ""
}

// Done reports the outcome of the attempt. It must be called exactly once
// per successful Pick: it releases the in-flight count least-connections
// relies on. Calling it on a zero Pick does nothing.
func (p Pick) Done(o Outcome) {
	a, b := p.a, p.b
	if a == nil {
		return
	}
	a.inflight.Add(-1)
	if b.alg == latency && o.Latency > 0 && (o.Status != 0 || o.Timeout) {
		// Only attempts that got an answer or waited for one say how slow
		// a target is; a refused connection fails fast and would make a
		// dead target look quick.
		b.observeLatency(a, o.Latency)
	}
	if b.passiveOn {
		if k := b.passive.passiveReport(o); k != reportIgnored {
			b.applyReport(a, &b.passive, k, "passive")
		}
	}
}

// contains reports whether addr is in tried; tried holds a request's few
// earlier attempts, so a scan beats building a set.
func contains(tried []string, addr string) bool {
	return slices.Contains(tried, addr)
}

// pickRoundRobin walks the wheel from the p-th slot to the first usable,
// untried address. The counter is shared, so concurrent requests take
// consecutive slots; an unusable address's slots pass to the next one.
func (r *ring) pickRoundRobin(p uint64, tried []string) *address {
	n := len(r.wheel)
	if n == 0 {
		return nil
	}
	i := int(p % uint64(n))
	for range n {
		if a := r.addrs[r.wheel[i]]; a.usable() && !contains(tried, a.addr) {
			return a
		}
		if i++; i == n {
			i = 0
		}
	}
	return nil
}

// pickLeast returns the usable, untried address with the lowest
// (in-flight+1)/weight, Kong's least-connections score: the +1 makes an
// idle balancer prefer its heaviest target rather than whichever comes
// first. The scan starts at a rotating offset so that ties, common when
// requests are short, are spread instead of always going to the first
// address.
func (r *ring) pickLeast(p uint64, tried []string) *address {
	n := len(r.addrs)
	if n == 0 {
		return nil
	}
	var best *address
	var bestLoad int64
	i := int(p % uint64(n))
	for range n {
		a := r.addrs[i]
		if i++; i == n {
			i = 0
		}
		if !a.usable() || contains(tried, a.addr) {
			continue
		}
		// load/weight < bestLoad/bestWeight, without division.
		load := a.inflight.Load() + 1
		if best == nil || load*best.weight < bestLoad*a.weight {
			best, bestLoad = a, load
		}
	}
	return best
}

// pickHash returns the first usable, untried address at or after the key's
// position on the ring, wrapping around.
func (r *ring) pickHash(key string, tried []string) *address {
	n := len(r.points)
	if n == 0 {
		return nil
	}
	pos := uint32(hash64(key) % r.slots)
	i, _ := slices.BinarySearchFunc(r.points, pos, func(p point, pos uint32) int {
		return int(int64(p.pos) - int64(pos))
	})
	for range n {
		if i == n {
			i = 0
		}
		if a := r.addrs[r.points[i].idx]; a.usable() && !contains(tried, a.addr) {
			return a
		}
		i++
	}
	return nil
}

// pickLatency returns the usable, untried address with the lowest
// (decayed EWMA latency + 1ns) × (in-flight + 1) / weight. Multiplying by
// the in-flight count keeps a burst of concurrent requests from all going
// to the currently fastest address before its average can react; the 1 ns
// makes addresses with no samples compare by load alone.
func (r *ring) pickLatency(p uint64, now int64, tried []string) *address {
	n := len(r.addrs)
	if n == 0 {
		return nil
	}
	var best *address
	bestScore := math.Inf(1)
	i := int(p % uint64(n))
	for range n {
		a := r.addrs[i]
		if i++; i == n {
			i = 0
		}
		if !a.usable() || contains(tried, a.addr) {
			continue
		}
		score := (a.decayedLatency(now) + 1) * float64(a.inflight.Load()+1) / float64(a.weight)
		if score < bestScore {
			best, bestScore = a, score
		}
	}
	return best
}

// ewmaDecay is the time over which a latency sample loses most of its
// weight, Kong's DECAY_TIME.
const ewmaDecay = 10 * time.Second

// decayedLatency is the address's latency average (ns) decayed towards
// zero for the time since its last sample, as Kong scores addresses: an
// address that has not been used for a while looks faster and gets tried
// again.
func (a *address) decayedLatency(now int64) float64 {
	e := math.Float64frombits(a.ewma.Load())
	if e == 0 {
		return 0
	}
	if td := now - a.ewmaAt.Load(); td > 0 {
		e *= math.Exp(-float64(td) / float64(ewmaDecay))
	}
	return e
}

// observeLatency folds one latency sample into the address's average,
// weighting the old average by how recent it is.
func (b *Balancer) observeLatency(a *address, d time.Duration) {
	now := b.opts.Now().UnixNano()
	a.mu.Lock()
	defer a.mu.Unlock()
	e := math.Float64frombits(a.ewma.Load())
	w := 0.0 // the first sample is the average
	if last := a.ewmaAt.Load(); last != 0 {
		w = math.Exp(-float64(max(now-last, 0)) / float64(ewmaDecay))
	}
	a.ewma.Store(math.Float64bits(e*w + float64(d)*(1-w)))
	a.ewmaAt.Store(now)
}

// pickSticky sends the client to the address its cookie names while that
// address is usable, and otherwise picks by least-connections and returns
// the cookie that makes the client stick to the new choice.
func (b *Balancer) pickSticky(r *ring, in *HashInput, tried []string) (*address, string) {
	if in != nil && in.Cookie != nil {
		if v, ok := in.Cookie(b.hash.stickyName); ok {
			if a := r.byToken[v]; a != nil && a.usable() && !contains(tried, a.addr) {
				return a, ""
			}
		}
	}
	a := r.pickLeast(b.next.Add(1), tried)
	if a == nil {
		return nil, ""
	}
	return a, cookieHeader(b.hash.stickyName, a.token, b.hash.stickyPath)
}

// The states Health reports, the values of Kong's
// kong_upstream_target_health metric.
const (
	StateHealthy         = "healthy"
	StateUnhealthy       = "unhealthy"
	StateDNSError        = "dns_error"
	StateHealthchecksOff = "healthchecks_off"
)

// TargetHealth is the state of one address of an upstream, for metrics
// and status endpoints.
type TargetHealth struct {
	// TargetID and Target identify the configured target.
	TargetID, Target string
	// Address is the "ip:port" the target resolved to; it is empty for a
	// name that has not resolved.
	Address string
	// Weight is the address's weight.
	Weight int
	// Healthy says whether the address may be picked (weight aside).
	Healthy bool
	// State is one of the State* constants.
	State string
	// InFlight is the number of attempts picked and not yet Done.
	InFlight int64
}

// Health returns the state of every address, and of every name target
// that has no address, sorted by target then address.
func (b *Balancer) Health() []TargetHealth {
	r := b.ring.Load()
	out := make([]TargetHealth, 0, len(r.addrs)+len(r.unresolved))
	for _, a := range r.addrs {
		h := TargetHealth{TargetID: a.target.id, Target: a.target.spec, Address: a.addr, Weight: int(a.weight),
			Healthy: a.healthy.Load(), InFlight: a.inflight.Load()}
		switch {
		case !b.checksOn:
			h.State = StateHealthchecksOff
		case h.Healthy:
			h.State = StateHealthy
		default:
			h.State = StateUnhealthy
		}
		out = append(out, h)
	}
	for _, t := range r.unresolved {
		out = append(out, TargetHealth{TargetID: t.id, Target: t.spec, Weight: int(t.weight), State: StateDNSError})
	}
	slices.SortStableFunc(out, func(x, y TargetHealth) int {
		return cmp.Or(cmp.Compare(x.Target, y.Target), cmp.Compare(x.Address, y.Address))
	})
	return out
}
