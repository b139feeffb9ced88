// Pure upload planning: chunk boundaries, the server's `missing` ranges, resume keys and the
// retry policy of the REST chunked protocol (services/ingest/src/rest.rs).

export interface Chunk {
  index: number;
  start: number;
  /** Exclusive. */
  end: number;
}

/** Chunk `i` covers [i·size, min(total, (i+1)·size)); every chunk but the last is full. */
export function planChunks(size: number, chunkSize: number, totalChunks?: number): Chunk[] {
  if (chunkSize <= 0) throw new Error('chunk size must be positive');
  const n = totalChunks ?? Math.ceil(size / chunkSize);
  const out: Chunk[] = [];
  for (let i = 0; i < n; i++) {
    out.push({ index: i, start: i * chunkSize, end: Math.min(size, (i + 1) * chunkSize) });
  }
  return out;
}

/** `[[a, b], ...]` (inclusive ranges, as `GET /v1/videos/upload/{id}` answers) to indices. */
export function expandRanges(ranges: ReadonlyArray<readonly [number, number]>): number[] {
  const out: number[] = [];
  for (const [a, b] of ranges) {
    for (let i = a; i <= b; i++) out.push(i);
  }
  return out;
}

export interface FileIdentity {
  name: string;
  size: number;
  lastModified: number;
}

export const RESUME_PREFIX = 'framelog.upload:';

/** The localStorage key remembering the upload of one file (same name, size and mtime). */
export function resumeKey(f: FileIdentity): string {
  return `${RESUME_PREFIX}${f.size}:${f.lastModified}:${f.name}`;
}

export interface SavedUpload {
  upload_id: string;
  video_id: string;
  chunk_size: number;
  total_chunks: number;
  filename: string;
  size: number;
  saved_at: string;
}

/** Whether a failed chunk PUT is worth sending again. */
export function isRetryable(status: number, code: string): boolean {
  if (status === 0) return true; // network error
  if (status === 408 || status === 429) return true;
  if (status === 409) return code === 'chunk_in_progress';
  if (status === 400) return code === 'digest_mismatch' || code === 'body_incomplete';
  if (status === 507) return false;
  return status >= 500;
}

/** Back-off before retry `attempt` (1-based): 0.5 s, 1 s, 2 s ... at most 15 s. */
export function backoffMs(attempt: number): number {
  return Math.min(15000, 500 * 2 ** Math.max(0, attempt - 1));
}

/** Bytes as text: 1.5 MB. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}
