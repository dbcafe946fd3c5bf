package proxy

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// hopByHop are the headers of one connection (RFC 9110 §7.6.1) and the
// request headers the proxy consumes; none is forwarded in either
// direction. Proxy-* and Sidekey-* are stripped by prefix.
var hopByHop = [][]byte{
	[]byte("Connection"),
	[]byte("Keep-Alive"),
	[]byte("Te"),
	[]byte("Trailer"),
	[]byte("Upgrade"),
	[]byte("Expect"), // the proxy already read the whole body
}

var (
	prefixProxy   = []byte("proxy-")
	prefixSidekey = []byte("sidekey-")
)

func hasPrefixFold(b, prefix []byte) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], prefix)
}

// isStripped reports whether a header name is never forwarded.
func isStripped(name []byte) bool {
	if hasPrefixFold(name, prefixProxy) || hasPrefixFold(name, prefixSidekey) {
		return true
	}
	for _, h := range hopByHop {
		if bytes.EqualFold(name, h) {
			return true
		}
	}
	return false
}

// collect appends to st.names (copied into st.nameBuf) the header
// names to delete: the stripped ones and those listed in Connection.
func (st *exchange) collect(name, value []byte) {
	if isStripped(name) {
		st.addName(name)
	}
	if bytes.EqualFold(name, []byte("Connection")) {
		for len(value) > 0 {
			var tok []byte
			if i := bytes.IndexByte(value, ','); i >= 0 {
				tok, value = value[:i], value[i+1:]
			} else {
				tok, value = value, nil
			}
			tok = bytes.TrimSpace(tok)
			if len(tok) > 0 && !bytes.EqualFold(tok, []byte("close")) && !bytes.EqualFold(tok, []byte("keep-alive")) {
				st.addName(tok)
			}
		}
	}
}

func (st *exchange) addName(name []byte) {
	start := len(st.nameBuf)
	st.nameBuf = append(st.nameBuf, name...)
	st.names = append(st.names, st.nameBuf[start:len(st.nameBuf):len(st.nameBuf)])
}

// deleteNames deletes every collected name with del and resets the list.
func (st *exchange) deleteNames(del func(name []byte)) {
	for _, n := range st.names {
		del(n)
	}
	st.names = st.names[:0]
	st.nameBuf = st.nameBuf[:0]
}

// stripRequestHeaders removes hop-by-hop, Proxy-* and Sidekey-* headers.
func stripRequestHeaders(h *fasthttp.RequestHeader, st *exchange) {
	for k, v := range h.All() {
		st.collect(k, v)
	}
	st.deleteNames(h.DelBytes)
	h.ResetConnectionClose()
	h.Del(fasthttp.HeaderTransferEncoding) // the body is forwarded with a Content-Length
}

// stripResponseHeaders removes the same from an upstream response.
func stripResponseHeaders(h *fasthttp.ResponseHeader, st *exchange) {
	for k, v := range h.All() {
		st.collect(k, v)
	}
	st.deleteNames(h.DelBytes)
	h.ResetConnectionClose()
}

// limitAcceptEncoding keeps the response in an encoding the scrubber can
// read (identity or gzip) when the request carried secrets.
func limitAcceptEncoding(h *fasthttp.RequestHeader) {
	ae := h.Peek(fasthttp.HeaderAcceptEncoding)
	if len(ae) == 0 {
		return
	}
	if bytes.Contains(bytes.ToLower(ae), []byte("gzip")) {
		h.Set(fasthttp.HeaderAcceptEncoding, "gzip")
		return
	}
	h.Del(fasthttp.HeaderAcceptEncoding)
}
