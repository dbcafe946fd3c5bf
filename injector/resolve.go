package injector

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/sidekey/sidekey/internal/secret"

	"github.com/sidekey/sidekey/internal/errcode"
)

// valueKind tells how a value reads in a JSON body's value position: text
// is quoted as a JSON string, jsonText is written as is.
type valueKind uint8

const (
	kindText valueKind = iota
	kindJSON
)

// resolved is one alias resolved for the request (or the error it gave).
type resolved struct {
	alias string
	sec   secret.Secret
	err   *Error
}

// lookup returns the resolution of the placeholder's alias, calling the
// Resolver only the first time an alias is seen in this Rewriter.
func (w *Rewriter) lookup(p *placeholder, loc string) *resolved {
	a := p.aliasBytes()
	for i := range w.cache {
		if w.cache[i].alias == string(a) {
			return &w.cache[i]
		}
	}
	alias := w.internAlias(a)
	r := resolved{alias: alias}
	if w.resolver == nil {
		r.err = &Error{Code: errcode.StoreUnavailable, Alias: alias, Location: loc, Detail: "no resolver"}
	} else if sec, err := w.resolver.Resolve(w.ctx, alias); err != nil {
		code := errcode.StoreUnavailable
		if errors.Is(err, secret.ErrNotFound) {
			code = errcode.SecretNotFound
		}
		r.err = &Error{Code: code, Alias: alias, Location: loc, Err: err}
	} else if !secret.HostAllowed(sec.AllowedHosts, w.opts.Host) {
		r.err = &Error{Code: errcode.HostNotAllowed, Alias: alias, Location: loc,
			Detail: fmt.Sprintf("host %q is not in the secret's allowed_hosts", w.opts.Host)}
	} else {
		r.sec = sec
	}
	w.cache = append(w.cache, r)
	return &w.cache[len(w.cache)-1]
}

// internAlias returns a as a string, reusing the string of an earlier
// request served by this pooled Rewriter (aliases are not secret), so that
// a steady stream of requests allocates no alias strings.
func (w *Rewriter) internAlias(a []byte) string {
	if s, ok := w.aliases[string(a)]; ok {
		return s
	}
	s := string(a)
	if w.aliases == nil {
		w.aliases = make(map[string]string)
	}
	if len(w.aliases) < maxInternedAliases {
		w.aliases[s] = s
	}
	return s
}

// value computes the placeholder's value after its filters into w.val.
func (w *Rewriter) value(p *placeholder, loc string) (valueKind, *Error) {
	r := w.lookup(p, loc)
	if r.err != nil {
		e := *r.err
		e.Location = loc
		return 0, &e
	}
	fail := func(code errcode.Code, detail string) (valueKind, *Error) {
		return 0, &Error{Code: code, Alias: r.alias, Location: loc, Detail: detail}
	}
	v := r.sec.Value
	kind := kindText
	filters := p.filters[:p.nfilters]
	w.val = w.val[:0]

	switch {
	case len(filters) > 0 && filters[0].derived():
		if e := w.derive(p, r, filters[0], loc); e != nil {
			return 0, e
		}
		filters = filters[1:]
	case r.sec.Type == secret.TypeToken:
		if p.nfields > 0 {
			return fail(errcode.FieldNotFound, "a token secret has no field \""+p.fieldPath()+"\"")
		}
		w.val = append(w.val, v.Token...)
	case r.sec.Type == secret.TypeUsernamePassword:
		switch {
		case p.nfields == 0 && len(filters) > 0 && filters[0] == filterBasic:
			w.val = base64.StdEncoding.AppendEncode(w.val, w.userPass(v))
			filters = filters[1:]
		case p.nfields == 0:
			return fail(errcode.InvalidPlaceholder, "a username_password secret needs .username, .password or \"| basic\"")
		case p.nfields == 1 && string(p.field(0)) == "username":
			w.val = append(w.val, v.Username...)
		case p.nfields == 1 && string(p.field(0)) == "password":
			w.val = append(w.val, v.Password...)
		default:
			return fail(errcode.FieldNotFound, "a username_password secret has only the fields username and password, not \""+p.fieldPath()+"\"")
		}
	case r.sec.Type == secret.TypeJSON:
		k, err := w.walkJSON(p, v.JSON)
		if err != nil {
			return 0, withPlace(err, r.alias, loc)
		}
		kind = k
	default:
		return fail(errcode.StoreUnavailable, "the store returned an unknown secret type")
	}

	for _, f := range filters {
		switch f {
		case filterBase64:
			w.tmp = base64.StdEncoding.AppendEncode(w.tmp[:0], w.val)
			kind = kindText
		case filterBase64URL:
			w.tmp = base64.RawURLEncoding.AppendEncode(w.tmp[:0], w.val)
			kind = kindText
		case filterURLEncode:
			w.tmp = appendQueryEscape(w.tmp[:0], w.val)
			kind = kindText
		case filterJSON:
			if kind == kindJSON {
				continue
			}
			w.tmp = append(w.tmp[:0], '"')
			var ok bool
			if w.tmp, ok = appendJSONString(w.tmp, w.val); !ok {
				return fail(errcode.InvalidPlaceholder, "the value is not valid UTF-8 and cannot be written as JSON")
			}
			w.tmp = append(w.tmp, '"')
			kind = kindJSON
		case filterBasic:
			return fail(errcode.InvalidPlaceholder, "\"| basic\" applies only to a whole username_password secret, as its first filter")
		}
		w.val, w.tmp = w.tmp, w.val
	}
	return kind, nil
}

