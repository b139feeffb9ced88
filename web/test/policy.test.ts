import { describe, expect, it } from 'vitest';
import {
  MAX_RELOADS,
  NO_ATTEMPTS,
  afterAction,
  audioLabel,
  audioOptions,
  backoffMs,
  chooseEngine,
  isWebKit,
  keepAudio,
  onFatal,
  repin,
  resumeFrom,
  type Action,
  type Attempts,
  type FatalError,
} from '../src/player/policy';

const net = (details: string, code?: number): FatalError => ({ type: 'networkError', details, code });
const media: FatalError = { type: 'mediaError', details: 'bufferAppendError' };

/** Applies the policy until it fails, returning every action taken. */
function run(e: FatalError, canRefresh: boolean): Action[] {
  const out: Action[] = [];
  let tried: Attempts = NO_ATTEMPTS;
  for (let i = 0; i < 20; i++) {
    const a = onFatal(e, tried, canRefresh);
    out.push(a);
    if (a.kind === 'fail') return out;
    tried = afterAction(tried, a);
  }
  throw new Error('the policy never gives up');
}

describe('fatal error policy', () => {
  it('reloads after 5xx and network failures with back-off, then says so', () => {
    for (const e of [net('manifestLoadError', 503), net('manifestLoadError', 0), net('manifestLoadTimeOut'), net('fragLoadError', 500)]) {
      const actions = run(e, true);
      expect(actions.slice(0, -1)).toEqual([1000, 2000, 4000, 8000, 8000].map((delayMs) => ({ kind: 'reload', delayMs })));
      expect(actions).toHaveLength(MAX_RELOADS + 1);
      const last = actions.at(-1)!;
      expect(last.kind).toBe('fail');
      expect(last.kind === 'fail' && last.message).toMatch(e.code ? /HTTP 5\d\d 6 times/ : /could not be reached 6 times/);
    }
  });

  it('refreshes an expired signed URL once, then shows a message', () => {
    for (const code of [401, 403]) {
      const actions = run(net('manifestLoadError', code), true);
      expect(actions.map((a) => a.kind)).toEqual(['refresh', 'fail']);
      expect(actions[1]!.kind === 'fail' && actions[1]!.message).toMatch(new RegExp(`expired.*HTTP ${code}`));
    }
    // No way to get a new URL (the live viewer): the message at once.
    expect(run(net('levelLoadError', 403), false).map((a) => a.kind)).toEqual(['fail']);
  });

  it('does not retry a 404: the message shows at once', () => {
    const actions = run(net('manifestLoadError', 404), true);
    expect(actions).toHaveLength(1);
    expect(actions[0]!.kind === 'fail' && actions[0]!.message).toMatch(/not available \(HTTP 404\)/);
    expect(onFatal(net('fragLoadError', 410), NO_ATTEMPTS, true).kind).toBe('fail');
    expect(onFatal(net('manifestLoadError', 400), NO_ATTEMPTS, true).kind).toBe('fail');
  });

  it('recovers media errors, then swaps the audio codec, then gives up', () => {
    expect(run(media, true).map((a) => a.kind)).toEqual(['recoverMedia', 'swapAudioCodec', 'fail']);
  });

  it('gives up at once on errors nothing can recover', () => {
    expect(onFatal({ type: 'muxError', details: 'fragParsingError' }, NO_ATTEMPTS, true)).toEqual({
      kind: 'fail',
      message: 'Playback failed: fragParsingError.',
    });
  });

  it('backs off exponentially up to 8 s', () => {
    expect([0, 1, 2, 3, 4, 9].map(backoffMs)).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
  });
});

describe('reload keeps the viewer\'s place', () => {
  it('keeps the position and play state of a playing video', () => {
    expect(resumeFrom({ currentTime: 12.5, paused: false, ended: false }, false)).toEqual({ position: 12.5, play: true });
    expect(resumeFrom({ currentTime: 3, paused: true, ended: false }, false)).toEqual({ position: 3, play: false });
  });

  it('starts from the beginning when nothing played or it ended, and at the edge for live', () => {
    expect(resumeFrom({ currentTime: 0, paused: true, ended: false }, false)).toEqual({ position: -1, play: false });
    expect(resumeFrom({ currentTime: 30, paused: true, ended: true }, false)).toEqual({ position: -1, play: false });
    expect(resumeFrom({ currentTime: 30, paused: false, ended: false }, true)).toEqual({ position: -1, play: true });
    expect(resumeFrom(null, false)).toEqual({ position: -1, play: false });
  });
});

