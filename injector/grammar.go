package injector

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// This file is the grammar's other direction and its cheapest question:
// Reference writes a placeholder that parse reads back to the same
// reference, and MayHoldPlaceholder tells a caller whether a part of a
// request is worth handing to a Rewriter at all.

// MayHoldPlaceholder reports whether b could hold a placeholder: "{{", or
// in URL-encoded parts (path, query, form bodies) a percent-encoded brace,
// since clients such as Go's net/http and Python requests escape braces.
// A false answer is certain; a true one only means "parse it".
func MayHoldPlaceholder(b []byte, urlEncoded bool) bool {
	if bytes.Contains(b, openBraces) {
		return true
	}
	if !urlEncoded {
		return false
	}
	for i := bytes.IndexByte(b, '%'); i >= 0 && i+2 < len(b); {
		if b[i+1] == '7' && (b[i+2] == 'B' || b[i+2] == 'b') {
			return true
		}
		j := bytes.IndexByte(b[i+1:], '%')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

// Reference returns the canonical placeholder for alias, the field path
// fields (none for the whole value) and filters, e.g.
// Reference("mail", []string{"password"}) is "{{secrets.mail.password}}"
// and Reference("mail", nil, "basic") is "{{secrets.mail | basic}}". It
// refuses what the grammar cannot name (an alias or field outside
// [A-Za-z0-9_-], over the length limits, an unknown filter), so a caller
// can offer only references that parse.
func Reference(alias string, fields []string, filters ...string) (string, error) {
	if err := checkName("alias", alias, maxAliasLen); err != nil {
		return "", err
	}
	if len(fields) > maxFields {
		return "", fmt.Errorf("injector: reference: more than %d fields", maxFields)
	}
	var b strings.Builder
	b.WriteString("{{secrets.")
	b.WriteString(strings.ToLower(alias))
	for _, f := range fields {
		if err := checkName("field", f, maxFieldLen); err != nil {
			return "", err
		}
		b.WriteByte('.')
		b.WriteString(f)
	}
	if len(filters) > maxFilters {
		return "", fmt.Errorf("injector: reference: more than %d filters", maxFilters)
	}
	for _, f := range filters {
		if lookupFilter([]byte(f)) == 0 {
			return "", fmt.Errorf("injector: reference: unknown filter %q", f)
		}
		b.WriteString(" | ")
		b.WriteString(strings.ToLower(f))
	}
	b.WriteString("}}")
	return b.String(), nil
}

var errEmptyName = errors.New("is empty")

func checkName(what, s string, max int) error {
	if s == "" {
		return fmt.Errorf("injector: reference: %s %w", what, errEmptyName)
	}
	if len(s) > max {
		return fmt.Errorf("injector: reference: %s longer than %d characters", what, max)
	}
	for i := 0; i < len(s); i++ {
		if !isIdent(s[i]) {
			return fmt.Errorf("injector: reference: %s %q holds %q, outside [A-Za-z0-9_-]", what, s, s[i])
		}
	}
	return nil
}
