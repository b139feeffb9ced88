// @ts-check
// Viewer QoE (issue 19): a real Chromium plays a video whose later segments are held back
// (`page.route` delays: segment 0 passes, the others wait until the player has run dry), so
// it rebuffers; the player's QoE summary reaches playback, the projection folds it, and
// `GET /v1/videos/{id}/qoe` reports the stall (rebuffer count ≥ 1), as does the Dashboard.

import { api, apiUpload, signIn, startPlayback, state, currentTime } from './flows.mjs';
import { eventually, expect, test } from './harness.mjs';
import { makeClip } from './stack.mjs';

/** @typedef {import('playwright-core').Page} Page */

/** Whether the page's video is stalled: past `after` s, playing, without data ahead. @param {Page} page @param {number} after */
const stalled = (page, after) =>
  page.evaluate((t) => {
    const v = document.querySelector('video');
    return !!v && v.currentTime > t && !v.paused && v.readyState < 3;
  }, after);

test('qoe: held-back segments make a rebuffer that /v1/videos/{id}/qoe and the dashboard report', 300000, async ({ page, shot, log }) => {
  const id = await apiUpload('e2e-qoe.mp4', await makeClip(state.tmp, 18, 'qoe.mp4'));
  await eventually(async () => (await api(`/v1/videos/${id}`)).status === 'ready', `video ${id} to be ready`, 180000, 1000);

  /** @type {() => void} */
  let release = () => undefined;
  const released = new Promise((r) => (release = () => r(undefined)));
  let held = 0;
  await page.route(/\/seg_\d+\.m4s/, async (route) => {
    const n = Number(/seg_(\d+)\.m4s/.exec(route.request().url())?.[1] ?? 0);
    if (n >= 1) {
      held++;
      await released;
    }
    // hls.js may have given up on a held request (its time-to-first-byte limit) and retried.
    await route.continue().catch(() => undefined);
  });
  await signIn(page, `/watch/${id}`);
  await startPlayback(page);
  // Segment 0 (6 s) plays out, then the player waits for segment 1: a stall of ≥ 2.5 s.
  await eventually(() => stalled(page, 4), 'the player to run dry after segment 0', 30000, 100);
  const stallAt = await currentTime(page);
  await page.waitForTimeout(2500);
  release();
  await eventually(async () => (await currentTime(page)) > stallAt + 2, 'playback after the stall', 30000);
  // Pausing sends the summary at once if its window allows, else within the next window.
  await page.evaluate(() => document.querySelector('video')?.pause());
  log(`stalled at ${stallAt.toFixed(1)} s; ${held} segment requests held`);

  /** @type {any} */
  let q = null;
  await eventually(
    async () => {
      q = await api(`/v1/videos/${id}/qoe`);
      return q.total.rebuffer_count >= 1;
    },
    'a rebuffer in /v1/videos/{id}/qoe',
    75000,
    1000,
  );
  const t = q.total;
  log(
    `qoe: views ${t.views}, watch ${t.watch_secs} s, startup p50 ≤ ${t.startup_p50_ms} ms, ` +
      `rebuffers ${t.rebuffer_count} (${t.rebuffer_secs} s, ratio ${t.rebuffer_ratio}), switches ${t.switches}, errors ${t.errors}, score ${t.score}`,
  );
  expect(t.rebuffer_secs >= 2, `the stall lasted ≥ 2 s (${t.rebuffer_secs} s)`);
  expect(t.rebuffer_ratio > 0 && t.rebuffer_ratio < 1, `a rebuffer ratio within (0, 1): ${t.rebuffer_ratio}`);
  expect(t.views === 1, `one session with QoE (${t.views})`);
  expect(t.startup_p50_ms !== null && t.startup_p50_ms <= 60000, `a startup time (${t.startup_p50_ms})`);
  expect(t.errors === 0, `no fatal error (${t.errors})`);
  expect(q.days.length === 1 && q.days[0].rebuffer_count === t.rebuffer_count, 'today holds it');

  // The dashboard shows the tenant's figures and, asked for, the video's.
  await page.goto('/dashboard');
  const panel = page.getByTestId('qoe-panel');
  await panel.waitFor({ timeout: 10000 });
  await page.getByLabel('Video', { exact: true }).fill(id);
  await panel.getByRole('button', { name: 'Show' }).click();
  const shown = page.getByTestId('qoe-video').locator('[data-qoe="rebuffers"]');
  await shown.waitFor({ timeout: 10000 });
  const n = Number(await shown.innerText());
  expect(n >= 1, `the dashboard shows the video's rebuffers (${n})`);
  const tenantRebuffers = Number(await panel.locator('[data-qoe="rebuffers"]').first().innerText());
  expect(tenantRebuffers >= 1, `the tenant's 30 days show it too (${tenantRebuffers})`);
  await shot('qoe-dashboard');
});
