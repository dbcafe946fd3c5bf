package injector

import (
	"encoding/binary"
	"math/bits"
)

// indexOpen returns the index of the first "{{" in b, or -1.
//
// It is the pass-through path of every body, so it is tuned: bytes.Index
// makes one IndexByte call per '{' (frequent in JSON). Every "{{" has a '{'
// at an odd offset (of its two bytes, one is odd), so it is enough to test
// the odd bytes, eight words at a time with SWAR arithmetic: a byte of x is
// '{' when the same byte of x^0x7b7b.. is zero, and (y-0x0101..)&^y&0x8080..
// flags every zero byte of y (and, harmlessly, some bytes above one). Each
// flagged odd byte is then checked with its neighbours.
func indexOpen(b []byte) int {
	const (
		lo    = 0x0101010101010101
		brace = 0x7b7b7b7b7b7b7b7b
		oddHi = 0x8000800080008000 // the high bit of bytes 1, 3, 5, 7
	)
	i := 0
	for ; i+32 <= len(b); i += 32 {
		blk := b[i : i+32 : i+32]
		w0 := binary.LittleEndian.Uint64(blk[0:8]) ^ brace
		w1 := binary.LittleEndian.Uint64(blk[8:16]) ^ brace
		w2 := binary.LittleEndian.Uint64(blk[16:24]) ^ brace
		w3 := binary.LittleEndian.Uint64(blk[24:32]) ^ brace
		m0 := (w0 - lo) &^ w0 & oddHi
		m1 := (w1 - lo) &^ w1 & oddHi
		m2 := (w2 - lo) &^ w2 & oddHi
		m3 := (w3 - lo) &^ w3 & oddHi
		if m0|m1|m2|m3 == 0 {
			continue
		}
		for k, m := range [4]uint64{m0, m1, m2, m3} {
			for ; m != 0; m &= m - 1 {
				j := i + 8*k + bits.TrailingZeros64(m)/8
				if b[j] != '{' {
					continue
				}
				if b[j-1] == '{' {
					return j - 1
				}
				if j+1 < len(b) && b[j+1] == '{' {
					return j
				}
			}
		}
	}
	for ; i+1 < len(b); i++ {
		if b[i] == '{' && b[i+1] == '{' {
			return i
		}
	}
	return -1
}
