package injector

import (
	"bytes"
	"errors"
)

// Limits of the grammar. A placeholder that exceeds one is malformed.
const (
	maxAliasLen = 64
	maxFields   = 16
	maxFieldLen = 128
	maxFilters  = 8
	// A token filter takes at most maxArgs quoted arguments of at most
	// maxArgsLen bytes in all.
	maxArgs    = 4
	maxArgsLen = 512
)

// NonceMinLen and NonceMaxLen bound the length of a Sidekey-Nonce.
const (
	NonceMinLen = 16
	NonceMaxLen = 128
)

// CheckNonce reports whether n can select strict mode: NonceMinLen to
// NonceMaxLen characters of [A-Za-z0-9._~-], so that it reads the same in
// every part of a request (no byte of it is ever escaped).
func CheckNonce(n string) error {
	if len(n) < NonceMinLen || len(n) > NonceMaxLen {
		return errors.New("nonce must be 16 to 128 characters")
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; !isIdent(c) && c != '.' && c != '~' {
			return errors.New("nonce may hold only A-Z, a-z, 0-9, '.', '_', '~' and '-'")
		}
	}
	return nil
}

// filter is one "| name" of a placeholder.
type filter uint8

const (
	filterBase64 filter = iota + 1
	filterBase64URL
	filterURLEncode
	filterBasic
	filterJSON
	// Token filters: the value is a credential derived from the whole
	// secret by the Resolver's Derive (see Deriver).
	filterGoogleAccessToken
	filterOAuth2Token
	filterAPNsJWT
)

const lastFilter = filterAPNsJWT

// derived reports whether f is a token filter.
func (f filter) derived() bool { return f >= filterGoogleAccessToken }

var filterNames = [...]string{ //nolint:gosec // filter names, not credentials
	filterBase64:    "base64",
	filterBase64URL: "base64url",
	filterURLEncode: "urlencode",
	filterBasic:     "basic",
	filterJSON:      "json",

	filterGoogleAccessToken: "google_access_token",
	filterOAuth2Token:       "oauth2_token",
	filterAPNsJWT:           "apns_jwt",
}

func (f filter) String() string { return filterNames[f] }

