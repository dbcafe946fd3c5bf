package adminapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sidekey/sidekey/internal/secret"

	"github.com/sidekey/sidekey/internal/credential"
	"github.com/sidekey/sidekey/internal/errcode"
)

// request is what a tenant handler gets: the authorised caller, the
// tenant, and the audit record it completes.
type request struct {
	tenant secret.Tenant
	claims *Claims
	rec    *auditRecord
}

// tenantFunc handles one tenant endpoint. It returns the status and body
// of a success (body nil for none), or an error for writeError.
type tenantFunc func(w http.ResponseWriter, r *http.Request, req *request) (int, any, error)

// tenantHandler authenticates and authorises the caller for the path's
// (org, domain), runs h, answers, and writes the audit line of a mutation
// (whatever its outcome) or of any refused authentication or
// authorisation.
func (s *Server) tenantHandler(action string, mutation bool, h tenantFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := &request{
			tenant: secret.Tenant{Org: r.PathValue("org"), Domain: r.PathValue("domain")},
		}
		req.rec = &auditRecord{action: action, tenant: req.tenant}
		// An invalid alias is not copied into the audit line: it might be
		// a value pasted into the wrong field.
		if a, err := secret.NormalizeAlias(r.PathValue("alias")); err == nil {
			req.rec.alias = a
		}
		rw, ok := w.(*responseWriter)
		if !ok {
			rw = &responseWriter{ResponseWriter: w}
		}

		status, body, err := s.authorize(r, req)
		if err == nil {
			status, body, err = h(rw, r, req)
		}
		switch {
		case err != nil:
			s.writeError(rw, r, err)
		case body == nil:
			rw.WriteHeader(status)
		default:
			s.writeJSON(rw, status, body)
		}
		if mutation || rw.code == errcode.Unauthenticated || rw.code == errcode.Forbidden {
			s.writeAudit(r, rw, req.rec)
		}
	})
}

// authorize authenticates the caller, checks its role for the tenant, and
// then the tenant ids. It returns an error or zeros.
func (s *Server) authorize(r *http.Request, req *request) (int, any, error) {
	claims, err := s.verifier.authenticate(r)
	if err != nil {
		return 0, nil, err
	}
	req.claims, req.rec.claims = claims, claims
	if !claims.Allows(req.tenant) {
		return 0, nil, newError(errcode.Forbidden, "the token does not grant this org and domain")
	}
	var fields []secret.FieldError
	if !secret.ValidID(req.tenant.Org) {
		fields = append(fields, secret.FieldError{Field: "org", Message: "must be 1-64 characters of a-z, 0-9, _ and -"})
	}
	if !secret.ValidID(req.tenant.Domain) {
		fields = append(fields, secret.FieldError{Field: "domain", Message: "must be 1-64 characters of a-z, 0-9, _ and -"})
	}
	if len(fields) > 0 {
		return 0, nil, invalid(fields...)
	}
	return 0, nil, nil
}

// pathAlias returns the path's alias, lower-cased and checked.
func pathAlias(r *http.Request) (string, error) {
	alias, err := secret.NormalizeAlias(r.PathValue("alias"))
	if err != nil {
		return "", invalidField("alias", err.Error())
	}
	return alias, nil
}

// secretOut is the metadata of a secret as the API answers it.
type secretOut struct {
	Alias        string      `json:"alias"`
	Type         secret.Type `json:"type"`
	Kind         string      `json:"kind,omitempty"`
	AllowedHosts []string    `json:"allowed_hosts"`
	CreatedAt    string      `json:"created_at"`
	UpdatedAt    string      `json:"updated_at"`
	Version      int         `json:"version"`
}

