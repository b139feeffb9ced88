import { describe, expect, it } from 'vitest';
import type * as tus from 'tus-js-client';
import { resumeKey, type DirectUpload } from '../src/upload/plan';
import { Uploader, type MakeUpload, type TusUpload } from '../src/upload/uploader';

class MemoryStorage {
  map = new Map<string, string>();
  getItem(k: string) {
    return this.map.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.map.set(k, v);
  }
  removeItem(k: string) {
    this.map.delete(k);
  }
}

/** A fake tus-js-client: records its options and lets the test play the server. */
class FakeTus implements TusUpload {
  started = 0;
  aborted: boolean[] = [];
  resumed: tus.PreviousUpload | null = null;
  constructor(
    readonly file: File,
    readonly options: tus.UploadOptions,
    readonly previous: tus.PreviousUpload[],
  ) {}
  start() {
    this.started++;
  }
  async abort(terminate?: boolean) {
    this.aborted.push(!!terminate);
  }
  async findPreviousUploads() {
    return this.previous;
  }
  resumeFromPreviousUpload(p: tus.PreviousUpload) {
    this.resumed = p;
  }
  fail(status: number, body: string) {
    const err = Object.assign(new Error(`tus: ${status}`), {
      originalResponse: { getStatus: () => status, getBody: () => body },
    });
    this.options.onError?.(err);
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0));

function setup(previous: tus.PreviousUpload[] = []) {
  const storage = new MemoryStorage();
  const file = new File(['x'.repeat(100)], 'clip.mp4', { type: 'video/mp4', lastModified: 7 });
  const created: File[] = [];
  const cancelled: string[] = [];
  const uploads: FakeTus[] = [];
  let n = 0;
  const makeUpload: MakeUpload = (f, o) => {
    const u = new FakeTus(f, o, previous);
    uploads.push(u);
    return u;
  };
  const up = new Uploader(file, {
    createDirect: async (f): Promise<DirectUpload> => {
      created.push(f);
      n++;
      return { id: `du${n}`, video_id: `vid${n}`, url: `http://h/v1/direct/fdu_${n}`, expires_at: '' };
    },
    cancelDirect: async (id) => {
      cancelled.push(id);
    },
    storage,
    makeUpload,
  });
  return { storage, file, created, cancelled, uploads, up };
}

describe('Uploader (tus-js-client on a direct upload URL)', () => {
  it('asks for a direct upload and gives tus-js-client only its URL, then reports progress and success', async () => {
    const { storage, file, created, uploads, up } = setup();
    const run = up.start();
    await tick();
    expect(created).toEqual([file]);
    const u = uploads[0]!;
    expect(u.options.endpoint).toBe('http://h/v1/direct/fdu_1');
    expect(u.options.headers ?? {}).toEqual({});
    expect(u.options.metadata).toEqual({ filename: 'clip.mp4', filetype: 'video/mp4' });
    expect(u.started).toBe(1);
    expect(up.snapshot()).toMatchObject({ phase: 'uploading', videoId: 'vid1', directId: 'du1' });
    expect(JSON.parse(storage.getItem(resumeKey(file))!)).toMatchObject({ url: 'http://h/v1/direct/fdu_1' });
    u.options.onProgress?.(40, 100);
    expect(up.snapshot().sent).toBe(40);
    u.options.onSuccess?.({ lastResponse: {} as tus.HttpResponse });
    const done = await run;
    expect(done).toMatchObject({ phase: 'done', sent: 100, videoId: 'vid1' });
    expect(storage.map.size).toBe(0);
  });

  it('resumes with the URL remembered for the same file and the previous tus upload', async () => {
    const prev = { size: 100, metadata: {}, creationTime: '', urlStorageKey: 'k', uploadUrl: 'u', parallelUploadUrls: null };
    const first = setup([prev]);
    void first.up.start();
    await tick();
    // A reload: a new Uploader for the same file finds the saved direct URL.
    const again = new Uploader(first.file, {
      createDirect: async () => {
        throw new Error('must not create a second direct upload');
      },
      storage: first.storage,
      makeUpload: (f, o) => {
        const u = new FakeTus(f, o, [prev]);
        first.uploads.push(u);
        return u;
      },
    });
    void again.start();
    await tick();
    const u = first.uploads[1]!;
    expect(u.options.endpoint).toBe('http://h/v1/direct/fdu_1');
    expect(u.resumed).toBe(prev);
    const head = { getMethod: () => 'HEAD' } as tus.HttpRequest;
    await u.options.onAfterResponse?.(head, { getHeader: () => '60' } as unknown as tus.HttpResponse);
    expect(again.snapshot().resumedFrom).toBe(60);
  });

  it('forgets a spent URL (409, 410) so a retry asks for a new one, and shows the API message', async () => {
    const { storage, file, created, uploads, up } = setup();
    const run = up.start();
    await tick();
    uploads[0]!.fail(410, '{"error":{"code":"direct_upload_expired","message":"this direct upload URL expired"}}');
    expect((await run).error).toBe('this direct upload URL expired');
    expect(storage.getItem(resumeKey(file))).toBeNull();
    void up.start();
    await tick();
    expect(created).toHaveLength(2);
    expect(uploads[1]!.options.endpoint).toBe('http://h/v1/direct/fdu_2');
  });

  it('keeps the URL after a network failure, pauses and resumes, and cancel terminates both', async () => {
    const { storage, file, cancelled, uploads, up } = setup();
    void up.start();
    await tick();
    const u = uploads[0]!;
    up.pause();
    expect(up.snapshot().phase).toBe('paused');
    expect(u.aborted).toEqual([false]);
    up.resume();
    expect(u.started).toBe(2);
    await up.cancel();
    expect(u.aborted).toEqual([false, true]);
    expect(cancelled).toEqual(['du1']);
    expect(storage.getItem(resumeKey(file))).toBeNull();

    const other = setup();
    const run = other.up.start();
    await tick();
    other.uploads[0]!.fail(0, '');
    await run;
    expect(other.storage.getItem(resumeKey(other.file))).not.toBeNull();
  });
});
