// The release build hydrates: components that need the WebAssembly app work, without a page load.
import { test, expect, waitForHydration } from './fixtures';

test('the home page hydrates and the sign-in walkthrough changes in place', async ({ page }) => {
  const documents: string[] = [];
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) documents.push(frame.url());
  });

  const response = await page.goto('/');
  expect(response?.status()).toBe(200);
  await waitForHydration(page);
  const loadsBeforeClick = documents.length;
  await page.evaluate(() => ((window as unknown as { sameDocument: boolean }).sameDocument = true));

  const detail = page.getByTestId('step-detail');
  await expect(detail).toContainText('You choose a provider');

  const third = page.getByRole('button', { name: /Gatehouse checks the answer/ });
  await expect(third).toHaveAttribute('aria-pressed', 'false');
  await third.click();

  await expect(third).toHaveAttribute('aria-pressed', 'true');
  await expect(detail).toContainText('signature, issuer, audience, expiry and nonce');
  await expect(page.getByRole('button', { name: /You choose a provider/ })).toHaveAttribute('aria-pressed', 'false');

  // Same document, no navigation: the change came from the hydrated app, not a server round trip.
  expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
  expect(documents.length).toBe(loadsBeforeClick);
});

test('the page is served with a nonce policy that the hydration script satisfies', async ({ page }) => {
  const response = await page.goto('/');
  const csp = response?.headers()['content-security-policy'] ?? '';
  expect(csp).toContain("script-src 'self' 'nonce-");
  expect(csp).toContain("'wasm-unsafe-eval'");
  // If the policy blocked anything, the console fixture fails the test; hydration proves the scripts ran.
  await waitForHydration(page);
});
