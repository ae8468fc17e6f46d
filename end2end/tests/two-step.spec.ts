// Two-step verification in Chromium: a person turns it on from the key the page shows (the test computes codes as
// a phone app would, RFC 6238 with Node's crypto), signs in again with password and code, uses a recovery code once,
// and confirms it is them before deleting the account.
import { execFileSync } from 'node:child_process';
import type { Page } from '@playwright/test';
import { test, expect, waitForHydration, SCREENSHOTS } from './fixtures';
import { APP_URL, IDP_URL } from '../playwright.config';
import { linkIn, mailTo } from './mail';
import { enrol, totp } from './totp';

// Wrong codes answer 401, and the confirmation refusal 403; Chromium logs those statuses.
test.use({ expectedConsole: [/status of 40[13]/] });

const PASSWORD = 'tramway lagoon pistachio';

function freshEmail() {
  return `twostep.${Date.now()}.${Math.floor(Math.random() * 1e6)}@example.test`;
}

/** Signs up, confirms the address from the mail in the catcher, and signs in. */
async function signUpAndSignIn(page: Page, email: string) {
  await page.goto('/signup');
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Your name').fill('Katherine Johnson');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByTestId('sign-up-sent')).toBeVisible();
  const mail = await mailTo(page.request, email);
  await page.goto(linkIn(mail, '/verify-email?token='));
  await page.getByRole('button', { name: 'Confirm my address' }).click();
  await expect(page).toHaveURL(`${APP_URL}/login?verified=1`);
  await signInWithPassword(page, email);
}

async function signInWithPassword(page: Page, email: string) {
  await page.goto('/login');
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

async function signOut(page: Page) {
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect(page).toHaveURL(`${APP_URL}/`);
}

for (const javaScriptEnabled of [true, false]) {
  test(`turn on an authenticator app, then sign in with password and code${javaScriptEnabled ? '' : ' (without JavaScript)'}`, async ({ browser }) => {
    const context = await browser.newContext({ javaScriptEnabled });
    const page = await context.newPage();
    const email = freshEmail();
    await signUpAndSignIn(page, email);
    const { key, codes } = await enrol(page);
    await signOut(page);

    await signInWithPassword(page, email);
    await expect(page).toHaveURL(`${APP_URL}/login/mfa`);
    // Between the two steps, nothing else opens.
    await page.goto('/dashboard');
    await expect(page).toHaveURL(`${APP_URL}/login?next=%2Fdashboard`);
    await page.goto('/login/mfa');
    await page.getByLabel('Code').fill(totp(key, 1));
    await page.getByRole('button', { name: 'Verify' }).click();
    await expect(page).toHaveURL(`${APP_URL}/dashboard`);
    await expect(page.getByTestId('welcome')).toHaveText('Welcome, Katherine Johnson');

    // A recovery code works once.
    await signOut(page);
    await signInWithPassword(page, email);
    await page.getByLabel('Code').fill(codes[0]);
    await page.getByRole('button', { name: 'Verify' }).click();
    await expect(page).toHaveURL(`${APP_URL}/dashboard`);
    await signOut(page);
    await signInWithPassword(page, email);
    await page.getByLabel('Code').fill(codes[0]);
    await page.getByRole('button', { name: 'Verify' }).click();
    await expect(page.getByTestId('challenge-error')).toContainText('not right');
    await context.close();
  });
}

test('deleting the account asks to confirm it is you first', async ({ page }) => {
  const email = freshEmail();
  await signUpAndSignIn(page, email);
  await expect(page).toHaveURL(`${APP_URL}/dashboard`);
  // Signing in confirmed who this is, for ten minutes; make it eleven minutes ago.
  ageConfirmations(email);

  await page.goto('/profile');
  await waitForHydration(page);
  await page.getByLabel(/Type your email address/).fill(email);
  await page.getByRole('button', { name: 'Delete account' }).click();
  await expect(page).toHaveURL(`${APP_URL}/confirm?next=%2Fprofile`);
  await expect(page.getByRole('heading', { name: "Confirm it's you" })).toBeVisible();
  await page.getByLabel('Your password').fill('not the password');
  await page.getByRole('button', { name: 'Confirm with password' }).click();
  await expect(page.getByTestId('confirm-error')).toContainText('not right');
  await page.getByLabel('Your password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Confirm with password' }).click();
  await expect(page).toHaveURL(`${APP_URL}/profile`);

  await waitForHydration(page);
  await page.getByLabel(/Type your email address/).fill(email);
  await page.getByRole('button', { name: 'Delete account' }).click();
  await expect(page).toHaveURL(`${APP_URL}/?deleted=1`);
});

test('an account that signs in with a provider confirms there, asked to sign in again', async ({ page }) => {
  const name = `e2e-${Math.random().toString(36).slice(2, 10)}`;
  await page.request.get(`${IDP_URL}/__test/as/${name}`);
  await page.goto('/login');
  await page.getByRole('button', { name: 'Continue with Dev IdP (local testing only)' }).click();
  await expect(page).toHaveURL(`${APP_URL}/dashboard`);
  ageConfirmations(`${name}@example.test`);

  await page.goto('/profile');
  await waitForHydration(page);
  await page.getByLabel(/Type your email address/).fill(`${name}@example.test`);
  await page.getByRole('button', { name: 'Delete account' }).click();
  await expect(page).toHaveURL(`${APP_URL}/confirm?next=%2Fprofile`);
  // No password and no authenticator: the provider is the way.
  await expect(page.getByTestId('confirm-password-form')).toHaveCount(0);
  await page.getByRole('link', { name: 'Sign in again with Dev IdP (local testing only)' }).click();
  await expect(page).toHaveURL(`${APP_URL}/profile`);

  await waitForHydration(page);
  await page.getByLabel(/Type your email address/).fill(`${name}@example.test`);
  await page.getByRole('button', { name: 'Delete account' }).click();
  await expect(page).toHaveURL(`${APP_URL}/?deleted=1`);
});

/** Moves the last confirmation of identity of `email`'s sessions back in time, in the app's SQLite file (as time
 * passing would). Other tests' sessions are left alone. */
function ageConfirmations(email: string) {
  execFileSync('python3', [
    '-c',
    'import sqlite3, sys; db = sqlite3.connect(sys.argv[1], timeout=10); ' +
      'db.execute("UPDATE user_sessions SET confirmed_at = confirmed_at - 660 WHERE user_id = ' +
      '(SELECT id FROM users WHERE email = ?)", (sys.argv[2],)); db.commit()',
    '../target/e2e/gatehouse.db',
    email,
  ]);
}


test('screenshots of the login page and two-step setup for the README', async ({ browser }) => {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, colorScheme: 'light' });
  const page = await context.newPage();
  await page.goto('/login');
  await page.screenshot({ path: `${SCREENSHOTS}/login.png`, fullPage: true });
  await signUpAndSignIn(page, freshEmail());
  await page.goto('/profile');
  await page.getByTestId('two-step-start').click();
  await expect(page.locator('.qr svg')).toBeVisible();
  await page.screenshot({ path: `${SCREENSHOTS}/two-step.png`, fullPage: true });
  await context.close();
});
