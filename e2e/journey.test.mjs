// The pupil's journey and the tutor's workspace, end to end: samtykke (the debug build), a third-party OpenID
// Provider playing ID-porten (idporten.mjs) and Debian's Chromium driven by
// playwright-core. Logs in, reads, chooses, signs, downloads and verifies the
// receipt, changes a choice, withdraws, and checks the database (through the admin
// API) after each step. axe-core checks every page for WCAG 2.1 A/AA; screenshots
// at phone width go to e2e/screenshots/ (kept out of git).
//
//   cargo build && cd e2e && npm ci && npm test
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startIdPorten } from './idporten.mjs';
import { accessible, freePort, loginAt, startSamtykke, syntheticNumber } from './harness.mjs';

const CLIENT_SECRET = 'e2e-client-secret-not-used-anywhere-else';
// A synthetic identity number (month + 80): born 15 March 2010, 16 at the time.
const PID = syntheticNumber('150310');
// At 360 px: no page of the journey taller than three screens, no step with more
// than this many boxes (docs/ACCESSIBILITY.md).
const SCREEN = 740;
const MAX_SCREENS = 3;
const MAX_BOXES = 20;

let op, server, browser, base, admin;

async function api(method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json() };
}

/// What the database holds for the pupil: their consents and the grants in force.
async function stored() {
  const lookup = await api('POST', '/api/v1/pupils/lookup', { identity_number: PID });
  if (lookup.status === 404) return { consents: [], inForce: [] };
  assert.equal(lookup.status, 200);
  const { body } = await api('GET', `/api/v1/pupils/${lookup.body.pupil_id}/consents`);
  const active = body.filter((c) => c.state === 'active');
  const party = (p) => (p.kind === 'tutor' ? 'tutor' : p.role ? `${p.org_id}.${p.role}` : p.org_id);
  const inForce = active.flatMap((c) => c.grants.filter((g) => !g.withdrawn_at)
    .map((g) => `${party(g.discloser)}>${party(g.recipient)}:${g.category}`)).sort();
  return { consents: body, active, inForce, pupil: lookup.body.pupil_id };
}



let dev;


before(async () => {
  const opPort = await freePort();
  const issuer = `http://127.0.0.1:${opPort}`;
  server = await startSamtykke(() => ({
    SAMTYKKE_OIDC_ISSUER: issuer,
    SAMTYKKE_OIDC_CLIENT_ID: 'samtykke',
    SAMTYKKE_OIDC_CLIENT_SECRET: CLIENT_SECRET,
    SAMTYKKE_OIDC_ID_TOKEN_ALGS: 'RS256',
  }));
  base = server.url;
  admin = server.token;
  op = await startIdPorten({ port: opPort, app: base, clientId: 'samtykke', clientSecret: CLIENT_SECRET });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});

after(async () => {
  await browser?.close();
  for (const s of [server, dev]) {
    s?.proc.kill();
    if (s) rmSync(s.dir, { recursive: true, force: true });
  }
  await op?.close();
});

