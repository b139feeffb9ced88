// One file's chunked upload (services/ingest/src/rest.rs): create or resume the session, send
// chunks with `X-Chunk-SHA256`, several in flight, retry what a retry can fix, pause and
// resume, then complete. Framework-free: the React hook (useUpload) only renders snapshots.

import { Api, ApiError, messageOf } from '../api/client';
import {
  backoffMs,
  expandRanges,
  isRetryable,
  planChunks,
  resumeKey,
  type Chunk,
  type SavedUpload,
} from './plan';
import { AbortedError, defaultTransport, sha256Hex, type ChunkTransport } from './transport';

export type ChunkState = 'pending' | 'hashing' | 'sending' | 'retrying' | 'done';
export type Phase = 'idle' | 'checking' | 'uploading' | 'paused' | 'completing' | 'done' | 'error';

export interface ChunkInfo {
  index: number;
  size: number;
  loaded: number;
  state: ChunkState;
  attempts: number;
}

export interface Snapshot {
  phase: Phase;
  filename: string;
  size: number;
  uploadId: string | null;
  videoId: string | null;
  chunks: ChunkInfo[];
  /** Bytes the server has (done chunks) plus bytes of chunks on the wire. */
  sent: number;
  /** Chunks the server already had when this upload resumed. */
  resumedChunks: number;
  error: string | null;
}

export interface KeyValueStore {
  getItem(k: string): string | null;
  setItem(k: string, v: string): void;
  removeItem(k: string): void;
}

export interface UploaderOptions {
  api: Api;
  apiKey: string;
  storage: KeyValueStore;
  transport?: ChunkTransport;
  /** Hex sha256 for `X-Chunk-SHA256`; null sends the chunk without it. */
  hash?: (data: ArrayBuffer) => Promise<string | null>;
  sleep?: (ms: number) => Promise<void>;
  concurrency?: number;
  maxAttempts?: number;
}

interface UploadStatus {
  state: 'open' | 'completed' | 'rejected' | 'aborted' | 'expired';
  missing: [number, number][];
  error?: { message: string };
}

interface Created {
  upload_id: string;
  video_id: string;
  chunk_size: number;
  total_chunks: number;
}

export class Uploader {
  private snap: Snapshot;
  private plan: Chunk[] = [];
  private queue: number[] = [];
  private inflight = new Map<number, AbortController>();
  private listeners = new Set<(s: Snapshot) => void>();
  private pumping: Promise<void> | null = null;
  private readonly o: Required<Omit<UploaderOptions, 'api' | 'apiKey' | 'storage'>> & UploaderOptions;

  constructor(
    readonly file: File,
    opts: UploaderOptions,
  ) {
    this.o = {
      transport: defaultTransport(),
      hash: sha256Hex,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      concurrency: 4,
      maxAttempts: 5,
      ...opts,
    };
    this.snap = {
      phase: 'idle',
      filename: file.name,
      size: file.size,
      uploadId: null,
      videoId: null,
      chunks: [],
      sent: 0,
      resumedChunks: 0,
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

  /** Creates the session, or resumes the one remembered for this file; then sends. */
  async start(): Promise<Snapshot> {
    if (this.snap.phase !== 'idle' && this.snap.phase !== 'error') return this.snap;
    this.update({ phase: 'checking', error: null });
    try {
      const resumed = await this.tryResumeSaved();
      if (!resumed) await this.create();
      if ((this.snap.phase as Phase) === 'checking') this.update({ phase: 'uploading' });
    } catch (e) {
      this.update({ phase: 'error', error: messageOf(e) });
      return this.snap;
    }
    return this.run();
  }

  /** Stops sending: chunks on the wire are cancelled and sent again on resume. */
  pause(): void {
    if (this.snap.phase !== 'uploading') return;
    this.update({ phase: 'paused' });
    for (const c of this.inflight.values()) c.abort();
  }

  /** Sends again after a pause. */
  async resume(): Promise<Snapshot> {
    if (this.snap.phase !== 'paused') return this.snap;
    this.update({ phase: 'uploading' });
    return this.run();
  }

  /** Gives up: aborts the server session and forgets it. */
  async cancel(): Promise<void> {
    this.pause();
    this.o.storage.removeItem(this.key);
    if (this.snap.uploadId && this.snap.phase !== 'done') {
      await this.o.api.del(`/v1/videos/upload/${this.snap.uploadId}`).catch(() => undefined);
    }
    this.update({ phase: 'error', error: 'Upload cancelled.' });
  }

  // --- session -------------------------------------------------------------------------

  private async tryResumeSaved(): Promise<boolean> {
    const raw = this.o.storage.getItem(this.key);
    if (!raw) return false;
    let saved: SavedUpload;
    try {
      saved = JSON.parse(raw) as SavedUpload;
    } catch {
      this.o.storage.removeItem(this.key);
      return false;
    }
    let status: UploadStatus;
    try {
      status = await this.o.api.get<UploadStatus>(`/v1/videos/upload/${saved.upload_id}`);
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 410)) {
        this.o.storage.removeItem(this.key);
        return false;
      }
      throw e;
    }
    if (status.state !== 'open' && status.state !== 'completed') {
      this.o.storage.removeItem(this.key);
      return false;
    }
    const missing = new Set(status.state === 'open' ? expandRanges(status.missing) : []);
    this.setPlan(saved, missing);
    this.update({ resumedChunks: saved.total_chunks - missing.size });
    return true;
  }

