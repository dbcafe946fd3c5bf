package credential

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/sidekey/sidekey/internal/secret"
)

func validateOAuth2Client(f fields, verr *secret.ValidationError) {
	f.required(verr, "client_id")
	f.required(verr, "client_secret")
	checkTokenURL(verr, "token_url", f.required(verr, "token_url"))
	f.strings(verr, "scopes")
	f.str(verr, "audience")
	if s, ok := f.str(verr, "auth_style"); ok && s != "header" && s != "body" {
		verr.Add(fieldPrefix+"auth_style", "must be \"header\" or \"body\"")
	}
}

type oauth2Client struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	TokenURL     string `json:"token_url"`
	Audience     string `json:"audience"`
	AuthStyle    string `json:"auth_style"`
}

// oauth2Source mints an access token with the client-credentials grant
// (RFC 6749 §4.4) through x/oauth2's clientcredentials package. Arguments,
// when given, replace the secret's scopes.
func oauth2Source(obj json.RawMessage, args []string) (*source, error) {
	c, err := decode[oauth2Client](KindOAuth2Client, obj)
	if err != nil {
		return nil, err
	}
	f, _ := parseFields(obj)
	scopes := f.strings(&secret.ValidationError{}, "scopes")
	if len(args) > 0 {
		scopes = splitScopes(args)
	}
	conf := &clientcredentials.Config{
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret,
		TokenURL:     c.TokenURL,
		Scopes:       scopes,
		AuthStyle:    oauth2.AuthStyleInHeader,
	}
	if c.AuthStyle == "body" {
		conf.AuthStyle = oauth2.AuthStyleInParams
	}
	if c.Audience != "" {
		conf.EndpointParams = url.Values{"audience": {c.Audience}}
	}
	return &source{
		kind:     KindOAuth2Client,
		endpoint: c.TokenURL,
		exchange: func(ctx context.Context, hc *http.Client) (tokenResult, error) {
			tok, err := conf.Token(withClient(ctx, hc))
			return fromOAuth2(tok, err)
		},
	}, nil
}
