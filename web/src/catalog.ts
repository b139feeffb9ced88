// Pure catalog state: merging videos read again after feed events, and progress.

import type { Progress, Video } from './api/types';

/** Replaces the video with the same id, or adds it; newest first. */
export function upsertVideo(list: readonly Video[], v: Video): Video[] {
  const i = list.findIndex((x) => x.id === v.id);
  if (i >= 0) {
    const out = list.slice();
    out[i] = v;
    return out;
  }
  return [v, ...list].sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0));
}

export function removeVideo(list: readonly Video[], id: string): Video[] {
  return list.filter((v) => v.id !== id);
}

/** The progress a card shows: the live value, else the one the API read. */
export function progressOf(v: Video, live: Record<string, Progress>): Progress | null {
  if (v.status !== 'processing' && v.status !== 'playable') return null;
  const p = live[v.id] ?? v.progress;
  return p && typeof p === 'object' ? p : null;
}

export const STATUS_LABEL: Record<string, string> = {
  uploading: 'Uploading',
  processing: 'Processing',
  playable: 'Playable',
  ready: 'Ready',
  failed: 'Failed',
};

export function titleOf(v: Pick<Video, 'filename' | 'id'>): string {
  return v.filename?.replace(/\.[a-z0-9]{2,4}$/i, '') || v.id;
}

/**
 * Keeps only the freshest read of each video. Reads started by feed events can answer out of
 * order; each answer carries the projection sequence it was read at (X-Projection-Seq), so an
 * answer older than the one shown is dropped instead of moving a card back.
 */
export class Freshness {
  private seen = new Map<string, number>();

  /** Whether a read of `id` at projection sequence `seq` is at least as new as the last one. */
  accept(id: string, seq: number | null): boolean {
    if (seq === null) return true;
    const prev = this.seen.get(id) ?? -1;
    if (seq < prev) return false;
    this.seen.set(id, seq);
    return true;
  }
}

/**
 * Whether a read made at projection sequence `readSeq` may have missed events the feed will
 * never deliver: the feed replays only what comes after `feedSince`, so a read made before
 * that point must be made again.
 */
export function readBehindFeed(readSeq: number | null, feedSince: number | null): boolean {
  return readSeq !== null && feedSince !== null && readSeq < feedSince;
}
