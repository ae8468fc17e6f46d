// The account pages in Chromium: profile edits, sessions, linking, export, deletion, API tokens, pages without
// JavaScript, small screens, and the screenshots the README shows. Each test signs in as a person of its own
// (`e2e-…` accounts on the Dev IdP), so tests running in parallel never touch each other's sessions.
import { readFile } from 'node:fs/promises';
import type { Browser, BrowserContext, Page } from '@playwright/test';
import { test, expect, waitForHydration, SCREENSHOTS } from './fixtures';
import { APP_URL, IDP_URL } from '../playwright.config';

function person() {
  return `e2e-${Math.random().toString(36).slice(2, 10)}`;
}

/** Signs `page` in through the Dev IdP as `name` and waits for the dashboard. */
async function signInAs(page: Page, name: string, { hydrate = true } = {}) {
  await page.request.get(`${IDP_URL}/__test/as/${name}`);
  await page.goto('/login');
  await page.getByRole('button', { name: 'Continue with Dev IdP (local testing only)' }).click();
  await expect(page).toHaveURL(`${APP_URL}/dashboard`);
  if (hydrate) await waitForHydration(page);
}

/** A new browser context signed in as `name`. */
async function device(browser: Browser, name: string, options: { javaScriptEnabled?: boolean } = {}) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  await signInAs(page, name, { hydrate: options.javaScriptEnabled !== false });
  return { context, page };
}

async function sessionCookie(context: BrowserContext) {
  return (await context.cookies(APP_URL)).find((cookie) => cookie.name === 'gatehouse_session');
}

test('a new display name is saved in place, shown in the header, and kept across a reload', async ({ page }) => {
  const name = person();
  await signInAs(page, name);
  await page.getByRole('link', { name: 'Profile', exact: true }).click();
  await expect(page).toHaveURL(`${APP_URL}/profile`);
  await page.evaluate(() => ((window as any).__stillHere = true));

  const input = page.getByLabel('Name shown to you and in your activity');
  await input.fill('  Ada Byron  ');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('rename-saved')).toHaveText('Saved.');
  await expect(page.getByTestId('profile-name')).toHaveText('Ada Byron');
  await expect(page.getByTestId('account-name')).toContainText('Ada Byron');
  await expect(page.locator('.profile-head [data-initials]'), 'the avatar follows').toHaveText('AB');
  expect(await page.evaluate(() => (window as any).__stillHere), 'saved without a page load').toBe(true);

  await page.reload();
  await expect(page.getByTestId('profile-name')).toHaveText('Ada Byron');
  await expect(page.getByLabel('Name shown to you and in your activity')).toHaveValue('Ada Byron');
});

test.describe(() => {
  // The refusal is an HTTP 400, which Chromium reports in the console.
  test.use({ expectedConsole: [/the server responded with a status of 400/] });

  test('an invalid display name shows an inline error and saves nothing', async ({ page }) => {
    await signInAs(page, person());
    await page.goto('/profile');
    await waitForHydration(page);
    const before = await page.getByTestId('profile-name').textContent();

    const input = page.getByLabel('Name shown to you and in your activity');
    await input.fill('    ');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect(page.getByTestId('rename-error')).toHaveText('Enter a display name.');
    await expect(input).toHaveAttribute('aria-invalid', 'true');
    await expect(page.getByTestId('rename-saved')).toHaveText('');

    await page.reload();
    await expect(page.getByTestId('profile-name')).toHaveText(before!);
  });
});

