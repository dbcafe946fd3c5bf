package secret

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestNormalizeAlias(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"weather_fx", "weather_fx", true},
		{"Weather_FX", "weather_fx", true},
		{"a-1", "a-1", true},
		{strings.Repeat("a", 64), strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), "", false},
		{"", "", false},
		{"has space", "", false},
		{"dot.ted", "", false},
		{"ünï", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := NormalizeAlias(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("NormalizeAlias(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestValidateValue(t *testing.T) {
	tests := []struct {
		name      string
		typ       Type
		in        Value
		wantField string // "" means valid
		wantJSON  string
	}{
		{"token ok", TypeToken, Value{Token: "t"}, "", ""},
		{"token empty", TypeToken, Value{}, "value.token", ""},
		{"token with password", TypeToken, Value{Token: "t", Password: "p"}, "value", ""},
		{"userpass ok", TypeUsernamePassword, Value{Username: "u", Password: "p"}, "", ""},
		{"userpass empty user ok", TypeUsernamePassword, Value{Password: "p"}, "", ""},
		{"userpass no password", TypeUsernamePassword, Value{Username: "u"}, "value.password", ""},
		{"json object compacted", TypeJSON, Value{JSON: []byte("{ \"a\" : [1, 2] }")}, "", `{"a":[1,2]}`},
		{"json array", TypeJSON, Value{JSON: []byte(`[1]`)}, "value.json", ""},
		{"json scalar", TypeJSON, Value{JSON: []byte(`"s"`)}, "value.json", ""},
		{"json invalid", TypeJSON, Value{JSON: []byte("{\n\"a\": }")}, "value.json", ""},
		{"json empty", TypeJSON, Value{}, "value.json", ""},
		{"unknown type", Type("x"), Value{Token: "t"}, "type", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ValidateValue(tt.typ, tt.in)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if tt.wantJSON != "" && string(got.JSON) != tt.wantJSON {
					t.Fatalf("JSON = %s, want %s", got.JSON, tt.wantJSON)
				}
				return
			}
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("error = %v, want *ValidationError", err)
			}
			if verr.Fields[0].Field != tt.wantField {
				t.Fatalf("field = %q, want %q", verr.Fields[0].Field, tt.wantField)
			}
		})
	}
}

func TestCompactObjectLineColumn(t *testing.T) {
	_, err := CompactObject([]byte("{\n  \"a\": 1,\n  \"b\": x\n}"))
	if err == nil || !strings.Contains(err.Error(), "line 3, column") {
		t.Fatalf("error = %v, want line 3", err)
	}
}

func TestObjectKeys(t *testing.T) {
	keys, err := ObjectKeys([]byte(`{"b":{"x":1},"a":[1,2],"c":"s"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(keys, ","); got != "b,a,c" {
		t.Fatalf("keys = %s", got)
	}
}

func TestValueNeverPrinted(t *testing.T) {
	const distinctive = "sk_live_DISTINCTIVE_42"
	v := Value{Token: distinctive, Password: distinctive, JSON: []byte(`{"k":"` + distinctive + `"}`)}
	s := Secret{Type: TypeToken, Value: v}
	js, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	zap.New(core).Info("x", zap.Any("value", v), zap.Object("obj", v), zap.Any("secret", s))
	var logged strings.Builder
	for _, e := range logs.All() {
		for k, f := range e.ContextMap() {
			fmt.Fprintf(&logged, "%s=%v ", k, f)
		}
	}
	outputs := map[string]string{
		"%v":   fmt.Sprintf("%v", v),
		"%+v":  fmt.Sprintf("%+v", s),
		"%#v":  fmt.Sprintf("%#v", s),
		"%s":   fmt.Sprintf("%s", v), //nolint:staticcheck // the %s verb is what is tested
		"json": string(js),
		"zap":  logged.String(),
	}
	for name, out := range outputs {
		if strings.Contains(out, "DISTINCTIVE") {
			t.Errorf("%s output reveals the value", name)
		}
		if !strings.Contains(out, Redacted) {
			t.Errorf("%s output lacks %s: %q", name, Redacted, out)
		}
	}
}

func TestHostGlobs(t *testing.T) {
	norm, err := NormalizeHostGlobs("allowed_hosts", []string{"API.weather.com", "*.twilio.com", "10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		want bool
	}{
		{"api.weather.com", true},
		{"x.api.weather.com", false},
		{"sms.twilio.com", true},
		{"a.b.twilio.com", true},
		{"twilio.com", false},
		{"eviltwilio.com", false},
		{"10.0.0.1", true},
		{"10.0.0.2", false},
	}
	for _, tt := range tests {
		if got := HostAllowed(norm, tt.host); got != tt.want {
			t.Errorf("HostAllowed(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
	if !HostAllowed(nil, "anything.example") {
		t.Error("empty list must allow every host")
	}
	for _, bad := range []string{"", "*", "a.*.com", "http://x.com", "x.com:443", "a..b"} {
		if _, err := NormalizeHostGlob(bad); err == nil {
			t.Errorf("NormalizeHostGlob(%q) accepted", bad)
		}
	}
	if _, err := NormalizeHostGlobs("allowed_hosts", []string{"ok.com", "b@d"}); err == nil || !strings.Contains(err.Error(), "allowed_hosts[1]") {
		t.Errorf("error = %v, want allowed_hosts[1]", err)
	}
}
