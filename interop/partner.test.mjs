// A partner built on `jose` (a third-party JOSE library, not ours) talks to a running
// samtykke: it registers its own key, builds the private_key_jwt assertion, gets a
// token, validates it against the published JWKS, introspects it, sees it go inactive
// when the pupil withdraws, and revokes another.
//
//   SAMTYKKE_URL=http://127.0.0.1:8080 SAMTYKKE_ADMIN_TOKEN=sam_admin_… npm test
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { SignJWT, jwtVerify, createRemoteJWKSet, generateKeyPair, exportJWK, decodeProtectedHeader, calculateJwkThumbprint, decodeJwt } from 'jose';

const base = process.env.SAMTYKKE_URL ?? 'http://127.0.0.1:8080';
const admin = process.env.SAMTYKKE_ADMIN_TOKEN;

async function api(method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

// A synthetic identity number (month + 80: never a real person), with both mod-11
// check digits, for someone born on 7 July 2008.
function syntheticNumber(serial) {
  const w1 = [3, 7, 6, 1, 8, 9, 4, 5, 2];
  const w2 = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
  const k = (digits, w) => { const r = 11 - (w.reduce((s, x, i) => s + x * digits[i], 0) % 11); return r === 11 ? 0 : r; };
  for (let n = serial; n < serial + 100; n++) {
    const d = `078708${500 + (n % 500)}`.split('').map(Number);
    const k1 = k(d, w1);
    if (k1 === 10) continue;
    const k2 = k([...d, k1], w2);
    if (k2 === 10) continue;
    return [...d, k1, k2].join('');
  }
  throw new Error('no number');
}

async function form(url, fields, headers = {}) {
  const res = await fetch(url, { method: 'POST', body: new URLSearchParams(fields), headers });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

test('a jose-based partner gets, validates, introspects and revokes tokens', async () => {
  assert.ok(admin, 'SAMTYKKE_ADMIN_TOKEN is set');
  const meta = await (await fetch(`${base}/.well-known/oauth-authorization-server`)).json();
  assert.equal(meta.token_endpoint, `${meta.issuer}/oauth/token`);

  // The demo network, its school (the data holder) and follow-up service.
  const networks = (await api('GET', '/api/v1/networks')).body;
  const network = networks.find((n) => n.name === 'Fjordvik vgs');
  const orgs = (await api('GET', '/api/v1/organisations')).body;
  const school = orgs.find((o) => o.id === network.school_id);
  const ot = orgs.find((o) => network.member_ids.includes(o.id) && o.org_type === 'ot');
  const template = (await api('GET', '/api/v1/templates')).body.find((t) => t.status === 'published');

  // Our own key pair and client registration (public key only).
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const kid = randomUUID();
  const clientId = `interop-${kid.slice(0, 8)}`;
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const reg = await api('POST', '/api/v1/clients', { client_id: clientId, org_id: ot.id, name: 'jose partner', scopes: ['pupil:attendance:read', 'pupil:contact_details:read'], jwks: { keys: [jwk] } });
  assert.equal(reg.status, 201, JSON.stringify(reg.body));

  const pupil = syntheticNumber(Date.now() % 400);
  const consent = () => api('POST', '/api/v1/consents', {
    identity_number: pupil, network_id: network.id, template_id: template.id,
    // The school may tell OT the pupil's absence.
    choices: [{ discloser: { kind: 'org', org_id: school.id }, recipient: { kind: 'org', org_id: ot.id }, category: 'attendance' }],
    evidence: { acr: 'paper', amr: ['paper'], session_ref: 'interop-test' },
  });
  const signed = await consent();
  assert.equal(signed.status, 201, JSON.stringify(signed.body));

  const assertion = (aud) => new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid })
    .setIssuer(clientId).setSubject(clientId).setAudience(aud)
    .setIssuedAt().setExpirationTime('60s').setJti(randomUUID())
    .sign(privateKey);
  const auth = async (aud) => ({
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await assertion(aud),
  });
  const getToken = async () => form(meta.token_endpoint, {
    ...(await auth(meta.token_endpoint)),
    grant_type: 'client_credentials',
    scope: 'pupil:attendance:read pupil:contact_details:read',
    authorization_details: JSON.stringify([{ type: 'pupil_data', pupil, purpose: 'follow_up', audience: school.number }]),
  });
  const introspect = async (token) => (await form(meta.introspection_endpoint, { ...(await auth(meta.issuer)), token })).body;

  // A DPoP-bound token (RFC 9449): the proof is signed by a key of the partner's,
  // carried in the proof's header; the token names that key's thumbprint.
  assert.ok(meta.dpop_signing_alg_values_supported.includes('ES256'));
  const dpopKey = await generateKeyPair('ES256');
  const dpopJwk = await exportJWK(dpopKey.publicKey);
  const proof = await new SignJWT({ htm: 'POST', htu: meta.token_endpoint })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: dpopJwk })
    .setIssuedAt().setJti(randomUUID())
    .sign(dpopKey.privateKey);
  const bound = await form(meta.token_endpoint, {
    ...(await auth(meta.token_endpoint)),
    grant_type: 'client_credentials',
    scope: 'pupil:attendance:read',
    authorization_details: JSON.stringify([{ type: 'pupil_data', pupil, purpose: 'follow_up', audience: school.number }]),
  }, { DPoP: proof });
  assert.equal(bound.status, 200, JSON.stringify(bound.body));
  assert.equal(bound.body.token_type, 'DPoP');
  assert.equal(decodeJwt(bound.body.access_token).cnf.jkt, await calculateJwkThumbprint(dpopJwk));

  const t = await getToken();
  assert.equal(t.status, 200, JSON.stringify(t.body));
  assert.equal(t.body.scope, 'pupil:attendance:read', 'narrowed to what the pupil consented to');

  // Validate the token as any resource server would, with jose and the JWKS.
  const { payload, protectedHeader } = await jwtVerify(t.body.access_token, createRemoteJWKSet(new URL(meta.jwks_uri)), {
    issuer: meta.issuer, audience: school.number, typ: 'at+jwt', algorithms: ['ES256'],
    requiredClaims: ['exp', 'iat', 'jti', 'sub', 'client_id'],
  });
  assert.equal(protectedHeader.alg, 'ES256');
  assert.equal(payload.client_id, clientId);
  assert.equal(payload.exp - payload.iat, 120);
  assert.ok(!JSON.stringify(payload).includes(pupil), 'no identity number in the token');
  assert.equal(payload.authorization_details[0].discloser, school.number, 'the token names who discloses');
  assert.deepEqual(payload.authorization_details[0].basis, { attendance: 'consent' });

  assert.equal((await introspect(t.body.access_token)).active, true);

  // The pupil withdraws: the outstanding token is inactive at once.
  const w = await api('POST', `/api/v1/consents/${signed.body.id}/withdrawals`, { scope: 'all' });
  assert.equal(w.status, 200);
  assert.deepEqual(await introspect(t.body.access_token), { active: false });
  const denied = await getToken();
  assert.equal(denied.status, 403);
  assert.equal(denied.body.error, 'access_denied');

  // Consent again, take a token, revoke it.
  assert.equal((await consent()).status, 201);
  const t2 = await getToken();
  assert.equal(t2.status, 200);
  assert.equal((await introspect(t2.body.access_token)).active, true);
  const r = await form(meta.revocation_endpoint, { ...(await auth(meta.issuer)), token: t2.body.access_token });
  assert.equal(r.status, 200);
  assert.deepEqual(await introspect(t2.body.access_token), { active: false });
  assert.equal(decodeProtectedHeader(t2.body.access_token).typ, 'at+jwt');
});

test('samtykke refuses an assertion jose signed for another server', async () => {
  const meta = await (await fetch(`${base}/.well-known/oauth-authorization-server`)).json();
  const { privateKey } = await generateKeyPair('ES256');
  const bad = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'x' }).setIssuer('demo-ot-case').setSubject('demo-ot-case')
    .setAudience('https://elsewhere.example').setIssuedAt().setExpirationTime('60s').setJti(randomUUID()).sign(privateKey);
  const res = await form(meta.token_endpoint, {
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: bad, grant_type: 'client_credentials', scope: 'pupil:attendance:read',
  });
  assert.equal(res.status, 401);
  assert.equal(res.body.error, 'invalid_client');
});
