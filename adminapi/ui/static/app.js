// Sidekey admin UI: the Secrets section of Domain Settings and the Macro
// Manager's Secrets category (SPEC §5).
//
// Rules this file keeps:
// - The API token (the provider's ID token, or a pasted token when the
//   server trusts no provider) lives in sessionStorage (this tab only),
//   nowhere else, and is removed on sign-out.
// - Secret values go from the inputs straight into the request body. They are
//   never written into the DOM, and every value input is cleared when the
//   drawer closes, whether the request succeeded or not.
// - Everything from the API is rendered with textContent, never as HTML.
import { checkObject } from './jsoncheck.js';
import { SignInError, finishSignIn, isCallback, signOutURL, startSignIn } from './oidc.js';

const TOKEN_KEY = 'sidekey.token';
const RECENT_KEY = 'sidekey.recentDomains';
const ID_RE = /^[a-z0-9_-]{1,64}$/;
const ALIAS_RULE = 'Use 1–64 characters: lower-case letters a–z, digits 0–9, "_" and "-".';
const TYPE_LABELS = { token: 'Token', username_password: 'Username and password', json: 'JSON' };
const VALUE_INPUTS = ['f-token', 'f-username', 'f-password', 'f-json'];

// KIND_TEMPLATES are the fields of each credential kind (the server's
// internal/credential Template), offered in the JSON editor.
const KIND_TEMPLATES = {
  google_service_account: { type: 'service_account', client_email: 'sender@project.iam.gserviceaccount.com', private_key_id: '', private_key: '-----BEGIN PRIVATE KEY-----\n…\n-----END PRIVATE KEY-----\n', token_uri: 'https://oauth2.googleapis.com/token' },
  oauth2_client: { client_id: '', client_secret: '', token_url: 'https://login.example.com/oauth2/token', scopes: [], auth_style: 'header' },
  apns_key: { team_id: '', key_id: '', private_key: '-----BEGIN PRIVATE KEY-----\n…\n-----END PRIVATE KEY-----\n' },
  aws_credentials: { access_key_id: '', secret_access_key: '', session_token: '', region: 'us-east-1' },
  hmac_key: { key: '', encoding: 'raw' },
};
let kindTemplate = '';

// applyKindTemplate fills the JSON editor with the chosen kind's fields,
// unless the editor holds something the user typed.
function applyKindTemplate() {
  const kind = $('f-kind').value;
  const editor = $('f-json');
  if (editor.value.trim() !== '' && editor.value !== kindTemplate) return;
  kindTemplate = kind ? JSON.stringify(KIND_TEMPLATES[kind], null, 2) : '';
  editor.value = kindTemplate;
  updateJSON();
}

const $ = (id) => document.getElementById(id);

const state = {
  auth: { mode: 'token' }, // GET /v1/auth/config
  token: '',
  claims: null,
  org: '',
  domain: '',
  secrets: [],
  loadSeq: 0,
  mode: 'create', // or 'edit'
  editing: null, // the secret being rotated
  archiving: '', // the alias in the archive dialog
  opener: null, // the element focused before a drawer or dialog opened
  busy: false,
  providerSignOut: '', // the provider's end-session URL offered after a refused sign-in
};

// ---------------------------------------------------------------- errors

class APIError extends Error {
  constructor(status, code, message, fields) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields;
  }
}

// plainWords turns an API error into a sentence for a person. Server
// messages never contain a value (SPEC §1), so unknown codes show them.
function plainWords(err, what) {
  if (!(err instanceof APIError)) return 'Something went wrong in this page. Reload it and try again.';
  switch (err.code) {
    case 'network':
      return 'The Sidekey admin API cannot be reached. Check your connection and try again.';
    case 'unauthenticated':
      return 'Your session has expired or the token is no longer valid. Sign in again.';
    case 'forbidden':
      return `Your token does not allow you to manage domain "${state.domain}" of org "${state.org}".`;
    case 'not_found':
      return what === 'list' ? `Domain "${state.domain}" was not found.` : 'This secret no longer exists: it may have been archived by someone else.';
    case 'alias_taken':
      return 'An active secret in this domain already uses this alias. Choose another alias, or edit the existing secret.';
    case 'type_locked':
      return 'The alias and type of a secret cannot be changed. Archive it and add a new one instead.';
    case 'payload_too_large':
      return 'The value is too large to store.';
    case 'auth_unavailable':
      return 'The identity provider cannot be reached, so your sign-in cannot be checked. Try again in a moment.';
    case 'store_unavailable':
      return 'The secret store (Vault) is unavailable right now. Nothing was changed; try again in a moment.';
    case 'invalid_request':
      return 'Some fields need attention.';
    default:
      if (err.status >= 500) return `The server had a problem (HTTP ${err.status}). Try again in a moment.`;
      return err.message ? `The request was refused: ${err.message}` : `The request was refused (HTTP ${err.status}).`;
  }
}

// fieldErrors returns the per-field messages of an invalid_request error as
// a Map of field name to message; the API may send an object or a list.
function fieldErrors(err) {
  const out = new Map();
  const f = err && err.fields;
  if (Array.isArray(f)) {
    for (const e of f) if (e && e.field) out.set(String(e.field), String(e.message || 'is invalid'));
  } else if (f && typeof f === 'object') {
    for (const [k, v] of Object.entries(f)) out.set(k, String(v));
  }
  return out;
}

// ---------------------------------------------------------------- API

