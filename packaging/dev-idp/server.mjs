#!/usr/bin/env node
// Egress Warden development IdP: a real OpenID Provider (panva's oidc-provider) for the
// tests and the demo. DEVELOPMENT ONLY, never production: plain HTTP on loopback, users
// and passwords from a JSON file, automatic consent, unauthenticated admin endpoints.
//
//   node packaging/dev-idp/server.mjs --config packaging/dev-idp/config.example.json
//
// See README.md next to this file for the config format and the /__dev/ endpoints.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';

const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
// Keys of a client entry in the config that are ours, not OpenID client metadata.
const CLIENT_EXTRAS = ['default_resource', 'token_claims'];
const USER_CLAIMS = ['email', 'email_verified', 'name', 'tenant', 'department', 'groups'];

// ---------------------------------------------------------------------------- config

const { values: args } = parseArgs({ options: { config: { type: 'string' } } });
if (!args.config) {
  console.error('usage: node server.mjs --config FILE.json');
  process.exit(2);
}
const config = JSON.parse(fs.readFileSync(args.config, 'utf8'));
const host = config.host ?? '127.0.0.1';
const port = Number(config.port ?? 0);
if (!port) {
  console.error('config: "port" is required');
  process.exit(2);
}
const issuer = (config.issuer ?? `http://${host}:${port}`).replace(/\/$/, '');
const issuerHost = new URL(issuer).host;

/** @type {Map<string, object>} users by sub */
const users = new Map();
for (const u of config.users ?? []) {
  if (!u.sub || typeof u.password !== 'string') {
    console.error(`config: every user needs "sub" and "password": ${JSON.stringify(u.sub)}`);
    process.exit(2);
  }
  users.set(u.sub, { ...u, disabled: Boolean(u.disabled) });
}
const resources = config.resources ?? {};
const clientExtras = new Map();
const clients = (config.clients ?? []).map((c) => {
  const metadata = { ...c };
  const extras = {};
  for (const key of CLIENT_EXTRAS) {
    if (key in metadata) {
      extras[key] = metadata[key];
      delete metadata[key];
    }
  }
  clientExtras.set(c.client_id, extras);
  return metadata;
});
const ttl = {
  AccessToken: 3600,
  AuthorizationCode: 60,
  ClientCredentials: 600,
  DeviceCode: 600,
  Grant: 14 * 24 * 3600,
  IdToken: 3600,
  Interaction: 3600,
  RefreshToken: 14 * 24 * 3600,
  Session: 14 * 24 * 3600,
  ...config.ttl,
};

function findUser(login) {
  const name = String(login ?? '').trim().toLowerCase();
  for (const user of users.values()) {
    if (user.sub.toLowerCase() === name || (user.email && user.email.toLowerCase() === name)) {
      return user;
    }
  }
  return undefined;
}

function passwordMatches(user, password) {
  const a = crypto.createHash('sha256').update(String(password ?? '')).digest();
  const b = crypto.createHash('sha256').update(user.password).digest();
  return crypto.timingSafeEqual(a, b);
}

// ---------------------------------------------------------------------------- keys

function newSigningKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: crypto.randomBytes(12).toString('base64url'), use: 'sig', alg: 'RS256' };
}

// The first key signs; the others are still published so that earlier tokens verify.
let signingKeys = [newSigningKey()];

// ---------------------------------------------------------------------------- storage

// In-memory store shared by every Provider instance (a key rotation builds a new one), and
// enumerable, so that /__dev/logout/<sub> can find a user's sessions.
const store = new Map(); // "Model:id" -> { payload, expiresAt }
const grantMembers = new Map(); // grantId -> Set of "Model:id"
const grantable = new Set([
  'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest', 'PreAuthorizedCode',
]);

function storeGet(key) {
  const entry = store.get(key);
  if (!entry) return undefined;
  if (entry.expiresAt !== undefined && entry.expiresAt <= Date.now()) {
    store.delete(key);
    return undefined;
  }
  return entry.payload;
}

class DevAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined;
    store.set(this.key(id), { payload, expiresAt });
    if (this.model === 'Session' && payload.uid) {
      store.set(`sessionUid:${payload.uid}`, { payload: id, expiresAt });
    }
    if (payload.userCode) {
      store.set(`userCode:${payload.userCode}`, { payload: id, expiresAt });
    }
    if (grantable.has(this.model) && payload.grantId) {
      if (!grantMembers.has(payload.grantId)) grantMembers.set(payload.grantId, new Set());
      grantMembers.get(payload.grantId).add(this.key(id));
    }
  }

  async find(id) {
    return storeGet(this.key(id));
  }

  async findByUid(uid) {
    const id = storeGet(`sessionUid:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = storeGet(`userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const payload = storeGet(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    store.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const key of grantMembers.get(grantId) ?? []) store.delete(key);
    grantMembers.delete(grantId);
  }
}

setInterval(() => {
  const now = Date.now();
  for (const [key, entry] of store) {
    if (entry.expiresAt !== undefined && entry.expiresAt <= now) store.delete(key);
  }
}, 60_000).unref();

// ---------------------------------------------------------------------------- pages

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:24rem;margin:3rem auto;padding:0 1rem}
input,button{display:block;width:100%;box-sizing:border-box;margin:.4rem 0;padding:.5rem;font-size:1rem}
.error{color:#b00020}.note{color:#666;font-size:.85rem}</style></head>
<body><h1>${esc(title)}</h1>${body}
<p class="note">Egress Warden development IdP &mdash; not for production.</p></body></html>`;
}

function loginPage(uid, clientId, error, login) {
  return page('Sign in', `
<p>to <strong>${esc(clientId)}</strong></p>
${error ? `<p class="error" role="alert">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
  <label for="username">Username or e-mail</label>
  <input id="username" name="username" value="${esc(login)}" autofocus required>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" required>
  <button type="submit">Sign in</button>
</form>`);
}

// ---------------------------------------------------------------------------- provider

async function getResourceServerInfo(_ctx, indicator, _client) {
  const rs = resources[indicator];
  if (!rs) throw new errors.InvalidTarget(`unknown resource indicator ${indicator}`);
  return {
    scope: rs.scope ?? '',
    audience: rs.audience ?? indicator,
    accessTokenTTL: rs.access_token_ttl ?? ttl.AccessToken,
    accessTokenFormat: rs.access_token_format ?? 'jwt',
    jwt: { sign: { alg: 'RS256' } },
  };
}

async function extraTokenClaims(_ctx, token) {
  if (token.accountId) {
    const user = users.get(token.accountId);
    if (!user) return undefined;
    const claims = {};
    for (const name of ['email', 'tenant', 'department', 'groups']) {
      if (user[name] !== undefined) claims[name] = user[name];
    }
    return claims;
  }
  return clientExtras.get(token.clientId)?.token_claims ?? undefined;
}

async function findAccount(_ctx, sub) {
  const user = users.get(sub);
  if (!user || user.disabled) return undefined;
  return {
    accountId: sub,
    async claims() {
      const claims = { sub };
      for (const name of USER_CLAIMS) {
        if (user[name] !== undefined) claims[name] = user[name];
      }
      if (user.email && claims.email_verified === undefined) claims.email_verified = true;
      return claims;
    },
  };
}

function buildProvider() {
  const provider = new Provider(issuer, {
    adapter: DevAdapter,
    clients,
    jwks: { keys: signingKeys },
    cookies: { keys: cookieKeys },
    findAccount,
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      warden: ['tenant', 'department', 'groups'],
    },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'warden'],
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    pkce: { required: () => true },
    extraTokenClaims,
    ttl,
    features: {
      devInteractions: { enabled: false },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: async (ctx, form, _out, err) => {
          const msg = err ? '<p class="error" role="alert">That code is not valid. Try again.</p>' : '';
          ctx.body = page('Device sign-in', `${msg}<p>Enter the code shown on your device.</p>${form}
<button type="submit" form="op.deviceInputForm">Continue</button>`);
        },
        userCodeConfirmSource: async (ctx, form, client, _deviceInfo, userCode) => {
          ctx.body = page('Confirm device', `<p><strong>${esc(client.clientName || client.clientId)}</strong>
asks to sign in with the code <code id="user-code">${esc(userCode)}</code>.</p>${form}
<button type="submit" form="op.deviceConfirmForm">Continue</button>`);
        },
        successSource: async (ctx) => {
          ctx.body = page('Signed in', '<p id="device-success">Your device is signed in. You can close this page.</p>');
        },
      },
      backchannelLogout: { enabled: true },
      revocation: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      introspection: {
        enabled: true,
        allowedPolicy: async (ctx, client, token) =>
          client.clientAuthMethod !== 'none' || token.clientId === ctx.oidc.client.clientId,
      },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.body = page('Sign out', `${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>`);
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.body = page('Signed out', '<p>You are signed out.</p>');
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx, client, oneOf) => {
          if (oneOf) return oneOf;
          return clientExtras.get(client.clientId)?.default_resource;
        },
        useGrantedResource: async () => true,
        getResourceServerInfo,
      },
      clientCredentials: { enabled: true },
    },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    clientBasedCORS: () => false,
    // oidc-provider refuses outgoing requests (back-channel logout, jwks_uri) to special-use
    // addresses such as loopback, as SSRF protection. The RPs of the tests and the demo live
    // on loopback, so this development IdP drops that dispatcher.
    fetch: (url, options) => {
      const { dispatcher: _ssrfGuard, ...rest } = options;
      return globalThis.fetch(url, rest);
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Sign-in error', Object.entries(out)
        .map(([k, v]) => `<p><strong>${esc(k)}</strong>: ${esc(v)}</p>`).join(''));
    },
  });
  provider.on('server_error', (_ctx, err) => console.error(`server_error: ${err?.stack ?? err}`));
  provider.on('backchannel.error', (_ctx, err, client) =>
    console.error(`backchannel logout to ${client.clientId} failed: ${err?.message ?? err}`));
  return provider;
}

