// A third-party OpenID Provider (the `oidc-provider` package) playing ID-porten for
// the end-to-end suite: code flow with PKCE, RS256 ID tokens carrying `pid`, `acr`
// and `amr`, the ID-porten levels of assurance, and RP-initiated logout. Its login
// page takes a synthetic identity number and a level, as ID-porten's test login does.
import http from 'node:http';
import { createHash, generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const LEVELS = ['idporten-loa-low', 'idporten-loa-substantial', 'idporten-loa-high'];

export async function startIdPorten({ port, app, clientId, clientSecret }) {
  const issuer = `http://127.0.0.1:${port}`;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'e2e-rsa-1', alg: 'RS256', use: 'sig' };
  // The provider's pairwise subject for each pupil, and the identity number behind it.
  const pids = new Map();

  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [`${app}/auth/callback`],
      post_logout_redirect_uris: [`${app}/auth/logged-out`],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    }],
    jwks: { keys: [jwk] },
    acrValues: LEVELS,
    claims: { acr: null, amr: null, auth_time: null, sid: null, openid: ['sub', 'pid', 'amr'] },
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    cookies: { keys: ['e2e-only-cookie-key'] },
    features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: async (ctx, sub) => ({
      accountId: sub,
      claims: async () => ({ sub, pid: pids.get(sub) }),
    }),
    // The pupil agrees to the login itself; ID-porten asks no further consent.
    loadExistingGrant: async (ctx) => {
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid');
      await grant.save();
      return grant;
    },
  });
  provider.proxy = false;

  const page = (uid, error) => `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>ID-porten (test)</title></head>
<body><main><h1>ID-porten (test provider)</h1>${error ? `<p role="alert">${error}</p>` : ''}
<form method="post" action="/interaction/${uid}/login">
<label for="pid">Identity number</label><input id="pid" name="pid" inputmode="numeric" required>
<fieldset><legend>Level</legend>${LEVELS.map((l, i) =>
    `<label><input type="radio" name="acr" value="${l}"${i === 1 ? ' checked' : ''}> ${l}</label>`).join('')}</fieldset>
<button type="submit">Log in</button></form></main></body></html>`;

  const callback = provider.callback();
  const server = http.createServer(async (req, res) => {
    const m = new URL(req.url, issuer).pathname.match(/^\/interaction\/([\w-]+)(\/login)?$/);
    if (!m) return callback(req, res);
    try {
      const details = await provider.interactionDetails(req, res);
      if (req.method === 'GET') {
        res.setHeader('content-type', 'text/html; charset=utf-8');
        return res.end(page(details.uid));
      }
      let body = '';
      for await (const chunk of req) body += chunk;
      const form = new URLSearchParams(body);
      const pid = form.get('pid') ?? '';
      const acr = form.get('acr') ?? '';
      if (!/^\d{11}$/.test(pid) || !LEVELS.includes(acr)) {
        res.statusCode = 400;
        res.setHeader('content-type', 'text/html; charset=utf-8');
        return res.end(page(details.uid, 'Not a valid test login.'));
      }
      const sub = createHash('sha256').update(`e2e:${pid}`).digest('base64url').slice(0, 22);
      pids.set(sub, pid);
      await provider.interactionFinished(req, res, { login: { accountId: sub, acr, amr: ['TestID'] } }, { mergeWithLastSubmission: false });
    } catch (e) {
      res.statusCode = 500;
      res.end(String(e));
    }
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { issuer, close: () => new Promise((resolve) => server.close(resolve)) };
}
