// Gatehouse as an OpenID Provider, driven by the OpenID-certified relying party library `openid-client` (with
// non-repudiation checks on: every ID token's signature is verified against the JWKS) while Chromium plays the
// person: register an app on /apps, sign in through the consent page, refresh (and catch a reused refresh token),
// introspect, revoke, client credentials, the device flow, RP-initiated logout, and revoking the app on /apps.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from '@playwright/test';
import * as oidc from 'openid-client';
import { test, expect } from './fixtures';
import { APP_URL, IDP_URL } from '../playwright.config';

/** The sample app's own web server (a blank page at every path): where Gatehouse sends the browser back. */
async function startTheApp() {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html' });
    response.end('<!doctype html><title>Sample app</title><link rel="icon" href="data:,">');
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    callback: `${origin}/callback`,
    signedOut: `${origin}/signed-out`,
    close: () => new Promise<void>((closed) => server.close(() => closed())),
  };
}

type TheApp = Awaited<ReturnType<typeof startTheApp>>;

/** Each test gets a sample app of its own, closed when the test ends. */
const appTest = test.extend<{ theApp: TheApp }>({
  theApp: async ({}, use) => {
    const app = await startTheApp();
    await use(app);
    await app.close();
  },
});

function person() {
  return `e2e-${Math.random().toString(36).slice(2, 10)}`;
}

async function signInAs(page: Page, name: string) {
  await page.request.get(`${IDP_URL}/__test/as/${name}`);
  await page.goto('/login');
  await page.getByRole('button', { name: 'Continue with Dev IdP (local testing only)' }).click();
  await expect(page).toHaveURL(`${APP_URL}/dashboard`);
}

appTest('the /apps form reads well at 1280 px: every choice\'s words sit beside its box', async ({ browser }) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  await signInAs(page, person());
  await page.goto('/apps');
  const labels = await page.getByTestId('register-app').locator('label.check:has(.check-text)').all();
  expect(labels.length, 'the kinds, the sid choice and PAR').toBe(4);
  for (const label of labels) {
    const box = (await label.locator('input').boundingBox())!;
    const words = (await label.locator('.check-text').boundingBox())!;
    expect(words.x, `${await label.textContent()}: beside its box`).toBeGreaterThan(box.x + box.width);
    expect(words.y, `${await label.textContent()}: not under it`).toBeLessThan(box.y + box.height);
  }
  await expect(page.getByLabel('ID token signature')).toHaveValue('RS256');
  await context.close();
});

/** Registers a confidential app on /apps, without JavaScript needed, and reads its id and secret (shown once). */
async function registerApp(page: Page, name: string, app: TheApp) {
  await page.goto('/apps');
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Redirect URIs, one per line').fill(app.callback);
  await page.getByLabel('After sign-out, send people to (optional, one per line)').fill(app.signedOut);
  for (const scope of ['offline_access', 'profile:read']) {
    await page.locator(`input[name=scope][value="${scope}"]`).check();
  }
  await page.getByTestId('register-app-submit').click();
  await expect(page.getByTestId('new-client-secret')).toBeVisible();
  const clientId = (await page.getByTestId('new-client-secret').locator('code').first().textContent())!.trim();
  const secret = (await page.getByTestId('client-secret').textContent())!.trim();
  await page.getByTestId('dismiss-secret').click();
  await expect(page.getByTestId('new-client-secret')).toHaveCount(0);
  await expect(page.getByTestId('developer-app').filter({ hasText: name })).toBeVisible();
  return { clientId, secret };
}

async function configFor(clientId: string, secret: string) {
  // Gatehouse runs on http://127.0.0.1 here; the library refuses http unless told this is deliberate. The app is
  // an RS256-only relying party, as many are: openid-client refuses an ID token signed any other way.
  const config = await oidc.discovery(
    new URL(APP_URL),
    clientId,
    { client_secret: secret, id_token_signed_response_alg: 'RS256' },
    undefined,
    { execute: [oidc.allowInsecureRequests] },
  );
  expect(config.serverMetadata().id_token_signing_alg_values_supported).toContain('RS256');
  oidc.enableNonRepudiationChecks(config);
  return config;
}

async function callApi(accessToken: string) {
  return fetch(`${APP_URL}/api/v1/me`, { headers: { authorization: `Bearer ${accessToken}` } });
}

