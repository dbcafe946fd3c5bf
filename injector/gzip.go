package injector

import (
	"bytes"
	"errors"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"

	"github.com/sidekey/sidekey/internal/errcode"
)

// Pools of gzip state, which is large (a writer holds about 1 MB).
var (
	gzipReaders sync.Pool // *gzip.Reader
	gzipWriters = sync.Pool{New: func() any {
		// Level 1: a rewritten request body is sent at once; speed matters
		// more than the last percent of size.
		zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
		return zw
	}}
)

type encoding uint8

const (
	encIdentity encoding = iota
	encGzip
)

var comma = []byte{','}

// parseEncoding reads a Content-Encoding list. Identity codings are
// ignored; one gzip (or x-gzip) is supported; anything else, stacked
// codings included, is refused.
func parseEncoding(ce []byte) (encoding, *Error) {
	enc := encIdentity
	for len(ce) > 0 {
		var tok []byte
		tok, ce, _ = bytes.Cut(ce, comma)
		tok = bytes.TrimSpace(tok)
		switch {
		case len(tok) == 0 || equalFold(tok, "identity"):
		case (equalFold(tok, "gzip") || equalFold(tok, "x-gzip")) && enc == encIdentity:
			enc = encGzip
		default:
			return 0, &Error{Code: errcode.UnsupportedContentEncoding, Location: "body",
				Detail: "only identity and gzip request bodies can be rewritten"}
		}
	}
	return enc, nil
}

// gunzip decodes a gzip body of at most limit decoded bytes.
func gunzip(body []byte, limit int) ([]byte, *Error) {
	var zr *gzip.Reader
	var err error
	if pooled, ok := gzipReaders.Get().(*gzip.Reader); ok {
		zr, err = pooled, pooled.Reset(bytes.NewReader(body))
	} else {
		zr, err = gzip.NewReader(bytes.NewReader(body))
	}
	if err != nil {
		return nil, &Error{Code: errcode.UnsupportedContentEncoding, Location: "body", Detail: "the body is not valid gzip", Err: err}
	}
	defer gzipReaders.Put(zr)
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(zr, int64(limit)+1))
	if err != nil {
		return nil, &Error{Code: errcode.UnsupportedContentEncoding, Location: "body", Detail: "the body is not valid gzip", Err: err}
	}
	if n > int64(limit) {
		return nil, &Error{Code: errcode.BodyTooLarge, Location: "body", Detail: "the decoded gzip body exceeds the size limit"}
	}
	if err := zr.Close(); err != nil {
		return nil, &Error{Code: errcode.UnsupportedContentEncoding, Location: "body", Detail: "the body is not valid gzip", Err: err}
	}
	return buf.Bytes(), nil
}

// gzipBytes encodes b with gzip at the fastest level.
func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(b)/2 + 64)
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&buf)
	_, err := zw.Write(b)
	err = errors.Join(err, zw.Close())
	if err != nil {
		return nil, &Error{Code: errcode.UnsupportedContentEncoding, Location: "body", Detail: "gzip encoding failed", Err: err}
	}
	return buf.Bytes(), nil
}