async function api(method, path, body) {
  const url = `/v1/orgs/${encodeURIComponent(state.org)}/domains/${encodeURIComponent(state.domain)}${path}`;
  const token = state.token;
  const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json' };
  const init = { method, headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = body;
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch {
    throw new APIError(0, 'network', 'network error');
  }
  const text = await res.text().catch(() => '');
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const e = (data && data.error) || {};
    const err = new APIError(res.status, e.code || statusCode(res.status), e.message || '', e.fields);
    // A late answer to a session that has already ended changes nothing.
    if (err.code === 'unauthenticated' && token === state.token) expireSession();
    throw err;
  }
  return data;
}

function statusCode(status) {
  return { 401: 'unauthenticated', 403: 'forbidden', 404: 'not_found', 413: 'payload_too_large', 503: 'store_unavailable' }[status] || 'http_' + status;
}

// ---------------------------------------------------------------- session

// checkTokenShape refuses, before any call, what cannot be a token and a
// token that has expired. The server verifies the token and maps its
// claims (GET /v1/session); the page trusts that answer only to lay itself
// out.
function checkTokenShape(token) {
  const parts = token.split('.');
  if (parts.length !== 3) throw new Error('This is not an API token: a token has three parts separated by dots.');
  let claims;
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
  } catch {
    throw new Error('This token cannot be read. Paste the whole token, without quotes or spaces.');
  }
  if (!claims || typeof claims !== 'object') throw new Error('This token cannot be read.');
  if (typeof claims.exp === 'number' && claims.exp * 1000 <= Date.now()) {
    throw new Error(`This token expired on ${formatDate(new Date(claims.exp * 1000).toISOString())}. Ask for a new one.`);
  }
}

// sessionClaims returns the claims of a GET /v1/session answer, or null.
function sessionClaims(data) {
  if (!data || (data.role !== 'org_admin' && data.role !== 'domain_admin')) return null;
  if (typeof data.org !== 'string' || !ID_RE.test(data.org)) return null;
  const domains = Array.isArray(data.domains) ? data.domains.filter((d) => typeof d === 'string' && ID_RE.test(d)) : [];
  return { sub: String(data.sub || ''), role: data.role, org: data.org, domains };
}

// signIn starts a session with a pasted token (no provider configured).
// It rejects with an Error whose message is for the person.
async function signIn(token, { fromStorage = false } = {}) {
  checkTokenShape(token);
  let r;
  try {
    r = await getJSON('/v1/session', token);
  } catch {
    throw new Error(API_DOWN);
  }
  const claims = r.status === 200 ? sessionClaims(r.data) : null;
  if (claims) {
    enterSession(token, claims, { fromStorage });
    return;
  }
  const err = (r.data && r.data.error) || {};
  // A token the server refused is of no further use: the field is emptied.
  const refused = (message) => Object.assign(new Error(message), { refused: true });
  if (r.status === 401) throw refused('Your session has expired or the token is no longer valid. Sign in again.');
  if (r.status === 403 || r.status === 200) {
    throw refused(`This token gives no admin access: ${err.message || 'its claims give no admin role, org or domains'}.`);
  }
  throw new Error(`The server had a problem (HTTP ${r.status}). Try again in a moment.`);
}

// enterSession shows the Domain Settings of claims, kept with the token.
function enterSession(token, claims, { fromStorage = false } = {}) {
  state.token = token;
  state.claims = claims;
  state.org = claims.org;
  sessionStorage.setItem(TOKEN_KEY, token);
  $('session-sub').textContent = claims.sub || 'admin';
  $('session-role').textContent = claims.role === 'org_admin' ? 'Org admin' : 'Domain admin';
  $('session').hidden = false;
  $('signin-view').hidden = true;
  $('domain-view').hidden = false;
  setupPicker();
  route({ focus: !fromStorage });
}

// clearSession forgets the token and everything shown for it.
function clearSession() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(RECENT_KEY);
  state.token = '';
  state.claims = null;
  state.org = '';
  state.domain = '';
  state.secrets = [];
  state.loadSeq++;
  closeDrawer();
  closeArchive();
  $('secrets-body').replaceChildren();
  $('macro-list').replaceChildren();
  $('session').hidden = true;
  $('domain-view').hidden = true;
  if (location.hash) history.replaceState(null, '', location.pathname);
}

function signOut(message) {
  clearSession();
  showSignIn(message);
}

// showSignIn shows the sign-in of the server's mode: the provider's button,
// or the token form.
function showSignIn(message, { retry = false, providerSignOut = '' } = {}) {
  $('signin-view').hidden = false;
  const oidc = state.auth.mode !== 'token';
  $('signin-form').hidden = oidc;
  $('oidc-card').hidden = !oidc;
  if (!oidc) {
    $('signin-token').value = '';
    showFieldError('signin-error', message || '');
    $('signin-token').focus();
    return;
  }
  state.providerSignOut = providerSignOut;
  $('oidc-error').textContent = message || '';
  $('oidc-error').hidden = !message;
  // Without the provider's endpoints (it could not be reached) there is
  // nothing to sign in with yet.
  $('oidc-signin').hidden = state.auth.mode !== 'oidc' || !state.auth.authorization_endpoint;
  $('oidc-retry').hidden = !retry;
  $('oidc-provider-signout').hidden = !providerSignOut;
  if (state.auth.mode === 'unconfigured') {
    $('oidc-text').textContent = 'This console accepts tokens from your identity provider, but sign-in is not set up for it: the server has no client id. Ask your administrator.';
  }
  const focus = retry ? $('oidc-retry') : $('oidc-signin');
  if (!focus.hidden) focus.focus();
}

function expireSession() {
  if (state.auth.mode === 'oidc') {
    signOut('Your session has expired. Sign in again.');
    return;
  }
  signOut('Your session has expired or the token is no longer valid. Sign in again.');
}

