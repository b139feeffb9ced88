// The HLS player hook: hls.js (or native HLS on WebKit) attached to a <video>; levels for the
// quality menu, audio tracks for the language menu, stats, and fatal errors handled by the
// policy in policy.ts (reload with back-off, refresh the signed URL, media recovery, or a
// message: never an endless spinner). A new source (the full ladder after the early master, a
// refreshed URL, a retry) is loaded in place, keeping position, play state, pinned quality and
// audio language. A video whose ladder is still being encoded (EVENT playlists that grow) plays
// from its start as they grow, never from the live edge (vod.ts).

import Hls, { type ErrorData } from 'hls.js';
import { useEffect, useRef, useState, type RefObject } from 'react';
import { bufferAhead, type LevelLike } from './levels';
import {
  NO_ATTEMPTS,
  afterAction,
  chooseEngine,
  keepAudio,
  onFatal,
  repin,
  resumeFrom,
  type Attempts,
  type AudioTrackLike,
  type Engine,
  type Resume,
} from './policy';
import type { QoeTracker } from './qoe';
import { hlsConfig, nativeSeek } from './vod';

export { LIVE_CONFIG, LIVE_START_RETRIES, retryLivePlaylist } from './live';

export interface PlayerStats {
  bandwidth: number;
  level: number;
  buffer: number;
  dropped: number;
  latency: number | null;
}

export interface PlayerState {
  engine: Engine;
  levels: LevelLike[];
  selected: number;
  playing: number;
  audioTracks: AudioTrackLike[];
  audioTrack: number;
  /** The audio track of the last AUDIO_TRACK_SWITCHED (-1 before any). */
  audioSwitched: number;
  stats: PlayerStats;
  error: string | null;
  /** "Reconnecting…" while a reload or URL refresh is under way. */
  status: string | null;
  /** How many times the source was (re)loaded: 1 at first, +1 per upgrade, refresh or retry. */
  loads: number;
  setLevel(i: number): void;
  setAudioTrack(i: number): void;
}

export interface PlayerOptions {
  live?: boolean;
  /** A freshly signed master URL (an expired token answers 401/403), or null when there is none. */
  refresh?: () => Promise<string | null>;
  /** Told of rendition switches and fatal errors (viewer QoE, qoe.ts). */
  qoe?: QoeTracker;
}

interface Load {
  src: string;
  resume: Resume | null;
  n: number;
}

const EMPTY_STATS: PlayerStats = { bandwidth: 0, level: -1, buffer: 0, dropped: 0, latency: null };

function engineFor(el: HTMLVideoElement): Engine {
  return chooseEngine({
    nativeHls: el.canPlayType('application/vnd.apple.mpegurl') !== '',
    mse: Hls.isSupported(),
    userAgent: navigator.userAgent,
    prefer: new URLSearchParams(window.location.search).get('engine'),
  });
}