func lookupFilter(name []byte) filter {
	for f := filterBase64; f <= lastFilter; f++ {
		if equalFold(name, filterNames[f]) {
			return f
		}
	}
	return 0
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isIdent(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold compares ASCII b with the lower-case word s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if lower(b[i]) != s[i] {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// cursor reads the logical characters of a request part. In URL parts
// (path, query, form bodies) a placeholder may arrive percent-encoded, as
// clients such as Go's net/http escape braces: "%7B%7Bsecrets.a%7D%7D"
// reads as "{{secrets.a}}". In query and form parts '+' reads as a space.
type cursor struct {
	b    []byte
	url  bool
	plus bool
}

// at returns the logical character at i and the number of bytes it takes;
// width 0 means the end of the input.
func (c *cursor) at(i int) (byte, int) {
	if i >= len(c.b) {
		return 0, 0
	}
	ch := c.b[i]
	if c.url {
		if ch == '%' && i+2 < len(c.b) && isHex(c.b[i+1]) && isHex(c.b[i+2]) {
			return unhex(c.b[i+1])<<4 | unhex(c.b[i+2]), 3
		}
		if ch == '+' && c.plus {
			return ' ', 1
		}
	}
	return ch, 1
}

func (c *cursor) skipSpace(i int) int {
	for {
		ch, w := c.at(i)
		if w == 0 || !isSpace(ch) {
			return i
		}
		i += w
	}
}

var openBraces = []byte("{{")

// next returns the index of the next logical "{{" at or after from, or -1.
func (c *cursor) next(from int) int {
	if !c.url {
		if from >= len(c.b) {
			return -1
		}
		j := indexOpen(c.b[from:])
		if j < 0 {
			return -1
		}
		return from + j
	}
	for i := from; i < len(c.b); {
		j := bytes.IndexAny(c.b[i:], "{%")
		if j < 0 {
			return -1
		}
		i += j
		ch, w := c.at(i)
		if ch == '{' {
			if ch2, w2 := c.at(i + w); w2 > 0 && ch2 == '{' {
				return i
			}
		}
		i += w
	}
	return -1
}

// keyword reports whether the word "secrets" (any case) starts at i and is
// not followed by an identifier character, and returns the index after it.
func (c *cursor) keyword(i int) (int, bool) {
	const kw = "secrets"
	for k := 0; k < len(kw); k++ {
		ch, w := c.at(i)
		if w == 0 || lower(ch) != kw[k] {
			return 0, false
		}
		i += w
	}
	if ch, w := c.at(i); w > 0 && isIdent(ch) {
		return 0, false
	}
	return i, true
}

// mentionsSecrets reports whether the text from i up to the next brace
// holds "secrets." in any case. Such braces are treated as a (malformed)
// reference, so that nothing resembling {{…secrets.…}} passes as data
// without a nonce.
// In URL parts both the decoded and the raw text are searched, each up to
// its next brace.
func (c *cursor) mentionsSecrets(i int) bool {
	if c.url {
		raw := cursor{b: c.b}
		if raw.mentionsSecrets(i) {
			return true
		}
	}
	for {
		ch, w := c.at(i)
		if w == 0 || ch == '{' || ch == '}' {
			return false
		}
		if lower(ch) == 's' && c.matchFold(i, "secrets.") {
			return true
		}
		i += w
	}
}

// matchFold reports whether the logical characters from i spell word (a
// lower-case word), ignoring case.
func (c *cursor) matchFold(i int, word string) bool {
	for k := 0; k < len(word); k++ {
		ch, w := c.at(i)
		if w == 0 || lower(ch) != word[k] {
			return false
		}
		i += w
	}
	return true
}

// ident reads the identifier characters from i. It appends at most max of
// them to dst and returns the index after the identifier, dst and the
// identifier's full length (more than max when it was cut).
func (c *cursor) ident(i int, dst []byte, max int) (int, []byte, int) {
	n := 0
	for {
		// An identifier byte stands for itself ('%' and '+' are not
		// identifier bytes); only an escape needs the cursor.
		ch, w := byte(0), 1
		if i < len(c.b) && isIdent(c.b[i]) {
			ch = c.b[i]
		} else if ch, w = c.at(i); w == 0 || !isIdent(ch) {
			return i, dst, n
		}
		if n < max {
			dst = append(dst, ch)
		}
		n++
		i += w
	}
}

// placeholder is one parsed reference. It lives in the Rewriter and is
// reused, so parsing allocates nothing.
type placeholder struct {
	start, end int // raw span in the input

	alias    [maxAliasLen]byte
	aliasLen int

	fields   []byte // field names, concatenated
	fieldEnd [maxFields]int
	nfields  int

	filters  [maxFilters]filter
	nfilters int

	// args are a token filter's arguments, concatenated (template text,
	// never values).
	args   []byte
	argEnd [maxArgs]int
	nargs  int

	hasPrefix  bool
	prefix     [NonceMaxLen]byte
	prefixLen  int
	prefixLong bool
}

func (p *placeholder) aliasBytes() []byte { return p.alias[:p.aliasLen] }

func (p *placeholder) field(k int) []byte {
	from := 0
	if k > 0 {
		from = p.fieldEnd[k-1]
	}
	return p.fields[from:p.fieldEnd[k]]
}

// fieldPath returns the fields joined with dots, for error messages. Field
// names are template text, never values.
func (p *placeholder) fieldPath() string {
	var b []byte
	for k := 0; k < p.nfields; k++ {
		if k > 0 {
			b = append(b, '.')
		}
		b = append(b, p.field(k)...)
	}
	return string(b)
}

func (p *placeholder) prefixMatches(nonce string) bool {
	return p.hasPrefix && !p.prefixLong && string(p.prefix[:p.prefixLen]) == nonce
}

// parse reads the placeholder whose logical "{{" starts at start.
//
// ref reports whether the braces hold a secrets reference at all: "{{"
// then optional whitespace, an optional "PREFIX:" (PREFIX any run of bytes
// other than whitespace, ':' and braces), optional whitespace and the word
// "secrets" not followed by an identifier character; or, failing that, any
// text up to the next brace that holds "secrets." (always malformed).
// Anything else is data.
// For a reference, bad describes why it is malformed ("" when it is well
// formed) and end is the index after its closing "}}".
//
// The grammar is read by one small function per production:
// head (prefix and "secrets"), alias, fields, filters, close.
func (p *placeholder) parse(c *cursor, start int) (end int, ref bool, bad string) {
	p.aliasLen, p.nfields, p.nfilters, p.nargs = 0, 0, 0, 0
	p.fields = p.fields[:0]
	p.args = p.args[:0]
	p.hasPrefix, p.prefixLen, p.prefixLong = false, 0, false
	p.start = start

	_, w1 := c.at(start)
	_, w2 := c.at(start + w1)
	i, ref, bad := p.parseHead(c, c.skipSpace(start+w1+w2))
	if bad != "" {
		return 0, ref, bad
	}
	// Called in turn, not through a slice of method values: those would
	// allocate, and parsing allocates nothing.
	i, bad = p.parseAlias(c, i)
	if bad == "" {
		i, bad = p.parseFields(c, i)
	}
	if bad == "" {
		i, bad = p.parseFilters(c, i)
	}
	if bad == "" {
		i, bad = p.parseClose(c, i)
	}
	if bad != "" {
		return 0, true, bad
	}
	p.end = i
	return p.end, true, ""
}

// parseHead reads [PREFIX ":"] "secrets" from i and returns the index after
// the keyword. ref is false when the braces hold no secrets reference.
func (p *placeholder) parseHead(c *cursor, i int) (next int, ref bool, bad string) {
	if j, ok := c.keyword(i); ok {
		return j, true, ""
	}
	k := i
	for {
		ch, w := c.at(k)
		if w == 0 || isSpace(ch) || ch == ':' || ch == '{' || ch == '}' {
			break
		}
		if p.prefixLen < len(p.prefix) {
			p.prefix[p.prefixLen] = ch
			p.prefixLen++
		} else {
			p.prefixLong = true
		}
		k += w
	}
	ch, w := c.at(k)
	if k == i || ch != ':' {
		return 0, c.mentionsSecrets(i), "malformed reference to secrets"
	}
	afterColon := k + w
	k = c.skipSpace(afterColon)
	j, ok := c.keyword(k)
	if !ok {
		return 0, c.mentionsSecrets(i), "malformed reference to secrets"
	}
	p.hasPrefix = true
	if k != afterColon {
		return 0, true, "no space is allowed between the nonce and \"secrets\""
	}
	return j, true, ""
}

// parseAlias reads "." ALIAS (lower-cased into p.alias).
func (p *placeholder) parseAlias(c *cursor, i int) (int, string) {
	ch, w := c.at(i)
	if ch != '.' || w == 0 {
		return 0, "expected \".ALIAS\" after \"secrets\""
	}
	i, alias, n := c.ident(i+w, p.alias[:0], maxAliasLen)
	for k := range alias {
		alias[k] = lower(alias[k])
	}
	switch {
	case n == 0:
		return 0, "missing alias after \"secrets.\""
	case n > maxAliasLen:
		return 0, "alias longer than 64 characters"
	}
	p.aliasLen = n
	return i, ""
}

// parseFields reads ("." FIELD)*.
func (p *placeholder) parseFields(c *cursor, i int) (int, string) {
	for {
		ch, w := c.at(i)
		if w == 0 || ch != '.' {
			return i, ""
		}
		i += w
		if p.nfields == maxFields {
			return 0, "more than 16 fields"
		}
		var m int
		i, p.fields, m = c.ident(i, p.fields, maxFieldLen)
		switch {
		case m == 0:
			return 0, "empty field name"
		case m > maxFieldLen:
			return 0, "field name longer than 128 characters"
		}
		p.fieldEnd[p.nfields] = len(p.fields)
		p.nfields++
	}
}

// parseFilters reads (WS "|" WS FILTER)* WS.
func (p *placeholder) parseFilters(c *cursor, i int) (int, string) {
	i = c.skipSpace(i)
	for {
		ch, w := c.at(i)
		if w == 0 || ch != '|' {
			return i, ""
		}
		var f filter
		var bad string
		if i, f, bad = parseFilter(c, c.skipSpace(i+w)); bad != "" {
			return 0, bad
		}
		if p.nfilters == maxFilters {
			return 0, "more than 8 filters"
		}
		if i, bad = p.parseArgs(c, i, f); bad != "" {
			return 0, bad
		}
		if f.derived() && p.nfilters > 0 {
			return 0, "\"" + f.String() + "\" must be the first filter"
		}
		p.filters[p.nfilters] = f
		p.nfilters++
		i = c.skipSpace(i)
	}
}

// parseFilter reads one filter name at i (case-insensitive).
func parseFilter(c *cursor, i int) (int, filter, string) {
	var nameBuf [32]byte
	i, name, m := c.ident(i, nameBuf[:0], len(nameBuf))
	if m == 0 {
		return 0, 0, "missing filter name after \"|\""
	}
	f := filter(0)
	if m == len(name) {
		f = lookupFilter(name)
	}
	if f == 0 {
		if m > len(name) {
			return 0, 0, "unknown filter"
		}
		return 0, 0, "unknown filter \"" + string(name) + "\" (want base64, base64url, urlencode, basic, json, google_access_token, oauth2_token or apns_jwt)"
	}
	return i, f, ""
}

// parseArgs reads a token filter's optional arguments after its name:
// WS "(" WS ARG (WS "," WS ARG)* WS ")", where ARG is text in double or
// single quotes holding neither quote, backslash, braces nor control
// characters (single quotes need no escaping inside a JSON string).
// Other filters take none.
func (p *placeholder) parseArgs(c *cursor, i int, f filter) (int, string) {
	j := c.skipSpace(i)
	ch, w := c.at(j)
	if w == 0 || ch != '(' {
		return i, ""
	}
	j += w
	if !f.derived() {
		return 0, "filter \"" + f.String() + "\" takes no arguments"
	}
	for {
		j = c.skipSpace(j)
		q, w := c.at(j)
		if w == 0 || (q != '"' && q != '\'') {
			return 0, "a filter argument must be quoted"
		}
		j += w
		for {
			ch, w := c.at(j)
			if w == 0 || ch == '{' || ch == '}' || ch == '\\' || ch < 0x20 || ch == 0x7f {
				return 0, "unterminated or invalid filter argument"
			}
			j += w
			if ch == q {
				break
			}
			if ch == '"' || ch == '\'' {
				return 0, "unterminated or invalid filter argument"
			}
			if len(p.args) == maxArgsLen {
				return 0, "filter arguments longer than 512 bytes"
			}
			p.args = append(p.args, ch)
		}
		if p.nargs == maxArgs {
			return 0, "more than 4 filter arguments"
		}
		p.argEnd[p.nargs] = len(p.args)
		p.nargs++
		j = c.skipSpace(j)
		ch, w := c.at(j)
		switch {
		case w > 0 && ch == ',':
			j += w
		case w > 0 && ch == ')':
			return j + w, ""
		default:
			return 0, "expected \",\" or \")\" after a filter argument"
		}
	}
}

// arg returns the k-th filter argument.
func (p *placeholder) arg(k int) []byte {
	from := 0
	if k > 0 {
		from = p.argEnd[k-1]
	}
	return p.args[from:p.argEnd[k]]
}

// parseClose reads the closing "}}".
func (p *placeholder) parseClose(c *cursor, i int) (int, string) {
	ch, w := c.at(i)
	ch2, w2 := c.at(i + w)
	if w == 0 || w2 == 0 || ch != '}' || ch2 != '}' {
		return 0, "expected \"}}\""
	}
	return i + w + w2, ""
}

// ContainsPlaceholder reports whether b holds anything that starts like a
// placeholder ("{{", also percent-encoded), for parts where none is allowed
// (scheme, host, port).
func ContainsPlaceholder(b []byte) bool {
	c := cursor{b: b, url: true}
	return c.next(0) >= 0
}
