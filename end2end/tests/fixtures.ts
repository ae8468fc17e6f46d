// Shared test fixture: every test fails if the page logs a console error or warning, or throws — except for
// messages a test declares it expects (`test.use({ expectedConsole: [...] })`), such as Chromium reporting the 404
// status of a page the test visits on purpose.
import { test as base, expect } from '@playwright/test';

export const test = base.extend<{ consoleProblems: string[]; expectedConsole: RegExp[] }>({
  expectedConsole: [[], { option: true }],
  consoleProblems: [
    async ({ page, expectedConsole }, use) => {
      const problems: string[] = [];
      page.on('console', (message) => {
        const text = `${message.type()}: ${message.text()}`;
        if ((message.type() === 'error' || message.type() === 'warning') && !expectedConsole.some((re) => re.test(text))) {
          problems.push(text);
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

/** Where screenshots go: test-results on every run; `make screenshots` (UPDATE_SCREENSHOTS=1) writes the README's. */
export const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS ? '../docs/screenshots' : './test-results/screenshots';

/** Waits until the WebAssembly app has hydrated the server-rendered page. */
export async function waitForHydration(page: import('@playwright/test').Page) {
  await expect(page.locator('html')).toHaveAttribute('data-hydrated', 'true');
}
