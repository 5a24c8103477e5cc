// A well-known OAuth 2 server (oidc-provider) doing what samtykke's token and
// introspection endpoints do for a partner's system, so the Rust load generator can
// drive both in the same run. oidc-provider 8.x: 9.x wants Node 22 (it warns
// "Unsupported runtime" on the Node 20 we have).
//
//     PORT=9400 CLIENT_ID=bench CLIENT_JWKS='{"keys":[<ES256 public JWK>]}' node oidc_provider.mjs
//
// env: PORT (listens on 127.0.0.1:PORT), CLIENT_ID, CLIENT_JWKS (the client's public
// ES256 key set), ISSUER (default http://127.0.0.1:PORT), SCOPES (the client's
// allowed scopes), RESOURCE (default urn:samtykke:api). Prints `ready <issuer>`.
//
// One client, grant client_credentials only, authenticated by private_key_jwt (an
// ES256 client assertion; aud may be the issuer, the token endpoint URL, or the URL
// of the endpoint it is sent to). Two resource servers:
//   RESOURCE (the default when `resource` is not sent): JWT access tokens, ES256;
//   RESOURCE + ':opaque': opaque tokens. oidc-provider does not introspect its JWT
//     tokens (it answers {"active":false}: a resource server verifies those itself),
//     so introspection is measured on opaque tokens.
//
// What it does per request, all in one process and in memory:
//   POST /token: verifies the client assertion (ES256), records its jti for replay
//     detection, and signs a JWT access token (ES256) or, for the opaque resource,
//     stores the token. No decision about any pupil; no durable write. A requested
//     scope the resource does not list is dropped from the token, not refused.
//   POST /token/introspection: verifies a fresh client assertion the same way and
//     looks the token up in memory.
// The in-memory adapter is oidc-provider's default: one LRU (quick-lru, maxSize
// 1,000: it keeps the last 1,000 to 2,000 entries) shared by replay state and opaque
// tokens, so under load old entries are evicted: introspect a token soon after it is
// issued, and know that replay detection spans only those entries. Nothing is kept
// across restarts.
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) {
    console.error(`oidc_provider.mjs: ${name} is required`);
    process.exit(2);
  }
  return v;
};
const port = Number(env('PORT'));
const issuer = env('ISSUER', `http://127.0.0.1:${port}`);
const clientId = env('CLIENT_ID');
const clientJwks = JSON.parse(env('CLIENT_JWKS'));
const scopes = env('SCOPES', 'pupil:attendance:read pupil:grades:read pupil:contact_details:read');
const resource = env('RESOURCE', 'urn:samtykke:api');

// The provider's own signing key: ES256, made at start, so nothing secret is kept.
const signing = {
  ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }),
  kid: randomUUID(), alg: 'ES256', use: 'sig',
};

const provider = new Provider(issuer, {
  jwks: { keys: [signing] },
  cookies: { keys: [randomBytes(32).toString('hex')] }, // unused (no browser flows); silences a warning
  clients: [{
    client_id: clientId,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    id_token_signed_response_alg: 'ES256', // never used; must match the provider's only key
    jwks: clientJwks,
    scope: scopes,
  }],
  scopes: scopes.split(' '),
  features: {
    devInteractions: { enabled: false }, // no login pages: machine-to-machine only
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // A client may introspect the tokens issued to it.
      allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId,
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => resource,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, indicator) => {
        if (indicator !== resource && indicator !== `${resource}:opaque`) {
          throw new Provider.errors.InvalidTarget();
        }
        return {
          scope: scopes,
          audience: resource,
          accessTokenTTL: 300,
          accessTokenFormat: indicator === resource ? 'jwt' : 'opaque',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
});

createServer(provider.callback()).listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
