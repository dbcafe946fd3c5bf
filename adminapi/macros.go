package adminapi

import (
	"net/http"
	"strconv"

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
	Filter    string `json:"filter,omitempty"`
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
	}
	return http.StatusOK, out, nil
}

// macrosOf lists the references of one secret. JSON keys that the
// placeholder grammar cannot name ([A-Za-z0-9_-]+) are left out, and a key
// repeated in the object is offered once. No value
// is read: JSON keys come from the metadata recorded at write time.
func macrosOf(alias string, t secret.Type, jsonKeys []string) []macro {
	ref := func(suffix string) string { return "{{secrets." + alias + suffix + "}}" }
	switch t {
	case secret.TypeToken:
		return []macro{{Alias: alias, Type: t, Reference: ref(""), Label: alias}}
	case secret.TypeUsernamePassword:
		return []macro{
			{Alias: alias, Type: t, Field: "username", Reference: ref(".username"), Label: alias + " › username"},
			{Alias: alias, Type: t, Field: "password", Reference: ref(".password"), Label: alias + " › password"},
			{Alias: alias, Type: t, Filter: "basic", Reference: ref(" | basic"), Label: alias + " › Basic auth (base64 of username:password)"},
		}
	case secret.TypeJSON:
		out := []macro{{Alias: alias, Type: t, Reference: ref(""), Label: alias + " (whole JSON object)"}}
		seen := map[string]bool{}
		for _, k := range jsonKeys {
			if !validField(k) || seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, macro{Alias: alias, Type: t, Field: k, Reference: ref("." + k), Label: alias + " › " + k})
		}
		return out
	default:
		return nil
	}
}

// validField reports whether k matches FIELD = [A-Za-z0-9_-]+.
func validField(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
