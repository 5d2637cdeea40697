// The plugin in a real browser (Debian's Chromium through playwright-core) against a running
// stack started by scripts/plugin.sh: the harness page, a real Backstage backend (guest sign-in,
// catalog, proxy), Gatekey, the Kong simulator (whose http-log plugin reports every call to
// Gatekey). Mints a key with "Try it", uses it at the gateway, sees that use on "My API
// credentials", revokes it there and checks the gateway refuses it; then, as an admin, revokes
// every credential of the user in one job from the admin page. Saves screenshots.
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

/** Loads `url` until `locator` shows (what it waits for arrives in the background). */
async function showsEventually(url, locator, attempts = 30) {
  for (let attempt = 1; ; attempt += 1) {
    await page.goto(url);
    try {
      await locator.waitFor({ timeout: 1_000 });
      return;
    } catch (error) {
      if (attempt >= attempts) throw error;
    }
  }
}

/** Mints a key for `purpose` with the card's form; the key, its header and gateway URL. */
async function mintWithTheCard(purpose) {
  const card = page.getByTestId('card');
  await card.getByLabel('Purpose').fill(purpose);
  await card.getByRole('button', { name: 'Get a key' }).click();
  const key = (await card.getByTestId('gatekey-key').textContent({ timeout: 15_000 })).trim();
  const header = (await card.getByTestId('gatekey-header').textContent()).trim();
  const gatewayUrl = (await card.getByTestId('gatekey-gateway').textContent()).trim();
  return { key, header, gatewayUrl };
}

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

  // The gateway's log of that call reaches Gatekey (http-log, batched): the page shows it.
  const row = page.getByRole('row').filter({ hasText: 'browser test' });
  await showsEventually(`${harnessUrl}/credentials`, row.getByText(/^1 call, last /));
  await row.getByText('active', { exact: true }).waitFor();
  await page.screenshot({ path: join(artifacts, 'credentials.png') });
  await row.getByRole('button', { name: 'Revoke' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByText('Revoke this credential?').waitFor();
  await dialog.getByRole('button', { name: 'Revoke' }).click();
  await row.getByText('revoked', { exact: true }).waitFor({ timeout: 15_000 });
  await page.screenshot({ path: join(artifacts, 'credentials-revoked.png') });

  assert.equal(await gatewayStatus(gatewayUrl, header, key), 401);
});

test('an admin revokes every credential of a user in one job from the admin page', async t => {
  t.after(async () => {
    if (t.passed === false) await page.screenshot({ path: join(artifacts, 'admin-failure.png') });
  });
  // alice (whose team the harness's policy makes Gatekey admins) gets two keys for herself.
  await page.goto(`${harnessUrl}/`);
  const card = page.getByTestId('card');
  await card.getByRole('button', { name: 'Try it' }).click({ timeout: 30_000 });
  const first = await mintWithTheCard('bulk one');
  await card.getByRole('button', { name: 'Get another key' }).click();
  const second = await mintWithTheCard('bulk two');
  assert.notEqual(first.key, second.key);
  for (const minted of [first, second]) {
    assert.equal(await gatewayStatus(minted.gatewayUrl, minted.header, minted.key), 200);
  }

  // The subject comes from the address, as an incident ticket would link it.
  await page.goto(`${harnessUrl}/admin?subject=${encodeURIComponent('user:default/alice')}`);
  const subject = page.getByRole('textbox', { name: /^Subject/ });
  assert.equal(await subject.inputValue({ timeout: 30_000 }), 'user:default/alice');
  await page.getByRole('textbox', { name: /^Reason/ }).fill('browser test: laptop stolen');
  await page.getByRole('button', { name: 'Find live credentials' }).click();
  await page
    .getByTestId('gatekey-admin-count')
    .getByText('2 live credentials')
    .waitFor({ timeout: 15_000 });
  await page.getByRole('row').filter({ hasText: 'bulk one' }).waitFor();
  await page.getByRole('row').filter({ hasText: 'bulk two' }).waitFor();
  await page.screenshot({ path: join(artifacts, 'admin-preview.png') });

  await page.getByRole('button', { name: 'Revoke all 2' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByText('Revoke 2 credentials?').waitFor();
  await dialog.getByText('Reason, recorded with your name: browser test: laptop stolen').waitFor();
  // The dialog fades in: let its animations end, or the screenshot shows it half transparent.
  await page.evaluate(() => Promise.all(document.getAnimations().map((a) => a.finished)));
  await page.screenshot({ path: join(artifacts, 'admin-confirm.png') });
  await dialog.getByRole('button', { name: 'Revoke 2 credentials' }).click();
  await page
    .getByTestId('gatekey-admin-job')
    .getByText('Done: 2 revoked, 0 failed')
    .waitFor({ timeout: 30_000 });
  await page.screenshot({ path: join(artifacts, 'admin-done.png') });

  for (const minted of [first, second]) {
    assert.equal(await gatewayStatus(minted.gatewayUrl, minted.header, minted.key), 401);
  }
  // Her credentials page agrees.
  await page.goto(`${harnessUrl}/credentials`);
  for (const purpose of ['bulk one', 'bulk two']) {
    const row = page.getByRole('row').filter({ hasText: purpose });
    await row.getByText('revoked', { exact: true }).waitFor({ timeout: 15_000 });
  }
});
