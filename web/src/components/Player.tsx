// The player: hls.js (native HLS on WebKit) video, quality and audio-language menus, storyboard
// seek bar, stats, the view beacon and the viewer QoE summary (player/qoe.ts).

import { useEffect, useMemo, useRef, useState } from 'react';
import { ViewBeacon, sendBeacon } from '../player/beacon';
import { currentLevelLabel, formatBitrate, levelName, levelOptions } from '../player/levels';
import { audioOptions } from '../player/policy';
import { QoeReporter, QoeTracker } from '../player/qoe';
import { parseStoryboard, type Thumb } from '../player/storyboard';
import { usePlayer } from '../player/usePlayer';
import { SeekBar } from './SeekBar';

interface Props {
  src: string;
  live?: boolean;
  /** Beacon identity: the playback token and the video (or stream) id. */
  token: string | null;
  mediaId: string;
  storyboardUrl?: string | null;
  poster?: string | null;
  title: string;
  /** A freshly signed master URL when the current one has expired (401/403). */
  refresh?: () => Promise<string | null>;
}

function useStoryboard(url: string | null | undefined): Thumb[] {
  const [thumbs, setThumbs] = useState<Thumb[]>([]);
  useEffect(() => {
    if (!url) return;
    const abs = new URL(url, window.location.href).toString();
    let live = true;
    fetch(abs)
      .then((r) => (r.ok ? r.text() : Promise.reject(new Error(String(r.status)))))
      .then((t) => live && setThumbs(parseStoryboard(t, abs)))
      .catch(() => live && setThumbs([]));
    return () => {
      live = false;
    };
  }, [url]);
  return thumbs;
}

export function Player({ src, live = false, token, mediaId, storyboardUrl, poster, title, refresh }: Props) {
  const video = useRef<HTMLVideoElement>(null);
  // One QoE session per beacon identity (a new token or video starts a new one).
  const qoe = useMemo(() => (token ? new QoeTracker() : undefined), [token, mediaId]);
  const p = usePlayer(video, src, { live, refresh, qoe });
  const thumbs = useStoryboard(storyboardUrl);
  const [time, setTime] = useState({ current: 0, duration: 0 });
  const options = useMemo(() => levelOptions(p.levels), [p.levels]);
  const audio = useMemo(() => audioOptions(p.audioTracks), [p.audioTracks]);

  useEffect(() => {
    const el = video.current;
    if (!el || !token) return;
    const beacon = new ViewBeacon({ token, videoId: mediaId, live, send: sendBeacon });
    const on = () => beacon.playing();
    const off = () => beacon.stopped();
    el.addEventListener('playing', on);
    el.addEventListener('pause', off);
    el.addEventListener('ended', off);
    // QoE: media events into the tracker; a summary every few seconds when the window allows,
    // on pause and end, and by sendBeacon when the page goes away.
    const tracker = qoe;
    const reporter = tracker && new QoeReporter(tracker, { token, videoId: mediaId, live, session: beacon.session });
    const media: [string, () => void][] = tracker
      ? [
          ['play', () => tracker.play(Date.now())],
          ['playing', () => tracker.playing(Date.now())],
          ['waiting', () => tracker.waiting(Date.now())],
          ['seeking', () => tracker.seekingStarted(Date.now())],
          ['seeked', () => tracker.seeked()],
          ['pause', () => (tracker.paused(Date.now()), void reporter?.flush())],
          ['ended', () => (tracker.paused(Date.now()), void reporter?.flush())],
        ]
      : [];
    for (const [name, fn] of media) el.addEventListener(name, fn);
    const every = setInterval(() => void reporter?.flush(), 5000);
    const leave = () => reporter?.leave();
    window.addEventListener('pagehide', leave);
    return () => {
      beacon.stopped();
      el.removeEventListener('playing', on);
      el.removeEventListener('pause', off);
      el.removeEventListener('ended', off);
      for (const [name, fn] of media) el.removeEventListener(name, fn);
      clearInterval(every);
      window.removeEventListener('pagehide', leave);
      reporter?.leave();
    };
  }, [token, mediaId, live, qoe]);

  // Live latency (hls.js's measure, seconds) sampled once a second into the summary.
  useEffect(() => {
    if (live && qoe && p.stats.latency !== null) qoe.latencySample(p.stats.latency * 1000);
  }, [live, qoe, p.stats]);

  const playingName = p.levels[p.playing] ? levelName(p.levels[p.playing]!) : '';
  return (
    <div
      className="player"
      data-engine={p.engine}
      data-level={playingName}
      data-error={p.error ?? ''}
      data-loads={p.loads}
      data-audio={p.audioTrack}
      data-audio-switched={p.audioSwitched}
    >
      <video
        ref={video}
        x-webkit-airplay="allow"
        controls
        playsInline
        muted={live}
        autoPlay={live}
        poster={poster ?? undefined}
        aria-label={title}
        onTimeUpdate={(e) => setTime({ current: e.currentTarget.currentTime, duration: e.currentTarget.duration })}
        onDurationChange={(e) => {
          const duration = e.currentTarget.duration;
          setTime((t) => ({ ...t, duration }));
        }}
      />
      {p.error && (
        <div className="error" role="alert" data-testid="player-error">
          {p.error}
        </div>
      )}
      {!p.error && p.status && (
        <div className="small muted" role="status" data-testid="player-status">
          {p.status}
        </div>
      )}
      {!live && (
        <SeekBar
          duration={time.duration}
          current={time.current}
          thumbs={thumbs}
          onSeek={(t) => {
            if (video.current) video.current.currentTime = t;
          }}
        />
      )}
      <div className="player-bar row wrap">
        <label htmlFor="quality">Quality</label>
        <select
          id="quality"
          value={p.selected}
          onChange={(e) => p.setLevel(Number(e.target.value))}
          disabled={p.engine !== 'hls.js' || p.levels.length === 0}
        >
          {options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
        {audio.length > 1 && (
          <>
            <label htmlFor="audio-track">Audio</label>
            <select id="audio-track" value={p.audioTrack} onChange={(e) => p.setAudioTrack(Number(e.target.value))}>
              {audio.map((o) => (
                <option key={o.value} value={o.value}>
                  {o.label}
                </option>
              ))}
            </select>
          </>
        )}
        <span className="small muted" aria-live="polite">
          {p.levels.length > 0 ? `Playing ${currentLevelLabel(p.levels, p.selected, p.playing)}` : ''}
        </span>
      </div>
      <dl className="stats" aria-label="Playback stats">
        <div>
          <dt>Engine</dt>
          <dd>{p.engine}</dd>
        </div>
        <div>
          <dt>Level</dt>
          <dd data-testid="stat-level">{playingName || '–'}</dd>
        </div>
        <div>
          <dt>Bandwidth</dt>
          <dd>{formatBitrate(p.stats.bandwidth)}</dd>
        </div>
        <div>
          <dt>Buffer</dt>
          <dd>{p.stats.buffer.toFixed(1)} s</dd>
        </div>
        <div>
          <dt>Dropped frames</dt>
          <dd>{p.stats.dropped}</dd>
        </div>
        {live && (
          <div>
            <dt>Latency</dt>
            <dd>{p.stats.latency === null ? '–' : `${p.stats.latency.toFixed(1)} s`}</dd>
          </div>
        )}
      </dl>
    </div>
  );
}