test.describe(() => {
  // The refusal is an HTTP 401, which Chromium reports in the console.
  test.use({ expectedConsole: [/the server responded with a status of 401/] });

  test('revoking a session from another browser signs that browser out on its next navigation', async ({ browser }) => {
    const name = person();
    const laptop = await device(browser, name);
    const phone = await device(browser, name);

    await laptop.page.goto('/dashboard');
    await waitForHydration(laptop.page);
    const sessions = laptop.page.getByTestId('session');
    await expect(sessions).toHaveCount(2);
    await expect(laptop.page.locator('[data-testid="session"][data-current="true"]')).toContainText('this device');
    await expect(laptop.page.getByTestId('stat-sessions')).toHaveText(/^2\s*active sessions$/);
    await laptop.page.locator('[data-testid="session"][data-current="false"]').getByRole('button', { name: /^Revoke/ }).click();
    await expect(sessions).toHaveCount(1);
    await expect(laptop.page.getByTestId('stat-sessions'), 'the summary follows the list').toHaveText(/^1\s*active session$/);

    await phone.page.getByRole('link', { name: 'Profile', exact: true }).click();
    await expect(phone.page).toHaveURL(`${APP_URL}/login?next=%2Fprofile`);
    await phone.page.goto('/dashboard');
    await expect(phone.page).toHaveURL(`${APP_URL}/login?next=%2Fdashboard`);
    await laptop.context.close();
    await phone.context.close();
  });
});

test('signing out at the provider ends the Gatehouse session that came from it, and only that one', async ({ browser }) => {
  const name = person();
  const laptop = await device(browser, name);
  const phone = await device(browser, name);

  // The Dev IdP's own sign-out (each browser context has its own session there): it POSTs a logout token naming
  // the laptop's IdP session to /auth/backchannel-logout/dev before it answers.
  await laptop.page.goto(`${IDP_URL}/session/end`);
  await expect(laptop.page.getByText('dev idp: signed out')).toBeVisible();
  await laptop.page.goto('/dashboard');
  await expect(laptop.page).toHaveURL(`${APP_URL}/login?next=%2Fdashboard`);

  await phone.page.goto('/dashboard');
  await expect(phone.page).toHaveURL(`${APP_URL}/dashboard`);
  await expect(phone.page.getByTestId('session')).toHaveCount(1);
  await expect(phone.page.getByText('Signed out at Dev IdP (local testing only): its session here ended')).toBeVisible();
  await laptop.context.close();
  await phone.context.close();
});

test('a program gets a current Dev IdP token, refreshed there with the refresh token the last refresh gave', async ({
  page,
  request,
}) => {
  const name = person();
  await signInAs(page, name);
  const created = await page.request.post('/api/v1/tokens', {
    headers: { Origin: APP_URL },
    data: { name: 'script', scopes: ['connections:token'], expires_in_days: 1 },
  });
  expect(created.status()).toBe(201);
  const bearer = { Authorization: `Bearer ${(await created.json()).secret}` };
  const listed = await request.get('/api/v1/connections', { headers: bearer });
  expect((await listed.json()).connections).toContainEqual(expect.objectContaining({ provider: 'dev', state: 'connected' }));

  // The IdP's access tokens last 45 s here, inside the minute before expiry in which Gatehouse refreshes: each ask
  // is a refresh grant at the real oidc-provider, which rotates the refresh token every time.
  const current = async () => {
    const answer = await request.post('/api/v1/connections/dev/token', { headers: bearer });
    expect(answer.status(), await answer.text()).toBe(200);
    return (await answer.json()).access_token as string;
  };
  const first = await current();
  const second = await current();
  expect(second, 'a second refresh, with the rotated refresh token').not.toBe(first);
  const userinfo = await request.get(`${IDP_URL}/me`, { headers: { Authorization: `Bearer ${second}` } });
  expect(userinfo.status(), 'the IdP accepts the token handed out').toBe(200);
  expect((await userinfo.json()).sub).toBe(`dev-${name}`);

  await page.goto('/profile');
  await expect(page.getByTestId('connection-state')).toHaveText('connected');
});

