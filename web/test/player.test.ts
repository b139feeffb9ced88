import { describe, expect, it } from 'vitest';
import { ViewBeacon, type BeaconBody } from '../src/player/beacon';
import {
  bufferAhead,
  currentLevelLabel,
  formatBitrate,
  formatDuration,
  levelOptions,
  tokenOf,
} from '../src/player/levels';
import { parseStoryboard, parseVttTime, thumbAt } from '../src/player/storyboard';

// As the transcoder writes them (services/transcoder: master lowest first).
const LEVELS = [
  { height: 360, width: 640, bitrate: 896000 },
  { height: 480, width: 854, bitrate: 1628000 },
  { height: 720, width: 1280, bitrate: 3128000 },
];

describe('quality menu', () => {
  it('lists Auto then every level, highest first, with hls.js indices', () => {
    expect(levelOptions(LEVELS)).toEqual([
      { value: -1, label: 'Auto' },
      { value: 2, label: '720p' },
      { value: 1, label: '480p' },
      { value: 0, label: '360p' },
    ]);
  });

  it('tells same-height levels apart by bitrate', () => {
    const opts = levelOptions([
      { height: 720, width: 1280, bitrate: 3_000_000 },
      { height: 720, width: 1280, bitrate: 6_000_000 },
    ]);
    expect(opts.map((o) => o.label)).toEqual(['Auto', '720p (6.0 Mbps)', '720p (3.0 Mbps)']);
    expect(opts[1]!.value).toBe(1);
  });

  it('names audio-only or unnamed levels', () => {
    expect(levelOptions([{ height: 0, width: 0, bitrate: 96000, name: 'audio' }])[1]!.label).toBe('audio');
    expect(levelOptions([{ height: 0, width: 0, bitrate: 96000 }])[1]!.label).toBe('96 kbps');
  });

  it('labels the current choice', () => {
    expect(currentLevelLabel(LEVELS, -1, 1)).toBe('Auto (480p)');
    expect(currentLevelLabel(LEVELS, 2, 1)).toBe('720p');
    expect(currentLevelLabel(LEVELS, -1, -1)).toBe('Auto (…)');
  });
});

describe('stats and formats', () => {
  const ranges = (r: [number, number][]) => ({ length: r.length, start: (i: number) => r[i]![0], end: (i: number) => r[i]![1] });
  it('measures the buffer ahead of the playhead', () => {
    expect(bufferAhead(ranges([[0, 10]]), 4)).toBe(6);
    expect(bufferAhead(ranges([[0, 5], [20, 30]]), 22)).toBe(8);
    expect(bufferAhead(ranges([[0, 5]]), 8)).toBe(0);
    expect(bufferAhead(ranges([]), 0)).toBe(0);
  });

  it('formats bitrates and durations', () => {
    expect(formatBitrate(1_628_000)).toBe('1.6 Mbps');
    expect(formatBitrate(96_000)).toBe('96 kbps');
    expect(formatBitrate(0)).toBe('–');
    expect(formatDuration(75)).toBe('1:15');
    expect(formatDuration(3700)).toBe('1:01:40');
    expect(formatDuration(null)).toBe('–');
  });

  it('takes the beacon token from a signed path', () => {
    expect(tokenOf('/hls/tok.en_1/vid-1/master.m3u8')).toBe('tok.en_1');
    expect(tokenOf('/live/abc/str-1/index.m3u8')).toBe('abc');
    expect(tokenOf('/elsewhere')).toBeNull();
  });
});