// ---------------------------------------------------------------- provider sign-in

// getJSON calls an API path outside a tenant; it resolves to the status and
// the decoded body, or rejects with a network APIError.
async function getJSON(path, token) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, { headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' });
  } catch {
    throw new APIError(0, 'network', 'network error');
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  return { status: res.status, data };
}

const PROVIDER_DOWN = 'The identity provider cannot be reached, so you cannot sign in right now. Try again in a moment.';
const API_DOWN = 'The Sidekey admin API cannot be reached. Check your connection and try again.';

// providerSession asks the API who the token's holder is and enters the
// session, or explains why not.
async function providerSession(token, { fromStorage = false } = {}) {
  let r;
  try {
    r = await getJSON('/v1/session', token);
  } catch {
    showSignIn(API_DOWN, { retry: true });
    return;
  }
  const err = (r.data && r.data.error) || {};
  const claims = r.status === 200 ? sessionClaims(r.data) : null;
  if (claims) {
    enterSession(token, claims, { fromStorage });
    return;
  }
  clearSession();
  if (err.code === 'auth_unavailable') {
    showSignIn(PROVIDER_DOWN, { retry: true });
  } else if (r.status === 403) {
    const why = err.message || 'your account has no Sidekey admin role';
    showSignIn(`You are signed in at your identity provider, but ${why}. Ask your administrator to give your account the org admin or domain admin role.`,
      { providerSignOut: signOutURL(state.auth, token) });
  } else if (r.status === 401) {
    showSignIn(fromStorage ? 'Your session has expired. Sign in again.' : `The identity provider's token was not accepted (${err.message || 'unauthenticated'}). Sign in again.`);
  } else {
    showSignIn(`The server had a problem (HTTP ${r.status}). Try again in a moment.`, { retry: true });
  }
}

// boot reads how to sign in, finishes a redirect back from the provider or
// resumes this tab's session, and otherwise shows the sign-in.
async function boot() {
  $('boot').hidden = false;
  $('signin-view').hidden = true;
  let r;
  try {
    r = await getJSON('/v1/auth/config');
  } catch {
    $('boot').hidden = true;
    state.auth = { mode: 'oidc' };
    showSignIn(API_DOWN, { retry: true });
    return;
  }
  $('boot').hidden = true;
  if (r.status === 503) {
    state.auth = { mode: 'oidc' };
    showSignIn(PROVIDER_DOWN, { retry: true });
    return;
  }
  state.auth = r.status === 200 && r.data && r.data.mode ? r.data : { mode: 'token' };
  if (state.auth.mode === 'oidc' && isCallback()) {
    let token;
    try {
      token = await finishSignIn(state.auth);
    } catch (err) {
      clearSession();
      showSignIn(err instanceof SignInError ? err.message : 'The sign-in could not finish. Sign in again.',
        { retry: err instanceof SignInError && err.kind === 'provider' });
      return;
    }
    await providerSession(token);
    return;
  }
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (state.auth.mode === 'token') {
    if (saved) {
      try {
        await signIn(saved, { fromStorage: true });
      } catch (err) {
        signOut(err.message);
      }
      return;
    }
    signOut('');
    return;
  }
  if (saved && state.auth.mode === 'oidc') {
    await providerSession(saved, { fromStorage: true });
    return;
  }
  signOut('');
}

// onSignOut ends the session here, then at the provider when it offers it.
function onSignOut() {
  const url = state.auth.mode === 'oidc' ? signOutURL(state.auth, state.token) : '';
  signOut('');
  if (url) location.assign(url);
}

// ---------------------------------------------------------------- picker and routing

function recentDomains() {
  try {
    const list = JSON.parse(sessionStorage.getItem(RECENT_KEY) || '[]');
    return Array.isArray(list) ? list.filter((d) => typeof d === 'string' && ID_RE.test(d)) : [];
  } catch {
    return [];
  }
}

function rememberDomain(domain) {
  const list = [domain, ...recentDomains().filter((d) => d !== domain)].slice(0, 20);
  sessionStorage.setItem(RECENT_KEY, JSON.stringify(list));
  fillDomainOptions();
}

function fillDomainOptions() {
  const seen = new Set();
  const opts = [];
  for (const d of [...state.claims.domains, ...recentDomains()]) {
    if (seen.has(d)) continue;
    seen.add(d);
    const o = document.createElement('option');
    o.value = d;
    opts.push(o);
  }
  $('domain-options').replaceChildren(...opts);
}

// setupPicker shows a select of the token's domains to a domain admin, and
// a typed domain id (suggesting the token's and this tab's recent domains)
// to an org admin, who manages every domain of the org.
function setupPicker() {
  const c = state.claims;
  $('org-name').textContent = c.org;
  const isOrgAdmin = c.role === 'org_admin';
  $('domain-select').hidden = isOrgAdmin;
  $('domain-typed').hidden = !isOrgAdmin;
  $('domain-hint').hidden = !isOrgAdmin;
  $('domain-select-label').htmlFor = isOrgAdmin ? 'domain-input' : 'domain-select';
  if (isOrgAdmin) {
    fillDomainOptions();
  } else {
    $('domain-select').replaceChildren(...c.domains.map((d) => {
      const o = document.createElement('option');
      o.value = d;
      o.textContent = d;
      return o;
    }));
  }
}

function parseHash() {
  const m = /^#\/orgs\/([^/]+)\/domains\/([^/]+)$/.exec(location.hash);
  if (!m) return null;
  try {
    return { org: decodeURIComponent(m[1]), domain: decodeURIComponent(m[2]) };
  } catch {
    return null;
  }
}