test('a pupil logs in with ID-porten, signs, changes, withdraws and logs out', async () => {
  const context = await browser.newContext({
    viewport: { width: 360, height: 740 },
    locale: 'nb-NO',
    acceptDownloads: true,
    bypassCSP: true, // only so axe-core can be injected; samtykke's own CSP is checked below
  });
  const page = await context.newPage();

  // Every page of the journey is measured at 360 px: height and boxes.
  const heights = [];
  const measure = async (name) => {
    const height = await page.evaluate(() => document.documentElement.scrollHeight);
    const boxes = await page.locator('input[type=checkbox]').count();
    heights.push({ name, height, boxes, screens: height / SCREEN });
    assert.ok(height <= MAX_SCREENS * SCREEN, `${name}: ${height} px is more than ${MAX_SCREENS} screens`);
    assert.ok(boxes <= MAX_BOXES, `${name}: ${boxes} boxes`);
  };

  // Start page.
  const start = await page.goto(base + '/');
  assert.match(start.headers()['content-security-policy'], /default-src 'none'/);
  assert.equal(await page.getAttribute('html', 'lang'), 'nb');
  await accessible(page, '01-start');

  // Log in at the provider, at the substantial level.
  await page.getByRole('link', { name: 'Logg inn med ID-porten' }).click();
  await page.waitForURL(/\/interaction\//);
  assert.ok(page.url().startsWith(op.issuer));
  await page.fill('#pid', PID);
  await page.click('button[type=submit]');
  await page.waitForURL(base + '/consent');
  assert.deepEqual((await stored()).consents, [], 'logging in signs nothing');

  // Read the agreement; choose the school with the keyboard only.
  assert.ok(await page.getByRole('heading', { name: 'Hvem veilederen din er' }).isVisible());
  await accessible(page, '02-agreement');
  await measure('agreement');
  await page.getByLabel('Fjordvik vgs').focus();
  await page.keyboard.press('Space');
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/consent\/choose/);

  // Choose, service by service: the school first, nothing ticked.
  await accessible(page, '03-choose-school');
  await measure('choose-school');
  assert.equal(await page.locator('input:checked').count(), 0, 'nothing pre-selected');
  assert.ok(await page.getByText('Tjeneste 1 av 7').isVisible());
  await page.locator('input[name=s][value$=">tutor:attendance"]').check();
  await page.locator('input[name=t][value=contact_reasons]').check();
  await page.locator('input[name=r][value=counsellor]').check();
  const schoolToTutor = await page.locator('input[name=s][value$=">tutor:attendance"]').getAttribute('value');
  const school = schoolToTutor.split('>')[0];
  await page.getByRole('button', { name: 'Neste', exact: true }).click();

  // The follow-up service: the school may tell it absence directly.
  assert.ok(await page.getByText('Tjeneste 2 av 7').isVisible());
  await accessible(page, '04-choose-ot');
  await measure('choose-ot');
  const direct = page.locator(`input[name=s][value^="${school}>"][value$=":attendance"]`);
  const schoolToOt = await direct.getAttribute('value');
  await direct.check();
  await page.getByRole('button', { name: 'Neste', exact: true }).click();

  // Every other service: "nothing" in one tap; the rest of the NAV office is explained.
  for (let n = 3; n <= 7; n++) {
    assert.ok(await page.getByText(`Tjeneste ${n} av 7`).isVisible());
    await measure(`choose-${n}`);
    if (n === 7) {
      assert.ok(await page.getByText('Resten av NAV-kontoret får bare vite det du velger her').isVisible());
      await accessible(page, '05-choose-nav');
    }
    await page.getByRole('button', { name: /^Ingenting med / }).click();
  }

  // Review: in words, with who is responsible; nothing stored yet.
  assert.ok(await page.getByText('Fjordvik videregående skole kan fortelle NAV-veilederen din:').isVisible());
  assert.ok(await page.getByText(/personvernombud@fjordvik.example/).isVisible());
  await accessible(page, '06-review');
  await measure('review');
  assert.deepEqual((await stored()).consents, []);
  const whyToCounsellor = `tutor>${school}.counsellor:contact_reasons`;

  // Sign: stored with the login's evidence; the receipt shows.
  await page.getByRole('button', { name: 'Signer samtykket' }).click();
  await page.waitForURL(/\/me\/receipts\/.*done=signed/);
  let db = await stored();
  assert.deepEqual(db.inForce, [schoolToTutor, whyToCounsellor, schoolToOt].sort());
  assert.equal(db.active[0].evidence.acr, 'idporten-loa-substantial');
  assert.deepEqual(db.active[0].evidence.amr, ['TestID']);
  await accessible(page, '07-receipt');
  await measure('receipt');

  // Download the signed receipt and verify it against the published keys.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Last ned den signerte kvitteringen' }).click(),
  ]);
  const jws = readFileSync(await download.path(), 'utf8');
  const { payload, protectedHeader } = await jwtVerify(jws, createRemoteJWKSet(new URL(base + '/oauth/jwks')), {
    algorithms: ['ES256'],
    typ: 'consent-receipt+jwt',
    issuer: base,
  });
  assert.equal(protectedHeader.alg, 'ES256');
  assert.equal(payload.consent.id, db.active[0].id);
  assert.equal(payload.consent.grants.length, 3);
  assert.ok(!jws.includes(PID) && !JSON.stringify(payload).includes(PID), 'no identity number in the receipt');

  // Change: what is shared is ticked; absence stops, OT may tell contact details.
  await page.goto(base + '/consent/choose');
  assert.equal(await page.locator('input:checked').count(), 3);
  await page.locator('input[name=s][value$=">tutor:attendance"]').uncheck();
  await page.getByRole('button', { name: 'Neste', exact: true }).click();
  assert.ok(await page.locator(`input[value="${schoolToOt}"]`).isChecked(), 'the choice made before is kept');
  await page.locator('input[name=s][value$=">tutor:contact_details"]').check();
  const otToTutor = await page.locator('input[name=s][value$=">tutor:contact_details"]').getAttribute('value');
  await page.getByRole('button', { name: 'Neste', exact: true }).click();
  for (let n = 3; n <= 7; n++) await page.getByRole('button', { name: 'Neste', exact: true }).click();
  assert.ok(await page.getByText('Stopper straks når du signerer:').isVisible());
  await page.getByRole('button', { name: 'Signer samtykket' }).click();
  await page.waitForURL(/done=changed/);
  db = await stored();
  assert.deepEqual(db.inForce, [whyToCounsellor, schoolToOt, otToTutor].sort());
  console.log(`tallest page at 360 px: ${Math.max(...heights.map((h) => h.height))} px (${heights.map((h) => `${h.name} ${h.height}px/${h.boxes} boxes`).join(', ')})`);

  // Withdraw one grant, with a confirmation.
  await page.goto(base + '/me/consents');
  await accessible(page, '08-my-consents');
  await page.getByRole('button', { name: /^Stopp – Hvorfor du får hjelp/ }).click();
  await page.waitForURL(base + '/me/consents/withdraw');
  await accessible(page, '08-confirm');
  assert.equal((await stored()).inForce.length, 3, 'asking to confirm changes nothing');
  await page.getByRole('button', { name: 'Ja, trekk tilbake' }).click();
  await page.waitForURL(/done=withdrawn/);
  assert.equal((await stored()).inForce.length, 2);

  // Who has asked: a decision about the pupil is on their page.
  const ot = schoolToOt.split('>')[1].split(':')[0];
  const explained = await api('POST', '/api/v1/policy/explain', { org_id: ot, pupil_id: db.pupil, category: 'attendance' });
  assert.equal(explained.body.decision.allowed, true);
  assert.equal(explained.status, 200);
  await page.goto(base + '/me/access-log');
  assert.equal(await page.locator('tbody tr').count(), 1);
  await accessible(page, '09-access-log');

  // Withdraw everything.
  await page.goto(base + '/me/consents');
  await page.getByRole('button', { name: 'Trekk tilbake alt' }).click();
  await page.getByRole('button', { name: 'Ja, trekk tilbake' }).click();
  await page.waitForURL(/done=withdrawn/);
  db = await stored();
  assert.deepEqual(db.inForce, []);
  assert.equal(db.consents[0].state, 'ended');

  // The other languages.
  for (const [lang, text] of [['nn', 'Det eg har sagt ja til'], ['en', 'What I have said yes to']]) {
    await page.goto(`${base}/me/consents?lang=${lang}`);
    assert.equal(await page.getAttribute('html', 'lang'), lang);
    assert.ok(await page.getByRole('heading', { name: text }).isVisible());
    await accessible(page, `10-my-consents-${lang}`);
  }

  // Log out here and at the provider.
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.waitForURL((u) => u.href.startsWith(op.issuer));
  await page.locator('button[name=logout], button[type=submit]').first().click();
  await page.waitForURL(base + '/auth/logged-out');
  await accessible(page, '11-logged-out');
  await page.goto(base + '/me/consents');
  assert.match(page.url(), /\/interaction\/|\/auth\/login/, 'the session is gone');
  await context.close();
});

