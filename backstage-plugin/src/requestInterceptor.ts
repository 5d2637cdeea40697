/**
 * Swagger UI "Try it out" with a Gatekey key: api-docs' `OpenApiDefinitionWidget` accepts a
 * `requestInterceptor`, called with each request Swagger UI is about to send. This one adds the
 * key minted with the "Try it" card in this tab to requests for that API, in the API's key header
 * (see the README for the api-docs configuration).
 */
import { heldKeyForApi, heldKeyForUrl } from './lib/keyStore';

/** The part of a Swagger UI request the interceptor reads and changes. */
export interface SwaggerUiRequest {
  url: string;
  headers: Record<string, string>;
  [other: string]: unknown;
}

export interface GatekeyRequestInterceptorOptions {
  /**
   * The Gatekey API id whose key to send. Without it, the key is chosen by the request URL: the
   * key of the API whose gateway URL the request starts with.
   */
  apiId?: string;
}

/** Creates a Swagger UI `requestInterceptor`; see {@link GatekeyRequestInterceptorOptions}. */
export function createGatekeyRequestInterceptor(
  options: GatekeyRequestInterceptorOptions = {},
): <T extends SwaggerUiRequest>(request: T) => T {
  return request => {
    const held = options.apiId ? heldKeyForApi(options.apiId) : heldKeyForUrl(request.url);
    if (held && !Object.keys(request.headers).some(h => h.toLowerCase() === held.headerName.toLowerCase())) {
      request.headers[held.headerName] = held.key;
    }
    return request;
  };
}

/** The interceptor that picks the key by request URL, for all APIs at once. */
export const requestInterceptor = createGatekeyRequestInterceptor();
