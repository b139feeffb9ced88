// The live feed over fetch(): a streamed body parsed by SseParser, reconnecting after a drop
// with `Last-Event-ID` so the server replays what was missed (the feed's ids are VID stream
// sequences). Backs off from the server's `retry:` (or 1 s) up to 30 s; gives up only on an
// authentication or request error, which a retry would not fix.

import { errorFrom, type Fetch } from '../api/client';
import { SseParser, type SseMessage } from './parser';

export type FeedStatus = 'connecting' | 'open' | 'reconnecting' | 'closed' | 'failed';

export interface FeedOptions {
  url: string;
  key: string;
  /** Start after this event id (e.g. the `X-Projection-Seq` a list was read at). */
  lastEventId?: string;
  onMessage: (m: SseMessage) => void;
  onStatus?: (s: FeedStatus, error?: string) => void;
  fetch?: Fetch;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  baseRetryMs?: number;
  maxRetryMs?: number;
}

export interface FeedHandle {
  close(): void;
  lastEventId(): string;
}

const defaultSleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });

export function connectFeed(o: FeedOptions): FeedHandle {
  const abort = new AbortController();
  const doFetch = o.fetch ?? ((...a: Parameters<Fetch>) => fetch(...a));
  const sleep = o.sleep ?? defaultSleep;
  const base = o.baseRetryMs ?? 1000;
  const max = o.maxRetryMs ?? 30000;
  const parser = new SseParser(o.onMessage);
  parser.lastEventId = o.lastEventId ?? '';

  const run = async () => {
    let failures = 0;
    while (!abort.signal.aborted) {
      o.onStatus?.(failures === 0 ? 'connecting' : 'reconnecting');
      try {
        const headers: Record<string, string> = {
          Authorization: `Bearer ${o.key}`,
          Accept: 'text/event-stream',
        };
        if (parser.lastEventId) headers['Last-Event-ID'] = parser.lastEventId;
        const res = await doFetch(o.url, { headers, signal: abort.signal, cache: 'no-store' });
        if (res.status === 400 || res.status === 401 || res.status === 403) {
          const err = await errorFrom(res);
          o.onStatus?.('failed', err.message);
          return;
        }
        if (!res.ok || !res.body) throw await errorFrom(res);
        failures = 0;
        o.onStatus?.('open');
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.push(value);
        }
      } catch (e) {
        if (abort.signal.aborted) break;
        void e;
      }
      parser.reset();
      if (abort.signal.aborted) break;
      failures += 1;
      o.onStatus?.('reconnecting');
      const delay = Math.min(max, (parser.retry ?? base) * 2 ** Math.min(failures - 1, 5));
      await sleep(delay, abort.signal);
    }
    o.onStatus?.('closed');
  };
  void run();
  return {
    close: () => abort.abort(),
    lastEventId: () => parser.lastEventId,
  };
}
