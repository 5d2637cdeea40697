import type { ApiSummary } from '@gatekey/client';
import { apiEntity, minted, ordersApi } from '../__testUtils__/fixtures';
import { createGatekeyRequestInterceptor } from '../requestInterceptor';
import { findGatekeyApi } from './entity';
import { forgetKey, holdMintedKey } from './keyStore';
import { formatCountdown, formatDuration, formatTimestamp, ttlPresets } from './time';
import { describeUsage } from './usage';

describe('findGatekeyApi', () => {
  const byRef: ApiSummary = { ...ordersApi, id: 'orders-by-ref', entity_ref: 'api:default/Orders' };
  const byName: ApiSummary = { ...ordersApi, id: 'orders', entity_ref: null };
  const byAnnotation: ApiSummary = { ...ordersApi, id: 'orders-v2', entity_ref: null };

  it('prefers entity_ref (case-insensitive), then the api-id annotation, then the name', () => {
    const annotated = apiEntity('orders', { 'gatekey.dev/api-id': 'orders-v2' });
    expect(findGatekeyApi([byName, byAnnotation, byRef], annotated)?.id).toBe('orders-by-ref');
    expect(findGatekeyApi([byName, byAnnotation], annotated)?.id).toBe('orders-v2');
    expect(findGatekeyApi([byName, byAnnotation], apiEntity('orders'))?.id).toBe('orders');
    expect(findGatekeyApi([byAnnotation], apiEntity('orders'))).toBeUndefined();
  });
});

describe('time', () => {
  it('offers presets within the bounds plus the default and the longest', () => {
    expect(ttlPresets({ min_ttl_seconds: 60, max_ttl_seconds: 3600, default_ttl_seconds: 600 })).toEqual([
      300, 600, 900, 1800, 3600,
    ]);
    expect(ttlPresets({ min_ttl_seconds: 60, max_ttl_seconds: 120, default_ttl_seconds: 90 })).toEqual([90, 120]);
  });

  it('formats durations and countdowns', () => {
    expect(formatDuration(90)).toBe('1m 30s');
    expect(formatDuration(3600)).toBe('1h');
    expect(formatDuration(5400)).toBe('1h 30m');
    expect(formatDuration(0)).toBe('0s');
    const now = new Date('2026-11-25T10:00:00Z');
    expect(formatCountdown(new Date('2026-11-25T10:04:05Z'), now)).toBe('04:05');
    expect(formatCountdown(new Date('2026-11-25T11:00:01Z'), now)).toBe('1:00:01');
    expect(formatCountdown(new Date('2026-11-25T09:00:00Z'), now)).toBe('00:00');
  });
});

describe('createGatekeyRequestInterceptor', () => {
  afterEach(() => forgetKey('orders'));

  it('adds the held key by API id or by gateway URL, never over an explicit header', () => {
    const byId = createGatekeyRequestInterceptor({ apiId: 'orders' });
    expect(byId({ url: 'http://anywhere.test/', headers: {} }).headers).toEqual({});
    holdMintedKey(minted(60));
    expect(byId({ url: 'http://anywhere.test/', headers: {} }).headers).toEqual({
      apikey: 'gk_test_key_0123456789',
    });
    const byUrl = createGatekeyRequestInterceptor();
    expect(byUrl({ url: 'http://gateway.test/orders?x=1', headers: {} }).headers).toEqual({
      apikey: 'gk_test_key_0123456789',
    });
    expect(byUrl({ url: 'http://gateway.test/orders-other', headers: {} }).headers).toEqual({});
    expect(byUrl({ url: 'http://gateway.test/orders', headers: { APIKEY: 'mine' } }).headers).toEqual({
      APIKEY: 'mine',
    });
  });

  it('drops expired keys', () => {
    holdMintedKey(minted(-1));
    expect(createGatekeyRequestInterceptor({ apiId: 'orders' })({ url: 'x', headers: {} }).headers).toEqual({});
  });
});

describe('describeUsage', () => {
  it('says a key was never used, or how often, how often it failed and when last', () => {
    expect(describeUsage(undefined)).toBe('never used');
    expect(describeUsage({ calls: 0, errors: 0, last_used_at: null })).toBe('never used');
    const last = '2026-11-25T10:07:00Z';
    expect(describeUsage({ calls: 1, errors: 0, last_used_at: last })).toBe(
      `1 call, last ${formatTimestamp(last)}`,
    );
    expect(describeUsage({ calls: 5, errors: 1, last_used_at: last })).toBe(
      `5 calls (1 error), last ${formatTimestamp(last)}`,
    );
    expect(describeUsage({ calls: 5, errors: 3, last_used_at: null })).toBe('5 calls (3 errors)');
  });
});