func toOut(m secret.Metadata) secretOut {
	hosts := m.AllowedHosts
	if hosts == nil {
		hosts = []string{}
	}
	return secretOut{
		Alias:        m.Alias,
		Type:         m.Type,
		Kind:         m.Kind,
		AllowedHosts: hosts,
		CreatedAt:    rfc3339(m.CreatedAt),
		UpdatedAt:    rfc3339(m.UpdatedAt),
		Version:      m.Version,
	}
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// listOut is the body of GET …/secrets.
type listOut struct {
	Secrets []secretOut `json:"secrets"`
}

func (s *Server) list(_ http.ResponseWriter, r *http.Request, req *request) (int, any, error) {
	metas, err := s.store.List(r.Context(), req.tenant)
	if err != nil {
		return 0, nil, err
	}
	out := listOut{Secrets: make([]secretOut, 0, len(metas))}
	for _, m := range sortedByAlias(metas) {
		out.Secrets = append(out.Secrets, toOut(m))
	}
	return http.StatusOK, out, nil
}

// sortedByAlias returns a copy of metas sorted by alias.
func sortedByAlias(metas []secret.Metadata) []secret.Metadata {
	out := slices.Clone(metas)
	slices.SortFunc(out, func(a, b secret.Metadata) int { return strings.Compare(a.Alias, b.Alias) })
	return out
}

func (s *Server) get(_ http.ResponseWriter, r *http.Request, req *request) (int, any, error) {
	alias, err := pathAlias(r)
	if err != nil {
		return 0, nil, err
	}
	m, err := s.store.Get(r.Context(), req.tenant, alias)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toOut(m), nil
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, req *request) (int, any, error) {
	var in secretIn
	if err := s.decodeBody(w, r, &in); err != nil {
		return 0, nil, err
	}
	draft, err := s.createDraft(&in, req)
	if err != nil {
		return 0, nil, err
	}
	m, err := s.store.Create(writeContext(r), req.tenant, draft)
	if err != nil {
		return 0, nil, err
	}
	w.Header().Set("Location", r.URL.Path+"/"+m.Alias)
	return http.StatusCreated, toOut(m), nil
}

// createDraft checks the request's shape and the API's limits (required
// fields, value size, host count) and leaves the secret's rules to
// secret.CreateInput.Validate, their one owner.
func (s *Server) createDraft(in *secretIn, req *request) (secret.Draft, error) {
	verr := &secret.ValidationError{}
	ci := secret.CreateInput{Actor: req.claims.Subject}
	if in.Alias == nil {
		verr.Add("alias", "is required")
	} else {
		ci.Alias = *in.Alias
	}
	if in.Type == nil {
		verr.Add("type", "is required")
	} else if ci.Type = secret.Type(*in.Type); ci.Type.Valid() {
		req.rec.typ = ci.Type
	}
	if in.Value == nil {
		verr.Add("value", "is required")
	} else {
		v, err := s.boundValue(in.Value)
		if ae := toAPIError(err); err != nil && ae.Code != errcode.InvalidRequest {
			return secret.Draft{}, err
		} else if err != nil {
			verr.Fields = append(verr.Fields, ae.Fields...)
		}
		ci.Value = v
	}
	if in.Kind != nil {
		ci.Kind = *in.Kind
		checkKind(verr, ci.Type, ci.Kind, ci.Value)
	}
	if in.AllowedHosts != nil {
		if len(*in.AllowedHosts) > maxAllowedHosts {
			verr.Add("allowed_hosts", "must have at most %d entries", maxAllowedHosts)
		}
		ci.AllowedHosts = *in.AllowedHosts
	}
	if err := verr.Err(); err != nil {
		return secret.Draft{}, err
	}
	d, err := ci.Validate()
	if err != nil {
		return secret.Draft{}, err
	}
	req.rec.alias = d.Alias()
	return d, nil
}

func (s *Server) rotate(w http.ResponseWriter, r *http.Request, req *request) (int, any, error) {
	alias, err := pathAlias(r)
	if err != nil {
		return 0, nil, err
	}
	var in secretIn
	if err := s.decodeBody(w, r, &in); err != nil {
		return 0, nil, err
	}
	verr := &secret.ValidationError{}
	if in.Alias != nil {
		a, err := secret.NormalizeAlias(*in.Alias)
		switch {
		case err != nil:
			verr.Add("alias", "%s", err.Error())
		case a != alias:
			return 0, nil, newError(errcode.TypeLocked, "the alias of a secret cannot be changed; archive it and create a new one")
		}
	}
	if in.Type != nil && !secret.Type(*in.Type).Valid() {
		verr.Add("type", "must be one of token, username_password, json")
	}
	if in.Value == nil {
		verr.Add("value", "is required")
	}
	var hosts *[]string
	if in.AllowedHosts != nil {
		h, err := checkHosts(*in.AllowedHosts)
		if err != nil {
			verr.Fields = append(verr.Fields, toAPIError(err).Fields...)
		}
		hosts = &h
	}
	if err := verr.Err(); err != nil {
		return 0, nil, err
	}
	// The store reads the secret once, checks the value against the stored
	// type and the type lock under check-and-set, and returns the secret as
	// it was, for the audit line.
	value, err := s.boundValue(in.Value)
	if err != nil {
		return 0, nil, err
	}
	var typ secret.Type
	if in.Type != nil {
		typ = secret.Type(*in.Type)
	}
	var kind string
	if in.Kind != nil {
		kind = *in.Kind
	}
	res, err := s.store.Rotate(writeContext(r), req.tenant, alias, secret.RotateInput{
		Type: typ, Kind: kind, Value: value, AllowedHosts: hosts, Actor: req.claims.Subject,
		CheckValue: checkKindValue,
	})
	req.rec.typ = res.Prior.Type
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, toOut(res.Current), nil
}

// checkKind validates a json secret's credential kind and its value's
// fields (internal/credential), adding field-named failures to verr. The
// value's own JSON errors are ValidateValue's to report.
func checkKind(verr *secret.ValidationError, t secret.Type, kind string, v secret.Value) {
	if kind == "" {
		return
	}
	if t != secret.TypeJSON {
		verr.Add("kind", "applies only to json secrets")
		return
	}
	if !credential.Kind(kind).Valid() {
		verr.Add("kind", "must be one of %s", credential.KindList())
		return
	}
	if _, err := secret.CompactObject(v.JSON); err != nil {
		return
	}
	var ve *secret.ValidationError
	if err := credential.Validate(credential.Kind(kind), v.JSON); errors.As(err, &ve) {
		verr.Fields = append(verr.Fields, ve.Fields...)
	}
}

// checkKindValue is a rotation's check of the new value against the
// stored kind (the kind is locked like the type).
func checkKindValue(kind string, v secret.Value) error {
	if kind == "" {
		return nil
	}
	return credential.Validate(credential.Kind(kind), v.JSON)
}

func (s *Server) archive(_ http.ResponseWriter, r *http.Request, req *request) (int, any, error) {
	alias, err := pathAlias(r)
	if err != nil {
		return 0, nil, err
	}
	prior, err := s.store.Archive(writeContext(r), req.tenant, alias, req.claims.Subject)
	req.rec.typ = prior.Type
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// writeContext is the context of a store write: a client that hangs up
// does not cancel a write half-way, so the audit line tells what happened.
// The store bounds the write with its own timeout (vaultstore.Config.Timeout).
func writeContext(r *http.Request) context.Context {
	return context.WithoutCancel(r.Context())
}

// checkValue validates a request's value for type t and bounds its size.
func (s *Server) checkValue(t secret.Type, in *valueIn) (secret.Value, error) {
	v, err := s.boundValue(in)
	if err != nil {
		return secret.Value{}, err
	}
	return secret.ValidateValue(t, v)
}

// boundValue converts a request's value and bounds its size; the type
// check is checkValue's (create) or the store's (rotate, which alone knows
// the stored type).
func (s *Server) boundValue(in *valueIn) (secret.Value, error) {
	v, err := in.toValue()
	if err != nil {
		return secret.Value{}, err
	}
	if n := valueSize(v); n > s.maxValueBytes {
		return secret.Value{}, &apiError{
			Code:    errcode.PayloadTooLarge,
			Message: "the value is too large",
			Fields: []secret.FieldError{{Field: "value",
				Message: "must be at most " + itoa(s.maxValueBytes) + " bytes"}},
		}
	}
	return v, nil
}

// checkHosts normalises an allowed_hosts list.
func checkHosts(globs []string) ([]string, error) {
	if len(globs) > maxAllowedHosts {
		return nil, invalidField("allowed_hosts", "must have at most "+itoa(maxAllowedHosts)+" entries")
	}
	return secret.NormalizeHostGlobs("allowed_hosts", globs)
}
