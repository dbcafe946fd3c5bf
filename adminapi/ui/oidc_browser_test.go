package ui_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sidekey/sidekey/adminapi"
	"github.com/sidekey/sidekey/internal/oidctest"
)

const (
	providerPassword = "correct horse battery staple"
	groupOrgAdmins   = "sidekey-org-admins"
)

func providerUsers() []oidctest.User {
	return []oidctest.User{
		{ID: "id-ada", Username: "ada", Password: providerPassword, Email: "ada@example.com",
			Claims: map[string]any{"groups": []string{groupOrgAdmins}, "org": "acme"}},
		{ID: "id-nora", Username: "nora", Password: providerPassword, Email: "nora@example.com",
			Claims: map[string]any{"groups": []string{"staff"}, "org": "acme"}},
	}
}

func providerOptions() oidctest.Options {
	// Loopback redirect URIs match on any port: the UI's test server port.
	return oidctest.Options{
		Users:                  providerUsers(),
		RedirectURIs:           []string{"http://127.0.0.1/"},
		PostLogoutRedirectURIs: []string{"http://127.0.0.1/"},
	}
}

func providerAuth(p *oidctest.Provider) *adminapi.AuthConfig {
	return &adminapi.AuthConfig{
		OIDC:   &adminapi.OIDCConfig{Issuer: p.Issuer, ClientID: p.ClientID},
		Claims: adminapi.ClaimMapping{OrgAdminGroups: []string{groupOrgAdmins}},
	}
}

// TestBrowserOIDC signs in through the provider's login page in a real
// headless Chromium, manages secrets, and signs out at the provider.
func TestBrowserOIDC(t *testing.T) {
	needChromium(t)
	p := oidctest.Start(t, providerOptions())
	env := startBackendAuth(t, providerAuth(p))
	b := startBrowser(t, env.URL)
	shots := screenshotDir(t)
	vals := newValues()
	// The API checks of the steps use a token of their own from the
	// provider.
	apiToken := p.Login(t, "ada", providerPassword)
	var pageToken string

	login := func(t *testing.T, user string) {
		t.Helper()
		b.do(t,
			chromedp.Navigate(env.URL+"/"),
			chromedp.WaitVisible(chromedp.ID("oidc-signin")),
			chromedp.Click(chromedp.ID("oidc-signin")),
			// The provider's own login page.
			chromedp.WaitVisible(chromedp.ID("username")),
		)
		if !strings.HasPrefix(b.eval(t, `location.href`), p.Issuer+"/login/") {
			t.Fatalf("sign-in went to %s, not the provider's login page", b.eval(t, `location.origin + location.pathname`))
		}
		b.do(t,
			chromedp.SendKeys(chromedp.ID("username"), user),
			chromedp.SendKeys(chromedp.ID("password"), providerPassword),
			chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		)
	}

	steps := []step{
		{"the sign-in page offers the provider, not token pasting", func(t *testing.T) {
			b.do(t, chromedp.Navigate(env.URL+"/"), chromedp.WaitVisible(chromedp.ID("oidc-signin")))
			if b.visible(t, "#signin-form") || b.visible(t, "#signin-token") {
				t.Fatal("token pasting is offered although the server trusts a provider")
			}
			b.shot(t, shots, "oidc-signin")
		}},
		{"sign in through the provider's login page", func(t *testing.T) {
			login(t, "ada")
			b.do(t, chromedp.WaitVisible(chromedp.ID("domain-input")))
			if got := b.eval(t, `location.origin + location.pathname + location.search`); got != env.URL+"/" {
				t.Fatalf("after sign-in the address is %s: the code must leave the address bar", got)
			}
			if got := b.text(t, "#session-sub"); got != "id-ada" {
				t.Fatalf("signed in as %q", got)
			}
			if got := b.text(t, "#session-role"); got != "Org admin" {
				t.Fatalf("role badge %q", got)
			}
			if got := b.text(t, "#org-name"); got != "acme" {
				t.Fatalf("org %q", got)
			}
			pageToken = b.eval(t, `sessionStorage.getItem("sidekey.token")`)
			if strings.Count(pageToken, ".") != 2 {
				t.Fatal("the ID token is not in sessionStorage")
			}
			if keys := b.eval(t, `Object.keys(sessionStorage).sort().join(",")`); keys != "sidekey.token" {
				t.Fatalf("sessionStorage keys after sign-in: %s", keys)
			}
			if local := b.eval(t, `String(localStorage.length)`); local != "0" {
				t.Fatalf("localStorage holds %s items", local)
			}
			if strings.Contains(b.eval(t, `document.documentElement.outerHTML`), pageToken) {
				t.Fatal("the DOM holds the token")
			}
			b.do(t,
				chromedp.SendKeys(chromedp.ID("domain-input"), "shop"),
				chromedp.Click(chromedp.ID("domain-open")),
				chromedp.WaitVisible(chromedp.ID("secrets-empty")),
			)
		}},
		{"create a secret", func(t *testing.T) {
			b.openAdd(t)
			b.do(t,
				chromedp.SendKeys(chromedp.ID("f-alias"), "weather_fx"),
				chromedp.SendKeys(chromedp.ID("f-token"), vals.token),
			)
			b.submitAndCheckRow(t, env, apiToken, "weather_fx", "Token")
			if got := env.StoredToken(t, "acme", "shop", "weather_fx"); got != vals.token {
				t.Fatal("Vault does not hold the typed token")
			}
			b.shot(t, shots, "oidc-created")
		}},
		{"rotate it", func(t *testing.T) {
			before := env.Get(t, apiToken, "acme", "shop", "weather_fx")
			b.openRowAction(t, "weather_fx", "edit", "f-token")
			b.do(t,
				chromedp.SendKeys(chromedp.ID("f-token"), vals.token2),
				chromedp.Click(chromedp.ID("drawer-submit")),
				chromedp.WaitNotVisible(chromedp.ID("drawer")),
			)
			after := env.Get(t, apiToken, "acme", "shop", "weather_fx")
			if after.Version != before.Version+1 {
				t.Fatalf("version after rotate = %d, want %d", after.Version, before.Version+1)
			}
			if got := env.StoredToken(t, "acme", "shop", "weather_fx"); got != vals.token2 {
				t.Fatal("Vault does not hold the rotated token")
			}
		}},
		{"archive it", func(t *testing.T) {
			b.archiveRow(t, "weather_fx")
			if code := env.status(t, apiToken, "GET", "/v1/orgs/acme/domains/shop/secrets/weather_fx"); code != http.StatusNotFound {
				t.Fatalf("GET after archive = %d, want 404", code)
			}
		}},
		{"sign out ends the provider session and forgets the token", func(t *testing.T) {
			// A mark on this document: a new document (after the round trip
			// through the provider's end-session endpoint) lacks it.
			b.do(t, chromedp.Evaluate[chromedp.Void](`window.sidekeyBeforeSignOut = true`))
			b.do(t, chromedp.Click(chromedp.ID("sign-out")))
			b.waitJS(t, `!window.sidekeyBeforeSignOut && location.origin === `+jsString(env.URL)+
				` && document.getElementById("oidc-signin") !== null && !document.getElementById("oidc-signin").hidden`)
			if got := b.eval(t, `location.origin`); got != env.URL {
				t.Fatalf("after sign-out the page is %s", got)
			}
			if n := b.eval(t, `String(sessionStorage.length) + "," + String(localStorage.length)`); n != "0,0" {
				t.Fatalf("storage after sign-out (session,local): %s", n)
			}
			page := b.eval(t, `document.documentElement.outerHTML`)
			if strings.Contains(page, pageToken) || strings.Contains(page, strings.Split(pageToken, ".")[2]) {
				t.Fatal("the DOM holds the token after sign-out")
			}
			// The old token still verifies at the API until it expires; the
			// page simply no longer has it.
			b.shot(t, shots, "oidc-signed-out")
		}},
		{"a user with no role is told so", func(t *testing.T) {
			login(t, "nora")
			b.do(t, chromedp.WaitVisible(chromedp.ID("oidc-error")))
			want := "You are signed in at your identity provider, but your account has no Sidekey admin role (org_admin or domain_admin). " +
				"Ask your administrator to give your account the org admin or domain admin role."
			if got := b.text(t, "#oidc-error"); got != want {
				t.Fatalf("message %q", got)
			}
			if !b.visible(t, "#oidc-provider-signout") {
				t.Fatal("no way to sign out of the provider is offered")
			}
			if n := b.eval(t, `String(sessionStorage.length)`); n != "0" {
				t.Fatalf("sessionStorage holds %s items for a user with no role", n)
			}
			if b.visible(t, "#domain-view") {
				t.Fatal("the domain view is shown")
			}
			b.shot(t, shots, "oidc-no-role")
		}},
	}
	b.runSteps(t, vals, steps)
}