const cookieKeys = [crypto.randomBytes(32).toString('base64url')];
let provider = buildProvider();
let providerHandler = provider.callback();

// ---------------------------------------------------------------------------- handlers

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('body too large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if ((req.headers['content-type'] ?? '').includes('application/json')) {
    return text ? JSON.parse(text) : {};
  }
  return Object.fromEntries(new URLSearchParams(text));
}

function send(res, status, body, type = 'text/html; charset=utf-8') {
  const data = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? type : 'application/json',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(data),
  });
  res.end(data);
}

// Consent is automatic: grant every scope, claim and resource scope the request asked for.
async function autoConsent(p, interaction) {
  const { prompt: { details }, params, session } = interaction;
  const grant = interaction.grantId
    ? await p.Grant.find(interaction.grantId)
    : new p.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
  if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  // An existing grant was updated in place; a new one is handed over by its id.
  return { consent: interaction.grantId ? {} : { grantId } };
}

async function handleInteraction(req, res, url) {
  const p = provider;
  const parts = url.pathname.split('/').filter(Boolean); // interaction, uid, [login]
  let interaction;
  try {
    interaction = await p.interactionDetails(req, res);
  } catch (err) {
    return send(res, 400, page('Sign-in error', `<p>${esc(err.message)}. Start the sign-in again from the application.</p>`));
  }
  if (parts[1] !== interaction.uid) {
    return send(res, 400, page('Sign-in error', '<p>This sign-in page has expired. Start again from the application.</p>'));
  }
  const { prompt, params } = interaction;

  if (req.method === 'GET' && parts.length === 2) {
    if (prompt.name === 'login') {
      return send(res, 200, loginPage(interaction.uid, params.client_id, '', params.login_hint ?? ''));
    }
    if (prompt.name === 'consent') {
      return p.interactionFinished(req, res, await autoConsent(p, interaction), { mergeWithLastSubmission: true });
    }
    return send(res, 400, page('Sign-in error', `<p>unsupported prompt ${esc(prompt.name)}</p>`));
  }

  if (req.method === 'POST' && parts[2] === 'login') {
    const form = await readForm(req);
    const user = findUser(form.username);
    if (!user || !passwordMatches(user, form.password)) {
      console.log(`login failed for ${JSON.stringify(String(form.username ?? ''))}`);
      return send(res, 401, loginPage(interaction.uid, params.client_id, 'Wrong username or password.', form.username));
    }
    if (user.disabled) {
      console.log(`login refused for disabled user ${user.sub}`);
      return send(res, 403, loginPage(interaction.uid, params.client_id, 'This account is disabled.', form.username));
    }
    console.log(`login ok for ${user.sub}`);
    return p.interactionFinished(req, res, { login: { accountId: user.sub } }, { mergeWithLastSubmission: false });
  }
  return send(res, 405, page('Sign-in error', '<p>method not allowed</p>'));
}

function sessionsOf(sub) {
  const out = [];
  for (const [key, entry] of store) {
    if (key.startsWith('Session:') && entry.payload.accountId === sub) {
      out.push([key.slice('Session:'.length), entry.payload]);
    }
  }
  return out;
}