test('the development login works in a browser, as `cargo run` offers it', async () => {
  dev = await startSamtykke(() => ({}));
  const context = await browser.newContext({ viewport: { width: 360, height: 740 }, locale: 'en-GB', bypassCSP: true });
  const page = await context.newPage();
  await page.goto(dev.url + '/');
  assert.equal(await page.getAttribute('html', 'lang'), 'en', 'Accept-Language picks English');
  await page.getByRole('link', { name: 'Log in with ID-porten' }).click();
  await page.waitForURL(/\/dev-login\/authorize/);
  assert.ok(await page.getByRole('heading', { name: 'Test login – not ID-porten' }).isVisible());
  await accessible(page, '00-dev-login');
  // The first demo pupil (synthetic number) already shares with several services.
  await page.getByLabel('Synthetic identity number (11 digits)').fill('14830850105');
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL(dev.url + '/me/consents');
  assert.ok(await page.getByRole('heading', { name: 'Shared now' }).isVisible());
  await page.getByRole('button', { name: 'Withdraw everything' }).click();
  await page.getByRole('button', { name: 'Yes, withdraw' }).click();
  await page.waitForURL(/done=withdrawn/);
  const res = await fetch(dev.url + '/api/v1/pupils/lookup', {
    method: 'POST',
    headers: { authorization: `Bearer ${dev.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ identity_number: '14830850105' }),
  });
  const { pupil_id } = await res.json();
  const consents = await (await fetch(`${dev.url}/api/v1/pupils/${pupil_id}/consents`, {
    headers: { authorization: `Bearer ${dev.token}` },
  })).json();
  assert.ok(consents.every((c) => c.state !== 'active'), 'nothing in force after withdrawing everything');
  await context.close();
});

test('a compliance officer checks the chain, searches and exports; a tutor cannot get in', async () => {
  const context = await browser.newContext({ viewport: { width: 360, height: 740 }, locale: 'nb-NO', acceptDownloads: true, bypassCSP: true });
  const page = await context.newPage();
  const login = async (pid) => {
    await page.goto(base + '/console/login');
    await page.waitForURL(/\/interaction\//);
    await page.fill('#pid', pid);
    await page.click('button[type=submit]');
  };
  // The demo's compliance officer (synthetic number).
  await login('12848500176');
  await page.waitForURL(base + '/console');
  await accessible(page, '11-console');
  await page.getByRole('button', { name: 'Kontroller hele kjeden nå' }).click();
  await page.waitForURL(base + '/console');
  assert.ok(await page.getByText(/alle hasher og sjekkpunkter er intakte/).isVisible());

  // Search by the pupil's number; only the pseudonym comes back.
  await page.getByRole('link', { name: 'Revisjonslogg' }).click();
  await page.getByLabel('Elevens fødselsnummer (hashes, vises aldri)').fill(PID);
  await page.getByRole('button', { name: 'Finn eleven' }).click();
  await page.waitForURL(/\/console\/log\?pupil=/);
  assert.ok(!page.url().includes(PID));
  assert.ok(await page.locator('tbody tr').count() > 0);
  await accessible(page, '12-console-log');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: 'Eksporter CSV' }).click(),
  ]);
  const csv = readFileSync(await download.path(), 'utf8');
  assert.match(csv, /^seq,at,kind,actor,pupil,detail,request_id/);
  assert.ok(csv.includes('consent.signed') && !csv.includes(PID));

  await page.getByRole('link', { name: 'Innsynsrapport' }).first().click();
  await accessible(page, '13-console-report');
  await page.getByRole('link', { name: 'Statistikk' }).click();
  await accessible(page, '14-console-statistics');
  assert.ok(await page.getByRole('cell', { name: '<5' }).first().isVisible());

  // The demo's tutor gets no further than a clear refusal.
  await page.getByRole('button', { name: 'Logg ut' }).click();
  await page.waitForURL((u) => u.href.startsWith(op.issuer));
  await page.locator('button[name=logout], button[type=submit]').first().click();
  await page.waitForURL(base + '/auth/logged-out');
  await login('20909000271');
  await page.waitForURL(base + '/console');
  assert.ok(await page.getByText('Rollen din gir ikke tilgang til denne delen av konsollen.').isVisible());
  const res = await page.goto(base + '/console/log');
  assert.equal(res.status(), 403);
  await context.close();
});

test('a tutor invites, the pupil signs through it, the tutor checks, records and sees a withdrawal first', async () => {
  // Two people, two browsers: the demo's NAV tutor and a new pupil.
  const options = { viewport: { width: 360, height: 740 }, locale: 'nb-NO', bypassCSP: true };
  const tutorContext = await browser.newContext(options);
  const pupilContext = await browser.newContext(options);
  const t = await tutorContext.newPage();
  const p = await pupilContext.newPage();
  await loginAt(t, base + '/tutor/login', '20909000271');
  await t.waitForURL(base + '/tutor');
  assert.ok(await t.getByRole('link', { name: 'Ada' }).isVisible(), 'the demo caseload, by the names the tutor gave');
  await accessible(t, '15-tutor-caseload');

  // Enrol a pupil and make an invitation.
  const MIA = syntheticNumber('030309');
  await t.getByRole('link', { name: 'Legg til elev' }).first().click();
  await t.getByLabel('Navn eller kallenavn').fill('Mia');
  await t.getByLabel('Fødselsnummer (11 siffer)').fill(MIA);
  await t.getByLabel('Skole').selectOption({ label: 'Fjordvik vgs' });
  await accessible(t, '16-tutor-enrol');
  await t.getByRole('button', { name: 'Legg til og lag invitasjon' }).click();
  const link = await t.locator('#inv-link').inputValue();
  assert.match(link, /\/consent\/invitation\?code=[A-Z0-9]{5}-[A-Z0-9]{5}$/);
  await accessible(t, '17-tutor-invitation');

  // The pupil follows the link, logs in, and chooses: the school may tell the tutor
  // absence; the tutor may tell the counsellor why they get help.
  await loginAt(p, link, MIA);
  await p.waitForURL(/\/consent\/choose\?network=/);
  await p.locator('input[name=s][value$=">tutor:attendance"]').check();
  await p.locator('input[name=t][value=contact_reasons]').check();
  await p.locator('input[name=r][value=counsellor]').check();
  await p.getByRole('button', { name: 'Neste', exact: true }).click();
  while (!(await p.getByRole('button', { name: 'Signer samtykket' }).isVisible())) {
    await p.getByRole('button', { name: /^Ingenting med / }).click();
  }
  await p.getByRole('button', { name: 'Signer samtykket' }).click();
  await p.waitForURL(/done=signed/);

  // The tutor sees what is in force, saves the team that meets, and asks.
  await t.goto(base + '/tutor');
  assert.ok(await t.getByText(/Rådgiveren, Fjordvik videregående skole: Hvorfor du får hjelp/).first().isVisible());
  await t.getByRole('link', { name: 'Mia' }).click();
  const miaPage = t.url();
  await accessible(t, '18-tutor-pupil');
  await t.getByText('Lagre et team').click();
  await t.getByLabel('Navn på teamet').fill('Ansvarsgruppe');
  await t.getByLabel('Rådgiveren, Fjordvik videregående skole').check();
  await t.getByLabel('Oppfølgingstjenesten i Fjordvik', { exact: true }).check();
  await t.getByRole('button', { name: 'Lagre teamet' }).click();
  await t.getByLabel('Med hvem').selectOption({ label: 'Ansvarsgruppe' });
  await t.getByRole('button', { name: 'Vis', exact: true }).click();
  assert.ok(await t.getByRole('cell', { name: /^Ja, samtykke fra/ }).first().isVisible());
  assert.ok(await t.getByRole('cell', { name: 'Nei: eleven har ikke valgt dette' }).first().isVisible());
  await accessible(t, '19-tutor-check');

  // After the meeting: what the tutor told the counsellor, for the pupil to see.
  await t.getByLabel('Hvem', { exact: true }).selectOption({ label: 'Rådgiveren, Fjordvik videregående skole' });
  await t.getByLabel('Hva', { exact: true }).selectOption({ label: 'Hvorfor du får hjelp' });
  await t.getByLabel('Hvor', { exact: true }).selectOption({ label: 'i et møte' });
  await t.getByRole('button', { name: 'Skriv inn' }).click();
  await t.waitForURL(miaPage);
  await p.goto(base + '/me/access-log');
  assert.ok(await p.getByText('Veilederen fortalte dette til Rådgiveren, Fjordvik videregående skole (i et møte)').isVisible());
  await accessible(p, '20-access-log-disclosure');

  // The pupil withdraws that grant: first on the caseload, and the check says no.
  await p.goto(base + '/me/consents');
  await p.getByRole('button', { name: /^Stopp – Hvorfor du får hjelp/ }).click();
  await p.getByRole('button', { name: 'Ja, trekk tilbake' }).click();
  await p.waitForURL(/done=withdrawn/);
  await t.goto(base + '/tutor');
  assert.ok(await t.getByRole('heading', { name: 'Nytt siden sist' }).isVisible());
  assert.equal(await t.locator('ul.caseload a').first().textContent(), 'Mia');
  await t.goto(miaPage);
  await t.getByLabel('Med hvem').selectOption({ label: 'Rådgiveren, Fjordvik videregående skole' });
  await t.getByRole('button', { name: 'Vis', exact: true }).click();
  assert.ok(await t.getByRole('cell', { name: 'Nei: eleven har trukket det tilbake' }).first().isVisible());

  // A second tutor at the same school cannot see Mia, not even by her page's address.
  const networks = await api('GET', '/api/v1/networks');
  const fjordvik = networks.body.find((n) => n.name === 'Fjordvik vgs').id;
  const T2 = syntheticNumber('020288');
  assert.equal((await fetch(base + '/api/v1/staff', {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ identity_number: T2, role: 'tutor', network_id: fjordvik, display_name: 'Andre veileder' }),
  })).status, 204);
  const otherContext = await browser.newContext(options);
  const t2 = await otherContext.newPage();
  await loginAt(t2, base + '/tutor/login', T2);
  await t2.waitForURL(base + '/tutor');
  assert.equal(await t2.getByRole('link', { name: 'Mia' }).count(), 0);
  const guessed = await t2.goto(miaPage);
  assert.equal(guessed.status(), 404);
  for (const c of [tutorContext, pupilContext, otherContext]) await c.close();
});

test('a pupil reports a line of their access page as wrong, and a compliance officer answers', async () => {
  const options = { viewport: { width: 360, height: 740 }, locale: 'nb-NO', bypassCSP: true };
  const pupilContext = await browser.newContext(options);
  const officerContext = await browser.newContext(options);
  const p = await pupilContext.newPage();
  const o = await officerContext.newPage();
  const NOR = syntheticNumber('040309');
  await loginAt(p, base + '/auth/login', NOR);
  await p.waitForURL(base + '/consent');

  // Someone asks about the pupil (here the operator's explain call, which is logged).
  const lookup = await api('POST', '/api/v1/pupils/lookup', { identity_number: NOR });
  const orgs = await api('GET', '/api/v1/organisations');
  const asked = await api('POST', '/api/v1/policy/explain',
    { org_id: orgs.body[0].id, pupil_id: lookup.body.pupil_id, category: 'attendance' });
  assert.equal(asked.status, 200);

  await p.getByRole('link', { name: 'Hvem har spurt om meg' }).click();
  await p.getByRole('button', { name: /^Dette ser feil ut/ }).click();
  await p.waitForURL(base + '/me/access-log?done=disputed');
  assert.ok(await p.getByText('Takk. Personvernombudet ser på det du meldte').isVisible());
  assert.ok(await p.getByRole('cell', { name: /Du meldte at dette ser feil ut/ }).isVisible());
  await accessible(p, '24-access-disputed');

  await loginAt(o, base + '/console/login', '12848500176');
  await o.waitForURL(base + '/console');
  await o.getByRole('link', { name: 'Meldt som feil' }).click();
  await accessible(o, '25-console-disputes');
  await o.getByLabel('Svar til eleven').first().selectOption({ label: 'Stemmer (forklart)' });
  await o.getByRole('button', { name: 'Lukk saken' }).first().click();
  await o.waitForURL(base + '/console/disputes?done=closed');
  assert.ok(await o.getByText('Saken er lukket, og eleven ser svaret.').isVisible());

  await p.reload();
  assert.ok(await p.getByRole('cell', { name: /dette stemmer/ }).isVisible());
  await pupilContext.close();
  await officerContext.close();
});
