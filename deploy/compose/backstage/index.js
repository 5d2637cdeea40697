// Backstage backend of the compose stack (new backend system, plain CommonJS, no build step):
// guest sign-in issues user tokens, the catalog holds the users, groups and the Orders API, and
// the proxy forwards `/api/proxy/gatekey/*` with the caller's token to Gatekey.
const { createBackend } = require('@backstage/backend-defaults');

const backend = createBackend();
backend.add(import('@backstage/plugin-auth-backend'));
backend.add(import('@backstage/plugin-auth-backend-module-guest-provider'));
backend.add(import('@backstage/plugin-catalog-backend'));
backend.add(import('@backstage/plugin-proxy-backend'));
backend.start();
