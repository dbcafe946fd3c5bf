package injector

import (
	"bytes"
	"unicode/utf8"

	"github.com/sidekey/sidekey/internal/errcode"
)

// encode appends w.val, encoded for where the placeholder at stands, to
// w.scratch.
func (w *Rewriter) encode(b []byte, pt *part, at int, kind valueKind, js *jsonState) *Error {
	v := w.val
	switch pt.kind {
	case ctxPath:
		if string(v) == "." || string(v) == ".." {
			return &Error{Code: errcode.InvalidPlaceholder, Detail: "a dot segment may not be injected into a path"}
		}
		w.scratch = appendPathEscape(w.scratch, v)
	case ctxQuery, ctxForm:
		w.scratch = appendQueryEscape(w.scratch, v)
	case ctxHeader:
		if !headerSafe(v) {
			return &Error{Code: errcode.UnsafeHeaderValue, Detail: "the value holds a control character (CR, LF, NUL or other)"}
		}
		w.scratch = append(w.scratch, v...)
	case ctxJSON:
		js.advance(b, at)
		inString := js.in
		if !inString && kind == kindJSON {
			w.scratch = append(w.scratch, v...)
			break
		}
		if !inString {
			w.scratch = append(w.scratch, '"')
		}
		var ok bool
		if w.scratch, ok = appendJSONString(w.scratch, v); !ok {
			return &Error{Code: errcode.InvalidPlaceholder, Detail: "the value is not valid UTF-8 and cannot be written as JSON"}
		}
		if !inString {
			w.scratch = append(w.scratch, '"')
		}
	case ctxXML:
		js.advanceCDATA(b, at)
		if js.in {
			if bytes.Contains(v, cdataEnd) {
				return &Error{Code: errcode.InvalidPlaceholder, Detail: "the value holds \"]]>\" and cannot stand in a CDATA section"}
			}
			w.scratch = append(w.scratch, v...)
			break
		}
		var ok bool
		if w.scratch, ok = appendXMLEscape(w.scratch, v); !ok {
			return &Error{Code: errcode.InvalidPlaceholder, Detail: "the value holds a character that XML cannot carry"}
		}
	case ctxMultipart:
		if bytes.Contains(v, pt.boundary) {
			return &Error{Code: errcode.InvalidPlaceholder, Detail: "the value contains the multipart boundary"}
		}
		js.advancePart(b, at, pt.delim)
		if js.in && !headerSafe(v) {
			return &Error{Code: errcode.UnsafeHeaderValue, Detail: "the value holds a control character and stands in a part header"}
		}
		w.scratch = append(w.scratch, v...)
	default:
		w.scratch = append(w.scratch, v...)
	}
	return nil
}

const upperHex = "0123456789ABCDEF"

func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// appendPathEscape percent-encodes v as one path segment: every byte but
// the RFC 3986 unreserved ones is escaped, '/' included.
func appendPathEscape(dst, v []byte) []byte {
	for _, c := range v {
		if isUnreserved(c) {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
	}
	return dst
}

// appendQueryEscape escapes v like url.QueryEscape: space becomes '+',
// every byte but the unreserved ones is percent-encoded.
func appendQueryEscape(dst, v []byte) []byte {
	for _, c := range v {
		switch {
		case isUnreserved(c):
			dst = append(dst, c)
		case c == ' ':
			dst = append(dst, '+')
		default:
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return dst
}

// headerSafe reports whether v may stand in a header value: no control
// byte other than TAB (CR, LF and NUL included) and no DEL.
func headerSafe(v []byte) bool {
	for _, c := range v {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// appendJSONString appends v escaped as the content of a JSON string
// (without the quotes). It reports false when v is not valid UTF-8, which
// no JSON string can carry unchanged.
func appendJSONString(dst, v []byte) ([]byte, bool) {
	if !utf8.Valid(v) {
		return dst, false
	}
	start := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, v[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		default:
			dst = append(dst, '\\', 'u', '0', '0', upperHex[c>>4], upperHex[c&15])
		}
		start = i + 1
	}
	return append(dst, v[start:]...), true
}

// appendXMLEscape appends v escaped for XML character data and attribute
// values. TAB, LF and CR become character references so that attribute
// normalisation keeps them. It reports false when v holds a character XML
// cannot carry (other control bytes, invalid UTF-8, U+FFFE, U+FFFF).
func appendXMLEscape(dst, v []byte) ([]byte, bool) {
	if !xmlChars(v) {
		return dst, false
	}
	start := 0
	for i := 0; i < len(v); i++ {
		var esc string
		switch v[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			esc = "&quot;"
		case '\'':
			esc = "&apos;"
		case '\t':
			esc = "&#x9;"
		case '\n':
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		default:
			continue
		}
		dst = append(dst, v[start:i]...)
		dst = append(dst, esc...)
		start = i + 1
	}
	return append(dst, v[start:]...), true
}

// xmlChars reports whether every character of v is an XML 1.0 Char.
func xmlChars(v []byte) bool {
	for i := 0; i < len(v); {
		r, size := utf8.DecodeRune(v[i:])
		if r == utf8.RuneError && size == 1 {
			return false
		}
		ok := r == 0x09 || r == 0x0A || r == 0x0D ||
			r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
		if !ok {
			return false
		}
		i += size
	}
	return true
}

var cdataEnd = []byte("]]>")
