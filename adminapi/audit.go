package adminapi

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/sidekey/sidekey/internal/secret"
)

// maxAuditField bounds what an audit line copies from the request path.
const maxAuditField = 128

// auditRecord is what one audit line says. It has no field for a value.
type auditRecord struct {
	action string
	tenant secret.Tenant
	alias  string
	typ    secret.Type
	claims *Claims
}

// writeAudit logs one line to the "audit" logger: who did what to which
// secret, and how it ended ("success" or the error code).
func (s *Server) writeAudit(r *http.Request, rw *responseWriter, rec *auditRecord) {
	outcome := "success"
	if rw.code != "" {
		outcome = string(rw.code)
	}
	var actor, role string
	if rec.claims != nil {
		actor, role = rec.claims.Subject, rec.claims.Role
	}
	s.metrics.audit.WithLabelValues(rec.action, outcome).Inc()
	s.audit.Info("audit",
		zap.String("actor", clip(actor)),
		zap.String("role", clip(role)),
		zap.String("action", rec.action),
		zap.String("org", clip(rec.tenant.Org)),
		zap.String("domain", clip(rec.tenant.Domain)),
		zap.String("alias", clip(rec.alias)),
		zap.String("type", clip(string(rec.typ))),
		zap.String("outcome", outcome),
		zap.Int("status", rw.status),
		zap.String("request_id", requestID(r.Context())),
		zap.String("remote_addr", r.RemoteAddr),
	)
}

func clip(s string) string {
	if len(s) > maxAuditField {
		return s[:maxAuditField]
	}
	return s
}
