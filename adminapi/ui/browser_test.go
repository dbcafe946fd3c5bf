package ui_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/golang-jwt/jwt/v5"
)

// chromiumPath is Debian's Chromium, which `make deps` installs.
const chromiumPath = "/usr/bin/chromium"

// stepTimeout bounds one step of the browser test, so that a page that
// never shows an element fails the test instead of hanging it.
const stepTimeout = 30 * time.Second

// TestBrowser drives the admin UI in a real headless Chromium against a real
// `sidekey admin` (adminapi with the UI) backed by the real dev Vault. One
// browser and one tab serve every step; the steps run in order and the test
// stops at the first that fails, since each builds on the one before.
func TestBrowser(t *testing.T) {
	needChromium(t)
	env := startBackend(t)
	b := startBrowser(t, env.URL)
	shots := screenshotDir(t)

	// Values typed into the page. Each is distinctive, so that a search of
	// the page's HTML for it cannot match anything else.
	vals := newValues()
	orgAdmin := env.Token(t, "org_admin", "acme")
	steps := []step{
		{"a token the server refuses is explained in plain words", func(t *testing.T) {
			b.do(t, chromedp.Navigate(env.URL+"/"), chromedp.WaitVisible(chromedp.ID("signin-token")))
			// Well-formed claims, signed with a key the server does not know.
			b.do(t,
				chromedp.SendKeys(chromedp.ID("signin-token"), foreignToken(t)),
				chromedp.Click(chromedp.ID("signin-submit")),
				chromedp.WaitVisible(chromedp.ID("signin-error")),
			)
			if got := b.text(t, "#signin-error"); got != "Your session has expired or the token is no longer valid. Sign in again." {
				t.Fatalf("sign-in error = %q", got)
			}
			if stored := b.eval(t, `String(sessionStorage.getItem("sidekey.token"))`); stored != "null" {
				t.Fatal("a refused token stayed in sessionStorage")
			}
			b.do(t,
				chromedp.SendKeys(chromedp.ID("signin-token"), "not-a-token"),
				chromedp.Click(chromedp.ID("signin-submit")),
			)
			if got := b.text(t, "#signin-error"); !strings.HasPrefix(got, "This is not an API token") {
				t.Fatalf("sign-in error for garbage = %q", got)
			}
			b.do(t, chromedp.Evaluate[chromedp.Void](`document.getElementById("signin-token").value = ""`))
		}},
		{"sign in as org admin and open a domain", func(t *testing.T) {
			b.do(t,
				chromedp.SendKeys(chromedp.ID("signin-token"), orgAdmin),
				chromedp.Click(chromedp.ID("signin-submit")),
				chromedp.WaitVisible(chromedp.ID("domain-input")),
			)
			if got := b.text(t, "#org-name"); got != "acme" {
				t.Fatalf("org shown = %q, want acme", got)
			}
			if v := b.value(t, "#signin-token"); v != "" {
				t.Fatalf("the token input kept %d characters after sign-in", len(v))
			}
			if stored := b.eval(t, `sessionStorage.getItem("sidekey.token") === `+jsString(orgAdmin)); stored != "true" {
				t.Fatal("the token is not in sessionStorage")
			}
			if local := b.eval(t, `String(localStorage.length)`); local != "0" {
				t.Fatalf("localStorage holds %s items, want none", local)
			}
			b.do(t,
				chromedp.SendKeys(chromedp.ID("domain-input"), "shop"),
				chromedp.Click(chromedp.ID("domain-open")),
				chromedp.WaitVisible(chromedp.ID("secrets-empty")),
			)
			if got := b.text(t, "#secrets-empty h3"); got != "No secrets yet" {
				t.Fatalf("empty state heading = %q", got)
			}
			b.shot(t, shots, "secrets-empty")
		}},
		{"create a token secret", func(t *testing.T) {
			b.openAdd(t)
			// Typed in mixed case, the alias is lower-cased as it is typed.
			b.do(t, chromedp.SendKeys(chromedp.ID("f-alias"), "Weather_FX"))
			if got := b.value(t, "#f-alias"); got != "weather_fx" {
				t.Fatalf("alias input = %q, want weather_fx", got)
			}
			b.checkMasked(t, "f-token")
			b.do(t,
				chromedp.SendKeys(chromedp.ID("f-token"), vals.token),
				chromedp.SendKeys(chromedp.ID("f-hosts"), "api.weather.example"),
			)
			if got := b.text(t, "#write-only-text"); !strings.HasPrefix(got, "Once created, you will not be able to view the stored value") {
				t.Fatalf("write-only warning = %q", got)
			}
			b.shot(t, shots, "drawer-token")
			b.submitAndCheckRow(t, env, orgAdmin, "weather_fx", "Token")
		}},
		{"create a username and password secret", func(t *testing.T) {
			b.openAddAs(t, "smtp_login", "username_password")
			b.do(t,
				chromedp.WaitVisible(chromedp.ID("f-password")),
				chromedp.SendKeys(chromedp.ID("f-username"), vals.username),
				chromedp.SendKeys(chromedp.ID("f-password"), vals.password),
			)
			b.checkMasked(t, "f-password")
			if b.visible(t, "#f-token") {
				t.Fatal("the token field is shown for a username and password secret")
			}
			b.shot(t, shots, "drawer-username-password")
			b.submitAndCheckRow(t, env, orgAdmin, "smtp_login", "Username and password")
		}},
		{"the JSON editor rejects invalid JSON and blocks Submit", func(t *testing.T) {
			b.openAddAs(t, "gcp_config", "json")
			b.do(t,
				chromedp.WaitVisible(chromedp.ID("f-json")),
				// Line 3 lacks the colon after its key.
				chromedp.SendKeys(chromedp.ID("f-json"), vals.jsonInvalid),
			)
			status := b.text(t, "#f-json-status")
			if !strings.Contains(status, "Line 3, column 17") {
				t.Fatalf("JSON status = %q, want the error at line 3, column 17", status)
			}
			for _, s := range vals.all() {
				if strings.Contains(status, s) {
					t.Fatalf("the JSON error message quotes a value (length %d)", len(s))
				}
			}
			if b.eval(t, `String(document.getElementById("drawer-submit").disabled)`) != "true" {
				t.Fatal("Submit is enabled while the JSON is invalid")
			}
			b.shot(t, shots, "drawer-json-invalid")
			// Enter in an input submits a form unless Submit is disabled.
			b.do(t, chromedp.SendKeys(chromedp.ID("f-alias"), kb.Enter))
			if code := env.status(t, orgAdmin, "GET", "/v1/orgs/acme/domains/shop/secrets/gcp_config"); code != http.StatusNotFound {
				t.Fatalf("GET gcp_config after a blocked submit = %d, want 404", code)
			}
			if !b.visible(t, "#drawer") {
				t.Fatal("the drawer closed on a blocked submit")
			}
			// Cancel closes the drawer and clears what was typed.
			b.do(t, chromedp.Click(chromedp.ID("drawer-cancel")), chromedp.WaitNotVisible(chromedp.ID("drawer")))
		}},
		{"create a JSON secret", func(t *testing.T) {
			b.openAddAs(t, "gcp_config", "json")
			b.do(t,
				chromedp.WaitVisible(chromedp.ID("f-json")),
				chromedp.SendKeys(chromedp.ID("f-json"), vals.json),
				chromedp.WaitEnabled(chromedp.ID("drawer-submit")),
			)
			if status := b.text(t, "#f-json-status"); status != "Valid JSON object with 3 top-level keys." {
				t.Fatalf("JSON status = %q", status)
			}
			b.shot(t, shots, "drawer-json")
			b.submitAndCheckRow(t, env, orgAdmin, "gcp_config", "JSON")
			// The editor's text went to Vault as typed (numbers included).
			if got := env.StoredJSON(t, "acme", "shop", "gcp_config"); got != compactJSON(t, vals.json) {
				t.Fatalf("stored JSON differs from the typed JSON (%d vs %d bytes)", len(got), len(compactJSON(t, vals.json)))
			}
			if n := b.eval(t, `String(document.querySelectorAll("#secrets-body tr").length)`); n != "3" {
				t.Fatalf("rows = %s, want 3", n)
			}
			b.do(t, chromedp.WaitVisible(chromedp.CSS(`#macro-list [data-reference="{{secrets.gcp_config.client_id}}"]`)))
			b.shotFull(t, shots, "secrets-list")
		}},
		{"an alias taken meanwhile is explained on the alias", func(t *testing.T) {
			b.openAdd(t)
			// Another admin creates the alias while this page's list is stale.
			env.Create(t, orgAdmin, "acme", "shop", `{"alias":"twilio","type":"token","value":{"token":"`+vals.otherToken+`"}}`)
			b.do(t,
				chromedp.SendKeys(chromedp.ID("f-alias"), "twilio"),
				chromedp.SendKeys(chromedp.ID("f-token"), vals.token),
				chromedp.Click(chromedp.ID("drawer-submit")),
				chromedp.WaitVisible(chromedp.ID("f-alias-error")),
			)
			if got := b.text(t, "#f-alias-error"); !strings.HasPrefix(got, "An active secret in this domain already uses this alias.") {
				t.Fatalf("alias error = %q", got)
			}
			if got := b.eval(t, `document.getElementById("f-alias").getAttribute("aria-invalid")`); got != "true" {
				t.Fatalf("alias aria-invalid = %q, want true", got)
			}
			// The list catches up, and Cancel clears what was typed.
			b.do(t,
				chromedp.WaitVisible(chromedp.CSS(`tr[data-alias="twilio"]`)),
				chromedp.Click(chromedp.ID("drawer-cancel")),
				chromedp.WaitNotVisible(chromedp.ID("drawer")),
			)
			if got := env.StoredToken(t, "acme", "shop", "twilio"); got != vals.otherToken {
				t.Fatalf("the refused create changed the stored token (%d bytes)", len(got))
			}
		}},
		{"the JSON checker agrees with JSON.parse and places errors", func(t *testing.T) {
			// Exact cases: the message never quotes the input, the line and
			// column point at the first wrong character.
			cases := []jsonCase{
				{`{"a": 1}`, "ok 1"},
				{"{\n  \"a\": [1, 2.5e-3, true, null, {\"b\": \"\\u00e9\\n\"}]\n}", "ok 1"},
				{" \t\r\n{}\n", "ok 0"},
				{``, "empty"},
				{`[1, 2]`, "1:1 must be a JSON object"},
				{`  "s"`, "1:3 must be a JSON object"},
				{"{\n \"a\": 1,\n}", "3:1 trailing comma"},
				{`{"a": 01}`, "1:8 numbers cannot have leading zeros"},
				{`{'a': 1}`, "1:2 keys must use double quotes"},
				{`{"a": 'x'}`, "1:7 strings must use double quotes"},
				{`{"a": tru}`, "1:7 expected a value"},
				{`{"a": "x` + "\t" + `"}`, "1:9 control character"},
				{`{"a": "\q"}`, "1:9 invalid escape"},
				{`{"a": 1} x`, "1:10 unexpected text after the end"},
				{`{"a": 1`, "1:8 unexpected end of input"},
				{`{"a" 1}`, "1:6 expected \":\""},
				{`{"a": -}`, "1:8 invalid number"},
			}
			js := `(async () => {
				const { checkObject } = await import("/assets/jsoncheck.js");
				const out = [];
				for (const text of ` + jsonArray(t, cases) + `) {
					const r = checkObject(text);
					out.push(r.ok ? "ok " + r.keys.length : r.empty ? "empty" : r.line + ":" + r.column + " " + r.message);
				}
				// Differential check against JSON.parse on generated texts
				// (a fixed-seed generator, so a failure is reproducible).
				let seed = 42, mismatches = 0;
				const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
				const parts = ["{", "}", "[", "]", ":", ",", '"', "\\", "u", "0", "1", "-", "+", ".", "e", " ", "\n",
					"t", "r", "f", "n", '"a"', '"k":', "1e5", "\\n", "\\u00e9", "\u0001", "'", "null", "true", "false"];
				for (let i = 0; i < 20000; i++) {
					let s = rnd(2) ? "{" : "";
					for (let k = rnd(14); k > 0; k--) s += parts[rnd(parts.length)];
					if (rnd(2)) s += "}";
					let want;
					try { const v = JSON.parse(s); want = v !== null && typeof v === "object" && !Array.isArray(v); } catch { want = false; }
					if (checkObject(s).ok !== want) mismatches++;
				}
				out.push("mismatches " + mismatches);
				return JSON.stringify(out);
			})()`
			ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
			defer cancel()
			raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatalf("run the checker: %v", err)
			}
			var got []string
			if err := json.Unmarshal([]byte(raw), &got); err != nil || len(got) != len(cases)+1 {
				t.Fatalf("checker results %q: %v", raw, err)
			}
			for i, c := range cases {
				if !strings.HasPrefix(got[i], c.want) {
					t.Errorf("checkObject(%q) = %q, want prefix %q", c.text, got[i], c.want)
				}
			}
			if last := got[len(cases)]; last != "mismatches 0" {
				t.Errorf("checkObject disagrees with JSON.parse: %s of 20000 generated texts", last)
			}
		}},
		{"the Macro Manager copies a reference in one click", func(t *testing.T) {
			refs := b.eval(t, `[...document.querySelectorAll("#macro-list .macro-ref")].map(e => e.textContent).join("\n")`)
			for _, want := range []string{"{{secrets.weather_fx}}", "{{secrets.smtp_login.username}}", "{{secrets.smtp_login.password}}", "{{secrets.gcp_config}}", "{{secrets.gcp_config.client_id}}"} {
				if !strings.Contains(refs, want) {
					t.Fatalf("Macro Manager lacks %s; has:\n%s", want, refs)
				}
			}
			sel := `#macro-list button[data-reference="{{secrets.smtp_login.username}}"]`
			b.do(t, chromedp.Click(chromedp.CSS(sel)), chromedp.WaitVisible(chromedp.CSS(sel+".copied")))
			got, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatalf("read the clipboard: %v", err)
			}
			if got != "{{secrets.smtp_login.username}}" {
				t.Fatalf("clipboard = %q, want {{secrets.smtp_login.username}}", got)
			}
		}},
		{"edit locks alias and type and rotates", func(t *testing.T) {
			before := env.Get(t, orgAdmin, "acme", "shop", "weather_fx")
			b.openRowAction(t, "weather_fx", "edit", "f-token")
			if got := b.text(t, "#drawer-title"); got != "Edit Secret" {
				t.Fatalf("drawer title = %q", got)
			}
			locked := b.eval(t, `JSON.stringify({alias: document.getElementById("f-alias").value,
				readOnly: document.getElementById("f-alias").readOnly,
				type: document.getElementById("f-type").value,
				typeDisabled: document.getElementById("f-type").disabled,
				token: document.getElementById("f-token").value.length,
				hosts: document.getElementById("f-hosts").value})`)
			want := `{"alias":"weather_fx","readOnly":true,"type":"token","typeDisabled":true,"token":0,"hosts":"api.weather.example"}`
			if locked != want {
				t.Fatalf("edit drawer state = %s, want %s", locked, want)
			}
			b.do(t, chromedp.SendKeys(chromedp.ID("f-token"), vals.token2))
			b.shot(t, shots, "drawer-edit")
			b.do(t,
				chromedp.Click(chromedp.ID("drawer-submit")),
				chromedp.WaitNotVisible(chromedp.ID("drawer")),
				chromedp.WaitVisible(chromedp.CSS(`tr[data-alias="weather_fx"]`)),
			)
			after := env.Get(t, orgAdmin, "acme", "shop", "weather_fx")
			if after.Version != before.Version+1 {
				t.Fatalf("version after rotate = %d, want %d", after.Version, before.Version+1)
			}
			if got := env.StoredToken(t, "acme", "shop", "weather_fx"); got != vals.token2 {
				t.Fatalf("stored token after rotate has %d bytes and is not the new token", len(got))
			}
			b.waitAttr(t, `tr[data-alias="weather_fx"] time`, "datetime", after.UpdatedAt)
		}},
		{"the drawer and the dialog trap focus and close with Escape", func(t *testing.T) {
			b.openAdd(t)
			for range 14 {
				b.do(t, chromedp.KeyEvent(kb.Tab))
				if in := b.eval(t, `String(document.getElementById("drawer").contains(document.activeElement))`); in != "true" {
					t.Fatalf("Tab moved the focus out of the drawer to %s", b.eval(t, `document.activeElement.outerHTML.slice(0, 80)`))
				}
			}
			b.do(t, chromedp.KeyEvent(kb.Shift+kb.Tab))
			b.do(t, chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(chromedp.ID("drawer")))
			if id := b.eval(t, `document.activeElement.id`); id != "add-secret" {
				t.Fatalf("focus after Escape is on #%s, want #add-secret", id)
			}
			b.openRowAction(t, "smtp_login", "archive", "archive-dialog")
			for range 5 {
				b.do(t, chromedp.KeyEvent(kb.Tab))
				if in := b.eval(t, `String(document.getElementById("archive-dialog").contains(document.activeElement))`); in != "true" {
					t.Fatal("Tab moved the focus out of the archive dialog")
				}
			}
			b.do(t, chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(chromedp.ID("archive-dialog")))
			if !b.visible(t, `tr[data-alias="smtp_login"]`) {
				t.Fatal("Escape in the archive dialog removed the row")
			}
		}},
		{"archive: Cancel keeps the row, Archive Secret removes it", func(t *testing.T) {
			row := `tr[data-alias="smtp_login"]`
			b.openRowAction(t, "smtp_login", "archive", "archive-dialog")
			const text = "Are you sure you want to archive this secret? Any existing integrations using this secret will no longer function."
			if got := b.text(t, "#archive-text"); got != text {
				t.Fatalf("dialog text = %q", got)
			}
			if got := b.eval(t, `[...document.querySelectorAll("#archive-dialog button")].map(b => b.textContent.trim()).join("|")`); got != "Cancel|Archive Secret" {
				t.Fatalf("dialog buttons = %q, want Cancel|Archive Secret", got)
			}
			b.shot(t, shots, "archive-dialog")
			b.do(t, chromedp.Click(chromedp.ID("archive-cancel")), chromedp.WaitNotVisible(chromedp.ID("archive-dialog")))
			if !b.visible(t, row) {
				t.Fatal("Cancel removed the row")
			}
			if code := env.status(t, orgAdmin, "GET", "/v1/orgs/acme/domains/shop/secrets/smtp_login"); code != http.StatusOK {
				t.Fatalf("GET smtp_login after Cancel = %d, want 200", code)
			}
			b.archiveRow(t, "smtp_login")
			if code := env.status(t, orgAdmin, "GET", "/v1/orgs/acme/domains/shop/secrets/smtp_login"); code != http.StatusNotFound {
				t.Fatalf("GET smtp_login after archive = %d, want 404", code)
			}
			b.do(t, chromedp.WaitNotPresent(chromedp.CSS(`#macro-list [data-reference^="{{secrets.smtp_login"]`)))
		}},
		{"a domain admin does not see another domain", func(t *testing.T) {
			env.Create(t, orgAdmin, "acme", "billing", `{"alias":"billing_key","type":"token","value":{"token":"`+vals.otherToken+`"}}`)
			domainAdmin := env.Token(t, "domain_admin", "acme", "shop")
			b.do(t,
				chromedp.Click(chromedp.ID("sign-out")),
				chromedp.WaitVisible(chromedp.ID("signin-token")),
			)
			if stored := b.eval(t, `String(sessionStorage.getItem("sidekey.token"))`); stored != "null" {
				t.Fatal("sign-out left the token in sessionStorage")
			}
			b.do(t,
				chromedp.SendKeys(chromedp.ID("signin-token"), domainAdmin),
				chromedp.Click(chromedp.ID("signin-submit")),
				chromedp.WaitVisible(chromedp.CSS(`tr[data-alias="weather_fx"]`)),
			)
			if opts := b.eval(t, `[...document.getElementById("domain-select").options].map(o => o.value).join(",")`); opts != "shop" {
				t.Fatalf("domain picker offers %q, want only shop", opts)
			}
			// Asking for the other domain by URL shows an error and stays on shop.
			b.do(t,
				chromedp.Evaluate[chromedp.Void](`location.hash = "#/orgs/acme/domains/billing"`),
				chromedp.WaitVisible(chromedp.ID("domain-error")),
			)
			if got := b.text(t, "#domain-error"); got != `Your token does not include domain "billing".` {
				t.Fatalf("domain error = %q", got)
			}
			if got := b.text(t, "#page-domain"); got != "shop" {
				t.Fatalf("page shows domain %q, want shop", got)
			}
			if html := b.html(t); strings.Contains(html, "billing_key") {
				t.Fatal("the page shows a secret of a domain outside the token")
			}
			// The API refuses it too, whatever the page does.
			if code := env.status(t, domainAdmin, "GET", "/v1/orgs/acme/domains/billing/secrets"); code != http.StatusForbidden {
				t.Fatalf("GET billing as shop's domain admin = %d, want 403", code)
			}
		}},
		{"a credential kind fills the JSON editor and yields derived references", func(t *testing.T) {
			b.openAddAs(t, "hook_signing", "json")
			b.do(t,
				chromedp.WaitVisible(chromedp.ID("f-kind")),
				chromedp.SetValue(chromedp.ID("f-kind"), "hmac_key"),
				dispatch("f-kind", "change"),
			)
			var tmpl map[string]string
			if err := json.Unmarshal([]byte(b.eval(t, `document.getElementById("f-json").value`)), &tmpl); err != nil {
				t.Fatalf("the kind's template is not JSON: %v", err)
			}
			if _, ok := tmpl["key"]; !ok || tmpl["encoding"] != "raw" {
				t.Fatalf("hmac_key template = %v", tmpl)
			}
			b.do(t,
				chromedp.SetValue(chromedp.ID("f-json"), `{"key":"`+vals.token+`","encoding":"raw"}`),
				dispatch("f-json", "input"),
				chromedp.WaitEnabled(chromedp.ID("drawer-submit")),
			)
			b.submitAndWaitRow(t, "hook_signing")
			b.do(t, chromedp.WaitVisible(chromedp.CSS(`#macro-list [data-reference="Sidekey-Sign: standard-webhooks secrets.hook_signing"]`)))
			if html := b.html(t); strings.Contains(html, vals.token) {
				t.Fatal("the page shows the key after submit")
			}
		}},
	}
	b.runSteps(t, vals, steps)
}

