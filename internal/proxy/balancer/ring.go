package balancer

import (
	"cmp"
	"encoding/hex"
	"math"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
)

// target is one configured target of a balancer.
type target struct {
	id     string
	spec   string // as configured, "host:port"
	host   string
	port   string
	weight int64
	isName bool   // host is a name to resolve, not an IP literal
	header string // Pick.Host for this target's addresses
}

// address is one ip:port a target resolved to, and everything the balancer
// knows of it. Address objects outlive ring snapshots: a rebuild after a
// DNS change keeps the objects of addresses that remain, so their health,
// counters and in-flight counts survive.
type address struct {
	target *target
	addr   string // "ip:port", what the proxy dials
	token  string // sticky-sessions cookie value naming this address
	weight int64

	healthy  atomic.Bool
	inflight atomic.Int64
	ewma     atomic.Uint64 // float64 bits: decayed response latency, ns
	ewmaAt   atomic.Int64  // unix ns of the last latency sample

	mu                                             sync.Mutex // guards the counters
	successes, httpFailures, tcpFailures, timeouts int
}

func newAddress(t *target, ip string) *address {
	a := &address{target: t, addr: net.JoinHostPort(ip, t.port), weight: t.weight}
	h := hash64(a.addr)
	var b [8]byte
	for i := range b {
		b[i] = byte(h >> (56 - 8*i))
	}
	a.token = hex.EncodeToString(b[:])
	a.healthy.Store(true)
	return a
}

// key identifies an address across rebuilds: the same ip:port reached
// through two targets is two addresses, as in Kong, where health is kept
// per ip, port and hostname.
func (a *address) key() string { return a.target.spec + "|" + a.addr }

// usable reports whether a may be picked at all.
func (a *address) usable() bool { return a.weight > 0 && a.healthy.Load() }

// ring is an immutable snapshot of a balancer's addresses and the
// structures its algorithm picks from. Pick loads it through an atomic
// pointer; DNS changes publish a new one.
type ring struct {
	addrs      []*address // sorted by target, then address
	unresolved []*target  // name targets with no address yet
	total      int64      // weight of every address plus unresolved targets
	healthy    atomic.Int64

	wheel   []uint32            // round-robin: indexes into addrs
	points  []point             // consistent-hashing: sorted by pos
	slots   uint64              // consistent-hashing position space
	byToken map[string]*address // sticky-sessions
}

// point is one position of an address on the consistent-hashing ring.
type point struct {
	pos uint32
	idx uint32
}

// buildRing makes the snapshot for the given targets and their resolved
// IPs, reusing the address objects of prev whose key is unchanged.
func buildRing(alg algorithm, slots int, targets []*target, ips map[*target][]string, prev *ring) *ring {
	old := map[string]*address{}
	if prev != nil {
		for _, a := range prev.addrs {
			old[a.key()] = a
		}
	}
	r := &ring{}
	for _, t := range targets {
		list := ips[t]
		if !t.isName {
			list = []string{t.host}
		}
		if len(list) == 0 {
			r.unresolved = append(r.unresolved, t)
			r.total += t.weight
			continue
		}
		for _, ip := range list {
			a := newAddress(t, ip)
			if o, ok := old[a.key()]; ok {
				a = o
			}
			r.addrs = append(r.addrs, a)
			r.total += a.weight
		}
	}
	slices.SortStableFunc(r.addrs, func(x, y *address) int {
		return cmp.Or(cmp.Compare(x.target.spec, y.target.spec), cmp.Compare(x.addr, y.addr))
	})
	switch alg {
	case roundRobin:
		r.wheel = buildWheel(r.addrs)
	case consistentHashing:
		r.buildPoints(slots)
	case stickySessions:
		r.byToken = make(map[string]*address, len(r.addrs))
		for _, a := range r.addrs {
			r.byToken[a.token] = a
		}
	}
	r.recountHealthy()
	return r
}

// recountHealthy recomputes the healthy weight from the addresses' states.
// Callers serialise it (Balancer.mu) so concurrent state changes cannot
// store a stale sum last.
func (r *ring) recountHealthy() {
	var h int64
	for _, a := range r.addrs {
		if a.healthy.Load() {
			h += a.weight
		}
	}
	r.healthy.Store(h)
}

