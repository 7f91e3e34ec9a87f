// Steps on the chat app page shared by the production-build specs (offline, update, model cache).
import { expect, type Page } from '@playwright/test';

/** Generates `maxNew` tokens with `ar` from the current prompt; returns the generated text. */
export async function generate(page: Page, maxNew: number): Promise<string> {
  await page.getByLabel('Decoding').selectOption('ar');
  await page.getByLabel('Max new tokens').fill(String(maxNew));
  await page.getByRole('button', { name: 'Send' }).click();
  await expect(page.getByRole('button', { name: 'Stop' })).toBeDisabled();
  await expect(page.getByRole('status')).toHaveText('Ready');
  await expect(page.locator('#stat-tokens')).toContainText(`${maxNew} in`);
  return page.locator('#output .text').innerText();
}

/** Types `url` into the Custom URL field and presses Load (does not wait for the load). */
export async function loadModelUrl(page: Page, url: string): Promise<void> {
  await page.getByLabel('Model folder URL').fill(url);
  await page.getByRole('button', { name: 'Load', exact: true }).click();
}
