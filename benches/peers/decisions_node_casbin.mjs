// node-casbin on samtykke's own policy model, answering the same requests that
// samtykke's decisions bench exported, so the two can be compared in one run.
//
//     node decisions_node_casbin.mjs DIR     (DIR holds world.json, requests.json, baseline.json)
//
// Prints one JSON line per variant: "plain" calls enforceSync for the baseline of
// both parties on every request; "precomputed" evaluates the enforcer once per
// (org_type, category, action, purpose) at load, as samtykke does, and then
// decides by map lookups only. Both must agree with samtykke on every baseline row
// and every request before anything is timed (exit 1 otherwise).
// SAMTYKKE_BENCH_QUICK=1 keeps the first 2,000 requests (for CI).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

// The CommonJS build, as `require('casbin')` gives it: the ES-module build spreads
// objects through a bundler helper that makes every enforceSync ~2.5x slower, and
// the peer should be measured at its best.
const { newEnforcer } = createRequire(import.meta.url)('casbin');

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const dir = process.argv[2];
if (!dir) {
  console.error('usage: decisions_node_casbin.mjs DIR');
  process.exit(2);
}
const load = (f) => JSON.parse(readFileSync(`${dir}/${f}`, 'utf8'));
const world = load('world.json');
let requests = load('requests.json');
const baseline = load('baseline.json');
const quick = process.env.SAMTYKKE_BENCH_QUICK === '1';
if (quick) requests = requests.slice(0, 2000);
const version = JSON.parse(readFileSync(here('node_modules/casbin/package.json'), 'utf8')).version;

// The policy rows, with the comment lines stripped: casbin's CSV adapter does not
// take samtykke's comments, so the rules are added programmatically.
const rules = readFileSync(here('../../policies/baseline.csv'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'))
  .map((l) => l.split(',').map((x) => x.trim()).slice(1));
const enforcer = await newEnforcer(here('../../policies/model.conf'));
await enforcer.addPolicies(rules);

// The world, indexed as samtykke indexes it: pupil id -> grants; org id -> type.
const purpose = world.purpose;
const orgs = new Map(Object.entries(world.orgs));
const typeOf = (id) => (id === 'tutor' ? 'tutor' : orgs.get(id));
const aloneFrom = new Map(Object.entries(world.alone_from));
const statutory = new Set(world.statutory.map((s) => `${s.discloser}|${s.recipient}|${s.category}`));
const grants = new Map(world.pupils.map((p) => [p.id, p.grants]));

// Consent and law, shared by both variants (only the baseline check differs).
function consentOrLaw(q, dtype, rtype) {
  if (q.action !== 'read') return false;
  const held = grants.get(q.pupil);
  if (held === undefined) return false;
  if (statutory.has(`${dtype}|${rtype}|${q.category}`)) return true;
  const age = aloneFrom.get(q.category);
  if (age === undefined) return false;
  for (const g of held) {
    if (g.discloser === q.discloser && g.recipient === q.recipient && g.category === q.category
        && !g.withdrawn && g.age >= age) return true;
  }
  return false;
}

// plain: the enforcer on every request.
const plainBase = (t, c, a, p) => t !== undefined && enforcer.enforceSync(t, c, a, p);
// precomputed: every (type, category, action, purpose) the world and the baseline
// name, evaluated once; a combination not seen at load is evaluated and kept.
const table = new Map();
const key = (t, c, a, p) => `${t}|${c}|${a}|${p}`;
const types = new Set([...orgs.values(), 'tutor', ...baseline.map((b) => b.org_type)]);
const categories = new Set([
  ...aloneFrom.keys(), ...world.statutory.map((s) => s.category),
  ...world.pupils.flatMap((p) => p.grants.map((g) => g.category)), ...baseline.map((b) => b.category),
]);
for (const t of types) for (const c of categories) for (const a of ['read', 'write', 'disclose']) {
  table.set(key(t, c, a, purpose), enforcer.enforceSync(t, c, a, purpose));
}
function preBase(t, c, a, p) {
  if (t === undefined) return false;
  const k = key(t, c, a, p);
  let v = table.get(k);
  if (v === undefined) table.set(k, (v = enforcer.enforceSync(t, c, a, p)));
  return v;
}

const variants = { plain: plainBase, precomputed: preBase };
let failed = false;
for (const [variant, base] of Object.entries(variants)) {
  const decide = (q) => {
    const rtype = typeOf(q.recipient);
    const dtype = typeOf(q.discloser);
    return base(rtype, q.category, q.action, purpose)
      && base(dtype, q.category, 'disclose', purpose)
      && consentOrLaw(q, dtype, rtype);
  };
  // Same answers as samtykke first: the whole baseline table, then every request.
  let mismatches = 0;
  const differ = (what) => {
    if (++mismatches <= 5) console.error(`node-casbin ${variant}: differs from samtykke on ${JSON.stringify(what)}`);
  };
  for (const b of baseline) if (base(b.org_type, b.category, b.action, b.purpose) !== b.allowed) differ(b);
  for (const q of requests) if (decide(q) !== q.allowed) differ(q);
  const line = { peer: 'node-casbin', variant, n: requests.length, capped: false, quick, mismatches, version };
  if (mismatches) {
    // A peer that answers differently is not timed: its figures would compare nothing.
    failed = true;
    console.log(JSON.stringify(line));
    continue;
  }

  // Latency: each decision timed alone (the clock's own cost, ~tens of ns, included).
  const samples = new BigUint64Array(requests.length);
  let allowed = 0;
  for (let i = 0; i < requests.length; i++) {
    const t0 = process.hrtime.bigint();
    if (decide(requests[i])) allowed++;
    samples[i] = process.hrtime.bigint() - t0;
  }
  samples.sort();
  const pct = (p) => Number(samples[Math.min(Math.floor(samples.length * p), samples.length - 1)]);

  // Throughput: untimed passes over the whole list, repeated to at least a second
  // (one pass in quick mode) so a fast variant is not measured on a few milliseconds.
  let n = 0;
  const t0 = process.hrtime.bigint();
  let elapsed = 0n;
  do {
    for (const q of requests) if (decide(q)) allowed++;
    n += requests.length;
    elapsed = process.hrtime.bigint() - t0;
  } while (!quick && elapsed < 1_000_000_000n);

  console.log(JSON.stringify({
    ...line, p50_ns: pct(0.5), p99_ns: pct(0.99), p999_ns: pct(0.999), max_ns: Number(samples[samples.length - 1]),
    per_s: Math.round(n / (Number(elapsed) / 1e9)), runtime: `node ${process.version}`,
  }));
}
process.exit(failed ? 1 : 0);