// foreignToken is an org admin token for acme signed with a key of its own.
func foreignToken(t *testing.T) string {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "mallory", "role": "org_admin", "org": "acme", "domains": []string{"shop"},
		"exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// values are the secret values typed into the page.
type values struct {
	token, token2, username, password, json, jsonInvalid, otherToken string
	jsonParts                                                        []string
}

func newValues() values {
	r := func(prefix string) string {
		b := make([]byte, 12)
		if _, err := rand.Read(b); err != nil {
			panic(err)
		}
		return prefix + hex.EncodeToString(b)
	}
	v := values{
		token:      r("tok-"),
		token2:     r("tok2-"),
		username:   r("user-"),
		password:   r("pw-"),
		otherToken: r("other-"),
	}
	clientID, clientSecret := r("cid-"), r("cs-")
	v.jsonParts = []string{clientID, clientSecret}
	// SendKeys types "\n" as Enter, which the textarea turns into a newline.
	v.json = "{\n\"client_id\": \"" + clientID + "\",\n\"client_secret\": \"" + clientSecret + "\",\n\"port\": 12345678901234567890\n}"
	v.jsonInvalid = "{\n\"client_id\": \"" + clientID + "\",\n\"client_secret\" \"" + clientSecret + "\"\n}"
	return v
}

func (v values) all() []string {
	return append([]string{v.token, v.token2, v.username, v.password, v.otherToken, "12345678901234567890"}, v.jsonParts...)
}

// compactJSON is s as Vault stores a JSON secret: compact, keys in the
// typed order, numbers as typed.
func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(s)); err != nil {
		t.Fatalf("test JSON: %v", err)
	}
	return buf.String()
}

