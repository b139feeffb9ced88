// @ts-check
// The real stack for the end-to-end tests: nats-server (JetStream), nginx-rtmp (live ingest,
// from deploy/nginx/nginx-rtmp.conf.in) and `framelog serve` with the built UI, on free loopback
// ports in a temporary directory, and a tenant made with the CLI.
// Every process started here is stopped by stop(), also on Ctrl-C or an uncaught error.

import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** @typedef {import('node:child_process').ChildProcess} Child */

/** @type {Child[]} */
const children = [];

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** @param {number} port @param {number} timeoutMs */
async function waitForPort(port, timeoutMs) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => (c.destroy(), resolve(true)));
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

/**
 * @param {string} cmd @param {string[]} args @param {string} log
 * @param {NodeJS.ProcessEnv} [env]
 */
function start(cmd, args, log, env) {
  const out = createWriteStream(log);
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  children.push(child);
  return child;
}

/** Stops every process this module started: SIGTERM, then SIGKILL after 5 s. */
export async function stopAll() {
  await Promise.all(
    children.splice(0).map(
      (c) =>
        new Promise((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve(undefined);
          const t = setTimeout(() => c.kill('SIGKILL'), 5000);
          c.once('exit', () => (clearTimeout(t), resolve(undefined)));
          c.kill('SIGTERM');
        }),
    ),
  );
}

/** Last resort on process exit: synchronous kills. */
export function killAllNow() {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
}

/**
 * @param {string} web the web/ directory
 * @returns {Promise<{base: string, apiKey: string, tmp: string, logs: string[], natsUrl: string, rtmpUrl: string, stop(): Promise<void>}>}
 */
