// Package credential turns JSON secrets of a known kind into what an
// upstream accepts at send time: access tokens minted from a Google service
// account key or an OAuth2 client, APNs provider JWTs, and request
// signatures (AWS SigV4, HMAC-SHA256, Standard Webhooks).
//
// Each kind is a small set of functions: validate the stored object, derive
// (mint a token or sign a request), and the cache key of what it derives.
// Token exchanges go out through an HTTP client the caller injects (the
// proxy's upstream client, with its TLS verification and destination
// guard); the Minter caches what they return per tenant, alias, secret
// version and arguments.
//
// Nothing here logs, prints or returns a key, a token or an endpoint's body:
// errors carry field names, kinds and HTTP statuses only.
package credential

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/sidekey/sidekey/internal/secret"
)

// Kind is a JSON secret's credential kind.
type Kind string

// The credential kinds.
const (
	KindGoogleServiceAccount Kind = "google_service_account"
	KindOAuth2Client         Kind = "oauth2_client"
	KindAPNsKey              Kind = "apns_key"
	KindAWSCredentials       Kind = "aws_credentials"
	KindHMACKey              Kind = "hmac_key"
)

// Kinds lists every kind, in the order the UI offers them.
var Kinds = []Kind{KindGoogleServiceAccount, KindOAuth2Client, KindAPNsKey, KindAWSCredentials, KindHMACKey}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	for _, known := range Kinds {
		if k == known {
			return true
		}
	}
	return false
}

