// Package spec is what the proxy benchmark's tools agree on: the tenant, the
// secrets, the request a sender makes and the bytes the upstream must
// receive. See docs/bench-proxy.md.
package spec

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// The benchmark's tenant and aliases.
const (
	Org          = "bench"
	Domain       = "notify"
	AliasAPIKey  = "bench_api_key" // token, injected into HeaderAPIKey
	AliasAccount = "bench_account" // username_password, injected into the JSON body
)

// HeaderAPIKey is the request header that carries the injected token.
const HeaderAPIKey = "X-Api-Key"

// Path is the request path of every benchmark request.
const Path = "/v1/messages"

// Values are the secret values of one benchmark run. They are random per
// run and worth nothing outside it.
type Values struct {
	APIKey   string `json:"api_key"`
	Username string `json:"username"`
	Password string `json:"password"`
}

// Placeholders returns the placeholders a sender writes in place of the
// values; the proxy (Sidekey, or mitmproxy's addon) replaces them.
func Placeholders() Values {
	return Values{
		APIKey:   "{{secrets." + AliasAPIKey + "}}",
		Username: "{{secrets." + AliasAccount + ".username}}",
		Password: "{{secrets." + AliasAccount + ".password}}",
	}
}

// Generate returns fresh random values: hex strings, so they need no
// escaping in a header or a JSON string.
func Generate() (Values, error) {
	var v Values
	for _, p := range []*string{&v.APIKey, &v.Username, &v.Password} {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return Values{}, fmt.Errorf("spec: random value: %w", err)
		}
		*p = hex.EncodeToString(b)
	}
	return v, nil
}

// Body is the JSON body of a benchmark request holding username and
// password (either the values or their placeholders) in string position.
func Body(username, password string) []byte {
	return []byte(`{"from":"sidekey-bench","to":"+15550100123","account":"` + username +
		`","auth":"` + password +
		`","text":"Your verification code is 424242. Sent through the Sidekey proxy benchmark."}`)
}

// Save writes v to path, readable by its owner only.
func Save(path string, v Values) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("spec: encode values: %w", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("spec: write values: %w", err)
	}
	return nil
}

// Load reads the values written by Save.
func Load(path string) (Values, error) {
	b, err := os.ReadFile(path) // #nosec G304 -- the operator names the file.
	if err != nil {
		return Values{}, fmt.Errorf("spec: read values: %w", err)
	}
	var v Values
	if err := json.Unmarshal(b, &v); err != nil {
		return Values{}, fmt.Errorf("spec: decode values %s: %w", path, err)
	}
	if v.APIKey == "" || v.Username == "" || v.Password == "" {
		return Values{}, errors.New("spec: values file lacks a value")
	}
	return v, nil
}