function hashFor(domain) {
  return `#/orgs/${encodeURIComponent(state.org)}/domains/${encodeURIComponent(domain)}`;
}

function goToDomain(domain) {
  if (location.hash === hashFor(domain)) route({ focus: true });
  else location.hash = hashFor(domain);
}

// route opens the domain named by the URL, or the first one the token
// allows; a domain admin never gets a page for a domain outside the token.
function route({ focus = false } = {}) {
  if (!state.claims) return;
  const c = state.claims;
  showFieldError('domain-error', '');
  let target = parseHash();
  if (target && target.org !== c.org) {
    showFieldError('domain-error', `This token is for org "${c.org}", not "${target.org}".`);
    target = null;
  }
  let domain = target ? target.domain : '';
  if (domain && !ID_RE.test(domain)) {
    showFieldError('domain-error', 'That is not a valid domain id.');
    domain = '';
  }
  if (domain && c.role === 'domain_admin' && !c.domains.includes(domain)) {
    showFieldError('domain-error', `Your token does not include domain "${domain}".`);
    domain = '';
  }
  if (!domain) {
    domain = c.role === 'domain_admin' ? c.domains[0] : (c.domains[0] || recentDomains()[0] || '');
    if (domain) {
      history.replaceState(null, '', hashFor(domain));
    }
  }
  if (!domain) {
    state.domain = '';
    $('domain-body').hidden = true;
    $('domain-input').value = '';
    $('domain-input').focus();
    return;
  }
  openDomain(domain, focus);
}

function openDomain(domain, focus) {
  closeDrawer();
  closeArchive();
  state.domain = domain;
  if (state.claims.role === 'org_admin') {
    $('domain-input').value = domain;
    rememberDomain(domain);
  } else {
    $('domain-select').value = domain;
  }
  $('page-domain').textContent = domain;
  $('secrets-caption').textContent = `Secrets of domain ${domain}`;
  document.title = `Secrets · ${domain} · Sidekey admin`;
  $('domain-body').hidden = false;
  loadAll();
  if (focus) $('page-title').focus();
}

// ---------------------------------------------------------------- list

function showBanner(message, retry) {
  $('banner-text').textContent = message;
  $('banner-retry').hidden = !retry;
  $('banner').hidden = !message;
}

async function loadAll() {
  await Promise.all([loadSecrets(), loadMacros()]);
}

async function loadSecrets() {
  const seq = ++state.loadSeq;
  showBanner('');
  $('secrets-loading').hidden = false;
  $('secrets-empty').hidden = true;
  $('secrets-table').hidden = true;
  $('secrets-count').textContent = '';
  $('add-secret').disabled = false;
  try {
    const data = await api('GET', '/secrets');
    if (seq !== state.loadSeq) return;
    state.secrets = Array.isArray(data && data.secrets) ? data.secrets : [];
    renderSecrets();
  } catch (err) {
    if (seq !== state.loadSeq) return;
    state.secrets = [];
    $('secrets-body').replaceChildren();
    $('secrets-count').textContent = '';
    if (err.code !== 'unauthenticated') showBanner(plainWords(err, 'list'), err.code !== 'forbidden');
    $('add-secret').disabled = err.code === 'forbidden';
  } finally {
    if (seq === state.loadSeq) $('secrets-loading').hidden = true;
  }
}

function renderSecrets() {
  const list = [...state.secrets].sort((a, b) => (a.alias < b.alias ? -1 : a.alias > b.alias ? 1 : 0));
  const tpl = $('row-template');
  const rows = list.map((s) => {
    const tr = tpl.content.firstElementChild.cloneNode(true);
    tr.dataset.alias = s.alias;
    tr.querySelector('.alias').textContent = s.alias;
    const hosts = Array.isArray(s.allowed_hosts) ? s.allowed_hosts : [];
    const hostsEl = tr.querySelector('.hosts');
    if (hosts.length) hostsEl.textContent = `Only for ${hosts.join(', ')}`;
    else hostsEl.remove();
    const badge = tr.querySelector('.type-badge');
    badge.textContent = TYPE_LABELS[s.type] || s.type;
    badge.dataset.type = s.type;
    const t = tr.querySelector('.updated');
    t.dateTime = s.updated_at || '';
    t.textContent = formatDate(s.updated_at);
    t.title = s.updated_at ? `${s.updated_at} · version ${s.version ?? '?'}` : '';
    const edit = tr.querySelector('[data-action="edit"]');
    edit.setAttribute('aria-label', `Edit ${s.alias}`);
    const archive = tr.querySelector('[data-action="archive"]');
    archive.setAttribute('aria-label', `Archive ${s.alias}`);
    return tr;
  });
  $('secrets-body').replaceChildren(...rows);
  $('secrets-table').hidden = rows.length === 0;
  $('secrets-empty').hidden = rows.length !== 0;
  $('secrets-count').textContent = rows.length === 0 ? '' : rows.length === 1 ? '1 active secret' : `${rows.length} active secrets`;
}

function formatDate(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }).format(d);
}

// ---------------------------------------------------------------- Macro Manager

// normalizeMacros reads GET …/macros: {"category": "Secrets", "macros":
// [{"alias", "type", "field"?, "filter"?, "reference", "label"}]}.
function normalizeMacros(data) {
  const out = [];
  for (const m of Array.isArray(data && data.macros) ? data.macros : []) {
    if (!m || typeof m.reference !== 'string' || !m.reference) continue;
    const alias = typeof m.alias === 'string' && m.alias ? m.alias : (/secrets\.([a-z0-9_-]+)/.exec(m.reference) || [])[1] || '';
    out.push({ alias, type: String(m.type || ''), kind: String(m.kind || ''), field: String(m.field || ''), filter: String(m.filter || ''), reference: m.reference, label: String(m.label || '') });
  }
  return out;
}

