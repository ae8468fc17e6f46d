// Shared test fixture: every test fails if the page logs a console error or warning, or throws.
import { test as base, expect } from '@playwright/test';

export const test = base.extend<{ consoleProblems: string[] }>({
  consoleProblems: [
    async ({ page }, use) => {
      const problems: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error' || message.type() === 'warning') {
          problems.push(`${message.type()}: ${message.text()}`);
        }
      });
      page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
      await use(problems);
      expect(problems, 'the browser console stays clean').toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };

/** Waits until the WebAssembly app has hydrated the server-rendered page. */
export async function waitForHydration(page: import('@playwright/test').Page) {
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true');
}
