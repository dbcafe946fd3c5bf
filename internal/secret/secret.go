// Package secret holds the secret model shared by the injector, the Vault
// store and the admin API: tenants, types, write-only values, and the
// validation rules of SPEC §1. It does no I/O.
package secret

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"go.uber.org/zap/zapcore"
)

// Redacted is what every printed form of a value shows.
const Redacted = "[redacted]"

// Sentinel errors shared by the store (which returns them) and the injector
// and proxy (which map them to error codes).
var (
	// ErrNotFound means the alias is unknown or archived in the tenant.
	ErrNotFound = errors.New("secret not found")
	// ErrUnavailable means the store could not be reached and no usable
	// cached value exists.
	ErrUnavailable = errors.New("secret store unavailable")
)

// Tenant is one (org, domain) pair. Secrets belong to exactly one tenant.
type Tenant struct {
	Org    string
	Domain string
}

// String returns "org/domain".
func (t Tenant) String() string { return t.Org + "/" + t.Domain }

// Validate checks both ids against the id rule [a-z0-9_-]{1,64}.
func (t Tenant) Validate() error {
	if !ValidID(t.Org) {
		return fmt.Errorf("secret: invalid org id %q", t.Org)
	}
	if !ValidID(t.Domain) {
		return fmt.Errorf("secret: invalid domain id %q", t.Domain)
	}
	return nil
}

// Type is a secret's type.
type Type string

// The secret types of SPEC §1.
const (
	TypeToken            Type = "token"
	TypeUsernamePassword Type = "username_password"
	TypeJSON             Type = "json"
)

// Types lists every type, in the order the UI offers them.
var Types = []Type{TypeToken, TypeUsernamePassword, TypeJSON}

// Valid reports whether t is one of the known types.
func (t Type) Valid() bool {
	return t == TypeToken || t == TypeUsernamePassword || t == TypeJSON
}

// Value is a secret's write-only value. Only the fields of its type are set.
// Every printed form (fmt, %#v, JSON, zap) shows [redacted]; code that must
// store the value reads the fields explicitly.
type Value struct {
	Token    string
	Username string
	Password string
	// JSON is the compact JSON text of an object.
	JSON json.RawMessage
}

// String implements fmt.Stringer without revealing the value.
func (Value) String() string { return Redacted }

// GoString implements fmt.GoStringer without revealing the value.
func (Value) GoString() string { return Redacted }

// MarshalJSON encodes the value as "[redacted]" so that no response or log
// encoder can reveal it by accident.
func (Value) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalLogObject implements zapcore.ObjectMarshaler without the value.
func (Value) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("value", Redacted)
	return nil
}

// Secret is a resolved secret as the injector needs it.
type Secret struct {
	Type Type
	// Kind is a json secret's credential kind ("" for none), such as
	// "google_service_account"; package credential knows the kinds.
	Kind         string
	Value        Value
	AllowedHosts []string
	// Version is the store's version of the value; derived credentials
	// are cached per version.
	Version int
}

// FieldError is a validation failure of one input field. Its message never
// contains a value.
type FieldError struct {
	Field   string
	Message string
}

// ValidationError lists every field that failed validation.
type ValidationError struct {
	Fields []FieldError
}

// Error implements error.
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Add records one field failure.
func (e *ValidationError) Add(field, format string, args ...any) {
	e.Fields = append(e.Fields, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns e when it holds a failure, else nil.
func (e *ValidationError) Err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

const maxIDLen = 64

// ValidID reports whether s is a valid org, domain or (lower-cased) alias id:
// 1 to 64 of [a-z0-9_-].
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// NormalizeAlias lower-cases an alias and checks it against the alias rule.
func NormalizeAlias(alias string) (string, error) {
	a := strings.ToLower(alias)
	if !ValidID(a) {
		return "", fmt.Errorf("alias must be 1-64 characters of a-z, 0-9, _ and -")
	}
	return a, nil
}

// ValidateValue checks v against the rules of type t and returns the value
// normalised (JSON compacted). Field names are those of the admin API's
// "value" object ("value.token", "value.password", "value.json").
func ValidateValue(t Type, v Value) (Value, error) {
	verr := &ValidationError{}
	switch t {
	case TypeToken:
		if v.Token == "" {
			verr.Add("value.token", "must be a non-empty string")
		}
		if v.Username != "" || v.Password != "" || len(v.JSON) > 0 {
			verr.Add("value", "a token secret takes only value.token")
		}
		return Value{Token: v.Token}, verr.Err()
	case TypeUsernamePassword:
		if v.Password == "" {
			verr.Add("value.password", "must be a non-empty string")
		}
		if v.Token != "" || len(v.JSON) > 0 {
			verr.Add("value", "a username_password secret takes only value.username and value.password")
		}
		return Value{Username: v.Username, Password: v.Password}, verr.Err()
	case TypeJSON:
		if v.Token != "" || v.Username != "" || v.Password != "" {
			verr.Add("value", "a json secret takes only value.json")
		}
		compact, err := CompactObject(v.JSON)
		if err != nil {
			verr.Add("value.json", "%s", err.Error())
		}
		return Value{JSON: compact}, verr.Err()
	default:
		verr.Add("type", "must be one of token, username_password, json")
		return Value{}, verr
	}
}

// CompactObject checks that raw is a JSON object and returns its compact
// text. Errors give the line and column and never quote the input.
func CompactObject(raw []byte) (json.RawMessage, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return nil, errors.New("must be a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, trimmed); err != nil {
		// Compact reports no offset; Unmarshal's validity check does.
		var se *json.SyntaxError
		if errors.As(json.Unmarshal(trimmed, new(json.RawMessage)), &se) {
			line, col := LineCol(trimmed, se.Offset)
			return nil, fmt.Errorf("invalid JSON at line %d, column %d", line, col)
		}
		return nil, errors.New("invalid JSON")
	}
	if trimmed[0] != '{' {
		return nil, errors.New("must be a JSON object, not an array or scalar")
	}
	return buf.Bytes(), nil
}

// ObjectKeys returns the top-level keys of a JSON object, in document order.
func ObjectKeys(obj json.RawMessage) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("secret: read object: %w", err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("secret: read key: %w", err)
		}
		key, _ := tok.(string)
		keys = append(keys, key)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, fmt.Errorf("secret: read member: %w", err)
		}
	}
	return keys, nil
}

// LineCol converts a byte offset (as json.SyntaxError reports it, one past
// the offending byte) into a 1-based line and column.
func LineCol(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	line, col = 1, 0
	for _, c := range data[:offset] {
		if c == '\n' {
			line++
			col = 0
			continue
		}
		col++
	}
	if col == 0 {
		col = 1
	}
	return line, col
}