// waitJS waits until js is true, across navigations (an evaluation that
// meets a document being replaced is tried again), for at most stepTimeout.
func (b *browserT) waitJS(t *testing.T, js string) {
	t.Helper()
	const every = 50 * time.Millisecond
	for range int(stepTimeout / every) {
		ctx, cancel := context.WithTimeout(b.ctx, time.Second)
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && v {
			return
		}
		time.Sleep(every)
	}
	t.Fatalf("wait for %s: not true after %s; page state: %s", js, stepTimeout, b.state())
}

// TestBrowserOIDCProviderDown: with the provider down the page says so and
// offers to try again; once it is up, sign-in is offered.
func TestBrowserOIDCProviderDown(t *testing.T) {
	needChromium(t)
	p := oidctest.New(t, providerOptions())
	auth := providerAuth(p)
	auth.OIDC.DiscoveryRetry = 1
	env := startBackendAuth(t, auth)
	b := startBrowser(t, env.URL)
	b.do(t, chromedp.Navigate(env.URL+"/"), chromedp.WaitVisible(chromedp.ID("oidc-retry")))
	if got := b.text(t, "#oidc-error"); got != "The identity provider cannot be reached, so you cannot sign in right now. Try again in a moment." {
		t.Fatalf("message %q", got)
	}
	if b.visible(t, "#oidc-signin") || b.visible(t, "#signin-token") {
		t.Fatal("sign-in is offered while the provider is down")
	}
	b.shot(t, screenshotDir(t), "oidc-provider-down")
	p.Start(t)
	b.do(t, chromedp.Click(chromedp.ID("oidc-retry")), chromedp.WaitVisible(chromedp.ID("oidc-signin")))
	if b.visible(t, "#oidc-error") {
		t.Fatalf("the error stays after the provider came back: %q", b.text(t, "#oidc-error"))
	}
	b.checkConsole(t)
}
