module.exports = require('@backstage/cli/config/eslint-factory')(__dirname, {
  // The example app is a separate Backstage repository with its own lint setup.
  ignorePatterns: ['example-app/'],
  rules: {
    // openapi-fetch names its methods after HTTP verbs (client.GET, client.POST, client.DELETE).
    'new-cap': ['error', { capIsNewExceptions: ['GET', 'POST', 'DELETE'] }],
  },
});
