// The Dev IdP: a real OpenID Provider (the OpenID-certified `oidc-provider`) on localhost, for local sign-in and the
// end-to-end tests. It has fixed test accounts and no UI: every login and consent prompt is answered at once.
//
// Test controls, per browser (they set cookies on the IdP's origin, so parallel browser contexts do not interfere):
//   GET /__test/as/{account}   sign in as that account next time (default: ada); `e2e-<anything>` makes a new one
//   GET /__test/deny           refuse the next sign-in with access_denied, as a person clicking "Cancel" would
//   GET /__test/reset          back to the defaults
// Signing out at the IdP (GET /session/end) ends its session and sends a back-channel logout token to Gatehouse.
//
// Settings (environment): IDP_PORT (3900), IDP_ISSUER (http://127.0.0.1:IDP_PORT), IDP_CLIENT_ID (gatehouse-dev),
// IDP_CLIENT_SECRET (dev-only secret below), IDP_REDIRECT_URIS (comma-separated; default: APP_URL's callbacks),
// IDP_BACKCHANNEL_LOGOUT_URI (default: APP_URL's /auth/backchannel-logout/dev), IDP_ACCESS_TOKEN_TTL (seconds, 3600;
// the browser tests make it short, so that Gatehouse refreshes kept tokens here).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';
import { MemoryAdapter } from './memory-adapter.mjs';

const port = Number(process.env.IDP_PORT ?? 3900);
const issuer = process.env.IDP_ISSUER ?? `http://127.0.0.1:${port}`;
const appUrl = (process.env.APP_URL ?? 'http://127.0.0.1:3000').replace(/\/$/, '');
const clientId = process.env.IDP_CLIENT_ID ?? 'gatehouse-dev';
// A development secret, public on purpose: this provider only ever runs on a developer's loopback interface.
const clientSecret = process.env.IDP_CLIENT_SECRET ?? 'gatehouse-dev-secret-not-for-production';
const redirectUris = (process.env.IDP_REDIRECT_URIS ?? `${appUrl}/auth/callback/dev,${appUrl}/auth/callback/oidc`)
  .split(',')
  .map((uri) => uri.trim())
  .filter(Boolean);
// Where signing out here is announced (IDP_BACKCHANNEL_LOGOUT_URI; default: APP_URL's endpoint for this provider).
const backchannelLogoutUri = process.env.IDP_BACKCHANNEL_LOGOUT_URI ?? `${appUrl}/auth/backchannel-logout/dev`;

// The fixed test accounts. `ada` is the one a developer gets by default.
export const ACCOUNTS = {
  ada: {
    sub: 'dev-ada',
    email: 'ada@example.test',
    email_verified: true,
    name: 'Ada Lovelace',
    given_name: 'Ada',
    family_name: 'Lovelace',
  },
  grace: {
    sub: 'dev-grace',
    email: 'grace@example.test',
    email_verified: true,
    name: 'Grace Hopper',
    given_name: 'Grace',
    family_name: 'Hopper',
  },
  unverified: {
    sub: 'dev-unverified',
    email: 'sam@example.test',
    email_verified: false,
    name: 'Sam Unverified',
  },
};

const ACCOUNT_COOKIE = 'devidp_account';
const OUTCOME_COOKIE = 'devidp_outcome';

