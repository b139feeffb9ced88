// @ts-check
// The end-to-end flows, each its own test. Flows that need a video use the one the wizard
// uploaded, or upload one through the API when the wizard flow failed, so one failure does not
// hide the others.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { eventually, expect, test } from './harness.mjs';
import { makeClip, pushLive } from './stack.mjs';

/** @typedef {import('playwright-core').Page} Page */

/** @type {{ base: string, apiKey: string, clip: string, tmp: string, videoId: string | null }} */
export const state = { base: '', apiKey: '', clip: '', tmp: '', videoId: null };

/** @param {string} p @param {RequestInit} [init] */
export async function api(p, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('Authorization', `Bearer ${state.apiKey}`);
  if (init.body && typeof init.body === 'string') headers.set('Content-Type', 'application/json');
  const res = await fetch(`${state.base}${p}`, { ...init, headers });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${p}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Uploads the clip (or `file`) through the REST API (the fallback when the wizard flow failed). */
export async function apiUpload(/** @type {string} */ name, file = state.clip) {
  const bytes = readFileSync(file);
  const up = await api('/v1/videos/upload', { method: 'POST', body: JSON.stringify({ filename: name, size: bytes.length }) });
  for (let i = 0; i < up.total_chunks; i++) {
    const chunk = bytes.subarray(i * up.chunk_size, (i + 1) * up.chunk_size);
    await api(`/v1/videos/upload/${up.upload_id}/chunk/${i}`, {
      method: 'PUT',
      body: chunk,
      headers: { 'X-Chunk-SHA256': createHash('sha256').update(chunk).digest('hex') },
    });
  }
  await api(`/v1/videos/upload/${up.upload_id}/complete`, { method: 'POST' });
  return /** @type {string} */ (up.video_id);
}

async function ensureVideo() {
  if (!state.videoId) state.videoId = await apiUpload('e2e-api-clip.mp4');
  return state.videoId;
}

/** @type {Promise<string> | null} */
let ready = null;
/** The test video once the API says it is ready (transcoded: up to ~90 s, shared by the flows). */
export function videoReady() {
  ready ??= (async () => {
    const id = await ensureVideo();
    await eventually(async () => (await api(`/v1/videos/${id}`)).status === 'ready', `video ${id} to be ready (API)`, 90000, 1000);
    return id;
  })();
  return ready;
}

/** @type {Promise<string> | null} */
let long = null;
/**
 * A 12 s clip, ready: three segments, so a pinned quality (hls.js `nextLevel`, no buffer flush)
 * is seen taking over at a segment boundary. Its upload starts with the catalog flow.
 */
function longVideoReady() {
  long ??= (async () => {
    const id = await apiUpload('e2e-long.mp4', await makeClip(state.tmp, 24, 'long.mp4'));
    await eventually(async () => (await api(`/v1/videos/${id}`)).status === 'ready', `video ${id} to be ready (API)`, 150000, 1000);
    return id;
  })();
  return long;
}

/** @param {Page} page */
export async function signIn(page, path = '/') {
  await page.goto(path);
  await page.getByLabel('API key').fill(state.apiKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('#page-title').waitFor({ timeout: 10000 });
}

/** Drops a file on the upload wizard through a real DataTransfer. @param {Page} page @param {string} name */
async function dropClip(page, name) {
  const b64 = readFileSync(state.clip).toString('base64');
  const dt = await page.evaluateHandle(
    ({ data, fileName }) => {
      const bin = atob(data);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], fileName, { type: 'video/mp4', lastModified: 1767225600000 }));
      return transfer;
    },
    { data: b64, fileName: name },
  );
  await page.dispatchEvent('[data-testid=dropzone]', 'drop', { dataTransfer: dt });
}

/** @param {Page} page */
export async function startPlayback(page) {
  await page.locator('.player[data-engine="hls.js"]').waitFor({ timeout: 15000 });
  await page.evaluate(() => {
    const v = document.querySelector('video');
    if (!v) throw new Error('no video element');
    v.muted = true;
    return v.play();
  });
}

/** @param {Page} page */
export const currentTime = (page) => page.evaluate(() => document.querySelector('video')?.currentTime ?? 0);

/** @param {Page} page */
export async function noPlayerError(page) {
  const err = await page.locator('.player').getAttribute('data-error');
  expect(!err, `player error: ${err}`);
}