describe('storyboard', () => {
  // The transcoder's format (services/transcoder/src/storyboard.rs).
  const VTT = `WEBVTT

00:00:00.000 --> 00:00:00.040
sprites.jpg#xywh=0,0,160,90

00:00:00.040 --> 00:00:00.080
sprites.jpg#xywh=160,0,160,90

00:00:00.400 --> 00:00:00.440
sprites.jpg#xywh=0,90,160,90
`;
  const BASE = 'http://h/hls/TOKEN/vid/storyboard.vtt';

  it('parses WebVTT times', () => {
    expect(parseVttTime('00:01:02.500')).toBe(62.5);
    expect(parseVttTime('01:02.5')).toBe(62.5);
    expect(parseVttTime('1:00:00.000')).toBe(3600);
    expect(parseVttTime('nope')).toBeNaN();
  });

  it('parses cues with #xywh and resolves the sprite next to the VTT (keeping the token)', () => {
    const t = parseStoryboard(VTT, BASE);
    expect(t).toHaveLength(3);
    expect(t[1]).toEqual({ start: 0.04, end: 0.08, url: 'http://h/hls/TOKEN/vid/sprites.jpg', x: 160, y: 0, w: 160, h: 90 });
    expect(t[2]).toMatchObject({ x: 0, y: 90 });
  });

  it('accepts CRLF, cue ids, settings and pixel: units', () => {
    const t = parseStoryboard('WEBVTT\r\n\r\n1\r\n00:00.000 --> 00:05.000 align:start\r\nimg/s.jpg#xywh=pixel:1,2,3,4\r\n', BASE);
    expect(t).toEqual([{ start: 0, end: 5, url: 'http://h/hls/TOKEN/vid/img/s.jpg', x: 1, y: 2, w: 3, h: 4 }]);
  });

  it('finds the thumbnail for a time', () => {
    const t = parseStoryboard(VTT, BASE);
    expect(thumbAt(t, 0)!.x).toBe(0);
    expect(thumbAt(t, 0.05)!.x).toBe(160);
    expect(thumbAt(t, 0.2)!.x).toBe(160);
    expect(thumbAt(t, 99)!.y).toBe(90);
    expect(thumbAt([], 1)).toBeNull();
  });
});

describe('view beacon', () => {
  function fake() {
    const sent: BeaconBody[] = [];
    let fire: (() => void) | null = null;
    let cleared = 0;
    const b = new ViewBeacon({
      token: 'T',
      videoId: 'v1',
      live: false,
      session: 's1',
      send: (x) => sent.push(x),
      setInterval: (fn) => ((fire = fn), 1),
      clearInterval: () => void cleared++,
    });
    return { b, sent, fire: () => fire?.(), cleared: () => cleared };
  }

  it('sends start once, then heartbeats while playing', () => {
    const { b, sent, fire } = fake();
    b.playing();
    fire();
    fire();
    b.stopped();
    b.playing();
    expect(sent.map((s) => s.kind)).toEqual(['start', 'heartbeat', 'heartbeat']);
    expect(sent[0]).toEqual({ token: 'T', video_id: 'v1', session: 's1', kind: 'start', live: false });
  });

  it('stops heartbeats when paused', () => {
    const { b, cleared } = fake();
    b.playing();
    b.playing();
    b.stopped();
    b.stopped();
    expect(cleared()).toBe(1);
  });
});

describe('live settings (RFC 8216 §6.3.3, hls.js docs)', () => {
  it('are accepted by hls.js: 3 target durations behind, jump back past 6, catch up at most 1.1x', async () => {
    const { default: Hls } = await import('hls.js');
    const { LIVE_CONFIG } = await import('../src/player/live');
    expect(LIVE_CONFIG).toMatchObject({ liveSyncDurationCount: 3, liveMaxLatencyDurationCount: 6 });
    expect(LIVE_CONFIG.liveMaxLatencyDurationCount!).toBeGreaterThan(LIVE_CONFIG.liveSyncDurationCount!);
    expect(LIVE_CONFIG.maxLiveSyncPlaybackRate!).toBeLessThanOrEqual(1.1);
    const hls = new Hls(LIVE_CONFIG);
    expect(hls.config.liveSyncDurationCount).toBe(3);
    expect(hls.config.liveMaxLatencyDurationCount).toBe(6);
    hls.destroy();
    // Why not liveMaxLatencyDuration in seconds: hls.js refuses mixing counts and seconds.
    expect(() => new Hls({ liveSyncDurationCount: 3, liveMaxLatencyDuration: 12 })).toThrow(/mix/);
  });

  it('wait for a live playlist that is not written yet (404), but not forever', async () => {
    const { LIVE_CONFIG, LIVE_START_RETRIES, retryLivePlaylist } = await import('../src/player/live');
    const policy = LIVE_CONFIG.manifestLoadPolicy?.default.errorRetry;
    expect(policy?.shouldRetry).toBe(retryLivePlaylist);
    expect(policy?.maxNumRetry).toBe(LIVE_START_RETRIES);
    const cfg = { maxNumRetry: 3, retryDelayMs: 1000, maxRetryDelayMs: 2000 };
    expect(retryLivePlaylist(cfg, 0, false, { code: 404 }, false)).toBe(true);
    expect(retryLivePlaylist(cfg, 2, false, { code: 404 }, false)).toBe(true);
    expect(retryLivePlaylist(cfg, 3, false, { code: 404 }, false)).toBe(false);
    expect(retryLivePlaylist(cfg, 0, false, { code: 403 }, false)).toBe(false);
    expect(retryLivePlaylist(cfg, 0, false, { code: 503 }, true)).toBe(true);
  });
});