test('"sign out all other sessions" leaves only this one', async ({ browser }) => {
  const name = person();
  const here = await device(browser, name);
  const others = [await device(browser, name), await device(browser, name)];

  await here.page.goto('/dashboard');
  await waitForHydration(here.page);
  await expect(here.page.getByTestId('session')).toHaveCount(3);
  await here.page.getByRole('button', { name: 'Sign out all other sessions' }).click();
  await expect(here.page.getByText('2 sessions signed out.')).toBeVisible();
  await expect(here.page.getByTestId('session')).toHaveCount(1);
  await expect(here.page.getByTestId('stat-sessions')).toContainText('1');
  for (const other of others) {
    expect((await other.page.request.get('/api/v1/me')).status()).toBe(401);
    await other.context.close();
  }
  expect((await here.page.request.get('/api/v1/me')).status()).toBe(200);
  await here.context.close();
});

test.describe(() => {
  // The refusal is an HTTP 409, which Chromium reports in the console.
  test.use({ expectedConsole: [/the server responded with a status of 409/] });

  test('a second provider can be linked and unlinked, and the last one cannot be removed', async ({ page }) => {
    await signInAs(page, person());
    await page.goto('/profile');
    await waitForHydration(page);
    await expect(page.getByTestId('identities').getByRole('listitem')).toHaveCount(1);

    await page.getByRole('button', { name: 'Link Company SSO' }).click();
    await expect(page).toHaveURL(`${APP_URL}/profile`);
    await waitForHydration(page);
    await expect(page.getByTestId('identities').getByRole('listitem')).toHaveCount(2);
    await expect(page.getByTestId('identity-oidc')).toContainText('Company SSO');
    await expect(page.getByRole('button', { name: /^Link / })).toHaveCount(0);

    await page.getByTestId('identity-oidc').getByRole('button', { name: 'Remove Company SSO' }).click();
    await expect(page.getByTestId('identities').getByRole('listitem')).toHaveCount(1);
    await expect(page.getByRole('button', { name: 'Link Company SSO' })).toBeVisible();

    await page.getByTestId('identity-dev').getByRole('button', { name: /^Remove/ }).click();
    await expect(page.getByTestId('unlink-error')).toContainText('only way to sign in');
    await expect(page.getByTestId('identities').getByRole('listitem')).toHaveCount(1);

    await page.goto('/dashboard');
    const activity = page.getByTestId('activity');
    await expect(activity).toContainText('Linked Company SSO');
    await expect(activity).toContainText('Removed Company SSO');
  });
});

test('the export is a JSON download of this person and nobody else', async ({ page, browser }) => {
  const other = person();
  const someoneElse = await device(browser, other);
  await someoneElse.context.close();

  const name = person();
  await signInAs(page, name);
  await page.goto('/profile');
  await waitForHydration(page);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export').click()]);
  expect(download.suggestedFilename()).toBe('gatehouse-export.json');
  const text = await readFile((await download.path())!, 'utf8');
  const data = JSON.parse(text);
  expect(data.profile.email).toBe(`${name}@example.test`);
  expect(data.identities).toHaveLength(1);
  expect(data.sessions.length).toBeGreaterThanOrEqual(1);
  expect(data.security_activity.map((e: { kind: string }) => e.kind)).toContain('account_created');
  expect(text).not.toContain(other);
});

test.describe(() => {
  // The refusal is an HTTP 400, which Chromium reports in the console.
  test.use({ expectedConsole: [/the server responded with a status of 400/] });

  test('deleting the account removes everything and the old cookie no longer works', async ({ page, browser }) => {
    const name = person();
    await signInAs(page, name);
    const firstId = (await (await page.request.get('/api/v1/me')).json()).id;
    const cookie = await sessionCookie(page.context());
    await page.goto('/profile');
    await waitForHydration(page);

    const confirm = page.getByLabel(/to confirm/);
    await confirm.fill('someone@example.test');
    await page.getByRole('button', { name: 'Delete account' }).click();
    await expect(page.getByTestId('delete-error')).toContainText('Type your email address');
    expect((await page.request.get('/api/v1/me')).status()).toBe(200);

    await confirm.fill(`${name}@example.test`);
    await page.getByRole('button', { name: 'Delete account' }).click();
    await expect(page).toHaveURL(/\/\?deleted=1$/);
    await expect(page.getByRole('status')).toContainText('Your account was deleted');
    await expect(page.getByRole('link', { name: 'Sign in' })).toBeVisible();

    const replay = await browser.newContext();
    await replay.addCookies([{ ...cookie!, expires: -1 }]);
    expect((await replay.request.get(`${APP_URL}/api/v1/me`)).status()).toBe(401);
    await replay.close();

    // Signing in again with the same provider account starts afresh.
    await signInAs(page, name);
    const me = await (await page.request.get('/api/v1/me')).json();
    expect(me.id).not.toBe(firstId);
  });
});