appTest('an app signs a person in with openid-client, refreshes, introspects and revokes; the person revokes it on /apps', async ({ page, theApp: app }) => {
  test.setTimeout(60_000);
  const name = person();
  await signInAs(page, name);
  const CALLBACK = app.callback;
  const { clientId, secret } = await registerApp(page, 'Sample app', app);
  const config = await configFor(clientId, secret);
  const metadata = config.serverMetadata();
  expect(metadata.issuer).toBe(APP_URL);
  expect(metadata.code_challenge_methods_supported).toEqual(['S256']);

  // The authorization code flow with PKCE, through the consent page.
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: CALLBACK,
    scope: 'openid profile email profile:read',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  await page.goto(url.href);
  await expect(page.getByTestId('consent-app')).toHaveText('Sample app');
  await expect(page.getByTestId('consent-scopes')).toContainText('See your email address');
  await page.getByTestId('consent-allow').click();
  await page.waitForURL(`${CALLBACK}?**`);
  const tokens = await oidc.authorizationCodeGrant(config, new URL(page.url()), {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims()!;
  expect(claims.iss).toBe(APP_URL);
  expect(claims.aud).toBe(clientId);
  expect(claims.nonce).toBe(nonce);

  const me = await callApi(tokens.access_token);
  expect(me.status).toBe(200);
  expect((await me.json()).id).toBe(claims.sub);
  const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
  expect(userinfo.email).toBeTruthy();

  // Refresh rotates; the old refresh token coming back ends the whole authorization.
  const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
  expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
  expect((await callApi(refreshed.access_token)).status).toBe(200);
  await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  await expect(oidc.refreshTokenGrant(config, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  expect((await callApi(refreshed.access_token)).status, 'reuse ended the family').toBe(401);
  expect((await oidc.tokenIntrospection(config, refreshed.access_token)).active).toBe(false);

  // A fresh sign-in, its request pushed first (PAR, RFC 9126): the browser carries only client_id and request_uri;
  // remembered consent, so straight back with a code.
  expect(metadata.pushed_authorization_request_endpoint).toBe(`${APP_URL}/oauth/par`);
  const verifier2 = oidc.randomPKCECodeVerifier();
  const state2 = oidc.randomState();
  const pushed = await oidc.buildAuthorizationUrlWithPAR(config, {
    redirect_uri: CALLBACK,
    scope: 'openid profile:read',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier2),
    code_challenge_method: 'S256',
    state: state2,
  });
  expect([...pushed.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
  await page.goto(pushed.href);
  await page.waitForURL(`${CALLBACK}?**`);
  const second = await oidc.authorizationCodeGrant(config, new URL(page.url()), {
    pkceCodeVerifier: verifier2,
    expectedState: state2,
  });
  const introspected = await oidc.tokenIntrospection(config, second.access_token);
  expect(introspected.active).toBe(true);
  expect(introspected.client_id).toBe(clientId);
  await oidc.tokenRevocation(config, second.refresh_token!);
  expect((await callApi(second.access_token)).status, 'revoking the refresh token ends its access tokens').toBe(401);

  // Client credentials: the app itself; the person routes refuse it.
  const own = await oidc.clientCredentialsGrant(config, { scope: 'profile:read' });
  expect((await oidc.tokenIntrospection(config, own.access_token)).sub).toBe(clientId);
  expect((await callApi(own.access_token)).status).toBe(403);

  // The person sees the app on /apps and revokes it: its newest token is refused from the next request.
  const third = await signInWithOfflineAccess(page, config, CALLBACK);
  expect((await callApi(third.access_token)).status).toBe(200);
  await page.goto('/apps');
  const row = page.getByTestId('authorized-app').filter({ hasText: 'Sample app' });
  await expect(row).toBeVisible();
  await row.getByTestId('revoke-app').click();
  await expect(page.getByTestId('authorized-app')).toHaveCount(0);
  expect((await callApi(third.access_token)).status).toBe(401);
  await expect(oidc.refreshTokenGrant(config, third.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
});

/** Asks for more than was allowed before (`offline_access`), so the consent page shows again. */
async function signInWithOfflineAccess(page: Page, config: oidc.Configuration, CALLBACK: string) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  await page.goto(
    oidc.buildAuthorizationUrl(config, {
      redirect_uri: CALLBACK,
      scope: 'openid offline_access profile:read',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      prompt: 'consent',
    }).href,
  );
  await page.getByTestId('consent-allow').click();
  await page.waitForURL(`${CALLBACK}?**`);
  return oidc.authorizationCodeGrant(config, new URL(page.url()), { pkceCodeVerifier: verifier, expectedState: state });
}

appTest('a command-line tool signs in with the device flow, and RP-initiated logout signs the person out', async ({ page, theApp: app }) => {
  test.setTimeout(60_000);
  await signInAs(page, person());
  const { clientId, secret } = await registerApp(page, 'Command-line tool', app);
  const config = await configFor(clientId, secret);

  const started = await oidc.initiateDeviceAuthorization(config, { scope: 'openid profile:read' });
  expect(started.verification_uri).toBe(`${APP_URL}/device`);
  await page.goto(started.verification_uri_complete!);
  await expect(page.getByTestId('device-code')).toHaveValue(started.user_code);
  await page.getByTestId('device-continue').click();
  await expect(page.getByTestId('device-shown-code')).toHaveText(started.user_code);
  await page.getByTestId('consent-allow').click();
  await expect(page.getByTestId('device-result')).toContainText('is connected');
  const tokens = await oidc.pollDeviceAuthorizationGrant(config, started);
  expect(tokens.claims()!.aud).toBe(clientId);
  expect((await callApi(tokens.access_token)).status).toBe(200);

  // The app signs the person out of Gatehouse, and gets them back at its registered address.
  const logout = oidc.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token!,
    post_logout_redirect_uri: app.signedOut,
    state: 'bye',
  });
  await page.goto(logout.href);
  await page.waitForURL(`${app.signedOut}?state=bye`);
  await page.goto('/dashboard');
  await expect(page).toHaveURL(/\/login\?next=/);
  expect((await callApi(tokens.access_token)).status, 'tokens of the ended session stop').toBe(401);
});
