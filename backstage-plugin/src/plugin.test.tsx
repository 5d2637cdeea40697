import { renderTestApp } from '@backstage/frontend-test-utils';
import {
  MockFetchApi,
  mockApis,
  registerMswTestHooks,
  renderInTestApp,
} from '@backstage/test-utils';
import { screen } from '@testing-library/react';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { GatekeyProxyClient, gatekeyApiRef } from './api/GatekeyApi';
import { PROXY, Providers, apiEntity, credential, ordersApi } from './__testUtils__/fixtures';
import gatekeyPlugin, { EntityGatekeyCard } from './index';

const server = setupServer();
registerMswTestHooks(server);

describe('the new frontend system plugin', () => {
  it('declares the API, the entity card for kind: API, the credentials and admin pages', () => {
    expect(gatekeyPlugin.pluginId).toBe('gatekey');
    expect(gatekeyPlugin.getExtension('api:gatekey')).toBeDefined();
    expect(gatekeyPlugin.getExtension('entity-card:gatekey/try-it')).toBeDefined();
    expect(gatekeyPlugin.getExtension('page:gatekey')).toBeDefined();
    expect(gatekeyPlugin.getExtension('page:gatekey/admin')).toBeDefined();
  });

  it('serves the admin page at /gatekey/admin, pre-filled from the address', async () => {
    renderTestApp({
      features: [gatekeyPlugin],
      initialRouteEntries: ['/gatekey/admin?subject=user%3Adefault%2Fjane'],
      apis: [
        [
          gatekeyApiRef,
          new GatekeyProxyClient({
            discoveryApi: mockApis.discovery({ baseUrl: 'http://backstage.test' }),
            fetchApi: new MockFetchApi(),
          }),
        ],
      ],
    });
    expect(await screen.findByRole('textbox', { name: /^Subject/ })).toHaveValue(
      'user:default/jane',
    );
    expect(screen.getByRole('button', { name: 'Find live credentials' })).toBeDisabled();
  });

  it('serves "My API credentials" at /gatekey/credentials in an app', async () => {
    server.use(
      http.get(`${PROXY}/v1/credentials`, () =>
        HttpResponse.json({ items: [credential({ id: 'from-app' })] }),
      ),
    );
    renderTestApp({
      features: [gatekeyPlugin],
      initialRouteEntries: ['/gatekey/credentials'],
      apis: [
        [
          gatekeyApiRef,
          new GatekeyProxyClient({
            discoveryApi: mockApis.discovery({ baseUrl: 'http://backstage.test' }),
            fetchApi: new MockFetchApi(),
          }),
        ],
      ],
    });
    expect(await screen.findByTestId('credential-from-app')).toBeInTheDocument();
  });
});

describe('the legacy plugin', () => {
  it('renders the card extension (the page component is covered by CredentialsPage.test)', async () => {
    server.use(http.get(`${PROXY}/v1/apis`, () => HttpResponse.json({ items: [ordersApi] })));
    await renderInTestApp(
      <Providers entity={apiEntity('orders')}>
        <EntityGatekeyCard />
      </Providers>,
    );
    expect(await screen.findByRole('button', { name: 'Try it' })).toBeInTheDocument();
  });
});
