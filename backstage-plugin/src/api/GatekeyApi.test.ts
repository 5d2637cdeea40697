import { ConfigReader } from '@backstage/config';
import { FetchMiddlewares, UrlPatternDiscovery, createFetchApi } from '@backstage/core-app-api';
import { registerMswTestHooks } from '@backstage/test-utils';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { minted } from '../__testUtils__/fixtures';
import { GatekeyProxyClient, GatekeyRequestError } from './GatekeyApi';

const server = setupServer();
registerMswTestHooks(server);

// Backstage's own fetch API, as an app builds it: plugin:// resolution and the user's token.
function backstageFetchApi() {
  const discoveryApi = UrlPatternDiscovery.compile('http://backstage.test/api/{{ pluginId }}');
  const identityApi = {
    getCredentials: async () => ({ token: 'user-token' }),
    getBackstageIdentity: async () => ({
      type: 'user' as const,
      userEntityRef: 'user:default/alice',
      ownershipEntityRefs: [],
    }),
    getProfileInfo: async () => ({}),
    signOut: async () => {},
  };
  const fetchApi = createFetchApi({
    middleware: [
      FetchMiddlewares.resolvePluginProtocol({ discoveryApi }),
      FetchMiddlewares.injectIdentityAuth({
        identityApi,
        config: new ConfigReader({ backend: { baseUrl: 'http://backstage.test' } }),
      }),
    ],
  });
  return new GatekeyProxyClient({ discoveryApi, fetchApi });
}

describe('GatekeyProxyClient over the Backstage fetch API', () => {
  it('mints with a JSON body through the proxy endpoint, with the user token', async () => {
    server.use(
      http.post('http://backstage.test/api/proxy/gatekey/v1/apis/orders/credentials', async ({ request }) => {
        expect(request.headers.get('authorization')).toBe('Bearer user-token');
        expect(request.headers.get('content-type')).toContain('application/json');
        expect(await request.json()).toEqual({ scopes: ['read'], ttl_seconds: 300 });
        return HttpResponse.json(minted(300), { status: 201 });
      }),
    );
    const result = await backstageFetchApi().mintCredential('orders', {
      scopes: ['read'],
      ttl_seconds: 300,
    });
    expect(result.key).toBe('gk_test_key_0123456789');
  });

  it('turns a problem document and Retry-After into a GatekeyRequestError', async () => {
    server.use(
      http.get('http://backstage.test/api/proxy/gatekey/v1/apis', () =>
        HttpResponse.json(
          { type: 'urn:gatekey:problem:rate_limited', title: 't', status: 429, code: 'rate_limited', detail: 'Slow down.' },
          { status: 429, headers: { 'Retry-After': '12' } },
        ),
      ),
    );
    const error = await backstageFetchApi().listApis().catch(e => e);
    expect(error).toBeInstanceOf(GatekeyRequestError);
    expect(error).toMatchObject({ status: 429, retryAfterSeconds: 12, message: 'Slow down.' });
    expect(error.problem.code).toBe('rate_limited');
  });
});
