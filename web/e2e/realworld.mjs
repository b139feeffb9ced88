// @ts-check
// Real-world sources (issue 15), made with ffmpeg in the flow and uploaded through the API, each
// played by hls.js to the end without a stall: a VFR phone-like HEVC with a rotation, a source
// whose audio ends at 40 %, two audio languages (the second flagged default) with a language
// switch during playback. Then the player's error handling (a 404 master shows a message, a
// 503 master is reloaded and plays) and the early → ready upgrade keeping the viewer's place.

import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { api, apiUpload, currentTime, noPlayerError, signIn, startPlayback, state } from './flows.mjs';
import { eventually, expect, test } from './harness.mjs';

/** @typedef {import('playwright-core').Page} Page */

const run = promisify(execFile);

/** @param {string[]} args */
const ffmpeg = (args) => run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args]);

/** The VFR phone clip: HEVC (hvc1) averaging 30.02 fps with jittered frame times, rotated 90°. */
async function phoneClip(/** @type {string} */ dir) {
  const plain = path.join(dir, 'phone-plain.mp4');
  const out = path.join(dir, 'phone-vfr-hevc-rot90.mp4');
  // Frame times N/30.02 s plus 0, 4 or 8 ms: 37, 37, 25 ms steps, 30.02 fps on average.
  await ffmpeg([
    '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30.02:duration=4,setpts=(N/30.02+0.004*mod(N\\,3))/TB',
    '-f', 'lavfi', '-i', 'sine=frequency=330:sample_rate=48000:duration=4',
    '-fps_mode', 'vfr', '-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'log-level=error',
    '-tag:v', 'hvc1', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-video_track_timescale', '90000', plain,
  ]);
  // ffmpeg 5.1 drops `rotate` when encoding; a stream copy keeps it (as a phone writes it).
  await ffmpeg(['-i', plain, '-c', 'copy', '-metadata:s:v:0', 'rotate=90', out]);
  return out;
}

/** 5 s of video whose audio stops after 2 s (40 %). */
async function shortAudioClip(/** @type {string} */ dir) {
  const out = path.join(dir, 'short-audio.mp4');
  await ffmpeg([
    '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30:duration=5',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=2',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', out,
  ]);
  return out;
}

/** Two audio languages: English first, French second and flagged default. */
async function twoLanguagesClip(/** @type {string} */ dir) {
  const out = path.join(dir, 'two-languages.mp4');
  await ffmpeg([
    '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30:duration=6',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=6',
    '-f', 'lavfi', '-i', 'sine=frequency=880:sample_rate=48000:duration=6',
    '-map', '0:v', '-map', '1:a', '-map', '2:a',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac',
    '-metadata:s:a:0', 'language=eng', '-metadata:s:a:1', 'language=fra',
    '-disposition:a:0', '0', '-disposition:a:1', 'default', out,
  ]);
  return out;
}

/** Uploads a file through the REST API; resolves to the video id. @param {string} file */
async function upload(file) {
  return apiUpload(path.basename(file), file);
}

/** @param {string} id */
async function untilReady(id) {
  return eventually(
    async () => {
      const v = await api(`/v1/videos/${id}`);
      if (v.status === 'failed') throw new Error(`video ${id} failed: ${v.error}`);
      return v.status === 'ready' ? v : null;
    },
    `video ${id} to be ready`,
    150000,
    1000,
  ).catch((e) => {
    // `eventually` swallows the thrown failure until its timeout: say it plainly.
    throw new Error(String(e));
  });
}

/**
 * Watches the <video> for stalls: every `waiting` after playback started, until the next
 * `playing`; the longest time currentTime stood still while playing (a freeze with no
 * `waiting`, as where MSE audio ends: hls.js #7266); `ended`; the playing wall time.
 * @param {Page} page
 */
