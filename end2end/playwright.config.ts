// Playwright drives Debian's Chromium (browser downloads are impossible here) against Gatehouse, the Dev IdP and
// maildev (the mail catcher), all started below on ports of their own so a running `make run` does not clash. The
// server is E2E_SERVER: `make test-e2e` gives the binary the Rust tests built (target/debug/gatehouse) with the release
// site; run by hand after `make build`, the release binary.
import { defineConfig } from '@playwright/test';

const APP_PORT = Number(process.env.E2E_APP_PORT ?? 3010);
const IDP_PORT = Number(process.env.E2E_IDP_PORT ?? 3910);
const SMTP_PORT = Number(process.env.E2E_SMTP_PORT ?? 3925);
const MAIL_PORT = Number(process.env.E2E_MAIL_PORT ?? 3926);
const PASSKEY_PORT = Number(process.env.E2E_PASSKEY_PORT ?? 3011);
export const APP_URL = `http://127.0.0.1:${APP_PORT}`;
/** A second Gatehouse at a host name: browsers refuse passkeys on an IP address (tests/passkeys.spec.ts). */
export const PASSKEY_URL = `http://localhost:${PASSKEY_PORT}`;
export const IDP_URL = `http://127.0.0.1:${IDP_PORT}`;
/** maildev's web inbox and REST API: the mail Gatehouse sends during the tests. */
export const MAIL_URL = `http://127.0.0.1:${MAIL_PORT}`;
const SERVER = process.env.E2E_SERVER ?? '../target/release/gatehouse';

/** A Gatehouse at `url` (listening on 127.0.0.1:`port`) on a fresh SQLite file under ../target/`dir`. */
function gatehouse(url: string, port: number, dir: string, env: Record<string, string> = {}) {
  return {
    command: `rm -rf ../target/${dir} && mkdir -p ../target/${dir} && exec ${SERVER}`,
    url: `${url}/readyz`,
    reuseExistingServer: false,
    timeout: 30_000,
    stdout: 'ignore' as const,
    stderr: 'pipe' as const,
    env: {
      APP_URL: url,
      DATABASE_URL: `sqlite://../target/${dir}/gatehouse.db`,
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: '../target/site',
      LEPTOS_ENV: 'PROD',
      RUST_LOG: 'warn',
      DEV_IDP_URL: IDP_URL,
      SMTP_URL: `smtp://127.0.0.1:${SMTP_PORT}`,
      // Every test signs in from 127.0.0.1, several at once: far more starts a minute than one person makes.
      // The limits themselves are tested in tests/api/rate_limits.rs.
      RATE_LIMIT_SIGN_IN: '1000/1m',
      ...env,
    },
  };
}

export default defineConfig({
  testDir: './tests',
  outputDir: './test-results',
  fullyParallel: true,
  forbidOnly: !!process.env.CI,
  retries: 0,
  workers: 2,
  timeout: 30_000,
  expect: { timeout: 10_000 },
  reporter: process.env.CI ? [['list']] : [['list'], ['html', { open: 'never', outputFolder: 'playwright-report' }]],
  use: {
    baseURL: APP_URL,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
  projects: [
    {
      name: 'chromium',
      use: {
        browserName: 'chromium',
        launchOptions: {
          executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
          args: [
            '--no-sandbox',
            '--disable-gpu',
            '--disable-quic',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
            '--no-first-run',
          ],
        },
      },
    },
  ],
  webServer: [
    {
      // The Dev IdP first: servers start in order, and the app sets its providers up as it starts.
      command: 'node idp/server.mjs',
      url: `${IDP_URL}/.well-known/openid-configuration`,
      reuseExistingServer: false,
      timeout: 30_000,
      stdout: 'ignore',
      stderr: 'pipe',
      env: {
        IDP_PORT: String(IDP_PORT),
        APP_URL,
        // Shorter than the minute before expiry in which Gatehouse refreshes a kept token: every use refreshes.
        IDP_ACCESS_TOKEN_TTL: '45',
        IDP_REDIRECT_URIS: [`${APP_URL}/auth/callback/dev`, `${APP_URL}/auth/callback/oidc`, `${PASSKEY_URL}/auth/callback/dev`].join(','),
      },
    },
    {
      command: `node_modules/.bin/maildev --smtp ${SMTP_PORT} --web ${MAIL_PORT} --ip 127.0.0.1 --web-ip 127.0.0.1`,
      url: `${MAIL_URL}/api/healthz`,
      reuseExistingServer: false,
      timeout: 30_000,
      stdout: 'ignore',
      stderr: 'pipe',
    },
    // The server binary on its own, as a deployment runs it, on a fresh database each run.
    gatehouse(APP_URL, APP_PORT, 'e2e', {
      // The same Dev IdP a second time, as the generic OpenID Connect provider: a second sign-in method to link.
      OIDC_ISSUER_URL: IDP_URL,
      OIDC_CLIENT_ID: 'gatehouse-dev',
      OIDC_CLIENT_SECRET: 'gatehouse-dev-secret-not-for-production',
      OIDC_PROVIDER_NAME: 'Company SSO',
      // Sign-ins keep the person's Dev IdP tokens for their programs (tests/account.spec.ts).
      PROVIDER_TOKENS: 'keep',
      // The operator of tests/admin.spec.ts (a Dev IdP account made on first use).
      ADMIN_EMAILS: 'e2e-admin@example.test',
    }),
    // The same server at http://localhost (passkeys on), on a database of its own, for tests/passkeys.spec.ts.
    gatehouse(PASSKEY_URL, PASSKEY_PORT, 'e2e-passkeys'),
  ],
});
