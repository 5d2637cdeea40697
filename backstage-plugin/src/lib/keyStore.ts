/**
 * Keys minted in this browser tab, held in memory only until they expire, so the api-docs
 * Swagger UI "Try it out" can send the key the user just got for that API (see
 * requestInterceptor.ts). Nothing is written to storage: a reload forgets every key.
 */
import type { MintedCredential } from '@gatekey/client';

export interface HeldKey {
  apiId: string;
  key: string;
  headerName: string;
  gatewayUrl: string;
  expiresAt: Date;
}

const held = new Map<string, HeldKey>();

/** Remembers a freshly minted key for its API (replacing an older one). */
export function holdMintedKey(minted: MintedCredential): void {
  held.set(minted.credential.api_id, {
    apiId: minted.credential.api_id,
    key: minted.key,
    headerName: minted.header_name,
    gatewayUrl: minted.gateway_url,
    expiresAt: new Date(minted.expires_at),
  });
}

/** Forgets the key of a revoked credential's API. */
export function forgetKey(apiId: string): void {
  held.delete(apiId);
}

/** The unexpired key for an API id, if one was minted in this tab. */
export function heldKeyForApi(apiId: string, now: Date = new Date()): HeldKey | undefined {
  const entry = held.get(apiId);
  if (entry && entry.expiresAt > now) return entry;
  if (entry) held.delete(apiId);
  return undefined;
}

/** The unexpired key whose gateway URL is a prefix of `url` (the longest such prefix wins). */
export function heldKeyForUrl(url: string, now: Date = new Date()): HeldKey | undefined {
  let best: HeldKey | undefined;
  for (const entry of held.values()) {
    const prefix = entry.gatewayUrl.replace(/\/+$/, '');
    const matches = url === prefix || url.startsWith(`${prefix}/`) || url.startsWith(`${prefix}?`);
    if (matches && entry.expiresAt > now && (!best || prefix.length > best.gatewayUrl.length)) {
      best = entry;
    }
  }
  return best;
}
