/**
 * The plugin for apps on the legacy frontend system (`createPlugin`): the API factory, the entity
 * card component and the routable credentials and admin pages, wired by hand in the app (see the README).
 */
import {
  createApiFactory,
  createComponentExtension,
  createPlugin,
  createRoutableExtension,
  createRouteRef,
  discoveryApiRef,
  fetchApiRef,
} from '@backstage/core-plugin-api';
import { GatekeyProxyClient, gatekeyApiRef } from './api/GatekeyApi';

export const credentialsRouteRef = createRouteRef({ id: 'gatekey:credentials' });
export const adminRouteRef = createRouteRef({ id: 'gatekey:admin' });

export const gatekeyPlugin = createPlugin({
  id: 'gatekey',
  apis: [
    createApiFactory({
      api: gatekeyApiRef,
      deps: { discoveryApi: discoveryApiRef, fetchApi: fetchApiRef },
      factory: ({ discoveryApi, fetchApi }) => new GatekeyProxyClient({ discoveryApi, fetchApi }),
    }),
  ],
  routes: { credentials: credentialsRouteRef, admin: adminRouteRef },
});

/** The "Try this API" card, for the `kind: API` entity page. */
export const EntityGatekeyCard = gatekeyPlugin.provide(
  createComponentExtension({
    name: 'EntityGatekeyCard',
    component: {
      lazy: () => import('./components/GatekeyApiCard').then(m => m.GatekeyApiCard),
    },
  }),
);

/** The "My API credentials" page. */
export const GatekeyCredentialsPage = gatekeyPlugin.provide(
  createRoutableExtension({
    name: 'GatekeyCredentialsPage',
    component: () => import('./components/CredentialsPage').then(m => m.GatekeyCredentialsPage),
    mountPoint: credentialsRouteRef,
  }),
);

/** The admins' page: an identity's live credentials, revoked all at once as one audited job. */
export const GatekeyAdminPage = gatekeyPlugin.provide(
  createRoutableExtension({
    name: 'GatekeyAdminPage',
    component: () => import('./components/AdminPage').then(m => m.GatekeyAdminPage),
    mountPoint: adminRouteRef,
  }),
);
