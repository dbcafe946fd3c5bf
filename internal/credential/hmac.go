package credential

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/sidekey/sidekey/internal/secret"
)

// Standard Webhooks headers.
const (
	WebhookIDHeader        = "Webhook-Id"
	WebhookTimestampHeader = "Webhook-Timestamp"
	WebhookSignatureHeader = "Webhook-Signature"
)

func validateHMAC(f fields, verr *secret.ValidationError) {
	key := f.required(verr, "key")
	enc, ok := f.str(verr, "encoding")
	if !ok {
		if _, present := f["encoding"]; !present {
			verr.Add(fieldPrefix+"encoding", "is required: raw, hex or base64")
		}
		return
	}
	if key == "" {
		return
	}
	if _, err := decodeKey(key, enc); err != nil {
		verr.Add(fieldPrefix+err.field, "%s", err.msg)
	}
}

type keyError struct{ field, msg string }

// decodeKey decodes an hmac_key's key by its encoding. A base64 key may
// carry the Standard Webhooks "whsec_" prefix.
func decodeKey(key, encoding string) ([]byte, *keyError) {
	var b []byte
	var err error
	switch encoding {
	case "raw":
		b = []byte(key)
	case "hex":
		b, err = hex.DecodeString(key)
	case "base64":
		k := strings.TrimPrefix(key, "whsec_")
		b, err = base64.StdEncoding.DecodeString(k)
		if err != nil {
			b, err = base64.RawStdEncoding.DecodeString(k)
		}
	default:
		return nil, &keyError{"encoding", "must be raw, hex or base64"}
	}
	if err != nil {
		return nil, &keyError{"key", "is not valid " + encoding}
	}
	if len(b) == 0 {
		return nil, &keyError{"key", "must not be empty"}
	}
	return b, nil
}

func hmacKey(obj json.RawMessage) ([]byte, error) {
	var k struct {
		Key      string `json:"key"`
		Encoding string `json:"encoding"`
	}
	if err := json.Unmarshal(obj, &k); err != nil {
		return nil, invalid("hmac_key does not parse")
	}
	b, kerr := decodeKey(k.Key, k.Encoding)
	if kerr != nil {
		return nil, invalid("value.json.%s: %s", kerr.field, kerr.msg)
	}
	return b, nil
}

// signHMAC puts HMAC-SHA256(key, body) into a header (default
// X-Signature), hex (default) or base64, after an optional prefix.
func signHMAC(d Directive, obj json.RawMessage, r *Request) (Edits, error) {
	key, err := hmacKey(obj)
	if err != nil {
		return Edits{}, err
	}
	header := d.Params["header"]
	if header == "" {
		header = "X-Signature"
	}
	if !validHeaderName(header) || strings.HasPrefix(strings.ToLower(header), "sidekey-") {
		return Edits{}, signingErr("hmac-sha256: header must be a header name outside Sidekey-*")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(r.Body)
	sum := mac.Sum(nil)
	var enc string
	switch d.Params["encoding"] {
	case "", "hex":
		enc = hex.EncodeToString(sum)
	case "base64":
		enc = base64.StdEncoding.EncodeToString(sum)
	default:
		return Edits{}, signingErr("hmac-sha256: encoding must be hex or base64")
	}
	prefix := d.Params["prefix"]
	if strings.ContainsAny(prefix, "\r\n\x00") {
		return Edits{}, signingErr("hmac-sha256: prefix holds a control character")
	}
	return Edits{Set: []HeaderField{{Name: header, Value: prefix + enc}}}, nil
}

// signStandardWebhooks signs per the Standard Webhooks spec: v1 =
// base64(HMAC-SHA256(key, id "." timestamp "." body)). A webhook-id the
// request already has is kept; else one is generated.
func signStandardWebhooks(obj json.RawMessage, r *Request, now time.Time) (Edits, error) {
	key, err := hmacKey(obj)
	if err != nil {
		return Edits{}, err
	}
	id := r.Header.Get(WebhookIDHeader)
	if id == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return Edits{}, signingErr("standard-webhooks: no randomness for webhook-id")
		}
		id = "msg_" + strings.TrimRight(base64.RawURLEncoding.EncodeToString(b[:]), "=")
	}
	if strings.ContainsAny(id, ".\r\n\x00") {
		return Edits{}, signingErr("standard-webhooks: webhook-id must not hold '.' or control characters")
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	return Edits{Set: []HeaderField{
		{Name: WebhookIDHeader, Value: id},
		{Name: WebhookTimestampHeader, Value: ts},
		{Name: WebhookSignatureHeader, Value: "v1," + StandardWebhookSignature(key, id, ts, r.Body)},
	}}, nil
}

// StandardWebhookSignature returns base64(HMAC-SHA256(key, id.ts.body)).
func StandardWebhookSignature(key []byte, id, ts string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
