// Feed messages (services/projection/src/api/events.rs) decoded for the UI: log events carry
// their VID sequence as id, their type as event name and the CloudEvent as data; transcode
// progress arrives as `event: progress` with `{subject, kind, aggregate, progress}`.

import type { CloudEvent, Progress } from '../api/types';
import type { SseMessage } from './parser';

export type FeedEvent =
  | { kind: 'event'; seq: number; type: string; phase: string; subject: string; time: string; event: CloudEvent }
  | { kind: 'progress'; about: string; aggregate: string; progress: Progress; time: string };

export const EVENT_TYPES = ['VID_UPLOAD', 'VID_TRANSCODE', 'VID_READY', 'VID_LIVE'] as const;

export function decodeFeed(m: SseMessage, now: () => Date = () => new Date()): FeedEvent | null {
  let data: unknown;
  try {
    data = JSON.parse(m.data);
  } catch {
    return null;
  }
  if (!data || typeof data !== 'object') return null;
  if (m.event === 'progress') {
    const d = data as { kind?: string; aggregate?: string; progress?: unknown };
    const p = toProgress(d.progress);
    if (!d.aggregate || !p) return null;
    return { kind: 'progress', about: d.kind ?? '', aggregate: d.aggregate, progress: p, time: now().toISOString() };
  }
  const e = data as CloudEvent;
  if (typeof e.type !== 'string' || typeof e.subject !== 'string') return null;
  return {
    kind: 'event',
    seq: Number(m.id) || 0,
    type: e.type,
    phase: typeof e.data?.phase === 'string' ? e.data.phase : '',
    subject: e.subject,
    time: e.time ?? now().toISOString(),
    event: e,
  };
}

/** A progress value as the API gives it (an object, or text if not JSON). */
export function toProgress(v: unknown): Progress | null {
  if (!v || typeof v !== 'object') return null;
  const p = v as Partial<Progress>;
  if (typeof p.percent !== 'number') return null;
  return { percent: p.percent, eta_secs: p.eta_secs ?? null, stage: p.stage ?? '' };
}

/** The video a feed event is about, if any. */
export function videoOf(e: FeedEvent): string | null {
  if (e.kind === 'progress') return e.about === 'transcode' ? e.aggregate : null;
  return e.type === 'VID_LIVE' ? null : e.subject;
}

/** Whether an event changes what the catalog shows of its video (so it is read again). */
export function changesVideo(e: FeedEvent): boolean {
  return e.kind === 'event' && videoOf(e) !== null;
}
