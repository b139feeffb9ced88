import { describe, expect, it } from 'vitest';
import { QoeReporter, QoeTracker, type PostAnswer } from '../src/player/qoe';

describe('the QoE tracker', () => {
  it('measures startup, watch time and a stall, excluding seeks and pauses', () => {
    const t = new QoeTracker();
    t.play(1000);
    t.waiting(1100); // before the first frame: startup, not a stall
    t.playing(1800);
    t.levelSwitched(); // the initial level: not a switch
    t.waiting(5000);
    t.playing(7000); // a 2 s stall
    t.seekingStarted(8000);
    t.waiting(8100); // waiting for a seek: not a stall
    t.seeked();
    t.playing(8500);
    t.levelSwitched();
    t.paused(11000);
    t.waiting(12000); // paused: not a stall
    const d = t.take(20000)!;
    expect(d).toEqual({ seq: 0, watch_ms: 10000, startup_ms: 800, rebuffer_count: 1, rebuffer_ms: 2000, switches: 1, errors: 0 });
    expect(t.take(21000)).toBeNull();
  });

  it('splits an open stall between two summaries and counts it once', () => {
    const t = new QoeTracker();
    t.play(0);
    t.playing(500);
    t.waiting(1000);
    const a = t.take(3000)!;
    expect([a.rebuffer_count, a.rebuffer_ms, a.watch_ms]).toEqual([1, 2000, 3000]);
    t.playing(4000);
    const b = t.take(5000)!;
    expect([b.rebuffer_count, b.rebuffer_ms, b.watch_ms, b.startup_ms]).toEqual([0, 1000, 2000, undefined]);
  });

  it('gives back a summary that was not accepted and numbers accepted ones', () => {
    const t = new QoeTracker();
    t.play(0);
    t.playing(300);
    t.fatal('fragLoadError');
    const a = t.take(1000)!;
    t.giveBack(a);
    const b = t.take(2000)!;
    expect([b.seq, b.watch_ms, b.startup_ms, b.errors, b.error_code]).toEqual([0, 2000, 300, 1, 'fragLoadError']);
    t.accepted();
    expect(t.take(3000)!.seq).toBe(1);
  });

  it('averages live latency samples and ignores nonsense', () => {
    const t = new QoeTracker();
    t.play(0);
    t.playing(0);
    for (const ms of [6000, 8000, NaN, -1]) t.latencySample(ms);
    expect(t.take(1000)!.latency_ms).toBe(7000);
  });
});

describe('the QoE reporter', () => {
  function setup(answers: PostAnswer[]) {
    let now = 60_000;
    const sent: unknown[] = [];
    const t = new QoeTracker();
    const r = new QoeReporter(t, {
      token: 'tok',
      videoId: 'vid_1',
      live: false,
      session: 's',
      now: () => now,
      post: async (b) => {
        sent.push(b);
        return answers.shift() ?? { status: 202, retryAfter: 0 };
      },
    });
    return { t, r, sent, at: (ms: number) => (now = ms) };
  }

  it('sends once per 30 s window and retries after a 429 with what was kept', async () => {
    const { t, r, sent, at } = setup([{ status: 202, retryAfter: 0 }, { status: 429, retryAfter: 5 }]);
    t.play(60_000);
    t.playing(60_500);
    at(61_000);
    expect(await r.flush()).toBe(202);
    at(75_000);
    expect(await r.flush()).toBeNull(); // same window: not sent
    at(90_000);
    expect(await r.flush()).toBe(429); // the server says its window is not over
    at(92_000);
    expect(await r.flush()).toBeNull();
    at(95_000);
    expect(await r.flush()).toBe(202);
    expect(sent.length).toBe(3);
    const last = (sent[2] as { qoe: { seq: number; watch_ms: number } }).qoe;
    expect(last.seq).toBe(1);
    expect(last.watch_ms).toBe(34_000); // the refused summary's 29 s + 5 s
    expect((sent[0] as { kind: string }).kind).toBe('qoe');
  });
});
