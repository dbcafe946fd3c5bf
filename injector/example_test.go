package injector_test

import (
	"context"
	"fmt"

	"github.com/sidekey/sidekey/injector"
	"github.com/sidekey/sidekey/internal/secret"
)

type mapResolver map[string]secret.Secret

func (m mapResolver) Resolve(_ context.Context, alias string) (secret.Secret, error) {
	s, ok := m[alias]
	if !ok {
		return secret.Secret{}, fmt.Errorf("alias %s: %w", alias, secret.ErrNotFound)
	}
	return s, nil
}

func ExampleRewriter() {
	r := mapResolver{
		"weather_fx": {Type: secret.TypeToken, Value: secret.Value{Token: "tok-123"}},
		"smtp":       {Type: secret.TypeUsernamePassword, Value: secret.Value{Username: "u", Password: "p"}},
		"cfg":        {Type: secret.TypeJSON, Value: secret.Value{JSON: []byte(`{"region":"eu","limits":{"rps":5}}`)}},
	}
	rw := injector.NewRewriter(context.Background(), r, injector.Options{Host: "api.example.com"})
	defer rw.Release()

	q, _ := rw.Query([]byte("key={{secrets.Weather_FX}}&q=a+b"))
	h, _ := rw.HeaderValue([]byte("Basic {{ secrets.smtp | basic }}"))
	b, _ := rw.Body([]byte(`{"region":"{{secrets.cfg.region}}","limits":{{secrets.cfg.limits}},"note":"{{name}}"}`),
		[]byte("application/json"), nil)
	_, err := rw.HeaderValue([]byte("{{secrets.missing}}"))
	fmt.Println(string(q))
	fmt.Println(string(h))
	fmt.Println(string(b))
	fmt.Println(err)
	// Output:
	// key=tok-123&q=a+b
	// Basic dTpw
	// {"region":"eu","limits":{"rps":5},"note":"{{name}}"}
	// secret_not_found in header (alias "missing")
}
