package credential_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/sidekey/sidekey/internal/credential"
	"github.com/sidekey/sidekey/internal/credential/credtest"
)

func TestOAuth2ClientCredentials(t *testing.T) {
	const clientSecret = "Distinctive-Client-Secret-0077"
	srv := credtest.NewOAuth2Server("graph-client", clientSecret, 3600)
	defer srv.Close()
	m := newMinter(t, credential.Config{HTTPClient: srv.Client()})
	obj := func(style, secret string) json.RawMessage {
		b, _ := json.Marshal(map[string]any{"client_id": "graph-client", "client_secret": secret, "token_url": srv.URL + "/token",
			"scopes": []string{"https://graph.microsoft.com/.default"}, "audience": "api://graph", "auth_style": style})
		return b
	}
	cases := []struct {
		name, style string
		args        []string
		scope       string
	}{
		{"header, secret's scopes", "header", nil, "https://graph.microsoft.com/.default"},
		{"body, scope argument", "body", []string{"mail.send user.read"}, "mail.send user.read"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := mustToken(t, m, credential.TokenRequest{Tenant: tenant, Alias: "graph", Version: i + 1, Kind: credential.KindOAuth2Client,
				Object: obj(tc.style, clientSecret), Filter: credential.FilterOAuth2Token, Args: tc.args})
			if tok == "" {
				t.Fatal("no token")
			}
			scope, aud, style := srv.Last()
			if scope != tc.scope || aud != "api://graph" || style != tc.style {
				t.Fatalf("endpoint saw scope %q audience %q style %q", scope, aud, style)
			}
		})
	}
	_, err := m.Token(context.Background(), credential.TokenRequest{Tenant: tenant, Alias: "graph", Version: 9, Kind: credential.KindOAuth2Client,
		Object: obj("header", "wrong-secret"), Filter: credential.FilterOAuth2Token})
	var xe *credential.ExchangeError
	if !errors.As(err, &xe) || xe.Status != 401 {
		t.Fatalf("wrong client secret: %v, want status 401", err)
	}
	assertNoLeak(t, err.Error(), "wrong-secret", clientSecret, "endpoint body")
}
