// The plugin inside the example Backstage app (example-app/: create-app template, frontend built
// by backstage-cli and served by its own backend with guest sign-in, catalog and proxy) in a real
// browser (Debian's Chromium through playwright-core), against the real Gatekey stack started by
// scripts/plugin.sh. Every step of backstage-plugin/README.md's screenshots comes from here.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run scripts/plugin.sh)`);
  return value;
}

const appUrl = env('EXAMPLE_APP_URL');
const kongProxyUrl = env('KONG_PROXY_URL');
const artifacts = env('TEST_ARTIFACTS');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

let browser;
let profile;
let page;
const consoleMessages = [];

before(async () => {
  await mkdir(artifacts, { recursive: true });
  profile = await mkdtemp(join(tmpdir(), 'gatekey-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1280, height: 860 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync'],
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.on('pageerror', error => process.stderr.write(`page error: ${error}\n`));
  page.on('console', message => consoleMessages.push(message.text()));
});

after(async () => {
  await browser?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
});

async function gatewayStatus(gatewayUrl, header, key) {
  const response = await fetch(gatewayUrl, { headers: { [header]: key } });
  await response.arrayBuffer();
  return response.status;
}

const shot = name => page.screenshot({ path: join(artifacts, `${name}.png`) });

test('in the example app: mint, use, Swagger UI, sidebar, revoke; no card on other APIs', async t => {
  t.after(async () => {
    if (t.passed === false) await shot('example-app-failure');
  });

  // Guest sign-in (the template's sign-in page).
  await page.goto(`${appUrl}/catalog/default/api/orders`);
  await page.getByRole('button', { name: 'Enter' }).click({ timeout: 60_000 });

  // The API page of an API Gatekey serves: the card renders.
  const card = page.getByRole('region', { name: 'Try this API' });
  await card.getByRole('button', { name: 'Try it' }).click({ timeout: 60_000 });
  await shot('example-app-1-api-page');

  // Mint: the guest (group guests) may request `read` only, so it is preselected.
  assert.equal(await card.getByRole('checkbox', { name: /read/ }).isChecked(), true);
  await card.getByLabel('Purpose').fill('example app test');
  await card.getByRole('button', { name: 'Get a key' }).click();
  const key = (await card.getByTestId('gatekey-key').textContent({ timeout: 30_000 })).trim();
  assert.match(key, /^gk_/);
  const header = (await card.getByTestId('gatekey-header').textContent()).trim();
  const gatewayUrl = (await card.getByTestId('gatekey-gateway').textContent()).trim();
  assert.equal(gatewayUrl, `${kongProxyUrl}/orders`);
  await shot('example-app-2-minted');

  // The key works at the Kong simulator.
  assert.equal(await gatewayStatus(gatewayUrl, header, key), 200);

  // Swagger UI "Try it out" in api-docs' definition card on the same page (the key is held in this
  // tab's memory only) sends the key through the plugin's requestInterceptor. The request is answered by the real
  // Kong simulator, fetched outside the browser because the simulator sends no CORS headers.
  const swaggerRequests = [];
  await page.route(`${kongProxyUrl}/**`, async route => {
    swaggerRequests.push(route.request().headers());
    const response = await route.fetch();
    await route.fulfill({
      response,
      headers: { ...response.headers(), 'access-control-allow-origin': '*' },
    });
  });
  await page.locator('.opblock-summary').first().click({ timeout: 60_000 });
  await page.getByRole('button', { name: 'Try it out' }).click({ timeout: 30_000 });
  await page.getByRole('button', { name: 'Execute' }).click();
  await page.locator('.live-responses-table tbody .response-col_status').first().waitFor({ timeout: 30_000 });
  assert.equal(swaggerRequests.length >= 1, true);
  assert.equal(swaggerRequests.at(-1)[header], key);
  assert.equal(
    (await page.locator('.live-responses-table tbody .response-col_status').first().textContent()).trim(),
    '200',
  );
  await shot('example-app-3-swagger-try-it-out');

  // "My API credentials" from the sidebar, then revoke.
  await page.getByRole('link', { name: 'My API credentials' }).click();
  const row = page.getByRole('row').filter({ hasText: 'example app test' });
  await row.getByText('active', { exact: true }).waitFor({ timeout: 30_000 });
  await shot('example-app-4-credentials');
  await row.getByRole('button', { name: 'Revoke' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('button', { name: 'Revoke' }).click();
  await row.getByText('revoked', { exact: true }).waitFor({ timeout: 30_000 });
  await shot('example-app-5-revoked');

  // The gateway refuses the revoked key.
  assert.equal(await gatewayStatus(gatewayUrl, header, key), 401);

  // An API Gatekey does not serve: its page renders, without the card, once the plugin has
  // asked Gatekey which APIs it serves.
  const listed = page.waitForResponse(response => response.url().endsWith('/api/proxy/gatekey/v1/apis'));
  await page.goto(`${appUrl}/catalog/default/api/example-grpc-api`);
  await listed;
  await page.getByText('example-grpc-api').first().waitFor({ timeout: 60_000 });
  await page.waitForLoadState('networkidle');
  assert.equal(await page.getByText('Try this API').count(), 0);
  await shot('example-app-6-not-served');

  // No deprecation warning from the plugin's extensions.
  const deprecations = consoleMessages.filter(text => /deprecated/i.test(text) && /gatekey/i.test(text));
  assert.deepEqual(deprecations, []);
});
