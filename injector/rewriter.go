package injector

import (
	"bytes"
	"context"
	"sync"

	"github.com/sidekey/sidekey/internal/errcode"
)

// Bounds on what a pooled Rewriter keeps between requests.
const (
	maxPooledBuf       = 64 << 10
	maxInternedAliases = 256
	maxLinearDedup     = 32
)

var rewriterPool = sync.Pool{New: func() any { return new(Rewriter) }}

// Rewriter rewrites the parts of one request. It is not safe for concurrent
// use. Slices it returns belong to the caller.
type Rewriter struct {
	ctx      context.Context
	resolver Resolver
	opts     Options
	nonceErr *Error

	ph      placeholder
	cache   []resolved
	segs    []segment
	scratch []byte // encoded values of the current call
	val     []byte // the current value, after filters
	tmp     []byte // filter output
	arena   []byte // injections: placeholder texts and values
	injs    []injRecord
	aliases map[string]string
	seen    map[string]struct{} // injections, once there are many
	// replaced counts the placeholders replaced by successful calls.
	replaced int
}

// segment replaces in[start:end] with scratch[off:off+n].
type segment struct {
	start, end int
	off, n     int
}

// injRecord locates one Injection in the arena.
type injRecord struct {
	ph, phEnd, val, valEnd int
}

// NewRewriter returns a Rewriter for one request. Call Release when done.
func NewRewriter(ctx context.Context, r Resolver, opts Options) *Rewriter {
	w := rewriterPool.Get().(*Rewriter)
	if ctx == nil {
		ctx = context.Background()
	}
	w.ctx, w.resolver, w.opts = ctx, r, opts
	if w.opts.MaxBodySize <= 0 {
		w.opts.MaxBodySize = DefaultMaxBodySize
	}
	w.nonceErr = nil
	if opts.Nonce != "" {
		if err := CheckNonce(opts.Nonce); err != nil {
			w.nonceErr = &Error{Code: errcode.InvalidPlaceholder, Location: "header Sidekey-Nonce", Detail: err.Error()}
		}
	}
	return w
}

// Release returns the Rewriter to a pool; it must not be used afterwards.
// Buffers that held values are wiped first.
func (w *Rewriter) Release() {
	clear(w.cache)
	w.cache = w.cache[:0]
	w.segs = w.segs[:0]
	w.injs = w.injs[:0]
	w.seen = nil
	w.replaced = 0
	w.scratch = wipe(w.scratch)
	w.val = wipe(w.val)
	w.tmp = wipe(w.tmp)
	w.arena = wipe(w.arena)
	w.ctx, w.resolver, w.opts, w.nonceErr = nil, nil, Options{}, nil
	rewriterPool.Put(w)
}

// wipe zeroes b's used bytes and returns it empty, or nil when it grew too
// large to keep in the pool.
func wipe(b []byte) []byte {
	clear(b)
	if cap(b) > maxPooledBuf {
		return nil
	}
	return b[:0]
}

// partKind is where in a request a part stands; it selects the encoding.
type partKind uint8

const (
	ctxPath partKind = iota
	ctxQuery
	ctxHeader
	ctxRaw
	ctxJSON
	ctxForm
	ctxXML
	ctxMultipart
)

// part describes the request part being rewritten.
type part struct {
	kind     partKind
	loc      string
	boundary []byte // multipart only
	delim    []byte // multipart only: "--" boundary
	limit    int    // largest output allowed; 0 means none
}

func (pt *part) cursor(b []byte) cursor {
	switch pt.kind {
	case ctxPath:
		return cursor{b: b, url: true}
	case ctxQuery, ctxForm:
		return cursor{b: b, url: true, plus: true}
	default:
		return cursor{b: b}
	}
}

// Path rewrites an escaped URL path; values are percent-encoded as a path
// segment.
func (w *Rewriter) Path(p []byte) ([]byte, error) {
	return w.rewrite(p, &part{kind: ctxPath, loc: "path"})
}

