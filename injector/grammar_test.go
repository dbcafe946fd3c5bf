package injector

import (
	"slices"
	"strings"
	"testing"
)

// parseReference parses text as one placeholder, as the Rewriter does.
func parseReference(t *testing.T, text string) (alias string, fields, filters []string) {
	t.Helper()
	c := cursor{b: []byte(text)}
	var p placeholder
	end, ref, bad := p.parse(&c, 0)
	if !ref || bad != "" || end != len(text) {
		t.Fatalf("%q does not parse back: ref=%v bad=%q end=%d", text, ref, bad, end)
	}
	for k := 0; k < p.nfields; k++ {
		fields = append(fields, string(p.field(k)))
	}
	for k := 0; k < p.nfilters; k++ {
		filters = append(filters, p.filters[k].String())
	}
	return string(p.aliasBytes()), fields, filters
}

func TestReference(t *testing.T) {
	for _, c := range []struct {
		alias   string
		fields  []string
		filters []string
		want    string
	}{
		{"weather_fx", nil, nil, "{{secrets.weather_fx}}"},
		{"Mail", []string{"password"}, nil, "{{secrets.mail.password}}"},
		{"mail", nil, []string{"basic"}, "{{secrets.mail | basic}}"},
		{"cfg", []string{"a", "b-c"}, []string{"json", "BASE64"}, "{{secrets.cfg.a.b-c | json | base64}}"},
	} {
		got, err := Reference(c.alias, c.fields, c.filters...)
		if err != nil || got != c.want {
			t.Errorf("Reference(%q, %q, %q) = %q, %v; want %q", c.alias, c.fields, c.filters, got, err, c.want)
			continue
		}
		alias, fields, filters := parseReference(t, got)
		wantFilters := make([]string, len(c.filters))
		for i, f := range c.filters {
			wantFilters[i] = strings.ToLower(f)
		}
		if alias != strings.ToLower(c.alias) || !slices.Equal(fields, c.fields) || !slices.Equal(filters, wantFilters) {
			t.Errorf("%q parses to %q %q %q", got, alias, fields, filters)
		}
	}
}

func TestReferenceRefuses(t *testing.T) {
	for name, c := range map[string]struct {
		alias   string
		fields  []string
		filters []string
	}{
		"empty alias":    {"", nil, nil},
		"dot in alias":   {"a.b", nil, nil},
		"long alias":     {strings.Repeat("a", 65), nil, nil},
		"space in field": {"a", []string{"my key"}, nil},
		"brace in field": {"a", []string{"x}}"}, nil},
		"long field":     {"a", []string{strings.Repeat("f", 129)}, nil},
		"unknown filter": {"a", nil, []string{"upper"}},
		"17 fields":      {"a", slices.Repeat([]string{"f"}, 17), nil},
	} {
		if got, err := Reference(c.alias, c.fields, c.filters...); err == nil {
			t.Errorf("%s: Reference gave %q, want an error", name, got)
		}
	}
}

// FuzzReference: whatever Reference accepts parses back to itself.
func FuzzReference(f *testing.F) {
	f.Add("mail", "password", "basic")
	f.Add("cfg", "", "json")
	f.Add("A-b_9", "x-y", "")
	f.Fuzz(func(t *testing.T, alias, field, filter string) {
		var fields, filters []string
		if field != "" {
			fields = []string{field}
		}
		if filter != "" {
			filters = []string{filter}
		}
		text, err := Reference(alias, fields, filters...)
		if err != nil {
			return
		}
		a, fs, fl := parseReference(t, text)
		if a != strings.ToLower(alias) || !slices.Equal(fs, fields) || len(fl) != len(filters) {
			t.Fatalf("%q parses to %q %q %q", text, a, fs, fl)
		}
	})
}

func TestMayHoldPlaceholder(t *testing.T) {
	for _, c := range []struct {
		in         string
		urlEncoded bool
		want       bool
	}{
		{"plain", false, false},
		{"a {{secrets.x}}", false, true},
		{"%7B%7Bsecrets.x%7D%7D", true, true},
		{"%7b", true, true},
		{"%7B%7Bsecrets.x%7D%7D", false, false},
		{"100%", true, false},
		{"%20%41", true, false},
	} {
		if got := MayHoldPlaceholder([]byte(c.in), c.urlEncoded); got != c.want {
			t.Errorf("MayHoldPlaceholder(%q, %v) = %v, want %v", c.in, c.urlEncoded, got, c.want)
		}
	}
}
