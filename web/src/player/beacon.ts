// The view beacon (services/playback/src/views.rs): `start` once playback begins, then a
// `heartbeat` every interval while it plays. No API key: the playback token authenticates.

export interface BeaconBody {
  token: string;
  video_id: string;
  session: string;
  kind: 'start' | 'heartbeat';
  live: boolean;
}

export interface BeaconOptions {
  token: string;
  videoId: string;
  live: boolean;
  session?: string;
  intervalMs?: number;
  send: (body: BeaconBody) => void;
  setInterval?: (fn: () => void, ms: number) => unknown;
  clearInterval?: (h: unknown) => void;
}

export class ViewBeacon {
  private started = false;
  private timer: unknown = null;
  readonly session: string;

  constructor(private readonly o: BeaconOptions) {
    this.session = o.session ?? randomSession();
  }

  /** Playback is running: the first call sends `start`; heartbeats run while playing. */
  playing(): void {
    if (!this.started) {
      this.started = true;
      this.emit('start');
    }
    if (this.timer === null) {
      const every = this.o.setInterval ?? ((fn, ms) => setInterval(fn, ms));
      this.timer = every(() => this.emit('heartbeat'), this.o.intervalMs ?? 10000);
    }
  }

  /** Paused, ended or left: heartbeats stop. */
  stopped(): void {
    if (this.timer !== null) {
      const clear = this.o.clearInterval ?? ((h) => clearInterval(h as ReturnType<typeof setInterval>));
      clear(this.timer);
      this.timer = null;
    }
  }

  private emit(kind: BeaconBody['kind']): void {
    this.o.send({ token: this.o.token, video_id: this.o.videoId, session: this.session, kind, live: this.o.live });
  }
}

export function randomSession(): string {
  const c = globalThis.crypto;
  if (c && 'randomUUID' in c) return c.randomUUID();
  return Math.random().toString(36).slice(2) + Date.now().toString(36);
}

/** Sends a beacon without holding the page (sendBeacon when there, else keepalive fetch). */
export function sendBeacon(body: BeaconBody): void {
  const json = JSON.stringify(body);
  try {
    if (navigator.sendBeacon?.('/v1/views', new Blob([json], { type: 'application/json' }))) return;
  } catch {
    // fall through to fetch
  }
  void fetch('/v1/views', {
    method: 'POST',
    body: json,
    headers: { 'Content-Type': 'application/json' },
    keepalive: true,
  }).catch(() => undefined);
}
