/**
 * The browser test's page: the plugin's card and credentials page inside a Backstage test app,
 * with the real fetch and discovery implementations of @backstage/core-app-api. It signs in with
 * the Backstage backend's guest provider, reads the `orders` API entity from the real catalog
 * (`plugin://catalog/...`) and reaches Gatekey through the backend's proxy, exactly as a
 * Backstage app does. `/` shows the entity card, `/credentials` the page.
 */
import { createRoot } from 'react-dom/client';
import { ConfigReader } from '@backstage/config';
import type { Entity } from '@backstage/catalog-model';
import { FetchMiddlewares, UrlPatternDiscovery, createFetchApi } from '@backstage/core-app-api';
import type { IdentityApi } from '@backstage/core-plugin-api';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import { TestApiProvider, wrapInTestApp } from '@backstage/test-utils';
import Grid from '@material-ui/core/Grid';
import { EntityGatekeyCard, GatekeyProxyClient, gatekeyApiRef } from '../src';
import { GatekeyAdminPage } from '../src/components/AdminPage';
import { GatekeyCredentialsPage } from '../src/components/CredentialsPage';

async function signInAsGuest(): Promise<IdentityApi> {
  const response = await fetch('/api/auth/guest/refresh?env=development', {
    method: 'POST',
    headers: { 'X-Requested-With': 'XMLHttpRequest' },
  });
  if (!response.ok) throw new Error(`guest sign-in failed: ${response.status}`);
  const { backstageIdentity } = await response.json();
  const token: string = backstageIdentity.token;
  return {
    getCredentials: async () => ({ token }),
    getBackstageIdentity: async () => backstageIdentity.identity,
    getProfileInfo: async () => ({}),
    signOut: async () => {},
  };
}

async function main() {
  const origin = window.location.origin;
  const identityApi = await signInAsGuest();
  const discoveryApi = UrlPatternDiscovery.compile(`${origin}/api/{{ pluginId }}`);
  const fetchApi = createFetchApi({
    middleware: [
      FetchMiddlewares.resolvePluginProtocol({ discoveryApi }),
      FetchMiddlewares.injectIdentityAuth({
        identityApi,
        config: new ConfigReader({ backend: { baseUrl: origin } }),
      }),
    ],
  });
  const entityResponse = await fetchApi.fetch(
    'plugin://catalog/entities/by-name/api/default/orders',
  );
  if (!entityResponse.ok) throw new Error(`catalog answered ${entityResponse.status}`);
  const entity: Entity = await entityResponse.json();
  const gatekey = new GatekeyProxyClient({ discoveryApi, fetchApi });

  const { pathname } = window.location;
  const pages: Record<string, JSX.Element> = {
    '/credentials': <GatekeyCredentialsPage />,
    '/admin': <GatekeyAdminPage />,
  };
  const view = pages[pathname] ?? (
    <EntityProvider entity={entity}>
      <Grid container spacing={3} style={{ padding: 24 }}>
        <Grid item xs={12} md={7} data-testid="card">
          <EntityGatekeyCard />
        </Grid>
      </Grid>
    </EntityProvider>
  );
  createRoot(document.getElementById('root')!).render(
    // The test app's router starts at the page's own address, so the admin page reads its query.
    wrapInTestApp(<TestApiProvider apis={[[gatekeyApiRef, gatekey]]}>{view}</TestApiProvider>, {
      routeEntries: [`${pathname}${window.location.search}`],
    }),
  );
}

main().catch(error => {
  document.getElementById('root')!.textContent = `harness failed: ${error}`;
});
