// A fake ingest server for the uploader tests: the REST chunked protocol in memory, with
// failures to inject and the in-flight count measured.

import { createHash } from 'node:crypto';
import { Api } from '../src/api/client';
import { AbortedError, type ChunkRequest, type ChunkResponse } from '../src/upload/transport';

export interface Failure {
  status: number;
  code: string;
}

export class FakeIngest {
  chunkSize = 10;
  uploads = new Map<string, { size: number; total: number; chunks: Map<number, Uint8Array>; state: string }>();
  puts: number[] = [];
  completes = 0;
  /** Chunks that arrived with a (correct) X-Chunk-SHA256. */
  digests = 0;
  inflight = 0;
  maxInflight = 0;
  /** Failures to answer, per chunk, in order (then success). */
  failures = new Map<number, Failure[]>();
  /** When set, chunk PUTs wait until released (to pause mid-flight). */
  hold = false;
  /** How long a chunk PUT takes. */
  delayMs = 10;
  private held: (() => void)[] = [];
  private next = 1;

  api(): Api {
    return new Api('k', this.fetch);
  }

  fetch = async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const url = String(input);
    const method = init.method ?? 'GET';
    const json = (status: number, body: unknown) =>
      new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
    if (method === 'POST' && url === '/v1/videos/upload') {
      const req = JSON.parse(String(init.body)) as { size: number };
      const id = `up${this.next++}`;
      const total = Math.ceil(req.size / this.chunkSize);
      this.uploads.set(id, { size: req.size, total, chunks: new Map(), state: 'open' });
      return json(201, { upload_id: id, video_id: `vid-${id}`, chunk_size: this.chunkSize, total_chunks: total, expires_at: '' });
    }
    const m = /^\/v1\/videos\/upload\/([^/]+)(\/complete)?$/.exec(url);
    const u = m ? this.uploads.get(m[1]!) : undefined;
    if (!m || !u) return json(404, { error: { code: 'not_found', message: 'upload not found' } });
    if (m[2] && method === 'POST') {
      this.completes++;
      if (u.chunks.size !== u.total) return json(409, { error: { code: 'incomplete_upload', message: 'missing chunks' } });
      u.state = 'completed';
      return json(200, { upload_id: m[1], video_id: `vid-${m[1]}`, status: 'processing' });
    }
    if (method === 'GET') {
      const missing: [number, number][] = [];
      for (let i = 0; i < u.total; i++) if (!u.chunks.has(i)) missing.push([i, i]);
      return json(200, { state: u.state, missing: u.state === 'open' ? missing : [] });
    }
    return json(405, { error: { code: 'method_not_allowed', message: 'no' } });
  };

  transport = async (req: ChunkRequest): Promise<ChunkResponse> => {
    const m = /^\/v1\/videos\/upload\/([^/]+)\/chunk\/(\d+)$/.exec(req.url)!;
    const u = this.uploads.get(m[1]!)!;
    const n = Number(m[2]);
    this.inflight++;
    this.maxInflight = Math.max(this.maxInflight, this.inflight);
    try {
      await new Promise<void>((resolve, reject) => {
        const go = () => setTimeout(resolve, this.delayMs);
        req.signal.addEventListener('abort', () => reject(new AbortedError()));
        if (this.hold) this.held.push(go);
        else go();
      });
      if (req.signal.aborted) throw new AbortedError();
      this.puts.push(n);
      const fail = this.failures.get(n)?.shift();
      if (fail) return { status: fail.status, body: JSON.stringify({ error: { code: fail.code, message: `injected ${fail.code}` } }) };
      const bytes = new Uint8Array(req.body);
      const digest = createHash('sha256').update(bytes).digest('hex');
      const sent = req.headers['X-Chunk-SHA256'];
      if (sent !== undefined && sent !== digest) {
        return { status: 400, body: JSON.stringify({ error: { code: 'bad_digest_in_test', message: 'digest' } }) };
      }
      if (sent !== undefined) this.digests++;
      const want = Math.min(this.chunkSize, u.size - n * this.chunkSize);
      if (bytes.length !== want) return { status: 400, body: JSON.stringify({ error: { code: 'chunk_length_mismatch', message: 'len' } }) };
      req.onProgress(bytes.length);
      u.chunks.set(n, bytes);
      return { status: 200, body: '{}' };
    } finally {
      this.inflight--;
    }
  };

  release(): void {
    this.hold = false;
    for (const go of this.held.splice(0)) go();
  }

  /** Lets the first `n` held PUTs through; the rest keep waiting. */
  releaseSome(n: number): void {
    for (const go of this.held.splice(0, n)) go();
  }

  /** The bytes the server holds for an upload, in order. */
  assembled(id: string): string {
    const u = this.uploads.get(id)!;
    return Array.from({ length: u.total }, (_, i) => new TextDecoder().decode(u.chunks.get(i))).join('');
  }
}

export class MemoryStorage {
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

export function textFile(text: string, name = 'clip.mp4'): File {
  return new File([text], name, { type: 'video/mp4', lastModified: 1700000000000 });
}

export const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));
