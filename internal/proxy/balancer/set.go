package balancer

import (
	"cmp"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"
)

// Resolver looks up the addresses of target names. *net.Resolver
// implements it; tests substitute their own.
type Resolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// Dialer opens the connections of active health checks. *net.Dialer
// implements it.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Options are the balancers' dependencies. Zero fields take the defaults
// their comments name.
type Options struct {
	// Resolver resolves targets given as names; net.DefaultResolver by
	// default.
	Resolver Resolver
	// Dialer connects active health check probes; a zero net.Dialer by
	// default.
	Dialer Dialer
	// Logger receives health changes and DNS failures; discarded by
	// default.
	Logger *slog.Logger
	// Now is the clock of latency averages; time.Now by default.
	Now func() time.Time
	// TLSConfig returns the base TLS configuration (roots, client
	// certificate) of https active checks of an upstream, by upstream id;
	// nil, or a nil result, means the system roots and no client
	// certificate. The checker sets the server name and verification
	// itself.
	TLSConfig func(upstreamID string) *tls.Config
	// DNSRefresh is how often names are resolved again. Go's resolver does
	// not report record TTLs, so a fixed period stands in for them; 30 s
	// by default, Kong's requery interval.
	DNSRefresh time.Duration
	// DNSTimeout bounds one lookup; 5 s by default.
	DNSTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Dialer == nil {
		o.Dialer = &net.Dialer{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DNSRefresh <= 0 {
		o.DNSRefresh = 30 * time.Second
	}
	if o.DNSTimeout <= 0 {
		o.DNSTimeout = 5 * time.Second
	}
	return o
}

// Set holds the balancers of one configuration, by upstream name.
//
// Balancers move between Sets: NewSet shares each unchanged balancer of
// the previous Set with the new one, and the Set that last called Start
// owns its goroutines. That gives configuration changes the shape of a
// transaction: build the new Set with NewSet, and either commit it (Start
// it, swap it in, Stop the old one, whose Stop then ends only the checks of
// upstreams the new configuration dropped or changed) or abandon it (Stop
// it, which ends nothing the old Set still runs).
type Set struct {
	byName map[string]*Balancer
	list   []*Balancer // sorted by name

	mu      sync.Mutex // orders Start and Stop
	stopped bool
}

// NewSet builds the balancers of a configuration. A balancer of prev whose
// upstream (matched by id, else name) is unchanged, targets included, is
// shared as it is: health states, counters, in-flight counts, latency
// averages, resolved addresses, hash ring and running checks. Any other
// upstream gets a fresh balancer, whose target names are resolved before
// NewSet returns (lookups run in parallel, each bounded by
// opts.DNSTimeout) so the new configuration does not start with 503s.
// prev may be nil.
//
// NewSet changes nothing in prev: until the new Set is started, prev keeps
// running every check it ran. Shared balancers keep the Options they were
// built with.
func NewSet(ups []Upstream, prev *Set, opts Options) *Set {
	opts = opts.withDefaults()
	s := &Set{byName: make(map[string]*Balancer, len(ups))}
	reusable := map[string]*Balancer{}
	if prev != nil {
		for _, b := range prev.list {
			reusable[upstreamKey(b.up)] = b
		}
	}
	var fresh []*Balancer
	for _, u := range ups {
		if err := u.Validate(); err == nil {
			key := upstreamKey(u)
			if old := reusable[key]; old != nil && old.invalid == nil && sameUpstream(old.up, u) {
				delete(reusable, key)
				s.add(old, opts.Logger)
				continue
			}
		}
		b := newBalancer(u, opts)
		if s.add(b, opts.Logger) {
			fresh = append(fresh, b)
		}
	}
	slices.SortFunc(s.list, func(x, y *Balancer) int { return cmp.Compare(x.up.Name, y.up.Name) })

	var wg sync.WaitGroup
	for _, b := range fresh {
		wg.Go(func() { b.resolve(context.Background()) })
	}
	wg.Wait()
	return s
}

// upstreamKey identifies an upstream across configurations.
func upstreamKey(u Upstream) string {
	if u.ID != "" {
		return "id:" + u.ID
	}
	return "name:" + u.Name
}

// add indexes b by name, refusing a second upstream of the same name,
// which a valid configuration never holds.
func (s *Set) add(b *Balancer, log *slog.Logger) bool {
	if _, dup := s.byName[b.up.Name]; dup {
		log.Error("duplicate upstream name; keeping the first", "upstream", b.up.Name, "id", b.up.ID)
		return false
	}
	s.byName[b.up.Name] = b
	s.list = append(s.list, b)
	return true
}

// Get returns the balancer of the upstream called name, or nil when no
// upstream has that name (the service's host is then a plain host name).
// A nil Set has no balancers.
func (s *Set) Get(name string) *Balancer {
	if s == nil {
		return nil
	}
	return s.byName[name]
}

// Balancers returns the Set's balancers sorted by upstream name, for
// metrics and status output.
func (s *Set) Balancers() []*Balancer {
	if s == nil {
		return nil
	}
	return slices.Clone(s.list)
}

// Start commits the Set: it takes over the goroutines of the balancers it
// shares with the Set it was built from, and starts the active health
// checks and DNS refreshes of those not running yet. Call it on the Set
// being swapped in, then Stop the one swapped out. Start after Stop does
// nothing; a second Start does nothing more.
func (s *Set) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	for _, b := range s.list {
		b.start(s)
	}
}

// Stop ends the goroutines of the balancers the Set owns, that is all of
// them except those a newer Set took over with Start (and those it shares
// with an older Set but never started), and waits for them. It is
// idempotent, and Pick keeps working on a stopped Set: only checks and
// refreshes end.
func (s *Set) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	for _, b := range s.list {
		b.stop(s)
	}
}

// start makes s the owner of b's background work and launches it unless it
// is already running (as it is for a balancer taken over from a running
// Set).
func (b *Balancer) start(s *Set) {
	b.life.Lock()
	defer b.life.Unlock()
	b.owner = s
	if b.cancel != nil || b.invalid != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	active := b.up.Healthchecks.Active
	if active.Healthy.Interval > 0 {
		b.wg.Go(func() { b.runActive(ctx, active.Healthy.Interval, true) })
	}
	if active.Unhealthy.Interval > 0 {
		b.wg.Go(func() { b.runActive(ctx, active.Unhealthy.Interval, false) })
	}
	if slices.ContainsFunc(b.targets, func(t *target) bool { return t.isName }) {
		b.wg.Go(func() { b.runDNS(ctx) })
	}
}

// stop ends b's background work if s owns it, and waits for it.
func (b *Balancer) stop(s *Set) {
	b.life.Lock()
	defer b.life.Unlock()
	if b.owner != s || b.cancel == nil {
		return
	}
	b.cancel()
	b.cancel = nil
	b.wg.Wait()
}