// Query rewrites a raw query string (without '?'); values are query-escaped.
func (w *Rewriter) Query(q []byte) ([]byte, error) {
	return w.rewrite(q, &part{kind: ctxQuery, loc: "query"})
}

// CheckHeaderName refuses a header name that holds a placeholder.
func (w *Rewriter) CheckHeaderName(name []byte) error {
	if ContainsPlaceholder(name) {
		return &Error{Code: errcode.InvalidPlaceholder, Location: "header name", Detail: "a placeholder may not stand in a header name"}
	}
	return nil
}

// HeaderValue rewrites a header value; a value with CR, LF, NUL or another
// control byte other than TAB is refused (unsafe_header_value).
func (w *Rewriter) HeaderValue(v []byte) ([]byte, error) {
	return w.rewrite(v, &part{kind: ctxHeader, loc: "header"})
}

// Header checks a header's name and rewrites its value, like
// CheckHeaderName and HeaderValue, with errors that name the header.
func (w *Rewriter) Header(name, value []byte) ([]byte, error) {
	if ContainsPlaceholder(name) {
		return value, &Error{Code: errcode.InvalidPlaceholder, Location: "header name", Detail: "a placeholder may not stand in a header name"}
	}
	if bytes.IndexByte(value, '{') < 0 && w.nonceErr == nil {
		return value, nil
	}
	return w.rewrite(value, &part{kind: ctxHeader, loc: "header " + string(name)})
}

// Injected lists the values written into the request so far. The result is
// a copy and stays valid after Release.
func (w *Rewriter) Injected() []Injection {
	if len(w.injs) == 0 {
		return nil
	}
	arena := string(w.arena)
	out := make([]Injection, len(w.injs))
	for i, r := range w.injs {
		out[i] = Injection{
			Placeholder: arena[r.ph:r.phEnd],
			Value:       []byte(arena[r.val:r.valEnd]),
		}
	}
	return out
}

// Replaced returns how many placeholders the Rewriter has replaced so far
// (every occurrence counts; Injected lists distinct ones). It does not
// allocate.
func (w *Rewriter) Replaced() int { return w.replaced }

// rewrite replaces every placeholder of b that must be resolved, encoded
// for the part. It returns b itself when there is none.
func (w *Rewriter) rewrite(b []byte, pt *part) ([]byte, error) {
	if w.nonceErr != nil {
		return b, w.nonceErr
	}
	cur := pt.cursor(b)
	start := cur.next(0)
	if start < 0 {
		return b, nil
	}
	w.segs = w.segs[:0]
	w.scratch = w.scratch[:0]
	strict := w.opts.Nonce != ""
	var js jsonState

	for i := start; i >= 0; i = cur.next(i) {
		end, ref, bad := w.ph.parse(&cur, i)
		if !ref || strict && !w.ph.prefixMatches(w.opts.Nonce) {
			_, width := cur.at(i)
			i += width
			continue
		}
		loc := pt.loc
		if !strict && w.ph.hasPrefix {
			return b, w.placeErr(pt, i, &Error{Code: errcode.InvalidPlaceholder,
				Detail: "a nonce prefix is used without a Sidekey-Nonce header"})
		}
		if bad != "" {
			return b, w.placeErr(pt, i, &Error{Code: errcode.InvalidPlaceholder, Detail: bad})
		}
		kind, err := w.value(&w.ph, loc)
		if err != nil {
			return b, w.placeErr(pt, i, err)
		}
		off := len(w.scratch)
		if err := w.encode(b, pt, i, kind, &js); err != nil {
			return b, w.placeErr(pt, i, err)
		}
		w.segs = append(w.segs, segment{start: i, end: end, off: off, n: len(w.scratch) - off})
		w.record(w.placeholderText(&cur, i, end), w.val, w.scratch[off:])
		js.pos = end
		i = end
	}
	if len(w.segs) == 0 {
		return b, nil
	}

	total := len(b)
	for _, s := range w.segs {
		total += s.n - (s.end - s.start)
	}
	if pt.limit > 0 && total > pt.limit {
		return b, &Error{Code: errcode.BodyTooLarge, Location: pt.loc, Detail: "the rewritten body exceeds the size limit"}
	}
	out := make([]byte, 0, total)
	prev := 0
	for _, s := range w.segs {
		out = append(out, b[prev:s.start]...)
		out = append(out, w.scratch[s.off:s.off+s.n]...)
		prev = s.end
	}
	out = append(out, b[prev:]...)

	if !strict {
		// A value may itself hold placeholder text, or join with the bytes
		// around it to form one; never let such a reference leave.
		oc := pt.cursor(out)
		for i := oc.next(0); i >= 0; i = oc.next(i) {
			if _, ref, _ := w.ph.parse(&oc, i); ref {
				return b, &Error{Code: errcode.InvalidPlaceholder, Location: pt.loc,
					Detail: "an injected value forms placeholder text"}
			}
			_, width := oc.at(i)
			i += width
		}
	}
	w.replaced += len(w.segs)
	return out, nil
}

