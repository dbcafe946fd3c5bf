package credential

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sidekey/sidekey/internal/secret"
)

// APNsTokenLifetime is how long one provider token is reused. APNs refuses
// tokens older than an hour and throttles refreshes more frequent than
// every 20 minutes.
const APNsTokenLifetime = 50 * time.Minute

func validateAPNs(f fields, verr *secret.ValidationError) {
	f.required(verr, "team_id")
	f.required(verr, "key_id")
	if pemKey := f.required(verr, "private_key"); pemKey != "" {
		if _, err := jwt.ParseECPrivateKeyFromPEM([]byte(pemKey)); err != nil {
			verr.Add(fieldPrefix+"private_key", "must be a PEM EC private key (the .p8 PKCS#8 file)")
		}
	}
}

type apnsKey struct {
	TeamID     string `json:"team_id"`
	KeyID      string `json:"key_id"`
	PrivateKey string `json:"private_key"`
}

// apnsSource signs an ES256 provider token (kid = key id, iss = team id,
// iat = now) with golang-jwt. It does no I/O.
func apnsSource(obj json.RawMessage, args []string, now func() time.Time) (*source, error) {
	if len(args) > 0 {
		return nil, argsErr("%s takes no arguments", FilterAPNsJWT)
	}
	k, err := decode[apnsKey](KindAPNsKey, obj)
	if err != nil {
		return nil, err
	}
	key, err := jwt.ParseECPrivateKeyFromPEM([]byte(k.PrivateKey))
	if err != nil {
		return nil, invalid("value.json.private_key: must be a PEM EC private key")
	}
	return &source{
		kind: KindAPNsKey,
		exchange: func(context.Context, *http.Client) (tokenResult, error) {
			iat := now()
			tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
				"iss": k.TeamID,
				"iat": iat.Unix(),
			})
			tok.Header["kid"] = k.KeyID
			signed, err := tok.SignedString(key)
			if err != nil {
				return tokenResult{}, signingErr("apns_jwt: sign: %s", "ES256 signing failed")
			}
			return tokenResult{value: signed, lifetime: APNsTokenLifetime, local: true}, nil
		},
	}, nil
}