// Keys live only as long as the process: tokens from an earlier run are meant to fail.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: `dev-${randomBytes(4).toString('hex')}`, alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  adapter: MemoryAdapter,
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      // Signing out here (GET /session/end) tells Gatehouse at once, server to server, naming the session (`sid`,
      // also in every ID token) so that only the sessions from this one end.
      backchannel_logout_uri: backchannelLogoutUri,
      backchannel_logout_session_required: true,
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  pkce: { methods: ['S256'], required: () => true },
  // Every refresh token is used once: a refresh gives a new one (what Gatehouse's kept tokens must cope with).
  rotateRefreshToken: true,
  scopes: ['openid', 'offline_access', 'email', 'profile'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'picture'],
  },
  features: {
    devInteractions: { enabled: false },
    backchannelLogout: { enabled: true },
    // Signing out at the IdP, as a person would: no confirmation page, and every app that signed in through this
    // IdP session is told (back-channel logout), not only the one that asked.
    rpInitiatedLogout: {
      enabled: true,
      async logoutSource(ctx, form) {
        ctx.body = `<!DOCTYPE html><title>Signing out</title>${form.replace(
          '</form>',
          '<input type="hidden" name="logout" value="yes"></form>',
        )}<script>document.forms[0].submit()</script>`;
      },
      async postLogoutSuccessSource(ctx) {
        ctx.body = '<!DOCTYPE html><title>Signed out</title><p>dev idp: signed out</p>';
      },
    },
  },
  ttl: {
    AccessToken: Number(process.env.IDP_ACCESS_TOKEN_TTL ?? 3600),
    AuthorizationCode: 60,
    ClientCredentials: 600,
    Grant: 86400,
    IdToken: 3600,
    Interaction: 600,
    RefreshToken: 86400,
    Session: 86400,
  },
  async findAccount(_ctx, sub) {
    const account = Object.values(ACCOUNTS).find((candidate) => candidate.sub === sub);
    if (!account) return undefined;
    return { accountId: sub, claims: async () => ({ ...account }) };
  },
});

// Keep the provider quiet about expected, client-caused errors; log anything else.
provider.on('server_error', (_ctx, error) => console.error('dev idp: server error:', error));

// Test controls: remember a choice for this browser.
provider.use(async (ctx, next) => {
  const match = /^\/__test\/(as\/([a-z0-9-]+)|deny|reset)$/.exec(ctx.path);
  if (!match) return next();
  const cookie = { httpOnly: true, sameSite: 'lax', path: '/', signed: false };
  if (match[2]) {
    // `e2e-…` names are made on first use, so parallel tests each sign in as a person of their own.
    if (!ACCOUNTS[match[2]] && match[2].startsWith('e2e-')) {
      ACCOUNTS[match[2]] = {
        sub: `dev-${match[2]}`,
        email: `${match[2]}@example.test`,
        email_verified: true,
        name: `Tester ${match[2].slice(4)}`,
      };
    }
    if (!ACCOUNTS[match[2]]) ctx.throw(404, `no test account ${match[2]}`);
    ctx.cookies.set(ACCOUNT_COOKIE, match[2], cookie);
  } else if (match[1] === 'deny') {
    ctx.cookies.set(OUTCOME_COOKIE, 'deny', cookie);
  } else {
    ctx.cookies.set(ACCOUNT_COOKIE, null, cookie);
    ctx.cookies.set(OUTCOME_COOKIE, null, cookie);
  }
  ctx.status = 200;
  ctx.type = 'text/plain';
  ctx.body = `dev idp: ${match[1]}\n`;
});

// No login or consent pages: answer every interaction straight away.
provider.use(async (ctx, next) => {
  if (!ctx.path.startsWith('/interaction/')) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params } = details;

  let result;
  if (ctx.cookies.get(OUTCOME_COOKIE) === 'deny') {
    ctx.cookies.set(OUTCOME_COOKIE, null, { path: '/' });
    result = { error: 'access_denied', error_description: 'The person declined to sign in.' };
  } else if (prompt.name === 'login') {
    const name = ctx.cookies.get(ACCOUNT_COOKIE) ?? 'ada';
    const account = ACCOUNTS[name] ?? ACCOUNTS.ada;
    result = { login: { accountId: account.sub } };
  } else if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    result = { consent: { grantId: await grant.save() } };
  } else {
    throw new errors.InvalidRequest(`unexpected prompt ${prompt.name}`);
  }
  // A consent answers the same request as the login just before it (`prompt=login consent`, as a re-confirmation
  // with kept tokens asks): merged, or the login it needs would be asked for again and again.
  const merge = prompt.name === 'consent';
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge });
  ctx.redirect(returnTo);
});

const server = provider.listen(port, new URL(issuer).hostname, () => {
  console.log(`dev idp: issuer ${issuer}, client ${clientId}, redirect URIs ${redirectUris.join(' ')}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