test('the core forms work without JavaScript: rename (and its error), revoke, sign out', async ({ browser }) => {
  const name = person();
  const other = await device(browser, name);
  const noJs = await device(browser, name, { javaScriptEnabled: false });
  const page = noJs.page;

  await page.goto('/profile');
  await page.getByLabel('Name shown to you and in your activity').fill('   ');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('rename-error')).toHaveText('Enter a display name.');
  await page.getByLabel('Name shown to you and in your activity').fill('Plain HTML');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page).toHaveURL(/\/profile\??$/);
  await expect(page.getByTestId('profile-name')).toHaveText('Plain HTML');

  await page.goto('/dashboard');
  await expect(page.getByTestId('session')).toHaveCount(2);
  await page.locator('[data-testid="session"][data-current="false"]').getByRole('button', { name: /^Revoke/ }).click();
  await expect(page).toHaveURL(/\/dashboard\??$/);
  await expect(page.getByTestId('session')).toHaveCount(1);
  expect((await other.page.request.get('/api/v1/me')).status()).toBe(401);

  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect(page).toHaveURL(`${APP_URL}/`);
  expect((await page.request.get('/api/v1/me')).status()).toBe(401);
  await other.context.close();
  await noJs.context.close();
});

test('a token created on the dashboard calls the API until it is revoked', async ({ page, playwright }) => {
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: APP_URL });
  await signInAs(page, person());
  await expect(page.getByTestId('stat-tokens')).toHaveText(/^0\s*API tokens$/);
  await expect(page.getByText('No tokens yet.')).toBeVisible();
  await page.getByLabel('Name', { exact: true }).fill('deploy script');
  await page.getByRole('checkbox', { name: /sessions:read/ }).check();
  await page.getByLabel('Expires').selectOption('7');
  // The program below calls from this machine; the token is good from nowhere else.
  await page.getByLabel('Allowed addresses').fill('127.0.0.1, ::1');
  await page.getByTestId('create-token').click();

  const secretBox = page.getByTestId('new-token-secret');
  await expect(secretBox).toHaveValue(/^gth_[0-9A-Za-z]{49}$/);
  await page.getByTestId('copy-token').click();
  await expect(page.getByTestId('copy-token')).toHaveText('Copied');
  const secret = await page.evaluate(() => navigator.clipboard.readText());
  expect(secret).toBe(await secretBox.inputValue());
  const row = page.getByTestId('token').filter({ hasText: 'deploy script' });
  await expect(row).toContainText('profile:read');
  await expect(row).toContainText('sessions:read');
  await expect(row).toContainText('expires in 7 days');
  await expect(row.getByTestId('token-allowed-ips')).toHaveText('Only from 127.0.0.1/32, ::1/128');
  await expect(page.getByTestId('stat-tokens'), 'the summary follows the list').toHaveText(/^1\s*API token$/);
  await expect(page.getByText('No tokens yet.')).toBeHidden();
  await expect(page.getByLabel('Name', { exact: true }), 'the form is ready for the next token').toHaveValue('');

  const program = await playwright.request.newContext({ baseURL: APP_URL });
  const me = await program.get('/api/v1/me', { headers: { authorization: `Bearer ${secret}` } });
  expect(me.status()).toBe(200);
  const forbidden = await program.get('/api/v1/tokens', { headers: { authorization: `Bearer ${secret}` } });
  expect(forbidden.status()).toBe(403);

  await row.getByRole('button', { name: 'Revoke deploy script' }).click();
  await expect(page.getByTestId('token')).toHaveCount(0);
  await expect(page.getByTestId('stat-tokens')).toHaveText(/^0\s*API tokens$/);
  await expect(page.getByText('No tokens yet.')).toBeVisible();
  const after = await program.get('/api/v1/me', { headers: { authorization: `Bearer ${secret}` } });
  expect(after.status()).toBe(401);
  expect(after.headers()['www-authenticate']).toContain('error="invalid_token"');
  await program.dispose();

  await page.reload();
  await expect(page.getByTestId('new-token')).toHaveCount(0);
  expect(await page.content(), 'the secret is never shown again').not.toContain(secret);
});

