// @ts-check
// The player's recovery (issue 15): a master that answers 404 shows a message, not a spinner; a
// 503 master is reloaded with back-off and plays; an expired token (403) is refreshed from the
// API; and a playable-early video that becomes ready is upgraded in place, keeping the viewer's
// position and play state.

import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { apiUpload, currentTime, noPlayerError, signIn, startPlayback, state, videoReady } from './flows.mjs';
import { eventually, expect, test } from './harness.mjs';

/** @typedef {import('playwright-core').Page} Page */

const run = promisify(execFile);

/**
 * Answers the first `n` master requests with `status`, then lets them through; counts them.
 * @param {Page} page @param {number} status @param {number} n
 */
async function failMaster(page, status, n) {
  const seen = { count: 0 };
  await page.route('**/master.m3u8*', async (route) => {
    seen.count++;
    if (seen.count <= n) return route.fulfill({ status, body: `HTTP ${status}` });
    return route.continue();
  });
  return seen;
}

test('player: a master that answers 404 shows a message instead of a spinner', 150000, async ({ page, shot }) => {
  const id = await videoReady();
  const seen = await failMaster(page, 404, 1000);
  await signIn(page, `/watch/${id}`);
  const alert = page.getByTestId('player-error');
  await alert.waitFor({ timeout: 10000 });
  const text = await alert.innerText();
  expect(/not available \(HTTP 404\)/.test(text), `the message names the 404 (${text})`);
  expect((await page.locator('.player').getAttribute('data-error')) === text, 'the player carries the error');
  await page.waitForTimeout(2500);
  expect(seen.count === 1, `a 404 is not retried (${seen.count} master requests)`);
  await shot('player-404');
});

test('player: a master that keeps answering 503 is reloaded with back-off, then plays', 150000, async ({ page, log }) => {
  const id = await videoReady();
  // hls.js retries a 5xx manifest once itself; then the error is fatal and the player reloads
  // the source (after 1 s, then 2 s): loads 1 and 2 fail (two requests each), load 3 works.
  const seen = await failMaster(page, 503, 4);
  await signIn(page, `/watch/${id}`);
  await page.getByTestId('player-status').filter({ hasText: /Reconnecting/ }).waitFor({ timeout: 15000 });
  await page.locator('.player[data-loads="3"]').waitFor({ timeout: 20000 });
  await startPlayback(page);
  await eventually(async () => (await currentTime(page)) > 0.5, 'playback after the reloads', 30000);
  log(`${seen.count} master requests`);
  expect(seen.count === 5, `four refused requests, then one that worked (${seen.count})`);
  await noPlayerError(page);
});

test('player: an expired token (403) is refreshed from the API and the video plays', 150000, async ({ page }) => {
  const id = await videoReady();
  const seen = await failMaster(page, 403, 1);
  let reads = 0;
  page.on('request', (r) => {
    if (r.url().includes(`/v1/videos/${id}`)) reads++;
  });
  await signIn(page, `/watch/${id}`);
  await page.locator('.player[data-loads="2"]').waitFor({ timeout: 15000 });
  await startPlayback(page);
  await eventually(async () => (await currentTime(page)) > 0.5, 'playback after the refresh', 30000);
  expect(seen.count === 2, `one refused load, then the refreshed one (${seen.count})`);
  expect(reads >= 2, `the page asked the API for a new URL (${reads} reads)`);
  await noPlayerError(page);
});

/**
 * A 24 s clip at 854x480 (two renditions: the early master has one, the full one two), long
 * enough to be playing when the transcode finishes; uploaded like the other flows'.
 */
async function uploadClip(/** @type {string} */ name) {
  const file = path.join(state.tmp, name);
  await run('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=854x480:rate=30:duration=24',
    '-f', 'lavfi', '-i', 'sine=duration=24',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', file,
  ]);
  return apiUpload(name, file);
}