// ---------------------------------------------------------------- browser

type browserT struct {
	ctx     context.Context
	mu      sync.Mutex
	console []string
}

func startBrowser(t *testing.T, origin string) *browserT {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 860),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	b := &browserT{ctx: ctx}
	// The first Do starts the browser, with no deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			text := m.String()
			// Chrome logs every API error answer as a failed load; the
			// steps that expect one check the page instead.
			if strings.Contains(m.URL, "/v1/") && strings.Contains(text, "Failed to load resource") {
				continue
			}
			// The identity provider's login page has no icon.
			if strings.HasSuffix(m.URL, "/favicon.ico") && strings.Contains(text, "Failed to load resource") {
				continue
			}
			if m.Type == chromedp.ConsoleError || m.IsException() || m.Type == chromedp.ConsoleWarning {
				b.mu.Lock()
				// A query may hold a token (the provider's id_token_hint).
				u, _, cut := strings.Cut(m.URL, "?")
				if cut {
					u += "?[query redacted]"
				}
				b.console = append(b.console, fmt.Sprintf("%s %s:%d: %s", m.Type, u, m.Line+1, text))
				b.mu.Unlock()
			}
		}
	}()
	// Calm, reproducible rendering: no animations; clipboard allowed for
	// the one-click copy check; focus kept although the browser is headless.
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}},
	}); err != nil {
		t.Fatalf("emulate reduced motion: %v", err)
	}
	if _, err := chromedp.Call(ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		t.Fatalf("emulate focus: %v", err)
	}
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name},
			Setting:    browser.PermissionSettingGranted,
			Origin:     origin,
		}); err != nil {
			t.Fatalf("grant %s: %v", name, err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 860)); err != nil {
		t.Fatalf("viewport: %v", err)
	}
	return b
}