function watchStalls(page) {
  return page.evaluate(() => {
    const v = /** @type {HTMLVideoElement} */ (document.querySelector('video'));
    const m = {
      started: -1, startTime: 0, waits: /** @type {number[]} */ ([]), since: -1,
      lastT: -1, lastAdvance: -1, frozen: 0, frozenAt: -1,
      ended: false, endedAt: -1, endTime: -1, duration: -1,
    };
    /** @type {any} */ (window).__stalls = m;
    const still = () => {
      if (m.lastAdvance < 0) return;
      const gap = performance.now() - m.lastAdvance;
      if (gap > m.frozen) {
        m.frozen = gap;
        m.frozenAt = v.currentTime;
      }
    };
    v.addEventListener('playing', () => {
      if (m.started < 0) {
        m.started = performance.now();
        m.startTime = v.currentTime;
        m.lastAdvance = m.started;
        m.lastT = v.currentTime;
      }
      if (m.since >= 0) m.waits.push(performance.now() - m.since);
      m.since = -1;
    });
    v.addEventListener('waiting', () => {
      if (m.started >= 0 && m.since < 0) m.since = performance.now();
    });
    v.addEventListener('timeupdate', () => {
      if (m.started < 0 || v.paused) return;
      if (v.currentTime > m.lastT + 0.01) {
        still();
        m.lastAdvance = performance.now();
      }
      m.lastT = v.currentTime;
    });
    v.addEventListener('ended', () => {
      still();
      m.ended = true;
      m.endedAt = performance.now();
      m.endTime = v.currentTime;
      m.duration = v.duration;
      if (m.since >= 0) m.waits.push(performance.now() - m.since);
      m.since = -1;
    });
  });
}

/**
 * Waits for `ended` and checks: no wait or freeze over 1 s, the wall time about the media time
 * played, currentTime reached the duration, which is the source's.
 * @param {Page} page @param {number} sourceSecs @param {(s: string) => void} log
 */
async function playedThrough(page, sourceSecs, log) {
  const m = await eventually(
    () => page.evaluate(() => {
      const s = /** @type {any} */ (window).__stalls;
      return s.ended ? s : null;
    }),
    '`ended` (playback to reach the end)',
    (sourceSecs + 25) * 1000,
    200,
  ).catch(async (e) => {
    const t = await currentTime(page);
    throw new Error(`${e instanceof Error ? e.message : e}; stuck at currentTime ${t.toFixed(2)} of ${sourceSecs} s`);
  });
  const wall = (m.endedAt - m.started) / 1000;
  const played = m.endTime - m.startTime;
  const longest = Math.max(0, ...m.waits) / 1000;
  const frozen = m.frozen / 1000;
  log(
    `played ${m.startTime.toFixed(2)}→${m.endTime.toFixed(2)} of ${m.duration.toFixed(2)} s in ${wall.toFixed(2)} s wall; ` +
      `waits ${m.waits.map((/** @type {number} */ w) => (w / 1000).toFixed(2)).join(', ') || 'none'}; ` +
      `longest freeze ${frozen.toFixed(2)} s at ${Number(m.frozenAt).toFixed(2)} s`,
  );
  expect(longest <= 1, `no wait longer than 1 s after playback started (longest ${longest.toFixed(2)} s)`);
  expect(frozen <= 1, `currentTime never stood still over 1 s while playing (${frozen.toFixed(2)} s at ${Number(m.frozenAt).toFixed(2)} s)`);
  expect(wall <= played + 1.5, `the wall time (${wall.toFixed(2)} s) is about the media time played (${played.toFixed(2)} s)`);
  expect(m.endTime >= m.duration - 0.1, `currentTime reached the duration (${m.endTime} of ${m.duration})`);
  // Chromium's own count: every source here has sound, so the played media must have had some.
  const audio = await page.evaluate(() => (/** @type {any} */ (document.querySelector('video'))).webkitAudioDecodedByteCount ?? -1);
  expect(audio !== 0, `audio was decoded (${audio} bytes)`);
  expect(Math.abs(m.duration - sourceSecs) < 0.5, `the media lasts the source's ${sourceSecs} s (${m.duration})`);
}

