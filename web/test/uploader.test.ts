import { describe, expect, it } from 'vitest';
import { resumeKey } from '../src/upload/plan';
import { Uploader, type UploaderOptions } from '../src/upload/uploader';
import { FakeIngest, MemoryStorage, textFile, tick } from './fakes';

const BODY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ!?'; // 64 bytes: 7 chunks of 10

function setup(opts: Partial<UploaderOptions> = {}) {
  const server = new FakeIngest();
  const storage = new MemoryStorage();
  const sleeps: number[] = [];
  const file = textFile(BODY);
  const up = new Uploader(file, {
    api: server.api(),
    apiKey: 'k',
    storage,
    transport: server.transport,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...opts,
  });
  return { server, storage, sleeps, file, up };
}

describe('Uploader', () => {
  it('sends every chunk with its sha256, at most 4 at a time, then completes', async () => {
    const { server, storage, up } = setup();
    const snaps: string[] = [];
    up.subscribe((s) => snaps.push(s.phase));
    const done = await up.start();
    expect(done.phase).toBe('done');
    expect(done.videoId).toBe('vid-up1');
    expect(done.sent).toBe(BODY.length);
    expect(done.chunks.every((c) => c.state === 'done')).toBe(true);
    expect(server.assembled('up1')).toBe(BODY);
    expect([...server.puts].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(server.maxInflight).toBe(4);
    expect(server.digests).toBe(7);
    expect(server.completes).toBe(1);
    expect(storage.map.size).toBe(0);
    expect(snaps).toContain('checking');
    expect(snaps).toContain('completing');
  });

  it('remembers the upload while it runs, keyed by name, size and mtime', async () => {
    const { server, storage, file, up } = setup();
    server.hold = true;
    const run = up.start();
    await tick();
    const saved = JSON.parse(storage.getItem(resumeKey(file))!);
    expect(saved).toMatchObject({ upload_id: 'up1', video_id: 'vid-up1', chunk_size: 10, total_chunks: 7 });
    server.release();
    await run;
  });

  it('resumes after a reload: only the missing chunks are sent', async () => {
    const first = setup();
    first.server.hold = true;
    const run = first.up.start();
    await tick();
    // Two chunks land, two are on the wire when the page "reloads".
    first.server.releaseSome(2);
    await tick(30);
    first.up.pause();
    await run;
    const had = first.server.uploads.get('up1')!.chunks.size;
    expect(had).toBe(2);
    first.server.hold = false;

    const again = new Uploader(textFile(BODY), {
      api: first.server.api(),
      apiKey: 'k',
      storage: first.storage,
      transport: first.server.transport,
    });
    first.server.puts = [];
    const done = await again.start();
    expect(done.phase).toBe('done');
    expect(done.resumedChunks).toBe(had);
    expect(first.server.puts).toHaveLength(7 - had);
    expect(first.server.assembled('up1')).toBe(BODY);
    expect(first.server.uploads.size).toBe(1);
  });

  it('resumes from the missing ranges the server answers', async () => {
    const { server, storage, file, up } = setup();
    // A session whose chunks 0, 2 and 5 arrived before the reload.
    await server.fetch('/v1/videos/upload', { method: 'POST', body: JSON.stringify({ size: BODY.length }) });
    const u = server.uploads.get('up1')!;
    for (const i of [0, 2, 5]) u.chunks.set(i, new TextEncoder().encode(BODY.slice(i * 10, i * 10 + 10)));
    storage.setItem(
      resumeKey(file),
      JSON.stringify({ upload_id: 'up1', video_id: 'vid-up1', chunk_size: 10, total_chunks: 7, filename: 'clip.mp4', size: 64, saved_at: '' }),
    );
    const done = await up.start();
    expect(done.phase).toBe('done');
    expect(done.resumedChunks).toBe(3);
    expect([...server.puts].sort()).toEqual([1, 3, 4, 6]);
    expect(server.assembled('up1')).toBe(BODY);
  });

  it('starts over when the remembered upload is gone', async () => {
    const { server, storage, file, up } = setup();
    storage.setItem(resumeKey(file), JSON.stringify({ upload_id: 'nope', video_id: 'v', chunk_size: 10, total_chunks: 7 }));
    const done = await up.start();
    expect(done.phase).toBe('done');
    expect(done.uploadId).toBe('up1');
    expect(server.puts).toHaveLength(7);
  });

  it('completes an upload whose chunks had all arrived', async () => {
    const { server, storage, file, up } = setup();
    await server.fetch('/v1/videos/upload', { method: 'POST', body: JSON.stringify({ size: BODY.length }) });
    const u = server.uploads.get('up1')!;
    for (let i = 0; i < 7; i++) u.chunks.set(i, new TextEncoder().encode(BODY.slice(i * 10, i * 10 + 10)));
    storage.setItem(resumeKey(file), JSON.stringify({ upload_id: 'up1', video_id: 'vid-up1', chunk_size: 10, total_chunks: 7 }));
    const done = await up.start();
    expect(done.phase).toBe('done');
    expect(server.puts).toHaveLength(0);
    expect(server.completes).toBe(1);
  });

  it('retries transient failures with back-off', async () => {
    const { server, sleeps, up } = setup();
    server.failures.set(2, [
      { status: 503, code: 'unavailable' },
      { status: 0, code: '' },
    ]);
    server.failures.set(4, [{ status: 409, code: 'chunk_in_progress' }]);
    const done = await up.start();
    expect(done.phase).toBe('done');
    expect(done.chunks[2]!.attempts).toBe(3);
    expect(done.chunks[4]!.attempts).toBe(2);
    expect(sleeps.sort((a, b) => a - b)).toEqual([500, 500, 1000]);
    expect(server.assembled('up1')).toBe(BODY);
  });

  it('stops on an error a retry cannot fix, and can be retried', async () => {
    const { server, storage, file, up } = setup();
    server.failures.set(3, [{ status: 409, code: 'chunk_conflict' }]);
    const failed = await up.start();
    expect(failed.phase).toBe('error');
    expect(failed.error).toContain('injected chunk_conflict');
    expect(server.completes).toBe(0);
    expect(storage.getItem(resumeKey(file))).not.toBeNull();
    const done = await up.start();
    expect(done.phase).toBe('done');
    expect(server.assembled('up1')).toBe(BODY);
  });

  it('gives up after the last attempt', async () => {
    const { server, up } = setup({ maxAttempts: 3 });
    server.failures.set(1, Array.from({ length: 5 }, () => ({ status: 500, code: 'internal' })));
    const s = await up.start();
    expect(s.phase).toBe('error');
    expect(s.chunks[1]!.attempts).toBe(3);
  });

  it('pauses (cancelling chunks on the wire) and resumes', async () => {
    const { server, up } = setup({ concurrency: 2 });
    server.hold = true;
    const run = up.start();
    await tick();
    expect(server.inflight).toBe(2);
    up.pause();
    await run;
    expect(up.snapshot().phase).toBe('paused');
    expect(server.inflight).toBe(0);
    expect(server.puts).toHaveLength(0);
    expect(up.snapshot().chunks.every((c) => c.state === 'pending' && c.loaded === 0)).toBe(true);
    server.hold = false;
    const done = await up.resume();
    expect(done.phase).toBe('done');
    expect([...server.puts].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(server.maxInflight).toBe(2);
  });
});

describe('Uploader without WebCrypto', () => {
  it('sends chunks without the optional digest header', async () => {
    const server = new FakeIngest();
    const seen: (string | undefined)[] = [];
    const up = new Uploader(textFile(BODY), {
      api: server.api(),
      apiKey: 'k',
      storage: new MemoryStorage(),
      hash: async () => null,
      transport: (req) => {
        seen.push(req.headers['X-Chunk-SHA256']);
        return server.transport(req);
      },
    });
    const done = await up.start();
    expect(done.phase).toBe('done');
    expect(seen).toHaveLength(7);
    expect(seen.every((h) => h === undefined)).toBe(true);
    expect(server.assembled('up1')).toBe(BODY);
  });
});
