// Signing in through the real Dev IdP (oidc-provider) in Chromium: the flow, sign-out, refusals, `next`, cookies.
import type { BrowserContext, Page } from '@playwright/test';
import { test, expect, waitForHydration } from './fixtures';
import { APP_URL, IDP_URL } from '../playwright.config';

const SESSION_COOKIE = 'gatehouse_session';

async function signIn(page: Page, start = '/login') {
  await page.goto(start);
  await page.getByRole('button', { name: 'Continue with Dev IdP (local testing only)' }).click();
}

async function sessionCookie(context: BrowserContext) {
  return (await context.cookies(APP_URL)).find((cookie) => cookie.name === SESSION_COOKIE);
}

test('signing in lands on the dashboard, survives a reload, and shows the person in the header', async ({ page }) => {
  await signIn(page);
  await expect(page).toHaveURL(`${APP_URL}/dashboard`);
  await expect(page.getByTestId('welcome')).toHaveText('Welcome, Ada Lovelace');
  await expect(page.getByTestId('account-name')).toContainText('Ada Lovelace');
  await waitForHydration(page);

  await page.reload();
  await expect(page.getByTestId('welcome')).toHaveText('Welcome, Ada Lovelace');
  const me = await page.request.get('/api/v1/me');
  expect(me.status()).toBe(200);
  expect(await me.json()).toMatchObject({ display_name: 'Ada Lovelace', email: 'ada@example.test', email_verified: true, providers: ['dev'] });
});

test('signing out ends the session on the server: pages redirect and the old cookie is dead', async ({ page, browser }) => {
  await signIn(page);
  await expect(page.getByTestId('welcome')).toBeVisible();
  await waitForHydration(page);
  const oldCookie = await sessionCookie(page.context());
  expect(oldCookie).toBeDefined();

  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect(page).toHaveURL(`${APP_URL}/`);
  await expect(page.getByRole('link', { name: 'Sign in' })).toBeVisible();

  await page.goto('/dashboard');
  await expect(page).toHaveURL(`${APP_URL}/login?next=%2Fdashboard`);

  // Replaying the old cookie in a fresh browser gets nothing.
  const replay = await browser.newContext();
  await replay.addCookies([{ ...oldCookie!, expires: -1 }]);
  const response = await replay.request.get(`${APP_URL}/api/v1/me`);
  expect(response.status()).toBe(401);
  const replayPage = await replay.newPage();
  await replayPage.goto(`${APP_URL}/profile`);
  await expect(replayPage).toHaveURL(`${APP_URL}/login?next=%2Fprofile`);
  await replay.close();
});

test('sign-out works without JavaScript', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await signIn(page);
  await expect(page.getByTestId('welcome')).toHaveText('Welcome, Ada Lovelace');
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect(page).toHaveURL(`${APP_URL}/`);
  expect((await context.request.get(`${APP_URL}/api/v1/me`)).status()).toBe(401);
  await context.close();
});

test.describe('refusals', () => {
  // Chromium logs the 400 status of the refusal page itself.
  test.use({ expectedConsole: [/^error: Failed to load resource: the server responded with a status of 400/] });

  test('refusing consent at the provider shows why and signs nobody in', async ({ page }) => {
  // The IdP's test control sets a cookie on its own origin, in this browser context's cookie jar.
    await page.request.get(`${IDP_URL}/__test/deny`);
  await signIn(page);
  await expect(page.getByRole('heading', { name: 'Sign-in was cancelled' })).toBeVisible();
  await expect(page.getByTestId('problem-message')).toContainText('The person declined to sign in.');
  await expect(page.getByRole('link', { name: 'Try again' })).toHaveAttribute('href', '/login');
  expect((await page.request.get('/api/v1/me')).status()).toBe(401);
  });
});

test('signing in again finds the same person', async ({ page }) => {
  await signIn(page);
  await expect(page.getByTestId('welcome')).toBeVisible();
  const first = await (await page.request.get('/api/v1/me')).json();
  await page.context().clearCookies();
  await signIn(page);
  await expect(page.getByTestId('welcome')).toBeVisible();
  const second = await (await page.request.get('/api/v1/me')).json();
  expect(second.id).toBe(first.id);
});

test('next is honoured for a page on this site and ignored when absolute', async ({ page }) => {
  await page.goto('/profile');
  await expect(page).toHaveURL(`${APP_URL}/login?next=%2Fprofile`);
  await page.getByRole('button', { name: 'Continue with Dev IdP (local testing only)' }).click();
  await expect(page).toHaveURL(`${APP_URL}/profile`);
  await expect(page.getByTestId('profile-email')).toContainText('ada@example.test');

  await page.context().clearCookies();
  await signIn(page, `/login?next=${encodeURIComponent('https://evil.example/steal')}`);
  await expect(page).toHaveURL(`${APP_URL}/dashboard`);
});

test('the session cookie is HttpOnly, SameSite=Lax, path / — and a planted cookie does not survive sign-in', async ({ page, context }) => {
  await context.addCookies([{ name: SESSION_COOKIE, value: 'planted-by-an-attacker', url: APP_URL }]);
  await signIn(page);
  await expect(page.getByTestId('welcome')).toBeVisible();
  const cookie = await sessionCookie(context);
  expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/', secure: false });
  expect(cookie!.value).not.toBe('planted-by-an-attacker');
  // Scripts cannot read it.
  expect(await page.evaluate(() => document.cookie)).not.toContain(SESSION_COOKIE);
});

test('a second test account is a different person', async ({ page }) => {
  await page.request.get(`${IDP_URL}/__test/as/grace`);
  await signIn(page);
  await expect(page.getByTestId('welcome')).toHaveText('Welcome, Grace Hopper');
});

test('without "Keep me signed in" the cookie ends with the browser; with it, it outlives the browser', async ({ browser }) => {
  for (const keep of [false, true]) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto('/login');
    if (keep) {
      await page.getByLabel('Keep me signed in on this device').check();
    }
    await page.getByRole('button', { name: 'Continue with Dev IdP (local testing only)' }).click();
    await expect(page).toHaveURL(`${APP_URL}/dashboard`);
    const cookie = await sessionCookie(context);
    if (keep) {
      // SESSION_MAX_LIFETIME, 30 days by default.
      expect(cookie!.expires).toBeGreaterThan(Date.now() / 1000 + 29 * 86400);
    } else {
      expect(cookie!.expires).toBe(-1);
    }
    await context.close();
  }
});
