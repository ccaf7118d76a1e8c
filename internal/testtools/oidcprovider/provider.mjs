// An oidc-provider instance for mcpgate's tests: one client of
// private_key_jwt with the client credentials grant, and one resource
// server client (client_secret_basic) that may introspect its tokens.
// Usage: node provider.mjs CONFIG.json
import fs from 'node:fs';
import Provider from 'oidc-provider';

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${cfg.port}`;
const provider = new Provider(issuer, {
  clients: [
    {
      client_id: cfg.client_id,
      token_endpoint_auth_method: 'private_key_jwt',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      jwks: cfg.jwks,
      scope: cfg.scopes.join(' '),
    },
    {
      client_id: cfg.introspector_id,
      client_secret: cfg.introspector_secret,
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ],
  scopes: cfg.scopes,
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    devInteractions: { enabled: false },
  },
  ttl: { ClientCredentials: cfg.token_ttl },
  // The algorithms of the gateway's client keys (ES384 is not a default).
  enabledJWA: { clientAuthSigningAlgValues: ['RS256', 'ES256', 'ES384'] },
});
// Why a client was refused, for the test's log: never the assertion.
provider.on('grant.error', (ctx, err) => {
  console.error(`grant.error: ${err.error}: ${err.error_description}${err.error_detail ? ` (${err.error_detail})` : ''}`);
});
provider.listen(cfg.port, '127.0.0.1');
