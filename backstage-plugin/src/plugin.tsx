/**
 * The plugin for the new frontend system: an API extension (the Gatekey client over the proxy),
 * the "Try this API" entity card on `kind: API` pages (present only on APIs Gatekey serves, see
 * `GatekeyApiCard`), the "My API credentials" page at `/gatekey/credentials`, whose title and
 * icon give it a sidebar entry, and the admins' page at `/gatekey/admin` (bulk revocation). Apps pick it up by installing the package (feature discovery) or
 * by adding the default export to `createApp({ features: [...] })`.
 */
import {
  ApiBlueprint,
  PageBlueprint,
  createFrontendPlugin,
  createRouteRef,
  discoveryApiRef,
  fetchApiRef,
} from '@backstage/frontend-plugin-api';
import { EntityCardBlueprint } from '@backstage/plugin-catalog-react/alpha';
import { GatekeyProxyClient, gatekeyApiRef } from './api/GatekeyApi';
import { GatekeyCredentialsIcon } from './components/GatekeyCredentialsIcon';

export const credentialsPageRouteRef = createRouteRef();
export const adminPageRouteRef = createRouteRef();

const gatekeyApi = ApiBlueprint.make({
  params: defineParams =>
    defineParams({
      api: gatekeyApiRef,
      deps: { discoveryApi: discoveryApiRef, fetchApi: fetchApiRef },
      factory: ({ discoveryApi, fetchApi }) => new GatekeyProxyClient({ discoveryApi, fetchApi }),
    }),
});

const tryItCard = EntityCardBlueprint.make({
  name: 'try-it',
  params: {
    // A predicate object: string filters are deprecated. Whether Gatekey serves the API is only
    // known from `GET /v1/apis`, so the card itself renders nothing for the others.
    filter: { kind: 'api' },
    loader: () => import('./components/GatekeyApiCard').then(m => <m.GatekeyApiCard />),
  },
});

const credentialsPage = PageBlueprint.make({
  params: {
    path: '/gatekey/credentials',
    title: 'My API credentials',
    icon: <GatekeyCredentialsIcon />,
    routeRef: credentialsPageRouteRef,
    loader: () =>
      import('./components/CredentialsPage').then(m => <m.GatekeyCredentialsPage />),
  },
});

// No title or icon: no sidebar entry for a page only admins can use; they reach it by its URL
// (an incident ticket can link it with `?subject=…`).
const adminPage = PageBlueprint.make({
  name: 'admin',
  params: {
    path: '/gatekey/admin',
    routeRef: adminPageRouteRef,
    loader: () => import('./components/AdminPage').then(m => <m.GatekeyAdminPage />),
  },
});

export const gatekeyFrontendPlugin = createFrontendPlugin({
  pluginId: 'gatekey',
  extensions: [gatekeyApi, tryItCard, credentialsPage, adminPage],
  routes: { credentials: credentialsPageRouteRef, admin: adminPageRouteRef },
});
