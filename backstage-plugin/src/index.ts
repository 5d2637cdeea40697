/**
 * Gatekey for Backstage: short-lived API keys from an API's page ("Try it"), the signed-in user's
 * credentials with revoke, an admins' page that revokes every credential of an identity in one
 * job, and a Swagger UI request interceptor for api-docs.
 *
 * The default export is the plugin for the new frontend system; the named `gatekeyPlugin`,
 * `EntityGatekeyCard`, `GatekeyCredentialsPage` and `GatekeyAdminPage` serve apps on the legacy
 * system.
 *
 * @packageDocumentation
 */
import { gatekeyFrontendPlugin } from './plugin';

export default gatekeyFrontendPlugin;
export { gatekeyFrontendPlugin, credentialsPageRouteRef, adminPageRouteRef } from './plugin';
export {
  gatekeyPlugin,
  EntityGatekeyCard,
  GatekeyCredentialsPage,
  GatekeyAdminPage,
  credentialsRouteRef,
  adminRouteRef,
} from './legacy';
export {
  gatekeyApiRef,
  GatekeyProxyClient,
  GatekeyRequestError,
  type GatekeyApi,
} from './api/GatekeyApi';
export { findGatekeyApi, GATEKEY_API_ID_ANNOTATION } from './lib/entity';
export { GatekeyCredentialsIcon } from './components/GatekeyCredentialsIcon';
export {
  requestInterceptor,
  createGatekeyRequestInterceptor,
  type GatekeyRequestInterceptorOptions,
  type SwaggerUiRequest,
} from './requestInterceptor';