describe('quality pinning across masters', () => {
  const EARLY = [{ height: 360, width: 640, bitrate: 900_000 }];
  const FULL = [
    { height: 480, width: 854, bitrate: 1_600_000 },
    { height: 720, width: 1280, bitrate: 3_100_000 },
    { height: 360, width: 640, bitrate: 900_000 },
    { height: 360, width: 640, bitrate: 600_000 },
  ];
  it('keeps the pinned height (nearest bitrate) when the levels are renumbered', () => {
    expect(repin(EARLY, 0, FULL)).toBe(2);
    expect(repin(FULL, 1, FULL)).toBe(1);
    expect(repin([{ height: 360, width: 640, bitrate: 650_000 }], 0, FULL)).toBe(3);
  });
  it('stays on Auto, or goes back to Auto when the height is gone', () => {
    expect(repin(EARLY, -1, FULL)).toBe(-1);
    expect(repin(FULL, 1, EARLY)).toBe(-1);
    expect(repin([], 0, FULL)).toBe(-1);
  });
});

describe('engine choice', () => {
  const SAFARI = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15';
  const IOS_CHROME = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0 Mobile/15E148 Safari/604.1';
  const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36';
  const ANDROID = 'Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36';
  const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';

  it('plays native HLS on WebKit (Safari, every iOS browser), even with MSE', () => {
    expect(isWebKit(SAFARI)).toBe(true);
    expect(isWebKit(IOS_CHROME)).toBe(true);
    expect(chooseEngine({ nativeHls: true, mse: true, userAgent: SAFARI })).toBe('native');
    expect(chooseEngine({ nativeHls: true, mse: false, userAgent: IOS_CHROME })).toBe('native');
  });

  it('uses hls.js in Blink and Gecko, even where Chrome says it can play HLS', () => {
    expect(isWebKit(CHROME)).toBe(false);
    expect(isWebKit(ANDROID)).toBe(false);
    expect(chooseEngine({ nativeHls: true, mse: true, userAgent: CHROME })).toBe('hls.js');
    expect(chooseEngine({ nativeHls: false, mse: true, userAgent: FIREFOX })).toBe('hls.js');
    expect(chooseEngine({ nativeHls: false, mse: false, userAgent: FIREFOX })).toBe('none');
  });

  it('lets a preference force hls.js on Safari, when it can be met', () => {
    expect(chooseEngine({ nativeHls: true, mse: true, userAgent: SAFARI, prefer: 'hls.js' })).toBe('hls.js');
    expect(chooseEngine({ nativeHls: true, mse: false, userAgent: SAFARI, prefer: 'hls.js' })).toBe('native');
    expect(chooseEngine({ nativeHls: false, mse: true, userAgent: CHROME, prefer: 'native' })).toBe('hls.js');
  });
});

describe('audio-language menu', () => {
  const TRACKS = [
    { name: 'English', lang: 'en', default: false },
    { name: 'Français', lang: 'fr', default: true },
  ];
  it('labels each track with its NAME and LANGUAGE', () => {
    expect(audioOptions(TRACKS)).toEqual([
      { value: 0, label: 'English (en)' },
      { value: 1, label: 'Français (fr)' },
    ]);
    expect(audioLabel({ name: 'audio-fr', lang: 'fr' })).toBe('audio-fr');
    expect(audioLabel({ name: '', lang: 'de' })).toBe('de');
    expect(audioLabel({ name: 'Stereo' })).toBe('Stereo');
  });

  it('keeps the chosen language when a new master is loaded', () => {
    expect(keepAudio(TRACKS[0], TRACKS)).toBe(0);
    expect(keepAudio({ name: 'French', lang: 'fr' }, TRACKS)).toBe(1);
    expect(keepAudio({ name: 'Deutsch', lang: 'de' }, TRACKS)).toBe(-1);
    expect(keepAudio(null, TRACKS)).toBe(-1);
  });
});