// needChromium skips a browser test with -short and fails it when
// Chromium is missing.
func needChromium(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: skipped with -short")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the browser tests need Debian's Chromium at %s: run `make deps` (%v)", chromiumPath, err)
	}
}

// step is one step of a browser test; it builds on the steps before it.
type step struct {
	name string
	run  func(t *testing.T)
}

// runSteps runs steps in order, each as a subtest followed by a check that
// the page holds none of vals, and stops at the first that fails; then it
// checks the browser's console.
func (b *browserT) runSteps(t *testing.T, vals values, steps []step) {
	t.Helper()
	for _, s := range steps {
		ok := t.Run(s.name, func(t *testing.T) {
			s.run(t)
			b.checkNoValues(t, vals)
		})
		if !ok {
			break
		}
	}
	b.checkConsole(t)
}

// openAddAs opens the Add drawer, types alias and chooses typ.
func (b *browserT) openAddAs(t *testing.T, alias, typ string) {
	t.Helper()
	b.openAdd(t)
	b.do(t,
		chromedp.SendKeys(chromedp.ID("f-alias"), alias),
		chromedp.SetValue(chromedp.ID("f-type"), typ),
		dispatch("f-type", "change"),
	)
}

// dispatch fires event at the element with id, as typing or choosing does
// (SetValue fires none).
func dispatch(id, event string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`document.getElementById(` + jsString(id) + `).dispatchEvent(new Event(` + jsString(event) + `))`)
}

