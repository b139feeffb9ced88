// @ts-check
// `npm run e2e`: starts nats-server + nginx-rtmp + `framelog serve` (with web/dist) + a tenant, drives
// Debian's Chromium with playwright-core through every flow, saves screenshots under
// web/e2e-artifacts/, stops everything, prints `N passed, M failed` and exits non-zero on failure.

import { mkdirSync, rmSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { runAll } from './harness.mjs';
import { state } from './flows.mjs';
import './player.mjs';
import './realworld.mjs';
import './growing.mjs';
import './direct.mjs';
import './qoe.mjs';
import './dash.mjs';
import { killAllNow, makeClip, startStack, stopAll, tail } from './stack.mjs';

const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const artifacts = path.join(web, 'e2e-artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

process.on('exit', killAllNow);
for (const sig of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.on(sig, () => {
    console.log(`\n${sig}: stopping`);
    void stopAll().finally(() => {
      console.log('0 passed, 1 failed');
      process.exit(130);
    });
  });
}

async function main() {
  rmSync(artifacts, { recursive: true, force: true });
  mkdirSync(artifacts, { recursive: true });
  /** @type {Awaited<ReturnType<typeof startStack>> | null} */
  let stack = null;
  /** @type {import('playwright-core').Browser | null} */
  let browser = null;
  let result = { passed: 0, failed: 1 };
  try {
    stack = await startStack(web);
    console.log(`stack: ${stack.base} (nats ${stack.natsUrl}, tmp ${stack.tmp})`);
    state.base = stack.base;
    state.apiKey = stack.apiKey;
    state.tmp = stack.tmp;
    state.clip = await makeClip(stack.tmp);
    // playwright-core gives every launch a fresh, empty user-data-dir of its own.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--autoplay-policy=no-user-gesture-required',
      ],
    });
    result = await runAll(browser, { base: stack.base, artifacts });
    if (result.failed > 0) {
      for (const log of stack.logs) copyFileSync(log, path.join(artifacts, path.basename(log)));
      console.log(`\nlast lines of serve.log:\n${tail(stack.logs[1] ?? '', 25)}`);
    }
  } catch (e) {
    console.error(`e2e setup failed: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    await browser?.close().catch(() => undefined);
    await (stack ? stack.stop() : stopAll());
  }
  console.log(`screenshots: ${artifacts}`);
  console.log(`${result.passed} passed, ${result.failed} failed`);
  process.exitCode = result.failed > 0 ? 1 : 0;
}

await main();
