package router

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
)

// The index a Router searches is one string, the program, that holds
// every group's host key, candidate lists and path tree, each group in one
// contiguous stretch; and three open-addressing hash tables from host keys
// to groups. Neither has a pointer inside: the garbage collector never scans
// them however many routes there are, and a request reads a few adjacent
// cache lines per group instead of chasing pointers across the heap.
//
// All numbers in the program are little-endian uint32s. A group is
//
//	key length, key bytes        (host groups only: the hash table's check)
//	best rank, n, n entries      (the candidates without a path)
//	root node
//
// and a node, with its subtree after it (children in indices order), is
//
//	label length, child count k, entry count n,
//	label bytes, k index bytes (each child label's first byte),
//	k child offsets, n entries
//
// where an entry is a rank and a port (0 for any).

// Sizes of the program's fixed parts, in bytes.
const (
	entrySize   = 8  // rank, port
	groupHeader = 8  // best rank, no-path count
	nodeHeader  = 12 // label length, child count, entry count
)

// errTooLarge reports an index that does not fit 32-bit offsets.
var errTooLarge = errors.New("too many routes: the index exceeds 4 GiB")

// u32 reads the little-endian uint32 at offset i of the program.
func u32(s string, i int) int {
	_ = s[i+3]
	return int(uint32(s[i]) | uint32(s[i+1])<<8 | uint32(s[i+2])<<16 | uint32(s[i+3])<<24)
}

// entryAt reads the entry at offset i of the program.
func entryAt(s string, i int) entry {
	return entry{rank: int32(u32(s, i)), port: int32(u32(s, i+4))}
}

// programWriter lays groups out in the program.
type programWriter struct {
	buf []byte
}

func (w *programWriter) u32(v int) {
	w.buf = binary.LittleEndian.AppendUint32(w.buf, uint32(v))
}

func (w *programWriter) entries(es []entry) {
	for _, e := range es {
		w.u32(int(e.rank))
		w.u32(int(e.port))
	}
}

// group writes g and returns the offset of its key (of its best rank for
// the group without hosts, which has no key).
func (w *programWriter) group(g *buildGroup) int {
	start := len(w.buf)
	if g.kind != anyHostGroup {
		w.u32(len(g.key))
		w.buf = append(w.buf, g.key...)
	}
	w.u32(int(g.minRank))
	w.u32(len(g.noPath))
	w.entries(g.noPath)
	w.node(&g.paths)
	return start
}

// node writes n and its subtree, then fills in the children's offsets.
func (w *programWriter) node(n *buildNode) {
	w.u32(len(n.label))
	w.u32(len(n.children))
	w.u32(len(n.entries))
	w.buf = append(w.buf, n.label...)
	w.buf = append(w.buf, n.indices...)
	kids := len(w.buf)
	w.buf = append(w.buf, make([]byte, 4*len(n.children))...)
	w.entries(n.entries)
	for i, c := range n.children {
		binary.LittleEndian.PutUint32(w.buf[kids+4*i:], uint32(len(w.buf)))
		w.node(c)
	}
}

// hostTable maps a lower-case host key to the offset of its group in the
// program. A slot holds the top 32 bits of the key's hash and the offset
// plus one (0 marks an empty slot); the key itself sits at the start of
// the group, so confirming a hit reads memory the search needs next.
type hostTable struct {
	seed  maphash.Seed
	slots []uint64
	// lens marks the key lengths present, so a request hashes only the
	// parts of its host that can hit.
	lens []bool
}

// newHostTable indexes the groups whose keys start at offsets.
func newHostTable(prog string, offsets []int) hostTable {
	if len(offsets) == 0 {
		return hostTable{}
	}
	size := 1
	for size < 2*len(offsets) {
		size <<= 1
	}
	t := hostTable{seed: maphash.MakeSeed(), slots: make([]uint64, size)}
	mask := uint64(size - 1)
	for _, off := range offsets {
		n := u32(prog, off)
		key := prog[off+4 : off+4+n]
		if n >= len(t.lens) {
			t.lens = append(t.lens, make([]bool, n+1-len(t.lens))...)
		}
		t.lens[n] = true
		h := maphash.String(t.seed, key)
		i := h & mask
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = h>>32<<32 | uint64(off+1)
	}
	return t
}

// mayHave reports whether the table has a key of length n: when not, the
// caller need not hash.
func (t *hostTable) mayHave(n int) bool {
	return n < len(t.lens) && t.lens[n]
}

// lookup returns the offset of key's group (past the key), or -1.
func (t *hostTable) lookup(prog string, key []byte) int {
	h := maphash.Bytes(t.seed, key)
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return -1
		}
		if s>>32 != h>>32 {
			continue
		}
		off := int(uint32(s)) - 1
		n := u32(prog, off)
		if prog[off+4:off+4+n] == string(key) {
			return off + 4 + n
		}
	}
}
