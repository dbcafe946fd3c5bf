package credential_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sidekey/sidekey/internal/credential"
	"github.com/sidekey/sidekey/internal/credential/credtest"
	"github.com/sidekey/sidekey/internal/secret"
)

func TestValidate(t *testing.T) {
	const distinctive = "Distinctive-Secret-Value-42"
	rsaKey := credtest.NewRSAKey(t, "k1")
	ecKey := credtest.NewECKey(t)
	sa := credtest.ServiceAccountJSON(t, saEmail, "https://oauth2.googleapis.com/token", rsaKey)
	with := func(base json.RawMessage, k string, v any) json.RawMessage {
		var m map[string]any
		_ = json.Unmarshal(base, &m)
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return b
	}
	oauth := json.RawMessage(`{"client_id":"id","client_secret":"` + distinctive + `","token_url":"https://login.example.com/token","scopes":["a","b"],"auth_style":"body"}`)
	apns := credtest.APNsKeyJSON(t, "TEAM", "KEY", ecKey)
	aws := json.RawMessage(`{"access_key_id":"AKIA","secret_access_key":"` + distinctive + `","region":"eu-west-1"}`)
	cases := []struct {
		name  string
		kind  credential.Kind
		obj   json.RawMessage
		field string // "" = valid
	}{
		{"google ok", credential.KindGoogleServiceAccount, sa, ""},
		{"google no email", credential.KindGoogleServiceAccount, with(sa, "client_email", nil), "value.json.client_email"},
		{"google bad key", credential.KindGoogleServiceAccount, with(sa, "private_key", distinctive), "value.json.private_key"},
		{"google ec key", credential.KindGoogleServiceAccount, with(sa, "private_key", ecKey.PEM), "value.json.private_key"},
		{"google http token_uri", credential.KindGoogleServiceAccount, with(sa, "token_uri", "http://x/token"), "value.json.token_uri"},
		{"google wrong type", credential.KindGoogleServiceAccount, with(sa, "type", "authorized_user"), "value.json.type"},
		{"oauth ok", credential.KindOAuth2Client, oauth, ""},
		{"oauth no secret", credential.KindOAuth2Client, with(oauth, "client_secret", nil), "value.json.client_secret"},
		{"oauth bad style", credential.KindOAuth2Client, with(oauth, "auth_style", distinctive), "value.json.auth_style"},
		{"oauth scopes number", credential.KindOAuth2Client, with(oauth, "scopes", 5), "value.json.scopes"},
		{"apns ok", credential.KindAPNsKey, apns, ""},
		{"apns rsa key", credential.KindAPNsKey, with(apns, "private_key", rsaKey.PEM), "value.json.private_key"},
		{"apns no team", credential.KindAPNsKey, with(apns, "team_id", nil), "value.json.team_id"},
		{"aws ok", credential.KindAWSCredentials, aws, ""},
		{"aws no secret", credential.KindAWSCredentials, with(aws, "secret_access_key", nil), "value.json.secret_access_key"},
		{"aws secret number", credential.KindAWSCredentials, with(aws, "secret_access_key", 42), "value.json.secret_access_key"},
		{"aws bad region", credential.KindAWSCredentials, with(aws, "region", distinctive), "value.json.region"},
		{"hmac ok", credential.KindHMACKey, hmacObject(distinctive, "raw"), ""},
		{"hmac bad hex", credential.KindHMACKey, hmacObject(distinctive, "hex"), "value.json.key"},
		{"hmac bad encoding", credential.KindHMACKey, hmacObject("k", distinctive), "value.json.encoding"},
		{"hmac no encoding", credential.KindHMACKey, json.RawMessage(`{"key":"` + distinctive + `"}`), "value.json.encoding"},
		{"unknown kind", credential.Kind("x509"), hmacObject("k", "raw"), "kind"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := credential.Validate(tc.kind, tc.obj)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var verr *secret.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("err = %v, want a ValidationError", err)
			}
			found := false
			for _, f := range verr.Fields {
				found = found || f.Field == tc.field
			}
			if !found {
				t.Fatalf("fields %+v, want %s", verr.Fields, tc.field)
			}
			if strings.Contains(err.Error(), distinctive) || strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Fatalf("error echoes a value: %v", err)
			}
		})
	}
}

func TestFormsAndTemplates(t *testing.T) {
	for _, k := range credential.Kinds {
		if len(credential.Template(k)) == 0 || len(credential.Forms(k, "a")) == 0 {
			t.Errorf("%s: no template or forms", k)
		}
	}
	if got := credential.Forms(credential.KindAWSCredentials, "ses")[0]; got != "Sidekey-Sign: aws-sigv4 secrets.ses" {
		t.Errorf("aws form %q", got)
	}
}
