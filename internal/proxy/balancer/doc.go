// Package balancer spreads proxied requests over an upstream's targets the
// way Kong Gateway's ring-balancer does, and keeps track of which targets
// are fit to receive them.
//
// A Set holds one Balancer per upstream of a configuration. It is rebuilt
// for every new configuration with NewSet, which carries over the state of
// upstreams that did not change (health, in-flight counts, hash ring,
// resolved addresses) so that a config push that touches one upstream does
// not reset the circuit breakers of all the others. Building a Set changes
// nothing in the running one; Start commits it, so a configuration that
// fails later checks can be abandoned with the old Set intact.
//
// The request path is Balancer.Pick followed by exactly one Pick.Done. Pick
// reads an immutable snapshot of the balancer's addresses through an atomic
// pointer and per-address atomics, so it takes no lock and allocates
// nothing (except to create a cookie for a client that has none). Done
// feeds the passive
// health checks (Kong's circuit breaker), the in-flight counts that
// least-connections uses, and the latency averages of the latency
// algorithm.
//
// Everything that waits on the network — active health checks and the
// periodic re-resolution of targets given as host names — runs in
// goroutines started by Set.Start and stopped by Set.Stop, never on the
// request path.
//
// Algorithms, after Kong's upstream "algorithm" field:
//
//   - round-robin: a precomputed wheel in which every address appears in
//     proportion to its weight, interleaved smoothly (stride scheduling), so
//     a heavy target does not get its share in bursts.
//   - least-connections: the address with the fewest in-flight requests
//     relative to its weight, (in-flight+1)/weight as in Kong.
//   - consistent-hashing: a ring of points placed by hashing each address,
//     160 points per target at equal weights and proportionally more or
//     fewer by weight (Kong's ketama-style continuum), over a position space
//     of `slots` positions. A key maps to the first available point at or
//     after its own position.
//   - latency: the lowest score of decayed EWMA response latency ×
//     (in-flight + 1) / weight (Finagle's peak-EWMA cost, which Kong's
//     latency algorithm is modelled on); with no latency known yet it
//     behaves as least-connections.
//   - sticky-sessions: a cookie names the address that served the client
//     before; when it is absent or that address is unavailable, the
//     balancer picks by least-connections and hands back a cookie to set.
//
// Health checks follow lua-resty-healthcheck, the library Kong uses:
// active and passive reports feed the same per-address counters with their
// own limits, a counter whose limit is 0 is disabled, and a target changes
// state only when a counter reaches its limit.
package balancer