/** @type {Map<string, Promise<string>>} */
const uploads = new Map();
/** Makes and uploads a source once; every flow that needs it waits for the same upload. @param {string} key @param {(dir: string) => Promise<string>} make */
function source(key, make) {
  let p = uploads.get(key);
  if (!p) {
    p = make(state.tmp).then(upload);
    uploads.set(key, p);
  }
  return p;
}

/** Starts every upload at once, so their transcodes overlap the first flows. */
function uploadAll() {
  source('phone', phoneClip).catch(() => undefined);
  source('short', shortAudioClip).catch(() => undefined);
  source('langs', twoLanguagesClip).catch(() => undefined);
}

test('real-world: a VFR HEVC phone clip (30.02 fps, rotated 90°) plays to the end, portrait, no stall', 200000, async ({ page, shot, log }) => {
  uploadAll();
  const id = await source('phone', phoneClip);
  const v = await untilReady(id);
  log(`renditions: ${v.renditions.map((/** @type {any} */ r) => `${r.name} ${r.width}x${r.height}@${r.fps}`).join(', ')}`);
  await signIn(page, `/watch/${id}`);
  await page.locator('.player[data-engine="hls.js"]').waitFor({ timeout: 15000 });
  await watchStalls(page);
  await startPlayback(page);
  await playedThrough(page, 4, log);
  const size = await page.evaluate(() => {
    const el = /** @type {HTMLVideoElement} */ (document.querySelector('video'));
    return { w: el.videoWidth, h: el.videoHeight };
  });
  expect(size.h > size.w, `the rotated phone clip plays portrait (${size.w}x${size.h})`);
  await noPlayerError(page);
  await shot('realworld-phone');
});

test('real-world: audio that ends at 40% of the video plays to the end without a stall', 200000, async ({ page, shot, log }) => {
  uploadAll();
  const id = await source('short', shortAudioClip);
  await untilReady(id);
  await signIn(page, `/watch/${id}`);
  await page.locator('.player[data-engine="hls.js"]').waitFor({ timeout: 15000 });
  await watchStalls(page);
  await startPlayback(page);
  await playedThrough(page, 5, log);
  await noPlayerError(page);
  await shot('realworld-short-audio');
});

/**
 * On a watch page showing a master with two audio languages (French the default): plays, checks
 * the menu and its default, switches to English during playback (hls.js AUDIO_TRACK_SWITCHED),
 * asserts the new rendition is fetched and time goes on, and plays to the end without a stall.
 * @param {Page} page @param {number} secs @param {(s: string) => void} log
 */
async function switchLanguage(page, secs, log) {
  /** @type {string[]} */
  const urls = [];
  page.on('request', (r) => urls.push(r.url()));
  await page.locator('.player[data-engine="hls.js"]').waitFor({ timeout: 15000 });
  await watchStalls(page);
  await startPlayback(page);
  const menu = page.getByLabel('Audio', { exact: true });
  await eventually(async () => (await menu.locator('option').count()) === 2, 'two audio languages in the menu', 15000);
  const options = await menu.locator('option').evaluateAll((os) =>
    os.map((o) => ({ value: /** @type {HTMLOptionElement} */ (o).value, label: o.textContent ?? '' })),
  );
  // hls.js picks its initial track (the DEFAULT=YES one) after listing them.
  await page.locator('.player:not([data-audio="-1"])').waitFor({ timeout: 10000 });
  const chosen = await menu.inputValue();
  log(`audio: ${options.map((o) => `${o.label}${o.value === chosen ? ' (selected)' : ''}`).join(', ')}`);
  const french = options.find((o) => /\bfr|fran/i.test(o.label));
  const english = options.find((o) => /\ben|engl/i.test(o.label));
  expect(!!french && !!english, 'the menu names both languages');
  expect(chosen === french?.value, 'the default-flagged French track is selected');
  await eventually(async () => (await currentTime(page)) > 1, 'playback to pass 1 s', 15000);
  const before = new Set(urls);
  const mark = urls.length;
  await menu.selectOption(english?.value ?? '');
  await page.locator(`.player[data-audio-switched="${english?.value}"]`).waitFor({ timeout: 10000 });
  const t0 = await currentTime(page);
  await eventually(
    async () => (await currentTime(page)) > t0 + 1 || (await page.evaluate(() => !!document.querySelector('video')?.ended)),
    'playback to go on after the switch (AUDIO_TRACK_SWITCHED)',
    10000,
  );
  const fetched = urls.slice(mark).filter((u) => !before.has(u) && !u.includes('/v1/'));
  log(`new after the switch: ${fetched.map((u) => u.split('/').slice(-2).join('/')).join(', ')}`);
  expect(fetched.some((u) => new URL(u).pathname.endsWith('.m3u8')), 'the new audio rendition\'s playlist was fetched after the switch');
  await playedThrough(page, secs, log);
}

