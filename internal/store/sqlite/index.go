package sqlite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gantry-gw/gantry/internal/store"
)

// index is the part of a record that the lookup tables are built from. It is
// stored next to the record's data (see encode) so that Get and List rebuild
// whole records from one row, and so that a Put or Delete removes exactly
// the entries the previous version of the record held, with no secondary
// index on the owner of each entry.
//
// Its slices are sorted and free of duplicates: two Puts of the same sets in
// a different order encode to the same bytes and are recognised as identical.
type index struct {
	Keys []string
	Refs []refEntry
	Tags []string
}

// refEntry is one reference held by a record; the holder's type and id are
// the record's own, so only the field and the target are kept.
type refEntry struct {
	Field string
	To    string
}

func compareRefs(a, b refEntry) int {
	if c := strings.Compare(a.Field, b.Field); c != 0 {
		return c
	}
	return strings.Compare(a.To, b.To)
}

// newIndex derives the normalised index of rec. It refuses references that
// name another holder than rec or that lack a field or a target, since such
// an entry could never be found or removed again through rec, and entries
// that are not valid UTF-8, which List's tag filter (bound as JSON) could
// not match and a PostgreSQL text column would refuse.
func newIndex(rec *store.Record) (index, error) {
	for _, s := range [][]string{rec.Keys, rec.Tags} {
		for _, v := range s {
			if !utf8.ValidString(v) {
				return index{}, fmt.Errorf("key or tag %q is not valid UTF-8", v)
			}
		}
	}
	ix := index{
		Keys: sortedSet(rec.Keys, strings.Compare),
		Tags: sortedSet(rec.Tags, strings.Compare),
	}
	if len(rec.Refs) > 0 {
		refs := make([]refEntry, 0, len(rec.Refs))
		for _, r := range rec.Refs {
			if (r.Type != "" && r.Type != rec.Type) || (r.ID != "" && r.ID != rec.ID) {
				return index{}, fmt.Errorf("reference %s %s.%s is not held by the record", r.Type, r.ID, r.Field)
			}
			if r.Field == "" || r.To == "" {
				return index{}, errors.New("reference without a field or a target")
			}
			if !utf8.ValidString(r.Field) || !utf8.ValidString(r.To) {
				return index{}, fmt.Errorf("reference %q to %q is not valid UTF-8", r.Field, r.To)
			}
			refs = append(refs, refEntry{Field: r.Field, To: r.To})
		}
		ix.Refs = sortedSet(refs, compareRefs)
	}
	return ix, nil
}

// indexFormat is the first byte of an encoded index, so that a later schema
// version can tell an old encoding from a new one.
const indexFormat = 1

// encode returns the stored form of ix: the format byte, then the keys, the
// references (field, target) and the tags, each list a uvarint count
// followed by uvarint-length-prefixed strings. Equal indexes encode to equal
// bytes. The form is binary rather than JSON because every row that Get and
// List return decodes it, and this decodes several times faster than
// encoding/json.
func (ix index) encode() []byte {
	size := 1 + 3*binary.MaxVarintLen32
	for _, k := range ix.Keys {
		size += binary.MaxVarintLen32 + len(k)
	}
	for _, r := range ix.Refs {
		size += 2*binary.MaxVarintLen32 + len(r.Field) + len(r.To)
	}
	for _, t := range ix.Tags {
		size += binary.MaxVarintLen32 + len(t)
	}
	b := make([]byte, 0, size)
	b = append(b, indexFormat)
	b = appendStrings(b, ix.Keys)
	b = binary.AppendUvarint(b, uint64(len(ix.Refs)))
	for _, r := range ix.Refs {
		b = appendString(b, r.Field)
		b = appendString(b, r.To)
	}
	return appendStrings(b, ix.Tags)
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendStrings(b []byte, s []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	for _, v := range s {
		b = appendString(b, v)
	}
	return b
}

func decodeIndex(b []byte) (index, error) {
	if len(b) == 0 || b[0] != indexFormat {
		return index{}, errors.New("decode index: unknown format")
	}
	r := indexReader{b: b, s: string(b), off: 1}
	var ix index
	ix.Keys = r.strings()
	if n := r.count(); n > 0 {
		ix.Refs = make([]refEntry, n)
		for i := range ix.Refs {
			ix.Refs[i].Field = r.string()
			ix.Refs[i].To = r.string()
		}
	}
	ix.Tags = r.strings()
	if r.err == nil && r.off != len(b) {
		r.err = errors.New("trailing bytes")
	}
	if r.err != nil {
		return index{}, fmt.Errorf("decode index: %w", r.err)
	}
	return ix, nil
}

// indexReader decodes an encoded index. Every string it returns is a
// substring of s, b converted once: one allocation for all of them.
type indexReader struct {
	b   []byte
	s   string
	off int
	err error
}

// count reads a length or a count, which cannot exceed the bytes left.
func (r *indexReader) count() int {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 || v > uint64(len(r.b)-r.off-n) {
		r.err = errors.New("truncated")
		return 0
	}
	r.off += n
	return int(v)
}

func (r *indexReader) string() string {
	n := r.count()
	s := r.s[r.off : r.off+n]
	r.off += n
	return s
}

func (r *indexReader) strings() []string {
	n := r.count()
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = r.string()
	}
	return out
}

// record rebuilds the store record of type typ and id from its data and
// index; references get the record's own type and id as their holder.
func (ix index) record(typ, id string, data []byte) *store.Record {
	rec := &store.Record{Type: typ, ID: id, Data: data, Keys: ix.Keys, Tags: ix.Tags}
	if len(ix.Refs) > 0 {
		rec.Refs = make([]store.Ref, len(ix.Refs))
		for i, r := range ix.Refs {
			rec.Refs[i] = store.Ref{Type: typ, ID: id, Field: r.Field, To: r.To}
		}
	}
	return rec
}

// sortedSet returns a sorted copy of s without duplicates, or nil if s is
// empty.
func sortedSet[T any](s []T, compare func(a, b T) int) []T {
	if len(s) == 0 {
		return nil
	}
	out := slices.Clone(s)
	slices.SortFunc(out, compare)
	return slices.CompactFunc(out, func(a, b T) bool { return compare(a, b) == 0 })
}

// diffIndex returns the entries of old missing from new (to remove) and
// the entries of new missing from old (to add), so that an update touches
// only the index rows that differ.
func diffIndex(old, new index) (removed, added index) {
	removed.Keys, added.Keys = diffSorted(old.Keys, new.Keys, strings.Compare)
	removed.Refs, added.Refs = diffSorted(old.Refs, new.Refs, compareRefs)
	removed.Tags, added.Tags = diffSorted(old.Tags, new.Tags, strings.Compare)
	return removed, added
}

// diffSorted compares two sorted sets and returns the elements only in old
// and the elements only in new.
func diffSorted[T any](old, new []T, compare func(a, b T) int) (removed, added []T) {
	i, j := 0, 0
	for i < len(old) && j < len(new) {
		switch c := compare(old[i], new[j]); {
		case c < 0:
			removed = append(removed, old[i])
			i++
		case c > 0:
			added = append(added, new[j])
			j++
		default:
			i++
			j++
		}
	}
	removed = append(removed, old[i:]...)
	added = append(added, new[j:]...)
	return removed, added
}