// shortLabel is the hint shown beside a reference whose text alone does
// not say what it inserts.
function shortLabel(m) {
  if (m.filter === 'basic') return 'Basic auth';
  if (m.filter) return m.filter;
  if (m.kind) return m.reference.startsWith('Sidekey-Sign:') ? 'request header' : 'derived token';
  if (m.type === 'json' && !m.field) return 'whole object';
  return '';
}

async function loadMacros() {
  const seq = state.loadSeq;
  $('macro-error').hidden = true;
  try {
    const data = await api('GET', '/macros');
    if (seq !== state.loadSeq) return;
    renderMacros(normalizeMacros(data));
  } catch (err) {
    if (seq !== state.loadSeq) return;
    $('macro-list').replaceChildren();
    $('macro-empty').hidden = true;
    if (err.code !== 'unauthenticated' && err.code !== 'forbidden') showFieldError('macro-error', `The references could not be loaded. ${plainWords(err, 'list')}`);
  }
}

// renderMacros lists the references grouped by secret, each a button that
// copies it.
function renderMacros(macros) {
  const groups = new Map();
  for (const m of macros) {
    if (!groups.has(m.alias)) groups.set(m.alias, []);
    groups.get(m.alias).push(m);
  }
  const items = [...groups].map(([alias, refs]) => {
    const li = $('macro-group-template').content.firstElementChild.cloneNode(true);
    li.querySelector('.alias').textContent = alias;
    const badge = li.querySelector('.type-badge');
    badge.textContent = TYPE_LABELS[refs[0].type] || refs[0].type;
    badge.dataset.type = refs[0].type;
    li.querySelector('.macro-chips').replaceChildren(...refs.map((m) => {
      const btn = $('macro-template').content.firstElementChild.cloneNode(true);
      btn.dataset.reference = m.reference;
      btn.title = m.label ? `${m.label}: click to copy` : 'Click to copy';
      btn.setAttribute('aria-label', `Copy ${m.reference}${m.label ? `, ${m.label}` : ''}`);
      btn.querySelector('.macro-ref').textContent = m.reference;
      const hint = shortLabel(m);
      if (hint) btn.querySelector('.macro-label').textContent = hint;
      else btn.querySelector('.macro-label').remove();
      return btn;
    }));
    return li;
  });
  $('macro-list').replaceChildren(...items);
  $('macro-empty').hidden = items.length !== 0;
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Plain-HTTP origins other than localhost have no Clipboard API.
  const ta = document.createElement('textarea');
  ta.value = text;
  ta.setAttribute('readonly', '');
  ta.className = 'offscreen';
  document.body.append(ta);
  ta.select();
  const ok = document.execCommand('copy');
  ta.remove();
  if (!ok) throw new Error('copy refused');
}

async function onMacroClick(ev) {
  const btn = ev.target.closest('.macro-copy');
  if (!btn) return;
  const ref = btn.dataset.reference;
  try {
    await copyText(ref);
    for (const b of document.querySelectorAll('.macro-copy.copied')) b.classList.remove('copied');
    btn.classList.add('copied');
    btn.querySelector('.macro-action').textContent = 'Copied';
    toast(`Copied ${ref}`);
    setTimeout(() => {
      btn.classList.remove('copied');
      btn.querySelector('.macro-action').textContent = 'Copy';
    }, 2000);
  } catch {
    toast('The browser refused to copy. Select the reference and copy it by hand.');
  }
}

// ---------------------------------------------------------------- toast

let toastTimer = 0;
function toast(message) {
  const t = $('toast');
  t.textContent = message;
  t.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.remove('show'), 4000);
}

// ---------------------------------------------------------------- drawer

function showFieldError(id, message) {
  const el = $(id);
  el.textContent = message;
  el.hidden = !message;
  const input = el.id.endsWith('-error') ? $(el.id.slice(0, -'-error'.length)) : null;
  if (input && input.matches('input, select, textarea')) {
    if (message) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }
}

function clearValues() {
  for (const id of VALUE_INPUTS) $(id).value = '';
  for (const b of document.querySelectorAll('[data-reveal]')) setReveal(b, false);
}

function setReveal(btn, on) {
  $(btn.dataset.reveal).type = on ? 'text' : 'password';
  btn.setAttribute('aria-pressed', String(on));
  btn.firstChild.textContent = on ? 'Hide' : 'Show';
}

function currentType() {
  return $('f-type').value;
}

function showTypeFields() {
  const type = currentType();
  for (const el of document.querySelectorAll('[data-for-type]')) el.hidden = el.dataset.forType !== type;
  if (type === 'json') updateJSON();
  updateSubmit();
}

// Validation as you type: each check returns a message, or '' when fine.
// "touched" fields show their message; Submit shows every message.
const touched = new Set();

function aliasMessage() {
  const a = $('f-alias').value;
  if (state.mode === 'edit') return '';
  if (!a) return 'Enter an alias.';
  if (!ID_RE.test(a)) return ALIAS_RULE;
  if (state.secrets.some((s) => s.alias === a)) return 'An active secret in this domain already uses this alias.';
  return '';
}