test('player: a playable-early video that becomes ready keeps its position and play state', 150000, async ({ page, shot, log }) => {
  const id = await uploadClip('e2e-upgrade.mp4');
  // Until the gate opens the page sees the video as playable with an early master (its lowest
  // variant only); a read made after the video is really ready (the feed's VID_READY) is held
  // until the gate opens, then answered as it is: the page learns "ready" while playing.
  /** @type {() => void} */
  let open = () => undefined;
  const gate = new Promise((r) => (open = () => r(undefined)));
  let gated = false;
  let held = 0;
  await page.route(`**/v1/videos/${id}*`, async (route) => {
    const res = await route.fetch();
    const v = await res.json();
    if (!gated && v.playback_url) {
      if (v.status === 'ready' && new URL(route.request().url()).searchParams.size > 0) {
        held++;
        await gate;
        return route.fulfill({ response: res, json: v });
      }
      v.status = 'playable';
      v.playback_url = `${v.playback_url}?early=1`;
      v.storyboard_url = null;
      v.poster_url = null;
    }
    return route.fulfill({ response: res, json: v });
  });
  await page.route('**/master.m3u8?early=1', async (route) => {
    const url = route.request().url().replace('?early=1', '');
    const res = await route.fetch({ url });
    const lines = (await res.text()).split('\n');
    // Keep the header, the media lines and the first variant only.
    const first = lines.findIndex((l) => l.startsWith('#EXT-X-STREAM-INF'));
    const kept = lines.filter((l, i) => i < first || i === first || i === first + 1 || (!l.startsWith('#EXT-X-STREAM-INF') && l.startsWith('#EXT-X-MEDIA')));
    return route.fulfill({ response: res, body: `${kept.join('\n')}\n` });
  });
  await signIn(page, `/watch/${id}`);
  await startPlayback(page).catch(async () => {
    await page.locator('.player[data-engine="hls.js"]').waitFor({ timeout: 120000 });
    await startPlayback(page);
  });
  const quality = page.getByLabel('Quality');
  expect((await quality.locator('option').count()) === 2, 'the early master has one level (Auto + 1)');
  await page.evaluate(() => ((/** @type {any} */ (document.querySelector('video'))).__same = true));
  await eventually(async () => (await currentTime(page)) > 1.5, 'early playback to pass 1.5 s', 20000);
  // The transcode may outlast the clip: a viewer who scrubs back keeps it playing meanwhile.
  await eventually(
    async () => {
      if (held > 0) return true;
      if ((await currentTime(page)) > 18) await page.evaluate(() => ((/** @type {HTMLVideoElement} */ (document.querySelector('video'))).currentTime = 2));
      return false;
    },
    'the page to read the video after it is ready (held)',
    120000,
    250,
  );
  await page.evaluate(() => {
    const v = /** @type {HTMLVideoElement} */ (document.querySelector('video'));
    const m = { min: Infinity, pauses: 0 };
    /** @type {any} */ (window).__upgrade = m;
    v.addEventListener('timeupdate', () => (m.min = Math.min(m.min, v.currentTime)));
    v.addEventListener('pause', () => m.pauses++);
  });
  const before = await currentTime(page);
  gated = true;
  open();
  await page.locator('.player[data-loads="2"]').waitFor({ timeout: 15000 });
  await eventually(async () => (await quality.locator('option').count()) > 2, 'the full ladder in the quality menu', 15000);
  await eventually(
    async () => (await currentTime(page)) > before + 0.5 || (await page.evaluate(() => !!document.querySelector('video')?.ended)),
    'playback to go on after the upgrade',
    15000,
  );
  const m = await page.evaluate(() => ({
    ...(/** @type {any} */ (window).__upgrade),
    same: (/** @type {any} */ (document.querySelector('video'))).__same === true,
    paused: /** @type {HTMLVideoElement} */ (document.querySelector('video')).paused,
  }));
  log(`upgraded at ${before.toFixed(2)} s; lowest time after: ${Number(m.min).toFixed(2)} s; levels ${await quality.locator('option').count()}`);
  expect(m.same, 'the same <video> element (the player was not remounted)');
  expect(m.min >= before - 0.5, `the position was kept (went to ${m.min} from ${before})`);
  expect(!m.paused || (await page.evaluate(() => !!document.querySelector('video')?.ended)), 'still playing');
  await noPlayerError(page);
  await shot('player-upgraded');
});
