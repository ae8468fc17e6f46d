// Passkeys in Chromium with its virtual authenticator (CDP `WebAuthn.*`: CTAP2, built in, resident keys, user
// verification), against the Gatehouse at http://localhost (passkeys need a host name): adding one on the profile,
// signing in with the button and with autofill, a passkey as the second step, a device that does not verify its
// holder, removal, an account made with a passkey alone and recovered by email, and the pages without JavaScript or
// where passkeys are off.
import type { CDPSession, Page } from '@playwright/test';
import { test, expect, SCREENSHOTS } from './fixtures';
import { APP_URL, IDP_URL, PASSKEY_URL } from '../playwright.config';
import { enrol } from './totp';
import { linkIn, mailAbout } from './mail';

test.use({ baseURL: PASSKEY_URL });

function person() {
  return `e2e-pk-${Math.random().toString(36).slice(2, 10)}`;
}

/** Signs `page` in through the Dev IdP as `name`. */
async function signInAs(page: Page, name: string) {
  await page.request.get(`${IDP_URL}/__test/as/${name}`);
  await page.goto('/login');
  await page.getByRole('button', { name: 'Continue with Dev IdP (local testing only)' }).click();
}

/** A virtual authenticator in `page`'s tab, as a laptop's built-in one: it keeps passkeys and verifies its holder. */
async function authenticator(page: Page): Promise<{ cdp: CDPSession; id: string }> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, id: authenticatorId };
}

/** Adds a passkey named `name` on the profile. */
async function addPasskey(page: Page, name: string) {
  await page.goto('/profile');
  const section = page.getByTestId('passkeys-section');
  await section.getByLabel('Name it (optional)').fill(name);
  await section.getByRole('button', { name: 'Add a passkey' }).click();
  await expect(page).toHaveURL(/\/profile\?passkey=added/);
  await expect(section.getByTestId('passkey-saved')).toContainText('Your passkey was added');
  await expect(section.getByTestId('passkey-name')).toHaveText([name]);
}

async function signOut(page: Page) {
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect(page).toHaveURL(`${PASSKEY_URL}/`);
}

/** From now on, this tab behaves as a browser without passkey autofill: only the button signs in. */
async function withoutAutofill(page: Page) {
  await page.addInitScript(() => {
    PublicKeyCredential.isConditionalMediationAvailable = async () => false;
  });
}

async function me(page: Page) {
  const response = await page.request.get('/api/v1/me');
  return { status: response.status(), body: response.ok() ? await response.json() : null };
}

test('add a passkey on the profile, sign out, and sign in with "Sign in with a passkey" (and the README screenshots)', async ({ page }) => {
  const { cdp, id } = await authenticator(page);
  const name = person();
  await signInAs(page, name);
  await expect(page).toHaveURL(`${PASSKEY_URL}/dashboard`);
  await addPasskey(page, 'Work laptop');
  const row = page.getByTestId('passkey');
  await expect(row).toContainText('this device only');
  await expect(row).toContainText('last used never');
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId: id });
  expect(credentials).toHaveLength(1);
  expect(credentials[0].isResidentCredential, 'a discoverable credential: no address needed').toBe(true);
  expect(credentials[0].rpId).toBe('localhost');
  await page.getByTestId('passkeys-section').screenshot({ path: `${SCREENSHOTS}/profile-passkeys.png` });

  await signOut(page);
  await withoutAutofill(page);
  await page.goto('/login');
  const button = page.getByTestId('passkey-sign-in');
  await expect(button).toBeVisible();
  // The login page stays free of WebAssembly: the passkey script is a small classic script.
  await expect(page.locator('link[href$=".wasm"], script[type="module"]')).toHaveCount(0);
  await page.screenshot({ path: `${SCREENSHOTS}/login-passkey.png`, fullPage: true });
  await button.click();
  await expect(page).toHaveURL(`${PASSKEY_URL}/dashboard`);
  const signedIn = await me(page);
  expect(signedIn.status).toBe(200);
  expect(signedIn.body.email, 'the same person who added the passkey').toContain(name);

  await page.goto('/profile');
  await expect(page.getByTestId('passkey')).not.toContainText('last used never');
});

