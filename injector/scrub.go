package injector

import (
	"bytes"
	"sort"
)

// MinScrubLen is the shortest value the Scrubber replaces; shorter values
// are too likely to match innocent bytes (SPEC §4).
const MinScrubLen = 8

// Scrubber replaces injected values (of at least MinScrubLen bytes) in a
// response with their placeholder text. A nil *Scrubber scrubs nothing.
type Scrubber struct {
	pats []scrubPattern
	// MaxBodySize bounds a decoded gzip response body; zero means
	// DefaultMaxBodySize.
	MaxBodySize int
}

type scrubPattern struct {
	val []byte
	ph  []byte
}

// NewScrubber returns a Scrubber for the injections, or nil when none is
// long enough to scrub.
func NewScrubber(inj []Injection) *Scrubber {
	var pats []scrubPattern
	for _, in := range inj {
		if len(in.Value) < MinScrubLen {
			continue
		}
		dup := false
		for _, p := range pats {
			if bytes.Equal(p.val, in.Value) {
				dup = true
				break
			}
		}
		if !dup {
			pats = append(pats, scrubPattern{val: in.Value, ph: []byte(in.Placeholder)})
		}
	}
	if len(pats) == 0 {
		return nil
	}
	// Longest first, so that of two values found at one position the
	// longer one is replaced whole.
	sort.SliceStable(pats, func(i, j int) bool { return len(pats[i].val) > len(pats[j].val) })
	return &Scrubber{pats: pats}
}

// Bytes returns b with every injected value replaced; b itself when none
// occurs.
func (s *Scrubber) Bytes(b []byte) []byte {
	if s == nil {
		return b
	}
	var next [16]int
	pos := next[:0]
	if len(s.pats) > len(next) {
		pos = make([]int, 0, len(s.pats))
	}
	found := false
	for _, p := range s.pats {
		i := bytes.Index(b, p.val)
		pos = append(pos, i)
		found = found || i >= 0
	}
	if !found {
		return b
	}
	out := make([]byte, 0, len(b))
	i := 0
	for {
		best := -1
		for k, at := range pos {
			if at >= 0 && (best < 0 || at < pos[best]) {
				best = k
			}
		}
		if best < 0 {
			break
		}
		at := pos[best]
		out = append(out, b[i:at]...)
		out = append(out, s.pats[best].ph...)
		i = at + len(s.pats[best].val)
		for k, p := range s.pats {
			if pos[k] >= 0 && pos[k] < i {
				if j := bytes.Index(b[i:], p.val); j >= 0 {
					pos[k] = i + j
				} else {
					pos[k] = -1
				}
			}
		}
	}
	return append(out, b[i:]...)
}

// Body scrubs a response body of the given Content-Encoding (identity or
// gzip; others are returned unchanged). A gzip body is re-encoded only when
// something was replaced; one that decodes beyond MaxBodySize is refused
// with body_too_large.
func (s *Scrubber) Body(body, contentEncoding []byte) ([]byte, error) {
	if s == nil || len(body) == 0 {
		return body, nil
	}
	enc, err := parseEncoding(contentEncoding)
	if err != nil {
		return body, nil
	}
	if enc == encIdentity {
		return s.Bytes(body), nil
	}
	limit := s.MaxBodySize
	if limit <= 0 {
		limit = DefaultMaxBodySize
	}
	plain, gerr := gunzip(body, limit)
	if gerr != nil {
		gerr.Location = "response body"
		return body, gerr
	}
	out := s.Bytes(plain)
	if sameSlice(out, plain) {
		return body, nil
	}
	return gzipBytes(out)
}
