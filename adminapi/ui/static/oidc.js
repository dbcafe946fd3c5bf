// OpenID Connect sign-in of the admin UI: the authorization code flow with
// PKCE (RFC 7636) as a public client, run in the browser.
//
// Rules this file keeps:
// - Only the ID token is kept (by app.js, in sessionStorage); the access
//   token of the token response is dropped.
// - The PKCE verifier, state and nonce live in sessionStorage from the
//   redirect to the provider until the redirect back, then are removed.
// - Text from the provider is returned for textContent, never as HTML.

const PENDING_KEY = 'sidekey.oidc.pending';

// SignInError is a failed sign-in; kind is 'provider' (unreachable),
// 'refused' (the provider said no) or 'state' (a response this tab did not
// ask for).
export class SignInError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

function b64url(bytes) {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString() {
  const b = new Uint8Array(32);
  crypto.getRandomValues(b);
  return b64url(b);
}

async function challengeOf(verifier) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return b64url(new Uint8Array(digest));
}

function withParams(endpoint, params) {
  return endpoint + (endpoint.includes('?') ? '&' : '?') + new URLSearchParams(params).toString();
}

// redirectURI is where the provider sends the browser back: the page itself.
export function redirectURI() {
  return location.origin + '/';
}

// isCallback reports whether the page was loaded by the provider's redirect.
export function isCallback() {
  const q = new URLSearchParams(location.search);
  return q.has('code') || q.has('error');
}

// startSignIn sends the browser to the provider's authorization endpoint.
export async function startSignIn(cfg) {
  const verifier = randomString();
  const state = randomString();
  const nonce = randomString();
  sessionStorage.setItem(PENDING_KEY, JSON.stringify({ verifier, state, nonce }));
  location.assign(withParams(cfg.authorization_endpoint, {
    response_type: 'code',
    client_id: cfg.client_id,
    redirect_uri: redirectURI(),
    scope: (cfg.scopes || ['openid']).join(' '),
    state,
    nonce,
    code_challenge: await challengeOf(verifier),
    code_challenge_method: 'S256',
  }));
}

function claimsOf(token) {
  try {
    const b64 = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
  } catch {
    return null;
  }
}

// finishSignIn completes the redirect back from the provider: it checks the
// state, redeems the code with the PKCE verifier at the token endpoint, and
// returns the ID token. The code and state leave the address bar first.
export async function finishSignIn(cfg) {
  const q = new URLSearchParams(location.search);
  const raw = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  history.replaceState(null, '', location.pathname);
  if (q.has('error')) {
    const why = q.get('error_description') || q.get('error');
    throw new SignInError('refused', `The identity provider did not sign you in (${why}).`);
  }
  let pending = null;
  try {
    pending = JSON.parse(raw || 'null');
  } catch {
    pending = null;
  }
  if (!pending || pending.state !== q.get('state')) {
    throw new SignInError('state', 'This sign-in was not started from this tab, or was already used. Sign in again.');
  }
  let res;
  try {
    res = await fetch(cfg.token_endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: q.get('code') || '',
        redirect_uri: redirectURI(),
        client_id: cfg.client_id,
        code_verifier: pending.verifier,
      }).toString(),
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
    });
  } catch {
    throw new SignInError('provider', 'The identity provider cannot be reached, so the sign-in could not finish. Try again in a moment.');
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok || !data || typeof data.id_token !== 'string') {
    const why = (data && (data.error_description || data.error)) || `HTTP ${res.status}`;
    throw new SignInError('refused', `The identity provider did not complete the sign-in (${why}). Sign in again.`);
  }
  const claims = claimsOf(data.id_token);
  if (!claims || claims.nonce !== pending.nonce) {
    throw new SignInError('state', 'The identity provider answered a sign-in this tab did not ask for. Sign in again.');
  }
  return data.id_token;
}

// signOutURL is the provider's end-session URL that returns to the page, or
// '' when the provider offers none.
export function signOutURL(cfg, idToken) {
  if (!cfg || !cfg.end_session_endpoint) return '';
  const params = { client_id: cfg.client_id, post_logout_redirect_uri: redirectURI() };
  if (idToken) params.id_token_hint = idToken;
  return withParams(cfg.end_session_endpoint, params);
}
