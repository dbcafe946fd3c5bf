package injector

import (
	"bytes"
	"mime"
)

// Body rewrites a request body encoded for its Content-Type. A gzip body is
// decoded, rewritten and re-encoded (same Content-Encoding); another
// non-identity encoding is refused. It returns body itself when unchanged.
func (w *Rewriter) Body(body, contentType, contentEncoding []byte) ([]byte, error) {
	if w.nonceErr != nil {
		return body, w.nonceErr
	}
	enc, encErr := parseEncoding(contentEncoding)
	if encErr != nil {
		if len(body) == 0 {
			return body, nil
		}
		return body, encErr
	}
	pt := part{kind: bodyKind(contentType), loc: "body", limit: w.opts.MaxBodySize}
	if enc == encIdentity {
		return w.body(body, contentType, &pt)
	}

	plain, gzErr := gunzip(body, w.opts.MaxBodySize)
	if gzErr != nil {
		return body, gzErr
	}
	out, err := w.body(plain, contentType, &pt)
	if err != nil {
		return body, err
	}
	if sameSlice(out, plain) {
		return body, nil
	}
	return gzipBytes(out)
}

func (w *Rewriter) body(b, contentType []byte, pt *part) ([]byte, error) {
	if pt.kind == ctxMultipart {
		// Parse the boundary only when there is something to rewrite.
		if c := pt.cursor(b); c.next(0) < 0 {
			return b, nil
		}
		_, params, err := mime.ParseMediaType(string(contentType))
		if err != nil || params["boundary"] == "" {
			return b, &Error{Code: CodeInvalidPlaceholder, Location: "body",
				Detail: "a multipart/form-data body without a boundary parameter"}
		}
		pt.boundary = []byte(params["boundary"])
	}
	return w.rewrite(b, pt)
}

func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// bodyKind classifies a Content-Type (SPEC §3): JSON for application/json
// and any */json or *+json, form for application/x-www-form-urlencoded,
// XML for */xml and *+xml, multipart for multipart/form-data, raw for the
// rest (a missing Content-Type included).
func bodyKind(ct []byte) partKind {
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = bytes.TrimSpace(ct)
	switch {
	case hasSuffixFold(ct, "/json") || hasSuffixFold(ct, "+json"):
		return ctxJSON
	case equalFold(ct, "application/x-www-form-urlencoded"):
		return ctxForm
	case hasSuffixFold(ct, "/xml") || hasSuffixFold(ct, "+xml"):
		return ctxXML
	case equalFold(ct, "multipart/form-data"):
		return ctxMultipart
	default:
		return ctxRaw
	}
}

func hasSuffixFold(b []byte, suffix string) bool {
	return len(b) >= len(suffix) && equalFold(b[len(b)-len(suffix):], suffix)
}

// jsonState tracks whether a position of a JSON body is inside a string.
// It moves forward only; the rewriter sets pos past each placeholder, whose
// text holds no quote or backslash.
type jsonState struct {
	pos int
	in  bool
}

// advance moves the state to position to. Between backslashes (rare in
// JSON) the parity of the quote count decides, which bytes.Count computes
// with vector instructions; a backslash inside a string skips the next byte.
func (s *jsonState) advance(b []byte, to int) {
	i := s.pos
	for i < to {
		seg := b[i:to]
		bs := bytes.IndexByte(seg, '\\')
		if bs >= 0 {
			seg = seg[:bs]
		}
		if bytes.Count(seg, quote)%2 == 1 {
			s.in = !s.in
		}
		if bs < 0 {
			i = to
			break
		}
		i += bs + 1
		if s.in {
			i++ // the escaped byte
		}
	}
	s.pos = max(i, to)
}

var quote = []byte{'"'}

var cdataStart = []byte("<![CDATA[")

// inCDATA reports whether position at of an XML body is inside a CDATA
// section, where entity references are not decoded.
func inCDATA(b []byte, at int) bool {
	s := bytes.LastIndex(b[:at], cdataStart)
	return s >= 0 && !bytes.Contains(b[s:at], cdataEnd)
}

var crlfcrlf = []byte("\r\n\r\n")

// inPartHeader reports whether position at of a multipart body lies in the
// header block of a part (between a delimiter line and the blank line).
func inPartHeader(b []byte, at int, boundary []byte) bool {
	d := lastDelimiter(b[:at], boundary)
	if d < 0 {
		return false // preamble
	}
	e := bytes.Index(b[d:], crlfcrlf)
	return e < 0 || d+e >= at
}

// lastDelimiter returns the index of the last "--boundary" in b, or -1.
func lastDelimiter(b, boundary []byte) int {
	for end := len(b); ; {
		i := bytes.LastIndex(b[:end], boundary)
		if i < 2 {
			return -1
		}
		if b[i-1] == '-' && b[i-2] == '-' {
			return i - 2
		}
		end = i
	}
}
