package adminapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/sidekey/sidekey/injector"
	"github.com/sidekey/sidekey/internal/credential"
	"github.com/sidekey/sidekey/internal/secret"
)

// macroCategory is the Macro Manager's category served here.
const macroCategory = "Secrets"

// macro is one insertable reference of the Macro Manager.
type macro struct {
	Alias string      `json:"alias"`
	Type  secret.Type `json:"type"`
	// Field is the username/password field or the JSON key referenced.
	Field string `json:"field,omitempty"`
	// Filter is the placeholder filter applied ("basic").
	Filter string `json:"filter,omitempty"`
	// Kind is the credential kind of a derived form.
	Kind      string `json:"kind,omitempty"`
	Reference string `json:"reference"`
	Label     string `json:"label"`
}

// macrosOut is the body of GET …/macros.
type macrosOut struct {
	Category string  `json:"category"`
	Macros   []macro `json:"macros"`
}

func (s *Server) macros(_ http.ResponseWriter, r *http.Request, req *request) (int, any, error) {
	metas, err := s.store.List(r.Context(), req.tenant)
	if err != nil {
		return 0, nil, err
	}
	out := macrosOut{Category: macroCategory, Macros: []macro{}}
	for _, m := range sortedByAlias(metas) {
		out.Macros = append(out.Macros, macrosOf(m.Alias, m.Type, m.JSONKeys)...)
		out.Macros = append(out.Macros, derivedMacros(m.Alias, m.Type, m.Kind)...)
	}
	return http.StatusOK, out, nil
}

// macrosOf lists the references of one secret, written by the injector's
// grammar (injector.Reference). JSON keys that the grammar cannot name are
// left out, and a key repeated in the object is offered once. No value is
// read: JSON keys come from the metadata recorded at write time.
func macrosOf(alias string, t secret.Type, jsonKeys []string) []macro {
	ref := func(field, filter string) (string, bool) {
		var fields, filters []string
		if field != "" {
			fields = []string{field}
		}
		if filter != "" {
			filters = []string{filter}
		}
		r, err := injector.Reference(alias, fields, filters...)
		return r, err == nil
	}
	var out []macro
	add := func(field, filter, label string) {
		if r, ok := ref(field, filter); ok {
			out = append(out, macro{Alias: alias, Type: t, Field: field, Filter: filter, Reference: r, Label: label})
		}
	}
	switch t {
	case secret.TypeToken:
		add("", "", alias)
	case secret.TypeUsernamePassword:
		add("username", "", alias+" › username")
		add("password", "", alias+" › password")
		add("", "basic", alias+" › Basic auth (base64 of username:password)")
	case secret.TypeJSON:
		add("", "", alias+" (whole JSON object)")
		seen := map[string]bool{}
		for _, k := range jsonKeys {
			if k != "" && !seen[k] { // "" would name the whole object
				seen[k] = true
				add(k, "", alias+" › "+k)
			}
		}
	}
	return out
}

// derivedMacros lists the derived forms of a secret with a credential
// kind: token placeholders, or the Sidekey-Sign header line of a signing
// kind (package credential writes them).
func derivedMacros(alias string, t secret.Type, kind string) []macro {
	k := credential.Kind(kind)
	if t != secret.TypeJSON || !k.Valid() {
		return nil
	}
	var out []macro
	for _, form := range credential.Forms(k, alias) {
		label := alias + " › " + kind + " token"
		if line, ok := strings.CutPrefix(form, credential.SignHeader+": "); ok {
			label = alias + " › " + credential.SignHeader + ": " + strings.Fields(line)[0]
		}
		out = append(out, macro{Alias: alias, Type: t, Kind: kind, Reference: form, Label: label})
	}
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