func (b *browserT) do(t *testing.T, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("browser: %v; page state: %s", err, b.state())
	}
}

// state describes the page for a failure message: what is open and where
// the focus is. It reads no input values.
func (b *browserT) state() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({
		hash: location.hash,
		drawerOpen: document.getElementById("drawer").open,
		archiveOpen: document.getElementById("archive-dialog").open,
		focus: document.activeElement && (document.activeElement.id || document.activeElement.tagName),
		rows: [...document.querySelectorAll("#secrets-body tr")].map(r => r.dataset.alias),
		banner: document.getElementById("banner").hidden ? "" : document.getElementById("banner-text").textContent,
		formError: document.getElementById("form-error").textContent,
		archiveError: document.getElementById("archive-error").textContent,
	})`))
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return s
}

func (b *browserT) eval(t *testing.T, js string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string]("String(("+js+"))"))
	if err != nil {
		t.Fatalf("evaluate: %v", err)
	}
	return v
}

func (b *browserT) text(t *testing.T, sel string) string {
	t.Helper()
	return strings.TrimSpace(b.eval(t, `(document.querySelector(`+jsString(sel)+`) || {textContent: "<missing>"}).textContent`))
}

func (b *browserT) value(t *testing.T, sel string) string {
	t.Helper()
	return b.eval(t, `(document.querySelector(`+jsString(sel)+`) || {value: "<missing>"}).value`)
}

func (b *browserT) visible(t *testing.T, sel string) bool {
	t.Helper()
	return b.eval(t, `(() => { const e = document.querySelector(`+jsString(sel)+`); return String(!!e && e.getClientRects().length > 0); })()`) == "true"
}

// html is what the page holds: its serialised DOM, plus the values of every
// input, select and textarea (which the serialisation leaves out), plus
// both storages.
func (b *browserT) html(t *testing.T) string {
	t.Helper()
	return b.eval(t, `document.documentElement.outerHTML +
		[...document.querySelectorAll("input, textarea, select")].map(e => "\n" + e.id + "=" + e.value).join("") +
		"\n" + JSON.stringify(Object.entries(localStorage)) +
		"\n" + JSON.stringify(Object.entries(sessionStorage).filter(([k]) => k !== "sidekey.token"))`)
}

// checkNoValues fails when the page holds any of the values typed into it.
// The failure names the value's position and length, never the value.
func (b *browserT) checkNoValues(t *testing.T, v values) {
	t.Helper()
	html := b.html(t)
	for i, s := range v.all() {
		if strings.Contains(html, s) {
			t.Errorf("the page holds secret value #%d (%d bytes) after this step", i, len(s))
		}
	}
}

func (b *browserT) checkConsole(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.console {
		t.Errorf("browser console: %s", m)
	}
}

func (b *browserT) openAdd(t *testing.T) {
	t.Helper()
	b.do(t,
		chromedp.Click(chromedp.ID("add-secret")),
		chromedp.WaitVisible(chromedp.ID("f-alias")),
	)
	if id := b.eval(t, `document.activeElement.id`); id != "f-alias" {
		t.Fatalf("focus in the new drawer is on #%s, want #f-alias", id)
	}
	for _, id := range []string{"f-token", "f-username", "f-password", "f-json"} {
		if v := b.value(t, "#"+id); v != "" {
			t.Fatalf("#%s holds %d characters in a new drawer", id, len(v))
		}
	}
}

func (b *browserT) submitAndWaitRow(t *testing.T, alias string) {
	t.Helper()
	b.do(t,
		chromedp.Click(chromedp.ID("drawer-submit")),
		chromedp.WaitNotVisible(chromedp.ID("drawer")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-alias="`+alias+`"]`)),
	)
	for _, id := range []string{"f-token", "f-username", "f-password", "f-json"} {
		if v := b.value(t, "#"+id); v != "" {
			t.Fatalf("#%s still holds %d characters after submit", id, len(v))
		}
	}
}

