package balancer

import (
	"context"
	"slices"
	"sync"
	"time"
)

// resolve looks up every name target and, when any resolved to a different
// set of addresses, publishes a new ring. A lookup that fails or returns
// nothing keeps the target's last good addresses, so a DNS outage does not
// take an upstream down; a name that never resolved keeps no address and
// counts as unhealthy weight.
func (b *Balancer) resolve(ctx context.Context) {
	var names []*target
	for _, t := range b.targets {
		if t.isName {
			names = append(names, t)
		}
	}
	if len(names) == 0 {
		return
	}
	results := make([][]string, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, t := range names {
		wg.Go(func() {
			lctx, cancel := context.WithTimeout(ctx, b.opts.DNSTimeout)
			defer cancel()
			results[i], errs[i] = b.opts.Resolver.LookupHost(lctx, t.host)
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return // stopping: the failures say nothing about the names
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	changed := false
	for i, t := range names {
		ips := slices.Compact(slices.Sorted(slices.Values(results[i])))
		if errs[i] != nil || len(ips) == 0 {
			b.log.Warn("could not resolve target; keeping its last known addresses",
				"target", t.spec, "addresses", len(b.ips[t]), "err", errs[i])
			continue
		}
		if !slices.Equal(ips, b.ips[t]) {
			b.log.Info("target resolved", "target", t.spec, "addresses", ips)
			b.ips[t] = ips
			changed = true
		}
	}
	if changed {
		b.ring.Store(buildRing(b.alg, b.up.Slots, b.targets, b.ips, b.ring.Load()))
	}
}

// runDNS re-resolves the balancer's names every Options.DNSRefresh until
// ctx ends.
func (b *Balancer) runDNS(ctx context.Context) {
	t := time.NewTicker(b.opts.DNSRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			b.resolve(ctx)
		}
	}
}
