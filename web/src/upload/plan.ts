// Pure upload rules of the wizard: resume keys, what is remembered per file, the tus retry
// policy, and when a remembered direct-upload URL is spent.

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
  /** The direct-upload URL (the tus endpoint) this file is being sent to. */
  url: string;
  direct_id: string;
  video_id: string;
  filename: string;
  size: number;
  saved_at: string;
}

/** A direct upload as `POST /v1/uploads/direct` answers it. */
export interface DirectUpload {
  id: string;
  video_id: string;
  url: string;
  expires_at: string;
}

/** tus-js-client's retry delays: a dropped connection is tried again 4 times over ~10 s. */
export const RETRY_DELAYS_MS = [0, 1000, 3000, 6000];

/** PATCH size: 1 MiB, so a failed upload resumes close to where it stopped. */
export const TUS_CHUNK_SIZE = 1024 * 1024;

/** Whether an error status means the saved direct URL can never be used again. */
export function urlIsSpent(status: number): boolean {
  return status === 404 || status === 409 || status === 410;
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
