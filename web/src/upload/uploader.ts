// One file's upload from the wizard: the studio asks the API for a direct upload (a one-use
// URL, `POST /v1/uploads/direct`), and only that URL goes to tus-js-client, which sends the
// file with resume and progress. No API key travels with the bytes. Framework-free: the React
// hook (useUpload) only renders snapshots. The tus client is injected so tests can fake it.

import * as tus from 'tus-js-client';
import { messageOf } from '../api/client';
import { RETRY_DELAYS_MS, TUS_CHUNK_SIZE, resumeKey, urlIsSpent, type DirectUpload, type SavedUpload } from './plan';

export type Phase = 'idle' | 'checking' | 'uploading' | 'paused' | 'done' | 'error';

export interface Snapshot {
  phase: Phase;
  filename: string;
  size: number;
  /** Bytes the server acknowledged or on the wire. */
  sent: number;
  videoId: string | null;
  directId: string | null;
  /** The offset the server already had when this upload resumed (0: a fresh upload). */
  resumedFrom: number;
  error: string | null;
}

export interface KeyValueStore {
  getItem(k: string): string | null;
  setItem(k: string, v: string): void;
  removeItem(k: string): void;
}

/** The part of tus-js-client's `Upload` the wizard uses. */
export interface TusUpload {
  start(): void;
  abort(shouldTerminate?: boolean): Promise<void>;
  findPreviousUploads(): Promise<tus.PreviousUpload[]>;
  resumeFromPreviousUpload(p: tus.PreviousUpload): void;
}

export type MakeUpload = (file: File, options: tus.UploadOptions) => TusUpload;

export interface UploaderOptions {
  /** Asks the API for a direct upload for this file (the studio's key stays in the studio). */
  createDirect: (file: File) => Promise<DirectUpload>;
  /** Cancels a direct upload (best effort). */
  cancelDirect?: (id: string) => Promise<void>;
  storage: KeyValueStore;
  makeUpload?: MakeUpload;
  chunkSize?: number;
  retryDelays?: number[];
}

const realUpload: MakeUpload = (file, options) => new tus.Upload(file, options);

export class Uploader {
  private snap: Snapshot;
  private upload: TusUpload | null = null;
  private listeners = new Set<(s: Snapshot) => void>();

  constructor(
    readonly file: File,
    private readonly o: UploaderOptions,
  ) {
    this.snap = {
      phase: 'idle',
      filename: file.name,
      size: file.size,
      sent: 0,
      videoId: null,
      directId: null,
      resumedFrom: 0,
      error: null,
    };
  }

  get key(): string {
    return resumeKey(this.file);
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  subscribe(fn: (s: Snapshot) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Takes the direct URL remembered for this file, or asks for a new one; then sends. */
  async start(): Promise<Snapshot> {
    if (this.snap.phase !== 'idle' && this.snap.phase !== 'error') return this.snap;
    this.update({ phase: 'checking', error: null });
    let saved: SavedUpload;
    try {
      saved = this.saved() ?? (await this.createSaved());
    } catch (e) {
      this.update({ phase: 'error', error: messageOf(e) });
      return this.snap;
    }
    this.update({ videoId: saved.video_id, directId: saved.direct_id });
    return new Promise<Snapshot>((resolve) => {
      const settle = (patch: Partial<Snapshot>) => {
        this.update(patch);
        resolve(this.snap);
      };
      const upload = (this.o.makeUpload ?? realUpload)(this.file, {
        endpoint: saved.url,
        chunkSize: this.o.chunkSize ?? TUS_CHUNK_SIZE,
        retryDelays: this.o.retryDelays ?? RETRY_DELAYS_MS,
        metadata: { filename: this.file.name, filetype: this.file.type || 'application/octet-stream' },
        storeFingerprintForResuming: true,
        removeFingerprintOnSuccess: true,
        onAfterResponse: (req, res) => {
          if (req.getMethod() === 'HEAD') this.update({ resumedFrom: Number(res.getHeader('Upload-Offset') ?? 0) });
        },
        onProgress: (sent) => this.update({ sent }),
        onSuccess: () => {
          this.o.storage.removeItem(this.key);
          settle({ phase: 'done', sent: this.file.size });
        },
        onError: (err) => {
          const status = (err as tus.DetailedError).originalResponse?.getStatus() ?? 0;
          // A used, expired or cancelled URL never works again: the next try asks for a new one.
          if (urlIsSpent(status)) this.o.storage.removeItem(this.key);
          settle({ phase: 'error', error: tusMessage(err) });
        },
      });
      this.upload = upload;
      void upload
        .findPreviousUploads()
        .then((previous) => {
          if (previous[0]) upload.resumeFromPreviousUpload(previous[0]);
          this.update({ phase: 'uploading' });
          upload.start();
        })
        .catch((e: unknown) => settle({ phase: 'error', error: messageOf(e) }));
    });
  }

  /** Stops sending; `resume` continues from the server's offset. */
  pause(): void {
    if (this.snap.phase !== 'uploading' || !this.upload) return;
    this.update({ phase: 'paused' });
    void this.upload.abort(false);
  }

  /** Sends again after a pause. */
  resume(): void {
    if (this.snap.phase !== 'paused' || !this.upload) return;
    this.update({ phase: 'uploading' });
    this.upload.start();
  }

  /** Gives up: terminates the tus upload, cancels the direct upload and forgets both. */
  async cancel(): Promise<void> {
    const wasSending = this.snap.phase === 'uploading' || this.snap.phase === 'paused';
    this.update({ phase: 'error', error: 'Upload cancelled.' });
    this.o.storage.removeItem(this.key);
    if (wasSending) await this.upload?.abort(true).catch(() => undefined);
    if (this.snap.directId) await this.o.cancelDirect?.(this.snap.directId).catch(() => undefined);
  }

  private saved(): SavedUpload | null {
    const raw = this.o.storage.getItem(this.key);
    if (!raw) return null;
    try {
      const s = JSON.parse(raw) as SavedUpload;
      if (typeof s.url === 'string' && typeof s.video_id === 'string') return s;
    } catch {
      // a damaged entry: start again
    }
    this.o.storage.removeItem(this.key);
    return null;
  }

  private async createSaved(): Promise<SavedUpload> {
    const d = await this.o.createDirect(this.file);
    const saved: SavedUpload = {
      url: d.url,
      direct_id: d.id,
      video_id: d.video_id,
      filename: this.file.name,
      size: this.file.size,
      saved_at: new Date().toISOString(),
    };
    this.o.storage.setItem(this.key, JSON.stringify(saved));
    return saved;
  }

  private update(patch: Partial<Snapshot>): void {
    this.snap = { ...this.snap, ...patch };
    for (const l of this.listeners) l(this.snap);
  }
}

/** The API's error message inside a tus error, else tus-js-client's own. */
function tusMessage(err: Error): string {
  const body = (err as tus.DetailedError).originalResponse?.getBody();
  if (body) {
    try {
      const j = JSON.parse(body) as { error?: { message?: string } };
      if (j.error?.message) return j.error.message;
    } catch {
      // not JSON
    }
  }
  return err.message;
}
