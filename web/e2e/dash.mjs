// @ts-check
// MPEG-DASH (issue 19): a third-party page on another origin plays a ready video's
// `manifest.mpd` with dash.js, from the same CMAF segments as HLS (the segment requests go to
// the ladder's `v/<version>/<rung>/` files under the token prefix); time advances with no
// error, and with ABR off a forced representation is the one that plays (the picture's height
// changes to the rung's).

import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { api, apiUpload, state } from './flows.mjs';
import { eventually, expect, test } from './harness.mjs';
import { makeClip } from './stack.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const dashBundle = path.join(here, '..', 'node_modules', 'dashjs', 'dist', 'modern', 'umd', 'dash.all.min.js');

/** A static server for the player's page on its own origin (random port). */
async function pageServer() {
  const files = {
    '/page.html': { type: 'text/html', body: readFileSync(path.join(here, 'dash', 'page.html')) },
    '/dash.all.min.js': { type: 'text/javascript', body: readFileSync(dashBundle) },
  };
  const server = createServer((req, res) => {
    const f = files[/** @type {keyof typeof files} */ (new URL(req.url ?? '/', 'http://x').pathname)];
    if (!f) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': f.type }).end(f.body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', () => r(undefined)));
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('no port');
  return { origin: `http://127.0.0.1:${addr.port}`, close: () => server.close() };
}

/** @typedef {{ id: string, height: number, bandwidth: number }} Rep */

test('dash.js on another origin plays the DASH manifest from the HLS segments and switches quality', 200000, async ({ page, shot, log }) => {
  const site = await pageServer();
  try {
    const id = await apiUpload('e2e-dash.mp4', await makeClip(state.tmp, 12, 'dash.mp4'));
    await eventually(async () => (await api(`/v1/videos/${id}`)).status === 'ready', `video ${id} to be ready`, 150000, 1000);
    const video = await api(`/v1/videos/${id}`);
    const mpd = `${state.base}${video.playback_url.replace(/master\.m3u8$/, 'manifest.mpd')}`;
    /** @type {string[]} */
    const segments = [];
    page.on('request', (r) => {
      if (r.url().endsWith('.m4s')) segments.push(r.url());
    });
    await page.goto(`${site.origin}/page.html#${encodeURIComponent(mpd)}`);
    const errors = () => page.evaluate(() => /** @type {any} */ (window).dashErrors);
    await eventually(async () => (await page.evaluate(() => document.querySelector('video')?.currentTime ?? 0)) > 1.5, 'DASH playback to pass 1.5 s', 30000);
    expect((await errors()).length === 0, `no dash.js error: ${await errors()}`);
    const token = video.playback_url.split('/')[2];
    expect(segments.length > 0 && segments.every((u) => u.includes(`/hls/${token}/${id}/v/`)), `segments from the HLS ladder under the token: ${segments.slice(0, 3)}`);

    /** @type {Rep[]} */
    const reps = await page.evaluate(() =>
      /** @type {any} */ (window).dashPlayer.getRepresentationsByType('video').map((/** @type {any} */ r) => ({ id: r.id, height: r.height, bandwidth: r.bandwidth })),
    );
    log(`representations: ${reps.map((r) => `${r.id} ${r.height}p ${r.bandwidth} b/s`).join(', ')}`);
    expect(reps.length >= 2, `several video representations (${reps.length})`);
    const playing = async () =>
      page.evaluate(() => ({
        id: /** @type {any} */ (window).dashPlayer.getCurrentRepresentationForType('video')?.id,
        height: document.querySelector('video')?.videoHeight ?? 0,
        time: document.querySelector('video')?.currentTime ?? 0,
      }));
    const before = await playing();
    const sorted = [...reps].sort((a, b) => a.height - b.height);
    const [lowest, highest] = [sorted[0], sorted[sorted.length - 1]];
    if (!lowest || !highest) throw new Error('no video representation');
    // Up to the top rung (or down, if it started there), then to the other end.
    const first = before.height === highest.height ? lowest : highest;
    const second = first === highest ? lowest : highest;
    let from = before;
    for (const target of [first, second]) {
      await page.evaluate((t) => /** @type {any} */ (window).dashPlayer.setRepresentationForTypeById('video', t, true), target.id);
      const after = /** @type {{ id: string, height: number, time: number }} */ (await eventually(
        async () => {
          const now = await playing();
          return now.id === target.id && now.height === target.height ? now : null;
        },
        `the picture to switch to ${target.height}p`,
        30000,
      ));
      await eventually(async () => (await playing()).time > after.time + 1, `playback to go on at ${target.height}p`, 15000);
      expect(segments.some((u) => u.includes(`/${target.id}/`)), `segments of ${target.id} fetched`);
      log(`switched from ${from.height}p to ${after.height}p at ${after.time.toFixed(1)} s`);
      from = after;
    }
    expect((await errors()).length === 0, `no dash.js error: ${await errors()}`);
    log(`${segments.length} segments fetched`);
    await shot('dash-player');
  } finally {
    site.close();
  }
});
