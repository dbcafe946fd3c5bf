package proxy

import (
	"bytes"
	"net/netip"
	"strings"
	"sync"

	"github.com/sidekey/sidekey/injector"
)

// dest is the real destination of a request: the CONNECT target or the
// host of an absolute-form URI.
type dest struct {
	https     bool
	host      string // lower-case DNS name or IP address, without brackets
	port      string // decimal
	authority string // host[:port] as sent upstream; the port only when not the default
}

func (d *dest) scheme() string {
	if d.https {
		return "https"
	}
	return "http"
}

func defaultPort(https bool) string {
	if https {
		return "443"
	}
	return "80"
}

// parseAuthority parses "host[:port]" of an absolute URI or a CONNECT
// target. A CONNECT target must name the port.
func parseAuthority(b []byte, https, requirePort bool) (dest, error) {
	d := dest{https: https}
	if injector.ContainsPlaceholder(b) || injector.MayHoldPlaceholder(b, true) {
		return d, newError(CodeInvalidPlaceholder, "a placeholder is not allowed in the scheme, host or port")
	}
	if len(b) == 0 {
		return d, newError(CodeInvalidRequest, "the request names no host")
	}
	if bytes.IndexByte(b, '@') >= 0 {
		return d, newError(CodeInvalidRequest, "user information in the request URI is not supported")
	}
	var host, port []byte
	if b[0] == '[' {
		end := bytes.IndexByte(b, ']')
		if end < 0 {
			return d, newError(CodeInvalidRequest, "malformed IPv6 host")
		}
		host = b[1:end]
		rest := b[end+1:]
		if len(rest) > 0 {
			if rest[0] != ':' {
				return d, newError(CodeInvalidRequest, "malformed host")
			}
			port = rest[1:]
			if len(port) == 0 {
				return d, newError(CodeInvalidRequest, "empty port")
			}
		}
		ip, err := netip.ParseAddr(string(host))
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return d, newError(CodeInvalidRequest, "malformed IPv6 host")
		}
		d.host = ip.String()
	} else {
		host = b
		if i := bytes.LastIndexByte(b, ':'); i >= 0 {
			host, port = b[:i], b[i+1:]
			if len(port) == 0 {
				return d, newError(CodeInvalidRequest, "empty port")
			}
		}
		if !validHostName(host) {
			return d, newError(CodeInvalidRequest, "malformed host name")
		}
		d.host = strings.ToLower(string(host))
	}
	if len(port) == 0 {
		if requirePort {
			return d, newError(CodeInvalidRequest, "the CONNECT target must be host:port")
		}
		d.port = defaultPort(https)
	} else {
		if !validPort(port) {
			return d, newError(CodeInvalidRequest, "malformed port")
		}
		d.port = string(port)
	}
	h := d.host
	if strings.IndexByte(h, ':') >= 0 {
		h = "[" + h + "]"
	}
	if d.port == defaultPort(https) {
		d.authority = h
	} else {
		d.authority = h + ":" + d.port
	}
	return d, nil
}

func validHostName(b []byte) bool {
	if len(b) == 0 || len(b) > 253 {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

func validPort(b []byte) bool {
	if len(b) == 0 || len(b) > 5 {
		return false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n > 0 && n <= 65535
}

// splitAbsolute splits an absolute-form request URI into scheme, authority
// and the rest (path and query). ok is false when uri is not absolute-form.
func splitAbsolute(uri []byte) (https bool, authority, rest []byte, ok bool) {
	switch {
	case len(uri) >= 8 && bytes.EqualFold(uri[:8], []byte("https://")):
		https, uri = true, uri[8:]
	case len(uri) >= 7 && bytes.EqualFold(uri[:7], []byte("http://")):
		uri = uri[7:]
	default:
		return false, nil, nil, false
	}
	end := bytes.IndexAny(uri, "/?#")
	if end < 0 {
		return https, uri, nil, true
	}
	return https, uri[:end], uri[end:], true
}

// matchesHostHeader reports whether a Host header names d: the same host
// (case-insensitive) and, when the header names a port, the same port. A
// header without a port matches any port of the host, as some clients omit
// non-default ports.
func (d *dest) matchesHostHeader(h []byte) bool {
	if bytes.EqualFold(h, []byte(d.authority)) {
		return true
	}
	hd, err := parseAuthority(h, d.https, false)
	if err != nil {
		return false
	}
	explicitPort := bytes.LastIndexByte(h, ':') > bytes.LastIndexByte(h, ']')
	return hd.host == d.host && (!explicitPort || hd.port == d.port)
}

// maxDestCache bounds the parsed-authority cache; it is cleared when full.
const maxDestCache = 1024

// destCache remembers parsed absolute-URI authorities, so that a sender
// calling the same APIs does not pay for parsing and lower-casing (and the
// allocations) on every request.
type destCache struct {
	mu sync.RWMutex
	m  [2]map[string]dest // [0] http, [1] https
}

func newDestCache() *destCache {
	return &destCache{m: [2]map[string]dest{make(map[string]dest), make(map[string]dest)}}
}

func (c *destCache) parse(b []byte, https bool) (dest, error) {
	i := 0
	if https {
		i = 1
	}
	c.mu.RLock()
	d, ok := c.m[i][string(b)]
	c.mu.RUnlock()
	if ok {
		return d, nil
	}
	d, err := parseAuthority(b, https, false)
	if err != nil {
		return d, err
	}
	c.mu.Lock()
	if len(c.m[i]) >= maxDestCache {
		clear(c.m[i])
	}
	c.m[i][string(b)] = d
	c.mu.Unlock()
	return d, nil
}
