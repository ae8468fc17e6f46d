// Pages a person sees before signing in: home, not found, and the layout on a small screen.
import { test, expect, waitForHydration } from './fixtures';

test.describe('not found', () => {
  // Chromium logs the 404 status of the document itself; nothing else may appear.
  test.use({ expectedConsole: [/^error: Failed to load resource: the server responded with a status of 404/] });

  test('an unknown address shows the styled not-found page with HTTP 404', async ({ page }) => {
  const response = await page.goto('/this/does/not/exist');
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
  await expect(page).toHaveTitle('Page not found · Gatehouse');
  // No island on this page, so nothing to hydrate: it does not even load the WebAssembly, and its links are plain.
  await expect(page.locator('link[href$=".wasm"], script[type="module"]')).toHaveCount(0);
  await page.getByRole('link', { name: 'Go to the home page' }).click();
  await expect(page).toHaveURL('/');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Sign in once. Stay in control.');
  });
});

test('the home page says what Gatehouse is and fits a 360 px wide screen', async ({ page }) => {
  await page.setViewportSize({ width: 360, height: 740 });
  await page.goto('/');
  await expect(page).toHaveTitle('Gatehouse');
  await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
  await expect(page.getByText('Google, GitHub or your organisation')).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow, 'no horizontal scrolling').toBeLessThanOrEqual(0);
  await waitForHydration(page);
});

test('the skip link moves keyboard focus past the header', async ({ page }) => {
  await page.goto('/');
  await waitForHydration(page);
  await page.keyboard.press('Tab');
  const skip = page.getByRole('link', { name: 'Skip to content' });
  await expect(skip).toBeFocused();
  await expect(skip).toBeVisible();
});
