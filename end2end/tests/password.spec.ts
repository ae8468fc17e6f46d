// Email and password accounts in Chromium, with the mail read from maildev's API as a person reads their inbox:
// sign up → confirm the address → sign in; reset by email; change the password; all of it also without JavaScript.
import type { APIRequestContext, Page } from '@playwright/test';
import { test, expect } from './fixtures';

// A wrong password answers 401 and a refused form 400 (the page shows why); Chromium logs those statuses.
test.use({ expectedConsole: [/status of 40[01]/] });
import { APP_URL } from '../playwright.config';
import { linkIn, mailTo, type Mail } from './mail';

const PASSWORD = 'tramway lagoon pistachio';
const NEW_PASSWORD = 'orchard kettle semaphore';

/** An address no other test uses (the tests share one database and one inbox). */
function freshEmail(tag: string) {
  return `${tag}.${Date.now()}.${Math.floor(Math.random() * 1e6)}@example.test`;
}

async function signUp(page: Page, email: string, name = 'Grace Hopper', password = PASSWORD) {
  await page.goto('/signup');
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Your name').fill(name);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
}

/**
 * Signs up and waits until the account exists. The form answers at once and the account is created after the
 * answer (so the time says nothing about whether the address was taken): the confirmation mail is the sign that it
 * is there. Signing in before then is a race the test would sometimes lose.
 */
async function signUpAndWait(page: Page, request: APIRequestContext, email: string): Promise<Mail> {
  await signUp(page, email);
  await expect(page.getByTestId('sign-up-sent')).toContainText('Check your email');
  return mailTo(request, email);
}

async function signInWithPassword(page: Page, email: string, password: string) {
  await page.goto('/login');
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

for (const javaScriptEnabled of [true, false]) {
  const how = javaScriptEnabled ? '' : ' (without JavaScript)';

  test(`sign up, confirm the address from the mail, and sign in${how}`, async ({ browser, request }) => {
    const context = await browser.newContext({ javaScriptEnabled });
    const page = await context.newPage();
    const email = freshEmail('signup');

    // A weak password is refused with a reason, and nothing is lost but the password field.
    await signUp(page, email, 'Grace Hopper', 'password1');
    await expect(page.getByTestId('sign-up-error')).toContainText('too easy to guess');

    const mail = await signUpAndWait(page, request, email);
    expect(mail.subject).toBe('Confirm your email address for Gatehouse');
    expect(mail.text).not.toContain(PASSWORD);
    await page.goto(linkIn(mail, '/verify-email?token='));
    await page.getByRole('button', { name: 'Confirm my address' }).click();
    await expect(page).toHaveURL(`${APP_URL}/login?verified=1`);
    await expect(page.getByTestId('login-notice')).toContainText('confirmed');

    await signInWithPassword(page, email, 'not the password at all');
    await expect(page.getByTestId('sign-in-error')).toContainText('do not match');
    await signInWithPassword(page, email, PASSWORD);
    await expect(page).toHaveURL(`${APP_URL}/dashboard`);
    await expect(page.getByTestId('welcome')).toHaveText('Welcome, Grace Hopper');

    await page.goto('/profile');
    await expect(page.getByTestId('profile-email')).toContainText('verified');
    await expect(page.getByTestId('password-section')).toContainText(email);
    await context.close();
  });

  test(`reset a forgotten password by email: every session ends${how}`, async ({ browser, request }) => {
    const email = freshEmail('reset');
    const first = await browser.newContext({ javaScriptEnabled });
    const signedIn = await first.newPage();
    await signUpAndWait(signedIn, request, email);
    await signInWithPassword(signedIn, email, PASSWORD);
    await expect(signedIn).toHaveURL(`${APP_URL}/dashboard`);

    const context = await browser.newContext({ javaScriptEnabled });
    const page = await context.newPage();
    await page.goto('/login');
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.getByLabel('Email address').fill(email);
    await page.getByRole('button', { name: 'Send the link' }).click();
    await expect(page.getByTestId('reset-sent')).toBeVisible();

    const mail = await mailTo(request, email, 2);
    expect(mail.subject).toBe('Reset your Gatehouse password');
    await page.goto(linkIn(mail, '/reset/new?token='));
    await page.getByRole('textbox', { name: 'New password' }).fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await expect(page).toHaveURL(`${APP_URL}/login?reset=1`);

    // The other browser was signed out.
    await signedIn.goto('/dashboard');
    await expect(signedIn).toHaveURL(`${APP_URL}/login?next=%2Fdashboard`);

    await signInWithPassword(page, email, NEW_PASSWORD);
    await expect(page).toHaveURL(`${APP_URL}/dashboard`);
    await first.close();
    await context.close();
  });
}

test('change the password from the profile, given the current one', async ({ page, request }) => {
  const email = freshEmail('change');
  await signUpAndWait(page, request, email);
  await signInWithPassword(page, email, PASSWORD);
  await page.goto('/profile');
  const form = page.getByTestId('change-password-form');
  await form.getByLabel('Current password').fill('wrong current password');
  await form.getByLabel('New password').fill(NEW_PASSWORD);
  await form.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByTestId('password-error')).toContainText('current password is not right');

  await form.getByLabel('Current password').fill(PASSWORD);
  await form.getByLabel('New password').fill(NEW_PASSWORD);
  await form.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByTestId('password-saved')).toContainText('password was changed');
});