export async function startStack(web) {
  const root = path.resolve(web, '..');
  const nats = path.join(root, '.tools/bin/nats-server');
  const framelog = [process.env.FRAMELOG_BIN ?? '', path.join(root, 'target/debug/framelog'), path.join(root, 'target/release/framelog')].find(
    (p) => p && existsSync(p),
  );
  if (!existsSync(nats)) throw new Error(`nats-server not found at ${nats}: run \`./just bootstrap\` first`);
  if (!framelog) {
    throw new Error(
      'no framelog binary at ../target/debug/framelog or ../target/release/framelog: build it first (cargo build -p framelog)',
    );
  }
  const dist = path.join(web, 'dist');
  if (!existsSync(path.join(dist, 'index.html'))) throw new Error('web/dist is not built: run `npm run build` first');

  const tmp = mkdtempSync(path.join(tmpdir(), 'framelog-e2e-'));
  const natsPort = await freePort();
  const natsUrl = `nats://127.0.0.1:${natsPort}`;
  const natsLog = path.join(tmp, 'nats.log');
  // NATS requires credentials (deploy/nats/ROLES.md): the shipped permissions, fresh passwords
  // in 0600 files; framelog logs in as the all-in-one `framelog` user.
  const natsConf = path.join(tmp, 'natsconf');
  mkdirSync(natsConf, { mode: 0o700 });
  writeFileSync(path.join(natsConf, 'permissions.conf'), readFileSync(path.join(root, 'deploy/nats/permissions.conf')));
  const natsPasswords = { framelog: randomBytes(18).toString('hex'), dashboard: randomBytes(18).toString('hex') };
  writeFileSync(
    path.join(natsConf, 'server.conf'),
    `include "permissions.conf"\nauthorization { users = [\n` +
      `{ user: framelog, password: "${natsPasswords.framelog}", permissions: $FRAMELOG_PERMISSIONS }\n` +
      `{ user: dashboard, password: "${natsPasswords.dashboard}", permissions: $DASHBOARD_PERMISSIONS }\n] }\n`,
    { mode: 0o600 },
  );
  const natsPasswordFile = path.join(natsConf, 'framelog.pw');
  writeFileSync(natsPasswordFile, `${natsPasswords.framelog}\n`, { mode: 0o600 });
  start(nats, ['-c', path.join(natsConf, 'server.conf'), '-js', '-a', '127.0.0.1', '-p', String(natsPort), '-sd', path.join(tmp, 'nats')], natsLog);
  await waitForPort(natsPort, 15000);

  const clean = {
    FRAMELOG_NATS_URL: undefined,
    FRAMELOG_API_KEY: undefined,
    FRAMELOG_NATS_USER: 'framelog',
    FRAMELOG_NATS_PASSWORD_FILE: natsPasswordFile,
  };
  const created = await run(framelog, ['tenant', 'create', 'e2e', '--json', '--nats-url', natsUrl, '--data-dir', path.join(tmp, 'cli')], {
    cwd: tmp,
    env: { ...process.env, ...clean },
  });
  const lines = created.stdout.trim().split('\n');
  const apiKey = JSON.parse(lines[lines.length - 1] ?? '{}').api_key;
  if (!apiKey) throw new Error(`tenant create printed no api_key: ${created.stdout}`);

  const port = await freePort();
  const data = path.join(tmp, 'data');
  // nginx-rtmp writes live HLS under <data>/live/hls, where playback looks by default.
  const live = path.join(data, 'live');
  for (const sub of ['hls', 'recordings', 'tmp']) mkdirSync(path.join(live, sub), { recursive: true });
  const [rtmpPort, controlPort] = [await freePort(), await freePort()];
  // The webhook secret, made before nginx starts where `framelog serve` looks for it
  // (<data dir>/hook-secret), and rendered into every hook URL as ?secret=.
  const hookSecret = randomBytes(32).toString('hex');
  writeFileSync(path.join(data, 'hook-secret'), hookSecret, { mode: 0o600 });
  const conf = readFileSync(path.join(root, 'deploy/nginx/nginx-rtmp.conf.in'), 'utf8')
    .replaceAll('@DIR@', live)
    .replaceAll('@RECORDINGS@', path.join(live, 'recordings'))
    .replaceAll('@RTMP_PORT@', String(rtmpPort))
    .replaceAll('@HTTP_PORT@', String(controlPort))
    .replaceAll('@HOOK_SECRET@', hookSecret)
    .replaceAll('@HOOKS@', `http://127.0.0.1:${port}/v1/hooks/nginx-rtmp`);
  writeFileSync(path.join(live, 'nginx.conf'), conf, { mode: 0o600 });
  const nginxLog = path.join(live, 'error.log');
  start('nginx', ['-p', live, '-c', path.join(live, 'nginx.conf')], path.join(tmp, 'nginx.out'));
  await waitForPort(rtmpPort, 15000).catch((e) => {
    throw new Error(`nginx-rtmp did not start (${e.message}):\n${tail(nginxLog)}\n${tail(path.join(tmp, 'nginx.out'))}`);
  });
  const rtmpUrl = `rtmp://127.0.0.1:${rtmpPort}/live`;

  const serveLog = path.join(tmp, 'serve.log');
  const serve = start(
    framelog,
    [
      'serve',
      '--listen', `127.0.0.1:${port}`,
      '--nats-url', natsUrl,
      '--data-dir', data,
      '--live-rtmp-url', rtmpUrl,
      '--live-nginx-control-url', `http://127.0.0.1:${controlPort}/control`,
    ],
    serveLog,
    {
      ...clean,
      FRAMELOG_WEB_DIR: dist,
      // Small chunks so the test clip travels as several chunks in parallel.
      FRAMELOG_INGEST_CHUNK_SIZE: String(256 * 1024),
      // One segment (6 s) per range, so a 24 s source is encoded as four ranges and its growing
      // ladder is seen growing (growing.mjs). The segments keep their default length: 2 s
      // segments stop the quality switch flow's pinned level from taking over.
      FRAMELOG_TRANSCODE_RANGE_SEGMENTS: '1',
      RUST_LOG: process.env.RUST_LOG ?? 'info',
    },
  );
  const base = `http://127.0.0.1:${port}`;
  const end = Date.now() + 60000;
  for (;;) {
    if (serve.exitCode !== null) throw new Error(`framelog serve exited (${serve.exitCode}):\n${tail(serveLog)}`);
    const ready = await fetch(`${base}/readyz`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > end) throw new Error(`framelog serve not ready after 60 s:\n${tail(serveLog)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    base,
    apiKey,
    tmp,
    natsUrl,
    rtmpUrl,
    logs: [natsLog, serveLog, nginxLog],
    stop: async () => {
      await stopAll();
      if (!process.env.E2E_KEEP_TMP) rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/** @param {string} file @param {number} [n] */
export function tail(file, n = 40) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}

/**
 * Pushes a live test signal to `url` over RTMP in real time (as OBS would) for `secs` seconds;
 * the returned process is stopped by stopAll() if the test does not stop it first.
 * @param {string} url @param {number} secs @param {string} log
 */
export function pushLive(url, secs, log) {
  return start('ffmpeg', [
    '-hide_banner', '-loglevel', 'warning', '-re',
    '-f', 'lavfi', '-i', `testsrc2=size=640x360:rate=30:duration=${secs}`,
    '-f', 'lavfi', '-i', `sine=frequency=440:duration=${secs}`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '30', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-f', 'flv', url,
  ], log);
}

/**
 * The test clip (4 s, 854x480 so the ladder has two renditions to switch between); `secs` and
 * `name` make a longer one (several segments, for switching at a segment boundary).
 */
export async function makeClip(/** @type {string} */ dir, secs = 4, name = 'clip.mp4') {
  const out = path.join(dir, name);
  const size = process.env.E2E_CLIP_SIZE ?? '854x480';
  await run('ffmpeg', [
    '-hide_banner', '-loglevel', 'error',
    '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=30:duration=${secs}`,
    '-f', 'lavfi', '-i', `sine=duration=${secs}`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-y', out,
  ]);
  return out;
}
