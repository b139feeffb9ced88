// @ts-check
// Direct uploads from a browser (issue 18): a page on another origin, with no API key, sends a
// real video to a direct-upload URL with tus-js-client; the video is created and gets ready;
// the key never reaches the page; the token cannot list videos, make a second video, or be used
// after it expired. Then the studio wizard's own path: a direct upload sent by tus-js-client.

import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { api, state } from './flows.mjs';
import { eventually, expect, test } from './harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const tusBundle = path.join(here, '..', 'node_modules', 'tus-js-client', 'dist', 'tus.min.js');

/** A static server for the end user's page on its own origin (random port). */
async function pageServer() {
  const files = {
    '/page.html': { type: 'text/html', body: readFileSync(path.join(here, 'direct', 'page.html')) },
    '/tus.min.js': { type: 'text/javascript', body: readFileSync(tusBundle) },
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

/** @param {string} url @param {RequestInit} [init] */
const tusCall = (url, init = {}) => fetch(url, { ...init, headers: { 'Tus-Resumable': '1.0.0', ...init.headers } });

test('a page with no API key uploads through a direct upload URL with tus-js-client', 150000, async ({ page, shot, log }) => {
  const site = await pageServer();
  try {
    const direct = await api('/v1/uploads/direct', {
      method: 'POST',
      body: JSON.stringify({ cors_origin: site.origin, title: 'From a browser', external_id: 'e2e-ext-1' }),
    });
    expect(direct.url.includes('/v1/direct/fdu_'), `a direct URL (${direct.url})`);
    /** @type {string[]} */
    const sent = [];
    page.on('request', (r) => {
      sent.push(`${r.method()} ${r.url()} ${JSON.stringify(r.headers())}`);
    });
    await page.goto(`${site.origin}/page.html#${encodeURIComponent(direct.url)}`);
    await page.setInputFiles('#file', state.clip);
    await page.locator('#status[data-state="done"], #status[data-state="error"]').waitFor({ timeout: 60000 });
    const outcome = await page.locator('#status').innerText();
    expect(outcome.startsWith('done'), `the browser upload finished: ${outcome}`);
    const patches = sent.filter((s) => s.startsWith('PATCH ') && s.includes('/v1/direct/'));
    log(`${patches.length} PATCH requests, ${sent.length} requests in all`);
    expect(patches.length >= 2, 'tus-js-client sent the file in several PATCHes');
    // The key is nowhere in the page: not in its HTML, its storage, or any request it made.
    const html = await page.evaluate(() => document.documentElement.outerHTML);
    const storage = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    /** @type {[string, string][]} */
    const places = [['html', html], ['storage', storage], ['requests', sent.join('\n')]];
    for (const [what, text] of places) {
      expect(!text.includes('flk_') && !text.includes(state.apiKey), `no API key in the page's ${what}`);
    }
    expect(!sent.some((s) => /"authorization"/i.test(s)), 'no Authorization header from the page');
    await shot('direct-upload-page');

    // The video exists under the chosen id, with its title, and gets ready.
    await eventually(async () => (await api(`/v1/videos/${direct.video_id}`)).status === 'ready', 'the direct upload to be ready', 90000, 1000);
    const video = await api(`/v1/videos/${direct.video_id}`);
    expect(video.title === 'From a browser' && video.external_id === 'e2e-ext-1', `title and external id in the catalog (${video.title}, ${video.external_id})`);
    expect((await api(`/v1/uploads/direct/${direct.id}`)).status === 'asset_created', 'the direct upload shows asset_created');

    // The token is not an API key and makes no second video.
    const token = direct.url.split('/').pop();
    const list = await fetch(`${state.base}/v1/videos`, { headers: { Authorization: `Bearer ${token}` } });
    expect(list.status === 401, `listing videos with the token: ${list.status}`);
    const del = await fetch(`${state.base}/v1/videos/${direct.video_id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
    expect(del.status === 401, `deleting the video with the token: ${del.status}`);
    const again = await tusCall(direct.url, { method: 'POST', headers: { 'Upload-Length': '10' } });
    expect(again.status === 409, `a second create with the token: ${again.status}`);

    // An expired URL answers 410 (created with the shortest lifetime; waited for by its expires_at).
    const short = await api('/v1/uploads/direct', { method: 'POST', body: JSON.stringify({ expires_in: 1 }) });
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(short.expires_at) - Date.now()) + 100));
    const late = await tusCall(short.url, { method: 'POST', headers: { 'Upload-Length': '10' } });
    expect(late.status === 410, `an expired URL: ${late.status}`);
  } finally {
    site.close();
  }
});