function valueMessages() {
  const m = {};
  switch (currentType()) {
    case 'token':
      if (!$('f-token').value) m['f-token'] = 'Enter the token.';
      break;
    case 'username_password':
      if (!$('f-password').value) m['f-password'] = 'Enter the password.';
      break;
    case 'json':
      break;
  }
  return m;
}

function hostsList() {
  return $('f-hosts').value.split(/[\s,]+/).map((h) => h.trim().toLowerCase()).filter(Boolean);
}

const LABEL_RE = /^[a-z0-9_-]{1,63}$/;
function hostsMessage() {
  for (const h of hostsList()) {
    const name = h.startsWith('*.') ? h.slice(2) : h;
    if (name.includes('*')) return `"${h}": a wildcard is allowed only as a leading "*.".`;
    if (h.length > 253 || !name || !name.split('.').every((l) => LABEL_RE.test(l))) {
      return `"${h}" is not a host name such as api.example.com or *.example.com (no scheme, port or path).`;
    }
  }
  return '';
}

let jsonResult = { ok: false, empty: true };
function updateJSON() {
  const text = $('f-json').value;
  jsonResult = checkObject(text);
  renderGutter(text, jsonResult.ok || jsonResult.empty ? 0 : jsonResult.line);
  const status = $('f-json-status');
  status.classList.toggle('is-error', !jsonResult.ok && !jsonResult.empty);
  status.classList.toggle('is-ok', jsonResult.ok);
  if (jsonResult.ok) {
    const n = jsonResult.keys.length;
    status.textContent = `Valid JSON object with ${n} top-level ${n === 1 ? 'key' : 'keys'}.`;
    $('f-json').removeAttribute('aria-invalid');
  } else if (jsonResult.empty) {
    status.textContent = touched.has('f-json') ? 'Enter a JSON object, such as {"client_id": "…"}.' : '';
    $('f-json').toggleAttribute('aria-invalid', touched.has('f-json'));
  } else {
    status.textContent = `Line ${jsonResult.line}, column ${jsonResult.column}: ${jsonResult.message}.`;
    $('f-json').setAttribute('aria-invalid', 'true');
  }
  updateSubmit();
}

// renderGutter shows line numbers beside the editor, marking the error
// line. It writes numbers only, never the text.
function renderGutter(text, errorLine) {
  let lines = 1;
  for (let k = 0; k < text.length; k++) if (text.charCodeAt(k) === 0x0a) lines++;
  const g = $('f-json-gutter');
  const nodes = [];
  for (let n = 1; n <= lines; n++) {
    const d = document.createElement('div');
    d.textContent = String(n);
    if (n === errorLine) d.className = 'is-error';
    nodes.push(d);
  }
  g.replaceChildren(...nodes);
  g.scrollTop = $('f-json').scrollTop;
}

// jsonBlocks reports whether the JSON editor holds text that is not a JSON
// object: Submit stays disabled until it is fixed.
function jsonBlocks() {
  return currentType() === 'json' && !jsonResult.ok && !jsonResult.empty;
}

function updateSubmit() {
  $('drawer-submit').disabled = state.busy || jsonBlocks();
}

function validateField(id) {
  switch (id) {
    case 'f-alias':
      showFieldError('f-alias-error', touched.has(id) ? aliasMessage() : '');
      break;
    case 'f-hosts':
      showFieldError('f-hosts-error', touched.has(id) ? hostsMessage() : '');
      break;
    case 'f-token':
    case 'f-password':
      showFieldError(`${id}-error`, touched.has(id) ? valueMessages()[id] || '' : '');
      break;
    case 'f-json':
      updateJSON();
      break;
  }
}

function updateAliasRef() {
  const a = $('f-alias').value;
  $('f-alias-ref').textContent = `{{secrets.${a && ID_RE.test(a) ? a : 'alias'}}}`;
}

// onAliasInput lower-cases the alias as it is typed, keeping the caret.
function onAliasInput() {
  const input = $('f-alias');
  const lower = input.value.toLowerCase();
  if (lower !== input.value) {
    const { selectionStart, selectionEnd } = input;
    input.value = lower;
    input.setSelectionRange(selectionStart, selectionEnd);
  }
  touched.add('f-alias');
  validateField('f-alias');
  updateAliasRef();
}

function resetForm() {
  touched.clear();
  clearValues();
  $('f-alias').value = '';
  $('f-hosts').value = '';
  $('f-type').value = 'token';
  $('f-kind').value = '';
  kindTemplate = '';
  for (const id of ['f-alias-error', 'f-token-error', 'f-username-error', 'f-password-error', 'f-hosts-error']) showFieldError(id, '');
  $('form-error').hidden = true;
  $('form-error').textContent = '';
  state.busy = false;
  jsonResult = { ok: false, empty: true };
  updateJSON();
}

function openDrawer(mode, secret) {
  state.opener = document.activeElement;
  state.mode = mode;
  state.editing = secret || null;
  resetForm();
  const edit = mode === 'edit';
  $('drawer-title').textContent = edit ? 'Edit Secret' : 'Add Secret';
  $('drawer-desc').textContent = edit
    ? `Rotate the value of ${secret.alias}. The new value is used by every sidecar within seconds.`
    : `Stored in Vault for domain ${state.domain}.`;
  $('write-only-text').textContent = edit
    ? 'Enter the new value. Once submitted, it replaces the stored value and you will not be able to view it.'
    : 'Once created, you will not be able to view the stored value. Sidekey only injects it into outgoing requests; keep your own copy where you manage credentials.';
  const alias = $('f-alias');
  alias.readOnly = edit;
  alias.setAttribute('aria-readonly', String(edit));
  $('f-type').disabled = edit;
  $('f-kind').disabled = edit;
  $('f-locked-hint').hidden = !edit;
  $('f-alias-rule').hidden = edit;
  if (edit) {
    alias.value = secret.alias;
    $('f-type').value = secret.type;
    $('f-kind').value = secret.kind || '';
    $('f-hosts').value = (secret.allowed_hosts || []).join(', ');
  }
  updateAliasRef();
  showTypeFields();
  $('drawer').showModal();
  (edit ? firstValueInput() : alias).focus();
}

