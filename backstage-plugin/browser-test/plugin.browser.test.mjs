// The plugin in a real browser (Debian's Chromium through playwright-core) against a running
// stack started by scripts/plugin.sh: the harness page, a real Backstage backend (guest sign-in,
// catalog, proxy), Gatekey, the Kong simulator. Mints a key with "Try it", uses it at the gateway,
// revokes it on "My API credentials" and checks the gateway refuses it; saves screenshots.
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

const harnessUrl = env('HARNESS_URL');
const kongProxyUrl = env('KONG_PROXY_URL');
const artifacts = env('TEST_ARTIFACTS');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

let browser;
let profile;
let page;

before(async () => {
  await mkdir(artifacts, { recursive: true });
  profile = await mkdtemp(join(tmpdir(), 'gatekey-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1100, height: 760 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.on('pageerror', error => process.stderr.write(`page error: ${error}\n`));
  page.on('console', message => process.stderr.write(`page console: ${message.text()}\n`));
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

test('try it, use the key, revoke it, the gateway refuses it', async t => {
  t.after(async () => {
    if (t.passed === false) await page.screenshot({ path: join(artifacts, 'failure.png') });
  });
  await page.goto(`${harnessUrl}/`);
  const card = page.getByTestId('card');
  await card.getByRole('button', { name: 'Try it' }).click({ timeout: 30_000 });

  // The guest (alice, payments-team) may request `read` only: it is preselected.
  assert.equal(await card.getByRole('checkbox', { name: /read/ }).isChecked(), true);
  await card.getByLabel('Purpose').fill('browser test');
  await card.getByRole('button', { name: 'Get a key' }).click();

  const key = (await card.getByTestId('gatekey-key').textContent({ timeout: 15_000 })).trim();
  assert.match(key, /^gk_/);
  const header = (await card.getByTestId('gatekey-header').textContent()).trim();
  const gatewayUrl = (await card.getByTestId('gatekey-gateway').textContent()).trim();
  assert.equal(header, 'apikey');
  assert.equal(gatewayUrl, `${kongProxyUrl}/orders`);
  const countdown = card.getByTestId('gatekey-countdown');
  const first = await countdown.textContent();
  assert.match(first, /^Expires in (14|15):\d\d$/);
  await page.waitForFunction(
    ([element, shown]) => element.textContent !== shown,
    [await countdown.elementHandle(), first],
    { timeout: 5_000 },
  );
  await card.getByTestId('gatekey-curl').getByText(key, { exact: false }).first().waitFor();
  await card.screenshot({ path: join(artifacts, 'card.png') });

  assert.equal(await gatewayStatus(gatewayUrl, header, key), 200);

  await page.goto(`${harnessUrl}/credentials`);
  const row = page.getByRole('row').filter({ hasText: 'browser test' });
  await row.getByText('active', { exact: true }).waitFor({ timeout: 15_000 });
  await page.screenshot({ path: join(artifacts, 'credentials.png') });
  await row.getByRole('button', { name: 'Revoke' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByText('Revoke this credential?').waitFor();
  await dialog.getByRole('button', { name: 'Revoke' }).click();
  await row.getByText('revoked', { exact: true }).waitFor({ timeout: 15_000 });
  await page.screenshot({ path: join(artifacts, 'credentials-revoked.png') });

  assert.equal(await gatewayStatus(gatewayUrl, header, key), 401);
});
