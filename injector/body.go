package injector

import (
	"bytes"
	"mime"
	"strings"

	"github.com/sidekey/sidekey/internal/errcode"
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
			return b, &Error{Code: errcode.InvalidPlaceholder, Location: "body",
				Detail: "a multipart/form-data body without a boundary parameter"}
		}
		boundary := params["boundary"]
		if strings.ContainsAny(boundary, "{}") {
			return b, &Error{Code: errcode.InvalidPlaceholder, Location: "body",
				Detail: "a multipart boundary may not hold braces"}
		}
		pt.boundary = []byte(boundary)
		pt.delim = []byte("--" + boundary)
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

// jsonState tracks, moving forward only, whether a position of a body is
// inside something: a string of a JSON body, a CDATA section of an XML body,
// a part's header block of a multipart body. The rewriter sets pos past
// each placeholder it replaces, whose text holds none of the markers.
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

// advanceCDATA moves the state to position to of an XML body; in means
// inside a CDATA section, where entity references are not decoded. Neither
// marker holds a brace, so none straddles a placeholder.
func (s *jsonState) advanceCDATA(b []byte, to int) {
	s.advanceToggle(b, to, cdataStart, cdataEnd)
}

var crlfcrlf = []byte("\r\n\r\n")

// advancePart moves the state to position to of a multipart body; in means
// inside the header block of a part, between a delimiter ("--" boundary)
// and the blank line. The preamble counts as body.
func (s *jsonState) advancePart(b []byte, to int, delim []byte) {
	s.advanceToggle(b, to, delim, crlfcrlf)
}

// advanceToggle moves the state to position to, flipping in at each open
// marker (while out) and each close marker (while in).
func (s *jsonState) advanceToggle(b []byte, to int, opening, closing []byte) {
	i := s.pos
	for i < to {
		marker := opening
		if s.in {
			marker = closing
		}
		j := bytes.Index(b[i:to], marker)
		if j < 0 {
			break
		}
		i += j + len(marker)
		s.in = !s.in
	}
	s.pos = max(s.pos, to)
}