test('sign in with the API key (a wrong key shows the API error)', 20000, async ({ page, shot }) => {
  await page.goto('/');
  await page.getByLabel('API key').fill('not-a-key');
  await page.getByRole('button', { name: 'Sign in' }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor();
  expect(/api key/i.test(await alert.innerText()), 'the error names the API key');
  await shot('signin');
  await page.getByLabel('API key').fill(state.apiKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Catalog' }).waitFor();
  const stored = await page.evaluate(() => sessionStorage.getItem('framelog.apiKey'));
  expect(stored === state.apiKey, 'the key is kept in sessionStorage');
  expect(!page.url().includes(state.apiKey), 'the key is not in the URL');
  await page.locator('[data-feed-status="open"]').waitFor({ timeout: 10000 });
  await shot('catalog-empty');
});

test('upload a video through the wizard (drag and drop, a direct upload sent by tus-js-client)', 90000, async ({ page, shot, log }) => {
  await signIn(page);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Upload' }).click();
  await page.getByRole('heading', { name: 'Upload' }).waitFor();
  /** @type {{ method: string, url: string, auth: string }[]} */
  const sent = [];
  page.on('request', (r) => {
    if (r.url().includes('/v1/direct/') || r.url().includes('/v1/uploads/direct')) {
      sent.push({ method: r.method(), url: r.url(), auth: r.headers()['authorization'] ?? '' });
    }
  });
  await dropClip(page, 'e2e-clip.mp4');
  const item = page.locator('li.upload').first();
  await item.waitFor();
  await page.locator('li.upload[data-phase="done"]').waitFor({ timeout: 60000 });
  const create = sent.filter((s) => s.method === 'POST' && s.url.endsWith('/v1/uploads/direct'));
  const tus = sent.filter((s) => s.url.includes('/v1/direct/'));
  log(`${tus.length} tus requests: ${[...new Set(tus.map((s) => s.method))].join(', ')}`);
  expect(create.length === 1 && !!create[0]?.auth.startsWith('Bearer '), 'the studio asked the API (with its key) for one direct upload');
  expect(tus.some((s) => s.method === 'POST') && tus.filter((s) => s.method === 'PATCH').length >= 2, 'tus-js-client created the upload and sent PATCHes');
  expect(tus.every((s) => s.auth === ''), 'no API key on the upload requests');
  const id = await item.getAttribute('data-video-id');
  expect(!!id, 'the wizard knows the video id');
  state.videoId = id;
  const link = page.getByTestId('watch-link');
  await link.waitFor();
  expect((await link.getAttribute('href')) === `/watch/${id}`, 'the wizard links to the video');
  await shot('upload');
});

test('the catalog card reaches "ready" from the live feed, without a reload', 120000, async ({ page, shot, log }) => {
  const id = await ensureVideo();
  // The API wait of the later flows starts now, so the transcode budget is shared, not repeated.
  videoReady().catch(() => undefined);
  longVideoReady().catch(() => undefined);
  await signIn(page);
  await page.evaluate(() => ((/** @type {any} */ (window)).__noReload = true));
  const card = page.locator(`li.video-card[data-video-id="${id}"]`);
  await card.waitFor({ timeout: 15000 });
  const t0 = Date.now();
  const at = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
  let last = await card.getAttribute('data-status');
  const seen = [`${last}@${at()}`];
  await eventually(
    async () => {
      const s = await card.getAttribute('data-status');
      if (s && s !== last) seen.push(`${s}@${at()}`);
      last = s;
      if (s === 'processing' || s === 'playable') {
        const pct = await card.getByTestId('progress-text').innerText().catch(() => '');
        if (pct && !seen.some((x) => x.startsWith(pct))) seen.push(`${pct}@${at()}`);
      }
      return s === 'ready';
    },
    'the card to show ready',
    90000,
    200,
  );
  log(`card went: ${seen.join(' → ')}`);
  const same = await page.evaluate(() => (/** @type {any} */ (window)).__noReload === true);
  expect(same, 'the page was not reloaded');
  await page.locator(`li.video-card[data-video-id="${id}"] img.poster`).waitFor({ timeout: 5000 });
  await shot('catalog');
});

test('the catalog catches up with a change made before its feed started', 60000, async ({ page, shot }) => {
  const id = await apiUpload('e2e-gap.mp4');
  // Quiet first: no transcode event may follow the deletion (it would reach the feed).
  await eventually(async () => (await api(`/v1/videos/${id}`)).status === 'ready', 'the video to be ready', 40000, 500);
  // Hold the feed's start (its /v1/stats read; the first one is the sign-in check) until the
  // catalog list has been read and the video deleted: the feed then starts after the deletion.
  /** @type {() => void} */
  let release = () => undefined;
  const gate = new Promise((r) => (release = () => r(undefined)));
  let stats = 0;
  await page.route('**/v1/stats', async (route) => {
    if (++stats >= 2) await gate;
    await route.continue();
  });
  await signIn(page);
  const card = page.locator(`li.video-card[data-video-id="${id}"]`);
  await card.waitFor({ timeout: 15000 });
  await api(`/v1/videos/${id}`, { method: 'DELETE' });
  await eventually(
    () => api(`/v1/videos/${id}`).then(() => false, (e) => /404/.test(String(e))),
    'the projection to drop the video',
    15000,
  );
  expect(stats >= 2, 'the feed asked where to start');
  release();
  await page.locator('[data-feed-status="open"]').waitFor({ timeout: 10000 });
  await eventually(async () => (await card.count()) === 0, 'the deleted video to leave the catalog', 15000);
  await shot('catalog-caught-up');
});

test('the watch page plays the video (hls.js, time advances, storyboard on hover)', 120000, async ({ page, shot }) => {
  const id = await videoReady();
  await signIn(page, `/watch/${id}`);
  await startPlayback(page);
  await eventually(async () => (await currentTime(page)) > 1, 'currentTime to pass 1 s', 20000);
  await noPlayerError(page);
  const seek = page.getByLabel('Seek');
  const box = await seek.boundingBox();
  expect(!!box, 'the seek bar is visible');
  if (box) await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
  const preview = page.getByTestId('seek-preview');
  await preview.waitFor({ timeout: 5000 });
  const bg = await preview.locator('.thumb').evaluate((el) => getComputedStyle(el).backgroundImage).catch(() => '');
  expect(bg.includes('sprites'), `a storyboard thumbnail shows on hover (${bg || 'none'})`);
  await shot('watch');
  // The start beacon becomes a counted view.
  await eventually(async () => (await api(`/v1/videos/${id}`)).views >= 1, 'the view beacon to be counted', 20000, 500);
});

test('switch quality from the menu (at the next segment, no buffer flush)', 200000, async ({ page, shot, log }) => {
  const id = await longVideoReady();
  await signIn(page, `/watch/${id}`);
  await startPlayback(page);
  const quality = page.getByLabel('Quality');
  await eventually(async () => (await quality.locator('option').count()) >= 2, 'levels in the quality menu', 15000);
  const options = await quality.locator('option').evaluateAll((os) =>
    os.map((o) => ({ value: /** @type {HTMLOptionElement} */ (o).value, label: o.textContent ?? '' })),
  );
  log(`levels: ${options.map((o) => o.label).join(', ')}`);
  expect(options[0]?.label === 'Auto', 'Auto comes first');
  const levels = options.slice(1);
  const pins = [levels[levels.length - 1], levels[0]];
  for (const [i, o] of pins.entries()) {
    if (!o) continue;
    // A pin switches at the next segment: hls.js keeps the segment after the playhead and
    // flushes only what follows it, or (nothing buffered to flush) the switch waits for the
    // buffer to play out. The clip is 24 s (four 6 s segments): a pin asked in its last
    // segments, where the first switch can leave the playhead, has nothing left to load at
    // the new level and never shows before the end, and on a slow machine a 20 s wait is
    // shorter than the buffer ahead plus a load (CI: 20 s waiting for 270p). So each pin is
    // asked early in the clip with at least two segments to go (a seek *before* the pin: the
    // switch itself is still the no-flush one), the second one while another level shows
    // (the seek may land in a segment buffered at any level), and the wait is what is
    // buffered ahead, plus a segment to load, plus a margin.
    await page.evaluate(() => {
      const v = document.querySelector('video');
      if (v && v.currentTime > 2) v.currentTime = 0.5;
    });
    const target = o.label.split(' ')[0];
    await eventually(async () => {
      const t = await currentTime(page);
      const shown = await page.locator('.player').getAttribute('data-level');
      return t > 0.5 && t < 12 && (shown !== target || i === 0);
    }, `playback to run early in the clip at another level than ${target} before the pin`, 15000);
    const ahead = await page.evaluate(() => {
      const v = document.querySelector('video');
      if (!v) return 0;
      for (let i = 0; i < v.buffered.length; i++) {
        if (v.buffered.start(i) <= v.currentTime + 0.1 && v.currentTime <= v.buffered.end(i)) return v.buffered.end(i) - v.currentTime;
      }
      return 0;
    });
    const wait = Math.round(ahead * 1000) + 6000 + 10000;
    const asked = Date.now();
    await quality.selectOption(o.value);
    await eventually(
      async () => (await page.locator('.player').getAttribute('data-level')) === target,
      `the player to switch to ${o.label} (${ahead.toFixed(1)} s buffered ahead when asked)`,
      wait,
    );
    log(`${o.label}: switched ${((Date.now() - asked) / 1000).toFixed(1)} s after the pin (${ahead.toFixed(1)} s buffered ahead, waited up to ${wait / 1000} s)`);
    const t0 = await currentTime(page);
    await eventually(async () => (await currentTime(page)) > t0 + 0.3 || (await page.evaluate(() => document.querySelector('video')?.ended)), 'playback to go on after the switch', 15000);
  }
  await noPlayerError(page);
  await shot('watch-quality');
});

test('studio: create a stream, reveal the key, regenerate it after confirming', 30000, async ({ page, shot }) => {
  await signIn(page, '/studio');
  await page.getByLabel('Name').fill('E2E stream');
  await page.getByRole('button', { name: 'Create stream' }).click();
  const key = page.getByTestId('stream-key');
  await key.waitFor();
  expect((await key.getAttribute('data-shown')) === 'false', 'the key is hidden by default');
  expect(/^•+$/.test(await key.innerText()), 'a hidden key shows only dots');
  await page.getByRole('button', { name: 'Show' }).click();
  await eventually(async () => (await key.getAttribute('data-shown')) === 'true', 'the key to show');
  const first = await key.innerText();
  expect(first.length >= 16 && !first.includes('•'), `a key is shown (${first})`);
  await page.getByTestId('obs-server').waitFor();
  await page.getByRole('button', { name: 'Regenerate key' }).click();
  const dialog = page.getByRole('dialog', { name: 'Regenerate the stream key?' });
  await dialog.waitFor();
  await shot('studio-confirm');
  await dialog.getByRole('button', { name: 'Regenerate' }).click();
  const second = await eventually(async () => {
    const k = await key.innerText();
    return k !== first && !k.includes('•') ? k : null;
  }, 'the key to change');
  await page.getByText('The old key no longer works').waitFor();
  const streamId = await page.locator('section.studio-main').getAttribute('data-stream-id');
  const revealed = await api(`/v1/streams/${streamId}/key/reveal`, { method: 'POST' });
  expect(revealed.stream_key === second, 'the page shows the current key');
  expect(revealed.generation === 1, 'the key generation went up');
  await page.getByRole('button', { name: 'Hide' }).click();
  await shot('studio');
});

test('dashboard: live feed with a type filter, counters, usage', 30000, async ({ page, shot }) => {
  await signIn(page, '/dashboard');
  await page.locator('[data-feed-status="open"]').waitFor({ timeout: 10000 });
  await api('/v1/streams', { method: 'POST', body: JSON.stringify({ name: 'Dashboard stream', record: false, public: false }) });
  const liveItem = page.locator('ol.events li[data-type="VID_LIVE"]');
  await liveItem.first().waitFor({ timeout: 10000 });
  await page.getByLabel('Type').selectOption('VID_READY');
  await eventually(async () => (await liveItem.count()) === 0, 'the filter to hide VID_LIVE events');
  await page.getByLabel('Type').selectOption('VID_LIVE');
  await liveItem.first().waitFor();
  const counters = await page.locator('.counter-value').allInnerTexts();
  expect(counters.length === 4 && counters.every((c) => /^\d+$/.test(c)), `four counters (${counters.join(', ')})`);
  await page.getByRole('heading', { name: 'Usage' }).waitFor();
  await page.locator('svg.chart').or(page.getByText(/No transcoding/)).first().waitFor({ timeout: 10000 });
  await shot('dashboard');
});

test('live browser and live viewer', 30000, async ({ page, shot }) => {
  const s = await api('/v1/streams', { method: 'POST', body: JSON.stringify({ name: 'Viewer stream', record: false, public: false }) });
  await signIn(page, '/live');
  await page.getByRole('heading', { name: 'Live now' }).waitFor();
  await page.locator('.empty, .live-card').first().waitFor();
  await shot('live');
  await page.goto(`/stream/${s.stream_id}`);
  await page.getByRole('heading', { name: 'Viewer stream' }).waitFor();
  await page.getByText('This stream is offline').waitFor();
  await shot('live-viewer');
});

test('live: an RTMP push plays in the live viewer, is listed with its viewer, and ends', 120000, async ({ page, shot, log }) => {
  const s = await api('/v1/streams', { method: 'POST', body: JSON.stringify({ name: 'E2E live', record: false, public: false }) });
  expect(!s.publish_url.includes(s.stream_key) || s.publish_url.includes(`?key=${s.stream_key}`), 'the key travels only as ?key=');
  // As OBS would: the real nginx-rtmp asks live-auth, then writes live HLS for playback.
  const push = pushLive(s.publish_url, 90, path.join(state.tmp, 'push.log'));
  try {
    await eventually(async () => (await api(`/v1/streams/${s.stream_id}`)).live === true, 'the stream to go live', 20000, 300);
    await signIn(page, `/stream/${s.stream_id}`);
    await page.locator('.badge-live').waitFor({ timeout: 15000 });
    await startPlayback(page);
    const t0 = await currentTime(page);
    await eventually(async () => (await currentTime(page)) > t0 + 3, 'live playback to advance 3 s', 40000, 250);
    await noPlayerError(page);
    // How far behind the live edge (hls.js low-latency settings: about 2 segments).
    const behind = await page.evaluate(() => {
      const v = document.querySelector('video');
      if (!v || v.seekable.length === 0) return null;
      return v.seekable.end(v.seekable.length - 1) - v.currentTime;
    });
    log(`behind the live edge: ${behind === null ? 'not measurable' : `${behind.toFixed(1)} s`}`);
    expect(behind === null || behind < 10, `close to the live edge (${behind} s behind)`);
    const src = await page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.includes('.m3u8')));
    expect(src.length > 0 && src.every((u) => u.includes(`/live/`) && u.includes(s.stream_id) && !u.includes(s.stream_key)), 'viewer URLs name the stream id, never the key');
    await shot('live-playing');

    // While this page plays, the live browser lists the stream with its viewer.
    // A second tab (sessionStorage is per tab: it signs in too).
    const other = await page.context().newPage();
    await signIn(other, '/live');
    const card = other.locator(`li.live-card[data-stream-id="${s.stream_id}"]`);
    await card.waitFor({ timeout: 15000 });
    await eventually(
      async () => {
        if (/[1-9]\d* watching/.test(await card.innerText())) return true;
        await other.reload();
        await card.waitFor({ timeout: 10000 });
        return false;
      },
      'the live card to show 1 watching',
      30000,
      2000,
    );
    await shot('live-browser', other);
    await other.close();
  } finally {
    push.kill('SIGTERM');
  }
  // The publisher stopped: the viewer page learns it from the feed and says so.
  await page.getByText('This stream is offline').waitFor({ timeout: 30000 });
  expect((await api(`/v1/streams/${s.stream_id}`)).live === false, 'the API says offline too');
  await shot('live-ended');
});