export function usePlayer(video: RefObject<HTMLVideoElement | null>, src: string | null, opts: PlayerOptions = {}): PlayerState {
  const live = opts.live ?? false;
  const hlsRef = useRef<Hls | null>(null);
  const refreshRef = useRef(opts.refresh);
  refreshRef.current = opts.refresh;
  const qoeRef = useRef(opts.qoe);
  qoeRef.current = opts.qoe;
  const [load, setLoad] = useState<Load | null>(null);
  const [engine, setEngine] = useState<Engine>('none');
  const [levels, setLevels] = useState<LevelLike[]>([]);
  const [selected, setSelected] = useState(-1);
  const [playing, setPlaying] = useState(-1);
  const [audioTracks, setAudioTracks] = useState<AudioTrackLike[]>([]);
  const [audioTrack, setAudioTrackState] = useState(-1);
  const [audioSwitched, setAudioSwitched] = useState(-1);
  const [stats, setStats] = useState<PlayerStats>(EMPTY_STATS);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  // What survives a reload: the attempts since the last progress, the pinned level and the
  // chosen audio track (as the levels and tracks they index).
  const tried = useRef<Attempts>(NO_ATTEMPTS);
  const pinned = useRef<{ levels: LevelLike[]; selected: number }>({ levels: [], selected: -1 });
  const chosenAudio = useRef<AudioTrackLike | null>(null);

  // A new source: loaded in place from where the viewer is.
  useEffect(() => {
    if (!src) return;
    setLoad((prev) =>
      prev?.src === src ? prev : { src, resume: prev ? resumeFrom(video.current, live) : null, n: (prev?.n ?? 0) + 1 },
    );
  }, [src, video, live]);

  useEffect(() => {
    const el = video.current;
    if (!el || !load) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let gone = false;
    const reload = (next: string | null) => {
      if (gone) return;
      setLoad((prev) => prev && { src: next ?? prev.src, resume: resumeFrom(el, live), n: prev.n + 1 });
    };
    const refresh = () => {
      const get = refreshRef.current;
      setStatus('Renewing the video link…');
      (get ? get() : Promise.resolve(null))
        .then((url) => (url ? reload(url) : fail('This video\'s link has expired. Reload the page to try again.')))
        .catch(() => fail('This video\'s link has expired and could not be renewed. Reload the page.'));
    };
    const fail = (message: string) => {
      if (gone) return;
      setStatus(null);
      setError(message);
    };
    setError(null);
    const kind = engineFor(el);
    setEngine(kind);
    const resume = load.resume;

    if (kind === 'native') {
      const onMeta = () => {
        const seek = nativeSeek(resume, live, el.currentTime);
        if (seek !== null) el.currentTime = seek;
        if (resume?.play) el.play().catch(() => undefined);
      };
      const onError = () => {
        const code = el.error?.code ?? 0;
        qoeRef.current?.fatal(`media_error_${code}`);
        // Safari does not say the HTTP status: a network or format failure of a signed URL gets
        // one refresh (an expired token), then a message.
        if ((code === 2 || code === 4) && refreshRef.current && !tried.current.refreshed) {
          tried.current = { ...tried.current, refreshed: true };
          refresh();
          return;
        }
        fail(`Playback failed: ${el.error?.message || `media error ${code}`}.`);
      };
      const onPlaying = () => {
        tried.current = NO_ATTEMPTS;
        setStatus(null);
      };
      el.addEventListener('loadedmetadata', onMeta, { once: true });
      el.addEventListener('error', onError);
      el.addEventListener('playing', onPlaying);
      el.src = load.src;
      return () => {
        gone = true;
        el.removeEventListener('loadedmetadata', onMeta);
        el.removeEventListener('error', onError);
        el.removeEventListener('playing', onPlaying);
        el.removeAttribute('src');
        el.load();
      };
    }
    if (kind === 'none') {
      fail('This browser cannot play HLS video.');
      return;
    }

    // A video (even one whose playlists still grow) starts at 0 or where the viewer was; a
    // live stream at its edge (vod.ts).
    const hls = new Hls(hlsConfig(live, resume));
    hlsRef.current = hls;
    let lastMedia = 0;
    hls.on(Hls.Events.MANIFEST_PARSED, (_e, d) => {
      const next = d.levels.map((l) => ({ height: l.height, width: l.width, bitrate: l.bitrate, name: l.name }));
      const keep = repin(pinned.current.levels, pinned.current.selected, next);
      pinned.current = { levels: next, selected: keep };
      setLevels(next);
      setSelected(keep);
      if (keep >= 0) hls.nextLevel = keep;
      if (resume?.play) el.play().catch(() => undefined);
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, (_e, d) => {
      setPlaying(d.level);
      qoeRef.current?.levelSwitched();
    });
    hls.on(Hls.Events.AUDIO_TRACKS_UPDATED, (_e, d) => {
      const tracks = d.audioTracks.map((t) => ({ name: t.name, lang: t.lang, default: t.default }));
      setAudioTracks(tracks);
      const keep = keepAudio(chosenAudio.current, tracks);
      if (keep >= 0 && keep !== hls.audioTrack) hls.audioTrack = keep;
      setAudioTrackState(hls.audioTrack);
    });
    hls.on(Hls.Events.AUDIO_TRACK_SWITCHED, (_e, d) => {
      setAudioTrackState(d.id);
      setAudioSwitched(d.id);
    });
    hls.on(Hls.Events.FRAG_BUFFERED, () => {
      tried.current = { ...NO_ATTEMPTS, media: Date.now() - lastMedia > 10000 ? 0 : tried.current.media };
      setStatus(null);
    });
    hls.on(Hls.Events.ERROR, (_e, d: ErrorData) => {
      if (!d.fatal) return;
      qoeRef.current?.fatal(String(d.details));
      const action = onFatal({ type: d.type, details: d.details, code: d.response?.code }, tried.current, !!refreshRef.current);
      tried.current = afterAction(tried.current, action);
      switch (action.kind) {
        case 'reload':
          setStatus(`Reconnecting (attempt ${tried.current.reloads})…`);
          timer = setTimeout(() => reload(null), action.delayMs);
          return;
        case 'refresh':
          refresh();
          return;
        case 'recoverMedia':
          lastMedia = Date.now();
          hls.recoverMediaError();
          return;
        case 'swapAudioCodec':
          lastMedia = Date.now();
          hls.swapAudioCodec();
          hls.recoverMediaError();
          return;
        case 'fail':
          hls.stopLoad();
          fail(action.message);
          return;
      }
    });
    hls.loadSource(load.src);
    hls.attachMedia(el);
    return () => {
      gone = true;
      clearTimeout(timer);
      hlsRef.current = null;
      hls.destroy();
    };
  }, [video, load, live]);

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

  // Pinning sets nextLevel: the buffered segments play out, the next ones come at the new level
  // (currentLevel would flush the buffer and stall).
  const setLevel = (i: number) => {
    setSelected(i);
    pinned.current = { ...pinned.current, selected: i };
    const hls = hlsRef.current;
    if (hls) hls.nextLevel = i;
  };

  const setAudioTrack = (i: number) => {
    chosenAudio.current = audioTracks[i] ?? null;
    const hls = hlsRef.current;
    if (hls) hls.audioTrack = i;
  };

  return {
    engine,
    levels,
    selected,
    playing,
    audioTracks,
    audioTrack,
    audioSwitched,
    stats,
    error,
    status,
    loads: load?.n ?? 0,
    setLevel,
    setAudioTrack,
  };
}
