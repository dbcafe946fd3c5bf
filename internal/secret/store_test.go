package secret

import (
	"errors"
	"slices"
	"testing"
)

func TestCreateInputValidate(t *testing.T) {
	d, err := CreateInput{
		Alias: "Weather_FX", Type: TypeJSON, Kind: "k", Value: Value{JSON: []byte(`{ "b": 1, "a": 2 }`)},
		AllowedHosts: []string{"API.example.com"}, Actor: "alice",
	}.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if d.Alias() != "weather_fx" || d.Type() != TypeJSON || d.Kind() != "k" || d.Actor() != "alice" ||
		string(d.Value().JSON) != `{"b":1,"a":2}` || !slices.Equal(d.AllowedHosts(), []string{"api.example.com"}) ||
		len(d.JSONKeys()) != 2 {
		t.Fatalf("draft: alias %q type %q kind %q hosts %v keys %v", d.Alias(), d.Type(), d.Kind(), d.AllowedHosts(), d.JSONKeys())
	}
	again, err := Validate(d)
	if err != nil || again.Alias() != d.Alias() {
		t.Fatalf("a Draft validates as itself: %v", err)
	}

	_, err = CreateInput{Alias: "bad alias!", Type: TypeToken, AllowedHosts: []string{"*"}}.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("invalid input: %v, want a *ValidationError", err)
	}
	fields := map[string]bool{}
	for _, f := range ve.Fields {
		fields[f.Field] = true
	}
	for _, want := range []string{"alias", "value.token", "allowed_hosts[0]"} {
		if !fields[want] {
			t.Errorf("no error for %s in %+v", want, ve.Fields)
		}
	}
	if _, err := Validate(CreateInput{Alias: "a", Type: "nope"}); !errors.As(err, &ve) {
		t.Errorf("unknown type: %v", err)
	}
}
