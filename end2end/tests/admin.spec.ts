// The admin area in Chromium: an operator (ADMIN_EMAILS) is asked for two-step verification first, because
// password accounts exist here; then finds a person, disables the account, and the person is signed out and told
// so at their next sign-in; the audit viewer shows it, and exports it.
import { readFile } from 'node:fs/promises';
import type { Page } from '@playwright/test';
import { test, expect, SCREENSHOTS } from './fixtures';
import { APP_URL, IDP_URL } from '../playwright.config';
import { enrol, totp } from './totp';

// The refusals answer 403, a signed-out page 401, and the wrong first code while turning on two-step verification
// 400; Chromium logs those statuses.
test.use({ expectedConsole: [/status of 40[013]/] });

/** Starts a sign-in through the Dev IdP as `name`. */
async function startSignIn(page: Page, name: string) {
  await page.request.get(`${IDP_URL}/__test/as/${name}`);
  await page.goto('/login');
  await page.getByRole('button', { name: 'Continue with Dev IdP (local testing only)' }).click();
}

test('an administrator disables an account; its owner is signed out and told at sign-in; the trail shows it (and the admin screenshots)', async ({ browser, page }) => {
  const victim = `e2e-${Math.random().toString(36).slice(2, 10)}`;
  const theirs = await (await browser.newContext()).newPage();
  await startSignIn(theirs, victim);
  await expect(theirs).toHaveURL(`${APP_URL}/dashboard`);

  // The operator: refused until two-step verification is on.
  await startSignIn(page, 'e2e-admin');
  await expect(page).toHaveURL(`${APP_URL}/dashboard`);
  await page.goto('/admin');
  await expect(page.getByRole('alert')).toContainText('needs two-step verification');
  const { key } = await enrol(page);
  // Turning two-step on is no second factor for this session (it signed in with one): it confirms with a code.
  await page.goto('/admin');
  await expect(page.getByTestId('admin-confirm')).toContainText('passed two-step verification');
  await page.getByRole('link', { name: 'Confirm with a code' }).click();
  await expect(page).toHaveURL(`${APP_URL}/confirm?next=%2Fadmin`);
  await page.getByLabel('Code from your authenticator app').fill(totp(key, 1));
  await page.getByRole('button', { name: 'Confirm', exact: true }).click();
  await expect(page).toHaveURL(`${APP_URL}/admin`);
  await page.getByLabel('Search people').fill(victim);
  await page.getByRole('button', { name: 'Search' }).click();
  await expect(page.getByTestId('admin-person')).toHaveCount(1);
  await page.getByTestId('admin-person').getByRole('link').click();
  await expect(page.getByTestId('person-sessions').getByRole('listitem')).toHaveCount(1);
  await page.getByTestId('disable-account').click();
  await expect(page.getByTestId('person-disabled')).toBeVisible();
  await expect(page.getByTestId('person-sessions').getByRole('listitem')).toHaveCount(0);
  await page.setViewportSize({ width: 1100, height: 900 });
  await page.screenshot({ path: `${SCREENSHOTS}/admin-person.png`, fullPage: true });

  // Its owner is signed out at once, and told why at the next sign-in.
  await theirs.reload();
  await expect(theirs, 'sent to sign in').toHaveURL(/\/login/);
  await startSignIn(theirs, victim);
  await expect(theirs.getByRole('heading', { name: 'This account is disabled' })).toBeVisible();
  await expect(theirs.getByTestId('problem-message')).toContainText('An administrator has disabled');

  // The trail: the disabling and the refused sign-in, the chain intact, and an export that holds them.
  await page.goto('/admin/audit?kind=account_disabled');
  await expect(page.getByTestId('chain-status')).toContainText('The hash chain verifies');
  await expect(page.getByTestId('audit-events').locator('tbody tr')).toHaveCount(1);
  await page.goto('/admin/audit');
  await page.screenshot({ path: `${SCREENSHOTS}/admin-audit.png` });
  await page.goto('/admin/audit?kind=account_disabled');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-csv').click()]);
  expect(download.suggestedFilename()).toMatch(/^gatehouse-audit-\d{8}-\d{6}\.csv$/);
  const csv = await readFile((await download.path())!, 'utf8');
  expect(csv.split('\r\n')[0]).toBe('id,seq,time,kind,summary,user_id,person,ip,browser,detail');
  expect(csv).toContain(',account_disabled,Account disabled by an administrator,');
});
