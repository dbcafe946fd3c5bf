package credential

import (
	"context"
	"encoding/json"
	"net/http"

	gjwt "github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2/jwt"

	"github.com/sidekey/sidekey/internal/secret"
)

// googleTokenURL is the token endpoint of a key file without token_uri.
const googleTokenURL = "https://oauth2.googleapis.com/token" //nolint:gosec // G101: an endpoint URL, not a credential

func validateGoogle(f fields, verr *secret.ValidationError) {
	if t := f.required(verr, "type"); t != "" && t != "service_account" {
		verr.Add(fieldPrefix+"type", "must be \"service_account\"")
	}
	f.required(verr, "client_email")
	f.str(verr, "private_key_id")
	if pemKey := f.required(verr, "private_key"); pemKey != "" {
		if _, err := gjwt.ParseRSAPrivateKeyFromPEM([]byte(pemKey)); err != nil {
			verr.Add(fieldPrefix+"private_key", "must be a PEM RSA private key (PKCS#8 or PKCS#1)")
		}
	}
	if u, ok := f.str(verr, "token_uri"); ok {
		checkTokenURL(verr, "token_uri", u)
	}
}

// serviceAccountKey is the part of Google's JSON key file the grant uses.
type serviceAccountKey struct {
	ClientEmail  string `json:"client_email"`
	PrivateKey   string `json:"private_key"`
	PrivateKeyID string `json:"private_key_id"`
	TokenURI     string `json:"token_uri"`
}

// googleSource mints an access token with the JWT-bearer grant (RFC 7523)
// from a service account key, through x/oauth2's jwt package (the same grant
// google.JWTConfigFromJSON configures).
func googleSource(obj json.RawMessage, args []string) (*source, error) {
	key, err := decode[serviceAccountKey](KindGoogleServiceAccount, obj)
	if err != nil {
		return nil, err
	}
	scopes := splitScopes(args)
	if len(scopes) == 0 {
		return nil, argsErr("%s needs at least one scope argument", FilterGoogleAccessToken)
	}
	conf := &jwt.Config{
		Email:        key.ClientEmail,
		PrivateKey:   []byte(key.PrivateKey),
		PrivateKeyID: key.PrivateKeyID,
		Scopes:       scopes,
		TokenURL:     key.TokenURI,
	}
	return &source{
		kind:     KindGoogleServiceAccount,
		endpoint: conf.TokenURL,
		exchange: func(ctx context.Context, hc *http.Client) (tokenResult, error) {
			tok, err := conf.TokenSource(withClient(ctx, hc)).Token()
			return fromOAuth2(tok, err)
		},
	}, nil
}