// placeErr fills in the location of e (and the byte offset for bodies).
func (w *Rewriter) placeErr(pt *part, at int, e *Error) *Error {
	c := *e
	c.Location = pt.loc
	if c.Alias == "" && w.ph.aliasLen > 0 {
		c.Alias = string(w.ph.aliasBytes())
	}
	switch pt.kind {
	case ctxRaw, ctxJSON, ctxForm, ctxXML, ctxMultipart:
		c.Location = pt.loc + " at byte " + itoa(at)
	}
	return &c
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}

// placeholderText returns the placeholder at b[start:end] as the scrubber
// should write it back: as written, but percent-decoded in URL parts (so
// "%7B%7Bsecrets.a%7D%7D" is recorded as "{{secrets.a}}"). The decoded form
// is built in w.tmp, which is free at this point.
func (w *Rewriter) placeholderText(c *cursor, start, end int) []byte {
	if !c.url {
		return c.b[start:end]
	}
	w.tmp = w.tmp[:0]
	for i := start; i < end; {
		ch, width := c.at(i)
		w.tmp = append(w.tmp, ch)
		i += width
	}
	return w.tmp
}

// record remembers a value for the scrubber: the value after filters and,
// when its encoding changed it beyond recognition, the encoded form too.
func (w *Rewriter) record(ph, val, encoded []byte) {
	w.addInjection(ph, val)
	if len(encoded) != len(val) && !bytes.Contains(encoded, val) {
		w.addInjection(ph, encoded)
	}
}

func (w *Rewriter) addInjection(ph, val []byte) {
	if len(w.injs) < maxLinearDedup {
		for _, r := range w.injs {
			if bytes.Equal(w.arena[r.ph:r.phEnd], ph) && bytes.Equal(w.arena[r.val:r.valEnd], val) {
				return
			}
		}
	} else {
		if w.seen == nil {
			w.seen = make(map[string]struct{})
			for _, r := range w.injs {
				w.seen[string(w.arena[r.ph:r.phEnd])+"\x00"+string(w.arena[r.val:r.valEnd])] = struct{}{}
			}
		}
		key := string(ph) + "\x00" + string(val) // a placeholder holds no NUL
		if _, dup := w.seen[key]; dup {
			return
		}
		w.seen[key] = struct{}{}
	}
	r := injRecord{ph: len(w.arena)}
	w.arena = append(w.arena, ph...)
	// A token filter's double-quoted arguments are recorded single-quoted
	// (the same placeholder), so that scrubbing a value echoed inside a
	// JSON string does not break the response's JSON.
	for i := r.ph; i < len(w.arena); i++ {
		if w.arena[i] == '"' {
			w.arena[i] = '\''
		}
	}
	r.phEnd = len(w.arena)
	r.val = r.phEnd
	w.arena = append(w.arena, val...)
	r.valEnd = len(w.arena)
	w.injs = append(w.injs, r)
}
