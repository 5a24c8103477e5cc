// Guardians and the consent life-cycle in Chromium, against samtykke and the
// provider playing ID-porten: the pupil, a guardian, the tutor and a compliance
// officer each in a browser of their own. The catalogue is the built-in one with
// one change a data controller may make: the individual plan (child-welfare data)
// needs a guardian below 18, so a sixteen-year-old's choice of it waits for one.
//
//   cargo build && cd e2e && npm ci && npm test
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { startIdPorten } from './idporten.mjs';
import { accessible, freePort, loginAt, root, startSamtykke, syntheticNumber } from './harness.mjs';

const CLIENT_SECRET = 'e2e-guardians-client-secret';
const TUTOR = '20909000271';
const OFFICER = '12848500176';
const options = { viewport: { width: 360, height: 740 }, locale: 'nb-NO', bypassCSP: true };
let op, server, browser, catalogueDir;
const wait = (ms) => new Promise((r) => setTimeout(r, ms));

/// The built-in catalogue, with the individual plan needing a guardian below 18.
function strictCatalogue(dir) {
  const text = readFileSync(join(root, 'policies/catalogue.toml'), 'utf8');
  const at = text.indexOf('key = "individual_plan"');
  const end = text.indexOf('\n\n', at);
  const block = text.slice(at, end).replace(/alone_from = 15/, 'alone_from = 18');
  assert.notEqual(block, text.slice(at, end), 'the individual plan has an age rule');
  const file = join(dir, 'catalogue.toml');
  writeFileSync(file, text.slice(0, at) + block + text.slice(end));
  return file;
}

async function api(method, path, body) {
  const res = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json() };
}

/// The pupil's grants in force, by category, and those waiting for a guardian.
async function grants(pid) {
  const lookup = await api('POST', '/api/v1/pupils/lookup', { identity_number: pid });
  assert.equal(lookup.status, 200);
  const { body } = await api('GET', `/api/v1/pupils/${lookup.body.pupil_id}/consents`);
  const live = body.filter((c) => c.state === 'active').flatMap((c) => c.grants).filter((g) => !g.withdrawn_at);
  const counts = (g) => !g.guardian || ['signed', 'excepted', 'confirmed'].includes(g.guardian.state);
  return {
    inForce: [...new Set(live.filter(counts).map((g) => g.category))].sort(),
    waiting: [...new Set(live.filter((g) => !counts(g)).map((g) => g.category))].sort(),
  };
}

/// The tutor enrols a pupil; the pupil follows the link, logs in, ticks what the
/// services may tell the tutor and signs.
async function enrolAndSign(t, p, name, pid, categories) {
  await t.goto(server.url + '/tutor/enrol');
  await t.getByLabel('Navn eller kallenavn').fill(name);
  await t.getByLabel('Fødselsnummer (11 siffer)').fill(pid);
  await t.getByLabel('Skole').selectOption({ label: 'Fjordvik vgs' });
  await t.getByRole('button', { name: 'Legg til og lag invitasjon' }).click();
  const link = await t.locator('#inv-link').inputValue();
  await loginAt(p, link, pid);
  await p.waitForURL(/\/consent\/choose\?network=/);
  await chooseAndSign(p, categories);
}

/// Through the steps of choosing, service by service, ticking `categories` where
/// they are offered (what is ticked already stays), then signs.
async function chooseAndSign(p, categories) {
  for (let i = 0; i < 12; i++) {
    if (await p.getByRole('button', { name: 'Signer samtykket' }).isVisible()) break;
    for (const c of categories) {
      const boxes = p.locator(`input[name=s][value$=">tutor:${c}"]`);
      for (let k = 0; k < await boxes.count(); k++) await boxes.nth(k).check();
    }
    if (await p.locator('input[type=checkbox]:checked').count() > 0) {
      await p.getByRole('button', { name: 'Neste', exact: true }).click();
    } else {
      await p.getByRole('button', { name: /^Ingenting med / }).click();
    }
  }
  await p.getByRole('button', { name: 'Signer samtykket' }).click();
  await p.waitForURL(/done=signed/);
}

async function tutorOn(t, name) {
  await t.goto(server.url + '/tutor');
  await t.getByRole('link', { name, exact: true }).first().click();
}

