// What the browser suites share: synthetic identity numbers, the samtykke binary
// started in a folder of its own, the provider login, and axe-core with a
// screenshot at phone width on every page checked.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const root = resolve(import.meta.dirname, '..');
const bin = process.env.SAMTYKKE_BIN ?? join(root, 'target/debug/samtykke');
export const shots = join(import.meta.dirname, 'screenshots');
mkdirSync(shots, { recursive: true });

/// A synthetic identity number (month + 80) for a birth date, the first valid one
/// from individual number `from`.
export function syntheticNumber(ddmmyy, from = 500) {
  const w1 = [3, 7, 6, 1, 8, 9, 4, 5, 2];
  const w2 = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];
  const k = (d, w) => { const r = 11 - (w.reduce((s, x, i) => s + x * d[i], 0) % 11); return r === 11 ? 0 : r; };
  const mm = String(Number(ddmmyy.slice(2, 4)) + 80);
  for (let n = from; n < 999; n++) {
    const d = `${ddmmyy.slice(0, 2)}${mm}${ddmmyy.slice(4)}${n}`.split('').map(Number);
    const k1 = k(d, w1); if (k1 === 10) continue;
    const k2 = k([...d, k1], w2); if (k2 === 10) continue;
    return [...d, k1, k2].join('');
  }
  throw new Error('no number');
}

export const freePort = () => new Promise((res) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
});

/// axe-core on the page: no serious or critical WCAG 2.1 A/AA violation.
export async function accessible(page, name) {
  await page.addScriptTag({ path: require.resolve('axe-core/axe.min.js') });
  const result = await page.evaluate(() => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
  }));
  const bad = result.violations.filter((v) => ['serious', 'critical'].includes(v.impact));
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target).join(' ')}`), [], `${name}: axe violations`);
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 360, `${name}: fits a 360 px screen (scrollWidth ${width})`);
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

/// Starts the samtykke binary in its own folder with the demo; resolves when it listens.
/// `again`: start once more on the folder (and database) of an earlier run, whose
/// admin credential still works.
export async function startSamtykke(extraEnv, again) {
  const dir = again?.dir ?? mkdtempSync(join(tmpdir(), 'samtykke-e2e-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = spawn(bin, [], {
    cwd: dir,
    env: {
      ...process.env,
      SAMTYKKE_LISTEN: `127.0.0.1:${port}`,
      SAMTYKKE_PUBLIC_URL: url,
      SAMTYKKE_POLICY_DIR: join(root, 'policies'),
      ...extraEnv(url),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  for (let i = 0; i < 120 && !out.includes('is listening'); i++) await new Promise((r) => setTimeout(r, 250));
  const token = again?.token ?? out.match(/sam_admin_[A-Za-z0-9_-]+/)?.[0];
  assert.ok(token && out.includes('is listening'), `samtykke started:\n${out}`);
  return { url, token, proc, dir };
}

// Logs in at the provider, starting from a samtykke login URL.
export async function loginAt(page, url, pid) {
  await page.goto(url);
  await page.waitForURL(/\/interaction\//);
  await page.fill('#pid', pid);
  await page.click('button[type=submit]');
}
