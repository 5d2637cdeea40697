/**
 * Shared pieces of the component tests: a real GatekeyProxyClient over Backstage's fetch and
 * discovery test APIs, pointed at msw handlers that stand in for Gatekey behind the proxy.
 */
import type { ReactNode } from 'react';
import { MockFetchApi, TestApiProvider, mockApis } from '@backstage/test-utils';
import type { Entity } from '@backstage/catalog-model';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import type { ApiSummary, Credential, MintedCredential } from '@gatekey/client';
import { GatekeyProxyClient, gatekeyApiRef } from '../api/GatekeyApi';

export const PROXY = 'http://backstage.test/api/proxy/gatekey';
export const BACKSTAGE_TOKEN = 'backstage-user-token';

export const ordersApi: ApiSummary = {
  id: 'orders',
  title: 'Orders API',
  description: 'Create and read orders',
  owner: 'group:default/orders-team',
  entity_ref: 'api:default/orders',
  gateway_url: 'http://gateway.test/orders',
  key_header: 'apikey',
  scopes: [
    { name: 'read', description: 'GET /orders' },
    { name: 'write', description: 'POST /orders' },
  ],
  default_ttl_seconds: 900,
  min_ttl_seconds: 60,
  max_ttl_seconds: 3600,
};

export function apiEntity(name: string, annotations: Record<string, string> = {}): Entity {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'API',
    metadata: { name, namespace: 'default', annotations },
    spec: { type: 'openapi', lifecycle: 'production', owner: 'team', definition: '{}' },
  };
}

export function credential(overrides: Partial<Credential> = {}): Credential {
  return {
    id: 'cred-1',
    api_id: 'orders',
    subject: 'user:default/alice',
    issuer: 'http://backstage.test/api/auth',
    scopes: ['read'],
    purpose: 'debugging',
    state: 'active',
    ttl_seconds: 900,
    issued_at: '2026-11-25T10:00:00Z',
    expires_at: '2026-11-25T10:15:00Z',
    usage: { calls: 0, errors: 0, last_used_at: null },
    ...overrides,
  };
}

export function minted(expiresInSeconds: number): MintedCredential {
  const expires_at = new Date(Date.now() + expiresInSeconds * 1000).toISOString();
  return {
    credential: credential({ expires_at }),
    key: 'gk_test_key_0123456789',
    header_name: 'apikey',
    gateway_url: 'http://gateway.test/orders',
    expires_at,
  };
}

export function problem(status: number, code: string, detail: string) {
  return { type: `urn:gatekey:problem:${code}`, title: code, status, code, detail };
}

/** The card or page under test, with the Gatekey API (and an entity, when given). */
export function Providers(props: { entity?: Entity; children: ReactNode }) {
  const client = new GatekeyProxyClient({
    discoveryApi: mockApis.discovery({ baseUrl: 'http://backstage.test' }),
    fetchApi: new MockFetchApi({ injectIdentityAuth: { token: BACKSTAGE_TOKEN } }),
  });
  const inner = props.entity ? (
    <EntityProvider entity={props.entity}>{props.children}</EntityProvider>
  ) : (
    props.children
  );
  return <TestApiProvider apis={[[gatekeyApiRef, client]]}>{inner}</TestApiProvider>;
}