test('passkey autofill on the address field signs in', async ({ page }) => {
  await authenticator(page);
  await signInAs(page, person());
  await expect(page).toHaveURL(`${PASSKEY_URL}/dashboard`);
  await addPasskey(page, 'Phone');
  await signOut(page);

  // Record how each passkey request was made: autofill's is `mediation: "conditional"`.
  await page.addInitScript(() => {
    const get = navigator.credentials.get.bind(navigator.credentials);
    navigator.credentials.get = (options) => {
      localStorage.setItem('mediations', `${localStorage.getItem('mediations') ?? ''} ${options?.mediation ?? 'modal'}`);
      return get(options);
    };
  });
  const html = await (await page.request.get('/login')).text();
  expect(html).toContain('autocomplete="username webauthn"');
  await page.goto('/login');
  // Chromium's virtual authenticator answers the autofill offer by itself, as a person picking the passkey would.
  await expect(page).toHaveURL(`${PASSKEY_URL}/dashboard`);
  expect((await page.evaluate(() => localStorage.getItem('mediations')))?.trim()).toBe('conditional');
  expect((await me(page)).status).toBe(200);
});

test.describe('second step', () => {
  // Turning two-step verification on tries a wrong code first (400), which Chromium logs.
  test.use({ expectedConsole: [/status of 400/] });

  test('a passkey answers the second step instead of a code', async ({ page }) => {
    await authenticator(page);
    const name = person();
    await signInAs(page, name);
    await expect(page).toHaveURL(`${PASSKEY_URL}/dashboard`);
    await enrol(page);
    await addPasskey(page, 'Laptop');
    await signOut(page);

    await withoutAutofill(page);
    await signInAs(page, name);
    await expect(page).toHaveURL(`${PASSKEY_URL}/login/mfa`);
    await page.getByTestId('passkey-second-step').click();
    await expect(page).toHaveURL(`${PASSKEY_URL}/dashboard`);
    expect((await me(page)).status).toBe(200);
  });
});

test.describe('refusals', () => {
  // A refused answer is a 401, which Chromium logs.
  test.use({ expectedConsole: [/status of 401/] });

  test('a device that does not verify its holder signs nobody in', async ({ page }) => {
    const { cdp, id } = await authenticator(page);
    await signInAs(page, person());
    await expect(page).toHaveURL(`${PASSKEY_URL}/dashboard`);
    await addPasskey(page, 'Laptop');
    await signOut(page);

    await cdp.send('WebAuthn.setUserVerified', { authenticatorId: id, isUserVerified: false });
    await withoutAutofill(page);
    await page.goto('/login');
    await page.getByTestId('passkey-sign-in').click();
    await expect(page.getByTestId('passkey-status')).toHaveText('No passkey was used. Try again, or choose another way.');
    await expect(page).toHaveURL(`${PASSKEY_URL}/login`);
    expect((await me(page)).status).toBe(401);
  });

  test('removing a passkey: it is gone from the profile and can no longer sign in', async ({ page }) => {
    const { cdp, id } = await authenticator(page);
    await signInAs(page, person());
    await expect(page).toHaveURL(`${PASSKEY_URL}/dashboard`);
    await addPasskey(page, 'Old key');
    await page.getByRole('button', { name: 'Remove Old key' }).click();
    await expect(page).toHaveURL(/\/profile\?passkey=removed/);
    await expect(page.getByTestId('passkey')).toHaveCount(0);
    await expect(page.getByTestId('passkeys-section')).toContainText('No passkeys yet.');
    await signOut(page);

    // The authenticator still holds it; Gatehouse no longer knows it.
    expect((await cdp.send('WebAuthn.getCredentials', { authenticatorId: id })).credentials).toHaveLength(1);
    await withoutAutofill(page);
    await page.goto('/login');
    await page.getByTestId('passkey-sign-in').click();
    await expect(page.getByTestId('passkey-status')).toContainText('not registered here');
    expect((await me(page)).status).toBe(401);
  });
});

