// Viewer QoE: what the player measures (startup time, stalls, rendition switches, fatal errors,
// watch time, live latency) and how it reports it: a `qoe` beacon (services/playback/src/qoe.rs)
// with the deltas since the last accepted summary. Playback takes one summary per session and
// view window (a second is answered 429 + Retry-After): the reporter sends at most once per
// 30 s wall-clock window, keeps what was not accepted and sends it with the next summary.

/** One summary: deltas since the previous accepted one. */
export interface QoeDelta {
  seq: number;
  watch_ms: number;
  startup_ms?: number;
  rebuffer_count: number;
  rebuffer_ms: number;
  switches: number;
  errors: number;
  error_code?: string;
  latency_ms?: number;
}

/**
 * The measurements of one player session, driven by media element and hls.js events. Time
 * is passed in (ms), so it is pure and tested without a browser.
 *
 * - startup: the first play request to the first `playing` (once per session);
 * - watch time: from a play request until pause or end (startup and stalls included);
 * - a rebuffer: a `waiting` after the first frame while not seeking or paused, until `playing`;
 * - switches: level switches after the first (the first is the initial choice).
 */
export class QoeTracker {
  private seq = 0;
  private requestedAt: number | null = null;
  private started = false;
  private startup: number | null = null;
  private engagedSince: number | null = null;
  private stallSince: number | null = null;
  private seeking = false;
  private levels = 0;
  private d = { watch: 0, rebuffers: 0, rebufferMs: 0, switches: 0, errors: 0 };
  private code: string | null = null;
  private latency = { sum: 0, n: 0 };

  play(now: number): void {
    if (this.requestedAt === null) this.requestedAt = now;
    if (this.engagedSince === null) this.engagedSince = now;
  }

  playing(now: number): void {
    if (!this.started && this.requestedAt !== null) {
      this.started = true;
      this.startup = Math.max(0, now - this.requestedAt);
    }
    this.endStall(now);
    if (this.engagedSince === null) this.engagedSince = now;
  }

  waiting(now: number): void {
    if (!this.started || this.seeking || this.engagedSince === null || this.stallSince !== null) return;
    this.stallSince = now;
    this.d.rebuffers++;
  }

  seekingStarted(now: number): void {
    this.seeking = true;
    this.endStall(now);
  }

  seeked(): void {
    this.seeking = false;
  }

  paused(now: number): void {
    this.endStall(now);
    if (this.engagedSince !== null) this.d.watch += now - this.engagedSince;
    this.engagedSince = null;
  }

  levelSwitched(): void {
    if (this.levels++ > 0) this.d.switches++;
  }

  fatal(code: string): void {
    this.d.errors++;
    this.code = code;
  }

  latencySample(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.latency.sum += ms;
    this.latency.n++;
  }

  /** The summary so far (counters move to it; an open stall or watch goes on from `now`). */
  take(now: number): QoeDelta | null {
    if (this.stallSince !== null) {
      this.d.rebufferMs += now - this.stallSince;
      this.stallSince = now;
    }
    if (this.engagedSince !== null) {
      this.d.watch += now - this.engagedSince;
      this.engagedSince = now;
    }
    const d = this.d;
    if (d.watch === 0 && this.startup === null && d.errors === 0) return null;
    const out: QoeDelta = {
      seq: this.seq,
      watch_ms: Math.round(d.watch),
      rebuffer_count: d.rebuffers,
      rebuffer_ms: Math.round(d.rebufferMs),
      switches: d.switches,
      errors: d.errors,
    };
    if (this.startup !== null) out.startup_ms = Math.round(this.startup);
    if (this.code !== null && d.errors > 0) out.error_code = this.code;
    if (this.latency.n > 0) out.latency_ms = Math.round(this.latency.sum / this.latency.n);
    this.d = { watch: 0, rebuffers: 0, rebufferMs: 0, switches: 0, errors: 0 };
    this.startup = null;
    this.code = null;
    this.latency = { sum: 0, n: 0 };
    return out;
  }

  /** The summary was accepted: the next one is the session's next. */
  accepted(): void {
    this.seq++;
  }

  /** The summary was not accepted: its figures go into the next one. */
  giveBack(x: QoeDelta): void {
    this.d.watch += x.watch_ms;
    this.d.rebuffers += x.rebuffer_count;
    this.d.rebufferMs += x.rebuffer_ms;
    this.d.switches += x.switches;
    this.d.errors += x.errors;
    if (x.startup_ms !== undefined && this.startup === null) this.startup = x.startup_ms;
    if (x.error_code !== undefined && this.code === null) this.code = x.error_code;
    if (x.latency_ms !== undefined) {
      this.latency.sum += x.latency_ms;
      this.latency.n++;
    }
  }

  private endStall(now: number): void {
    if (this.stallSince === null) return;
    this.d.rebufferMs += now - this.stallSince;
    this.stallSince = null;
  }
}

/** What a post answered: the status and `Retry-After` in seconds (0 when absent). */
export interface PostAnswer {
  status: number;
  retryAfter: number;
}

export interface ReporterOptions {
  token: string;
  videoId: string;
  live: boolean;
  session: string;
  /** The view window the reporter assumes (playback's default, 30 s); a 429 corrects it. */
  windowMs?: number;
  post?: (body: unknown) => Promise<PostAnswer>;
  now?: () => number;
}

/** Sends a tracker's summaries: at most once per window, what failed is given back. */
export class QoeReporter {
  private notBefore = 0;
  private sending = false;

  constructor(
    readonly tracker: QoeTracker,
    private readonly o: ReporterOptions,
  ) {}

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  private body(q: QoeDelta) {
    return { token: this.o.token, video_id: this.o.videoId, session: this.o.session, kind: 'qoe', live: this.o.live, qoe: q };
  }

  /** Sends the summary so far if the window allows; resolves to the status sent (or null). */
  async flush(): Promise<number | null> {
    const now = this.now();
    if (this.sending || now < this.notBefore) return null;
    const q = this.tracker.take(now);
    if (!q) return null;
    this.sending = true;
    const window = this.o.windowMs ?? 30000;
    try {
      const a = await (this.o.post ?? postJson)(this.body(q));
      if (a.status === 202) {
        this.tracker.accepted();
        this.notBefore = (Math.floor(now / window) + 1) * window;
      } else {
        this.tracker.giveBack(q);
        this.notBefore = now + (a.retryAfter > 0 ? a.retryAfter * 1000 : 10000);
      }
      return a.status;
    } catch {
      this.tracker.giveBack(q);
      this.notBefore = now + 10000;
      return null;
    } finally {
      this.sending = false;
    }
  }

  /** The page is going away: the summary so far by `sendBeacon`, if the window allows. */
  leave(): void {
    const now = this.now();
    if (now < this.notBefore) return;
    const q = this.tracker.take(now);
    if (!q) return;
    try {
      navigator.sendBeacon?.('/v1/views', new Blob([JSON.stringify(this.body(q))], { type: 'application/json' }));
    } catch {
      // best effort
    }
  }
}

async function postJson(body: unknown): Promise<PostAnswer> {
  const res = await fetch('/v1/views', {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json' },
    keepalive: true,
  });
  return { status: res.status, retryAfter: Number(res.headers.get('retry-after') ?? 0) || 0 };
}