test('the account pages fit a 360 px screen and do not shift when they hydrate', async ({ browser }) => {
  const context = await browser.newContext({ viewport: { width: 360, height: 740 } });
  await context.addInitScript(() => {
    (window as any).__shift = 0;
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries() as any[]) if (!entry.hadRecentInput) (window as any).__shift += entry.value;
    }).observe({ type: 'layout-shift', buffered: true });
  });
  const page = await context.newPage();
  await signInAs(page, person());
  for (const path of ['/dashboard', '/profile', '/developers']) {
    await page.goto(path);
    await waitForHydration(page);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width, `${path} has no sideways scrolling`).toBeLessThanOrEqual(360);
    const shift = await page.evaluate(() => (window as any).__shift as number);
    expect(shift, `${path} layout shift`).toBeLessThan(0.01);
  }
  await context.close();
});

test('screenshots of the profile and dashboard for the README', async ({ browser }) => {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, colorScheme: 'light' });
  const page = await context.newPage();
  await signInAs(page, person());
  await page.goto('/profile');
  await waitForHydration(page);
  await page.getByLabel('Name shown to you and in your activity').fill('Ada Lovelace');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByTestId('rename-saved')).toHaveText('Saved.');
  await page.screenshot({ path: `${SCREENSHOTS}/profile.png`, fullPage: true });
  await page.goto('/dashboard');
  await waitForHydration(page);
  await page.getByLabel('Name', { exact: true }).fill('CI deploy');
  await page.getByTestId('create-token').click();
  await expect(page.getByTestId('new-token')).toBeVisible();
  await page.screenshot({ path: `${SCREENSHOTS}/dashboard.png`, fullPage: true });
  await context.close();
});

test('every page is complete without JavaScript', async ({ browser }) => {
  const anonymous = await browser.newContext({ javaScriptEnabled: false });
  const visitor = await anonymous.newPage();
  for (const path of ['/', '/login', '/developers']) {
    await visitor.goto(path);
    await expect(visitor.locator('h1')).toBeVisible();
    await expect(visitor.getByRole('link', { name: 'Sign in', exact: true })).toBeVisible();
  }
  await visitor.goto('/');
  await expect(visitor.getByTestId('step-detail')).not.toBeEmpty();
  await visitor.goto('/login');
  await expect(visitor.getByRole('button', { name: 'Continue with Dev IdP (local testing only)' })).toBeVisible();
  await anonymous.close();

  const noJs = await device(browser, person(), { javaScriptEnabled: false });
  const page = noJs.page;
  await page.goto('/dashboard');
  await expect(page.getByTestId('welcome')).toContainText('Welcome');
  await expect(page.getByTestId('stat-sessions')).toContainText('1');
  await expect(page.getByTestId('session')).toHaveCount(1);
  await expect(page.getByTestId('activity').locator('li').first()).toBeVisible();
  await expect(page.getByTestId('token-form')).toBeVisible();
  await page.goto('/profile');
  await expect(page.getByTestId('profile-name')).not.toBeEmpty();
  await expect(page.getByTestId('identities').locator('li')).toHaveCount(1);
  await expect(page.getByTestId('account-name')).toBeVisible();
  await page.goto('/developers');
  await expect(page.locator('h1')).toBeVisible();
  await noJs.context.close();
});
