module.exports = require('@backstage/cli/config/eslint-factory')(__dirname, {
  rules: {
    // openapi-fetch names its methods after HTTP verbs (client.GET, client.POST, client.DELETE).
    'new-cap': ['error', { capIsNewExceptions: ['GET', 'POST', 'DELETE'] }],
  },
});
