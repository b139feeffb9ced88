// hls.js settings for live streams.

import type { HlsConfig, RetryConfig } from 'hls.js';

/** How long a live viewer waits for the first playlist (a stream goes live before its media
 * server has written one: nginx-rtmp writes `index.m3u8` after the first 2 s fragment). */
export const LIVE_START_RETRIES = 15;

/**
 * hls.js retries a failed playlist load only for network errors and 5xx; a live playlist that
 * answers 404 has usually not been written *yet*, so for live it is retried too, once a second,
 * up to `maxNumRetry` times.
 */
export function retryLivePlaylist(
  config: RetryConfig | null | undefined,
  retryCount: number,
  _isTimeout: boolean,
  response: { code?: number } | undefined,
  retry: boolean,
): boolean {
  return retry || (response?.code === 404 && !!config && retryCount < config.maxNumRetry);
}

const LIVE_LOAD_POLICY = {
  default: {
    maxTimeToFirstByteMs: 10000,
    maxLoadTimeMs: 20000,
    timeoutRetry: { maxNumRetry: 2, retryDelayMs: 0, maxRetryDelayMs: 0 },
    errorRetry: {
      maxNumRetry: LIVE_START_RETRIES,
      retryDelayMs: 1000,
      maxRetryDelayMs: 2000,
      shouldRetry: retryLivePlaylist,
    },
  },
};

/**
 * Live settings, by RFC 8216 §6.3.3 and hls.js's documentation:
 *
 * - `liveSyncDurationCount: 3`: start (and aim to stay) three target durations behind the end
 *   of the playlist; §6.3.3 says a client SHOULD NOT start less than three target durations
 *   from the end (6 s with nginx-rtmp's 2 s fragments). hls.js's default too.
 * - `liveMaxLatencyDurationCount: 6`: only when playback falls twice that far behind (12 s:
 *   after a long stall) does hls.js jump back to the sync point; it must be larger than the
 *   sync count, or every small delay would cause a seek.
 * - `maxLiveSyncPlaybackRate: 1.1`: between the two, catch up by playing at most 10 % fast,
 *   which viewers hardly hear (hls.js's default is 1, no catch-up; 1.5x is audible).
 * - LL-HLS (`lowLatencyMode`): where the server writes parts, hls.js follows the playlist's
 *   own PART-HOLD-BACK instead of the counts. hls.js refuses mixing counts with seconds
 *   (`liveMaxLatencyDuration`), so both are counts.
 */
export const LIVE_CONFIG: Partial<HlsConfig> = {
  lowLatencyMode: true,
  liveSyncDurationCount: 3,
  liveMaxLatencyDurationCount: 6,
  maxLiveSyncPlaybackRate: 1.1,
  backBufferLength: 30,
  manifestLoadPolicy: LIVE_LOAD_POLICY,
  playlistLoadPolicy: LIVE_LOAD_POLICY,
};