test('without JavaScript the login page shows the other ways in and no passkey button', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false, baseURL: PASSKEY_URL });
  const page = await context.newPage();
  await page.goto('/login');
  await expect(page.getByRole('button', { name: 'Continue with Dev IdP (local testing only)' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Sign in', exact: true })).toBeVisible();
  await expect(page.getByTestId('passkey-sign-in')).toBeHidden();
  await context.close();
});

test('where APP_URL is an IP address, passkeys are off and the profile says why', async ({ page }) => {
  await page.request.get(`${IDP_URL}/__test/as/${person()}`);
  await page.goto(`${APP_URL}/login`);
  await expect(page.locator('script[src="/passkey.js"]')).toHaveCount(0);
  await page.getByRole('button', { name: 'Continue with Dev IdP (local testing only)' }).click();
  await expect(page).toHaveURL(`${APP_URL}/dashboard`);
  await page.goto(`${APP_URL}/profile`);
  await expect(page.getByTestId('passkeys-unavailable')).toContainText('not an IP address');
});

test('sign up with a passkey alone, lose it, and recover the account by email with a new one', async ({ page, request }) => {
  const { cdp, id } = await authenticator(page);
  await withoutAutofill(page);
  const email = `${person()}@example.test`;
  await page.goto('/signup');
  const form = page.getByTestId('passkey-sign-up-form');
  await form.getByLabel('Email address').fill(email);
  await form.getByLabel('Your name').fill('Ada Lovelace');
  await form.getByRole('button', { name: 'Sign up with a passkey' }).click();
  await expect(page.getByTestId('sign-up-sent')).toContainText('device that should hold your passkey');

  const created = await mailAbout(request, email, 'Create your Gatehouse passkey');
  await page.goto(linkIn(created, '/signup/passkey?token=', PASSKEY_URL));
  await page.getByRole('button', { name: 'Create my passkey' }).click();
  await expect(page).toHaveURL(/\/profile\?passkey=created/);
  await expect(page.getByTestId('passkey-saved')).toContainText('Welcome!');
  await expect(page.getByTestId('passkey')).toHaveCount(1);
  await expect(page.getByTestId('password-section')).toContainText('Add a password to sign in with');
  expect((await me(page)).body.email).toBe(email);

  // The device is lost (its passkeys gone); "Forgot your password?" mails a link to recover the account.
  await cdp.send('WebAuthn.clearCredentials', { authenticatorId: id });
  await signOut(page);
  await page.goto('/login');
  await page.getByRole('link', { name: 'Forgot your password?' }).click();
  await page.getByLabel('Email address').fill(email);
  await page.getByRole('button', { name: 'Send the link' }).click();
  await expect(page.getByTestId('reset-sent')).toBeVisible();
  const recover = await mailAbout(request, email, 'Recover your Gatehouse account');
  await page.goto(linkIn(recover, '/reset/new?token=', PASSKEY_URL));
  await page.getByRole('button', { name: 'Add a new passkey' }).click();
  await expect(page).toHaveURL(`${PASSKEY_URL}/login?recovered=1`);
  await expect(page.getByTestId('login-notice')).toContainText('Sign in with the new passkey');
  await mailAbout(request, email, 'Your Gatehouse account was recovered with a new passkey');

  await page.getByTestId('passkey-sign-in').click();
  await expect(page).toHaveURL(`${PASSKEY_URL}/dashboard`);
  expect((await me(page)).body.email).toBe(email);
  await page.goto('/profile');
  await expect(page.getByTestId('passkey')).toHaveCount(2);
});