  private async create(): Promise<void> {
    const body: Record<string, unknown> = { filename: this.file.name, size: this.file.size };
    if (this.file.type) body.content_type = this.file.type;
    const c = await this.o.api.post<Created>('/v1/videos/upload', body);
    const saved: SavedUpload = {
      ...c,
      filename: this.file.name,
      size: this.file.size,
      saved_at: new Date().toISOString(),
    };
    this.o.storage.setItem(this.key, JSON.stringify(saved));
    this.setPlan(saved, new Set(planChunks(this.file.size, c.chunk_size, c.total_chunks).map((p) => p.index)));
  }

  private setPlan(s: SavedUpload, missing: Set<number>): void {
    this.plan = planChunks(this.file.size, s.chunk_size, s.total_chunks);
    this.queue = this.plan.filter((c) => missing.has(c.index)).map((c) => c.index);
    const chunks = this.plan.map<ChunkInfo>((c) => {
      const size = c.end - c.start;
      const done = !missing.has(c.index);
      return { index: c.index, size, loaded: done ? size : 0, state: done ? 'done' : 'pending', attempts: 0 };
    });
    this.update({ uploadId: s.upload_id, videoId: s.video_id, chunks });
  }

  // --- sending -------------------------------------------------------------------------

  /** Starts the workers; after a quick pause/resume, once the previous ones have stopped. */
  private run(): Promise<Snapshot> {
    const before = this.pumping ?? Promise.resolve();
    const mine: Promise<void> = before.then(() => this.pump());
    this.pumping = mine;
    void mine.finally(() => {
      if (this.pumping === mine) this.pumping = null;
    });
    return mine.then(() => this.snap);
  }

  private async pump(): Promise<void> {
    const n = Math.max(1, this.o.concurrency);
    await Promise.all(Array.from({ length: n }, () => this.worker()));
    if (this.snap.phase !== 'uploading') return;
    if (this.snap.chunks.every((c) => c.state === 'done')) await this.complete();
  }

  private async worker(): Promise<void> {
    while (this.snap.phase === 'uploading') {
      const index = this.queue.shift();
      if (index === undefined) return;
      await this.send(index);
    }
  }

  private async send(index: number): Promise<void> {
    const chunk = this.plan[index]!;
    for (let attempt = 1; ; attempt++) {
      const ctrl = new AbortController();
      this.inflight.set(index, ctrl);
      let status = 0;
      let code = '';
      let message = 'network error';
      try {
        this.setChunk(index, { state: 'hashing', attempts: attempt, loaded: 0 });
        const body = await this.file.slice(chunk.start, chunk.end).arrayBuffer();
        const digest = await this.o.hash(body);
        if (ctrl.signal.aborted) throw new AbortedError();
        this.setChunk(index, { state: 'sending' });
        const res = await this.o.transport({
          url: `/v1/videos/upload/${this.snap.uploadId}/chunk/${index}`,
          body,
          headers: {
            Authorization: `Bearer ${this.o.apiKey}`,
            'Content-Type': 'application/octet-stream',
            ...(digest ? { 'X-Chunk-SHA256': digest } : {}),
          },
          signal: ctrl.signal,
          onProgress: (loaded) => this.setChunk(index, { loaded: Math.min(loaded, body.byteLength) }),
        });
        if (res.status >= 200 && res.status < 300) {
          this.setChunk(index, { state: 'done', loaded: body.byteLength });
          return;
        }
        status = res.status;
        ({ code, message } = parseError(res.status, res.body));
        if (status === 409 && code === 'upload_completed') {
          this.setChunk(index, { state: 'done', loaded: body.byteLength });
          return;
        }
      } catch (e) {
        if (e instanceof AbortedError || ctrl.signal.aborted) {
          this.requeue(index);
          return;
        }
        message = messageOf(e);
      } finally {
        this.inflight.delete(index);
      }
      if (!isRetryable(status, code) || attempt >= this.o.maxAttempts) {
        this.fail(`Chunk ${index}: ${message}`);
        this.requeue(index);
        return;
      }
      this.setChunk(index, { state: 'retrying', loaded: 0 });
      await this.o.sleep(backoffMs(attempt));
      if (this.snap.phase !== 'uploading') {
        this.requeue(index);
        return;
      }
    }
  }

  private requeue(index: number): void {
    this.setChunk(index, { state: 'pending', loaded: 0 });
    if (!this.queue.includes(index)) this.queue.unshift(index);
    this.queue.sort((a, b) => a - b);
  }

  private fail(message: string): void {
    if (this.snap.phase === 'error') return;
    this.update({ phase: 'error', error: message });
    for (const c of this.inflight.values()) c.abort();
  }

  private async complete(): Promise<void> {
    this.update({ phase: 'completing' });
    try {
      const done = await this.o.api.post<{ video_id: string }>(`/v1/videos/upload/${this.snap.uploadId}/complete`);
      this.o.storage.removeItem(this.key);
      this.update({ phase: 'done', videoId: done.video_id ?? this.snap.videoId });
    } catch (e) {
      if (e instanceof ApiError && e.status === 422) this.o.storage.removeItem(this.key);
      this.update({ phase: 'error', error: messageOf(e) });
    }
  }

  // --- state ---------------------------------------------------------------------------

  private setChunk(index: number, patch: Partial<ChunkInfo>): void {
    const chunks = this.snap.chunks.slice();
    chunks[index] = { ...chunks[index]!, ...patch };
    this.update({ chunks });
  }

  private update(patch: Partial<Snapshot>): void {
    const next = { ...this.snap, ...patch };
    next.sent = next.chunks.reduce((n, c) => n + c.loaded, 0);
    this.snap = next;
    for (const l of this.listeners) l(next);
  }
}

function parseError(status: number, body: string): { code: string; message: string } {
  try {
    const j = JSON.parse(body) as { error?: { code?: string; message?: string } };
    return { code: j.error?.code ?? '', message: j.error?.message ?? `HTTP ${status}` };
  } catch {
    return { code: '', message: `HTTP ${status}` };
  }
}
