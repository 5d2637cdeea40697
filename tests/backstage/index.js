// A minimal Backstage backend (new backend system, plain CommonJS, no build step) with exactly the
// plugins Gatekey is wired to in production: auth (guest provider for tests), proxy, catalog.
const { createBackend } = require('@backstage/backend-defaults');

const backend = createBackend();
backend.add(import('@backstage/plugin-auth-backend'));
backend.add(import('@backstage/plugin-auth-backend-module-guest-provider'));
backend.add(import('@backstage/plugin-proxy-backend'));
backend.add(import('@backstage/plugin-catalog-backend'));
backend.start();