// openRowAction clicks the action button ("edit", "archive") of alias's
// row and waits for the element with id to show.
func (b *browserT) openRowAction(t *testing.T, alias, action, id string) {
	t.Helper()
	b.do(t,
		chromedp.Click(chromedp.CSS(`tr[data-alias="`+alias+`"] [data-action="`+action+`"]`)),
		chromedp.WaitVisible(chromedp.ID(id)),
	)
}

// archiveRow archives alias through its row's dialog and waits for the row
// to go.
func (b *browserT) archiveRow(t *testing.T, alias string) {
	t.Helper()
	b.openRowAction(t, alias, "archive", "archive-dialog")
	b.do(t,
		chromedp.Click(chromedp.ID("archive-confirm")),
		chromedp.WaitNotPresent(chromedp.CSS(`tr[data-alias="`+alias+`"]`)),
	)
}

// checkMasked fails unless the input with id masks what is typed.
func (b *browserT) checkMasked(t *testing.T, id string) {
	t.Helper()
	if typ := b.eval(t, `document.getElementById(`+jsString(id)+`).type`); typ != "password" {
		t.Fatalf("#%s input type = %q, want password (masked)", id, typ)
	}
}

// submitAndCheckRow submits the drawer, waits for the row of alias and
// checks it against the API (read with token): type label and the Last
// Updated date (the <time> element's datetime is the API's updated_at).
func (b *browserT) submitAndCheckRow(t *testing.T, env *backend, token, alias, typeLabel string) {
	t.Helper()
	b.submitAndWaitRow(t, alias)
	meta := env.Get(t, token, "acme", "shop", alias)
	row := `tr[data-alias="` + alias + `"]`
	if got := b.text(t, row+" .type-badge"); got != typeLabel {
		t.Fatalf("%s type shown = %q, want %q", alias, got, typeLabel)
	}
	if got := b.eval(t, `document.querySelector(`+jsString(row+" time")+`).getAttribute("datetime")`); got != meta.UpdatedAt {
		t.Fatalf("%s Last Updated datetime = %q, API updated_at = %q", alias, got, meta.UpdatedAt)
	}
	updated, err := time.Parse(time.RFC3339, meta.UpdatedAt)
	if err != nil {
		t.Fatalf("updated_at %q: %v", meta.UpdatedAt, err)
	}
	if shown := b.text(t, row+" time"); !strings.Contains(shown, fmt.Sprint(updated.Local().Year())) {
		t.Fatalf("%s Last Updated shows %q, not a date of %d", alias, shown, updated.Year())
	}
}