before(async () => {
  const opPort = await freePort();
  const issuer = `http://127.0.0.1:${opPort}`;
  catalogueDir = mkdtempSync(join(tmpdir(), 'samtykke-catalogue-'));
  const catalogue = strictCatalogue(catalogueDir);
  server = await startSamtykke(() => ({
    SAMTYKKE_CATALOGUE_FILE: catalogue,
    SAMTYKKE_OIDC_ISSUER: issuer,
    SAMTYKKE_OIDC_CLIENT_ID: 'samtykke',
    SAMTYKKE_OIDC_CLIENT_SECRET: CLIENT_SECRET,
    SAMTYKKE_OIDC_ID_TOKEN_ALGS: 'RS256',
  }));
  op = await startIdPorten({ port: opPort, app: server.url, clientId: 'samtykke', clientSecret: CLIENT_SECRET });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});

after(async () => {
  await browser?.close();
  server?.proc.kill();
  if (server) rmSync(server.dir, { recursive: true, force: true });
  if (catalogueDir) rmSync(catalogueDir, { recursive: true, force: true });
  await op?.close();
});

test('a sixteen-year-old shares health alone; child-welfare data waits until a guardian co-signs in a second browser, counts once the tutor confirms, and stops when the guardian withdraws', async () => {
  const tc = await browser.newContext(options);
  const pc = await browser.newContext(options);
  const gc = await browser.newContext(options);
  const [t, p, g] = [await tc.newPage(), await pc.newPage(), await gc.newPage()];
  const LEA = syntheticNumber('020510');
  const MOTHER = syntheticNumber('110478');
  await loginAt(t, server.url + '/tutor/login', TUTOR);
  await t.waitForURL(server.url + '/tutor');
  await enrolAndSign(t, p, 'Lea', LEA, ['health', 'individual_plan']);
  assert.deepEqual(await grants(LEA), { inForce: ['health'], waiting: ['individual_plan'] },
    'health alone at 16; the individual plan waits for a guardian');

  // The pupil sees what waits and names a guardian; bad input changes nothing.
  await p.goto(server.url + '/me/consents');
  await p.locator('#guardian-waiting').click();
  await p.waitForURL(server.url + '/me/guardian');
  assert.ok(await p.getByText(/Individuell plan/).first().isVisible());
  await accessible(p, '30-guardian-pupil-waiting');
  await p.getByLabel('Fødselsnummer til forelderen').fill(LEA);
  await p.getByRole('button', { name: 'Lag kode' }).click();
  assert.ok(await p.getByText(/Det er ditt eget nummer/).isVisible());
  await p.getByLabel('Fødselsnummer til forelderen').fill(MOTHER);
  await p.getByLabel(/Hva kaller du dem/).fill('Mamma');
  await p.getByRole('button', { name: 'Lag kode' }).click();
  const link = await p.locator('#guardian-link').getAttribute('href');
  assert.match(link, /\/guardian\/invitation\?code=[A-Z0-9]{5}-[A-Z0-9]{5}$/);
  await accessible(p, '31-guardian-code');

  // The guardian, in a browser of their own, logs in and sees only what waits.
  await loginAt(g, link, MOTHER);
  await g.waitForURL(/\/guardian\/invitation\?code=/);
  assert.ok(await g.getByText(/Individuell plan/).isVisible());
  assert.equal(await g.getByText(/Kroppslig helse/).count(), 0, 'not the choices that need no guardian');
  await accessible(g, '32-guardian-offer');
  await g.getByRole('button', { name: 'Ja, jeg sier ja' }).click();
  await g.waitForURL(server.url + '/guardian?done=signed');
  assert.deepEqual((await grants(LEA)).inForce, ['health'], 'not before the tutor confirms responsibility');

  await tutorOn(t, 'Lea');
  assert.ok(await t.getByText(/Mamma/).isVisible());
  await accessible(t, '33-tutor-guardian');
  await t.getByLabel('Fødselsnummeret til den du har sjekket (11 siffer)').fill(MOTHER);
  await t.getByRole('button', { name: /^Jeg har bekreftet foreldreansvaret/ }).click();
  assert.deepEqual(await grants(LEA), { inForce: ['health', 'individual_plan'], waiting: [] });

  // Either may withdraw: the guardian does, and it stops at once.
  await g.goto(server.url + '/guardian');
  await accessible(g, '34-guardian-home');
  await g.getByRole('button', { name: /^Trekk tilbake/ }).click();
  await g.waitForURL(server.url + '/guardian?done=withdrawn');
  assert.deepEqual(await grants(LEA), { inForce: ['health'], waiting: [] });
  for (const c of [tc, pc, gc]) await c.close();
});

