package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/sidekey/sidekey/internal/secret"

	"github.com/sidekey/sidekey/internal/errcode"
)

// apiError is an error answered to the client. Message and Fields never
// hold a secret value.
type apiError struct {
	Code    errcode.Code        `json:"code"`
	Message string              `json:"message"`
	Fields  []secret.FieldError `json:"-"`
	// cause is logged, never sent.
	cause error
}

func (e *apiError) Error() string { return string(e.Code) + ": " + e.Message }

func (e *apiError) Unwrap() error { return e.cause }

func newError(code errcode.Code, msg string) *apiError { return &apiError{Code: code, Message: msg} }

func invalid(fields ...secret.FieldError) *apiError {
	return &apiError{Code: errcode.InvalidRequest, Message: "the request is invalid", Fields: fields}
}

func invalidField(field, msg string) *apiError {
	return invalid(secret.FieldError{Field: field, Message: msg})
}

// errorBody is the wire form {"error":{"code","message","fields"?}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    errcode.Code `json:"code"`
	Message string       `json:"message"`
	Fields  []fieldError `json:"fields,omitempty"`
}

type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// toAPIError maps any error of a handler or the store to the error answered.
// It is the one place where store errors meet HTTP statuses.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var verr *secret.ValidationError
	if errors.As(err, &verr) {
		e := invalid(verr.Fields...)
		e.cause = err
		return e
	}
	wrap := func(code errcode.Code, msg string) *apiError { return &apiError{Code: code, Message: msg, cause: err} }
	switch {
	case errors.Is(err, secret.ErrNotFound):
		return wrap(errcode.NotFound, "no active secret has this alias")
	case errors.Is(err, secret.ErrAliasTaken):
		return wrap(errcode.AliasTaken, "an active secret of this domain already has this alias")
	case errors.Is(err, secret.ErrTypeLocked):
		return wrap(errcode.TypeLocked, "the alias and type of a secret cannot be changed; archive it and create a new one")
	case errors.Is(err, secret.ErrConflict):
		return wrap(errcode.Conflict, "the secret was changed concurrently; retry")
	case errors.Is(err, secret.ErrUnavailable),
		errors.Is(err, secret.ErrPermission),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, context.Canceled):
		return wrap(errcode.StoreUnavailable, "the secret store is unavailable; retry later")
	default:
		return wrap(errcode.Internal, "internal error")
	}
}

// writeError answers err as {"error":{…}} with its status. It is the only
// writer of error responses of the API.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := toAPIError(err)
	status := ae.Code.Status()
	if rw, ok := w.(*responseWriter); ok {
		rw.code = ae.Code
	}
	if status >= 500 {
		s.log.Error("request failed", zap.String("request_id", requestID(r.Context())),
			zap.String("code", string(ae.Code)), zap.Error(ae.cause))
	}
	body := errorBody{Error: errorDetail{Code: ae.Code, Message: ae.Message}}
	for _, f := range ae.Fields {
		body.Error.Fields = append(body.Error.Fields, fieldError(f))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sidekey", error="invalid_token"`)
	}
	s.writeJSON(w, status, body)
}

// writeJSON answers v as JSON with status.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.log.Error("encode response", zap.Error(err))
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal_error","message":"internal error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