// Ends every IdP session of the user, sending an OpenID Back-Channel Logout 1.0 logout
// token to each RP of each session that registered a backchannel_logout_uri.
async function logoutUser(sub) {
  const p = provider;
  const notified = [];
  const failed = [];
  for (const [id, session] of sessionsOf(sub)) {
    for (const [clientId, auth] of Object.entries(session.authorizations ?? {})) {
      const client = await p.Client.find(clientId);
      if (client?.backchannelLogoutUri) {
        try {
          await client.backchannelLogout(sub, auth.sid);
          notified.push(clientId);
        } catch (err) {
          console.error(`backchannel logout to ${clientId} failed: ${err.message}`);
          failed.push({ client_id: clientId, error: err.message });
        }
      }
      if (auth.grantId) {
        await new DevAdapter('Grant').revokeByGrantId(auth.grantId);
        await new DevAdapter('Grant').destroy(auth.grantId);
      }
    }
    await new DevAdapter('Session').destroy(id);
    if (session.uid) store.delete(`sessionUid:${session.uid}`);
  }
  return { sub, notified, failed };
}

async function handleDev(req, res, url) {
  const path = url.pathname;
  if (req.method === 'GET' && path === '/__dev/health') {
    return send(res, 200, { status: 'ok', issuer, kids: signingKeys.map((k) => k.kid) });
  }
  if (req.method !== 'POST') return send(res, 405, { error: 'method_not_allowed' });
  let m;
  if (path === '/__dev/rotate-keys') {
    const form = await readForm(req);
    const keepOld = !['0', 'false', false].includes(form.keep_old ?? true);
    signingKeys = [newSigningKey(), ...(keepOld ? signingKeys : [])];
    provider = buildProvider();
    providerHandler = provider.callback();
    console.log(`signing key rotated to ${signingKeys[0].kid} (published: ${signingKeys.length})`);
    return send(res, 200, { kid: signingKeys[0].kid, kids: signingKeys.map((k) => k.kid) });
  }
  if ((m = path.match(/^\/__dev\/users\/([^/]+)\/(disable|enable)$/))) {
    const user = users.get(decodeURIComponent(m[1]));
    if (!user) return send(res, 404, { error: 'unknown_user' });
    user.disabled = m[2] === 'disable';
    return send(res, 200, { sub: user.sub, disabled: user.disabled });
  }
  if ((m = path.match(/^\/__dev\/logout\/([^/]+)$/))) {
    const sub = decodeURIComponent(m[1]);
    if (!users.has(sub)) return send(res, 404, { error: 'unknown_user' });
    return send(res, 200, await logoutUser(sub));
  }
  return send(res, 404, { error: 'not_found' });
}

const server = http.createServer(async (req, res) => {
  const started = process.hrtime.bigint();
  const url = new URL(req.url ?? '/', issuer);
  res.on('finish', () => {
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    // The path only: queries carry codes and tokens.
    console.log(`${new Date().toISOString()} ${req.method} ${url.pathname} ${res.statusCode} ${ms.toFixed(1)}ms`);
  });
  try {
    if (url.pathname.startsWith('/__dev/')) return await handleDev(req, res, url);
    // Endpoint URLs are built from the Host header: pin it to the issuer's, so that
    // discovery always names the issuer's origin whichever name the caller used.
    req.headers.host = issuerHost;
    if (url.pathname.startsWith('/interaction/')) return await handleInteraction(req, res, url);
    // oidc-provider 9 answers a POST to the device page without a session cookie (no GET
    // first) with a bare 500 ("persist can only be called on previously persisted
    // Sessions"); send such a browser to the form instead.
    if (req.method === 'POST' && url.pathname === '/device'
        && !(req.headers.cookie ?? '').split(/;\s*/).some((c) => c.startsWith(`${provider.cookieName('session')}=`))) {
      res.writeHead(303, { location: `${issuer}/device`, 'content-length': '0' });
      return res.end();
    }
    return providerHandler(req, res);
  } catch (err) {
    console.error(err?.stack ?? err);
    if (!res.headersSent) send(res, 500, page('Server error', '<p>internal error, see the IdP log</p>'));
    else res.end();
  }
});

server.listen(port, host, () => {
  console.log(`dev IdP (development only) listening on ${host}:${port}, issuer ${issuer}`);
});

function shutdown(signal) {
  console.log(`${signal}: shutting down`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
