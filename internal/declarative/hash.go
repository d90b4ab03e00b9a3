package declarative

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"slices"
	"sync"

	"github.com/gantry-gw/gantry/internal/entity"
)

// EmptyHash is the hash of an empty config and of an empty group, as in
// Kong, so a node without config and a config without entities compare
// equal.
const EmptyHash = "00000000000000000000000000000000"

// The hash groups. A data plane compares group hashes to rebuild only
// what changed: its router when routes or services change, its plugin
// chains when plugins change, its balancers when upstreams or targets do.
// GroupRest covers every other entity type.
const (
	GroupRoutes    = "routes"
	GroupServices  = "services"
	GroupPlugins   = "plugins"
	GroupUpstreams = "upstreams"
	GroupTargets   = "targets"
	GroupRest      = "rest"
)

// GroupNames returns the hash groups in the order the config hash
// combines them.
func GroupNames() []string {
	return []string{GroupRoutes, GroupServices, GroupPlugins, GroupUpstreams, GroupTargets, GroupRest}
}

// Hashes are a config's hash and its group hashes, each 32 hexadecimal
// characters.
type Hashes struct {
	// Config identifies the whole configuration: equal configs have equal
	// hashes, whatever order their files listed entities or keys in, and
	// whether they were written nested or flat.
	Config string
	// Groups maps each of GroupNames to the hash of its entities.
	Groups map[string]string
}

// Hash computes the config hash and group hashes. The algorithm is
// Gantry's own (Kong's MD5 over its own serialisation cannot be matched
// without copying its quirks, and nothing outside Gantry compares the
// two):
//
//   - Each entity is written in canonical form: compact JSON, keys sorted,
//     null members left out, created_at and updated_at dropped.
//   - A group hash is the first 16 bytes, in hex, of the SHA-256 of its
//     entities' canonical forms, each followed by '\n', in id order. The
//     "rest" group takes the other types in name order, each type's
//     entities preceded by a line with the type's name, so an entity that
//     moves between types changes the hash. An empty group hashes to
//     EmptyHash.
//   - The config hash is EmptyHash for a config without entities, else
//     the first 16 bytes, in hex, of the SHA-256 of the six group hashes
//     (hex) concatenated in the order of GroupNames.
//
// Groups are hashed concurrently: hashing is on the path of every
// configuration push.
func (c *Config) Hash() Hashes {
	var rest []string
	for typ, list := range c.Entities {
		if len(list) > 0 && !isOwnGroup(typ) {
			rest = append(rest, typ)
		}
	}
	slices.Sort(rest)

	names := GroupNames()
	sums := make([]string, len(names))
	var wg sync.WaitGroup
	for i, g := range names {
		wg.Go(func() {
			var enc canonical
			h := sha256.New()
			if g != GroupRest {
				sums[i] = enc.hashEntities(h, g, c.list(g), false)
				return
			}
			for _, typ := range rest {
				h.Write([]byte(typ))
				h.Write([]byte{'\n'})
				enc.hashEntities(h, typ, c.list(typ), true)
			}
			sums[i] = EmptyHash
			if len(rest) > 0 {
				sums[i] = sum(h)
			}
		})
	}
	wg.Wait()

	out := Hashes{Config: EmptyHash, Groups: make(map[string]string, len(names))}
	for i, g := range names {
		out.Groups[g] = sums[i]
	}
	if c.Count() > 0 {
		h := sha256.New()
		for _, s := range sums {
			h.Write([]byte(s))
		}
		out.Config = sum(h)
	}
	return out
}

// isOwnGroup reports whether typ has a group of its own.
func isOwnGroup(typ string) bool {
	switch typ {
	case GroupRoutes, GroupServices, GroupPlugins, GroupUpstreams, GroupTargets:
		return true
	}
	return false
}

// hashEntities writes the canonical form of each entity, and a newline,
// into h. Unless more is set (more types follow into the same hash), it
// returns the group hash: EmptyHash when there are no entities.
func (c *canonical) hashEntities(h hash.Hash, typ string, list []entity.Entity, more bool) string {
	for _, e := range list {
		c.buf = c.buf[:0]
		c.entity(typ, e)
		c.buf = append(c.buf, '\n')
		h.Write(c.buf)
	}
	if more {
		return ""
	}
	if len(list) == 0 {
		return EmptyHash
	}
	return sum(h)
}

// sum returns the first 16 bytes of h's digest in hex.
func sum(h hash.Hash) string {
	var b [sha256.Size]byte
	return hex.EncodeToString(h.Sum(b[:0])[:16])
}
