/**
 * The Gatekey API client for TypeScript: the request and response types are generated from
 * `openapi/gatekey.json` by openapi-typescript (`src/schema.ts`, do not edit), and openapi-fetch
 * turns them into a typed `fetch` wrapper. This module only wires the two together and adds the
 * bearer token, so the Backstage plugin and Node callers share one client.
 */
import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { paths } from './schema';

export type * from './schema';

/** A typed client for every Gatekey operation (`client.GET('/v1/apis')`, ...). */
export type GatekeyClient = Client<paths>;

export interface GatekeyClientOptions {
  /** Gatekey's base URL, e.g. `https://gatekey.example.com` or `<backstage>/api/proxy/gatekey`. */
  baseUrl: string;
  /**
   * The fetch to send requests with. In Backstage pass `fetchApi.fetch`, which adds the signed-in
   * user's token itself. Defaults to the global fetch.
   */
  fetch?: (request: Request) => Promise<Response>;
  /** An OIDC bearer token (or a function that returns a fresh one) to send on every request. */
  token?: string | (() => string | Promise<string>);
}

/** Creates a client; see {@link GatekeyClientOptions}. */
export function createGatekeyClient(options: GatekeyClientOptions): GatekeyClient {
  const client = createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ''),
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const { token } = options;
  if (token !== undefined) {
    const bearer: Middleware = {
      async onRequest({ request }) {
        const value = typeof token === 'function' ? await token() : token;
        request.headers.set('Authorization', `Bearer ${value}`);
        return request;
      },
    };
    client.use(bearer);
  }
  return client;
}
