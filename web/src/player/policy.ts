// Pure player decisions, kept apart from hls.js and React so they are unit-tested: what to do
// on a fatal error, which engine plays, how a reload keeps the viewer's place, how a pinned
// quality and a chosen audio language survive a new master.

import type { LevelLike } from './levels';

/** What the error policy needs of an hls.js fatal error. */
export interface FatalError {
  /** hls.js `ErrorTypes`: 'networkError', 'mediaError', 'muxError', 'keySystemError', 'otherError'. */
  type: string;
  /** hls.js `ErrorDetails`, e.g. 'manifestLoadError', 'fragLoadError', 'bufferStalledError'. */
  details: string;
  /** The HTTP status of a failed load; 0 or undefined when the request got no answer. */
  code?: number;
}

/** What was already tried since playback last made progress (a fragment was buffered). */
export interface Attempts {
  /** Reloads of the source after a transient network error. */
  reloads: number;
  /** Whether the signed URL was already refreshed. */
  refreshed: boolean;
  /** Media recoveries: 0 none, 1 `recoverMediaError` done, 2 `swapAudioCodec` done. */
  media: number;
}

export const NO_ATTEMPTS: Attempts = { reloads: 0, refreshed: false, media: 0 };

/** Reloads after a 5xx or network failure before the player gives up: 1+2+4+8+8 s ≈ 23 s. */
export const MAX_RELOADS = 5;

export type Action =
  | { kind: 'reload'; delayMs: number }
  | { kind: 'refresh' }
  | { kind: 'recoverMedia' }
  | { kind: 'swapAudioCodec' }
  | { kind: 'fail'; message: string };

/** Back-off before reload `n` (0-based): 1 s, 2 s, 4 s, then 8 s. */
export function backoffMs(n: number): number {
  return 1000 * Math.min(8, 2 ** Math.max(0, n));
}

/**
 * The policy for a fatal hls.js error. `canRefresh`: the app can ask for a freshly signed URL.
 *
 * - 401/403: the signed URL expired (or the token is wrong): refresh it once, then a message.
 * - 404/410: the video (or its master) is gone: a message at once; retrying will not help.
 * - no answer, a timeout, 429 or 5xx: transient; reload the source with back-off, then a message.
 * - other 4xx: a message.
 * - media errors: `recoverMediaError` once, then `swapAudioCodec` (hls.js's documented order),
 *   then a message.
 * - anything else (mux, key system, other): a message.
 */
export function onFatal(e: FatalError, tried: Attempts, canRefresh: boolean): Action {
  if (e.type === 'networkError') {
    const code = e.code ?? 0;
    if (code === 401 || code === 403) {
      if (canRefresh && !tried.refreshed) return { kind: 'refresh' };
      return { kind: 'fail', message: `This video's link has expired or is not allowed (HTTP ${code}). Reload the page to try again.` };
    }
    if (code === 404 || code === 410) {
      return { kind: 'fail', message: `This video is not available (HTTP ${code}): it may have been deleted.` };
    }
    if (code === 0 || code === 408 || code === 429 || code >= 500) {
      if (tried.reloads < MAX_RELOADS) return { kind: 'reload', delayMs: backoffMs(tried.reloads) };
      const what = code ? `the server answered HTTP ${code}` : 'the server could not be reached';
      return { kind: 'fail', message: `Playback stopped: ${what} ${MAX_RELOADS + 1} times (${e.details}). Try again later.` };
    }
    return { kind: 'fail', message: `Playback failed: ${e.details} (HTTP ${code}).` };
  }
  if (e.type === 'mediaError') {
    if (tried.media === 0) return { kind: 'recoverMedia' };
    if (tried.media === 1) return { kind: 'swapAudioCodec' };
    return { kind: 'fail', message: `This browser cannot decode this video (${e.details}).` };
  }
  return { kind: 'fail', message: `Playback failed: ${e.details}.` };
}

/** What the attempts become after an action is taken. */
export function afterAction(tried: Attempts, a: Action): Attempts {
  switch (a.kind) {
    case 'reload':
      return { ...tried, reloads: tried.reloads + 1 };
    case 'refresh':
      return { ...tried, refreshed: true };
    case 'recoverMedia':
      return { ...tried, media: 1 };
    case 'swapAudioCodec':
      return { ...tried, media: 2 };
    case 'fail':
      return tried;
  }
}