test('a protective exception puts a grant in force with no guardian contacted, and a compliance officer reviews it', async () => {
  const tc = await browser.newContext(options);
  const pc = await browser.newContext(options);
  const oc = await browser.newContext(options);
  const [t, p, o] = [await tc.newPage(), await pc.newPage(), await oc.newPage()];
  const SIV = syntheticNumber('170610');
  await loginAt(t, server.url + '/tutor/login', TUTOR);
  await t.waitForURL(server.url + '/tutor');
  await enrolAndSign(t, p, 'Siv', SIV, ['individual_plan']);
  assert.deepEqual(await grants(SIV), { inForce: [], waiting: ['individual_plan'] });

  await tutorOn(t, 'Siv');
  await t.getByLabel(/^Unntak: involvering av foreldre/).selectOption({ label: 'Bor ikke hjemme hos foreldrene' });
  await t.getByRole('button', { name: 'Registrer unntak (ingen forelder kontaktes)' }).click();
  assert.deepEqual(await grants(SIV), { inForce: ['individual_plan'], waiting: [] });
  await p.goto(server.url + '/me/guardian');
  assert.ok(await p.getByRole('heading', { name: 'Bestemt uten foreldre' }).isVisible());
  assert.equal(await p.getByRole('heading', { name: 'Hvem du har spurt' }).count(), 0, 'no guardian was asked');
  await accessible(p, '35-guardian-excepted');

  await loginAt(o, server.url + '/console/login', OFFICER);
  await o.waitForURL(server.url + '/console');
  await o.getByRole('link', { name: 'Unntak fra foreldresamtykke' }).click();
  assert.ok(await o.getByText(/barnelova §§ 32-33/).first().isVisible());
  await accessible(o, '36-console-exceptions');
  await o.getByRole('button', { name: 'Opprettholdt' }).first().click();
  await o.waitForURL(server.url + '/console/exceptions?done=reviewed');
  assert.ok(await o.getByText('Vurderingen er lagret.').isVisible());
  for (const c of [tc, pc, oc]) await c.close();
});

test('a revised agreement shows what changed; the old consent holds until the pupil signs the new one', async () => {
  const tc = await browser.newContext(options);
  const pc = await browser.newContext(options);
  const [t, p] = [await tc.newPage(), await pc.newPage()];
  const UNA = syntheticNumber('090907');
  await loginAt(t, server.url + '/tutor/login', TUTOR);
  await t.waitForURL(server.url + '/tutor');
  await enrolAndSign(t, p, 'Una', UNA, ['health']);
  const version = async () => {
    const lookup = await api('POST', '/api/v1/pupils/lookup', { identity_number: UNA });
    const { body } = await api('GET', `/api/v1/pupils/${lookup.body.pupil_id}/consents`);
    const active = body.find((c) => c.state === 'active');
    const template = await api('GET', '/api/v1/templates');
    return template.body.find((x) => x.id === active.template_id).version;
  };
  assert.equal(await version(), 1);

  // The data controller publishes a revised text.
  const old = (await api('GET', '/api/v1/templates')).body.find((x) => x.status === 'published');
  const body = { ...old.body, nb: `${old.body.nb}\n\nNytt: en forelder kan bli spurt når du ikke kan bestemme alene.` };
  const draft = await api('POST', '/api/v1/templates', { key: 'follow_up', title: old.title, body });
  assert.equal(draft.status, 201);
  assert.equal((await api('POST', `/api/v1/templates/${draft.body.id}/publish`, {})).status, 200);

  await p.goto(server.url + '/me/consents');
  await p.locator('#agreement-changed').click();
  await p.waitForURL(server.url + '/me/agreement/changes');
  assert.ok(await p.locator('ins').getByText(/Nytt: en forelder kan bli spurt/).isVisible());
  await accessible(p, '38-agreement-changes');
  assert.equal(await version(), 1, 'the old consent holds until the new one is signed');
  await p.getByRole('link', { name: 'Les og signer den nye avtalen' }).click();
  await p.getByRole('link', { name: 'Jeg har lest dette – fortsett' }).click();
  await chooseAndSign(p, []);
  assert.equal(await version(), 2);
  assert.deepEqual((await grants(UNA)).inForce, ['health'], 'the same choices, on the new text');
  for (const c of [tc, pc]) await c.close();
});

