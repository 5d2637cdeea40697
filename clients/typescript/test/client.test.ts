// The generated TypeScript client against a running Gatekey (started by scripts/clients.sh): list,
// mint, list credentials and revoke, the key checked at the gateway, and a denial as a Problem.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { createGatekeyClient, type GatekeyClient } from '../src/index';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run scripts/clients.sh)`);
  return value;
}

const gatekeyUrl = env('GATEKEY_URL');
const devIdpUrl = env('GATEKEY_DEV_IDP_URL');
const kongProxyUrl = env('KONG_PROXY_URL');

/** A token from the development OpenID provider's token endpoint. */
async function token(subject: string, groups: string[]): Promise<string> {
  const response = await fetch(`${devIdpUrl}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub: subject, groups, aud: 'gatekey' }),
  });
  assert.equal(response.status, 200);
  return ((await response.json()) as { access_token: string }).access_token;
}

async function client(groups: string[]): Promise<GatekeyClient> {
  const subject = `user:default/typescript-${randomUUID().slice(0, 8)}`;
  return createGatekeyClient({ baseUrl: gatekeyUrl, token: await token(subject, groups) });
}

async function gatewayStatus(header: string, key: string): Promise<number> {
  const response = await fetch(`${kongProxyUrl}/orders`, { headers: { [header]: key } });
  await response.arrayBuffer();
  return response.status;
}

test('mint, list and revoke', async () => {
  const gatekey = await client(['payments-team']);

  const apis = await gatekey.GET('/v1/apis');
  assert.equal(apis.response.status, 200);
  assert.deepEqual(apis.data?.items.map(api => api.id), ['orders']);
  const orders = apis.data?.items[0];
  assert.equal(orders?.entity_ref, 'api:default/orders');
  assert.deepEqual(orders?.scopes.map(scope => scope.name), ['read']);

  const minted = await gatekey.POST('/v1/apis/{id}/credentials', {
    params: { path: { id: 'orders' }, header: { 'Idempotency-Key': randomUUID() } },
    body: { scopes: ['read'], ttl_seconds: 300, purpose: 'typescript client' },
  });
  assert.equal(minted.response.status, 201, JSON.stringify(minted.error));
  const credential = minted.data!;
  assert.match(credential.key, /^gk_/);
  assert.equal(credential.credential.state, 'active');
  assert.equal(credential.header_name, 'apikey');
  assert.equal(await gatewayStatus(credential.header_name, credential.key), 200);

  const page = await gatekey.GET('/v1/credentials', { params: { query: { api_id: 'orders' } } });
  assert.deepEqual(page.data?.items.map(c => c.id), [credential.credential.id]);
  assert.equal(page.data?.items[0]?.purpose, 'typescript client');

  const revoked = await gatekey.DELETE('/v1/credentials/{id}', {
    params: { path: { id: credential.credential.id } },
  });
  assert.equal(revoked.data?.state, 'revoked');
  assert.equal(await gatewayStatus(credential.header_name, credential.key), 401);
});

test('a denial is a typed problem', async () => {
  const gatekey = await client(['payments-team']);
  const denied = await gatekey.POST('/v1/apis/{id}/credentials', {
    params: { path: { id: 'orders' } },
    body: { scopes: ['write'] },
  });
  assert.equal(denied.response.status, 403);
  assert.equal(denied.data, undefined);
  assert.equal(denied.error?.status, 403);
  assert.equal(denied.error?.code, 'scope_not_allowed');
});

test('no token is a 401 problem', async () => {
  const anonymous = createGatekeyClient({ baseUrl: gatekeyUrl });
  const response = await anonymous.GET('/v1/apis');
  assert.equal(response.response.status, 401);
  assert.equal(response.error?.status, 401);
});
