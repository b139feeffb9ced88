// @ts-check
// Chunked transcoding in the real UI (issue 16). An HEVC upload (no stream copy for browsers)
// becomes playable once its first range and its audio are done: the master names every rung,
// their EVENT playlists grow as ranges land and end as VOD; the watch page plays it from 0
// while it grows, never as a live stream, on to the end. An H.264 upload is playable first
// from its stream copy (`source`), then from the ladder that replaces it.

import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { api, apiUpload, currentTime, noPlayerError, signIn, startPlayback, state } from './flows.mjs';
import { eventually, expect, test } from './harness.mjs';
import { makeClip } from './stack.mjs';

/** @typedef {import('playwright-core').Page} Page */
/** @typedef {{ path: string, body: string, at: number }} Fetched */

const run = promisify(execFile);

/** How long the HEVC source lasts: seven ranges of 6 s, encoded over several playlist reloads. */
const SECS = 40;

/**
 * SECS of 640x360 30 fps HEVC (hvc1, x265 ultrafast) with AAC: two rungs, one 6 s segment per
 * range. Noisy, so that its encode lasts long enough (several seconds) to be watched growing.
 */
async function hevcClip(/** @type {string} */ dir) {
  const out = path.join(dir, 'growing-hevc.mp4');
  await run('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=640x360:rate=30:duration=${SECS},noise=alls=25:allf=t`,
    '-f', 'lavfi', '-i', `sine=frequency=330:sample_rate=48000:duration=${SECS}`,
    '-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'log-level=error', '-tag:v', 'hvc1',
    '-pix_fmt', 'yuv420p', '-c:a', 'aac', out,
  ]);
  return out;
}

/**
 * Polls the API until the video's status is `want` (every 100 ms, so a short `playable` is
 * seen); fails at once on `failed`, or when it reached `ready` while `playable` was awaited.
 * Resolves to the video and the statuses seen, with the seconds since `t0`.
 * @param {string} id @param {'playable' | 'ready'} want @param {number} t0 @param {number} timeoutMs
 */
