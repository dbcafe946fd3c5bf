package proxy

import (
	"testing"
	"time"
)

func TestLeafCache(t *testing.T) {
	issued := 0
	l, err := newLeafCache(testCA(t), time.Hour, 2, func() { issued++ })
	if err != nil {
		t.Fatal(err)
	}
	a1, err := l.get("a.example")
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := l.get("a.example")
	if a1 != a2 || issued != 1 {
		t.Fatalf("second get minted again (issued %d)", issued)
	}
	if a1.Leaf.NotAfter.After(time.Now().Add(time.Hour)) || a1.Leaf.PublicKeyAlgorithm.String() != "ECDSA" {
		t.Fatalf("leaf: until %v, key %v", a1.Leaf.NotAfter, a1.Leaf.PublicKeyAlgorithm)
	}
	_, _ = l.get("b.example")
	_, _ = l.get("c.example") // evicts a.example (size 2)
	a3, _ := l.get("a.example")
	if a3 == a1 || issued != 4 {
		t.Fatalf("LRU bound not applied (issued %d)", issued)
	}
	// A leaf with less than a quarter of its life left is renewed.
	short, err := newLeafCache(testCA(t), time.Hour, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	s1, _ := short.get("d.example")
	short.validity = 8 * time.Hour // s1 now has under a quarter of 8h left
	s2, _ := short.get("d.example")
	if s1 == s2 {
		t.Fatal("an expiring leaf was not renewed")
	}
}
