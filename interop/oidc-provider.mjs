// A real OAuth 2.1 / OpenID Connect authorization server for the interoperability tests: oidc-provider (pinned in
// package.json), configured as an MCP client expects its authorization server to be:
//
// - dynamic client registration (RFC 7591), open (no initial access token);
// - authorization code + PKCE, S256 only (oidc-provider 9 supports no other method), for every client;
// - resource indicators (RFC 8707): a token is for one resource (here: any http URL on 127.0.0.1, i.e. the MCP
//   server under test) and is an RS256-signed JWT access token whose `aud` is that resource and whose `scope`
//   claim holds the scopes the user granted (RESOURCE_SCOPES are the ones it knows);
// - an interactive sign-in and consent, as plain HTML forms at /interaction/<uid>: the consent page lists each
//   requested scope as a checkbox, so the user (a test, over HTTP) can grant some and decline others.
//
// Usage: node oidc-provider.mjs. It listens on 127.0.0.1 on a free port and prints one JSON line,
// {"issuer": "http://127.0.0.1:PORT", "jwks_uri": ...}, once it serves requests. Environment:
// RESOURCE_SCOPES (space separated), OIDC_USERS ("login:password" pairs, space separated).
import { generateKeyPairSync, randomBytes } from "node:crypto";
import http from "node:http";

import Provider, { errors } from "oidc-provider";

const RESOURCE_SCOPES = (process.env.RESOURCE_SCOPES ?? "search.read docs.write memory.read memory.write memory.delete")
  .split(/\s+/)
  .filter(Boolean);
const USERS = new Map(
  (process.env.OIDC_USERS ?? "alice:wonderland")
    .split(/\s+/)
    .filter(Boolean)
    .map((pair) => pair.split(":", 2)),
);

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: "jwk" }), kid: "interop-rs256", alg: "RS256", use: "sig" };

function loopbackResource(indicator) {
  try {
    const url = new URL(indicator);
    return url.protocol === "http:" && url.hostname === "127.0.0.1";
  } catch {
    return false;
  }
}

const configuration = {
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString("hex")] },
  // Registration checks a client's `scope` against these, so the resource scopes are listed too.
  scopes: ["openid", "offline_access", ...RESOURCE_SCOPES],
  clientDefaults: {
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "none",
  },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    registration: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (ctx, client, oneOf) => oneOf,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resourceIndicator) => {
        if (!loopbackResource(resourceIndicator)) throw new errors.InvalidTarget();
        return {
          scope: RESOURCE_SCOPES.join(" "),
          audience: resourceIndicator,
          accessTokenTTL: 600,
          accessTokenFormat: "jwt",
          jwt: { sign: { alg: "RS256" } },
        };
      },
    },
  },
  findAccount: (ctx, accountId) => ({ accountId, claims: () => ({ sub: accountId }) }),
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 3600, Interaction: 600, Session: 3600, RefreshToken: 3600 },
};

const escape = (value) =>
  String(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

function page(title, body) {
  return `<!doctype html><html><head><title>${escape(title)}</title></head><body><h1>${escape(title)}</h1>${body}</body></html>`;
}

async function formBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

function loginPage(uid, message = "") {
  return page(
    "Sign in",
    `${message ? `<p class="error">${escape(message)}</p>` : ""}
<form method="post" action="/interaction/${escape(uid)}/login">
  <input name="login" autocomplete="username"> <input name="password" type="password">
  <button type="submit">Sign in</button>
</form>`,
  );
}

function consentPage(uid, client, details) {
  const requested = new Map();
  for (const scope of details.missingOIDCScope ?? []) requested.set(scope, "");
  for (const [resource, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
    for (const scope of scopes) requested.set(scope, ` on ${resource}`);
  }
  const boxes = [...requested].map(
    ([scope, where]) =>
      `<label><input type="checkbox" name="scope" value="${escape(scope)}" checked> ${escape(scope)}${escape(where)}</label>`,
  );
  return page(
    "Authorize",
    `<p>${escape(client.clientName ?? client.clientId)} asks for:</p>
<form method="post" action="/interaction/${escape(uid)}/confirm">
  ${boxes.join("<br>\n  ")}
  <button type="submit">Allow</button>
</form>`,
  );
}

// Sign-in and consent: GET shows the form for the pending prompt, POST .../login and .../confirm finish it.
function interactions(provider) {
  return async (ctx, next) => {
    const match = ctx.path.match(/^\/interaction\/([\w-]+)(?:\/(login|confirm))?$/);
    if (!match) return next();
    const [, uid, action] = match;
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.uid !== uid) ctx.throw(400, "interaction mismatch");
    ctx.set("Cache-Control", "no-store");
    const { prompt, params, session } = details;
    const client = await provider.Client.find(params.client_id);

    if (ctx.method === "GET" && !action) {
      ctx.type = "html";
      ctx.body = prompt.name === "login" ? loginPage(uid) : consentPage(uid, client, prompt.details);
      return undefined;
    }
    if (ctx.method !== "POST") ctx.throw(405);
    const form = await formBody(ctx.req);

    if (action === "login") {
      const login = form.get("login") ?? "";
      if (prompt.name !== "login" || !USERS.has(login) || USERS.get(login) !== form.get("password")) {
        ctx.type = "html";
        ctx.status = 401;
        ctx.body = loginPage(uid, "Unknown user or wrong password");
        return undefined;
      }
      return provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
    }

    if (prompt.name !== "consent") ctx.throw(400, "no consent pending");
    const approved = new Set(form.getAll("scope"));
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const oidcScopes = prompt.details.missingOIDCScope ?? [];
    grant.addOIDCScope(oidcScopes.filter((s) => approved.has(s)).join(" "));
    grant.rejectOIDCScope(oidcScopes.filter((s) => !approved.has(s)).join(" "));
    for (const [resource, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) {
      grant.addResourceScope(resource, scopes.filter((s) => approved.has(s)).join(" "));
      grant.rejectResourceScope(resource, scopes.filter((s) => !approved.has(s)).join(" "));
    }
    const grantId = await grant.save();
    return provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  };
}

const server = http.createServer();
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, configuration);
  provider.use(interactions(provider));
  server.on("request", provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` })}\n`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
