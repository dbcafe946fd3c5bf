package injector

import (
	"bytes"
	"encoding/json"
)

// This file walks a stored JSON secret without decoding it into maps, so
// that {{secrets.cfg.a.b}} costs no allocation. The walk trusts nothing:
// a malformed document makes it report failure, and every non-string
// result is checked by json.Compact before it is written.

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string that starts at b[i] == '"'.
func skipString(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

// skipValue returns the index after the JSON value that starts at b[i].
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, ok := skipString(b, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	default:
		j := i
	literal:
		for ; j < len(b); j++ {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				break literal
			}
		}
		return j, j > i
	}
}

// jsonMember returns the value of key in the object at b[i] == '{'. Of
// duplicate keys the last wins, as with encoding/json.
func jsonMember(b []byte, key []byte) (val []byte, found, ok bool) {
	i := skipWS(b, 1)
	if i < len(b) && b[i] == '}' {
		return nil, false, true
	}
	for i < len(b) {
		if b[i] != '"' {
			return nil, false, false
		}
		kEnd, ok := skipString(b, i)
		if !ok {
			return nil, false, false
		}
		rawKey := b[i+1 : kEnd-1]
		i = skipWS(b, kEnd)
		if i >= len(b) || b[i] != ':' {
			return nil, false, false
		}
		i = skipWS(b, i+1)
		vEnd, ok := skipValue(b, i)
		if !ok {
			return nil, false, false
		}
		if keyEquals(rawKey, key) {
			val, found = b[i:vEnd], true
		}
		i = skipWS(b, vEnd)
		if i >= len(b) {
			return nil, false, false
		}
		if b[i] == '}' {
			return val, found, true
		}
		if b[i] != ',' {
			return nil, false, false
		}
		i = skipWS(b, i+1)
	}
	return nil, false, false
}

// keyEquals compares a raw (still escaped) JSON key with key.
func keyEquals(rawKey, key []byte) bool {
	if bytes.IndexByte(rawKey, '\\') < 0 {
		return bytes.Equal(rawKey, key)
	}
	var s string
	quoted := make([]byte, 0, len(rawKey)+2)
	quoted = append(append(append(quoted, '"'), rawKey...), '"')
	return json.Unmarshal(quoted, &s) == nil && s == string(key)
}

// jsonElement returns element idx of the array at b[i] == '['.
func jsonElement(b []byte, idx int) (val []byte, found, ok bool) {
	i := skipWS(b, 1)
	if i < len(b) && b[i] == ']' {
		return nil, false, true
	}
	for n := 0; i < len(b); n++ {
		end, ok := skipValue(b, i)
		if !ok {
			return nil, false, false
		}
		if n == idx {
			return b[i:end], true, true
		}
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ',' {
			return nil, false, i < len(b) && b[i] == ']'
		}
		i = skipWS(b, i+1)
	}
	return nil, false, false
}
