// An oidc-provider instance for mcpgate's tests: one client of
// private_key_jwt with the client credentials grant (and token exchange),
// one resource server client (client_secret_basic) that may introspect its
// tokens, and one client of client_secret_basic whose client credentials
// tokens serve as token exchange subject tokens.
// Usage: node provider.mjs CONFIG.json
import fs from 'node:fs';
import Provider, { errors } from 'oidc-provider';

const tokenExchange = 'urn:ietf:params:oauth:grant-type:token-exchange';
const accessTokenType = 'urn:ietf:params:oauth:token-type:access_token';

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const issuer = `http://127.0.0.1:${cfg.port}`;
const provider = new Provider(issuer, {
  clients: [
    {
      client_id: cfg.client_id,
      token_endpoint_auth_method: 'private_key_jwt',
      grant_types: ['client_credentials', tokenExchange],
      response_types: [],
      redirect_uris: [],
      jwks: cfg.jwks,
      scope: cfg.scopes.join(' '),
    },
    {
      client_id: cfg.subject_client_id,
      client_secret: cfg.subject_client_secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
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
// RFC 8693 token exchange, which oidc-provider leaves to the deployment:
// the client is authenticated by oidc-provider as for any grant (here
// private_key_jwt); the subject token must be an active access token this
// server issued (RFC 8693 §2.1: the server validates it), and the issued
// token is an access token of the authenticated client with the scopes it
// asked for within its own (§2.2.1).
provider.registerGrantType(tokenExchange, async (ctx) => {
  const { params, client } = ctx.oidc;
  if (params.subject_token_type !== accessTokenType) {
    throw new errors.InvalidRequest('subject_token_type must be an access token');
  }
  if (params.requested_token_type && params.requested_token_type !== accessTokenType) {
    throw new errors.InvalidRequest('only access tokens are issued');
  }
  const subject = await provider.ClientCredentials.find(params.subject_token);
  if (!subject) {
    throw new errors.InvalidGrant('subject_token is not an active access token of this server');
  }
  const allowed = new Set((client.scope || '').split(' '));
  const scope = (params.scope || '').split(' ').filter((s) => allowed.has(s)).join(' ') || undefined;
  const token = new provider.ClientCredentials({ client, scope });
  const value = await token.save();
  ctx.body = {
    access_token: value, issued_token_type: accessTokenType, token_type: 'Bearer', expires_in: token.expiration, scope,
  };
}, ['subject_token', 'subject_token_type', 'requested_token_type', 'scope', 'audience', 'resource']);

// Why a client was refused, for the test's log: never the assertion.
provider.on('grant.error', (ctx, err) => {
  console.error(`grant.error: ${err.error}: ${err.error_description}${err.error_detail ? ` (${err.error_detail})` : ''}`);
});
provider.listen(cfg.port, '127.0.0.1');