function firstValueInput() {
  return { token: $('f-token'), username_password: $('f-username'), json: $('f-json') }[currentType()];
}

// closeDrawer closes the drawer and clears every value input. The work is
// done here, synchronously, not in the dialog's "close" event, which fires
// later and could land after the drawer has been opened again.
function closeDrawer() {
  const d = $('drawer');
  clearValues();
  if (!d.open) return;
  resetForm();
  state.editing = null;
  d.close();
  restoreFocus();
}

function restoreFocus() {
  const el = state.opener;
  state.opener = null;
  if (el && el.isConnected && typeof el.focus === 'function') el.focus();
  else if (!$('domain-body').hidden) $('add-secret').focus();
}

// requestBody builds the JSON body by hand so that a JSON secret is sent as
// typed (JSON.parse and JSON.stringify would change large numbers).
function requestBody() {
  const type = currentType();
  const meta = state.mode === 'edit' ? {} : { alias: $('f-alias').value, type };
  if (state.mode !== 'edit' && type === 'json' && $('f-kind').value) meta.kind = $('f-kind').value;
  meta.allowed_hosts = hostsList();
  let value;
  switch (type) {
    case 'token':
      value = JSON.stringify({ token: $('f-token').value });
      break;
    case 'username_password':
      value = JSON.stringify({ username: $('f-username').value, password: $('f-password').value });
      break;
    default:
      value = `{"json":${$('f-json').value.trim()}}`;
  }
  return `${JSON.stringify(meta).slice(0, -1)},"value":${value}}`;
}

async function onSubmit(ev) {
  ev.preventDefault();
  if (state.busy) return;
  for (const id of ['f-alias', 'f-token', 'f-password', 'f-hosts', 'f-json']) {
    touched.add(id);
    validateField(id);
  }
  const problems = [];
  if (aliasMessage()) problems.push($('f-alias'));
  const vm = valueMessages();
  for (const id of Object.keys(vm)) problems.push($(id));
  if (currentType() === 'json' && !jsonResult.ok) problems.push($('f-json'));
  if (hostsMessage()) problems.push($('f-hosts'));
  if (problems.length) {
    problems[0].focus();
    return;
  }
  const edit = state.mode === 'edit';
  const alias = edit ? state.editing.alias : $('f-alias').value;
  const body = requestBody();
  state.busy = true;
  updateSubmit();
  $('drawer-submit').textContent = 'Saving…';
  $('form-error').hidden = true;
  try {
    if (edit) await api('PUT', `/secrets/${encodeURIComponent(alias)}`, body);
    else await api('POST', '/secrets', body);
    closeDrawer();
    toast(edit ? `Secret ${alias} rotated.` : `Secret ${alias} created.`);
    loadAll();
  } catch (err) {
    if (err.code === 'unauthenticated') return;
    showSubmitError(err);
  } finally {
    state.busy = false;
    $('drawer-submit').textContent = 'Submit';
    updateSubmit();
  }
}

// showSubmitError puts the API's words next to the fields they concern.
function showSubmitError(err) {
  const fields = fieldErrors(err);
  let placed = false;
  const target = { alias: 'f-alias-error', 'value.token': 'f-token-error', 'value.username': 'f-username-error', 'value.password': 'f-password-error' };
  for (const [field, message] of fields) {
    if (target[field]) {
      showFieldError(target[field], capitalize(message));
      placed = true;
    } else if (field.startsWith('allowed_hosts')) {
      showFieldError('f-hosts-error', capitalize(message));
      placed = true;
    } else if (field === 'value.json') {
      const s = $('f-json-status');
      s.textContent = capitalize(message);
      s.classList.add('is-error');
      placed = true;
    }
  }
  if (err.code === 'alias_taken') {
    // Someone else created it meanwhile: say so, and show it in the list.
    showFieldError('f-alias-error', 'An active secret in this domain already uses this alias. Choose another alias, or edit the existing secret.');
    $('f-alias').focus();
    loadAll();
    return;
  }
  const box = $('form-error');
  const other = [...fields].filter(([f]) => !target[f] && !f.startsWith('allowed_hosts') && f !== 'value.json');
  box.textContent = plainWords(err, 'write') + (other.length ? ' ' + other.map(([f, m]) => `${f}: ${m}`).join('; ') : '');
  box.hidden = placed && other.length === 0 && err.code === 'invalid_request';
  if (!box.hidden) box.focus();
}

function capitalize(s) {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}

// ---------------------------------------------------------------- archive

function openArchive(alias) {
  state.opener = document.activeElement;
  state.archiving = alias;
  $('archive-alias').textContent = alias;
  showFieldError('archive-error', '');
  $('archive-confirm').disabled = false;
  $('archive-dialog').showModal();
  $('archive-cancel').focus();
}

function closeArchive() {
  const d = $('archive-dialog');
  if (!d.open) return;
  state.archiving = '';
  d.close();
  restoreFocus();
}

