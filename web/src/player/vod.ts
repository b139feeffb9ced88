// hls.js settings for a video on demand, including one still being encoded (issue 16): while a
// ladder grows range by range its media playlists are EVENT playlists (no ENDLIST yet, with
// `#EXT-X-START:TIME-OFFSET=0`). hls.js calls any playlist without ENDLIST "live" and would, by
// default, start it at the live edge; a viewer of an upload must instead start at 0 and keep
// playing while the playlists grow, then carry on when they end (ENDLIST) — never be pulled
// forward to the edge, never see a live stream's behaviour.

import type { HlsConfig } from 'hls.js';
import { LIVE_CONFIG } from './live';
import type { Resume } from './policy';

/**
 * Settings for every video that is not a live stream, growing or complete:
 *
 * - `liveMaxLatencyDurationCount: Infinity`: hls.js seeks a "live" viewer to the edge only when
 *   it falls further behind than this; never, for a video whose beginning is the point.
 * - `maxLiveSyncPlaybackRate: 1`: no catching up by playing faster.
 * - `liveDurationInfinity: false`: the media element's duration is what the playlists hold so
 *   far (it grows), not Infinity, so the seek bar and the browser's controls show a video, not
 *   a live stream.
 */
export const VOD_CONFIG: Partial<HlsConfig> = {
  // hls.js refuses a max latency count not above the sync count: both are set.
  liveSyncDurationCount: 3,
  liveMaxLatencyDurationCount: Infinity,
  maxLiveSyncPlaybackRate: 1,
  liveDurationInfinity: false,
};

/**
 * Where playback starts, in seconds. Live: -1 (hls.js picks the live edge). A video: where the
 * viewer was before a reload (a new master, a refreshed URL, a retry), else 0 — explicitly,
 * because hls.js's -1 means "the live edge" for an EVENT playlist that has no EXT-X-START.
 */
export function startPosition(resume: Resume | null, live: boolean): number {
  if (live) return -1;
  return resume && resume.position > 0 ? resume.position : 0;
}

/** The hls.js configuration of a player: live or video settings, and where it starts. */
export function hlsConfig(live: boolean, resume: Resume | null): Partial<HlsConfig> {
  return {
    ...(live ? LIVE_CONFIG : VOD_CONFIG),
    enableWorker: true,
    capLevelToPlayerSize: true,
    startPosition: startPosition(resume, live),
  };
}

/**
 * For native HLS (Safari), which has no start option: the time to seek to once the metadata is
 * loaded, or null to leave the element where it is. Safari may open a growing EVENT playlist at
 * its edge; a video is brought back to its start position (half a second of tolerance).
 */
export function nativeSeek(resume: Resume | null, live: boolean, currentTime: number): number | null {
  const start = startPosition(resume, live);
  if (start < 0 || Math.abs(currentTime - start) < 0.5) return null;
  return start;
}