// derive writes the credential a token filter derives from the whole
// secret into w.val, through the Resolver's Deriver.
func (w *Rewriter) derive(p *placeholder, r *resolved, f filter, loc string) *Error {
	fail := func(code errcode.Code, detail string, err error) *Error {
		return &Error{Code: code, Alias: r.alias, Location: loc, Detail: detail, Err: err}
	}
	if p.nfields > 0 {
		return fail(errcode.InvalidPlaceholder, "\""+f.String()+"\" applies to the whole secret, not to a field", nil)
	}
	d, ok := w.resolver.(Deriver)
	if !ok {
		return fail(errcode.InvalidPlaceholder, "\""+f.String()+"\" is not available here", nil)
	}
	var args []string
	if p.nargs > 0 {
		args = make([]string, p.nargs)
		for k := range args {
			args[k] = string(p.arg(k))
		}
	}
	v, err := d.Derive(w.ctx, r.alias, r.sec, f.String(), args)
	if err != nil {
		var ie *Error
		if errors.As(err, &ie) {
			return fail(ie.Code, ie.Detail, err)
		}
		return fail(errcode.CredentialExchangeFailed, "", err)
	}
	w.val = append(w.val[:0], v.Token...)
	return nil
}

// userPass returns "username:password" in w.tmp.
func (w *Rewriter) userPass(v secret.Value) []byte {
	w.tmp = append(w.tmp[:0], v.Username...)
	w.tmp = append(w.tmp, ':')
	w.tmp = append(w.tmp, v.Password...)
	return w.tmp
}

// walkJSON follows the placeholder's fields through a JSON secret and
// writes the result into w.val: a string leaf as its content, anything
// else as compact JSON.
func (w *Rewriter) walkJSON(p *placeholder, raw json.RawMessage) (valueKind, *Error) {
	cur := bytes.TrimSpace(raw)
	if firstByte(cur) != '{' {
		return 0, errStoredJSON
	}
	for k := 0; k < p.nfields; k++ {
		var found, ok bool
		switch firstByte(cur) {
		case '{':
			cur, found, ok = jsonMember(cur, p.field(k))
		case '[':
			idx, valid := arrayIndex(p.field(k))
			if !valid {
				idx = -1
			}
			cur, found, ok = jsonElement(cur, idx)
		default:
			found, ok = false, true
		}
		if !ok {
			return 0, errStoredJSON
		}
		if !found {
			return 0, &Error{Code: errcode.FieldNotFound, Detail: "the JSON secret has no field \"" + p.fieldPath() + "\""}
		}
	}
	if firstByte(cur) == '"' {
		content := cur[1 : len(cur)-1]
		if bytes.IndexByte(content, '\\') < 0 && utf8.Valid(content) {
			w.val = append(w.val[:0], content...)
			return kindText, nil
		}
		var s string
		if err := json.Unmarshal(cur, &s); err != nil {
			return 0, errStoredJSON
		}
		w.val = append(w.val[:0], s...)
		return kindText, nil
	}
	buf := bytes.NewBuffer(w.val[:0])
	if len(cur) == 0 || json.Compact(buf, cur) != nil {
		return 0, errStoredJSON
	}
	w.val = buf.Bytes()
	return kindJSON, nil
}

var errStoredJSON = &Error{Code: errcode.StoreUnavailable, Detail: "the stored JSON value is invalid"}

// withPlace returns a copy of e that names the alias and location.
func withPlace(e *Error, alias, loc string) *Error {
	c := *e
	c.Alias, c.Location = alias, loc
	return &c
}

func firstByte(b []byte) byte {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// arrayIndex parses a decimal array index without sign or leading zeros.
func arrayIndex(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 || (len(b) > 1 && b[0] == '0') {
		return 0, false
	}
	n, err := strconv.Atoi(string(b))
	return n, err == nil && n >= 0
}