func (b *browserT) waitAttr(t *testing.T, sel, attr, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	js := `(document.querySelector(` + jsString(sel) + `) || {getAttribute: () => ""}).getAttribute(` + jsString(attr) + `) === ` + jsString(want)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatalf("wait for %s[%s=%q]: %v", sel, attr, want, err)
	}
}

// shot writes a screenshot of the viewport; shotFull one of the whole page.
func (b *browserT) shot(t *testing.T, dir, name string) {
	t.Helper()
	b.screenshot(t, dir, name, chromedp.CaptureScreenshot())
}

func (b *browserT) shotFull(t *testing.T, dir, name string) {
	t.Helper()
	b.screenshot(t, dir, name, chromedp.FullScreenshot(100))
}

func (b *browserT) screenshot(t *testing.T, dir, name string, capture chromedp.Action[[]byte]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	// The transient toast would hide part of the page.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById("toast").classList.remove("show")`)); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	png, err := chromedp.Run(ctx, capture)
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatalf("write screenshot: %v", err)
	}
}

// screenshotDir is testdata/screenshots at the repository root (ignored by
// git), or $SIDEKEY_SCREENSHOTS.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SIDEKEY_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "testdata", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("screenshot dir: %v", err)
	}
	return dir
}

// jsonCase is a text for the JSON checker and the prefix of its verdict.
type jsonCase struct{ text, want string }

