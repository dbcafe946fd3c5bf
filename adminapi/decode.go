package adminapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/sidekey/sidekey/internal/secret"

	"github.com/sidekey/sidekey/internal/errcode"
)

// maxAllowedHosts bounds the allowed_hosts list of one secret.
const maxAllowedHosts = 100

// valueIn is the "value" object of a request. It holds a secret: it is
// never logged, and its printed forms are redacted.
type valueIn struct {
	Token    *string         `json:"token"`
	Username *string         `json:"username"`
	Password *string         `json:"password"`
	JSON     json.RawMessage `json:"json"`
}

func (valueIn) String() string   { return secret.Redacted }
func (valueIn) GoString() string { return secret.Redacted }

// secretIn is the body of POST …/secrets (create) and of
// PUT …/secrets/{alias} (rotate). On rotate, alias and type may be
// repeated; a differing one is type_locked.
type secretIn struct {
	Alias        *string   `json:"alias"`
	Type         *string   `json:"type"`
	Kind         *string   `json:"kind"`
	Value        *valueIn  `json:"value"`
	AllowedHosts *[]string `json:"allowed_hosts"`
}

// decodeBody reads one JSON object from r's body into dst: bounded in
// size, unknown fields and trailing data refused. Its errors name the field
// and position, never a value.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
			return newError(errcode.UnsupportedMediaType, "the body must be application/json")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxValueBytes+bodyOverhead))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &apiError{Code: errcode.PayloadTooLarge, Message: fmt.Sprintf("the body exceeds %d bytes", mbe.Limit)}
		}
		return &apiError{Code: errcode.InvalidRequest, Message: "cannot read the body", cause: err}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return invalidField("body", "must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(body, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalidField("body", "unexpected data after the JSON object")
	}
	return nil
}

// decodeError turns an encoding/json error into a field error. Messages of
// encoding/json may quote input, so none is passed on.
func decodeError(body []byte, err error) error {
	var (
		se *json.SyntaxError
		te *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &se):
		line, col := secret.LineCol(body, se.Offset)
		return invalidField("body", fmt.Sprintf("invalid JSON at line %d, column %d", line, col))
	case errors.Is(err, io.ErrUnexpectedEOF):
		line, col := secret.LineCol(body, int64(len(body)))
		return invalidField("body", fmt.Sprintf("invalid JSON: unexpected end at line %d, column %d", line, col))
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return invalidField(field, "must be "+jsonKind(te.Type.Kind().String()))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if unq, uerr := strconv.Unquote(name); uerr == nil {
			name = unq
		}
		return invalidField(clip(name), "unknown field")
	}
	return invalidField("body", "invalid JSON")
}

// jsonKind names the JSON type expected for a Go kind.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "struct", "map", "ptr":
		return "an object"
	default:
		return "of another JSON type"
	}
}

// toValue converts the request's value object to a secret.Value. value.json
// may be the object itself or a string holding its JSON text (as a JSON
// editor sends it); either way it is checked later by secret.ValidateValue.
func (v *valueIn) toValue() (secret.Value, error) {
	var out secret.Value
	if v.Token != nil {
		out.Token = *v.Token
	}
	if v.Username != nil {
		out.Username = *v.Username
	}
	if v.Password != nil {
		out.Password = *v.Password
	}
	raw := bytes.TrimSpace(v.JSON)
	switch {
	case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
	case raw[0] == '"':
		var text string
		if err := json.Unmarshal(raw, &text); err != nil {
			return secret.Value{}, invalidField("value.json", "must be a JSON object or a string holding one")
		}
		out.JSON = json.RawMessage(text)
		if len(bytes.TrimSpace(out.JSON)) == 0 {
			// An empty text must still count as a json member being set.
			out.JSON = json.RawMessage(" ")
		}
	default:
		out.JSON = raw
	}
	return out, nil
}

// valueSize is the size counted against MaxValueBytes.
func valueSize(v secret.Value) int64 {
	return int64(len(v.Token) + len(v.Username) + len(v.Password) + len(v.JSON))
}