// healthyEnough applies the health threshold. As in Kong's balancer, the
// healthy share must exceed the threshold: with the default threshold 0 any
// healthy weight will do, and with no healthy weight nothing will.
func (r *ring) healthyEnough(threshold float64) bool {
	if r.total == 0 {
		return false
	}
	return float64(r.healthy.Load())*100 > threshold*float64(r.total)
}

// maxWheel caps the round-robin wheel. Weights are reduced by their
// greatest common divisor first, so only unusual weight mixes (say 65535
// and 65534) are scaled down, at a precision cost below 1/65536 of the
// total.
const maxWheel = 1 << 16

// buildWheel lays the usable-weight addresses out on a wheel in which each
// appears in proportion to its weight. The order comes from stride
// scheduling: the k-th of an address's u slots sits at (k-½)/u of the
// cycle, so a target of weight 3 beside one of weight 1 is picked A A B A,
// not A A A B, and one full turn gives every address exactly its share.
func buildWheel(addrs []*address) []uint32 {
	var g, sum int64
	for _, a := range addrs {
		if a.weight > 0 {
			g = gcd(g, a.weight)
			sum += a.weight
		}
	}
	if sum == 0 {
		return nil
	}
	units := make([]int64, len(addrs))
	var size int64
	for i, a := range addrs {
		if a.weight == 0 {
			continue
		}
		units[i] = a.weight / g
		if sum/g > maxWheel {
			units[i] = max(1, int64(math.Round(float64(a.weight)*maxWheel/float64(sum))))
		}
		size += units[i]
	}
	type slot struct {
		pass float64
		idx  uint32
	}
	slots := make([]slot, 0, size)
	for i, u := range units {
		for k := int64(1); k <= u; k++ {
			slots = append(slots, slot{pass: (float64(k) - 0.5) / float64(u), idx: uint32(i)})
		}
	}
	slices.SortFunc(slots, func(x, y slot) int {
		return cmp.Or(cmp.Compare(x.pass, y.pass), cmp.Compare(x.idx, y.idx))
	})
	wheel := make([]uint32, len(slots))
	for i, s := range slots {
		wheel[i] = s.idx
	}
	return wheel
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// pointsPerTarget is how many ring points an address gets when all
// targets weigh the same, Kong's SERVER_POINTS.
const pointsPerTarget = 160

// minSlots is the smallest position space Kong's consistent-hashing
// continuum uses; smaller slots values are raised to it, as Kong does,
// because a ring of a few dozen positions would give only that many
// distinct mappings.
const minSlots = 1000

// buildPoints places every usable-weight address on the ring. An address
// gets weight/total × targets × 160 points (at least one), Kong's
// proportion: 160 each when weights are equal, however many targets there
// are, so removing a target removes its points and moves no other key.
// Unlike Kong, targets of weight 0 are left out of the count, so adding or
// removing an unused target does not reshuffle the ring either.
// Points are hashed from the address and the point's ordinal, so they do
// not depend on the rest of the set; positions that collide are both kept,
// ordered by address, which keeps the ring independent of insertion order.
func (r *ring) buildPoints(slots int) {
	r.slots = uint64(max(slots, minSlots))
	var total int64
	weighted := map[*target]bool{}
	for _, a := range r.addrs {
		total += a.weight
		if a.weight > 0 {
			weighted[a.target] = true
		}
	}
	targets := len(weighted)
	for i, a := range r.addrs {
		if a.weight == 0 {
			continue
		}
		n := max(1, int(float64(a.weight)/float64(total)*float64(targets)*pointsPerTarget))
		for k := 1; k <= n; k++ {
			pos := hash64(a.addr+" "+strconv.Itoa(k)) % r.slots
			r.points = append(r.points, point{pos: uint32(pos), idx: uint32(i)})
		}
	}
	// addrs is sorted by target and address, so index order is a
	// deterministic tie-break for colliding positions.
	slices.SortFunc(r.points, func(x, y point) int {
		return cmp.Or(cmp.Compare(x.pos, y.pos), cmp.Compare(x.idx, y.idx))
	})
}

// hash64 is FNV-1a over s followed by a 64-bit finaliser (MurmurHash3's
// fmix64). FNV-1a alone spreads short, similar strings such as
// "10.0.0.1:80 17" poorly in its low bits, which the ring reduces modulo
// slots; the finaliser fixes that. It allocates nothing.
func hash64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
