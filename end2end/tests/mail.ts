// Reading the mail Gatehouse sent, from maildev's REST API, as a person reads their inbox.
import type { APIRequestContext } from '@playwright/test';
import { expect } from '@playwright/test';
import { APP_URL, MAIL_URL } from '../playwright.config';

export type Mail = { subject: string; text: string; to: { address: string }[] };

/** Waits for the `count`-th message to `to` and returns it. */
export async function mailTo(request: APIRequestContext, to: string, count = 1): Promise<Mail> {
  let found: Mail[] = [];
  await expect
    .poll(async () => {
      const all: Mail[] = await (await request.get(`${MAIL_URL}/api/email`)).json();
      found = all.filter((m) => m.to.some((t) => t.address.toLowerCase() === to.toLowerCase()));
      return found.length;
    }, { timeout: 10_000 })
    .toBeGreaterThanOrEqual(count);
  return found[count - 1];
}

/** Waits for a message to `to` with `subject` and returns the newest such. */
export async function mailAbout(request: APIRequestContext, to: string, subject: string): Promise<Mail> {
  let found: Mail[] = [];
  await expect
    .poll(async () => {
      const all: Mail[] = await (await request.get(`${MAIL_URL}/api/email`)).json();
      found = all.filter((m) => m.subject === subject && m.to.some((t) => t.address.toLowerCase() === to.toLowerCase()));
      return found.length;
    }, { timeout: 10_000 })
    .toBeGreaterThanOrEqual(1);
  return found[found.length - 1];
}

/** The first link in `mail` to `path` on the app (at `base`). */
export function linkIn(mail: Mail, path: string, base = APP_URL): string {
  const match = mail.text.match(new RegExp(`${base}${path.replace('?', '\\?')}[A-Za-z0-9_\\-=&?]*`));
  expect(match, `a link to ${path} in: ${mail.text}`).not.toBeNull();
  return match![0];
}

