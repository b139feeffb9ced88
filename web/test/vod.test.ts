import Hls from 'hls.js';
import { describe, expect, it } from 'vitest';
import { LIVE_CONFIG } from '../src/player/live';
import { resumeFrom } from '../src/player/policy';
import { VOD_CONFIG, hlsConfig, nativeSeek, startPosition } from '../src/player/vod';

const playing = { currentTime: 42.5, paused: false, ended: false };

describe('a video whose playlists still grow (EVENT, no ENDLIST)', () => {
  it('starts at 0 on its first load, not at the live edge', () => {
    expect(startPosition(null, false)).toBe(0);
    expect(hlsConfig(false, null).startPosition).toBe(0);
  });

  it('is needed because hls.js on its own starts a playlist without ENDLIST at the live edge (-1)', () => {
    expect(Hls.DefaultConfig.startPosition).toBe(-1);
  });

  it('keeps the viewer where they were when a grown master is loaded in place', () => {
    const resume = resumeFrom(playing, false);
    expect(hlsConfig(false, resume).startPosition).toBe(42.5);
  });

  it('starts again from 0 after the viewer reached the end (ended) and the source reloads', () => {
    const resume = resumeFrom({ currentTime: 30, paused: true, ended: true }, false);
    expect(startPosition(resume, false)).toBe(0);
  });

  it('is never pulled forward to the edge nor sped up to catch it', () => {
    const c = hlsConfig(false, null);
    expect(c.liveMaxLatencyDurationCount).toBe(Infinity);
    expect(c.liveMaxLatencyDuration).toBeUndefined();
    expect(c.maxLiveSyncPlaybackRate).toBe(1);
    // Named (hls.js requires the max latency count above it), at its default.
    expect(c.liveSyncDurationCount).toBe(Hls.DefaultConfig.liveSyncDurationCount);
  });

  it('has a finite, growing duration (no LIVE look in the controls)', () => {
    expect(hlsConfig(false, null).liveDurationInfinity).toBe(false);
  });

  it('sets only options hls.js knows', () => {
    for (const k of Object.keys(VOD_CONFIG)) expect(Hls.DefaultConfig).toHaveProperty(k);
  });

  it('is brought back to its start on native HLS when Safari opens it at the edge', () => {
    expect(nativeSeek(null, false, 37.9)).toBe(0);
    expect(nativeSeek(null, false, 0.2)).toBeNull();
    expect(nativeSeek(resumeFrom(playing, false), false, 0)).toBe(42.5);
  });
});

describe('a live stream', () => {
  it('still starts at the live edge with the live settings', () => {
    const c = hlsConfig(true, resumeFrom(playing, true));
    expect(c.startPosition).toBe(-1);
    expect(c.liveMaxLatencyDurationCount).toBe(LIVE_CONFIG.liveMaxLatencyDurationCount);
    expect(c.liveSyncDurationCount).toBe(3);
    expect(nativeSeek(null, true, 100)).toBeNull();
  });
});

describe('hls.js accepts the settings', () => {
  it('constructs a player with the video and the live settings', async () => {
    const { default: Hls } = await import('hls.js');
    for (const live of [false, true]) {
      const hls = new Hls(hlsConfig(live, null));
      hls.destroy();
    }
  });
});