async function onArchiveConfirm() {
  const alias = state.archiving;
  if (!alias) return;
  $('archive-confirm').disabled = true;
  try {
    await api('DELETE', `/secrets/${encodeURIComponent(alias)}`);
  } catch (err) {
    if (err.code === 'unauthenticated') return;
    if (err.code !== 'not_found') {
      showFieldError('archive-error', plainWords(err, 'archive'));
      $('archive-confirm').disabled = false;
      return;
    }
  }
  state.secrets = state.secrets.filter((s) => s.alias !== alias);
  state.opener = null; // its row is about to go: focus falls back to Add Secret
  closeArchive();
  renderSecrets();
  toast(`Secret ${alias} archived.`);
  loadMacros();
  $('add-secret').focus();
}

// ---------------------------------------------------------------- focus trap

function focusables(root) {
  return [...root.querySelectorAll('button, input, select, textarea, a[href], [tabindex]:not([tabindex="-1"])')]
    .filter((el) => !el.disabled && !el.hidden && el.getClientRects().length > 0);
}

// trapFocus keeps Tab and Shift+Tab inside an open modal.
function trapFocus(ev) {
  if (ev.key !== 'Tab') return;
  const items = focusables(ev.currentTarget);
  if (items.length === 0) return;
  const first = items[0];
  const last = items[items.length - 1];
  if (ev.shiftKey && (document.activeElement === first || !ev.currentTarget.contains(document.activeElement))) {
    ev.preventDefault();
    last.focus();
  } else if (!ev.shiftKey && document.activeElement === last) {
    ev.preventDefault();
    first.focus();
  }
}

// ---------------------------------------------------------------- wiring

function init() {
  $('signin-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = $('signin-token');
    const token = input.value.trim();
    if (!token) {
      showFieldError('signin-error', 'Paste your API token.');
      input.focus();
      return;
    }
    $('signin-submit').disabled = true;
    signIn(token).then(() => {
      input.value = '';
      showFieldError('signin-error', '');
    }, (err) => {
      if (err.refused) input.value = '';
      showFieldError('signin-error', err.message);
      input.focus();
    }).finally(() => {
      $('signin-submit').disabled = false;
    });
  });
  $('sign-out').addEventListener('click', onSignOut);
  $('oidc-signin').addEventListener('click', () => {
    $('oidc-signin').disabled = true;
    startSignIn(state.auth).catch(() => {
      $('oidc-signin').disabled = false;
      showSignIn('This browser cannot start the sign-in (it needs a secure context for PKCE).');
    });
  });
  $('oidc-retry').addEventListener('click', () => boot());
  $('oidc-provider-signout').addEventListener('click', () => {
    const url = state.providerSignOut;
    state.providerSignOut = '';
    if (url) location.assign(url);
  });

  $('domain-select').addEventListener('change', (ev) => goToDomain(ev.target.value));
  $('domain-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (state.claims.role !== 'org_admin') return;
    const d = $('domain-input').value.trim().toLowerCase();
    if (!ID_RE.test(d)) {
      showFieldError('domain-error', 'A domain id is 1–64 characters: a–z, 0–9, "_" and "-".');
      $('domain-input').focus();
      return;
    }
    goToDomain(d);
  });
  window.addEventListener('hashchange', () => route({ focus: true }));
  $('banner-retry').addEventListener('click', () => loadAll());

  $('add-secret').addEventListener('click', () => openDrawer('create'));
  $('add-secret-empty').addEventListener('click', () => openDrawer('create'));
  $('secrets-body').addEventListener('click', (ev) => {
    const btn = ev.target.closest('button[data-action]');
    if (!btn) return;
    const alias = btn.closest('tr').dataset.alias;
    const secret = state.secrets.find((s) => s.alias === alias);
    if (!secret) return;
    if (btn.dataset.action === 'edit') openDrawer('edit', secret);
    else openArchive(alias);
  });
  $('macro-list').addEventListener('click', onMacroClick);

  // Escape fires "cancel": close through our own path, which clears the
  // values and restores the focus at once.
  const drawer = $('drawer');
  drawer.addEventListener('keydown', trapFocus);
  drawer.addEventListener('cancel', (ev) => {
    ev.preventDefault();
    closeDrawer();
  });
  drawer.addEventListener('close', () => {
    if (!drawer.open) clearValues();
  });
  drawer.addEventListener('click', (ev) => {
    if (ev.target === drawer) closeDrawer(); // a click on the backdrop
  });
  $('drawer-close').addEventListener('click', closeDrawer);
  $('drawer-cancel').addEventListener('click', closeDrawer);
  $('secret-form').addEventListener('submit', onSubmit);
  $('f-alias').addEventListener('input', onAliasInput);
  $('f-type').addEventListener('change', showTypeFields);
  $('f-kind').addEventListener('change', applyKindTemplate);
  $('f-json').addEventListener('input', () => {
    touched.add('f-json');
    updateJSON();
  });
  $('f-json').addEventListener('scroll', () => {
    $('f-json-gutter').scrollTop = $('f-json').scrollTop;
  });
  for (const id of ['f-token', 'f-password', 'f-hosts']) {
    $(id).addEventListener('blur', () => {
      touched.add(id);
      validateField(id);
    });
    $(id).addEventListener('input', () => validateField(id));
  }
  for (const b of document.querySelectorAll('[data-reveal]')) {
    b.addEventListener('click', () => setReveal(b, b.getAttribute('aria-pressed') !== 'true'));
  }

  const dialog = $('archive-dialog');
  dialog.addEventListener('keydown', trapFocus);
  dialog.addEventListener('cancel', (ev) => {
    ev.preventDefault();
    closeArchive();
  });
  $('archive-cancel').addEventListener('click', closeArchive);
  $('archive-confirm').addEventListener('click', onArchiveConfirm);

  boot();
}

init();
