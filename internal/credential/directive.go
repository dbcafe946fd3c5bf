package credential

import (
	"strings"

	"github.com/sidekey/sidekey/internal/secret"
)

// SignHeader is the request header that asks the proxy to sign a request.
// The proxy removes it before sending.
const SignHeader = "Sidekey-Sign"

// Directive is one parsed Sidekey-Sign header:
//
//	aws-sigv4 secrets.ses; region=eu-west-1; service=email
//	hmac-sha256 secrets.wh; header=X-Signature; encoding=hex; prefix=sha256=
//	standard-webhooks secrets.wh
type Directive struct {
	// Algorithm is SignAWSSigV4, SignHMACSHA256 or SignStandardWebhooks.
	Algorithm string
	// Alias is the secret's alias, lower-cased.
	Alias string
	// Params are the "; name=value" parameters, names lower-cased.
	Params map[string]string
}

// params each algorithm accepts.
var directiveParams = map[string][]string{
	SignAWSSigV4:         {"region", "service", "payload"},
	SignHMACSHA256:       {"header", "encoding", "prefix"},
	SignStandardWebhooks: {},
}

// ParseDirective parses a Sidekey-Sign value. Errors wrap ErrSigning and
// quote only the algorithm and parameter names.
func ParseDirective(v string) (Directive, error) {
	parts := strings.Split(v, ";")
	head := strings.Fields(parts[0])
	if len(head) != 2 {
		return Directive{}, signingErr("Sidekey-Sign must be \"ALGORITHM secrets.ALIAS[; name=value …]\"")
	}
	d := Directive{Algorithm: strings.ToLower(head[0]), Params: map[string]string{}}
	allowed, ok := directiveParams[d.Algorithm]
	if !ok {
		return Directive{}, signingErr("unknown signing algorithm; use %s, %s or %s", SignAWSSigV4, SignHMACSHA256, SignStandardWebhooks)
	}
	ref, ok := strings.CutPrefix(strings.ToLower(head[1]), "secrets.")
	if !ok {
		return Directive{}, signingErr("Sidekey-Sign names its secret as secrets.ALIAS")
	}
	alias, err := secret.NormalizeAlias(ref)
	if err != nil {
		return Directive{}, signingErr("Sidekey-Sign: %s", err.Error())
	}
	d.Alias = alias
	for _, p := range parts[1:] {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		name, value, ok := strings.Cut(p, "=")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || name == "" {
			return Directive{}, signingErr("Sidekey-Sign parameters are name=value")
		}
		known := false
		for _, a := range allowed {
			known = known || a == name
		}
		if !known {
			return Directive{}, signingErr("%s takes no parameter %q", d.Algorithm, name)
		}
		if _, dup := d.Params[name]; dup {
			return Directive{}, signingErr("Sidekey-Sign parameter %q given twice", name)
		}
		d.Params[name] = strings.TrimSpace(value)
	}
	return d, nil
}
