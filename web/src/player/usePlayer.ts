// hls.js attached to a <video>: levels for the quality menu, the chosen and playing level,
// stats (bandwidth, level, buffer), fatal errors (recovered once where hls.js can). Native HLS
// (Safari) only where Media Source Extensions are missing.

import Hls, { type ErrorData, type HlsConfig, type RetryConfig } from 'hls.js';
import { useEffect, useRef, useState, type RefObject } from 'react';
import { bufferAhead, type LevelLike } from './levels';

export interface PlayerStats {
  bandwidth: number;
  level: number;
  buffer: number;
  dropped: number;
  latency: number | null;
}

export interface PlayerState {
  engine: 'hls.js' | 'native' | 'none';
  levels: LevelLike[];
  selected: number;
  playing: number;
  stats: PlayerStats;
  error: string | null;
  setLevel(i: number): void;
}

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
 * Low-latency live settings: play 2 segments behind the edge and jump back when more than 2.5
 * behind (5 s with nginx-rtmp's 2 s fragments). hls.js refuses mixing the segment-count and
 * seconds forms (`liveSyncDurationCount` with `liveMaxLatencyDuration` throws), so both are
 * counts. LL-HLS parts are used where the server has them (MediaMTX lowLatency).
 */
export const LIVE_CONFIG: Partial<HlsConfig> = {
  lowLatencyMode: true,
  liveSyncDurationCount: 2,
  liveMaxLatencyDurationCount: 2.5,
  maxLiveSyncPlaybackRate: 1.5,
  backBufferLength: 30,
  manifestLoadPolicy: LIVE_LOAD_POLICY,
  playlistLoadPolicy: LIVE_LOAD_POLICY,
};

const EMPTY_STATS: PlayerStats = { bandwidth: 0, level: -1, buffer: 0, dropped: 0, latency: null };

export function usePlayer(video: RefObject<HTMLVideoElement | null>, src: string | null, live = false): PlayerState {
  const hlsRef = useRef<Hls | null>(null);
  const [engine, setEngine] = useState<PlayerState['engine']>('none');
  const [levels, setLevels] = useState<LevelLike[]>([]);
  const [selected, setSelected] = useState(-1);
  const [playing, setPlaying] = useState(-1);
  const [stats, setStats] = useState<PlayerStats>(EMPTY_STATS);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const el = video.current;
    if (!el || !src) return;
    setError(null);
    setLevels([]);
    setSelected(-1);
    if (!Hls.isSupported()) {
      if (el.canPlayType('application/vnd.apple.mpegurl')) {
        setEngine('native');
        el.src = src;
        return () => {
          el.removeAttribute('src');
          el.load();
        };
      }
      setError('This browser cannot play HLS video.');
      return;
    }
    const hls = new Hls({ ...(live ? LIVE_CONFIG : {}), enableWorker: true });
    hlsRef.current = hls;
    setEngine('hls.js');
    let recovered = { network: false, media: false };
    hls.on(Hls.Events.MANIFEST_PARSED, (_e, d) => {
      setLevels(d.levels.map((l) => ({ height: l.height, width: l.width, bitrate: l.bitrate, name: l.name })));
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, (_e, d) => setPlaying(d.level));
    hls.on(Hls.Events.FRAG_BUFFERED, () => {
      recovered = { network: false, media: false };
    });
    hls.on(Hls.Events.ERROR, (_e, d: ErrorData) => {
      if (!d.fatal) return;
      if (d.type === Hls.ErrorTypes.NETWORK_ERROR && !recovered.network) {
        recovered.network = true;
        hls.startLoad();
        return;
      }
      if (d.type === Hls.ErrorTypes.MEDIA_ERROR && !recovered.media) {
        recovered.media = true;
        hls.recoverMediaError();
        return;
      }
      const status = d.response?.code ? ` (HTTP ${d.response.code})` : '';
      setError(`Playback failed: ${d.details}${status}`);
    });
    hls.loadSource(src);
    hls.attachMedia(el);
    return () => {
      hlsRef.current = null;
      hls.destroy();
    };
  }, [video, src, live]);

  useEffect(() => {
    const t = setInterval(() => {
      const el = video.current;
      if (!el) return;
      const hls = hlsRef.current;
      const q = el.getVideoPlaybackQuality?.();
      setStats({
        bandwidth: hls ? hls.bandwidthEstimate : 0,
        level: hls ? hls.currentLevel : -1,
        buffer: bufferAhead(el.buffered, el.currentTime),
        dropped: q ? q.droppedVideoFrames : 0,
        latency: hls && live ? hls.latency : null,
      });
    }, 1000);
    return () => clearInterval(t);
  }, [video, live]);

  const setLevel = (i: number) => {
    setSelected(i);
    const hls = hlsRef.current;
    if (hls) hls.currentLevel = i;
  };

  return { engine, levels, selected, playing, stats, error, setLevel };
}