// KindList is the kinds as a comma-separated list, for messages.
func KindList() string {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// The token filters of the placeholder grammar, and the kind each needs.
const (
	FilterGoogleAccessToken = "google_access_token"
	FilterOAuth2Token       = "oauth2_token" //nolint:gosec // G101: a filter name, not a credential
	FilterAPNsJWT           = "apns_jwt"
)

// The signing algorithms of the Sidekey-Sign directive.
const (
	SignAWSSigV4         = "aws-sigv4"
	SignHMACSHA256       = "hmac-sha256"
	SignStandardWebhooks = "standard-webhooks"
)

// FilterKind returns the kind a token filter needs, and whether name is a
// token filter at all.
func FilterKind(name string) (Kind, bool) {
	switch name {
	case FilterGoogleAccessToken:
		return KindGoogleServiceAccount, true
	case FilterOAuth2Token:
		return KindOAuth2Client, true
	case FilterAPNsJWT:
		return KindAPNsKey, true
	}
	return "", false
}

// SignKind returns the kind a signing algorithm needs, and whether alg is
// known.
func SignKind(alg string) (Kind, bool) {
	switch alg {
	case SignAWSSigV4:
		return KindAWSCredentials, true
	case SignHMACSHA256, SignStandardWebhooks:
		return KindHMACKey, true
	}
	return "", false
}

// Validate checks a JSON secret's object against its kind. Failures are a
// *secret.ValidationError whose fields are named as in the admin API
// ("value.json.private_key"); no message quotes a value.
func Validate(k Kind, obj json.RawMessage) error {
	verr := &secret.ValidationError{}
	if !k.Valid() {
		verr.Add("kind", "must be one of %s", KindList())
		return verr
	}
	f, err := parseFields(obj)
	if err != nil {
		verr.Add("value.json", "must be a JSON object")
		return verr
	}
	switch k {
	case KindGoogleServiceAccount:
		validateGoogle(f, verr)
	case KindOAuth2Client:
		validateOAuth2Client(f, verr)
	case KindAPNsKey:
		validateAPNs(f, verr)
	case KindAWSCredentials:
		validateAWS(f, verr)
	case KindHMACKey:
		validateHMAC(f, verr)
	}
	return verr.Err()
}

// fields is a secret object's top-level members.
type fields map[string]json.RawMessage

func parseFields(obj json.RawMessage) (fields, error) {
	var f fields
	dec := json.NewDecoder(bytes.NewReader(obj))
	if err := dec.Decode(&f); err != nil || f == nil {
		return nil, fmt.Errorf("credential: not a JSON object")
	}
	return f, nil
}

const fieldPrefix = "value.json."

// str returns a string member; ok is false when it is absent. A member that
// is not a string is reported.
func (f fields) str(verr *secret.ValidationError, name string) (string, bool) {
	raw, ok := f[name]
	if !ok || string(raw) == "null" {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		verr.Add(fieldPrefix+name, "must be a string")
		return "", false
	}
	return s, true
}

// required returns a non-empty string member or reports it.
func (f fields) required(verr *secret.ValidationError, name string) string {
	s, ok := f.str(verr, name)
	if !ok {
		if _, present := f[name]; !present {
			verr.Add(fieldPrefix+name, "is required")
		}
		return ""
	}
	if strings.TrimSpace(s) == "" {
		verr.Add(fieldPrefix+name, "must be a non-empty string")
		return ""
	}
	return s
}

// strings returns a member that is an array of strings or one
// space-separated string.
func (f fields) strings(verr *secret.ValidationError, name string) []string {
	raw, ok := f[name]
	if !ok || string(raw) == "null" {
		return nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		return list
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return strings.Fields(s)
	}
	verr.Add(fieldPrefix+name, "must be an array of strings or a space-separated string")
	return nil
}

// checkTokenURL reports a token endpoint that is not an absolute https URL.
func checkTokenURL(verr *secret.ValidationError, name, raw string) {
	if raw == "" {
		return
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" {
		verr.Add(fieldPrefix+name, "must be an absolute https URL without user info or fragment")
	}
}

// Field is one member of a kind's template, for the UI's create drawer.
type Field struct {
	Name     string `json:"name"`
	Required bool   `json:"required"`
	// Example is a placeholder-looking example, never a real value.
	Example any `json:"example"`
}

// Template returns the members a kind's object takes.
func Template(k Kind) []Field {
	switch k {
	case KindGoogleServiceAccount:
		return []Field{
			{Name: "type", Required: true, Example: "service_account"},
			{Name: "client_email", Required: true, Example: "sender@project.iam.gserviceaccount.com"},
			{Name: "private_key_id", Example: "0123abcd"},
			{Name: "private_key", Required: true, Example: "-----BEGIN PRIVATE KEY-----\n…\n-----END PRIVATE KEY-----\n"},
			{Name: "token_uri", Example: "https://oauth2.googleapis.com/token"},
		}
	case KindOAuth2Client:
		return []Field{
			{Name: "client_id", Required: true, Example: "client-id"},
			{Name: "client_secret", Required: true, Example: "client-secret"},
			{Name: "token_url", Required: true, Example: "https://login.example.com/oauth2/token"},
			{Name: "scopes", Example: []string{"https://graph.microsoft.com/.default"}},
			{Name: "audience", Example: ""},
			{Name: "auth_style", Example: "header"},
		}
	case KindAPNsKey:
		return []Field{
			{Name: "team_id", Required: true, Example: "TEAMID1234"},
			{Name: "key_id", Required: true, Example: "KEYID12345"},
			{Name: "private_key", Required: true, Example: "-----BEGIN PRIVATE KEY-----\n…\n-----END PRIVATE KEY-----\n"},
		}
	case KindAWSCredentials:
		return []Field{
			{Name: "access_key_id", Required: true, Example: "AKIA…"},
			{Name: "secret_access_key", Required: true, Example: "…"},
			{Name: "session_token", Example: ""},
			{Name: "region", Example: "us-east-1"},
		}
	case KindHMACKey:
		return []Field{
			{Name: "key", Required: true, Example: "…"},
			{Name: "encoding", Required: true, Example: "raw"},
		}
	}
	return nil
}

// Forms returns the derived references of a secret of kind k for the Macro
// Manager: placeholders for token kinds, Sidekey-Sign header lines for
// signing kinds.
func Forms(k Kind, alias string) []string {
	ref := "secrets." + alias
	switch k {
	case KindGoogleServiceAccount:
		return []string{`{{` + ref + ` | google_access_token("https://www.googleapis.com/auth/firebase.messaging")}}`}
	case KindOAuth2Client:
		return []string{`{{` + ref + ` | oauth2_token}}`}
	case KindAPNsKey:
		return []string{`{{` + ref + ` | apns_jwt}}`}
	case KindAWSCredentials:
		return []string{"Sidekey-Sign: aws-sigv4 " + ref}
	case KindHMACKey:
		return []string{
			"Sidekey-Sign: hmac-sha256 " + ref + "; header=X-Signature; encoding=hex",
			"Sidekey-Sign: standard-webhooks " + ref,
		}
	}
	return nil
}