/** Where and how to go on after the source is reloaded (a new master, a refreshed URL, a retry). */
export interface Resume {
  /** Seconds to start from; -1 lets hls.js choose (the start, or the live edge). */
  position: number;
  /** Whether to play once the new source is loaded. */
  play: boolean;
}

/** What a reload needs of the <video> element. */
export interface MediaLike {
  currentTime: number;
  paused: boolean;
  ended: boolean;
}

/**
 * The viewer's place before a reload: the position (kept when playback got anywhere and has not
 * ended) and whether it was playing. A live stream resumes at the live edge.
 */
export function resumeFrom(m: MediaLike | null, live: boolean): Resume {
  if (!m) return { position: -1, play: false };
  const play = !m.paused && !m.ended;
  if (live) return { position: -1, play };
  const position = !m.ended && Number.isFinite(m.currentTime) && m.currentTime > 0 ? m.currentTime : -1;
  return { position, play };
}

/**
 * The index in `next` of the level pinned in `prev` (same height, then the nearest bitrate), or
 * -1 (Auto) when nothing was pinned or no level has that height: a new master (the full ladder
 * after the early one) renumbers the levels.
 */
export function repin(prev: readonly LevelLike[], selected: number, next: readonly LevelLike[]): number {
  const was = prev[selected];
  if (selected < 0 || !was) return -1;
  let best = -1;
  for (let i = 0; i < next.length; i++) {
    const l = next[i]!;
    if (l.height !== was.height) continue;
    if (best < 0 || Math.abs(l.bitrate - was.bitrate) < Math.abs(next[best]!.bitrate - was.bitrate)) best = i;
  }
  return best;
}

/** Which engine plays HLS. */
export type Engine = 'hls.js' | 'native' | 'none';

export interface EngineInputs {
  /** `video.canPlayType('application/vnd.apple.mpegurl')` is not empty. */
  nativeHls: boolean;
  /** `Hls.isSupported()` (Media Source Extensions). */
  mse: boolean;
  /** `navigator.userAgent`. */
  userAgent: string;
  /** A forced engine (`?engine=hls.js` or `?engine=native`), e.g. to test hls.js on Safari. */
  prefer?: string | null;
}

/** Safari and every iOS browser (WebKit without Blink): native HLS plays there, with AirPlay. */
export function isWebKit(userAgent: string): boolean {
  return /AppleWebKit\//.test(userAgent) && !/(Chrome|Chromium|Edg|OPR|Android)\//.test(userAgent);
}

/**
 * Native HLS on WebKit (AirPlay, picture in picture, the system's ABR); hls.js elsewhere, and
 * native anywhere without MSE that says it plays HLS. A preference wins when it can be met.
 */
export function chooseEngine(i: EngineInputs): Engine {
  if (i.prefer === 'hls.js' && i.mse) return 'hls.js';
  if (i.prefer === 'native' && i.nativeHls) return 'native';
  if (i.nativeHls && (isWebKit(i.userAgent) || !i.mse)) return 'native';
  if (i.mse) return 'hls.js';
  return 'none';
}

/** What the audio menu needs of an hls.js audio track (`MediaPlaylist`). */
export interface AudioTrackLike {
  name: string;
  lang?: string;
  default?: boolean;
}

export interface AudioOption {
  /** hls.js audio track index. */
  value: number;
  label: string;
}

/** "English (en)" from the NAME and LANGUAGE; the language is left out when the name has it as a word. */
export function audioLabel(t: AudioTrackLike): string {
  const name = t.name?.trim() || '';
  const lang = t.lang?.trim() || '';
  if (!name) return lang || 'Audio';
  const words = name.toLowerCase().split(/[^\p{L}\p{N}]+/u);
  if (!lang || words.includes(lang.toLowerCase())) return name;
  return `${name} (${lang})`;
}

/** One option per audio track, in the master's order (the menu shows only with two or more). */
export function audioOptions(tracks: readonly AudioTrackLike[]): AudioOption[] {
  return tracks.map((t, i) => ({ value: i, label: audioLabel(t) }));
}

/**
 * The track to select in `next` to keep the viewer's language after a reload: the same
 * language and name, else the same language, else -1 (keep hls.js's default choice).
 */
export function keepAudio(prev: AudioTrackLike | null | undefined, next: readonly AudioTrackLike[]): number {
  if (!prev) return -1;
  const same = next.findIndex((t) => t.lang === prev.lang && t.name === prev.name);
  if (same >= 0) return same;
  return prev.lang ? next.findIndex((t) => t.lang === prev.lang) : -1;
}
