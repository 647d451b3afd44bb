// A real OpenID provider for custody's single sign-on tests: panva's oidc-provider
// (OpenID Certified), on loopback, with a plain sign-in form and four people.
//
//   node provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI [REDIRECT_URI...]
//
// POST /__test/mode {"mode": "tamper" | "audience" | "expired" | "nonce" | "normal"}
// changes what the token endpoint returns, for the cases no honest provider produces: an
// ID token altered after signing, or one signed for another client, already expired or
// for another sign-in attempt. Everything else is the library's own.
import { createServer } from 'node:http';

import Provider from 'oidc-provider';
import * as jose from 'jose';

const [port, clientId, clientSecret, ...redirectUris] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;

// amr: how each person signed in. alice and tom used a second factor, mallory did not.
const PEOPLE = {
  alice: { password: 'alice-sso-pass', groups: ['custody-admins'], amr: ['pwd', 'otp'] },
  tom: { password: 'tom-sso-pass', groups: ['custody-techs'], amr: ['pwd', 'otp'] },
  mallory: { password: 'mallory-sso-pass', groups: ['custody-admins'], amr: ['pwd'] },
  nora: { password: 'nora-sso-pass', groups: ['marketing'], amr: ['pwd', 'otp'] },
};

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await jose.exportJWK(privateKey)), kid: 'test-key', use: 'sig', alg: 'RS256' };
let mode = 'normal';

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: redirectUris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  jwks: { keys: [signingKey] },
  cookies: { keys: ['custody-tests-only'] },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    // amr: how the person signed in (custody asks admins for a second factor), in every
    // ID token, as Entra ID, Okta and Keycloak can be set to send it.
    openid: ['sub', 'amr', 'acr', 'auth_time'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const person = PEOPLE[id];
    if (!person) return undefined;
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: `${id}@provider.test`,
          email_verified: true,
          name: id[0].toUpperCase() + id.slice(1),
          preferred_username: id,
          groups: person.groups,
        };
      },
    };
  },
  // Staff sign in to their own company's tool: no consent screen.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      accountId: ctx.oidc.session.accountId,
      clientId: ctx.oidc.client.clientId,
    });
    grant.addOIDCScope('openid email profile groups');
    grant.addOIDCClaims(['email', 'email_verified', 'name', 'preferred_username', 'groups']);
    await grant.save();
    return grant;
  },
});

const page = (uid, error = '') => `<!doctype html><html><head><title>Sign in at the provider</title></head>
<body><h1>Company sign-in</h1>${error ? `<p role="alert">${error}</p>` : ''}
<form method="post" action="/interaction/${uid}/login">
<label>User <input name="login" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button></form></body></html>`;

async function form(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

async function resign(idToken, changes) {
  const claims = { ...jose.decodeJwt(idToken), ...changes };
  return new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'test-key' })
    .sign(privateKey);
}

provider.use(async (ctx, next) => {
  const match = ctx.path.match(/^\/interaction\/([^/]+)(\/login)?$/);
  if (ctx.path === '/__test/mode' && ctx.method === 'POST') {
    let body = '';
    for await (const chunk of ctx.req) body += chunk;
    mode = JSON.parse(body).mode;
    ctx.body = { mode };
    return undefined;
  }
  if (match && ctx.method === 'GET' && !match[2]) {
    const { uid } = await provider.interactionDetails(ctx.req, ctx.res);
    ctx.type = 'html';
    ctx.body = page(uid);
    return undefined;
  }
  if (match && ctx.method === 'POST' && match[2]) {
    const { uid } = await provider.interactionDetails(ctx.req, ctx.res);
    const fields = await form(ctx.req);
    const person = PEOPLE[fields.get('login')];
    if (!person || person.password !== fields.get('password')) {
      ctx.type = 'html';
      ctx.body = page(uid, 'Wrong user or password');
      return undefined;
    }
    return provider.interactionFinished(ctx.req, ctx.res, {
      login: { accountId: fields.get('login'), amr: person.amr },
    }, { mergeWithLastSubmission: false });
  }
  await next();
  if (ctx.path === '/token' && ctx.status === 200 && mode !== 'normal' && ctx.body?.id_token) {
    const token = ctx.body.id_token;
    if (mode === 'tamper') {  // promote the person after signing: the signature breaks
      const [head, , signature] = token.split('.');
      const claims = { ...jose.decodeJwt(token), groups: ['custody-admins'], sub: 'alice' };
      const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
      ctx.body = { ...ctx.body, id_token: `${head}.${payload}.${signature}` };
    } else if (mode === 'audience') {
      ctx.body = { ...ctx.body, id_token: await resign(token, { aud: 'another-client' }) };
    } else if (mode === 'expired') {
      const now = Math.floor(Date.now() / 1000);
      ctx.body = { ...ctx.body, id_token: await resign(token, { iat: now - 7200, exp: now - 3600 }) };
    } else if (mode === 'nonce') {  // a token minted for another sign-in attempt
      ctx.body = { ...ctx.body, id_token: await resign(token, { nonce: 'someone-elses-nonce' }) };
    }
  }
  return undefined;
});

createServer(provider.callback()).listen(Number(port), '127.0.0.1', () => {
  console.log(`oidc-provider listening at ${issuer}`);
});
