// Two-step verification as a phone app does it: RFC 6238 codes computed with Node's crypto, and turning it on from
// the profile. Shared by the two-step and admin tests.
import { createHmac } from 'node:crypto';
import type { Page } from '@playwright/test';
import { expect } from './fixtures';

/** The 6-digit code for a base32 `key`, `steps` 30-second steps from now. */
export function totp(key: string, steps = 0): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of key.replace(/\s/g, '').toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const secret = Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30) + steps));
  const mac = createHmac('sha1', secret).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return value.toString().padStart(6, '0');
}

/** Turns two-step verification on from the profile; returns the key and the recovery codes. */
export async function enrol(page: Page): Promise<{ key: string; codes: string[] }> {
  await page.goto('/profile');
  await page.getByTestId('two-step-start').click();
  await expect(page).toHaveURL(/\/profile\/two-step$/);
  await expect(page.locator('.qr svg')).toBeVisible();
  const key = (await page.getByTestId('totp-key').textContent())!.trim();
  await page.getByLabel('Code from the app').fill('000000');
  await page.getByRole('button', { name: 'Turn on two-step verification' }).click();
  await expect(page.getByTestId('enrol-error')).toContainText('not right');
  await page.getByLabel('Code from the app').fill(totp(key));
  await page.getByRole('button', { name: 'Turn on two-step verification' }).click();
  await expect(page).toHaveURL(/\/profile\/recovery-codes$/);
  const codes = (await page.getByTestId('recovery-codes').inputValue()).split('\n');
  expect(codes).toHaveLength(10);
  await page.getByRole('button', { name: 'I have saved them' }).click();
  await expect(page.getByTestId('two-step-on')).toBeVisible();
  return { key, codes };
}

