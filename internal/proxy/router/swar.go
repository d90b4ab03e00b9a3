package router

import "encoding/binary"

// Word-at-a-time byte tests ("SIMD within a register"): the hot path reads
// request paths and hosts eight bytes at a time instead of one.

const (
	ones = 0x0101010101010101
	low7 = 0x7f7f7f7f7f7f7f7f
	high = 0x8080808080808080
)

// load64 reads the eight bytes of s at i as a little-endian word; the
// compiler turns it into one load.
func load64(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// equalBytes has the high bit set in each byte of w equal to c, and no
// other bit set.
func equalBytes(w uint64, c byte) uint64 {
	x := w ^ ones*uint64(c)
	return ^((x&low7 + low7) | x) & high
}

// lowerASCII lower-cases the ASCII letters of b, whose length is a
// multiple of eight, a word at a time.
func lowerASCII(b []byte) {
	for i := 0; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		low := w & low7
		upper := (low + ones*(0x80-'A')) ^ (low + ones*(0x80-'Z'-1)) // high bit: 'A' <= low <= 'Z'
		binary.LittleEndian.PutUint64(b[i:], w|(upper&^w&high)>>2)
	}
}
