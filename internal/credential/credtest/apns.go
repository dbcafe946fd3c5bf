package credtest

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// APNsMaxAge is the age past which APNs refuses a provider token.
const APNsMaxAge = time.Hour

// VerifyAPNs checks an APNs provider token the way APNs does: an
// "authorization: bearer" value holding an ES256 JWS (verified with
// go-jose against pub), kid = keyID, iss = teamID, iat no older than an
// hour at now and not in the future.
func VerifyAPNs(authorization string, pub *ecdsa.PublicKey, teamID, keyID string, now time.Time) error {
	raw, ok := strings.CutPrefix(authorization, "bearer ")
	if !ok {
		return errors.New("apns: authorization is not a bearer token")
	}
	tok, err := josejwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return fmt.Errorf("apns: parse: %w", err)
	}
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID != keyID {
		return errors.New("apns: kid mismatch")
	}
	var c josejwt.Claims
	if err := tok.Claims(pub, &c); err != nil {
		return fmt.Errorf("apns: signature: %w", err)
	}
	if c.Issuer != teamID {
		return errors.New("apns: iss mismatch")
	}
	if c.IssuedAt == nil {
		return errors.New("apns: no iat")
	}
	iat := c.IssuedAt.Time()
	if now.Sub(iat) > APNsMaxAge {
		return errors.New("apns: ExpiredProviderToken")
	}
	if iat.After(now.Add(time.Minute)) {
		return errors.New("apns: iat in the future")
	}
	return nil
}
