package ui_test

import (
	"context"
	"crypto/rand"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"

	"github.com/sidekey/sidekey/adminapi"
	"github.com/sidekey/sidekey/adminapi/ui"
	"github.com/sidekey/sidekey/internal/secret"
	"github.com/sidekey/sidekey/internal/vaulttest"
	"github.com/sidekey/sidekey/vaultstore"
)

// backend is a real `sidekey admin`: the admin API with the UI, backed by a
// vaultstore on the real dev Vault with a token of the admin policy.
type backend struct {
	// URL is the server's base URL, http://127.0.0.1:PORT.
	URL string

	key    []byte
	reader *vaultstore.Reader // a sidecar-policy reader, to check what Vault holds
}

func startBackend(t *testing.T) *backend {
	t.Helper()
	return startBackendAuth(t, nil)
}

// startBackendAuth is startBackend with the given authentication (nil: an
// HS256 key of its own, for Token). The UI's CSP lets it call the
// provider's token endpoint.
func startBackendAuth(t *testing.T, auth *adminapi.AuthConfig) *backend {
	t.Helper()
	v := vaulttest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	// Warnings and errors go to stderr, which go test shows when the test
	// fails (a t.Log logger would panic when the store's background loop
	// logs after the test). Neither the API nor the store logs values.
	logCfg := zap.NewDevelopmentConfig()
	logCfg.Level = zap.NewAtomicLevelAt(zap.WarnLevel)
	log, err := logCfg.Build()
	if err != nil {
		t.Fatal(err)
	}
	vcfg := func(token string) vaultstore.Config {
		return vaultstore.Config{Address: v.Addr, Auth: vaultstore.AuthConfig{Token: token}, Logger: log}
	}
	store, err := vaultstore.NewWriter(ctx, vcfg(v.AdminToken(t)))
	if err != nil {
		t.Fatalf("vaultstore: %v", err)
	}
	go func() { _ = store.Run(ctx) }()
	reader, err := vaultstore.NewReader(ctx, vcfg(v.SidecarToken(t)))
	if err != nil {
		t.Fatalf("vaultstore: %v", err)
	}
	go func() { _ = reader.Run(ctx) }()
	key := make([]byte, adminapi.MinHS256KeyBytes)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	ac := adminapi.AuthConfig{HS256Key: key}
	if auth != nil {
		ac = *auth
	}
	var srv *adminapi.Server
	srv, err = adminapi.New(adminapi.Config{
		Store:  store,
		Auth:   ac,
		Logger: log,
		UI:     ui.New(ui.Config{ConnectSources: func() []string { return srv.AuthOrigins() }}),
	})
	if err != nil {
		t.Fatalf("adminapi: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &backend{URL: ts.URL, key: key, reader: reader}
}

// Token mints an admin token as `sidekey token admin` does.
func (e *backend) Token(t *testing.T, role, org string, domains ...string) string {
	t.Helper()
	claims := adminapi.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   role + "@" + org + ".test",
			ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
		},
		Role:    role,
		Org:     org,
		Domains: domains,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(e.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *backend) read(t *testing.T, org, domain, alias string) secret.Secret {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := e.reader.Read(ctx, secret.Tenant{Org: org, Domain: domain}, alias)
	if err != nil {
		t.Fatalf("read %s from Vault: %v", alias, err)
	}
	return s
}

// StoredJSON is the JSON text Vault holds for a json secret.
func (e *backend) StoredJSON(t *testing.T, org, domain, alias string) string {
	t.Helper()
	return string(e.read(t, org, domain, alias).Value.JSON)
}

// StoredToken is the token Vault holds for a token secret.
func (e *backend) StoredToken(t *testing.T, org, domain, alias string) string {
	t.Helper()
	return e.read(t, org, domain, alias).Value.Token
}
