package declarative

import (
	"slices"
	"strings"

	"github.com/gantry-gw/gantry/internal/entity"
)

// FormatVersion is the only decK format version Gantry reads and writes.
const FormatVersion = "3.0"

// Config is a complete, validated configuration: every entity Gantry
// serves, by type. It is what a control plane sends to its data planes and
// what a declarative file describes.
//
// A Config is treated as immutable once built: Hash and Encode only read
// it, so one Config can be shared by every goroutine that pushes or
// exports it.
type Config struct {
	// FormatVersion is the decK format version the config was read from or
	// will be written as; always FormatVersion today.
	FormatVersion string
	// Entities holds the entities by type name (entity.Schema.Name:
	// "services", "keyauth_credentials"), each slice sorted by id so that
	// hashing and encoding never depend on input order. Types without
	// entities may be absent.
	Entities map[string][]entity.Entity

	// sorted records that Parse or FromEntities sorted Entities, so
	// hashing need not check the order again.
	sorted bool
}

// FromEntities builds a Config from entities that were already validated,
// as the store's snapshot holds them. The map and slices are copied and the
// copies sorted by id, so the caller's slices are left as they were; the
// entities themselves are shared, not copied, and must not be changed
// afterwards.
func FromEntities(m map[string][]entity.Entity) *Config {
	c := &Config{FormatVersion: FormatVersion, Entities: make(map[string][]entity.Entity, len(m)), sorted: true}
	for typ, list := range m {
		if len(list) == 0 {
			continue
		}
		c.Entities[typ] = sortedByID(slices.Clone(list))
	}
	return c
}

// Count returns the number of entities in the config, of every type.
func (c *Config) Count() int {
	n := 0
	for _, list := range c.Entities {
		n += len(list)
	}
	return n
}

// sortedByID sorts list by id in place and returns it. Each id is read
// once, not at every comparison: with large configs the map lookups, not
// the comparisons, would be the cost of sorting.
func sortedByID(list []entity.Entity) []entity.Entity {
	type keyed struct {
		id string
		e  entity.Entity
	}
	tmp := make([]keyed, len(list))
	for i, e := range list {
		tmp[i] = keyed{e.ID(), e}
	}
	slices.SortFunc(tmp, func(a, b keyed) int { return strings.Compare(a.id, b.id) })
	for i := range tmp {
		list[i] = tmp[i].e
	}
	return list
}

// list returns the entities of type typ in id order. Parse and FromEntities
// keep every slice sorted; a Config built by hand might not be, and is
// sorted on a copy here rather than hashed or written in a wrong order.
func (c *Config) list(typ string) []entity.Entity {
	list := c.Entities[typ]
	if c.sorted || slices.IsSortedFunc(list, func(a, b entity.Entity) int { return strings.Compare(a.ID(), b.ID()) }) {
		return list
	}
	return sortedByID(slices.Clone(list))
}
