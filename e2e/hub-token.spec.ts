// Gated repositories and the model picker's Hub suggestions, on the production build. The static
// server answers 401 for a model folder, as the Hugging Face Hub does for a gated repository, unless
// the request carries the token: without one the page shows the GatedModelError view with what to
// do; with one typed into the "Hugging Face token" setting (kept in localStorage, never in the URL)
// the model loads and every request for it carried the token. Picking a Hub suggestion fills the URL
// and Weights fields and downloads nothing.
import { expect, test } from '@playwright/test';
import { ensureBuild, startStaticServer, type StaticServer } from './static-server.ts';

const GATED = '/test/fixtures/models/tiny-gqa-f32/';
const TOKEN = 'hf_e2eGatedToken42';

let server: StaticServer;
test.beforeAll(() => {
  test.setTimeout(180_000);
  ensureBuild();
});
test.afterEach(async () => {
  await server?.stop();
});

test('a gated folder: the gated-model error without a token; the token from the setting loads it and stays in this browser only', async ({ page }) => {
  server = await startStaticServer({}, undefined, { auth: { prefix: GATED, token: TOKEN } });
  await page.goto(`${server.url}/?model=${GATED}`);
  const error = page.locator('#error');
  await expect(error).toBeVisible({ timeout: 120_000 });
  await expect(error).toHaveAttribute('data-code', 'gated-model');
  await expect(page.locator('#error-title')).toHaveText('This model\'s repository is gated or private');
  await expect(page.locator('#error-message')).toContainText(`${server.url}${GATED} is gated or private`);
  await expect(page.locator('#error-message')).toContainText('answered 401 without a Hugging Face token');
  await expect(page.locator('#error-action')).toContainText('accept its license');
  await expect(page.locator('#error-action')).toContainText('Hugging Face token');
  await expect(page.getByRole('status')).toHaveText('Model not loaded');
  expect(server.authorizations.length).toBeGreaterThan(0);
  expect(server.authorizations.every((a) => a.endsWith(' -'))).toBe(true);

  // The token, typed into the setting: saved in this browser, and the reload sends it.
  const field = page.getByLabel('Hugging Face token');
  await expect(field).toHaveAttribute('type', 'password');
  await field.fill(TOKEN);
  await field.blur();
  expect(await page.evaluate(() => localStorage.getItem('msn-webgpu:hf-token'))).toBe(TOKEN);
  server.authorizations.length = 0;
  await page.getByRole('button', { name: 'Load', exact: true }).click();
  await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  await expect(error).toBeHidden();
  const gets = server.authorizations.filter((a) => a.startsWith('GET '));
  expect(gets.some((a) => a.includes('model.safetensors'))).toBe(true);
  expect(server.authorizations.every((a) => a.endsWith(` Bearer ${TOKEN}`)), server.authorizations.join('\n')).toBe(true);
  expect(page.url()).not.toContain(TOKEN);
  await expect(page.locator('#model-info')).not.toContainText(TOKEN);

  // A new visit: the setting is filled from this browser's storage.
  await page.reload();
  await expect(page.getByLabel('Hugging Face token')).toHaveValue(TOKEN);
});

test('picking a Hub suggestion fills the URL and Weights fields, says a gated one needs a token, and downloads nothing', async ({ page }) => {
  server = await startStaticServer();
  const hub: string[] = [];
  page.on('request', (r) => { if (/huggingface\.co|hf\.co/.test(r.url())) hub.push(r.url()); });
  await page.goto(`${server.url}/`);
  await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
  const pick = page.getByRole('combobox', { name: 'Model', exact: true });
  const groups = await pick.locator('optgroup').evaluateAll((g) => g.map((x) => (x as HTMLOptGroupElement).label));
  expect(groups).toEqual(['Suggestions from the Hugging Face Hub (downloaded when loaded)']);
  await expect(pick.locator('optgroup option')).toHaveCount(11);

  await pick.selectOption({ label: 'Qwen/Qwen3-1.7B (q4)' });
  await expect(page.getByLabel('Model folder URL')).toHaveValue('hf:Qwen/Qwen3-1.7B');
  await expect(page.getByLabel('Weights')).toHaveValue('q4');
  await expect(page.locator('#pick-hint')).toContainText('Loads with 4-bit weights (q4).');

  await pick.selectOption({ label: 'HuggingFaceTB/SmolLM2-135M-Instruct' });
  await expect(page.getByLabel('Model folder URL')).toHaveValue('hf:HuggingFaceTB/SmolLM2-135M-Instruct');
  await expect(page.getByLabel('Weights')).toHaveValue('none');

  await pick.selectOption({ label: 'google/gemma-3-1b-it (gated)' });
  await expect(page.getByLabel('Model folder URL')).toHaveValue('hf:google/gemma-3-1b-it');
  await expect(page.locator('#pick-hint')).toContainText('Gated on Hugging Face: accept its license on https://huggingface.co/google/gemma-3-1b-it');
  await expect(page.getByLabel('Hugging Face token')).toBeFocused();

  // Nothing was loaded: the embedded model is still the one ready, and the Hub was never asked.
  await expect(page.getByRole('status')).toHaveText('Ready');
  await page.waitForTimeout(500);
  expect(hub).toEqual([]);
});