test('at the 18th birthday what rested on a guardian lapses unless the pupil confirmed it (a restart with an injected clock)', async () => {
  const tc = await browser.newContext(options);
  const ac = await browser.newContext(options);
  const bc = await browser.newContext(options);
  const [t, a, b] = [await tc.newPage(), await ac.newPage(), await bc.newPage()];
  // Eighteen in about five weeks from today.
  const soon = new Date(Date.now() + 35 * 24 * 3600 * 1000);
  const ddmmyy = (d) => [d.getUTCDate(), d.getUTCMonth() + 1, d.getUTCFullYear() - 18 - 2000]
    .map((n) => String(n).padStart(2, '0')).join('');
  const dayAfter = new Date(Date.UTC(soon.getUTCFullYear(), soon.getUTCMonth(), soon.getUTCDate() + 1, 9));
  const ANE = syntheticNumber(ddmmyy(soon));
  const BO = syntheticNumber(ddmmyy(soon), 700);
  await loginAt(t, server.url + '/tutor/login', TUTOR);
  await t.waitForURL(server.url + '/tutor');
  for (const [name, pid, page] of [['Ane', ANE, a], ['Bo', BO, b]]) {
    await enrolAndSign(t, page, name, pid, ['individual_plan']);
    await tutorOn(t, name);
    await t.getByLabel(/^Unntak: involvering av foreldre/).selectOption({ label: 'Vold eller alvorlig konflikt i hjemmet' });
    await t.getByRole('button', { name: 'Registrer unntak (ingen forelder kontaktes)' }).click();
    assert.deepEqual((await grants(pid)).inForce, ['individual_plan']);
  }
  // Asked in the weeks before, and shown what lapses; Ane confirms, Bo does not.
  await t.goto(server.url + '/tutor');
  assert.ok(await t.getByText(/noe stopper/).first().isVisible(), 'the caseload shows the lapse coming');
  await a.goto(server.url + '/me/guardian');
  assert.ok(await a.getByRole('heading', { name: 'Snart bestemmer du selv' }).isVisible());
  await accessible(a, '37-guardian-coming-of-age');
  await a.getByRole('button', { name: 'Ja, jeg vil at dette skal fortsette' }).click();
  await a.waitForURL(/done=confirmed/);

  // The day after the birthday: samtykke starts again on the same database with
  // its clock moved there (and the development login, which keeps that clock).
  server.proc.kill();
  await new Promise((r) => server.proc.once('exit', r));
  server = await startSamtykke(() => ({ SAMTYKKE_DEV_CLOCK_START: dayAfter.toISOString().replace(/\.\d+Z$/, 'Z') }), server);
  for (let i = 0; i < 40 && (await grants(BO)).inForce.length > 0; i++) await wait(250);
  assert.deepEqual((await grants(ANE)).inForce, ['individual_plan'], 'confirmed: goes on');
  assert.deepEqual((await grants(BO)).inForce, [], 'not confirmed: lapsed at the birthday');
  const dev = await browser.newContext(options);
  const d = await dev.newPage();
  await d.goto(server.url + '/auth/login');
  await d.getByLabel(/\(11 siffer\)/).fill(BO);
  await d.getByRole('button', { name: /Logg inn/ }).click();
  // Nothing else was shared, so the consent ended with it: Bo starts reading again.
  await d.waitForURL(server.url + '/consent');
  await d.goto(server.url + '/me/consents');
  assert.equal(await d.getByRole('heading', { name: 'Deles nå' }).count(), 0, 'nothing is shared now');
  for (const c of [tc, ac, bc, dev]) await c.close();
});
