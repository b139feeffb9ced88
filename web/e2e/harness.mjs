// @ts-check
// A minimal test runner for the browser flows: each test gets a fresh browser context (so a
// failure in one does not leak into the next), uncaught page errors fail the test, and a
// screenshot is saved when a test fails. Prints `N passed, M failed` last.

import { mkdirSync } from 'node:fs';
import path from 'node:path';

/** @typedef {import('playwright-core').Browser} Browser */
/** @typedef {import('playwright-core').Page} Page */
/** @typedef {{ page: Page, shot(name: string, other?: Page): Promise<void>, log(msg: string): void }} TestContext */
/** @typedef {{ name: string, timeoutMs: number, fn: (t: TestContext) => Promise<void> }} TestCase */

/** @type {TestCase[]} */
const tests = [];

/** @param {string} name @param {number} timeoutMs @param {(t: TestContext) => Promise<void>} fn */
export function test(name, timeoutMs, fn) {
  tests.push({ name, timeoutMs, fn });
}

/** @param {boolean} cond @param {string} message */
export function expect(cond, message) {
  if (!cond) throw new Error(message);
}

/**
 * Waits until `fn` returns a truthy value (polling), or fails with `what`.
 * @template T
 * @param {() => Promise<T> | T} fn @param {string} what @param {number} [timeoutMs] @param {number} [everyMs]
 * @returns {Promise<T>}
 */
export async function eventually(fn, what, timeoutMs = 10000, everyMs = 250) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * @param {Browser} browser @param {{ base: string, artifacts: string }} o
 * @returns {Promise<{ passed: number, failed: number }>}
 */
export async function runAll(browser, o) {
  mkdirSync(o.artifacts, { recursive: true });
  let passed = 0;
  let failed = 0;
  // E2E_GREP=<text> runs only the flows whose name contains it (for working on one flow);
  // `a|b` runs the flows that contain a or b.
  const grep = process.env.E2E_GREP?.toLowerCase().split('|').filter(Boolean);
  for (const t of tests.filter((x) => !grep || grep.some((g) => x.name.toLowerCase().includes(g)))) {
    const started = Date.now();
    const context = await browser.newContext({ baseURL: o.base, viewport: { width: 1280, height: 860 } });
    const page = await context.newPage();
    /** @type {string[]} */
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (process.env.E2E_VERBOSE) console.log(`    [console.${m.type()}] ${m.text()}`);
    });
    page.on('response', (r) => {
      if (process.env.E2E_VERBOSE && r.status() >= 400) console.log(`    [http ${r.status()}] ${r.request().method()} ${r.url()}`);
    });
    const slug = t.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
    /** @type {TestContext} */
    const ctx = {
      page,
      shot: async (name, other) => {
        await (other ?? page).screenshot({ path: path.join(o.artifacts, `${name}.png`), fullPage: true });
      },
      log: (msg) => console.log(`    ${msg}`),
    };
    try {
      /** @type {ReturnType<typeof setTimeout> | undefined} */
      let timer;
      const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`test timed out after ${t.timeoutMs} ms`)), t.timeoutMs);
      });
      await Promise.race([t.fn(ctx), timeout]).finally(() => clearTimeout(timer));
      if (pageErrors.length) throw new Error(`uncaught page errors: ${pageErrors.join(' | ')}`);
      passed++;
      console.log(`  ✓ ${t.name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (e) {
      failed++;
      const msg = e instanceof Error ? e.message : String(e);
      console.log(`  ✗ ${t.name} (${((Date.now() - started) / 1000).toFixed(1)} s)\n      ${msg.split('\n').join('\n      ')}`);
      await page.screenshot({ path: path.join(o.artifacts, `FAILED-${slug}.png`), fullPage: true }).catch(() => undefined);
    } finally {
      await context.close().catch(() => undefined);
    }
  }
  return { passed, failed };
}