test('real-world: two audio languages, the default (French) first; switching to English plays on', 200000, async ({ page, shot, log }) => {
  uploadAll();
  const id = await source('langs', twoLanguagesClip);
  const v = await untilReady(id);
  const master = await fetch(`${state.base}${v.playback_url}`).then((r) => r.text());
  log(`master: ${master.split('\n').filter((l) => l.startsWith('#EXT-X-MEDIA') || l.startsWith('#EXT-X-STREAM')).join(' | ') || master.slice(0, 200)}`);
  await signIn(page, `/watch/${id}`);
  await switchLanguage(page, 6, log);
  await noPlayerError(page);
  await shot('realworld-two-languages');
});

/** A two-language fMP4 HLS asset written by ffmpeg's own HLS muxer (French DEFAULT=YES). */
async function ffmpegTwoLanguageHls(/** @type {string} */ dir) {
  await ffmpeg([
    '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=30:duration=6',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=6',
    '-f', 'lavfi', '-i', 'sine=frequency=880:sample_rate=48000:duration=6',
    '-map', '0:v', '-map', '1:a', '-map', '2:a',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '30', '-pix_fmt', 'yuv420p', '-c:a', 'aac',
    '-f', 'hls', '-hls_time', '2', '-hls_playlist_type', 'vod', '-hls_segment_type', 'fmp4',
    '-master_pl_name', 'master.m3u8',
    '-var_stream_map', 'a:0,agroup:aud,language:eng,name:English a:1,agroup:aud,language:fra,name:French,default:yes v:0,agroup:aud',
    '-hls_segment_filename', path.join(dir, 's%v_%03d.m4s'), '-hls_fmp4_init_filename', 'init.mp4',
    path.join(dir, 'p%v.m3u8'),
  ]);
}

test('player: the audio menu of a two-language master made by ffmpeg switches languages', 60000, async ({ page, shot, log }) => {
  // The player alone, whatever the transcoder writes: the API read and the HLS files are
  // answered by the test (ffmpeg's HLS muxer wrote them), the page and hls.js are the real ones.
  const dir = path.join(state.tmp, 'ffmpeg-hls');
  mkdirSync(dir, { recursive: true });
  await ffmpegTwoLanguageHls(dir);
  const id = 'vid_ffmpeg_fixture';
  const now = new Date().toISOString();
  await page.route(`**/v1/videos/${id}*`, (route) =>
    route.fulfill({
      json: {
        id, status: 'ready', filename: 'two-languages.mp4', size: null, duration_secs: 6, width: 320, height: 180,
        renditions: [], views: 0, views_today: 0, error: null, created_at: now, updated_at: now,
        playback_url: `/hls/fixture/${id}/master.m3u8`, poster_url: null, storyboard_url: null,
      },
    }),
  );
  await page.route(`**/hls/fixture/${id}/*`, (route) => {
    const name = new URL(route.request().url()).pathname.split('/').pop() ?? '';
    const type = name.endsWith('.m3u8') ? 'application/vnd.apple.mpegurl' : 'video/mp4';
    return route.fulfill({ body: readFileSync(path.join(dir, name)), contentType: type });
  });
  await page.route('**/v1/views', (route) => route.fulfill({ status: 204 }));
  await signIn(page, `/watch/${id}`);
  await switchLanguage(page, 6, log);
  await noPlayerError(page);
  await shot('player-ffmpeg-two-languages');
});