async function untilStatus(id, want, t0, timeoutMs) {
  /** @type {string[]} */
  const seen = [];
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await api(`/v1/videos/${id}`);
    const s = `${v.status}@${((Date.now() - t0) / 1000).toFixed(1)}s`;
    if (seen[seen.length - 1]?.split('@')[0] !== v.status) seen.push(s);
    if (v.status === 'failed') throw new Error(`video ${id} failed: ${v.error}`);
    if (v.status === want && v.playback_url) return { v, seen };
    if (want === 'playable' && v.status === 'ready') {
      throw new Error(`video ${id} was ready before it was seen playable (${seen.join(' → ')})`);
    }
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${id} to be ${want} (${seen.join(' → ')})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The video variants of a master (not its audio-only variant, not its I-frame playlists). @param {string} master */
const variants = (master) => master.split('\n').filter((l) => l.startsWith('#EXT-X-STREAM-INF:') && l.includes('RESOLUTION='));

/** Every playlist the page fetched (path, body, ms since `t0`), in arrival order. @param {Page} page @param {number} t0 */
function recordPlaylists(page, t0) {
  /** @type {Fetched[]} */
  const got = [];
  page.on('response', async (r) => {
    const p = new URL(r.url()).pathname;
    if (!p.endsWith('.m3u8') || r.status() !== 200) return;
    const body = await r.text().catch(() => '');
    got.push({ path: p, body, at: Date.now() - t0 });
  });
  return got;
}

/**
 * Records, from the first script of every document, what the <video> does: each duration with
 * the player's load number, the position at the first `playing`, the furthest position, waits,
 * `error`/`loadstart` events (hls.js re-attaches the media on a media error recovery: one more
 * `loadstart` than loads) and every player status text shown (Reconnecting, Renewing).
 * Media events do not bubble; capturing listeners on the document see them.
 * @param {Page} page
 */
async function recordVideo(page) {
  await page.addInitScript(() => {
    const m = {
      durations: /** @type {{ d: number, loads: string, at: number }[]} */ ([]),
      firstPlaying: -1,
      max: 0,
      waits: 0,
      errors: /** @type {string[]} */ ([]),
      loadstarts: 0,
      statuses: /** @type {string[]} */ ([]),
      ended: false,
      endTime: -1,
    };
    /** @type {any} */ (window).__grow = m;
    /** @param {Event} e */
    const video = (e) => (e.target instanceof HTMLVideoElement ? e.target : null);
    const loads = (/** @type {Element} */ v) => v.closest('.player')?.getAttribute('data-loads') ?? '?';
    const on = (/** @type {string} */ type, /** @type {(v: HTMLVideoElement) => void} */ f) =>
      document.addEventListener(type, (e) => {
        const v = video(e);
        if (v) f(v);
      }, true);
    on('durationchange', (v) => m.durations.push({ d: v.duration, loads: loads(v), at: performance.now() }));
    on('playing', (v) => {
      if (m.firstPlaying < 0) m.firstPlaying = v.currentTime;
    });
    on('timeupdate', (v) => (m.max = Math.max(m.max, v.currentTime)));
    on('waiting', () => m.waits++);
    on('error', (v) => m.errors.push(v.error?.message || `code ${v.error?.code}`));
    on('loadstart', () => m.loadstarts++);
    on('ended', (v) => {
      m.ended = true;
      m.endTime = v.currentTime;
    });
    new MutationObserver(() => {
      const s = document.querySelector('[data-testid=player-status]')?.textContent;
      if (s && !m.statuses.includes(s)) m.statuses.push(s);
    }).observe(document, { subtree: true, childList: true, characterData: true });
  });
}

/** @param {Page} page */
const grow = (page) => page.evaluate(() => /** @type {any} */ (window).__grow);

/**
 * No fatal hls.js error: no player error, no reload or URL refresh (their status text), no media
 * recovery (a `loadstart` per load only), no `error` event on the <video>.
 * @param {Page} page
 */
async function noFatal(page) {
  await noPlayerError(page);
  const m = await grow(page);
  const loads = Number(await page.locator('.player').getAttribute('data-loads'));
  expect(m.errors.length === 0, `no error event on the video (${m.errors.join(', ')})`);
  expect(m.statuses.length === 0, `no reload or refresh after a fatal error (${m.statuses.join(', ')})`);
  expect(m.loadstarts === loads, `no media error recovery: ${m.loadstarts} loadstart events for ${loads} loads`);
}

test('growing: an HEVC upload plays from 0 while its ladder grows, then to its end', 240000, async ({ page, shot, log }) => {
  const file = await hevcClip(state.tmp);
  const t0 = Date.now();
  const id = await apiUpload('growing-hevc.mp4', file);
  const playable = untilStatus(id, 'playable', t0, 90000);
  playable.catch(() => undefined);
  // The watch page is open before the video is playable: the feed tells it when it is.
  const got = recordPlaylists(page, t0);
  await recordVideo(page);
  await signIn(page, `/watch/${id}`);
  const { v, seen } = await playable;
  log(`api: ${seen.join(' → ')}; renditions ${JSON.stringify(v.renditions.map((/** @type {any} */ r) => r.name ?? r))}`);
  await startPlayback(page);
  await eventually(async () => (await grow(page)).firstPlaying >= 0, 'the first `playing`', 20000);
  const opened = (Date.now() - t0) / 1000;
  const first = await grow(page);
  const masters = got.filter((f) => f.path.endsWith('/master.m3u8'));
  const master = masters[0]?.body ?? '';
  const media = got.filter((f) => f.path.endsWith('/playlist.m3u8'));
  const growing = media.filter((f) => !f.body.includes('#EXT-X-ENDLIST'));
  const firstDuration = first.durations.map((/** @type {any} */ x) => x.d).find((/** @type {number} */ d) => d > 0) ?? NaN;
  log(
    `playing at ${opened.toFixed(1)} s from ${first.firstPlaying.toFixed(2)} s; first duration ${firstDuration.toFixed(2)} s; ` +
      `master: ${variants(master).length} variants; media playlists ${media.length} (${growing.length} without ENDLIST)`,
  );
  expect(first.firstPlaying < 1, `playback starts at 0, not at the edge (${first.firstPlaying} s)`);
  expect(Number.isFinite(firstDuration) && firstDuration > 0, `the <video> duration is finite (${firstDuration})`);
  expect(variants(master).length >= 2, `the master the player loaded lists several rungs:\n${master}`);
  expect((await page.getByLabel('Quality').locator('option').count()) >= 3, 'the quality menu has Auto and the rungs');
  expect(growing.length > 0 && growing.every((f) => f.body.includes('#EXT-X-PLAYLIST-TYPE:EVENT') && f.body.includes('#EXT-X-START:TIME-OFFSET=0')),
    'the player was given growing EVENT playlists that start at 0');
  expect(firstDuration < SECS - 2, `the player first saw part of the ${SECS} s only (${firstDuration} s): caught while growing`);
  expect((await page.locator('.badge-live').count()) === 0, 'no Live badge');

  // The position goes past what the player first knew: the playlists grew under it.
  await eventually(async () => (await grow(page)).max > firstDuration + 0.5, `currentTime past the first duration (${firstDuration} s)`, 60000, 250);
  const past = await grow(page);
  const grewInPlace = past.durations.some((/** @type {any} */ x) => x.loads === '1' && x.d > firstDuration + 0.5);
  log(`passed ${firstDuration.toFixed(2)} s at ${((Date.now() - t0) / 1000).toFixed(1)} s; grew in place (load 1): ${grewInPlace}`);
  expect(grewInPlace, 'the duration grew while the first (growing) master was loaded: its playlists grew under the player');
  expect(past.durations.every((/** @type {any} */ x) => x.d !== Infinity), 'the duration was never Infinity');
  expect((await page.locator('.badge-live').count()) === 0, 'still no Live badge');
  await noFatal(page);
  await shot('growing-hevc');

  // The ladder completes (VOD, ENDLIST) and playback carries on to the end.
  await eventually(async () => (await grow(page)).ended, '`ended`', (SECS + 30) * 1000, 250).catch(async (e) => {
    throw new Error(`${e instanceof Error ? e.message : e}; at ${(await currentTime(page)).toFixed(2)} s`);
  });
  const end = await grow(page);
  const after = await api(`/v1/videos/${id}`);
  const last = got.filter((f) => f.path.includes('/playlist.m3u8')).pop();
  const durations = end.durations.map((/** @type {any} */ x) => `${Number(x.d).toFixed(1)}(load ${x.loads})`).join(' ');
  log(`ended at ${end.endTime.toFixed(2)} s (${((Date.now() - t0) / 1000).toFixed(1)} s after upload); durations ${durations}; waits ${end.waits}; api ${after.status}`);
  expect(after.status === 'ready', `the video is ready (${after.status})`);
  expect(!!last && last.body.includes('#EXT-X-ENDLIST'), 'the last media playlist fetched ends (ENDLIST)');
  expect(Math.abs(end.endTime - SECS) < 0.5, `played to the end of the ${SECS} s (${end.endTime})`);
  expect(end.durations.every((/** @type {any} */ x) => x.d !== Infinity), 'the duration was never Infinity');
  await noFatal(page);
});

test('growing: an H.264 upload is playable from its stream copy first, then from the ladder', 120000, async ({ page, shot, log }) => {
  const file = await makeClip(state.tmp, 10, 'growing-h264.mp4');
  const t0 = Date.now();
  const id = await apiUpload('growing-h264.mp4', file);
  const early = await untilStatus(id, 'playable', t0, 60000);
  const copyMaster = await fetch(`${state.base}${early.v.playback_url}`).then((r) => r.text());
  log(`api: ${early.seen.join(' → ')}; renditions ${JSON.stringify(early.v.renditions.map((/** @type {any} */ r) => r.name ?? r))}`);
  expect(copyMaster.includes('source/playlist.m3u8'), `the playable master names the stream copy:\n${copyMaster}`);
  expect(variants(copyMaster).length === 1, `the playable master names only the stream copy:\n${copyMaster}`);

  const got = recordPlaylists(page, t0);
  await recordVideo(page);
  await signIn(page, `/watch/${id}`);
  await startPlayback(page);
  await eventually(async () => (await currentTime(page)) > 1, 'playback to pass 1 s', 20000);
  const played = got.find((f) => f.path.endsWith('/master.m3u8'))?.body ?? '';
  log(`the player's first master: ${played.includes('source/playlist.m3u8') ? 'the stream copy' : 'the ladder'} at ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const done = await untilStatus(id, 'ready', t0, 90000);
  const ladder = await fetch(`${state.base}${done.v.playback_url}`).then((r) => r.text());
  log(`api: ${done.seen.join(' → ')}; ladder ${variants(ladder).length} variants`);
  expect(variants(ladder).length >= 2, `the finished master names the ladder:\n${ladder}`);
  expect(!/(^|\/)source(-audio)?\//m.test(ladder), `the finished master no longer names the stream copy:\n${ladder}`);
  // The page learns "ready" from the feed and loads the ladder in place; playback goes on.
  await page.locator('.player[data-loads="2"]').waitFor({ timeout: 20000 }).catch(() => undefined);
  const t1 = await currentTime(page);
  await eventually(
    async () => (await currentTime(page)) > t1 + 0.5 || (await grow(page)).ended,
    'playback to go on once the video is ready',
    15000,
  );
  const loads = await page.locator('.player').getAttribute('data-loads');
  log(`loads ${loads}; masters fetched: ${got.filter((f) => f.path.endsWith('/master.m3u8')).map((f) => `${variants(f.body).length} variants@${(f.at / 1000).toFixed(1)}s`).join(', ')}`);
  await noFatal(page);
  await shot('growing-h264');
});