test('errors are messages, never blank pages', 20000, async ({ page, shot }) => {
  await signIn(page, '/watch/no-such-video');
  await page.getByRole('alert').filter({ hasText: 'video not found' }).waitFor();
  await page.goto('/no/such/page');
  await page.getByRole('heading', { name: 'Page not found' }).waitFor();
  await shot('not-found');
});

test('an upload resumes after a failure and a page reload', 90000, async ({ page, shot, log }) => {
  await signIn(page, '/upload');
  // The first PATCH gets through, the next ones cannot: tus-js-client stops after its retries.
  const pattern = '**/v1/direct/**';
  let patches = 0;
  await page.route(pattern, (route) => {
    if (route.request().method() !== 'PATCH') return route.continue();
    patches++;
    return patches > 1 ? route.abort('failed') : route.continue();
  });
  await dropClip(page, 'e2e-resume.mp4');
  await page.locator('li.upload[data-phase="error"]').waitFor({ timeout: 40000 });
  await page.unroute(pattern);
  await page.reload();
  await page.getByRole('heading', { name: 'Unfinished uploads' }).waitFor();
  await dropClip(page, 'e2e-resume.mp4');
  const item = page.locator('li.upload').first();
  await page.locator('li.upload[data-phase="done"]').waitFor({ timeout: 30000 });
  const text = await item.innerText();
  log(text.split('\n').find((l) => l.includes('resumed')) ?? '');
  expect(/resumed at [1-9]/.test(text), 'the second attempt resumed where the first stopped (same direct URL, tus HEAD)');
  await shot('upload-resumed');
});