// jsonArray is the texts of the cases as a JavaScript array literal.
func jsonArray(t *testing.T, cases []jsonCase) string {
	t.Helper()
	texts := make([]string, len(cases))
	for i, c := range cases {
		texts[i] = c.text
	}
	out, err := json.Marshal(texts)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// ---------------------------------------------------------------- API client

// secretMeta is the metadata the API returns for one secret.
type secretMeta struct {
	Alias     string `json:"alias"`
	Type      string `json:"type"`
	UpdatedAt string `json:"updated_at"`
	Version   int    `json:"version"`
}

func (e *backend) do(t *testing.T, token, method, path, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	data, err := io.ReadAll(resp.Body)
	if cerr := resp.Body.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp.StatusCode, data
}

func (e *backend) status(t *testing.T, token, method, path string) int {
	t.Helper()
	code, _ := e.do(t, token, method, path, "")
	return code
}

func (e *backend) Get(t *testing.T, token, org, domain, alias string) secretMeta {
	t.Helper()
	code, data := e.do(t, token, "GET", "/v1/orgs/"+org+"/domains/"+domain+"/secrets/"+alias, "")
	if code != http.StatusOK {
		t.Fatalf("GET %s = %d: %s", alias, code, data)
	}
	var m secretMeta
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("GET %s: %v", alias, err)
	}
	return m
}

func (e *backend) Create(t *testing.T, token, org, domain, body string) {
	t.Helper()
	code, data := e.do(t, token, "POST", "/v1/orgs/"+org+"/domains/"+domain+"/secrets", body)
	if code != http.StatusCreated {
		// The body is the API's error, which never holds a value.
		t.Fatalf("POST secret = %d: %s", code, data)
	}
}
